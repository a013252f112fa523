"""The 2-D diffusion lab: the same diffusion maths as the image lab (train/diffusion.py) on points in the plane, where
everything can be seen at once: the learned noise field beside the exact one, and particles flowing along it under
DDPM and DDIM. A top-level tab of its own, not a sub-tab of the diffusion lab: it has its own models (one small MLP per
data set, and one you train on your own drawing) and its own controls, and a third level of tabs would hide it.
One module per view; what they share is `common.PlaneControls`. The computing is in explorer/plane.py.
"""

from __future__ import annotations

import gradio as gr

from explorer import render
from explorer.config import AppConfig
from explorer.gradio_compat import Radio
from explorer.labs.plane import arena, draw, field, guidance, particles
from explorer.labs.plane.common import LATEX, NAMES, YOURS, PlaneControls
from explorer.links import Links, Step
from explorer.models import Models

INTRO = r"""
**Diffusion where you can see it.** The image lab's diffusion model works in 784 dimensions; here the data are points
in the plane, and the same maths (the forward process $z_t=\sqrt{\bar\alpha_t}\,x+\sqrt{1-\bar\alpha_t}\,\varepsilon$,
the noise-predicting network $\varepsilon_\theta(z_t,t)$, the DDPM and DDIM samplers) runs on a small network
trained on each data set. In two dimensions the network's whole output can be drawn: at every point and every $t$,
the noise it would remove. Pick a data set; each view uses its model.
"""

START = ("Three steps: the field the network learned, particles flowing along it under two samplers, and a model "
         "you train on your own points. Each button sets the controls for you.")
STEPS = [
    Step("The learned field", {"lab": "plane", "view": "field", "t": "100"},
         "Arrows of −ε_θ over the diffused density q(z_t). Drag t from 1000 down to 10.",
         predict="Where will the network's arrows be wrong at small t?",
         answer="Between the modes, where q(z_t) is nearly 0: training only ever asks about points drawn from q(z_t). "
                "Switch 'show' to the error map to see it."),
    Step("Particles: DDPM against DDIM", {"lab": "plane", "view": "particles", "steps": "50", "eta": "0"},
         "The same z_T under both samplers. Press play, then click a particle to follow it in both panels.",
         predict="Do the two panels end with the same distribution? With the same particles in the same places?",
         answer="Nearly the same distribution, not the same places. With exact scores and vanishing steps both "
                "would sample the data's distribution; here both histograms sit close to the exact marginals, each "
                "with its own small error (the card's energy distances differ by sampler). And DDPM's fresh noise "
                "sends each particle its own way, while DDIM with η = 0 maps each z_T to one end."),
    Step("Few steps", {"lab": "plane", "view": "particles", "data": "ring8", "steps": "5", "eta": "0"},
         "DDIM with 5 steps: each step is a long straight move along an arrow computed at its start.",
         predict="Where do the particles land?",
         answer="Short of the modes: on the ring of radius 2 they stop at a radius of about 1.75 on average, since "
                "the field turns along each long step and a straight move cannot follow it (the discretization "
                "error). With 100 steps they land on the modes, at about 2."),
]

VIEWS = {"field": "The field", "particles": "Particles", "draw": "Your own data", "guidance": "Guidance",
         "arena": "Step budget"}


def build(models: Models, links: Links, config: AppConfig) -> None:
    """The 2-D tab's contents; call inside `with gr.Tab(...)`."""
    if not models.planes:
        missing = "; ".join(v for k, v in models.errors.items() if k.startswith("ddpm2d "))
        gr.Markdown(f"⚠️ **2-D diffusion models unavailable.** {missing}", elem_classes="ge-error")
        return
    for name, err in models.errors.items():  # the sets whose model did not load: the others work
        if name.startswith("ddpm2d "):
            gr.Markdown(f"⚠️ **The {name.removeprefix('ddpm2d ')} model is unavailable.** {err}",
                        elem_classes="ge-error")
    links.head("plane", START, STEPS)
    first = next(iter(models.planes))
    choices = [(NAMES[n], n) for n in models.planes] + [(NAMES[YOURS], YOURS)]
    ctl = PlaneControls(models, Radio(choices, value=first, label="data set", elem_id="plane-data"),
                        gr.State(None), choices)
    with gr.Tabs(elem_id="plane-views") as views:
        with gr.Tab(VIEWS["field"], id="field"):
            render.heading(VIEWS["field"])
            field.build(ctl, links)
        with gr.Tab(VIEWS["particles"], id="particles"):
            render.heading(VIEWS["particles"])
            particles.build(ctl, links)
        with gr.Tab(VIEWS["draw"], id="draw"):
            render.heading(VIEWS["draw"])
            draw.build(ctl, config)
        with gr.Tab(VIEWS["guidance"], id="guidance"):
            render.heading(VIEWS["guidance"])
            guidance.build(links)
        with gr.Tab(VIEWS["arena"], id="arena"):
            render.heading(VIEWS["arena"])
            arena.build(models, links)
    links.param("plane", "data", ctl.data)
    links.sub_tabs("plane", views, VIEWS)
    render.about(INTRO, LATEX)  # the lab's theory, under its instrument
