"""What the KL lab's sub-labs share: ranges, colours, the 1-D panel's controls, and its parameter checks."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import gradio as gr
import plotly.graph_objects as go
import plotly.io as pio

from explorer import checks, render
from explorer import kl_maths as km
from explorer.gradio_compat import event_payload

MU_RANGE = 10.0
SIGMA_MIN, SIGMA_MAX = 0.001, 10.0
MAX_LOG10_N = 6  # Monte Carlo: up to 10^6 samples
# q starts narrower than p and shifted: the two KLs differ (0.84 vs 0.54), and k3 is the steadier estimator there
# (for a wider q it is not: see monte_carlo.py)
SIGMA_Q0 = 0.8
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]
LOG_SCALE = "ge-log-slider"  # a slider whose track is logarithmic (static/page.js): σ from 0.001 to 10 all reachable
P_COLOR, Q_COLOR, F_COLOR, R_COLOR = "#2563eb", "#ea580c", "#16a34a", "#9333ea"


def coloured(text: str, color: str) -> str:
    """`text` in `color`, for a plotly title: the KL panels name their curves' colours there, not in a legend."""
    return f"<span style='color:{color}'>{text}</span>"


def drag_template() -> go.layout.Template:
    """Plotly's default look for the panels the page redraws at every frame of a drag (kl_panel.js), less what
    slows each redraw. The axes' automatic margins, their titles' `standoff`, automatic tick-label angles and
    tick-label clipping each make every redraw measure every tick label with getBoundingClientRect, a forced
    layout of the whole page (the panels set their margins instead). The defaults of everything but 2-D scatter
    plots (polar, ternary, 3-D scenes, maps, colour axes, other trace types) would be filled in every redraw."""
    full = pio.templates["plotly"]
    keep = ("autotypenumbers", "colorway", "font", "hovermode", "hoverlabel", "paper_bgcolor", "plot_bgcolor",
            "xaxis", "yaxis", "title")
    t = go.layout.Template(layout={k: full.layout[k] for k in keep}, data={"scatter": full.data.scatter})
    for ax in (t.layout.xaxis, t.layout.yaxis):
        ax.automargin = False
        ax.title = None
        ax.ticklabeloverflow = "allow"
        ax.tickangle = 0  # "auto" measures every label to choose an angle
    return t


DRAG_TEMPLATE = drag_template()


@dataclass
class KlControls:
    """The 1-D panel, the first view's figure, which the Monte Carlo view under it reads and the VAE's-term view
    sets."""

    mu_p: gr.Slider
    sigma_p: gr.Slider
    mu_q: gr.Slider
    sigma_q: gr.Slider
    direction: gr.Radio
    plot: gr.HTML  # the live plot: densities, the shaded integrand, both KLs
    caption: gr.Markdown

    @property
    def params(self) -> list:
        return [self.mu_p, self.sigma_p, self.mu_q, self.sigma_q]


def params(mu_p, sigma_p, mu_q, sigma_q) -> tuple[float, float, float, float]:
    return (
        checks.number("μ_p", mu_p, -MU_RANGE, MU_RANGE),
        checks.number("σ_p", sigma_p, SIGMA_MIN, SIGMA_MAX),
        checks.number("μ_q", mu_q, -MU_RANGE, MU_RANGE),
        checks.number("σ_q", sigma_q, SIGMA_MIN, SIGMA_MAX),
    )


def numbers_html(kl_pq: float, kl_qp: float) -> str:
    def cell(v: float) -> str:
        bits = v / math.log(2) if math.isfinite(v) else v
        return f"<b>{km.fmt_nats(v)}</b> nats<br><span class='ge-note'>{km.fmt_nats(bits)} bits</span>"

    return (
        f"<div class='ge-row' id='kl-numbers'>"
        f"<div class='ge-kl'><div>KL(p ‖ q)</div><div id='kl-pq'>{cell(kl_pq)}</div></div>"
        f"<div class='ge-kl'><div>KL(q ‖ p)</div><div id='kl-qp'>{cell(kl_qp)}</div></div>"
        f"<div class='ge-note'>difference {km.fmt_nats(abs(kl_pq - kl_qp))} nats</div></div>"
    )



def settled(live, count: int, names: str, evt: gr.EventData) -> str:
    """A panel's server value for the page's values once the hand pauses (the 'settle' event of
    static/kl_panel.js, payload {values}): `live(*values)`, or a message in place of the numbers."""
    data = event_payload(evt)  # the payload, as Gradio documents
    values, seq = data.get("values"), data.get("seq")
    if not isinstance(values, list) or len(values) != count:
        value = render.live_note(checks.error_note(f"Expected {count} values ({names})."))
    else:
        value = live(*values)
    if not isinstance(seq, int) or isinstance(seq, bool):
        return value
    return json.dumps({**json.loads(value), "seq": seq})  # the number of the question it answers (static/lib/settle.js)
