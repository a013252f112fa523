"""The KL divergence lab (issue 3). Until it lands, the tab says so plainly."""

import gradio as gr


def build(models) -> None:
    gr.Markdown("### KL divergence lab: coming soon\n"
                "This tab will let you move two Gaussians and watch KL(p ‖ q) and KL(q ‖ p): never negative, zero only "
                "when p = q, not symmetric, and enormous for two narrow, distant Gaussians. It is not built yet; "
                "nothing here computes anything.")
