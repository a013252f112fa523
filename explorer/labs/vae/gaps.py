"""The ELBO's two gaps for the encoded digit (Cremer, Li & Duvenaud 2018): log p(x) − ELBO split into what no
Gaussian can do (approximation) and what one shared encoder loses against the best Gaussian for this digit
(amortization). The maths: train/inference_gaps.py."""

import math
from functools import partial

import gradio as gr
import plotly.graph_objects as go
import torch

from explorer import checks, render
from explorer.gradio_compat import Number, Plot, Slider
from explorer.labs.vae.common import LATEX, VaeControls, encoded_for
from explorer.labs.vae.encode import EncodeView, encode_index
from explorer.links import Links
from explorer.models import Models
from train.inference_gaps import Gaps, gaps
from train.models.vae import posterior_grid

MAX_STEPS, MAX_SAMPLES = 1000, 256
IWAE_K = 1000

TEXT = r"""
**Two reasons the ELBO falls short.** For one digit $x$ the encoder's Gaussian $q_\phi(z\mid x)$ gives
$\mathrm{ELBO}(q_\phi)\le\log p(x)$, and the shortfall has two parts (Cremer, Li & Duvenaud 2018):

$$\log p(x)-\mathrm{ELBO}(q_\phi)=\underbrace{\log p(x)-\mathrm{ELBO}(q^*)}_{\text{approximation gap}}
+\underbrace{\mathrm{ELBO}(q^*)-\mathrm{ELBO}(q_\phi)}_{\text{amortization gap}}$$

where $q^*$ is the best diagonal Gaussian for this digit alone, found here by optimizing its $\mu$ and $\sigma$
directly (Adam on the ELBO, starting from the encoder's guess, with fresh draws of ε at every step). The
**approximation gap** equals $\mathrm{KL}(q^*\,\|\,p(z\mid x))$: what no Gaussian can do when the true posterior
is skewed, curved or has several modes; a richer family of $q$ shrinks it. The **amortization gap** is the price
of one encoder network that must answer for every digit at once; a bigger encoder, or a few optimization steps per
digit, shrinks it. Both are $\ge 0$ (up to the Monte Carlo noise shown). For the 2-D model $\log p(x)$ is exact
(quadrature); for the 32-D model it is the importance-weighted bound IWAE-1000, a lower bound in expectation, so
the approximation gap shown is a lower bound too.
"""


def split(models: Models, name: str, state, steps, samples, seed, progress=gr.Progress()):
    """The two gaps of the encoded digit for model `name`: the stacked bar, the table, and (2-D) the posterior with
    the encoder's Gaussian and the best one."""
    vae = models.vae(name)
    state = encoded_for(models, name, state)
    steps = checks.number("Optimizer steps", steps, 0, MAX_STEPS, integer=True)
    samples = checks.number("Samples per step", samples, 1, MAX_SAMPLES, integer=True)
    seed = checks.seed(seed)
    progress(0.1, desc="the best Gaussian for this digit, then log p(x)")
    g = gaps(vae, state.x[None], steps=steps, samples=samples, seed=seed, iwae_k=IWAE_K)
    label = f"{state.label} ({name})"
    bar = _bar(g, label)
    what = render.file_name("", model=name, digit=state.label, steps=steps, samples=samples, seed=seed).lstrip("_")
    render.exportable(bar, f"vae-two-gaps_{what}", f"the ELBO's two gaps for {label}: {steps} Adam steps, "
                                                   f"{samples} samples per step, seed {seed}")
    post = None
    if vae.latent_dim == 2:
        post = _posterior(vae, state.x, g)
        render.exportable(post, f"vae-best-gaussian_{what}", f"p(z|x), the encoder's q and the best Gaussian q* "
                                                             f"for {label}")
    return bar, _table(g), gr.update(value=post, visible=post is not None)


def _bar(g: Gaps, label: str) -> go.Figure:
    approx, amort = float(g.approximation[0]), float(g.amortization[0])
    fig = go.Figure()
    for name, v, color in (("approximation gap: log p(x) − ELBO(q*)", approx, "#ea580c"),
                           ("amortization gap: ELBO(q*) − ELBO(q_φ)", amort, "#2563eb")):
        fig.add_trace(go.Bar(y=["gap"], x=[v], orientation="h", name=name, marker_color=color,
                             text=[f"{v:.3f}"], textposition="inside", hovertemplate="%{x:.4f} nats"))
    fig.update_layout(barmode="relative", height=230, title=f"log p(x) − ELBO(q_φ) = {float(g.total[0]):.3f} nats "
                                                            f"for {label}",
                      xaxis=dict(title="nats"), yaxis=dict(showticklabels=False),
                      legend=dict(orientation="h", y=-0.5), margin=dict(l=20, r=10, t=50, b=40))
    return fig


