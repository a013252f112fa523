"""The VAE lab: latent sliders that decode while you drag, ancestral sampling, the latent map, encoding a
digit, why log p(x) is hard and where the ELBO sits, the ELBO's two gaps, β and posterior collapse,
a VAE trained in the session, interpolation.

One module per sub-lab, each with its prose, its handlers (module-level functions that take the loaded
models first) and a `build(ctl)` that lays out, then wires. What they share is `common.VaeControls`.
"""

from __future__ import annotations

from functools import partial

import gradio as gr

from explorer import render
from explorer.labs.vae import (
    beta,
    controls,
    encode,
    gaps,
    interpolate,
    is_failures,
    latent_map,
    likelihood,
    sampling,
    train_live,
)
from explorer.labs.vae.common import LATEX, Cache, VaeControls
from explorer.links import Links, Step
from explorer.models import VAE_CHECKPOINTS, Models

INTRO = r"""
**The model.** A latent $z \in \mathbb{R}^D$ is drawn from the prior $p(z)=\mathcal N(0, I)$; the decoder network
$f_\theta$ turns it into one probability per pixel, and each of the $M=784$ pixels is an independent coin flip:
$p(x\mid z)=\prod_{m=1}^{M}\mathrm{Bernoulli}\big(x_m;\,f_\theta(z)_m\big)$. The encoder
$q_\phi(z\mid x)=\mathcal N\big(\mu_\phi(x), \mathrm{diag}\,\sigma^2_\phi(x)\big)$ guesses which $z$ explain a given
digit. Both networks were trained together by maximizing the ELBO on binarized MNIST.
"""


START = ("Six steps through the ideas, in order: from a latent z to a digit, sampling in three stages, the encoder "
         "that inverts the decoder, and why log p(x) needs a bound. Each button sets the controls for you.")
STEPS = [
    Step("Drag z", {"lab": "vae", "view": "sampling", "z1": "-1.5", "z2": "1"},
         "Drag z₁ and z₂: the decoder turns z into 784 pixel probabilities f_θ(z) (the mean image), and the "
         "sample beside it flips one coin per pixel."),
    Step("Sample stage by stage", {"lab": "vae", "view": "sampling", "sample_seed": "7"},
         "Ancestral sampling: z ~ N(0, I), then f_θ(z), then all 784 pixels drawn at once, because given z they "
         "are independent."),
    Step("Walk the latent map", {"lab": "vae", "view": "map"},
         "Each dot is a test digit's encoder mean. Point at the map or the manifold to decode the z under the "
         "pointer; click to set the sliders."),
    Step("Encode a digit", {"lab": "vae", "view": "encode", "digit": "7"},
         "The encoder's guess q(z|x) = N(μ, σ²) for a test digit, and z = μ + σ·ε decoded back."),
    Step("Why log p(x) is hard", {"lab": "vae", "view": "likelihood", "model": "32-D latent"},
         "log p(x) estimated three ways against K for the 32-D model, and the float32 underflow.",
         predict="Drawing z from the prior, how close is the naive estimate to log p(x) at K = 10,000?",
         answer="Tens of nats short, each run at its own height: almost every prior draw explains the digit "
                "badly, so the average hangs on rare lucky z. Importance sampling from q(z|x) comes within a few "
                "nats by K ≈ 20 and creeps up as K grows, how close depending on the digit: in this view (5 runs, "
                "against their best estimate at K = 10,000), test digit #0 is within 0.8 nats at K ≈ 20, while "
                "digit #7 is 1.9 nats short there on average (3.6 for the worst run) and 0.6 at K ≈ 1,000. "
                "(With the 2-D model the naive estimate does get close: the posterior fills a "
                "far larger share of a 2-D prior.)"),
    Step("The ELBO gap", {"lab": "vae", "view": "likelihood", "digit": "35"},
         "log p(x) = ELBO + KL(q(z|x) ‖ p(z|x)). For test digit #35 the true posterior (the heatmap) is far from "
         "the encoder's Gaussian, and the gap is large; try digit 19, where it is close to 0.",
         predict="Can the ELBO ever be above log p(x)?",
         answer="No: the gap is a KL divergence, never negative, and 0 only when q(z|x) is the true posterior "
                "p(z|x). A Monte Carlo ELBO can land a little above by chance; the exact one cannot."),
]


VIEWS = {"sampling": "Ancestral sampling", "map": "Latent map", "encode": "Encode", "likelihood": "Likelihood",
         "exact": "Exact log p(x)", "gaps": "Two gaps", "beta": "β-VAE",
         "train": "Train one", "interpolation": "Interpolation"}


