"""The KL lab: two Gaussians you control, Monte Carlo against the closed form, forward versus reverse
fits to a mixture, two 2-D Gaussians, and the KL term of the shipped VAE.

Layout first (`build`), events wired after; handlers are module-level functions. All maths lives in
explorer/kl_maths.py (torch.distributions, float64).
"""

import json
import math
from functools import partial

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import torch

from explorer import checks, render
from explorer import kl_maths as km
from explorer.models import Models

MU_RANGE = 10.0
SIGMA_MIN, SIGMA_MAX = 0.001, 10.0
MAX_LOG10_N = 6  # Monte Carlo: up to 10^6 samples
SIGMA_Q0 = 0.8  # q starts narrower than p and shifted: the two KLs differ (0.84 vs 0.54), and k3 is the steadier
# estimator there (for a wider q it is not: see monte_carlo)
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]
P_COLOR, Q_COLOR, F_COLOR, R_COLOR = "#2563eb", "#ea580c", "#16a34a", "#9333ea"

INTRO = r"""
**Kullback–Leibler divergence** measures how badly $q$ stands in for $p$:
$\mathrm{KL}(p\,\|\,q)=\mathbb E_{x\sim p}\big[\log p(x)-\log q(x)\big]=\int p(x)\log\frac{p(x)}{q(x)}\,dx$.
It is never negative: $-\mathrm{KL}(p\|q)=\mathbb E_p[\log\frac{q}{p}]\le\log\mathbb E_p[\frac{q}{p}]=\log 1=0$ by
Jensen's inequality, since $\log$ is concave. It is $0$ only when $p=q$ (almost everywhere), and it is **not
symmetric**. For two Gaussians it has a closed form:
$$\mathrm{KL}\big(\mathcal N(\mu_p,\sigma_p^2)\,\|\,\mathcal N(\mu_q,\sigma_q^2)\big)
=\log\frac{\sigma_q}{\sigma_p}+\frac{\sigma_p^2+(\mu_p-\mu_q)^2}{2\sigma_q^2}-\frac12 .$$
Two Gaussians share all of $\mathbb R$, so their KL is always finite, but it grows without bound as the means
separate relative to the widths. (KL is infinite when $p$ puts mass where $q$ has none.) The shaded curve is
the integrand $p(x)\log\frac{p(x)}{q(x)}$: negative where $q>p$, yet its total area is never below zero.
"""

PRESETS = {
    "identical": ((0.0, 1.0, 0.0, 1.0), "p = q: both divergences are exactly 0, the only way KL can be 0."),
    "same mean, different widths": (
        (0.0, 1.0, 0.0, 3.0),
        "q three times wider than p: KL(p‖q) ≈ 0.65 but KL(q‖p) ≈ 2.9. KL is not "
        "symmetric: q covering p is cheap, p missing q's spread is not.",
    ),
    "shifted, equal widths": (
        (-1.0, 1.0, 1.0, 1.0),
        "equal widths: both directions give (μ_p − μ_q)²/(2σ²) = 2 nats; only then is KL symmetric.",
    ),
    "two spikes far apart": (
        (-4.0, 0.1, 4.0, 0.1),
        "two narrow Gaussians 8 apart: KL = 8²/(2·0.1²) = 3200 nats both ways, the average of log p/q under p. "
        "Their supports still overlap (all of ℝ), so the KL is finite; the mass they share, 2Φ(−40) ≈ e^-804, "
        "is another number: do not confuse the two.",
    ),
}


# --- handlers ------------------------------------------------------------------------------------


def _params(mu_p, sigma_p, mu_q, sigma_q) -> tuple[float, float, float, float]:
    return (
        checks.number("μ_p", mu_p, -MU_RANGE, MU_RANGE),
        checks.number("σ_p", sigma_p, SIGMA_MIN, SIGMA_MAX),
        checks.number("μ_q", mu_q, -MU_RANGE, MU_RANGE),
        checks.number("σ_q", sigma_q, SIGMA_MIN, SIGMA_MAX),
    )


