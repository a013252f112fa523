"""The VAE's KL term: KL(q(z|x) ‖ p(z)) of a shipped VAE, dimension by dimension, for a test digit or the VAE
lab's digit; any dimension can be put into the first view's 1-D panel."""

from functools import partial

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import torch

from explorer import checks, render
from explorer.gradio_compat import Dropdown, Number, Plot
from explorer.labs.kl.common import (
    SIGMA_MAX,
    SIGMA_MIN,
    KlControls,
)
from explorer.labs.kl.panel import gaussians_1d
from explorer.links import Links
from explorer.models import Models


@torch.inference_mode()
def vae_kl_term(models: Models, name: str, index) -> tuple[go.Figure, str, dict]:
    """Per-dimension KL(q(z|x) ‖ N(0, I)) of the shipped VAE `name` for test digit `index`."""
    if models.digits is None:
        raise checks.InputError(models.digits_error or "MNIST test digits are not loaded.")
    name = checks.choice("Model", name, models.vaes)
    i = checks.number("Test digit index", index, 0, len(models.digits.x) - 1, integer=True)
    q = models.vaes[name].encode(models.digits.x[i][None])
    return _kl_term_view(models, name, f"test digit #{i} (a {int(models.digits.labels[i])})", q)


def lab_digit_kl_term(models: Models, state) -> tuple[go.Figure, str, dict]:
    """The same for the digit encoded in the VAE lab, by the VAE lab's model: the numbers of both labs agree."""
    if state is None:
        raise checks.InputError("No digit is encoded in the VAE lab yet: encode one in VAE › Encode first.")
    return _kl_term_view(models, state.model, state.label, state.posterior())


def _kl_term_view(models: Models, name: str, label: str, q):
    """The bars for q(z|x) (batch shape (1,), event shape (D,)), as model `name` scores it."""
    vae = models.vaes[name]
    kl = vae.kl_per_dim(q)[0]  # (D,)
    mu, sigma = q.base_dist.loc[0], q.base_dist.scale[0]
    fig = go.Figure(
        go.Bar(
            x=[f"z{d + 1}" for d in range(vae.latent_dim)],
            y=kl.numpy(),
            marker_color="#f59e0b",
            customdata=np.stack([mu.numpy(), sigma.numpy()], -1),
            hovertemplate="%{x}: KL %{y:.3f}<br>μ %{customdata[0]:.3f}, σ %{customdata[1]:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"KL(q(z|x) ‖ N(0, I)) per dimension for {label}, {name} VAE: total {float(kl.sum()):.2f} nats",
        height=320,
        margin=dict(l=40, r=10, t=50, b=40),
        yaxis=dict(title="nats"),
    )
    render.exportable(fig, render.file_name("kl-vae-term", model=name, digit=label),
                      f"KL(q(z|x) ‖ N(0, I)) per dimension for {label}, {name} VAE: total {float(kl.sum()):.2f} nats")
    md = (
        f"**{label}, encoded by the {name} VAE.** Its KL term sums these {vae.latent_dim} bars: the posterior of "
        f"each dimension against the prior. Bars near 0 mark dimensions the encoder does not use for this digit."
    )
    return fig, md, {"mu": mu.tolist(), "sigma": sigma.tolist()}


def show_dimension(encoded: dict | None, dim) -> tuple:
    """Put one latent dimension into the 1-D panel: p = the prior N(0, 1), q = the encoder's N(μ_d, σ_d²)."""
    if not encoded:
        raise checks.InputError("Show a digit's KL term first.")
    D = len(encoded["mu"])
    d = checks.number("Dimension", dim, 1, D, integer=True) - 1
    mu, sigma = encoded["mu"][d], encoded["sigma"][d]
    sigma_shown = min(max(sigma, SIGMA_MIN), SIGMA_MAX)
    note = f"z{d + 1}: p = prior N(0, 1), q = posterior N({mu:.3f}, {sigma:.4f}²). The VAE's term is KL(q ‖ p)."
    if sigma_shown != sigma:
        note += f" σ = {sigma:.2g} is outside the sliders' range; shown at {sigma_shown:g}."
    return 0.0, 1.0, round(mu, 3), round(sigma_shown, 4), "KL(q‖p)", note


def build(ctl: KlControls, models: Models, encoded: gr.State | None, links: Links, views: gr.Tabs) -> None:
    if not models.vaes:
        gr.Markdown("No VAE checkpoint is loaded; see the VAE tab for the command that trains one.")
        return
    with gr.Row():
        model = Dropdown(list(models.vaes), value=list(models.vaes)[-1], label="model", elem_id="kl-vae-model")
        index = Number(0, label="test digit index", minimum=0, step=1, elem_id="kl-vae-index")
        btn = gr.Button("Show this test digit", variant="primary")
        lab_btn = gr.Button("Use the VAE lab's encoded digit (and its model)", interactive=encoded is not None,
                            elem_id="kl-vae-lab-btn")
    plot = Plot(show_label=False, elem_id="kl-vae-plot")
    md = gr.Markdown(elem_id="kl-vae-md")
    shown = gr.State(None)  # the shown digit's μ and σ, for "show this dimension"
    with gr.Row():
        dim = Number(1, label="dimension", minimum=1, step=1, elem_id="kl-vae-dim")
        show = gr.Button("Show this dimension in the two Gaussians' panel", elem_id="kl-vae-show")

    # the view's theory, under its figure and controls (the first screen is the instrument)
    gr.Markdown("For a test digit (or the digit encoded in the VAE lab), the ELBO's KL term KL(q(z|x) ‖ N(0, I)) "
                "dimension by dimension. Pick a dimension to see its two Gaussians in the first view's panel, with "
                "p = the prior and q = the encoder's posterior.")
    btn.click(partial(vae_kl_term, models), [model, index], [plot, md, shown], api_name="kl_vae_term")
    links.param("kl", "vae_model", model)
    links.param("kl", "vae_digit", index, hi=max(len(models.digits.x) - 1, 0) if models.digits is not None else 0)
    links.opening(partial(vae_kl_term, models), [model, index], [plot, md, shown])
    if encoded is not None:
        lab_btn.click(partial(lab_digit_kl_term, models), [encoded], [plot, md, shown], api_visibility="private")
    # the panel is the first view's: it opens there, then draws the dimension
    show.click(show_dimension, [shown, dim], [*ctl.params, ctl.direction, ctl.caption], api_visibility="private"
               ).then(lambda: gr.Tabs(selected="monte-carlo"), None, views, show_progress="hidden",
                      api_visibility="private"
               ).then(gaussians_1d, [*ctl.params, ctl.direction], ctl.plot, show_progress="hidden",
                      api_visibility="private")
