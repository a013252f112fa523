"""The VAE lab: latent sliders that decode while you drag, ancestral sampling, the latent map, encoding a
digit, why log p(x) is hard and where the ELBO sits, interpolation.

One module per sub-lab, each with its prose, its handlers (module-level functions that take the loaded
models first) and a `build(ctl)` that lays out, then wires. What they share is `common.VaeControls`.
"""

from __future__ import annotations

import gradio as gr

from explorer.labs.vae import controls, encode, interpolate, latent_map, likelihood, sampling
from explorer.labs.vae.common import LATEX, Cache
from explorer.models import VAE_CHECKPOINTS, Models

INTRO = r"""
**The model.** A latent $z \in \mathbb{R}^D$ is drawn from the prior $p(z)=\mathcal N(0, I)$; the decoder network
$f_\theta$ turns it into one probability per pixel, and each of the $M=784$ pixels is an independent coin flip:
$p(x\mid z)=\prod_{m=1}^{M}\mathrm{Bernoulli}\big(x_m;\,f_\theta(z)_m\big)$. The encoder
$q_\phi(z\mid x)=\mathcal N\big(\mu_\phi(x), \mathrm{diag}\,\sigma^2_\phi(x)\big)$ guesses which $z$ explain a given
digit. Both networks were trained together by maximizing the ELBO on binarized MNIST.
"""


def build(models: Models) -> gr.State | None:
    """The VAE tab's contents; call inside `with gr.Tab(...)`. Returns the encoded-digit state (for the KL lab)."""
    gr.Markdown(INTRO, latex_delimiters=LATEX)
    for name, err in models.errors.items():
        if name in VAE_CHECKPOINTS:
            gr.Markdown(f"⚠️ **{name} model unavailable.** {err}", elem_classes="ge-error")
    if not models.vaes:
        return None
    if models.digits_error:
        gr.Markdown(f"ℹ️ {models.digits_error}")
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            ctl = controls.build(models, Cache(models))
        with gr.Column(scale=5), gr.Tabs():
            with gr.Tab("Ancestral sampling"):
                sampling.build(ctl)
            with gr.Tab("Latent map"):
                latent_map.build(ctl)
            with gr.Tab("Encode") as encode_tab:
                encode.build(ctl)
            with gr.Tab("Likelihood"):
                likelihood.build(ctl)
            with gr.Tab("Interpolation"):
                interpolate.build(ctl)
    controls.wire(ctl)
    from explorer import render

    render.brush_on_open(encode_tab, "vae-sketch")
    return ctl.encoded