def _numbers_html(kl_pq: float, kl_qp: float) -> str:
    def cell(v: float) -> str:
        bits = v / math.log(2) if math.isfinite(v) else v
        return f"<b>{km.fmt_nats(v)}</b> nats<br><span class='ge-note'>{km.fmt_nats(bits)} bits</span>"

    return (
        f"<div class='ge-row' id='kl-numbers'>"
        f"<div class='ge-kl'><div>KL(p ‖ q)</div><div id='kl-pq'>{cell(kl_pq)}</div></div>"
        f"<div class='ge-kl'><div>KL(q ‖ p)</div><div id='kl-qp'>{cell(kl_qp)}</div></div>"
        f"<div class='ge-note'>difference {km.fmt_nats(abs(kl_pq - kl_qp))} nats</div></div>"
    )


@torch.inference_mode()
def gaussians_1d(mu_p, sigma_p, mu_q, sigma_q, direction: str, template: bool = False) -> str:
    """Both KL values (HTML) and a figure of the two densities with the shaded integrand of the chosen
    direction, as one `render.live_value` for the live plot."""
    mu_p, sigma_p, mu_q, sigma_q = _params(mu_p, sigma_p, mu_q, sigma_q)
    direction = checks.choice("Direction", direction, ("KL(p‖q)", "KL(q‖p)"))
    kl_pq, kl_qp = km.kl_1d(mu_p, sigma_p, mu_q, sigma_q)
    p, q = km.normal(mu_p, sigma_p), km.normal(mu_q, sigma_q)
    x = km.grid_for(mu_p, sigma_p, mu_q, sigma_q)
    a, b, val = (p, q, kl_pq) if direction == "KL(p‖q)" else (q, p, kl_qp)
    # float32 halves what travels to the browser; a plotted curve needs no more precision
    xs = x.float().numpy()
    f = km.integrand(a, b, x).float().numpy()
    # one figure with an overlaid second y-axis for the integrand (make_subplots costs ~15 ms a call); no
    # legend (the numbers box names the colours): each saved millisecond keeps dragging live
    fig = go.Figure(
        [
            go.Scatter(
                x=xs,
                y=f,
                fill="tozeroy",
                mode="lines",
                line=dict(color=F_COLOR, width=1),
                fillcolor="rgba(22,163,74,0.25)",
                name=f"integrand of {direction}",
                yaxis="y2",
            ),
            go.Scatter(
                x=xs, y=p.log_prob(x).exp().float().numpy(), mode="lines", line=dict(color=P_COLOR, width=2.5), name="p"
            ),
            go.Scatter(
                x=xs, y=q.log_prob(x).exp().float().numpy(), mode="lines", line=dict(color=Q_COLOR, width=2.5), name="q"
            ),
        ],
        layout=dict(
            title=f"shaded area = {direction} = {km.fmt_nats(val)} nats",
            height=400,
            showlegend=False,
            margin=dict(l=50, r=50, t=50, b=40),
            yaxis=dict(title="density", nticks=6),
            yaxis2=dict(overlaying="y", side="right", showgrid=False, showticklabels=False, zeroline=False),
            xaxis=dict(nticks=8),
        ),
    )
    return render.live_value(fig, _numbers_html(kl_pq, kl_qp), template)


def kl_1d(mu_p: float, sigma_p: float, mu_q: float, sigma_q: float, direction: str = "KL(p‖q)") -> str:
    """The API of the 1-D panel: its live value (JSON: the numbers as HTML and the plotly figure)."""
    return gaussians_1d(mu_p, sigma_p, mu_q, sigma_q, direction)


def kl_2d(mu_p1: float, mu_p2: float, sigma_p1: float, sigma_p2: float, rho_p: float, mu_q1: float, mu_q2: float,
          sigma_q1: float, sigma_q2: float, rho_q: float) -> tuple[dict, str]:
    """The API of the 2-D panel: the figure as plotly JSON and both KLs as HTML."""
    fig, html = gaussians_2d(mu_p1, mu_p2, sigma_p1, sigma_p2, rho_p, mu_q1, mu_q2, sigma_q1, sigma_q2, rho_q)
    return json.loads(fig.to_json()), html


