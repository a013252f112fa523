"""Particles: thousands of points from the same z_T ~ N(0, I) flow to the data under DDPM (all T steps, fresh noise at
each) and under DDIM (S steps, η from 0, deterministic, to 1), side by side over the field they follow.

The server runs both samplers once (train/diffusion.py's own, through explorer/plane.py) and writes every kept
step's positions to a file; the page plays, scrubs and draws them (explorer/static/plane_particles.js), with trails,
the histograms of x and y against the reference marginals of q(z_t), and the path of a particle you click."""

from __future__ import annotations

import functools
import json

import gradio as gr

from explorer import checks, page, plane
from explorer.gradio_compat import Number, Slider
from explorer.labs.plane.common import (
    LATEX,
    NAMES,
    YOURS,
    PlaneControls,
    Trained,
    builtin_field,
    builtin_reference,
    write,
)
from explorer.links import Links
from explorer.served import served_url
from train.models.ddpm2d import DDPM2D

MAX_PARTICLES = 5000

TEXT = r"""
**Two samplers, one start.** Every particle starts at the same $z_T\sim\mathcal N(0,I)$ in both panels. **DDPM**
(left) is ancestral sampling of the learned reverse chain: each step moves a particle to the mean of
$p_\theta(z_{t-1}\mid z_t)$ and adds fresh Gaussian noise, a discretized reverse-time SDE, so particles jitter and a
particle's end depends on all the noise it met. **DDIM** with $\eta=0$ (right) adds no noise: each step follows the
predicted noise deterministically, a discretized *probability-flow ODE*, so each $z_T$ has one end, and it can take
large steps. Both are built so that, with the exact score and vanishing steps, the particles' distribution at every
$t$ would follow the same marginals $q(z_t)$; with the learned network and finite steps each sampler misses them by its
own small amount. The histograms under each panel sit near the reference curves (exact for the two Gaussian
mixtures, a density estimate from data for the other sets) when the steps are many, although single particles go
different ways; with few DDIM steps they fall short, as below. $\eta$ between 0 and 1
adds part of DDPM's noise back. Few DDIM steps show the discretization error: each step moves in a straight line along
an arrow computed at its start while the field turns, so with 5 steps the particles stop short of the modes (on the
ring, at a radius of about 1.75 instead of 2); with 100 they land on them. Click a particle to follow it: its path
in both panels, the network's guess $\hat x_0=(z_t-\sqrt{1-\bar\alpha_t}\,\hat\varepsilon)/\sqrt{\bar\alpha_t}$ (a
cross) and the arrow $-\hat\varepsilon$ at the shown step.
"""


def describe(sampler: str, steps: int, eta: float, T: int) -> str:
    return f"DDPM, all {T} steps" if sampler == "DDPM" else f"DDIM, {steps} steps, η = {eta:g}"


def _run(model: DDPM2D, ref: plane.Reference, n: int, seed: int, sampler: str, steps: int, eta: float,
         session: bool) -> dict:
    header, pos, eps = plane.particle_run(model, ref, n, seed, sampler, steps, eta)
    prefix = "plane-s-run" if session else "plane-run"
    return {"label": describe(sampler, steps, eta, model.diffusion.T), "pos": served_url(write(pos, prefix)),
            "eps": served_url(write(eps, prefix)), **header}


@functools.lru_cache(maxsize=16)
def _builtin_run(model: DDPM2D, name: str, n: int, seed: int, sampler: str, steps: int, eta: float) -> dict:
    """A built-in model's run, kept (its files too) for the life of the process: the first views and links repeat."""
    return _run(model, builtin_reference(name), n, seed, sampler, steps, eta, session=False)


def parse(ctl: PlaneControls, steps, eta, n, seed) -> tuple[int, float, int, int]:
    T = next(iter(ctl.models.planes.values())).diffusion.T
    return (checks.number("DDIM steps", steps, 1, T, integer=True), checks.number("η", eta, 0.0, 1.0),
            checks.number("Particles", n, 1, MAX_PARTICLES, integer=True), checks.seed(seed))


def particles(ctl: PlaneControls, data, steps, eta, n, seed, trained: Trained | None = None) -> str:
    """Both runs from the same z_T, and the field table to draw under them: the view's value (JSON)."""
    steps, eta, n, seed = parse(ctl, steps, eta, n, seed)
    model, ref, name = ctl.model(data, trained)
    T = model.diffusion.T
    if name == YOURS:
        runs = [_run(model, ref, n, seed, "DDPM", T, 1.0, True), _run(model, ref, n, seed, "DDIM", steps, eta, True)]
        field = trained.field
    else:
        runs = [_builtin_run(model, name, n, seed, "DDPM", T, 1.0),
                _builtin_run(model, name, n, seed, "DDIM", steps, eta)]
        field = builtin_field(model, name)
    return json.dumps({"data": name, "title": NAMES.get(name, name), "seed": seed, "runs": runs,
                       "field": json.loads(field)})


def build(ctl: PlaneControls, links: Links) -> None:
    T = next(iter(ctl.models.planes.values())).diffusion.T
    with gr.Row(equal_height=False):  # the controls beside the two panels: both on the first screen
        with gr.Column(scale=1, min_width=240):
            btn = gr.Button("Run both samplers", variant="primary", elem_id="plane-run")
            steps = Slider(1, T, value=min(50, T), step=1, label="DDIM steps", elem_id="plane-steps")
            eta = Slider(0, 1, value=0.0, step=0.05, label="η (DDIM: 0 deterministic, 1 like DDPM)",
                         elem_id="plane-eta")
            n = Slider(100, MAX_PARTICLES, value=2000, step=100, label="particles", elem_id="plane-n")
            seed = Number(0, label="seed of z_T", minimum=0, step=1, elem_id="plane-seed")
        with gr.Column(scale=4):
            view = gr.HTML("", elem_id="plane-particles", html_template=page.static("plane_particles.html"),
                           js_on_load=page.mount("plane_particles.js"))
    ctl.particles, ctl.particle_inputs = view, [ctl.data, steps, eta, n, seed, ctl.trained]
    run = functools.partial(particles, ctl)
    btn.click(run, ctl.particle_inputs, view, api_name="plane_particles", concurrency_limit=2,
              concurrency_id="plane-particles", show_progress="minimal")
    ctl.data.input(run, ctl.particle_inputs, view, api_visibility="private", concurrency_limit=2,
                   concurrency_id="plane-particles", show_progress="minimal")
    for name, c in (("steps", steps), ("eta", eta), ("n", n), ("seed", seed)):
        links.param("plane", name, c)
    links.opening(lambda *a: run(*a) if a[0] != YOURS else "", ctl.particle_inputs[:-1], [view], later=True)
    # the view's theory, under its figure and controls (the first screen is the instrument)
    gr.Markdown(TEXT, latex_delimiters=LATEX)
