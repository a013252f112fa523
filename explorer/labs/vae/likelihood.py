"""Why log p(x) is hard: naive Monte Carlo against importance sampling and the ELBO as K grows, the float32
underflow, the ELBO's two terms and its gap, and (2-D) the true posterior under the encoder's Gaussian."""

import math
from functools import partial

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import torch

from explorer import checks, render
from explorer.gradio_compat import Number, Plot, Slider
from explorer.labs.vae.common import (
    LATEX,
    VaeControls,
    encoded_for,
)
from explorer.labs.vae.encode import EncodeView, encode_index
from explorer.links import Links
from explorer.models import Models
from explorer.vae_maths import elbo_report, likelihood_curves, underflow
from train.models.vae import VAE

MAX_K, MAX_REPEATS, MAX_SAMPLE_BUDGET = 100_000, 50, 400_000

LIKELIHOOD_TEXT = r"""
**Why $\log p(x)$ is hard.** $p(x)=\int p(x\mid z)\,p(z)\,dz$ has no closed form for a neural decoder. The naive
estimate averages $p(x\mid z_k)$ over $K$ draws $z_k\sim p(z)$. That average is unbiased for $p(x)$, but its log is
biased low (Jensen: $\mathbb E\log\hat p\le\log\mathbb E\,\hat p=\log p(x)$), and it is hopeless in practice: almost
every prior sample explains $x$ badly, so the average hangs on rare lucky draws and needs an enormous $K$, all the
more as $D$ grows (the posterior fills a vanishing share of the prior's volume). Drawing $z_k\sim q_\phi(z\mid x)$
instead and weighting by $p(z_k)/q_\phi(z_k\mid x)$ (importance sampling) puts the samples where the posterior is;
its log is biased low too, and the bias shrinks as $K$ grows. Each $p(x\mid z)$ is a product of 784 per-pixel
probabilities: near the encoder's mean it is tiny but may still fit in float32, while for most $z$ drawn from the
prior it is below float32's smallest number and multiplies out to exactly 0 (the share is below the plot). So every
estimate here is computed in log space, with log-sum-exp.
"""


ELBO_TEXT = r"""
$$\log p(x) = \mathrm{ELBO} + \underbrace{\mathrm{KL}\big(q_\phi(z\mid x)\,\|\,p(z\mid x)\big)}_{\text{gap}\;\ge\;0}$$
$$\mathrm{ELBO} = \mathbb E_{q}[\log p(x\mid z)] - \mathrm{KL}\big(q_\phi(z\mid x)\,\|\,p(z)\big)$$
Raising the ELBO either raises $\log p(x)$ (a better model) or shrinks the gap (an encoder closer to the true
posterior).
"""


def likelihood(models: Models, name: str, state, k_max, repeats, seed, progress=gr.Progress()):
    """The likelihood lab for the encoded digit: estimates against K, underflow, ELBO terms, posterior."""
    vae = models.vae(name)
    state = encoded_for(models, name, state)
    x = state.x
    k_max = checks.number("K (samples)", k_max, 10, MAX_K, integer=True)
    repeats = checks.number("Repeats", repeats, 1, MAX_REPEATS, integer=True)
    seed = checks.seed(seed)
    if k_max * repeats > MAX_SAMPLE_BUDGET:
        raise checks.InputError(f"K × repeats = {k_max * repeats:,} exceeds the limit of {MAX_SAMPLE_BUDGET:,} "
                                "samples; lower K or the repeats.")
    curves = likelihood_curves(vae, x, k_max, repeats, seed,
                               progress=lambda f, what: progress(0.9 * f, desc=what))
    progress(0.9, desc="ELBO terms and log p(x)")
    report, grid = elbo_report(vae, x, seed, curves.best_importance)
    fig = _curves_figure(curves, report, grid, f"log p(x) for {state.label} ({name}): {repeats} runs (thin) and "
                                               "their mean")
    what = render.file_name("", model=name, digit=state.label, K=k_max, repeats=repeats, seed=seed).lstrip("_")
    render.exportable(fig, f"vae-log-px_{what}", f"log p(x) for {state.label}, {name} VAE: K up to {k_max:,}, "
                                                 f"{repeats} runs, seed {seed}")
    with torch.inference_mode():
        z_prior = torch.randn(vae.latent_dim, generator=torch.Generator().manual_seed(seed))
    under_md = _underflow_md(curves, underflow(vae, x, state.mu), underflow(vae, x, z_prior), k_max, repeats)
    elbo_md = ELBO_TEXT + f"""
| term | value (nats) |
|---|---|
| reconstruction E_q[log p(x\\|z)] | {report.reconstruction:.2f} |
| − KL(q(z\\|x) ‖ p(z)) | −{report.kl:.2f} |
| **ELBO** | **{report.elbo:.2f}** |
| log p(x) ({report.log_px_method}) | {report.log_px:.2f} |
| **gap** = log p(x) − ELBO = KL(q(z\\|x) ‖ p(z\\|x)) | **{report.gap:.2f}** |
"""
    post_fig = _posterior_figure(vae, x, grid) if grid is not None else None
    if post_fig is not None:
        render.exportable(post_fig, f"vae-posterior_{render.file_name('', model=name, digit=state.label).lstrip('_')}",
                          f"the true posterior p(z|x) of {state.label} ({name} VAE), the encoder's 1σ and 2σ")
    return fig, under_md, elbo_md, gr.update(value=post_fig, visible=post_fig is not None)


