"""The KL lab: two Gaussians you control (KL ≥ 0, = 0 only when p = q, asymmetric, enormous for narrow distant
spikes), Monte Carlo against the closed form, forward versus reverse fits, two 2-D Gaussians, and the shipped
VAE's KL term. One module per sub-lab; the 1-D panel they share is `common.KlControls`. All maths lives in
explorer/kl_maths.py (closed forms and quadrature in float64).
"""

from __future__ import annotations

import gradio as gr

from explorer.labs.kl import fit, monte_carlo, panel, two_d, vae_term
from explorer.labs.kl.common import LATEX
from explorer.links import Links
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


VIEWS = {"monte-carlo": "Monte Carlo vs closed form", "fit": "Forward vs reverse KL", "two-d": "Two 2-D Gaussians",
         "vae-term": "The VAE's KL term"}


def build(models: Models, encoded: gr.State | None = None, links: Links | None = None) -> None:
    """The KL tab's contents; call inside `with gr.Tab(...)`. `encoded` is the VAE lab's digit, if any; `links`:
    where the lab registers its linked controls and first views (explorer/links.py)."""
    gr.Markdown(INTRO, latex_delimiters=LATEX)
    if links is not None:
        links.button()
    ctl = panel.build(links)
    with gr.Tabs(elem_id="kl-views") as views:
        with gr.Tab(VIEWS["monte-carlo"], id="monte-carlo"):
            monte_carlo.build(ctl, links)
        with gr.Tab(VIEWS["fit"], id="fit"):
            fit.build(links)
        with gr.Tab(VIEWS["two-d"], id="two-d"):
            two_d.build(links)
        with gr.Tab(VIEWS["vae-term"], id="vae-term"):
            vae_term.build(ctl, models, encoded, links)
    if links is not None:
        links.sub_tabs("kl", views, VIEWS)