def _table(g: Gaps) -> str:
    se = float(g.amortization_stderr[0])
    mu_e, s_e = g.mu_encoder[0].tolist(), g.sigma_encoder[0].tolist()
    mu_b, s_b = g.mu_best[0].tolist(), g.sigma_best[0].tolist()
    dims = "" if len(mu_e) > 2 else f"""
| | μ | σ |
|---|---|---|
| encoder q_φ(z\\|x) | ({mu_e[0]:.3f}, {mu_e[1]:.3f}) | ({s_e[0]:.4f}, {s_e[1]:.4f}) |
| best Gaussian q* | ({mu_b[0]:.3f}, {mu_b[1]:.3f}) | ({s_b[0]:.4f}, {s_b[1]:.4f}) |
"""
    return f"""
| quantity | nats |
|---|---|
| log p(x), {g.method} | {float(g.log_px[0]):.3f} |
| ELBO(q*), the best Gaussian | {float(g.elbo_best[0]):.3f} |
| ELBO(q_φ), the encoder's | {float(g.elbo_encoder[0]):.3f} |
| **approximation gap** | **{float(g.approximation[0]):.3f}** |
| **amortization gap** (± Monte Carlo s.e.) | **{float(g.amortization[0]):.3f}** ± {se:.3f} |
| total gap | {float(g.total[0]):.3f} |
{dims}
Both ELBOs are estimated with the same 4,096 draws of ε (so their difference carries little noise).
"""


def _ellipse(fig: go.Figure, mu, sigma, name: str, color: str, dash: str | None) -> None:
    t = torch.linspace(0, 2 * math.pi, 100)
    fig.add_trace(go.Scatter(x=(mu[0] + sigma[0] * t.cos()).numpy(), y=(mu[1] + sigma[1] * t.sin()).numpy(),
                             mode="lines", line=dict(color=color, width=2.5, dash=dash), name=name))


def _posterior(vae, x: torch.Tensor, g: Gaps) -> go.Figure:
    grid = posterior_grid(vae, x[None])
    dens = grid.log_posterior[0].exp().T.numpy()  # rows: z2, columns: z1
    fig = go.Figure(go.Heatmap(x=grid.z1.numpy(), y=grid.z2.numpy(), z=dens, colorscale="Viridis",
                               colorbar=dict(title="p(z|x)"), name="true posterior"))
    _ellipse(fig, g.mu_encoder[0], g.sigma_encoder[0], "encoder q_φ(z|x), 1σ", "white", None)
    _ellipse(fig, g.mu_best[0], g.sigma_best[0], "best Gaussian q*, 1σ", "#f97316", "dash")
    mus = torch.stack([g.mu_encoder[0], g.mu_best[0]])
    reach = 3 * torch.maximum(g.sigma_encoder[0], g.sigma_best[0])
    lo, hi = (mus.min(0).values - reach).tolist(), (mus.max(0).values + reach).tolist()
    fig.update_layout(title="p(z|x) (colour), q_φ (white), q* (orange)", height=420,
                      xaxis=dict(title="z1", range=[lo[0], hi[0]]),
                      yaxis=dict(title="z2", scaleanchor="x", range=[lo[1], hi[1]]),
                      margin=dict(l=50, r=10, t=50, b=40), legend=dict(orientation="h", y=-0.22))
    return fig


def opening(models: Models, name: str, index, eps_seed, steps, samples, seed):
    """The two gaps of the Encode view's test digit, as a page opens."""
    state = encode_index(models, name, index, eps_seed)[0]
    return split(models, name, state, steps, samples, seed, progress=lambda *a, **kw: None)


def build(ctl: VaeControls, enc: EncodeView, links: Links) -> None:
    with gr.Row(equal_height=False):  # the controls beside the figures: both on the first screen
        with gr.Column(scale=1, min_width=220):
            btn = gr.Button("Split the gap for the encoded digit", variant="primary")
            steps = Slider(0, MAX_STEPS, value=300, step=10, label="optimizer steps for q*", elem_id="vae-gaps-steps")
            samples = Slider(1, MAX_SAMPLES, value=32, step=1, label="samples of ε per step",
                             elem_id="vae-gaps-samples")
            seed = Number(0, label="seed", minimum=0, step=1, elem_id="vae-gaps-seed")
        with gr.Column(scale=3):
            bar = Plot(label="the two gaps", show_label=False, elem_id="vae-gaps-bar")
            post = Plot(label="posterior and the two Gaussians", show_label=False, visible=False,
                        elem_id="vae-gaps-post")
            table = gr.Markdown(elem_id="vae-gaps-table")
    views = ["vae-gaps-bar", "vae-gaps-table"]
    render.mark_stale([ctl.model, steps, samples, seed], views)
    render.clear_stale(btn.click(partial(split, ctl.models), [ctl.model, ctl.encoded, steps, samples, seed],
                                 [bar, table, post], api_name="two_gaps", concurrency_limit=2), views)
    links.param("vae", "gap_steps", steps)
    links.param("vae", "gap_samples", samples)
    links.param("vae", "gap_seed", seed)
    links.opening(partial(opening, ctl.models), [ctl.model, enc.index, enc.eps_seed, steps, samples, seed],
                  [bar, table, post], later=True)
    gr.Markdown(TEXT, latex_delimiters=LATEX)
