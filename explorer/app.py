"""build_demo(models) -> gr.Blocks: one tab per lab, each built by its package in explorer/labs."""

from __future__ import annotations

import gradio as gr

from explorer import filmstrip, render
from explorer.labs import diffusion, kl, vae
from explorer.links import Links
from explorer.models import Models

TITLE = "Generative Explorer"
HEADER = """# Generative Explorer
See how a variational autoencoder and a diffusion model work, on models trained on MNIST by this project's
own `train` package. Every picture below is computed live from the shipped checkpoints."""


def build_demo(models: Models, links: Links | None = None) -> gr.Blocks:
    """The app. `links`: the registry of linked controls and first views to fill (explorer/links.py; a new one if
    None); `python -m explorer` warms its first views once the app serves."""
    # live plots load plotly.js from the app itself; the reverse-process viewer fetches finished runs' frames
    gr.set_static_paths([render.PLOTLY_JS, filmstrip.folder()])
    links = Links() if links is None else links  # what a link restores, and what every view shows first
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(HEADER)
        links.note = gr.Markdown(visible=False, elem_id="ge-link-note", elem_classes="ge-link-note")
        with gr.Tabs(elem_id="labs") as links.top:
            with gr.Tab("VAE", id="vae", elem_id="tab-vae"):
                links.lab("vae", "VAE")
                render.heading("The VAE lab", 2)
                encoded = vae.build(models, links)
            with gr.Tab("KL divergence", id="kl", elem_id="tab-kl"):
                links.lab("kl", "KL divergence")
                render.heading("The KL divergence lab", 2)
                kl.build(models, encoded, links)
            with gr.Tab("Diffusion", id="diffusion", elem_id="tab-diffusion") as diffusion_tab:
                links.lab("diffusion", "Diffusion")
                render.heading("The diffusion lab", 2)
                diffusion.build(models, links)
        render.brush_on_open(diffusion_tab, "diff-sketch")  # its first sub-tab holds a sketchpad
        links.wire(demo)
    return demo


LAUNCH_KW = dict(css=render.CSS, js=render.JS, theme=gr.themes.Soft())
