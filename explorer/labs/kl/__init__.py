"""The KL lab: two Gaussians you control (KL ≥ 0, = 0 only when p = q, asymmetric, enormous for narrow distant
spikes), Monte Carlo against the closed form, forward versus reverse fits, two 2-D Gaussians, and the shipped
VAE's KL term. One module per sub-lab; the 1-D panel they share is `common.KlControls`. All maths lives in
explorer/kl_maths.py (closed forms and quadrature in float64).
"""

from __future__ import annotations

import gradio as gr

from explorer import render
from explorer.labs.kl import fit, monte_carlo, panel, two_d, vae_term
from explorer.labs.kl.common import LATEX
from explorer.links import Links, Step
from explorer.models import Models

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


START = ("Six steps: what the KL's sign, zero and asymmetry mean, the spikes that make it enormous, estimating it by "
         "sampling, and what each direction does when it is minimized. Each button sets the controls for you.")
STEPS = [
    Step("KL ≥ 0", {"lab": "kl"},
         "Where q > p the shaded integrand p·log(p/q) dips below 0, yet its area, the KL, never does.",
         predict="Can you place q so that KL(p‖q) is negative?",
         answer="No: −KL(p‖q) = E_p[log q/p] ≤ log E_p[q/p] = log 1 = 0 by Jensen's inequality, since log is "
                "concave."),
    Step("p = q", {"lab": "kl", "mu_q": "0", "sigma_q": "1"},
         "With q = p the integrand is 0 everywhere and both KLs are 0; change either mean or width and both turn "
         "positive."),
    Step("Not symmetric", {"lab": "kl", "sigma_p": "2", "mu_q": "0", "sigma_q": "0.5"},
         "p wide (σ = 2), q narrow (σ = 0.5), the same mean.",
         predict="Which is larger, KL(p‖q) or KL(q‖p)?",
         answer="KL(p‖q) = 6.11 nats against KL(q‖p) = 0.92. KL(p‖q) averages log p/q over p, which puts mass in "
                "the tails where the narrow q is tiny; KL(q‖p) averages over q, which stays where p is."),
    Step("Two far spikes", {"lab": "kl", "mu_p": "-4", "sigma_p": "0.1", "mu_q": "4", "sigma_q": "0.1"},
         "Two narrow Gaussians, σ = 0.1, means 8 apart.",
         predict="Is their KL infinite?",
         answer="No: Gaussians share all of ℝ, so it is finite, but enormous: Δ²/(2σ²) = 64/0.02 = 3200 nats each "
                "way. The probability mass they share, 2Φ(−Δ/2σ) ≈ e^−804, is a different, tiny number."),
    Step("Estimate it by sampling", {"lab": "kl", "view": "monte-carlo"},
         "Average log p/q over N samples of p: the estimate converges to the closed form as N grows."),
    Step("Fit both ways", {"lab": "kl", "view": "fit"},
         "Fit one Gaussian q to a two-mode p by minimizing KL(p‖q) or KL(q‖p), and compare where each lands."),
]


VIEWS = {"monte-carlo": "Monte Carlo vs closed form", "fit": "Forward vs reverse KL", "two-d": "Two 2-D Gaussians",
         "vae-term": "The VAE's KL term"}


def build(models: Models, encoded: gr.State | None, links: Links) -> None:
    """The KL tab's contents; call inside `with gr.Tab(...)`. `encoded` is the VAE lab's digit, if any; `links`:
    where the lab registers its linked controls and first views (explorer/links.py)."""
    links.head("kl", START, STEPS)
    with gr.Tabs(elem_id="kl-views") as views:
        # the two Gaussians' panel is the first view's figure, the Monte Carlo estimate of the same KL under it; each
        # other view is then on the first screen too (the panel above the sub-tabs pushed them below it)
        with gr.Tab(VIEWS["monte-carlo"], id="monte-carlo"):
            render.heading(VIEWS["monte-carlo"])
            ctl = panel.build(links)
            monte_carlo.build(ctl, links)
        with gr.Tab(VIEWS["fit"], id="fit"):
            render.heading(VIEWS["fit"])
            fit.build(links)
        with gr.Tab(VIEWS["two-d"], id="two-d"):
            render.heading(VIEWS["two-d"])
            two_d.build(links)
        with gr.Tab(VIEWS["vae-term"], id="vae-term"):
            render.heading(VIEWS["vae-term"])
            vae_term.build(ctl, models, encoded, links, views)
    links.sub_tabs("kl", views, VIEWS)
    render.about(INTRO, LATEX)  # the lab's theory, under its instrument