def _curves_figure(curves, report, grid, title: str) -> go.Figure:
    """The three estimates against K: each run thin, their mean thick, and the best log p(x) dashed; below, zoomed on
    the gap, each mean minus that log p(x), where the ELBO's line sits at −gap = −KL(q(z|x) ‖ p(z|x))."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.62, 0.38], vertical_spacing=0.06)
    for label, arr, color in (("naive MC, z ~ p(z)", curves.naive, "#dc2626"),
                              ("importance sampling, z ~ q(z|x)", curves.importance, "#2563eb"),
                              ("ELBO (mean of log w under q)", curves.elbo, "#16a34a")):
        finite = np.where(np.isfinite(arr), arr, np.nan)
        for r in range(arr.shape[0]):
            fig.add_trace(go.Scatter(x=curves.ks, y=finite[r], mode="lines", line=dict(color=color, width=0.7),
                                     opacity=0.35, showlegend=False, hoverinfo="skip", legendgroup=label),
                          row=1, col=1)
        mean = np.nanmean(finite, 0)
        fig.add_trace(go.Scatter(x=curves.ks, y=mean, mode="lines", name=label, line=dict(color=color, width=3),
                                 legendgroup=label), row=1, col=1)
        fig.add_trace(go.Scatter(x=curves.ks, y=mean - report.log_px, mode="lines", line=dict(color=color, width=2),
                                 showlegend=False, legendgroup=label, hovertemplate="K %{x}: %{y:.3f} nats"),
                      row=2, col=1)
    how = "exact" if grid is not None else "best IS"
    fig.add_hline(y=report.log_px, line=dict(color="black", dash="dash"), row=1, col=1,
                  annotation_text=f"log p(x) ≈ {report.log_px:.2f} ({how})")
    fig.add_hline(y=0.0, line=dict(color="black", dash="dash"), row=2, col=1)
    lo = min(report.elbo, float(np.nanmin(curves.importance))) - 10
    gap = max(report.gap, 0.05)
    fig.update_layout(title=title, height=500, margin=dict(l=60, r=10, t=50, b=50),
                      legend=dict(orientation="h", y=-0.16))
    fig.update_yaxes(title_text="nats", range=[max(lo - 60, float(np.nanmin(np.where(
        np.isfinite(curves.naive), curves.naive, np.nan))) - 5), report.log_px + 8], row=1, col=1)
    fig.update_yaxes(title_text=f"minus log p(x) ({how})", range=[-1.6 * gap - 0.2, 0.3 * gap + 0.1], row=2, col=1)
    fig.update_xaxes(type="log", row=1, col=1)
    fig.update_xaxes(type="log", title_text="K, samples per estimate", row=2, col=1)
    return fig


def _underflow_md(curves, at_mu, at_prior, k_max: int, repeats: int) -> str:
    """The estimates' spread at the largest K, the share of prior samples that underflow, and p(x|z) multiplied
    directly in float32 and float64 against summed in log space."""
    spread = np.nanstd(np.where(np.isfinite(curves.naive[:, -1]), curves.naive[:, -1], np.nan))
    spread_is = float(np.std(curves.importance[:, -1]))
    return f"""
**Spread at K = {k_max:,}:** naive estimates vary with standard deviation **{spread:.2f} nats** across the {repeats}
runs; importance sampling **{spread_is:.3f} nats**. Of the {repeats * k_max:,} prior samples,
**{100 * curves.naive_zero_fraction:.1f}%** have p(x|z) = 0 exactly in float32.

**Underflow.** p(x|z) multiplies {at_mu.pixels} per-pixel probabilities:

| z | product in float32 | product in float64 | log p(x\\|z), summed in log space |
|---|---|---|---|
| encoder mean μ | {at_mu.product32:.3g} | {at_mu.product64:.3g} | {at_mu.log_p:.2f} nats |
| one draw from the prior | {at_prior.product32:.3g} | {at_prior.product64:.3g} | {at_prior.log_p:.2f} nats |

