"""The diffusion lab: a DDPM as a Markovian hierarchical VAE. The fixed forward process, the learned reverse
process frame by frame, two samplers from the same noise, and the ELBO term by term. One module per sub-lab;
what they share is `common.DiffusionControls`. All the maths is in train/diffusion.py.
"""

from __future__ import annotations

import gradio as gr

from explorer import render
from explorer.labs.diffusion import compare, elbo, forward, reverse, spectrum
from explorer.labs.diffusion.common import LATEX, DiffusionControls, test_digit
from explorer.links import Links, Step
from explorer.models import Models

INTRO = r"""
**A diffusion model is a hierarchical VAE with a fixed encoder.** The data $x$ is $z_0$; the encoder adds a
little Gaussian noise at each of $T$ steps, $q(z_t\mid z_{t-1})=\mathcal N(\sqrt{\alpha_t}\,z_{t-1},(1-\alpha_t)I)$,
nothing learned. Steps compose in closed form: $q(z_t\mid x)=\mathcal N(\sqrt{\bar\alpha_t}\,x,(1-\bar\alpha_t)I)$ with
$\bar\alpha_t=\prod_{s\le t}\alpha_s$, so $z_t=\sqrt{\bar\alpha_t}\,x+\sqrt{1-\bar\alpha_t}\,\varepsilon$.
The decoder is learned: starting from $z_T\sim\mathcal N(0,I)$ it runs the chain backwards, and at each step a network
$\varepsilon_\theta(z_t,t)$ predicts the noise in $z_t$, which fixes the mean of $p_\theta(z_{t-1}\mid z_t)$ and a guess
$\hat x_0=(z_t-\sqrt{1-\bar\alpha_t}\,\hat\varepsilon)/\sqrt{\bar\alpha_t}$ of the clean image.
"""


START = ("Four steps: the fixed encoder that adds noise, the learned decoder that removes it, two samplers from the "
         "same noise, and the ELBO term by term. Each button sets the controls for you.")
STEPS = [
    Step("Noise a digit", {"lab": "diffusion", "view": "forward", "t": "400"},
         "Drag t: z_t = √ᾱ_t·x + √(1−ᾱ_t)·ε in one step, with no network involved."),
    Step("Run the reverse process", {"lab": "diffusion", "view": "reverse"},
         "DDIM from z_T ~ N(0, I) in 50 steps. Step through the frames: z_t, the predicted noise ε̂, and the "
         "guess x̂_0 it implies."),
    Step("Same noise, two samplers", {"lab": "diffusion", "view": "compare"},
         "The same z_T through DDIM with 50 and with 10 steps.",
         predict="Do they end at the same digits?",
         answer="Nearly: DDIM with η = 0 is deterministic, one path from each z_T, and fewer steps mostly change "
                "the details (the discretization error). DDPM draws fresh noise at every step and ends elsewhere."),
    Step("The ELBO per step", {"lab": "diffusion", "view": "elbo"},
         "Every term of a test digit's ELBO against t: the prior term, one denoising KL per step, and the "
         "reconstruction term."),
]


VIEWS = {"forward": "Forward process", "reverse": "Reverse process", "compare": "Same seed, two samplers",
         "elbo": "ELBO per timestep", "spectrum": "Spectrum"}


def build(models: Models, links: Links) -> None:
    """The diffusion tab's contents; call inside `with gr.Tab(...)`. `links`: where the lab registers its linked
    controls and first views (explorer/links.py)."""
    links.head("diffusion", START, STEPS, show_path=models.ddpm is not None)
    if models.ddpm is None:
        gr.Markdown(f"⚠️ **Diffusion model unavailable.** {models.errors.get('diffusion', '')}",
                    elem_classes="ge-error")
        return
    x0 = test_digit(models, 0) if models.digits is not None else None
    ctl = DiffusionControls(models, models.ddpm, gr.State(x0))
    with gr.Tabs(elem_id="diff-views") as views:
        with gr.Tab(VIEWS["forward"], id="forward") as forward_tab:
            render.heading(VIEWS["forward"])
            forward.build(ctl, links)
        with gr.Tab(VIEWS["reverse"], id="reverse"):
            render.heading(VIEWS["reverse"])
            reverse.build(ctl, links)
        with gr.Tab(VIEWS["compare"], id="compare"):
            render.heading(VIEWS["compare"])
            compare.build(ctl, links)
        with gr.Tab(VIEWS["elbo"], id="elbo"):
            render.heading(VIEWS["elbo"])
            elbo.build(ctl, links)
        with gr.Tab(VIEWS["spectrum"], id="spectrum"):
            render.heading(VIEWS["spectrum"])
            spectrum.build(ctl, links)
    render.brush_on_open(forward_tab, "diff-sketch")
    links.sub_tabs("diffusion", views, VIEWS)
    render.about(INTRO, LATEX)  # the lab's theory, under its instrument
