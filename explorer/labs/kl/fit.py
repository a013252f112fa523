"""Forward versus reverse KL: one Gaussian fitted to a two-component mixture both ways, by gradient descent."""


import gradio as gr
import plotly.graph_objects as go
import torch

from explorer import checks, render
from explorer import kl_fit as kf
from explorer import kl_maths as km
from explorer.gradio_compat import Plot, Slider
from explorer.labs.kl.common import (
    F_COLOR,
    MU_RANGE,
    R_COLOR,
)
from explorer.links import Links


def mixture_params(mu1, s1, mu2, s2, w1, start_mu):
    return (
        checks.number("μ₁", mu1, -MU_RANGE, MU_RANGE),
        checks.number("σ₁", s1, 0.1, 5.0),
        checks.number("μ₂", mu2, -MU_RANGE, MU_RANGE),
        checks.number("σ₂", s2, 0.1, 5.0),
        checks.number("weight w₁", w1, 0.01, 0.99),
        checks.number("start μ_q", start_mu, -MU_RANGE, MU_RANGE),
    )


def _figure(p, x: torch.Tensor, step: kf.FitStep, optimum: tuple[float, float],
            better: kf.ReverseOptimum | None = None) -> go.Figure:
    """The mixture p, both fits at this step, and the forward optimum, on the quadrature grid x; `better`: a reverse
    optimum with a lower KL than this fit's, found from another start."""
    xs = x.numpy()
    fig = go.Figure(go.Scatter(x=xs, y=p.log_prob(x).exp().numpy(), fill="tozeroy", mode="lines", name="p (mixture)",
                               line=dict(color="#64748b"), fillcolor="rgba(100,116,139,0.2)"))
    for (mu, sd), name, style in ((step.forward, "q: min KL(p‖q), mass-covering", dict(color=F_COLOR, width=3)),
                                  (step.reverse, "q: min KL(q‖p), mode-seeking", dict(color=R_COLOR, width=3)),
                                  (optimum, "moment matching (forward optimum)", dict(color="black", dash="dot"))):
        fig.add_trace(go.Scatter(x=xs, y=km.normal(mu, sd).log_prob(x).exp().numpy(), mode="lines", name=name,
                                 line=style))
    if better is not None:
        fig.add_trace(go.Scatter(x=xs, y=km.normal(*better.fit).log_prob(x).exp().numpy(), mode="lines",
                                 name=f"min KL(q‖p) from another start (KL {better.kl:.3g})",
                                 line=dict(color=R_COLOR, dash="dash", width=2)))
    fig.update_layout(title=f"gradient descent step {step.step}", height=400, margin=dict(l=50, r=10, t=50, b=40),
                      legend=dict(orientation="h", y=-0.2), yaxis=dict(title="density", nticks=6))
    return fig


def _table(step: kf.FitStep, optimum: tuple[float, float]) -> str:
    return f"""
| step {step.step} | μ | σ | its KL |
|---|---|---|---|
| forward fit, min KL(p ‖ q) | {step.forward[0]:.4f} | {step.forward[1]:.4f} | KL(p ‖ q) = {step.kl_forward:.4f} |
| reverse fit, min KL(q ‖ p) | {step.reverse[0]:.4f} | {step.reverse[1]:.4f} | KL(q ‖ p) = {step.kl_reverse:.4f} |
| closed-form forward optimum | {optimum[0]:.4f} | {optimum[1]:.4f} | mean and variance of p |
"""


def _verdict(step: kf.FitStep, optimum: tuple[float, float], restarts: list[kf.ReverseOptimum] = ()) -> str:
    """What the fit reached: converged or not, how far the forward fit is from its optimum, and whether the reverse
    fit's optimum is the best that the descents from p's components find."""
    gap = max(abs(step.forward[0] - optimum[0]), abs(step.forward[1] - optimum[1]))
    if step.converged_forward:
        fwd = (f"The forward fit **converged** after {step.step:,} steps (gradient below 1e-5) and sits "
               f"**{gap:.1e}** from the moment-matching optimum (the largest difference in μ or σ): minimizing "
               "KL(p ‖ q) makes q cover all of p's mass.")
    else:
        fwd = (f"The forward fit **did not converge** within {step.step:,} steps: it is still {gap:.2g} from the "
               "moment-matching optimum (the largest difference in μ or σ).")
    if not step.converged_reverse:
        return fwd + f" The reverse fit **did not converge** within {step.step:,} steps."
    # over the whole of p: as wide as p and centred where p's mean is; anything else sits on a part of p
    whole = step.reverse[1] >= 0.8 * optimum[1] and abs(step.reverse[0] - optimum[0]) < 0.5 * optimum[1]
    rev = ("The reverse fit **converged** on one mode instead: KL(q ‖ p) punishes q for putting mass where p has "
           "little, so q settles on a region p covers." if not whole else
           "The reverse fit **converged** over the whole of p, close to the forward fit: this p is nearly one bump, "
           "so there is no mode to choose between.")
    return fwd + " " + rev + " " + _restarts_text(step, restarts)


