"""build_demo(models) -> gr.Blocks: one tab per lab, each built by its package in explorer/labs."""

from __future__ import annotations

import gradio as gr

from explorer import filmstrip, render
from explorer.labs import diffusion, kl, vae
from explorer.models import Models

TITLE = "Generative Explorer"
HEADER = """# Generative Explorer
See how a variational autoencoder and a diffusion model work, on models trained on MNIST by this project's
own `train` package. Every picture below is computed live from the shipped checkpoints."""


def build_demo(models: Models) -> gr.Blocks:
    # live plots load plotly.js from the app itself; the reverse-process viewer fetches finished runs' frames
    gr.set_static_paths([render.PLOTLY_JS, filmstrip.folder()])
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(HEADER)
        with gr.Tabs(elem_id="labs"):
            with gr.Tab("VAE", id="vae", elem_id="tab-vae"):
                encoded = vae.build(models)
            with gr.Tab("KL divergence", id="kl", elem_id="tab-kl"):
                kl.build(models, encoded)
            with gr.Tab("Diffusion", id="diffusion", elem_id="tab-diffusion") as diffusion_tab:
                diffusion.build(models)
        render.brush_on_open(diffusion_tab, "diff-sketch")  # its first sub-tab holds a sketchpad
    return demo


LAUNCH_KW = dict(css=render.CSS, theme=gr.themes.Soft())
