"""The diffusion lab (issue 4). Until it lands, the tab says so plainly."""

import gradio as gr


def build(models) -> None:
    gr.Markdown("### Diffusion lab: coming soon\n"
                "This tab will show a diffusion model as a Markovian hierarchical VAE: a fixed encoder that adds "
                "Gaussian noise step by step, a learned decoder that predicts the noise, its ELBO term by term, and "
                "the reverse process frame by frame. It is not built yet; no diffusion model ships with this version.")
