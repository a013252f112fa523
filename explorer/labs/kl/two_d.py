"""Two 2-D Gaussians: their covariance ellipses and both KL directions, in closed form.

As in the 1-D panel, the page computes ellipses and KLs while a slider moves (static/kl_maths.js, `panel2d`), one
redraw per animation frame, and the server's value replaces the page's once the hand pauses (`settle`).
"""

import json

import gradio as gr
import plotly.graph_objects as go
import torch

from explorer import checks, page, render
from explorer import kl_maths as km
from explorer.gradio_compat import Slider
from explorer.labs.kl.common import (
    DRAG_TEMPLATE,
    LOG_SCALE,
    MU_RANGE,
    P_COLOR,
    Q_COLOR,
    SIGMA_MAX,
    coloured,
    numbers_html,
    settled,
)
from explorer.links import Links


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
    """Two 2-D Gaussians: their 1σ and 2σ ellipses and both KL directions (closed form). The traces, in this
    order, are what static/kl_maths.js `panel2d` computes: p 1σ, p 2σ, p's mean, then the same for q."""
    if len(values) != 10:
        raise checks.InputError(f"Expected 10 values (μ₁, μ₂, σ₁, σ₂, ρ for p and for q), got {len(values)}.")
    pp, qp = _params_2d("_p", *values[:5]), _params_2d("_q", *values[5:])
    kl_pq, kl_qp = km.kl_2d(pp, qp)
    x_range, y_range = km.ranges_2d(pp, qp)
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
        title=f"{coloured('p', P_COLOR)} and {coloured('q', Q_COLOR)}: covariance ellipses (1σ solid, 2σ dotted) "
              "and means",
        template=DRAG_TEMPLATE,
        showlegend=False,
        height=390,
        # steady ranges (kl_maths.ranges_2d): while a slider moves the axes stay put and the page moves the ellipses
        xaxis=dict(title="x₁", range=x_range),
        yaxis=dict(title="x₂", scaleanchor="x", range=y_range),
        margin=dict(l=50, r=10, t=50, b=40),
    )
    names = ("mu_p1", "mu_p2", "sigma_p1", "sigma_p2", "rho_p", "mu_q1", "mu_q2", "sigma_q1", "sigma_q2", "rho_q")
    render.exportable(fig, render.file_name("kl-2d", **dict(zip(names, (float(v) for v in values), strict=True))),
                      f"p: μ = ({pp[0]:g}, {pp[1]:g}), σ = ({pp[2]:g}, {pp[3]:g}), ρ = {pp[4]:g}; q: μ = ({qp[0]:g}, "
                      f"{qp[1]:g}), σ = ({qp[2]:g}, {qp[3]:g}), ρ = {qp[4]:g}. KL(p‖q) = {km.fmt_nats(kl_pq)} nats, "
                      f"KL(q‖p) = {km.fmt_nats(kl_qp)} nats")
    return fig, numbers_html(kl_pq, kl_qp).replace("id='kl-", "id='kl2-")


def kl_2d(mu_p1: float, mu_p2: float, sigma_p1: float, sigma_p2: float, rho_p: float, mu_q1: float, mu_q2: float,
          sigma_q1: float, sigma_q2: float, rho_q: float) -> tuple[dict, str]:
    """The API of the 2-D panel: the figure as plotly JSON and both KLs as HTML."""
    fig, html = gaussians_2d(mu_p1, mu_p2, sigma_p1, sigma_p2, rho_p, mu_q1, mu_q2, sigma_q1, sigma_q2, rho_q)
    return json.loads(fig.to_json()), html


def live_2d(*values, template: bool = False) -> str:
    """The 2-D panel's value (a `render.live_value`): the numbers above the figure, and the values it is for."""
    fig, html = gaussians_2d(*values)
    return render.live_value(fig, html, template, params=[float(v) for v in values])


def gaussians_2d_live(*values) -> str:
    """`live_2d` for the page's settled values: a bad value's message replaces the numbers, the figure stays."""
    try:
        return live_2d(*values)
    except checks.InputError as e:
        return render.live_note(checks.error_note(e.message))


def settle(evt: gr.EventData) -> str:
    """The server's value for the page's settled values."""
    return settled(gaussians_2d_live, 10, "μ₁, μ₂, σ₁, σ₂, ρ for p and for q", evt)


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


def page_presets() -> dict:
    """The presets as explorer/static/kl_preset.js applies them."""
    return {name: {"values": [float(v) for v in values], "caption": c} for name, (values, c) in PRESETS_2D.items()}


def build(links: Links) -> None:
    sliders = []
    with gr.Row():
        for who, vals in (("p", (-1.0, 0.0, 1.0, 0.6, 0.5)), ("q", (1.0, 0.5, 0.8, 1.2, -0.3))):
            with gr.Column(min_width=260):
                gr.Markdown(f"**{who}**")
                sliders += [
                    Slider(-5, 5, value=vals[0], step=0.05, label=f"μ_{who},1", elem_id=f"kl2-mu-{who}1"),
                    Slider(-5, 5, value=vals[1], step=0.05, label=f"μ_{who},2", elem_id=f"kl2-mu-{who}2"),
                    Slider(0.05, 5, value=vals[2], step=0.05, label=f"σ_{who},1", elem_id=f"kl2-sigma-{who}1",
                           elem_classes=LOG_SCALE),
                    Slider(0.05, 5, value=vals[3], step=0.05, label=f"σ_{who},2", elem_id=f"kl2-sigma-{who}2",
                           elem_classes=LOG_SCALE),
                    Slider(-0.99, 0.99, value=vals[4], step=0.01, label=f"ρ_{who}", elem_id=f"kl2-rho-{who}"),
                ]
        with gr.Column(scale=2):
            config = dict(kind="2d", sliders=[s.elem_id for s in sliders],
                          ranges=[(s.minimum, s.maximum) for s in sliders])
            plot = render.page_plot(live_2d(*[s.value for s in sliders], template=True), "kl2-plot", config)
    with gr.Row():
        presets = [gr.Button(n, size="sm") for n in PRESETS_2D]
    caption = gr.Markdown()
    # dragging and typing are the page's (static/kl_panel.js hears the sliders' input events): no request
    plot.settle(settle, None, plot, trigger_mode="multiple", show_progress="hidden", api_visibility="private")
    for b in presets:
        b.click(None, sliders, [*sliders, caption],
                js=page.js_call("events/kl_preset.js", page_presets(), b.value, "kl2-plot", inputs=True))
    gr.api(kl_2d, api_name="kl_2d")
    for s in sliders:  # kl2-mu-p1 → p_mu1, kl2-sigma-q2 → q_sigma2, kl2-rho-p → p_rho
        kind, who = s.elem_id.split("-")[1:]
        links.param("kl", f"{who[0]}_{kind}{who[1:]}", s)
    links.opening(gaussians_2d_live, sliders, [plot])
