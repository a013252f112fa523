"""The ELBO of a digit, term by term against t: prior matching, denoising matching, reconstruction."""

import itertools
from functools import partial

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import torch

from explorer import checks, render
from explorer.gradio_compat import Number, Plot
from explorer.labs.diffusion.common import LATEX, DiffusionControls, test_digit
from explorer.links import Links
from explorer.models import Models

ELBO_TEXT = r"""
**Its ELBO.** By Jensen, $\log p(x)\ge\mathrm{ELBO}=\mathbb E_q[\log p(x,z_{1:T})-\log q(z_{1:T}\mid x)]$. For this
chain the bound splits into three kinds of terms; written as the loss $-\mathrm{ELBO}\ge-\log p(x)$, every term is
a positive cost:
$$-\mathrm{ELBO}=\underbrace{\mathrm{KL}(q(z_T\mid x)\,\|\,p(z_T))}_{L_T\text{: prior matching}}
+\sum_{t=2}^{T}\underbrace{\mathbb E_q\,\mathrm{KL}(q(z_{t-1}\mid z_t,x)\,\|\,p_\theta(z_{t-1}\mid z_t))}_{
L_{t-1}\text{: denoising matching}}\;\underbrace{-\;\mathbb E_q\log p_\theta(x\mid z_1)}_{L_0\text{: reconstruction}}$$
Below, each term of this loss for the chosen digit, in nats, each estimated with one sample of $z_t$ per step: the sum
is an unbiased estimate of $-\mathrm{ELBO}$, so it bounds $-\log p(x)$ in expectation over those samples, not draw by
draw (another seed gives another estimate). The smaller $-\mathrm{ELBO}$, the higher the bound on $\log p(x)$.
"""


@torch.inference_mode()
def elbo_chart(models: Models, x, seed, progress=gr.Progress()) -> tuple[go.Figure, str]:
    """Every term of the loss −ELBO of one digit, against t, with their sum in bits per dimension: a one-sample
    estimate of −ELBO, whose expectation is an upper bound on −log p(x), the negative log-likelihood."""
    m = models.diffusion_model()
    if x is None:
        raise checks.InputError("Choose a test digit or draw one first.")
    seed = checks.seed(seed)
    terms = m.diffusion.elbo_terms(m.eps_model(None), x, torch.Generator().manual_seed(seed),
                                   progress=lambda done, total: progress(done / total,
                                                                         desc=f"{done} of {total} timesteps"))
    T, dims = m.diffusion.T, x[0].numel()
    den = terms.denoising[0].numpy()
    fig = go.Figure(go.Bar(x=np.arange(2, T + 1), y=den, name="denoising L_{t−1} = E KL(q(z_{t−1}|z_t,x) ‖ p_θ)",
                           marker_color="#6366f1"))
    # the two end terms are single values among T bars: drawn as large markers so they can be seen
    fig.add_trace(go.Scatter(x=[1], y=[float(terms.reconstruction[0])],
                             name="reconstruction L_0 = −log p_θ(x|z₁), t = 1",
                             mode="markers", marker=dict(color="#ea580c", size=13, symbol="diamond")))
    fig.add_trace(go.Scatter(x=[T + 1], y=[float(terms.prior[0])], name="prior L_T = KL(q(z_T|x) ‖ N(0, I)), t = T",
                             mode="markers", marker=dict(color="#16a34a", size=13, symbol="diamond")))
    fig.update_layout(height=380, margin=dict(l=50, r=10, t=50, b=40), bargap=0,
                      title=f"the loss −ELBO = {float(terms.bits_per_dim(dims)[0]):.3f} bits/dim "
                            f"({float(terms.total()[0]):.1f} nats), term by term",
                      xaxis=dict(title="t"), yaxis=dict(title="term of −ELBO (nats, log scale)", type="log"),
                      legend=dict(orientation="h", y=-0.2))
    render.exportable(fig, render.file_name("diffusion-elbo", seed=seed),
                      f"the terms of −ELBO against t for the chosen digit (T = {T}), z_t samples seed {seed}: "
                      f"{float(terms.bits_per_dim(dims)[0]):.3f} bits/dim")
    total = float(terms.total()[0])
    edges = sorted({1, *(e for e in (10, T // 10, T // 2) if 1 < e < T), T})  # T = 1000: 1, 10, 100, 500, 1000
    rows = [f"| reconstruction (t = 1) | {float(terms.reconstruction[0]):.2f} | "
            f"{100 * float(terms.reconstruction[0]) / total:.1f}% |"]
    for lo, hi in ((a + 1, b) for a, b in itertools.pairwise(edges)):
        v = float(den[lo - 2 : hi - 1].sum())
        rows.append(f"| denoising, t = {lo}–{hi} | {v:.2f} | {100 * v / total:.1f}% |")
    rows.append(f"| prior (t = T) | {float(terms.prior[0]):.4f} | {100 * float(terms.prior[0]) / total:.2f}% |")
    md = ("| terms of the loss −ELBO | nats | share |\n|---|---|---|\n" + "\n".join(rows) +
          f"\n| **sum: −ELBO ≥ −log p(x)** | **{total:.2f}** | {float(terms.bits_per_dim(dims)[0]):.3f} bits/dim |")
    return fig, md


def for_test_digit(models: Models, index, seed) -> tuple[go.Figure, str]:
    """`elbo_chart` of test digit `index` (the forward view's first digit): what the view shows as a page opens."""
    return elbo_chart(models, test_digit(models, index), seed, progress=lambda *a, **kw: None)


def build(ctl: DiffusionControls, links: Links) -> None:
    with gr.Row():
        seed = Number(0, label="seed of the z_t samples", minimum=0, step=1, elem_id="diff-elbo-seed")
        btn = gr.Button("Compute every term for the chosen digit (Forward process tab)", variant="primary",
                        elem_id="diff-elbo-run")
    plot = Plot(show_label=False, elem_id="diff-elbo-plot")
    table = gr.Markdown(elem_id="diff-elbo-table")
    views = ["diff-elbo-plot", "diff-elbo-table"]
    render.mark_stale([seed, ctl.pick, ctl.draw], views)  # another seed or another digit
    render.clear_stale(btn.click(partial(elbo_chart, ctl.models), [ctl.digit, seed], [plot, table],
                                 api_name="elbo_terms"), views)
    if ctl.index is not None:
        links.param("diffusion", "elbo_seed", seed)
        links.opening(partial(for_test_digit, ctl.models), [ctl.index, seed], [plot, table], later=True)
    # the view's theory, under its figure and controls (the first screen is the instrument)
    gr.Markdown(ELBO_TEXT, latex_delimiters=LATEX)
