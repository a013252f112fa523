"""build_demo(models) -> gr.Blocks: one tab per lab, each built by its package in explorer/labs."""

from __future__ import annotations

import gradio as gr

from explorer import page, render, served
from explorer.config import AppConfig
from explorer.gradio_compat import Blocks
from explorer.labs import diffusion, kl, plane, vae
from explorer.links import Links
from explorer.models import Models

TITLE = "Generative Explorer"
# one line: the first screen is the labs' figures and controls
HEADER = ("<header class='ge-head'><h1>Generative Explorer</h1><p>How a variational autoencoder and a diffusion model "
          "work, live, on MNIST models that this project's <code>train</code> package trained.</p></header>")


def build_demo(models: Models, links: Links | None = None, config: AppConfig = AppConfig()) -> gr.Blocks:
    """The app. `links`: the registry of linked controls and first views to fill (explorer/links.py; a new one if
    None); `python -m explorer` warms its first views once the app serves."""
    # live plots load plotly.js from the app itself; the reverse-process viewer fetches finished runs' frames
    gr.set_static_paths([render.PLOTLY_JS, page.STATIC, served.folder()])
    links = Links() if links is None else links  # what a link restores, and what every view shows first
    # Gradio's cache (uploads, images it was handed): files older than an hour are removed every ten minutes, and all
    # of them when the app stops
    with Blocks(title=TITLE, delete_cache=(600, 3600)) as demo:
        with gr.Row(elem_classes="ge-top"):
            gr.HTML(HEADER, padding=False)
            gr.HTML("", html_template=page.static("presenter.html"), js_on_load=page.mount("presenter.js"),
                    padding=False, elem_id="ge-presenter", elem_classes="ge-presenter-box")
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
            with gr.Tab("Diffusion in 2-D", id="plane", elem_id="tab-plane"):
                links.lab("plane", "Diffusion in 2-D")
                render.heading("The 2-D diffusion lab", 2)
                plane.build(models, links, config)
        render.brush_on_open(diffusion_tab, "diff-sketch")  # its first sub-tab holds a sketchpad
        links.wire(demo)
    return demo


LAUNCH_KW = dict(
    css=render.CSS, js=page.JS, head=page.HEAD, theme=gr.themes.Soft(),
    max_file_size="5mb",  # an image of a digit needs far less; a larger upload is refused before it is written
    enable_monitoring=False,  # no /monitoring route
    # Gradio keeps each session's state and last outputs (about 1.3 MiB each: tests/bench/bench_load.py); the least
    # recently active past 300 are dropped (a class of 30 with several tabs each), not Gradio's 10,000 (~13 GB)
    state_session_capacity=300,
)
# The queue: four events at once per function unless it says otherwise, at most 64 waiting (a request beyond is told
# the queue is full), and no direct POST to /gradio_api/run/<name> that would skip it and every concurrency limit
# (queue=False events, the page's drags, still work).
QUEUE_KW = dict(default_concurrency_limit=4, max_size=64, api_open=False)


def app_kwargs(allowed_hosts: list[str] = (), any_host: bool = False, demo: gr.Blocks | None = None,
               errors: dict[str, str] | None = None) -> dict:
    """Gradio's FastAPI app with explorer/guard.py in front: foreign Host names and cross-site requests refused, and
    (given the `demo`) calls to endpoints or events that do not exist answered in one line (`errors`: models.errors,
    for the endpoints of a lab whose model did not load). `any_host`: every Host name served (a share link's),
    cross-site requests still refused."""
    from starlette.middleware import Middleware

    from explorer.guard import EndpointMiddleware, GuardMiddleware

    middleware = [Middleware(GuardMiddleware, allowed_hosts=allowed_hosts, any_host=any_host),
                  Middleware(served.ServedFiles)]
    if demo is not None:
        middleware.append(Middleware(EndpointMiddleware, blocks=demo, errors=errors))
    return {"middleware": middleware}