float32 cannot hold numbers below about 1.4e-45 = e^-103.3 (float64: e^-744.4), so any p(x|z) smaller than that
comes out as exactly 0 when multiplied directly, and its log as −∞. Summing log-probabilities and combining samples
with log-sum-exp, log Σ_k e^(a_k) = a* + log Σ_k e^(a_k − a*), keeps every digit.
"""


def _posterior_figure(vae: VAE, x: torch.Tensor, grid) -> go.Figure:
    dens = grid.log_posterior[0].exp().T.numpy()  # rows: z2, columns: z1
    fig = go.Figure(go.Heatmap(x=grid.z1.numpy(), y=grid.z2.numpy(), z=dens, colorscale="Viridis",
                               colorbar=dict(title="p(z|x)"), name="true posterior"))
    with torch.inference_mode():
        q = vae.encode(x[None])
    m, s = q.base_dist.loc[0], q.base_dist.scale[0]
    t = torch.linspace(0, 2 * math.pi, 100)
    for k in (1, 2):
        fig.add_trace(go.Scatter(x=(m[0] + k * s[0] * t.cos()).numpy(), y=(m[1] + k * s[1] * t.sin()).numpy(),
                                 mode="lines", line=dict(color="white", width=2, dash=None if k == 1 else "dot"),
                                 name=f"q(z|x) {k}σ"))
    # zoom to where the posterior has mass (density above 1/1000 of its peak) or the encoder's 3σ box
    mass = dens > dens.max() * 1e-3
    z1, z2 = grid.z1.numpy(), grid.z2.numpy()
    lo1 = min(z1[mass.any(0)].min(), float(m[0] - 3 * s[0])), max(z1[mass.any(0)].max(), float(m[0] + 3 * s[0]))
    lo2 = min(z2[mass.any(1)].min(), float(m[1] - 3 * s[1])), max(z2[mass.any(1)].max(), float(m[1] + 3 * s[1]))
    pad = 0.15 * max(lo1[1] - lo1[0], lo2[1] - lo2[0])
    fig.update_layout(title="p(z|x) (colour) vs q(z|x) (ellipses)", height=460,
                      xaxis=dict(title="z1", range=[lo1[0] - pad, lo1[1] + pad]),
                      yaxis=dict(title="z2", scaleanchor="x", range=[lo2[0] - pad, lo2[1] + pad]),
                      margin=dict(l=50, r=10, t=50, b=50), legend=dict(orientation="h", y=-0.2))
    return fig


def opening(models: Models, name: str, index, eps_seed, k_max, repeats, seed):
    """The likelihood lab for test digit `index`, as a page opens (the Encode view's digit): `likelihood` of it."""
    state = encode_index(models, name, index, eps_seed)[0]
    return likelihood(models, name, state, k_max, repeats, seed, progress=lambda *a, **kw: None)


def build(ctl: VaeControls, enc: EncodeView, links: Links) -> None:
    with gr.Row(equal_height=False):  # the controls beside the figure: both on the first screen
        with gr.Column(scale=1, min_width=220):
            btn = gr.Button("Estimate log p(x) for the encoded digit", variant="primary")
            k = Slider(10, MAX_K, value=10_000, step=10, label="K, largest sample count", elem_id="vae-lik-k")
            repeats = Slider(1, MAX_REPEATS, value=5, step=1, label="repeated runs", elem_id="vae-lik-repeats")
            seed = Number(0, label="seed", minimum=0, step=1, elem_id="vae-lik-seed")
        with gr.Column(scale=3):
            plot = Plot(label="log p(x) against K", show_label=False, elem_id="vae-lik-plot")
    with gr.Row():
        elbo = gr.Markdown(latex_delimiters=LATEX, elem_id="vae-lik-elbo")
        post = Plot(label="true posterior", show_label=False, visible=False, elem_id="vae-lik-post")
    under = gr.Markdown(elem_id="vae-lik-under")

    views = ["vae-lik-plot", "vae-lik-elbo", "vae-lik-under"]
    render.mark_stale([ctl.model, k, repeats, seed], views)
    render.clear_stale(btn.click(partial(likelihood, ctl.models), [ctl.model, ctl.encoded, k, repeats, seed],
                                 [plot, under, elbo, post], api_name="likelihood"), views)
    # first shown: the Encode view's test digit
    links.param("vae", "k", k)
    links.param("vae", "repeats", repeats)
    links.param("vae", "lik_seed", seed)
    links.opening(partial(opening, ctl.models), [ctl.model, enc.index, enc.eps_seed, k, repeats, seed],
                  [plot, under, elbo, post], later=True)
    # the view's theory, under its figure and controls (the first screen is the instrument)
    gr.Markdown(LIKELIHOOD_TEXT, latex_delimiters=LATEX)