def gaussians_1d_live(mu_p, sigma_p, mu_q, sigma_q, direction: str) -> str:
    """`gaussians_1d` for dragging (queue=False, no toast): a bad value's message replaces the numbers above
    the figure, and the figure stays."""
    try:
        return gaussians_1d(mu_p, sigma_p, mu_q, sigma_q, direction)
    except checks.InputError as e:
        return render.live_note(checks.error_note(e.message))


def gaussians_2d_live(*values) -> tuple:
    """`gaussians_2d` for dragging: a bad value's message replaces the numbers, the figure stays."""
    try:
        return gaussians_2d(*values)
    except checks.InputError as e:
        return gr.update(), checks.error_note(e.message)


def preset(name: str, mu_p, sigma_p, mu_q, sigma_q) -> tuple:
    """Presets only set the sliders (and say what they show); 'swap p and q' exchanges the current pair."""
    if name == "swap p and q":
        mu_p, sigma_p, mu_q, sigma_q = _params(mu_p, sigma_p, mu_q, sigma_q)
        return mu_q, sigma_q, mu_p, sigma_p, "p and q swapped: the two divergences trade places."
    if not isinstance(name, str) or name not in PRESETS:
        raise checks.InputError(f"Unknown preset {checks.shown(name)}; choose one of: "
                                f"{', '.join([*PRESETS, 'swap p and q'])}.")
    values, caption = PRESETS[name]
    return (*values, caption)


