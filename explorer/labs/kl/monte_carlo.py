"""Monte Carlo estimates of KL(p ‖ q) from samples of p (k1, k2 and k3) against the closed form, with Schulman's
table of their bias and spread, and the Jensen–Shannon and total-variation divergences beside both KLs."""

import math

import gradio as gr
import plotly.graph_objects as go

from explorer import checks, render
from explorer import kl_maths as km
from explorer.gradio_compat import Number, Plot, Slider
from explorer.labs.kl.common import (
    MAX_LOG10_N,
    P_COLOR,
    R_COLOR,
    KlControls,
    params,
)
from explorer.links import Links


def _figure(mc: km.MCEstimate, exact: float, mu_p, sigma_p, mu_q, sigma_q, n: int, seed: int) -> go.Figure:
    """Both estimators' running means against N, and the closed form."""
    fig = go.Figure()
    ns = mc.ns.numpy()
    fig.add_trace(
        go.Scatter(x=ns, y=mc.k1_running.numpy(), mode="lines", name="k1 = log p/q", line=dict(color=P_COLOR))
    )
    fig.add_trace(
        go.Scatter(x=ns, y=mc.k2_running.numpy(), mode="lines", name="k2 = ½ (log r)² (biased)",
                   line=dict(color="#6b7280", dash="dot"))
    )
    fig.add_trace(
        go.Scatter(x=ns, y=mc.k3_running.numpy(), mode="lines", name="k3 = (r − 1) − log r", line=dict(color=R_COLOR))
    )
    fig.add_hline(y=exact, line=dict(color="black", dash="dash"), annotation_text=f"closed form {exact:.4g}")
    fig.update_layout(
        title="running estimate of KL(p ‖ q) against N",
        xaxis=dict(type="log", title="N samples of p"),
        yaxis=dict(title="nats"),
        height=380,
        margin=dict(l=50, r=10, t=50, b=40),
        legend=dict(orientation="h", y=-0.2),
    )
    render.exportable(fig, render.file_name("kl-monte-carlo", mu_p=mu_p, sigma_p=sigma_p, mu_q=mu_q, sigma_q=sigma_q,
                                            N=n, seed=seed),
                      f"KL(p‖q) for p = N({mu_p:g}, {sigma_p:g}²), q = N({mu_q:g}, {sigma_q:g}²): closed form "
                      f"{exact:.5g}; k1 {mc.k1:.5g}, k3 {mc.k3:.5g} from N = {n:,} samples, seed {seed}")
    return fig


def monte_carlo(mu_p, sigma_p, mu_q, sigma_q, log10_n, seed) -> tuple[go.Figure, str]:
    """KL(p ‖ q) from N samples of p with two unbiased estimators, against the closed form."""
    mu_p, sigma_p, mu_q, sigma_q = params(mu_p, sigma_p, mu_q, sigma_q)
    log10_n = checks.number("log10 N", log10_n, 1, MAX_LOG10_N)
    seed = checks.seed(seed)
    n = round(10**log10_n)
    exact, reverse = km.kl_1d(mu_p, sigma_p, mu_q, sigma_q)
    js, tv = km.js_tv_1d(mu_p, sigma_p, mu_q, sigma_q)
    mc = km.monte_carlo(mu_p, sigma_p, mu_q, sigma_q, n, seed)
    fig = _figure(mc, exact, mu_p, sigma_p, mu_q, sigma_q, n, seed)
    ratio = (mc.k1_stderr / mc.k3_stderr) ** 2 if mc.k3_stderr > 0 else float("nan")
    # Moments of r = q/p under p: E_p[r^m] = ∫ q^m p^(1−m) is finite iff σ_q² < m/(m − 1)·σ_p². k3 grows like r, so
    # its variance needs m = 2 (σ_q < √2·σ_p) and a trustworthy estimate of that variance needs m = 4
    # (σ_q < √(4/3)·σ_p ≈ 1.155·σ_p): between the two the standard error exists but the sample's estimate of it
    # has infinite variance, and it is usually too small.
    infinite = sigma_q >= math.sqrt(2) * sigma_p
    unreliable = not infinite and sigma_q >= math.sqrt(4 / 3) * sigma_p
    if not ratio == ratio:  # both standard errors 0 (p = q: every sample of both is 0)
        compare = "Both estimators have zero variance here (every sample is 0: p = q), so their ratio is 0/0."
    elif ratio >= 1:
        compare = (f"Here k3 is the steadier one: the sample variance of k1 is **{ratio:.3g}×** that of k3. k3 adds "
                   "r − 1, whose mean under p is zero, which cancels most of k1's noise when q is near p.")
    else:
        compare = (f"Here k3 is the noisier one: its sample variance is **{1 / ratio:.3g}×** that of k1. Adding "
                   "r − 1 helps only while r = q/p stays near 1 where p has its mass.")
    md = f"""
| estimator (N = {n:,}, seed {seed}) | estimate | standard error |
|---|---|---|
| closed form (`kl_divergence`) | **{exact:.5g}** | exact |
| k1 = mean of log p(x) − log q(x) | {mc.k1:.5g} | {mc.k1_stderr:.2g} |
| k2 = mean of ½ (log r)² (biased) | {mc.k2:.5g} | {mc.k2_stderr:.2g} |
| k3 = mean of (r − 1) − log r, r = q(x)/p(x) | {mc.k3:.5g} | {mc.k3_stderr:.2g} |

{compare} k1 and k3 are unbiased because E_p[r] = 1, and no sample of k3 is negative; k2 is biased (its mean is not
KL(p ‖ q) however large N is), but close to it, with a small spread, when p and q are close. The ratios' effective
sample size, (Σ r)² / Σ r² (Kish), is {mc.ess:,.0f} of {n:,}: near N when the ratios are even, small when a few
samples carry them.

| the same two Gaussians | value | how |
|---|---|---|
| KL(p ‖ q) | {km.fmt_nats(exact)} nats | closed form; asymmetric, unbounded |
| KL(q ‖ p) | {km.fmt_nats(reverse)} nats | closed form |
| Jensen–Shannon JS(p, q) = ½ KL(p ‖ m) + ½ KL(q ‖ m), m = (p + q)/2 | {js:.5g} nats | quadrature; symmetric, \
at most log 2 = 0.6931 |
| total variation TV(p, q) = ½ ∫ &#124;p − q&#124; | {tv:.5g} | closed form; symmetric, at most 1 |
""" + (
        "\n⚠️ Here σ_q ≥ √2·σ_p, so r = q/p has **infinite variance** under p (E_p[r²] = ∫ q²/p diverges): k3 has "
        "no standard error at all, the one shown is meaningless, and its running mean jumps now and then; trust k1."
        if infinite
        else f"\n⚠️ The ratios r = q/p in this sample are **heavy-tailed**: their effective sample size is "
             f"{mc.ess:,.0f}, under a tenth of N. A few samples carry k3's average, so its standard error, computed "
             "from the same samples, can understate its real error several times over; trust k1."
        if mc.ess < n / 10
        else "\n⚠️ Here √(4/3)·σ_p ≤ σ_q < √2·σ_p: r = q/p has a finite variance under p, but E_p[r⁴] diverges, so the "
        "standard error computed from the sample is itself wildly uncertain, and usually too small: k3's real error "
        "can be several times the one shown; trust k1."
        if unreliable
        else ""
    )
    return fig, md


