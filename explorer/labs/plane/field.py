"""The field: at the t a slider chooses, arrows of −ε_θ(z, t), the direction a denoising step moves a point, over
the diffused density q(z_t); or the exact field −ε* (Tweedie), or a map of the network's error ‖ε_θ − ε*‖.

The server computes the whole table once per model (explorer/plane.py: every T/100 steps); the page draws the t the
slider is on (explorer/static/plane_field.js), in the same display frame as the slider moves."""

from __future__ import annotations

import html
import json
from functools import partial

import gradio as gr

from explorer import page
from explorer.gradio_compat import Radio, Slider
from explorer.labs.plane.common import LATEX, YOURS, PlaneControls, Trained, builtin_field
from explorer.links import Links
from explorer.plane import field_ts

SHOW = ["learned field −ε_θ", "exact field −ε*", "error ‖ε_θ − ε*‖"]

TEXT = r"""
**What the arrows are.** Each arrow is $-\varepsilon_\theta(z,t)$, the negative of the noise the network finds in a
point $z$ at step $t$. A reverse step moves $z$ along it: DDPM's mean step is
$z\mapsto\big(z-\frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\,\hat\varepsilon\big)/\sqrt{\alpha_t}$ (Ho et al. 2020, eq. 11).
The noise a perfect network would predict is the noise that carried each data point to $z$, averaged over the points
that could have, $\varepsilon^*(z,t)=\mathbb E[\varepsilon\mid z_t=z]=-\sqrt{1-\bar\alpha_t}\,\nabla_z\log q(z_t)$
(Tweedie's formula): the arrows are the **score** of the diffused data, scaled, and point up the density $q(z_t)$
drawn beneath them. For a Gaussian mixture, $q(z_t)$ is again a Gaussian mixture (means $\sqrt{\bar\alpha_t}\mu_k$,
covariances $\bar\alpha_t\Sigma_k+(1-\bar\alpha_t)I$), so $\varepsilon^*$ is known exactly and the network's error can
be drawn.

**Where the network is wrong.** Training draws $z_t$ from $q(z_t)$, so the loss only ever asks about points where
the diffused data lies. At large $t$ that is the whole plane; at small $t$ it is a thin neighbourhood of the data,
and between the modes, where no training point ever falls, the network's arrows are guesses. Drag $t$ down with the
error map shown: the error stays low on the data and grows off it, where the samplers seldom go either.

An arrow's length is in proportion to $|\hat\varepsilon|$, on one scale for every $t$ and both fields, capped at
$1.5$: the noise added has $\mathbb E|\varepsilon|^2=2$ in two dimensions, and far from the data the predicted noise
is much larger, since only a large $\varepsilon$ could have carried a point there. The heat map is $q(z_t)$, each $t$
scaled to its own maximum (its square root, so that thin tails show).
"""


def settled_field(ctl: PlaneControls, data, trained: Trained | None = None) -> str:
    """The field view's value for data set `data` (built-in ones computed once per process)."""
    model, _, name = ctl.model(data, trained)
    if name == YOURS:
        return trained.field  # computed when training ended
    return builtin_field(model, name)


def build(ctl: PlaneControls, links: Links) -> None:
    T = next(iter(ctl.models.planes.values())).diffusion.T
    ts = field_ts(T)
    t0 = 100 if 100 in ts else ts[len(ts) // 10]
    initial = html.escape(json.dumps([t0, SHOW[0]]), quote=True)  # the page's until they change
    with gr.Row(equal_height=False):  # the field, and its controls beside it: both on the first screen
        with gr.Column(scale=3):
            ctl.field = gr.HTML("", elem_id="plane-field", js_on_load=page.mount("plane_field.js"),
                                html_template=page.static("plane_field.html").replace(
                                    "class='ge-plane-field'", f"class='ge-plane-field' data-initial='{initial}'"))
        with gr.Column(scale=2, min_width=280):
            t = Slider(ts[0], ts[-1], value=t0, step=ts[0], label="t", elem_id="plane-t",
                       info=f"the noise level, every {ts[0]} steps; drawn as you drag",
                       interactive=True)  # no event reads it (the page draws): Gradio would draw it disabled
            show = Radio(SHOW, value=SHOW[0], label="show", elem_id="plane-show", interactive=True)
    page.publish_values([t, show])  # the page draws the t and the layer they are on (static/plane_field.js)
    ctl.data.input(partial(settled_field, ctl), [ctl.data, ctl.trained], ctl.field, api_name="plane_field",
                   show_progress="minimal")
    links.param("plane", "t", t)
    links.param("plane", "show", show)
    links.opening(lambda name: settled_field(ctl, name, None) if name != YOURS else "", [ctl.data], [ctl.field])
    # the other data sets' tables too (up to 2.5 s each), so that picking one answers at once
    links.warmups += [partial(settled_field, ctl, name) for name in ctl.models.planes]
    # the view's theory, under its figure and controls (the first screen is the instrument)
    gr.Markdown(TEXT, latex_delimiters=LATEX)