def _restarts_text(step: kf.FitStep, restarts: list[kf.ReverseOptimum]) -> str:
    """What the descents from p's components found beside this fit: KL(q ‖ p) can have several local optima, and
    which one gradient descent reaches depends on where it starts."""
    if not restarts:
        return ""
    best = restarts[0]
    starts = " and ".join(f"N({r.start[0]:g}, {r.start[1]:g}²)" for r in restarts)
    if best.kl < step.kl_reverse - 1e-3:
        return (f"**This is a local optimum only**: started from {starts} (each component of p), the reverse fit "
                f"reaches μ = {best.fit[0]:.3f}, σ = {best.fit[1]:.3f} with KL(q ‖ p) = {best.kl:.4g}, lower than "
                f"this one's {step.kl_reverse:.4g} (dashed). Reverse KL depends on where the descent starts.")
    others = [r for r in restarts if abs(r.fit[0] - step.reverse[0]) > 1e-2 and r.kl > step.kl_reverse + 1e-3]
    return (f"Started from {starts} (each component of p), the reverse fit finds no lower KL(q ‖ p) than this one"
            + (f"; from N({others[0].start[0]:g}, {others[0].start[1]:g}²) it stops at another, worse local optimum "
               f"(μ = {others[0].fit[0]:.3f}, KL {others[0].kl:.4g}): reverse KL depends on where the descent starts."
               if others else "."))


def fit(mu1, s1, mu2, s2, w1, start_mu):
    """Fit q = N(μ, σ²) to the mixture by minimizing KL(p ‖ q) and KL(q ‖ p); streams a few steps, then the last
    with what the fit reached."""
    mu1, s1, mu2, s2, w1, start_mu = mixture_params(mu1, s1, mu2, s2, w1, start_mu)
    p = kf.mixture(mu1, s1, mu2, s2, w1)
    x = kf.quadrature_grid(p, 600)
    optimum = kf.moment_match(mu1, s1, mu2, s2, w1)
    name = render.file_name("kl-fit", mu1=mu1, sigma1=s1, mu2=mu2, sigma2=s2, w1=w1, start_mu=start_mu)
    mix = f"p = {w1:g}·N({mu1:g}, {s1:g}²) + {1 - w1:g}·N({mu2:g}, {s2:g}²), both fits from N({start_mu:g}, 1)"

    def figure(step, better=None):
        return render.exportable(_figure(p, x, step, optimum, better), f"{name}_step={step.step}",
                                 f"{mix}; gradient descent step {step.step}")

    for step in kf.fit_gaussian(p, start=(start_mu, 1.0)):
        if step.final:
            restarts = kf.reverse_restarts(p) if step.converged_reverse else []
            better = restarts[0] if restarts and restarts[0].kl < step.kl_reverse - 1e-3 else None
            yield figure(step, better), _table(step, optimum) + "\n" + _verdict(step, optimum, restarts)
        elif step.step <= 100 or step.step % 500 == 0:  # thousands of steps: stream a few of them
            yield figure(step), _table(step, optimum)


def before_fitting(mu1, s1, mu2, s2, w1, start_mu) -> tuple[go.Figure, str]:
    """The mixture p and where both fits start (one q, σ = 1), before any step: what the view shows first."""
    with torch.enable_grad():  # gradient descent, in whatever thread asks (the app turns grad off in its main one)
        figure, table = next(fit(mu1, s1, mu2, s2, w1, start_mu))
    return figure, (table + "\nBoth fits start from the same q. Before pressing **Fit**: which q will spread over "
                    "both bumps, and which will settle on one?")


def build(links: Links) -> None:
    with gr.Row(equal_height=False):  # the controls beside the figure: both on the first screen
        with gr.Column(scale=1, min_width=260):
            btn = gr.Button("Fit", variant="primary", elem_id="kl-fit-btn")
            with gr.Row():
                mu1 = Slider(-MU_RANGE, MU_RANGE, value=-2.0, step=0.1, label="μ₁", elem_id="kl-fit-mu1", min_width=120)
                sigma1 = Slider(0.1, 5, value=0.6, step=0.05, label="σ₁", elem_id="kl-fit-sigma1", min_width=120)
            with gr.Row():
                mu2 = Slider(-MU_RANGE, MU_RANGE, value=2.5, step=0.1, label="μ₂", elem_id="kl-fit-mu2", min_width=120)
                sigma2 = Slider(0.1, 5, value=0.8, step=0.05, label="σ₂", elem_id="kl-fit-sigma2", min_width=120)
            w1 = Slider(0.01, 0.99, value=0.4, step=0.01, label="weight w₁ of component 1", elem_id="kl-fit-w1")
            start = Slider(-MU_RANGE, MU_RANGE, value=0.5, step=0.1, label="start μ_q (σ_q starts at 1)",
                           elem_id="kl-fit-start")
        with gr.Column(scale=3):
            plot = Plot(show_label=False, elem_id="kl-fit-plot")
    inputs = [mu1, sigma1, mu2, sigma2, w1, start]
    table = gr.Markdown(elem_id="kl-fit-table")
    views = ["kl-fit-plot", "kl-fit-table"]
    render.mark_stale(inputs, views)
    render.clear_stale(btn.click(fit, inputs, [plot, table], api_name="kl_fit"), views)
    for name, s in zip(("mix_mu1", "mix_sigma1", "mix_mu2", "mix_sigma2", "mix_w1", "start_mu"), inputs,
                       strict=True):
        links.param("kl", name, s)
    links.opening(before_fitting, inputs, [plot, table])
    # the view's theory, under its figure and controls (the first screen is the instrument)
    gr.Markdown("Fit one Gaussian q to a two-component mixture p by gradient descent on μ and log σ, once minimizing "
                "KL(p ‖ q) and once KL(q ‖ p), both computed by quadrature.")
