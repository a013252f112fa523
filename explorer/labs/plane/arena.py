"""What a step budget buys: the same z_T through four samplers at the same number of network calls (the ancestral
sampler, DDIM with η = 0, DPM-Solver++(2M) and Heun's method on the probability-flow ODE), with the exact ε* of a
Gaussian mixture or the lab's trained network: where the particles end, the paths they take, and the energy distance
to the data against calls. The samplers: train/diffusion.py."""

from __future__ import annotations

import functools
import itertools

import gradio as gr
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from explorer import checks, render
from explorer.gradio_compat import Number, Plot, Radio, Slider
from explorer.labs.plane.common import LATEX
from explorer.links import Links
from explorer.models import Models
from train.data2d import energy_distance
from train.diffusion import GaussianDiffusion
from train.mixture2d import MIXTURES, eps_star

SAMPLERS = ("ancestral (DDIM η = 1)", "DDIM η = 0", "DPM-Solver++(2M)", "Heun (PF-ODE)")
SHORT = ("ancestral", "DDIM η = 0", "DPM++(2M)", "Heun")
COLORS = ("#dc2626", "#2563eb", "#16a34a", "#9333ea")
BUDGETS, MAX_CALLS, N, PATHS = (1, 2, 3, 5, 10, 20, 50), 50, 2000, 12

TEXT = r"""
**What a step budget buys.** Every sampler here starts from the same $z_T$ and may call the noise predictor a fixed
number of times. The ancestral sampler (DDIM with $\eta=1$ on a subsequence of steps: fresh noise at each) and DDIM
with $\eta=0$ take one call per step, on steps evenly spaced in $t$, and are first-order: their error shrinks in
proportion to the step. DPM-Solver++(2M) reuses the previous step's prediction to reach second order at one call per
step, on steps evenly spaced in log-SNR as its authors recommend. Heun's method (Karras et al. 2022) spends two calls
per step, an Euler step and then a correction with the slope at its end, on the probability-flow ODE, on Karras's
steps ($\sigma^{1/7}$ evenly spaced), so at 9 calls it takes 5 steps. With the exact $\varepsilon^*$ of the mixture,
what remains is each sampler's own discretization error, and the energy distance to the data (right) shows what a
budget buys: at 3 and 5 calls DPM-Solver++ is already close to the data while the first-order samplers are far from
it, and by 10 calls they have caught up. Heun's method needs about 20 calls before it works at all here: with fewer
steps its first one spans the whole range of noise (σ from about 157 down to almost 0), and its correction asks the
predictor about a point far from anything it describes. By 50 calls every sampler reaches the floor of two exact
draws. The paths (12 particles, with their mean total turning in the table) show why few steps fail: the flow turns,
most near the end as the particles choose a mode, and a long straight step cannot follow the turn. With the trained
network, its own error adds to the samplers'.
"""


@functools.cache
def _diffusion() -> GaussianDiffusion:
    return GaussianDiffusion(1000, "linear")  # the 2-D models' schedule