SCHULMAN = ((0.1, "p = N(0, 1), q = N(0.1, 1)"), (1.0, "p = N(0, 1), q = N(1, 1)"))  # his two settings


def _small(v: float) -> str:
    return "0" if abs(v) < 1e-9 else f"{v:.3g}"  # (a quadrature's rounding, 1e-14, is an exact 0)


def schulman_md() -> str:
    """Schulman's (2020) table, computed: each estimator's bias and standard deviation per sample, over the true
    KL, at KL = 0.005 and 0.5 (exact moments by quadrature: explorer/kl_maths.estimator_moments)."""
    rows = []
    for mu, label in SCHULMAN:
        m = km.estimator_moments(0.0, 1.0, mu, 1.0)
        rows.append(f"| {label}: KL = {m['kl']:g} | " + " | ".join(
            f"{_small(m[k]['bias'])} / {m[k]['std']:.3g}" for k in ("k1", "k2", "k3")) + " |")
    return ("**Bias / standard deviation of one sample, each over the true KL** (Schulman's settings; exact, by "
            "quadrature):\n\n| setting | k1 | k2 | k3 |\n|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
            "Close distributions (KL = 0.005): k1's spread is 20 times the KL itself, while k2 and k3 spread about "
            "1.4 times it, k2 with a bias of a quarter of a percent. Farther apart (KL = 0.5), k2's bias grows to a "
            "quarter of the KL, and k3 stays unbiased with the smallest spread.")


def build(ctl: KlControls, links: Links) -> None:
    with gr.Row():
        n = Slider(1, MAX_LOG10_N, value=4, step=0.1, label="log₁₀ N (10 to 1,000,000 samples)",
                   elem_id="kl-mc-n")
        seed = Number(0, label="seed", minimum=0, step=1, elem_id="kl-mc-seed")
        btn = gr.Button("Estimate", variant="primary", elem_id="kl-mc-btn")
    plot = Plot(show_label=False, elem_id="kl-mc-plot")
    table = gr.Markdown(elem_id="kl-mc-table")
    views = ["kl-mc-plot", "kl-mc-table"]
    render.mark_stale([*ctl.params, n, seed], views)
    render.clear_stale(btn.click(monte_carlo, [*ctl.params, n, seed], [plot, table], api_name="kl_monte_carlo"),
                       views)
    links.param("kl", "log10_n", n)
    links.param("kl", "mc_seed", seed)
    links.opening(monte_carlo, [*ctl.params, n, seed], [plot, table])
    # the view's theory, under its figure and controls (the first screen is the instrument)
    gr.Markdown(
        "Estimate KL(p ‖ q) from samples of the p above: k1, the plain average of log p/q; k2 = ½ (log r)², "
        "biased but with a small spread when q is close to p; and k3 = (r − 1) − log r with r = q/p (Schulman "
        "2020). k1 and k3 are unbiased; k3 has the lower variance when q is close "
        "to p, and it can be far worse when q is wider than p (for σ_q ≥ √2·σ_p, r has infinite "
        "variance under p; from σ_q ≥ 1.155·σ_p its standard error cannot be trusted). The closed form is the "
        "dashed line."
    )
    gr.Markdown(schulman_md(), elem_id="kl-schulman")
