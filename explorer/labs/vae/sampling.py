"""Ancestral sampling, stage by stage: z ~ N(0, I), f_θ(z), then all 784 pixels drawn at once."""

import math
from functools import partial

import gradio as gr
import plotly.graph_objects as go
import torch

from explorer import checks, render
from explorer.gradio_compat import Number, Plot, Slider
from explorer.labs.vae.common import (
    LATEX,
    Z_RANGE,
    VaeControls,
)
from explorer.links import Links
from explorer.models import Models

SAMPLING_TEXT = r"""
**Ancestral sampling** follows the model's arrows: (1) draw $z \sim \mathcal N(0, I)$; (2) compute
$f_\theta(z)$; (3) draw every pixel $x_m \sim \mathrm{Bernoulli}(f_\theta(z)_m)$. Given $z$ the pixels are
independent, so step 3 is a single parallel draw of all 784 pixels: no pixel waits for another.
"""


@torch.inference_mode()
def ancestral(models: Models, name: str, seed, n) -> tuple[go.Figure, str, str]:
    """Draw z ~ N(0, I), f_θ(z), x ~ B(f_θ(z)): the three stages for one sample, and a grid of n samples."""
    vae = models.vae(name)
    seed = checks.seed(seed)
    n = checks.number("Number of samples", n, 1, 400, integer=True)
    s = vae.sample(n, torch.Generator().manual_seed(seed))
    z0 = s.z[0].numpy()
    fig = go.Figure(go.Bar(x=[f"z{d + 1}" for d in range(len(z0))], y=z0, marker_color="#6366f1"))
    fig.update_layout(title="① z ~ N(0, I)", height=260, margin=dict(l=30, r=10, t=40, b=30),
                      yaxis=dict(range=[-Z_RANGE, Z_RANGE], zeroline=True))
    render.exportable(fig, render.file_name("vae-latent-z", model=name, seed=seed),
                      f"z ~ N(0, I) for the {name} VAE, seed {seed}")
    stages = render.row(render.img_tag(s.probs[0], caption="② f<sub>θ</sub>(z): pixel probabilities",
                                       alt=models.alt("② fθ(z): pixel probabilities", s.probs[:1])),
                        render.img_tag(s.x[0], caption="③ x ~ B(f<sub>θ</sub>(z)): all 784 pixels at once",
                                       alt=models.alt("③ x ~ B(fθ(z)): all 784 pixels at once", s.x[:1])),
                        arrows=True)
    nrow = max(1, math.ceil(math.sqrt(n)))
    grids = render.row(
        render.grid_tag(s.probs, nrow, cell=40, caption=f"f<sub>θ</sub>(z) of {n} draws of z",
                        export=render.file_name("vae-samples-probs", model=name, seed=seed, n=n),
                        alt=models.alt(f"{n} decoded means f(z), {name} VAE, seed {seed}", s.probs)),
        render.grid_tag(s.x, nrow, cell=40, caption="their Bernoulli samples x",
                        export=render.file_name("vae-samples-x", model=name, seed=seed, n=n),
                        alt=models.alt(f"{n} binary samples x drawn from those means, seed {seed}", s.x)))
    return fig, stages, grids


def build(ctl: VaeControls, links: Links) -> None:
    with gr.Row():
        s_seed = Number(0, label="seed", minimum=0, step=1, elem_id="vae-sample-seed")
        s_n = Slider(1, 400, value=64, step=1, label="samples in the grid", elem_id="vae-sample-n")
        s_btn = gr.Button("Draw z ~ N(0, I)", variant="primary", elem_id="vae-sample-btn")
    with gr.Row():
        s_z = Plot(label="① the latent z", elem_id="vae-stage-z")
        s_stages = gr.HTML(elem_id="vae-stages")
    s_grid = gr.HTML(elem_id="vae-sample-grid")

    views = ["vae-stage-z", "vae-stages", "vae-sample-grid"]
    render.mark_stale([ctl.model, s_seed, s_n], views)
    render.clear_stale(s_btn.click(partial(ancestral, ctl.models), [ctl.model, s_seed, s_n], [s_z, s_stages, s_grid],
                                   api_name="sample"), views)
    links.param("vae", "sample_seed", s_seed)
    links.param("vae", "samples", s_n)
    links.opening(partial(ancestral, ctl.models), [ctl.model, s_seed, s_n], [s_z, s_stages, s_grid])
    # the view's theory, under its figure and controls (the first screen is the instrument)
    gr.Markdown(SAMPLING_TEXT, latex_delimiters=LATEX)