def steps_for(sampler: str, calls: int) -> int:
    """The steps a sampler takes within `calls` network calls (Heun: 2·steps − 1 calls)."""
    return max(1, (calls + 1) // 2) if sampler == SAMPLERS[3] else calls


def run(sampler: str, model, z_T: torch.Tensor, calls: int, seed: int) -> list[torch.Tensor]:
    """The particles' positions after each step, from z_T to the end: a list of (N, 2) tensors (the ODE samplers
    deterministic, the ancestral one drawing its noise with `seed`)."""
    d, steps = _diffusion(), steps_for(sampler, calls)
    g = torch.Generator().manual_seed(seed + 1)
    if sampler == SAMPLERS[0]:
        gen = d.ddim_sample_progressive(model, z_T.shape, steps, 1.0, g, z_T=z_T, clip=False)
    elif sampler == SAMPLERS[1]:
        gen = d.ddim_sample_progressive(model, z_T.shape, steps, 0.0, g, z_T=z_T, clip=False)
    elif sampler == SAMPLERS[2]:
        gen = d.dpm_solver_pp_sample_progressive(model, z_T.shape, steps, g, z_T=z_T, clip=False, spacing="logsnr")
    else:
        gen = d.heun_sample_progressive(model, z_T.shape, steps, g, z_T=z_T)
    return [z_T.double()] + [s.z_prev.double() for s in gen]


def turning(path: list[torch.Tensor]) -> float:
    """The paths' mean total turning: Σ over steps of the angle between successive moves, radians, averaged."""
    moves = [b - a for a, b in itertools.pairwise(path)]
    total = torch.zeros(len(path[0]), dtype=torch.float64)
    for u, v in itertools.pairwise(moves):
        cos = (u * v).sum(1) / (u.norm(dim=1) * v.norm(dim=1)).clamp_min(1e-12)
        total += torch.arccos(cos.clamp(-1, 1))
    return float(total.mean())


def _model(models: Models, data: str, network: str):
    if network == "exact ε*":
        mix, ac = MIXTURES[data](), _diffusion().alphas_cumprod.double()
        return lambda z, t: eps_star(mix, float(ac[int(t[0])]), z.double()).float()
    return models.plane(data)


def arena(models: Models, data, network, calls, seed):
    data = checks.choice("Data", data, list(MIXTURES))
    network = checks.choice("Noise predictor", network, ["exact ε*", "trained network"])
    calls = checks.number("Network calls", calls, 1, MAX_CALLS, integer=True)
    seed = checks.seed(seed)
    model = _model(models, data, network)
    ref = MIXTURES[data]().sample(N, torch.Generator().manual_seed(seed + 100))
    floor = energy_distance(MIXTURES[data]().sample(N, torch.Generator().manual_seed(seed + 101)), ref)
    z_T = torch.randn(N, 2, generator=torch.Generator().manual_seed(seed))
    fig = make_subplots(1, 5, column_widths=[0.17] * 4 + [0.32], horizontal_spacing=0.04,
                        subplot_titles=[f"{short}: {steps_for(s, calls)} steps" for s, short in zip(SAMPLERS, SHORT,
                                        strict=True)] + ["energy distance"])
    rows = []
    for col, (sampler, color) in enumerate(zip(SAMPLERS, COLORS, strict=True), start=1):
        path = run(sampler, model, z_T, calls, seed)
        end = path[-1]
        fig.add_trace(go.Scattergl(x=ref[:500, 0].numpy(), y=ref[:500, 1].numpy(), mode="markers", showlegend=False,
                                   marker=dict(size=3, color="#d1d5db"), hoverinfo="skip"), 1, col)
        for j in range(PATHS):
            fig.add_trace(go.Scatter(x=[float(p[j, 0]) for p in path], y=[float(p[j, 1]) for p in path],
                                     mode="lines", line=dict(color=color, width=1), showlegend=False,
                                     hoverinfo="skip"), 1, col)
        fig.add_trace(go.Scattergl(x=end[:, 0].numpy(), y=end[:, 1].numpy(), mode="markers", name=sampler,
                                   marker=dict(size=3, color=color, opacity=0.5)), 1, col)
        curve = [energy_distance(run(sampler, model, z_T, b, seed)[-1], ref) for b in BUDGETS]
        fig.add_trace(go.Scatter(x=list(BUDGETS), y=curve, mode="lines+markers", name=sampler, showlegend=False,
                                 line=dict(color=color)), 1, 5)
        rows.append((sampler, steps_for(sampler, calls), energy_distance(end, ref), turning(path)))
        fig.update_xaxes(range=[-3, 3], row=1, col=col, showticklabels=False)
        fig.update_yaxes(range=[-3, 3], row=1, col=col, scaleanchor=f"x{col}", showticklabels=False)
    fig.add_trace(go.Scatter(x=[1, MAX_CALLS], y=[floor, floor], mode="lines", name="floor: two exact draws",
                             line=dict(color="#6b7280", dash="dash")), 1, 5)
    fig.update_xaxes(type="log", title_text="network calls", row=1, col=5)
    fig.update_yaxes(type="log", row=1, col=5)
    fig.update_layout(height=360, margin=dict(l=20, r=10, t=50, b=40), legend=dict(orientation="h", y=-0.25))
    render.exportable(fig, f"plane-arena_{data}_calls={calls}_seed={seed}",
                      f"{data}, {network}, {calls} network calls, seed {seed}")
    md = (f"| sampler ({calls} calls, {network}) | steps | energy distance to the data | mean turning of a path |\n"
          "|---|---|---|---|\n" + "\n".join(f"| {s} | {k} | {e:.4f} | {t:.2f} rad |" for s, k, e, t in rows)
          + f"\n\nFloor: {floor:.4f}, the energy distance between two exact draws of {N:,} points.")
    return fig, md


def build(models: Models, links: Links) -> None:
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=200):
            data = Radio(list(MIXTURES), value="ring8", label="data (exact ε* known)", elem_id="plane-a-data")
            network = Radio(["exact ε*", "trained network"], value="exact ε*", label="noise predictor",
                            elem_id="plane-a-net")
            calls = Slider(1, MAX_CALLS, value=9, step=1, label="network calls", elem_id="plane-a-calls")
            seed = Number(0, label="seed", minimum=0, step=1, elem_id="plane-a-seed")
        with gr.Column(scale=5):
            plot = Plot(label="samplers at one budget", show_label=False, elem_id="plane-a-plot")
            md = gr.Markdown(elem_id="plane-a-md")
    inputs, fn = [data, network, calls, seed], functools.partial(arena, models)
    calls.release(fn, inputs, [plot, md], api_name="plane_arena", concurrency_limit=2, trigger_mode="always_last")
    for ev in (data.input, network.input, seed.change):
        ev(fn, inputs, [plot, md], api_visibility="private", concurrency_limit=2, trigger_mode="always_last")
    for name, comp in (("a_data", data), ("a_net", network), ("a_calls", calls), ("a_seed", seed)):
        links.param("plane", name, comp)
    links.opening(fn, inputs, [plot, md], later=True)  # (seconds of sampling: after the quick views)
    gr.Markdown(TEXT, latex_delimiters=LATEX)

