"""What guidance really samples: on a Gaussian mixture whose components are the classes, the tilted density
p(x | c)^(1+w) p(x)^(−w) that classifier-free guidance is often said to sample, beside what DDIM actually draws with
the exact guided noise prediction (1 + w) ε*(z | c) − w ε*(z), and their energy distance against w. Everything exact:
no network is involved (train/guidance2d.py)."""

from __future__ import annotations

import functools
from functools import partial

import gradio as gr
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from explorer import checks, render
from explorer.gradio_compat import Number, Plot, Radio, Slider
from explorer.labs.plane.common import LATEX
from explorer.links import Links
from train.data2d import energy_distance
from train.diffusion import GaussianDiffusion
from train.guidance2d import cfg_sample, sample_grid, tilted_grid
from train.mixture2d import MIXTURES

MAX_W, SWEEP = 8.0, (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
N, MAX_STEPS = 2000, 200
DATA = "uneven3"
COLORS = ["#2563eb", "#ea580c", "#16a34a"]

TEXT = r"""
**What guidance samples.** Here the data are the three Gaussians of *uneven3* and each Gaussian is a class, so every
density is known exactly. Classifier-free guidance with scale $w$ runs the sampler on
$\tilde\varepsilon=(1+w)\,\varepsilon(z_t,t\mid c)-w\,\varepsilon(z_t,t)$, the noise prediction of
$q_t(z\mid c)^{1+w}\,q_t(z)^{-w}$ at every $t$. The left panel is what that suggests at $t=0$: the *tilted* density
$p(x\mid c)^{1+w}p(x)^{-w}$, normalized. The middle panel is what DDIM actually draws with the exact guided noise
prediction, no network involved. At $w=0$ the two agree (the energy distance is near its floor, two exact draws of
the same density; what remains is DDIM's discretization); as $w$ grows they part: the guided sampler does not sample
the tilted density, because the tilted densities at different $t$ are not noisy versions of one another (Chidambaram
et al. 2024). The guided samples crowd into a tighter clump pushed away from the other classes, out to the edge of
their class's Gaussian and beyond, while the tilted density stays where the class is, with its spread (these classes
overlap little, so the tilt changes them little). Guidance buys samples that look more like their class, at the
cost of sampling neither p(x | c) nor the tilted density it is often said to sample.
"""


@functools.lru_cache(maxsize=16)  # (each holds a 281 × 281 grid and 4,000 points: 0.7 MB)
def _pair(c: int, w: float, steps: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(grid axis, tilted log density, its exact draws, the exact-CFG DDIM samples); cached, as the sweep reuses it."""
    mix = MIXTURES[DATA]()
    axis, logd, _ = tilted_grid(mix, c, w)
    exact = sample_grid(axis, logd, N, torch.Generator().manual_seed(seed + 1))
    return axis, logd, exact, cfg_sample(mix, c, w, _diffusion(), N, steps, seed)


@functools.cache
def _diffusion() -> GaussianDiffusion:
    return GaussianDiffusion(1000, "linear")  # the 2-D models' schedule (train/models/ddpm2d.py)


def _sweep(c: int, steps: int, seed: int) -> tuple[list[float], float]:
    """The energy distance of the guided samples to the tilted density for each w of SWEEP, and the floor: two
    independent exact draws of the w = 0 density."""
    eds = [energy_distance(_pair(c, w, steps, seed)[3], _pair(c, w, steps, seed)[2]) for w in SWEEP]
    axis, logd, exact, _ = _pair(c, 0.0, steps, seed)
    floor = energy_distance(sample_grid(axis, logd, N, torch.Generator().manual_seed(seed + 2)), exact)
    return eds, floor


def guidance(c, w, steps, seed):
    """The tilted density, the exact-CFG samples and the energy distance against w for class c."""
    c = int(checks.choice("Class", str(c), ["0", "1", "2"]))
    w = checks.number("Guidance scale w", w, 0, MAX_W)
    steps = checks.number("DDIM steps", steps, 1, MAX_STEPS, integer=True)
    seed = checks.seed(seed)
    axis, logd, exact, guided = _pair(c, float(w), steps, seed)
    eds, floor = _sweep(c, steps, seed)
    ed_now = energy_distance(guided, exact)
    fig = make_subplots(1, 3, column_widths=[0.34, 0.34, 0.32], horizontal_spacing=0.07, subplot_titles=(
        f"tilted p(x|c)^{1 + w:g} p(x)^−{w:g}", f"DDIM-{steps} with exact guided ε̃", "energy distance to the tilted"))
    dens = logd.exp().numpy()
    fig.add_trace(go.Heatmap(x=axis.numpy(), y=axis.numpy(), z=dens, colorscale="Viridis", showscale=False,
                             name="tilted density"), 1, 1)
    fig.add_trace(go.Contour(x=axis.numpy(), y=axis.numpy(), z=dens, showscale=False, contours_coloring="lines",
                             ncontours=8, line=dict(color="#9ca3af", width=1), name="tilted density",
                             hoverinfo="skip"), 1, 2)
    fig.add_trace(go.Scattergl(x=guided[:, 0].numpy(), y=guided[:, 1].numpy(), mode="markers", name="guided samples",
                               marker=dict(size=3, color=COLORS[c], opacity=0.5)), 1, 2)
    fig.add_trace(go.Scatter(x=list(SWEEP), y=eds, mode="lines+markers", name="guided vs tilted",
                             line=dict(color=COLORS[c])), 1, 3)
    fig.add_trace(go.Scatter(x=[w], y=[ed_now], mode="markers", marker=dict(size=12, color="black"),
                             name=f"w = {w:g}"), 1, 3)
    fig.add_trace(go.Scatter(x=[0, MAX_W], y=[floor, floor], mode="lines", name="floor: two exact draws",
                             line=dict(color="#6b7280", dash="dash")), 1, 3)
    for col in (1, 2):
        fig.update_xaxes(range=[-3.5, 3.5], row=1, col=col, title_text="x₁")
        fig.update_yaxes(range=[-3.5, 3.5], row=1, col=col, scaleanchor=f"x{col}", title_text="x₂")
    fig.update_xaxes(title_text="w", row=1, col=3)
    fig.update_yaxes(title_text="energy distance", type="log", row=1, col=3)
    fig.update_layout(height=420, margin=dict(l=40, r=10, t=50, b=40), legend=dict(orientation="h", y=-0.2))
    render.exportable(fig, f"plane-guidance_c={c}_w={w:g}_steps={steps}_seed={seed}",
                      f"uneven3, class {c}, w = {w:g}: the tilted density and DDIM-{steps} with exact guided scores")
    md = (f"Class {c}, w = {w:g}: energy distance of the {N:,} guided samples to {N:,} exact draws of the tilted "
          f"density **{ed_now:.4f}**, against a floor of {floor:.4f} (two exact draws of the same density). Mean "
          f"distance from the class's mean: guided {_spread(guided, c):.3f}, tilted {_spread(exact, c):.3f}.")
    return fig, md


def _spread(x: torch.Tensor, c: int) -> float:
    return float((x - MIXTURES[DATA]().means[c]).norm(dim=1).mean())


def build(links: Links) -> None:
    with gr.Row(equal_height=False):  # the controls beside the figure: both on the first screen
        with gr.Column(scale=1, min_width=200):
            c = Radio(["0", "1", "2"], value="2", label="class c (a component of uneven3)", elem_id="plane-g-class")
            w = Slider(0, MAX_W, value=2.0, step=0.1, label="guidance scale w", elem_id="plane-g-w")
            steps = Slider(1, MAX_STEPS, value=50, step=1, label="DDIM steps", elem_id="plane-g-steps")
            seed = Number(0, label="seed", minimum=0, step=1, elem_id="plane-g-seed")
            md = gr.Markdown(elem_id="plane-g-md")
        with gr.Column(scale=4):
            plot = Plot(label="guidance against the tilted density", show_label=False, elem_id="plane-g-plot")
    inputs = [c, w, steps, seed]
    c.input(guidance, inputs, [plot, md], api_name="plane_guidance", concurrency_limit=2)
    for ev in (w.release, steps.release, seed.change):
        ev(guidance, inputs, [plot, md], api_visibility="private", concurrency_limit=2, trigger_mode="always_last")
    for name, comp in (("g_class", c), ("g_w", w), ("g_steps", steps), ("g_seed", seed)):
        links.param("plane", name, comp)
    links.opening(partial(guidance), inputs, [plot, md], later=True)  # (the w sweep: after the quick views)
    gr.Markdown(TEXT, latex_delimiters=LATEX)
