"""The 1-D panel: two Gaussians you control, their densities, the shaded integrand and both KLs, presets.

While a slider moves the page computes the panel itself (explorer/static/kl_maths.js mirrors kl_maths and
`numbers_html`), one redraw per animation frame; once the hand pauses it asks the server (`settle`), whose value
replaces the page's. The presets set the sliders in the page too. `kl_1d` and `preset` serve API clients.
"""


import math

import gradio as gr
import plotly.graph_objects as go
import torch

from explorer import checks, page, render
from explorer import kl_maths as km
from explorer.gradio_compat import Radio, Slider
from explorer.labs.kl.common import (
    DRAG_TEMPLATE,
    F_COLOR,
    LOG_SCALE,
    MU_RANGE,
    P_COLOR,
    Q_COLOR,
    SIGMA_MAX,
    SIGMA_MIN,
    SIGMA_Q0,
    KlControls,
    coloured,
    numbers_html,
    params,
    settled,
)
from explorer.links import Links

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


@torch.inference_mode()
def gaussians_1d(mu_p, sigma_p, mu_q, sigma_q, direction: str, template: bool = False) -> str:
    """Both KL values (HTML) and a figure of the two densities with the shaded integrand of the chosen
    direction, as one `render.live_value` for the live plot."""
    mu_p, sigma_p, mu_q, sigma_q = params(mu_p, sigma_p, mu_q, sigma_q)
    direction = checks.choice("Direction", direction, ("KL(p‖q)", "KL(q‖p)"))
    kl_pq, kl_qp = km.kl_1d(mu_p, sigma_p, mu_q, sigma_q)
    p, q = km.normal(mu_p, sigma_p), km.normal(mu_q, sigma_q)
    x = km.grid_for(mu_p, sigma_p, mu_q, sigma_q)
    a, b, val = (p, q, kl_pq) if direction == "KL(p‖q)" else (q, p, kl_qp)
    # float32 halves what travels to the browser; a plotted curve needs no more precision
    xs = x.float().numpy()
    f64 = km.integrand(a, b, x)
    f = f64.float().numpy()
    dp, dq = p.log_prob(x).exp(), q.log_prob(x).exp()
    finite = f64[torch.isfinite(f64)]
    y_range, y2_range = km.shared_zero(float(torch.maximum(dp, dq).max()), float(finite.min()) if finite.numel() else
                                       math.nan, float(finite.max()) if finite.numel() else math.nan)
    # one figure with an overlaid second y-axis for the integrand (make_subplots costs ~15 ms a call); no plotly
    # legend (LEGEND, in the page, names the colours): each saved millisecond keeps dragging live
    fig = go.Figure(
        [go.Scatter(x=xs, y=f, fill="tozeroy", mode="lines", line=dict(color=F_COLOR, width=1),
                    fillcolor="rgba(22,163,74,0.25)", name=f"integrand of {direction}", yaxis="y2"),
         go.Scatter(x=xs, y=dp.float().numpy(), mode="lines", line=dict(color=P_COLOR, width=2.5), name="p"),
         go.Scatter(x=xs, y=dq.float().numpy(), mode="lines", line=dict(color=Q_COLOR, width=2.5), name="q")],
        layout=dict(
            title=f"shaded area = {direction} = {km.fmt_nats(val)} nats",
            template=DRAG_TEMPLATE,
            height=340,
            showlegend=False,
            margin=dict(l=50, r=70, t=50, b=40),
            yaxis=dict(title=f"density of {coloured('p', P_COLOR)} and {coloured('q', Q_COLOR)}", nticks=6,
                       range=y_range),
            # the integrand on its own axis, whose zero is the densities' zero (kl_maths.shared_zero): the baseline
            # of the shaded area
            yaxis2=dict(title=coloured("integrand (nats per unit of x)", F_COLOR), overlaying="y", side="right",
                        showgrid=False, zeroline=True, zerolinecolor=F_COLOR, zerolinewidth=1, nticks=6,
                        tickmode="auto",
                        range=y2_range),
            xaxis=dict(nticks=8, range=km.plot_range(mu_p, sigma_p, mu_q, sigma_q)),
        ),
    )
    render.exportable(fig, render.file_name("kl-1d", mu_p=mu_p, sigma_p=sigma_p, mu_q=mu_q, sigma_q=sigma_q,
                                            shaded="pq" if direction == "KL(p‖q)" else "qp"),
                      f"p = N({mu_p:g}, {sigma_p:g}²), q = N({mu_q:g}, {sigma_q:g}²): KL(p‖q) = {km.fmt_nats(kl_pq)} "
                      f"nats, KL(q‖p) = {km.fmt_nats(kl_qp)} nats; shaded: the integrand of {direction}")
    return render.live_value(fig, numbers_html(kl_pq, kl_qp), template,
                             params=[mu_p, sigma_p, mu_q, sigma_q, direction])


def kl_1d(mu_p: float, sigma_p: float, mu_q: float, sigma_q: float, direction: str = "KL(p‖q)") -> str:
    """The API of the 1-D panel: its live value (JSON: the numbers as HTML and the plotly figure)."""
    return gaussians_1d(mu_p, sigma_p, mu_q, sigma_q, direction)