def build(models: Models, links: Links) -> gr.State | None:
    """The VAE tab's contents; call inside `with gr.Tab(...)`. Returns the encoded-digit state (for the KL lab).
    `links`: where the lab registers its linked controls and first views (explorer/links.py)."""
    links.head("vae", START, STEPS, show_path=bool(models.vaes))
    for name, err in models.errors.items():
        if name in VAE_CHECKPOINTS:
            gr.Markdown(f"⚠️ **{name} model unavailable.** {err}", elem_classes="ge-error")
    if not models.vaes:
        return None
    if models.digits_error:
        gr.Markdown(f"ℹ️ {models.digits_error}")
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            ctl = controls.build(models, Cache(models), links)
        with gr.Column(scale=5), gr.Tabs(elem_id="vae-views", overflow_behavior="wrap") as views:
            with gr.Tab(VIEWS["sampling"], id="sampling"):
                render.heading(VIEWS["sampling"])
                sampling.build(ctl, links)
            with gr.Tab(VIEWS["map"], id="map"):
                render.heading(VIEWS["map"])
                map_view = latent_map.build(ctl)
            with gr.Tab(VIEWS["encode"], id="encode") as encode_tab:
                render.heading(VIEWS["encode"])
                enc = encode.build(ctl, links)
            with gr.Tab(VIEWS["likelihood"], id="likelihood"):
                render.heading(VIEWS["likelihood"])
                likelihood.build(ctl, enc, links)
            if is_failures.MODEL in models.vaes:
                with gr.Tab(VIEWS["exact"], id="exact"):
                    render.heading(VIEWS["exact"])
                    is_failures.build(ctl, links)
            with gr.Tab(VIEWS["gaps"], id="gaps"):
                render.heading(VIEWS["gaps"])
                gaps.build(ctl, enc, links)
            with gr.Tab(VIEWS["beta"], id="beta"):
                render.heading(VIEWS["beta"])
                beta.build(ctl, links)
            with gr.Tab(VIEWS["train"], id="train"):
                render.heading(VIEWS["train"])
                train_live.build(ctl)
            with gr.Tab(VIEWS["interpolation"], id="interpolation"):
                render.heading(VIEWS["interpolation"])
                interpolate.build(ctl, links)
    _wire(ctl, map_view, enc, links)
    render.brush_on_open(encode_tab, "vae-sketch")
    shown = {k: v for k, v in VIEWS.items() if k != "exact" or is_failures.MODEL in models.vaes}
    links.sub_tabs("vae", views, shown)
    render.about(INTRO, LATEX)  # the lab's theory, under its instrument
    return ctl.encoded


def _wire(ctl: VaeControls, map_view: latent_map.MapView, enc: encode.EncodeView, links: Links) -> None:
    """The events across sub-labs: a model switch re-encodes the digit and redraws the manifold; the latent map is
    redrawn (ellipses, star) after the model or the encoded digit changed, not as z moves (the page moves the
    star); and what a page shows first."""
    models, cache = ctl.models, ctl.cache
    redraw = partial(latent_map.at_sliders, models, cache)
    here = [ctl.model, ctl.encoded, map_view.axis, *ctl.sliders]
    grid = partial(latent_map.manifold_image, models, cache)
    switched = (controls.wire(ctl)
                .then(partial(encode.reencode, models), [ctl.model, ctl.encoded, enc.eps_seed], enc.outputs,
                      api_visibility="private")
                .then(partial(latent_map.plane_reset, models), [ctl.model], map_view.axis, api_visibility="private",
                      show_progress="hidden")
                .then(grid, [ctl.model, map_view.axis], map_view.grid, api_visibility="private"))
    for event in (switched, *enc.encoded):
        event.then(redraw, here, map_view.lmap, show_progress="hidden", api_visibility="private")
    # the user's choice of plane (.input: the model switch's reset above redraws by itself)
    map_view.axis.input(redraw, here, map_view.lmap, show_progress="hidden", api_visibility="private").then(
        grid, [ctl.model, map_view.axis], map_view.grid, show_progress="hidden", api_visibility="private")
    links.param("vae", "plane", map_view.axis)
    controls.opening(ctl, links, then=[
        (partial(encode.encode_index, models), [ctl.model, enc.index, enc.eps_seed], enc.outputs),
        (partial(latent_map.plane_shown, models), [ctl.model], [map_view.axis]),
        (redraw, here, [map_view.lmap]),
        (grid, [ctl.model, map_view.axis], [map_view.grid])])