def monte_carlo(mu_p, sigma_p, mu_q, sigma_q, log10_n, seed) -> tuple[go.Figure, str]:
    """KL(p ‖ q) from N samples of p with two unbiased estimators, against the closed form."""
    mu_p, sigma_p, mu_q, sigma_q = _params(mu_p, sigma_p, mu_q, sigma_q)
    log10_n = checks.number("log10 N", log10_n, 1, MAX_LOG10_N)
    seed = checks.seed(seed)
    n = round(10**log10_n)
    exact = km.kl_1d(mu_p, sigma_p, mu_q, sigma_q)[0]
    mc = km.monte_carlo(mu_p, sigma_p, mu_q, sigma_q, n, seed)
    fig = go.Figure()
    ns = mc.ns.numpy()
    fig.add_trace(
        go.Scatter(x=ns, y=mc.k1_running.numpy(), mode="lines", name="k1 = log p/q", line=dict(color=P_COLOR))
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
    ratio = (mc.k1_stderr / mc.k3_stderr) ** 2 if mc.k3_stderr > 0 else float("nan")
    heavy = sigma_q > math.sqrt(2) * sigma_p
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
| k3 = mean of (r − 1) − log r, r = q(x)/p(x) | {mc.k3:.5g} | {mc.k3_stderr:.2g} |

{compare} Both are unbiased because E_p[r] = 1, and no sample of k3 is negative.
""" + (
        "\n⚠️ Here σ_q > √2·σ_p, so r = q/p has **infinite variance** under p: k3's standard error is not trustworthy "
        "and its running mean jumps now and then; trust k1."
        if heavy
        else ""
    )
    return fig, md


def _mixture_params(mu1, s1, mu2, s2, w1, start_mu):
    return (
        checks.number("μ₁", mu1, -MU_RANGE, MU_RANGE),
        checks.number("σ₁", s1, 0.1, 5.0),
        checks.number("μ₂", mu2, -MU_RANGE, MU_RANGE),
        checks.number("σ₂", s2, 0.1, 5.0),
        checks.number("weight w₁", w1, 0.01, 0.99),
        checks.number("start μ_q", start_mu, -MU_RANGE, MU_RANGE),
    )


def fit(mu1, s1, mu2, s2, w1, start_mu):
    """Fit q = N(μ, σ²) to the mixture by minimizing KL(p ‖ q) and KL(q ‖ p); streams every 10 steps."""
    mu1, s1, mu2, s2, w1, start_mu = _mixture_params(mu1, s1, mu2, s2, w1, start_mu)
    p = km.mixture(mu1, s1, mu2, s2, w1)
    x = km.quadrature_grid(p, 600)
    xs, px = x.numpy(), p.log_prob(x).exp().numpy()
    m_star, s_star = km.moment_match(mu1, s1, mu2, s2, w1)
    step = None
    for step in km.fit_gaussian(p, start=(start_mu, 1.0)):
        if not step.final and step.step > 100 and step.step % 500:  # thousands of steps: stream a few of them
            continue
        fig = go.Figure()
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=px,
                fill="tozeroy",
                mode="lines",
                name="p (mixture)",
                line=dict(color="#64748b"),
                fillcolor="rgba(100,116,139,0.2)",
            )
        )
        for (mu, sd), name, color in (
            (step.forward, "q: min KL(p‖q), mass-covering", F_COLOR),
            (step.reverse, "q: min KL(q‖p), mode-seeking", R_COLOR),
        ):
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=km.normal(mu, sd).log_prob(x).exp().numpy(),
                    mode="lines",
                    name=name,
                    line=dict(color=color, width=3),
                )
            )
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=km.normal(m_star, s_star).log_prob(x).exp().numpy(),
                mode="lines",
                name="moment matching (forward optimum)",
                line=dict(color="black", dash="dot"),
            )
        )
        fig.update_layout(
            title=f"gradient descent step {step.step}",
            height=400,
            margin=dict(l=50, r=10, t=50, b=40),
            legend=dict(orientation="h", y=-0.2),
            yaxis=dict(title="density", nticks=6),
        )
        md = f"""
| step {step.step} | μ | σ | its KL |
|---|---|---|---|
| forward fit, min KL(p ‖ q) | {step.forward[0]:.4f} | {step.forward[1]:.4f} | KL(p ‖ q) = {step.kl_forward:.4f} |
| reverse fit, min KL(q ‖ p) | {step.reverse[0]:.4f} | {step.reverse[1]:.4f} | KL(q ‖ p) = {step.kl_reverse:.4f} |
| closed-form forward optimum | {m_star:.4f} | {s_star:.4f} | mean and variance of p |
"""
        yield fig, md
    gap = max(abs(step.forward[0] - m_star), abs(step.forward[1] - s_star))
    if step.converged_forward:
        fwd = (f"The forward fit **converged** after {step.step:,} steps (gradient below 1e-5) and sits "
               f"**{gap:.1e}** from the moment-matching optimum (the largest difference in μ or σ): minimizing "
               "KL(p ‖ q) makes q cover all of p's mass.")
    else:
        fwd = (f"The forward fit **did not converge** within {step.step:,} steps: it is still {gap:.2g} from the "
               "moment-matching optimum (the largest difference in μ or σ).")
    rev = ("The reverse fit **converged** on one mode instead: KL(q ‖ p) punishes q for putting mass where p has "
           "little." if step.converged_reverse else
           f"The reverse fit **did not converge** within {step.step:,} steps; so far it leans towards one mode.")
    yield fig, md + "\n" + fwd + " " + rev


def _params_2d(prefix: str, mu1, mu2, s1, s2, rho) -> tuple:
    return (
        checks.number(f"μ{prefix}₁", mu1, -MU_RANGE, MU_RANGE),
        checks.number(f"μ{prefix}₂", mu2, -MU_RANGE, MU_RANGE),
        checks.number(f"σ{prefix}₁", s1, 0.05, SIGMA_MAX),
        checks.number(f"σ{prefix}₂", s2, 0.05, SIGMA_MAX),
        checks.number(f"ρ{prefix}", rho, -0.99, 0.99),
    )


@torch.inference_mode()
def gaussians_2d(*values) -> tuple[go.Figure, str]:
    """Two 2-D Gaussians: their 1σ and 2σ ellipses and both KL directions (closed form)."""
    if len(values) != 10:
        raise checks.InputError(f"Expected 10 values (μ₁, μ₂, σ₁, σ₂, ρ for p and for q), got {len(values)}.")
    pp, qp = _params_2d("_p", *values[:5]), _params_2d("_q", *values[5:])
    kl_pq, kl_qp = km.kl_2d(pp, qp)
    fig = go.Figure()
    for params, name, color in ((pp, "p", P_COLOR), (qp, "q", Q_COLOR)):
        d = km.mvn(*params)
        for k in (1, 2):
            e = km.ellipse(d, k).numpy()
            fig.add_trace(
                go.Scatter(
                    x=e[:, 0],
                    y=e[:, 1],
                    mode="lines",
                    name=f"{name} {k}σ",
                    line=dict(color=color, width=2.5 if k == 1 else 1.2, dash=None if k == 1 else "dot"),
                )
            )
        fig.add_trace(
            go.Scatter(x=[params[0]], y=[params[1]], mode="markers", marker=dict(color=color, size=8), showlegend=False)
        )
    fig.update_layout(
        title="covariance ellipses (1σ solid, 2σ dotted)",
        height=440,
        xaxis=dict(title="x₁"),
        yaxis=dict(title="x₂", scaleanchor="x"),
        margin=dict(l=50, r=10, t=50, b=40),
    )
    return fig, _numbers_html(kl_pq, kl_qp).replace("id='kl-", "id='kl2-")


PRESETS_2D = {
    "identical": ((0, 0, 1, 1, 0.5, 0, 0, 1, 1, 0.5), "p = q: zero both ways."),
    "opposite correlation": (
        (0, 0, 1.5, 1.5, 0.8, 0, 0, 1.5, 1.5, -0.8),
        "same means and widths, correlation +0.8 vs −0.8: symmetric here, and large, because "
        "each puts mass where the other's ellipse is thin.",
    ),
    "narrow inside wide": (
        (0, 0, 0.5, 0.5, 0, 0, 0, 2, 2, 0),
        "a narrow p inside a wide q: KL(p‖q) is small, KL(q‖p) large.",
    ),
    "two spikes far apart": ((-3, 0, 0.1, 0.1, 0, 3, 0, 0.1, 0.1, 0), "36/(2·0.01) = 1800 nats each way."),
}


def preset_2d(name: str) -> tuple:
    if not isinstance(name, str) or name not in PRESETS_2D:
        raise checks.InputError(f"Unknown preset {checks.shown(name)}; choose one of: {', '.join(PRESETS_2D)}.")
    values, caption = PRESETS_2D[name]
    return (*[float(v) for v in values], caption)


@torch.inference_mode()
def vae_kl_term(models: Models, name: str, index) -> tuple[go.Figure, str, dict]:
    """Per-dimension KL(q(z|x) ‖ N(0, I)) of the shipped VAE `name` for test digit `index`."""
    if models.digits is None:
        raise checks.InputError(models.digits_error or "MNIST test digits are not loaded.")
    name = checks.choice("Model", name, models.vaes)
    i = checks.number("Test digit index", index, 0, len(models.digits.x) - 1, integer=True)
    q = models.vaes[name].encode(models.digits.x[i][None])
    label = f"test digit #{i} (a {int(models.digits.labels[i])})"
    return _kl_term_view(models, name, label, q.base_dist.loc[0], q.base_dist.scale[0])


def lab_digit_kl_term(models: Models, state) -> tuple[go.Figure, str, dict]:
    """The same for the digit encoded in the VAE lab, by the VAE lab's model: the numbers of both labs agree."""
    if state is None:
        raise checks.InputError("No digit is encoded in the VAE lab yet: encode one in VAE › Encode first.")
    return _kl_term_view(models, state.model, state.label, state.mu, state.sigma)


def _kl_term_view(models: Models, name: str, label: str, mu: torch.Tensor, sigma: torch.Tensor):
    vae = models.vaes[name]
    kl = vae.kl_per_dim(torch.distributions.Independent(torch.distributions.Normal(mu, sigma), 1))
    fig = go.Figure(
        go.Bar(
            x=[f"z{d + 1}" for d in range(vae.latent_dim)],
            y=kl.numpy(),
            marker_color="#f59e0b",
            customdata=np.stack([mu.numpy(), sigma.numpy()], -1),
            hovertemplate="%{x}: KL %{y:.3f}<br>μ %{customdata[0]:.3f}, σ %{customdata[1]:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"KL(q(z|x) ‖ N(0, I)) per dimension for {label}, {name} VAE: total {float(kl.sum()):.2f} nats",
        height=320,
        margin=dict(l=40, r=10, t=50, b=40),
        yaxis=dict(title="nats"),
    )
    md = (
        f"**{label}, encoded by the {name} VAE.** Its KL term sums these {vae.latent_dim} bars: the posterior of "
        f"each dimension against the prior. Bars near 0 mark dimensions the encoder does not use for this digit."
    )
    return fig, md, {"mu": mu.tolist(), "sigma": sigma.tolist()}


def show_dimension(encoded: dict | None, dim) -> tuple:
    """Put one latent dimension into the 1-D panel: p = the prior N(0, 1), q = the encoder's N(μ_d, σ_d²)."""
    if not encoded:
        raise checks.InputError("Show a digit's KL term first.")
    D = len(encoded["mu"])
    d = checks.number("Dimension", dim, 1, D, integer=True) - 1
    mu, sigma = encoded["mu"][d], encoded["sigma"][d]
    sigma_shown = min(max(sigma, SIGMA_MIN), SIGMA_MAX)
    note = f"z{d + 1}: p = prior N(0, 1), q = posterior N({mu:.3f}, {sigma:.4f}²). The VAE's term is KL(q ‖ p)."
    if sigma_shown != sigma:
        note += f" σ = {sigma:.2g} is outside the sliders' range; shown at {sigma_shown:g}."
    return 0.0, 1.0, round(mu, 3), round(sigma_shown, 4), "KL(q‖p)", note


# --- layout and wiring ---------------------------------------------------------------------------


def build(models: Models, encoded_state: gr.State | None = None) -> None:
    """The KL tab's contents; call inside `with gr.Tab(...)`. `encoded_state` is the VAE lab's digit, if any."""
    gr.Markdown(INTRO, latex_delimiters=LATEX)
    with gr.Row():
        with gr.Column(scale=2, min_width=300):
            mu_p = checks.Slider(-MU_RANGE, MU_RANGE, value=0.0, step=0.01, label="μ_p", elem_id="kl-mu-p")
            sigma_p = checks.Slider(SIGMA_MIN, SIGMA_MAX, value=1.0, step=0.001, label="σ_p", elem_id="kl-sigma-p")
            mu_q = checks.Slider(-MU_RANGE, MU_RANGE, value=1.0, step=0.01, label="μ_q", elem_id="kl-mu-q")
            sigma_q = checks.Slider(SIGMA_MIN, SIGMA_MAX, value=SIGMA_Q0, step=0.001, label="σ_q",
                                    elem_id="kl-sigma-q")
            direction = checks.Radio(
                ["KL(p‖q)", "KL(q‖p)"], value="KL(p‖q)", label="shade the integrand of", elem_id="kl-direction"
            )
            with gr.Row():
                preset_buttons = [gr.Button(n, size="sm") for n in [*PRESETS, "swap p and q"]]
            caption = gr.Markdown(elem_id="kl-caption")
        with gr.Column(scale=5):
            plot = render.live_plot(gaussians_1d(0.0, 1.0, 1.0, SIGMA_Q0, "KL(p‖q)", template=True),
                                    elem_id="kl-plot")

    with gr.Tabs():
        with gr.Tab("Monte Carlo vs closed form"):
            gr.Markdown(
                "Estimate KL(p ‖ q) from samples of the p above: k1, the plain average of log p/q, and "
                "k3 = (r − 1) − log r with r = q/p. Both are unbiased; k3 has the lower variance when q is close "
                "to p, and it can be far worse when q is much wider than p (for σ_q > √2·σ_p, r has infinite "
                "variance under p). The closed form is the dashed line."
            )
            with gr.Row():
                mc_n = checks.Slider(1, MAX_LOG10_N, value=4, step=0.1, label="log₁₀ N (10 to 1,000,000 samples)")
                mc_seed = checks.Number(0, label="seed", minimum=0, step=1)
                mc_btn = gr.Button("Estimate", variant="primary", elem_id="kl-mc-btn")
            mc_plot = gr.Plot(show_label=False, elem_id="kl-mc-plot")
            mc_md = gr.Markdown(elem_id="kl-mc-table")
        with gr.Tab("Forward vs reverse KL"):
            gr.Markdown(
                "Fit one Gaussian q to a two-component mixture p by gradient descent on μ and log σ, once "
                "minimizing KL(p ‖ q) and once KL(q ‖ p), both computed by quadrature."
            )
            with gr.Row():
                f_mu1 = checks.Slider(-MU_RANGE, MU_RANGE, value=-2.0, step=0.1, label="μ₁")
                f_s1 = checks.Slider(0.1, 5, value=0.6, step=0.05, label="σ₁")
                f_mu2 = checks.Slider(-MU_RANGE, MU_RANGE, value=2.5, step=0.1, label="μ₂")
                f_s2 = checks.Slider(0.1, 5, value=0.8, step=0.05, label="σ₂")
                f_w = checks.Slider(0.01, 0.99, value=0.4, step=0.01, label="weight w₁ of component 1")
                f_start = checks.Slider(-MU_RANGE, MU_RANGE, value=0.5, step=0.1, label="start μ_q (σ_q starts at 1)")
            f_btn = gr.Button("Fit", variant="primary", elem_id="kl-fit-btn")
            f_plot = gr.Plot(show_label=False, elem_id="kl-fit-plot")
            f_md = gr.Markdown(elem_id="kl-fit-table")
        with gr.Tab("Two 2-D Gaussians"):
            sl2 = []
            with gr.Row():
                for who, vals in (("p", (-1.0, 0.0, 1.0, 0.6, 0.5)), ("q", (1.0, 0.5, 0.8, 1.2, -0.3))):
                    with gr.Column(min_width=260):
                        gr.Markdown(f"**{who}**")
                        sl2 += [
                            checks.Slider(-5, 5, value=vals[0], step=0.05, label=f"μ_{who},1"),
                            checks.Slider(-5, 5, value=vals[1], step=0.05, label=f"μ_{who},2"),
                            checks.Slider(0.05, 5, value=vals[2], step=0.05, label=f"σ_{who},1"),
                            checks.Slider(0.05, 5, value=vals[3], step=0.05, label=f"σ_{who},2"),
                            checks.Slider(-0.99, 0.99, value=vals[4], step=0.01, label=f"ρ_{who}"),
                        ]
                with gr.Column(scale=2):
                    fig2, nums2 = gaussians_2d(-1.0, 0.0, 1.0, 0.6, 0.5, 1.0, 0.5, 0.8, 1.2, -0.3)
                    numbers2 = gr.HTML(nums2, elem_id="kl-2d-numbers")
                    plot2 = gr.Plot(fig2, show_label=False, elem_id="kl-2d-plot")
            with gr.Row():
                presets2 = [gr.Button(n, size="sm") for n in PRESETS_2D]
            caption2 = gr.Markdown()
        with gr.Tab("The VAE's KL term"):
            if not models.vaes:
                gr.Markdown("No VAE checkpoint is loaded; see the VAE tab for the command that trains one.")
            else:
                gr.Markdown(
                    "For a test digit (or the digit encoded in the VAE lab), the ELBO's KL term "
                    "KL(q(z|x) ‖ N(0, I)) dimension by dimension. Pick a dimension to see its two Gaussians "
                    "in the panel above, with p = the prior and q = the encoder's posterior."
                )
                with gr.Row():
                    v_model = checks.Dropdown(list(models.vaes), value=list(models.vaes)[-1], label="model")
                    v_index = checks.Number(0, label="test digit index", minimum=0, step=1)
                    v_btn = gr.Button("Show this test digit", variant="primary")
                    v_lab_btn = gr.Button("Use the VAE lab's encoded digit (and its model)",
                                          interactive=encoded_state is not None, elem_id="kl-vae-lab-btn")
                v_plot = gr.Plot(show_label=False, elem_id="kl-vae-plot")
                v_md = gr.Markdown(elem_id="kl-vae-md")
                v_enc = gr.State(None)
                with gr.Row():
                    v_dim = checks.Number(1, label="dimension", minimum=1, step=1)
                    v_show = gr.Button("Show this dimension in the panel above")

    # --- events ---
    ins = [mu_p, sigma_p, mu_q, sigma_q, direction]
    outs = plot
    for c in [mu_p, sigma_p, mu_q, sigma_q]:
        c.input(
            gaussians_1d_live,
            ins,
            outs,
            queue=False,
            trigger_mode="always_last",
            show_progress="hidden",
            api_visibility="private",
        )
    direction.change(gaussians_1d_live, ins, outs, queue=False, show_progress="hidden", api_visibility="private")
    for b in preset_buttons:
        b.click(
            preset,
            [gr.State(b.value), mu_p, sigma_p, mu_q, sigma_q],
            [mu_p, sigma_p, mu_q, sigma_q, caption],
            api_name="preset" if b is preset_buttons[0] else None,
            api_visibility="public" if b is preset_buttons[0] else "private",
        ).then(gaussians_1d, ins, outs, show_progress="hidden", api_visibility="private")
    mc_views = ["kl-mc-plot", "kl-mc-table"]
    render.mark_stale([mu_p, sigma_p, mu_q, sigma_q, mc_n, mc_seed], mc_views)
    render.clear_stale(mc_btn.click(
        monte_carlo, [mu_p, sigma_p, mu_q, sigma_q, mc_n, mc_seed], [mc_plot, mc_md], api_name="kl_monte_carlo"
    ), mc_views)
    fit_in = [f_mu1, f_s1, f_mu2, f_s2, f_w, f_start]
    render.mark_stale(fit_in, ["kl-fit-plot", "kl-fit-table"])
    render.clear_stale(f_btn.click(fit, fit_in, [f_plot, f_md], api_name="kl_fit"), ["kl-fit-plot", "kl-fit-table"])
    for s in sl2:
        s.input(
            gaussians_2d_live,
            sl2,
            [plot2, numbers2],
            queue=False,
            trigger_mode="always_last",
            show_progress="hidden",
            api_visibility="private",
        )
    for b in presets2:
        b.click(preset_2d, gr.State(b.value), [*sl2, caption2], api_visibility="private").then(
            gaussians_2d, sl2, [plot2, numbers2], show_progress="hidden", api_visibility="private"
        )
    gr.api(kl_1d, api_name="kl_1d")
    gr.api(kl_2d, api_name="kl_2d")
    if models.vaes:
        v_btn.click(partial(vae_kl_term, models), [v_model, v_index], [v_plot, v_md, v_enc], api_name="kl_vae_term")
        if encoded_state is not None:
            v_lab_btn.click(partial(lab_digit_kl_term, models), [encoded_state], [v_plot, v_md, v_enc],
                            api_visibility="private")
        v_show.click(
            show_dimension, [v_enc, v_dim], [mu_p, sigma_p, mu_q, sigma_q, direction, caption], api_visibility="private"
        ).then(gaussians_1d, ins, outs, show_progress="hidden", api_visibility="private")