def gaussians_1d_live(mu_p, sigma_p, mu_q, sigma_q, direction: str) -> str:
    """`gaussians_1d` for dragging (queue=False, no toast): a bad value's message replaces the numbers above
    the figure, and the figure stays."""
    try:
        return gaussians_1d(mu_p, sigma_p, mu_q, sigma_q, direction)
    except checks.InputError as e:
        return render.live_note(checks.error_note(e.message))


def preset(name: str, mu_p: float, sigma_p: float, mu_q: float, sigma_q: float
           ) -> tuple[float, float, float, float, str]:
    """The API of the presets (the page applies them itself: `page_presets`): the sliders' new values and what
    the preset shows; 'swap p and q' exchanges the current pair."""
    if name == "swap p and q":
        mu_p, sigma_p, mu_q, sigma_q = params(mu_p, sigma_p, mu_q, sigma_q)
        return mu_q, sigma_q, mu_p, sigma_p, SWAP_CAPTION
    if not isinstance(name, str) or name not in PRESETS:
        raise checks.InputError(f"Unknown preset {checks.shown(name)}; choose one of: "
                                f"{', '.join([*PRESETS, 'swap p and q'])}.")
    values, caption = PRESETS[name]
    return (*values, caption)


SWAP_CAPTION = "p and q swapped: the two divergences trade places."


def page_presets() -> dict:
    """The presets as explorer/static/kl_preset.js applies them."""
    out = {name: {"values": list(v), "caption": c} for name, (v, c) in PRESETS.items()}
    return {**out, "swap p and q": {"swap": [2, 3, 0, 1], "caption": SWAP_CAPTION}}


def settle(evt: gr.EventData) -> str:
    """The server's value for the page's settled values."""
    return settled(gaussians_1d_live, 5, "μ_p, σ_p, μ_q, σ_q and the direction", evt)


# the figure's legend, in the page rather than plotly's (which would be laid out again on every dragged frame)
def _swatch(color: str, fill: bool = False) -> str:
    shape = (f"<rect x='0' y='0' width='22' height='10' fill='{color}' opacity='0.35'/>" if fill else
             f"<line x1='0' y1='5' x2='22' y2='5' stroke='{color}' stroke-width='3'/>")
    return f"<svg width='22' height='10' aria-hidden='true'>{shape}</svg>"


LEGEND = (f"{_swatch(P_COLOR)} p &nbsp; {_swatch(Q_COLOR)} q &nbsp; {_swatch(F_COLOR, fill=True)} "
          "the shaded direction's integrand, p·log(p/q) or q·log(q/p), on the right axis (same zero): "
          "its area is the KL")


def build(links: Links) -> KlControls:
    with gr.Row(elem_classes="ge-kl-panel"):  # on a phone the figure comes first and stays in view (app.css)
        with gr.Column(scale=2, min_width=300):
            mu_p = Slider(-MU_RANGE, MU_RANGE, value=0.0, step=0.01, label="μ_p", elem_id="kl-mu-p")
            sigma_p = Slider(SIGMA_MIN, SIGMA_MAX, value=1.0, step=0.001, label="σ_p", elem_id="kl-sigma-p",
                             elem_classes=LOG_SCALE)
            mu_q = Slider(-MU_RANGE, MU_RANGE, value=1.0, step=0.01, label="μ_q", elem_id="kl-mu-q")
            sigma_q = Slider(SIGMA_MIN, SIGMA_MAX, value=SIGMA_Q0, step=0.001, label="σ_q",
                             elem_id="kl-sigma-q", elem_classes=LOG_SCALE)
            direction = Radio(["KL(p‖q)", "KL(q‖p)"], value="KL(p‖q)", label="shade the integrand of",
                              elem_id="kl-direction")
            with gr.Row():
                buttons = [gr.Button(n, size="sm") for n in [*PRESETS, "swap p and q"]]
            caption = gr.Markdown(elem_id="kl-caption")
        with gr.Column(scale=5, elem_classes="ge-kl-figure"):
            gr.HTML(LEGEND, elem_classes="ge-legend", padding=False)
            sliders = (mu_p, sigma_p, mu_q, sigma_q)
            config = dict(kind="1d", sliders=[s.elem_id for s in sliders],
                          ranges=[(s.minimum, s.maximum) for s in sliders], direction=direction.elem_id)
            plot = render.page_plot(gaussians_1d(0.0, 1.0, 1.0, SIGMA_Q0, "KL(p‖q)", template=True), "kl-plot",
                                    config)
    ctl = KlControls(mu_p, sigma_p, mu_q, sigma_q, direction, plot, caption)
    page.publish_values([direction])  # a link's choice too (static/kl_panel.js)

    # dragging, typing and the direction are the page's (static/kl_panel.js hears their input events): no request
    plot.settle(settle, None, plot, trigger_mode="multiple", show_progress="hidden", api_visibility="private")
    for b in buttons:
        b.click(None, ctl.params, [*ctl.params, caption],
                js=page.js_call("events/kl_preset.js", page_presets(), b.value, "kl-plot", inputs=True))
    gr.api(preset, api_name="preset")
    gr.api(kl_1d, api_name="kl_1d")
    for name, s in zip(("mu_p", "sigma_p", "mu_q", "sigma_q"), ctl.params, strict=True):
        links.param("kl", name, s)
    links.param("kl", "dir", direction)
    links.opening(gaussians_1d_live, [*ctl.params, direction], [plot])
    return ctl
