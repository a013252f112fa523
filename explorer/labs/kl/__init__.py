"""The KL lab: two Gaussians you control (KL ≥ 0, = 0 only when p = q, asymmetric, enormous for narrow distant
spikes), Monte Carlo against the closed form, forward versus reverse fits, two 2-D Gaussians, and the shipped
VAE's KL term. One module per sub-lab; the 1-D panel they share is `common.KlControls`. All maths lives in
explorer/kl_maths.py (closed forms and quadrature in float64).
"""

from __future__ import annotations

import gradio as gr

from explorer.labs.kl import fit, monte_carlo, panel, two_d, vae_term
from explorer.labs.kl.common import LATEX
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


def build(models: Models, encoded: gr.State | None = None) -> None:
    """The KL tab's contents; call inside `with gr.Tab(...)`. `encoded` is the VAE lab's digit, if any."""
    gr.Markdown(INTRO, latex_delimiters=LATEX)
    ctl = panel.build()
    with gr.Tabs():
        with gr.Tab("Monte Carlo vs closed form"):
            monte_carlo.build(ctl)
        with gr.Tab("Forward vs reverse KL"):
            fit.build()
        with gr.Tab("Two 2-D Gaussians"):
            two_d.build()
        with gr.Tab("The VAE's KL term"):
            vae_term.build(ctl, models, encoded)
