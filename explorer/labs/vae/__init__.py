"""The VAE lab: latent sliders that decode while you drag, ancestral sampling, the latent map, encoding a
digit, why log p(x) is hard and where the ELBO sits, interpolation.

One module per sub-lab, each with its prose, its handlers (module-level functions that take the loaded
models first) and a `build(ctl)` that lays out, then wires. What they share is `common.VaeControls`.
"""

from __future__ import annotations

import gradio as gr

from explorer.labs.vae import controls, encode, interpolate, latent_map, likelihood, sampling
from explorer.labs.vae.common import LATEX, Cache
from explorer.links import Links
from explorer.models import VAE_CHECKPOINTS, Models

INTRO = r"""
**The model.** A latent $z \in \mathbb{R}^D$ is drawn from the prior $p(z)=\mathcal N(0, I)$; the decoder network
$f_\theta$ turns it into one probability per pixel, and each of the $M=784$ pixels is an independent coin flip:
$p(x\mid z)=\prod_{m=1}^{M}\mathrm{Bernoulli}\big(x_m;\,f_\theta(z)_m\big)$. The encoder
$q_\phi(z\mid x)=\mathcal N\big(\mu_\phi(x), \mathrm{diag}\,\sigma^2_\phi(x)\big)$ guesses which $z$ explain a given
digit. Both networks were trained together by maximizing the ELBO on binarized MNIST.
"""


VIEWS = {"sampling": "Ancestral sampling", "map": "Latent map", "encode": "Encode", "likelihood": "Likelihood",
         "interpolation": "Interpolation"}


def build(models: Models, links: Links | None = None) -> gr.State | None:
    """The VAE tab's contents; call inside `with gr.Tab(...)`. Returns the encoded-digit state (for the KL lab).
    `links`: where the lab registers its linked controls and first views (explorer/links.py)."""
    gr.Markdown(INTRO, latex_delimiters=LATEX)
    if links is not None:
        links.button()
    for name, err in models.errors.items():
        if name in VAE_CHECKPOINTS:
            gr.Markdown(f"⚠️ **{name} model unavailable.** {err}", elem_classes="ge-error")
    if not models.vaes:
        return None
    if models.digits_error:
        gr.Markdown(f"ℹ️ {models.digits_error}")
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            ctl = controls.build(models, Cache(models), links)
        with gr.Column(scale=5), gr.Tabs(elem_id="vae-views") as views:
            with gr.Tab(VIEWS["sampling"], id="sampling"):
                sampling.build(ctl, links)
            with gr.Tab(VIEWS["map"], id="map"):
                latent_map.build(ctl)
            with gr.Tab(VIEWS["encode"], id="encode") as encode_tab:
                encode.build(ctl, links)
            with gr.Tab(VIEWS["likelihood"], id="likelihood"):
                likelihood.build(ctl, links)
            with gr.Tab(VIEWS["interpolation"], id="interpolation"):
                interpolate.build(ctl, links)
    controls.wire(ctl, links)
    from explorer import render

    render.brush_on_open(encode_tab, "vae-sketch")
    if links is not None:
        links.sub_tabs("vae", views, VIEWS)
    return ctl.encoded
