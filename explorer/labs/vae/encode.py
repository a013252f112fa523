"""Encoding a digit: a test digit, a drawing or an upload through q(z|x), its per-dimension KL, and the
reparameterization z = μ + σ·ε."""

import math
from dataclasses import dataclass
from functools import partial

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import torch

from explorer import checks, render
from explorer.gradio_compat import Number, Plot, Sketchpad
from explorer.labs.vae.common import (
    LATEX,
    Z_RANGE,
    VaeControls,
    encode_digit,
    encoded_for,
)
from explorer.labs.vae.controls import moved, outputs
from explorer.links import Links
from explorer.models import Models
from explorer.state import EncodedDigit
from explorer.vae_maths import preprocess_drawing

ENCODE_TEXT = r"""
**Encoding.** The encoder outputs a Gaussian $q_\phi(z\mid x)$: a mean $\mu$ and a spread $\sigma$ per dimension.
Its cost in the ELBO is $\mathrm{KL}\big(q_\phi(z\mid x)\,\|\,\mathcal N(0,I)\big)
=\sum_d \tfrac12\big(\mu_d^2+\sigma_d^2-1-\log\sigma_d^2\big)$, shown per dimension: dimensions with KL ≈ 0 are
unused (their posterior is the prior). **Reparameterization:** a sample is $z=\mu+\sigma\odot\varepsilon$ with
$\varepsilon\sim\mathcal N(0,I)$, so gradients flow through $\mu$ and $\sigma$; *Resample ε* draws a new $\varepsilon$.
"""


def _encode_view(models: Models, enc: EncodedDigit, eps_seed: int):
    """Everything the Encode panel shows for an encoded digit."""
    vae = models.vae(enc.model)
    mu, sigma = enc.mu, enc.sigma
    with torch.inference_mode():
        kl = vae.kl_per_dim(enc.posterior())[0]  # (D,)
        recon = vae.decode_probs(mu[None])[0]
    D = vae.latent_dim
    dims = [f"z{d + 1}" for d in range(D)]
    # μ ± 2σ on the slider's scale, and σ itself on a log axis: a posterior σ of 0.05 is ±3 pixels on [−4, 4]
    fig_q = go.Figure([
        go.Scatter(x=dims, y=mu.numpy(), mode="markers", name="μ ± 2σ (left axis)",
                   error_y=dict(type="data", array=(2 * sigma).numpy(), visible=True, thickness=2, width=5),
                   marker=dict(size=6, color="#6366f1")),
        go.Scatter(x=dims, y=sigma.numpy(), mode="markers", name="σ (right axis, log scale)", yaxis="y2",
                   marker=dict(size=7, color="#ea580c", symbol="diamond-open")),
    ])
    fig_q.update_layout(title=f"q(z|x) per dimension ({enc.model})", height=300,
                        margin=dict(l=40, r=50, t=40, b=30), yaxis=dict(range=[-Z_RANGE, Z_RANGE], title="μ ± 2σ"),
                        yaxis2=dict(type="log", overlaying="y", side="right", showgrid=False, title="σ",
                                    range=[math.floor(math.log10(max(float(sigma.min()), 1e-12))) - 0.1,
                                           max(0.5, math.log10(float(sigma.max())) + 0.1)]),
                        legend=dict(orientation="h", y=-0.25, font=dict(size=10)))
    fig_kl = go.Figure(go.Bar(x=dims, y=kl.numpy(), marker_color="#f59e0b"))
    fig_kl.update_layout(title=f"KL(q(z|x) ‖ N(0, I)) per dimension: total {float(kl.sum()):.2f} nats",
                         height=280, margin=dict(l=30, r=10, t=40, b=30))
    what = render.file_name("", model=enc.model, digit=enc.label).lstrip("_")
    render.exportable(fig_q, f"vae-encode-q_{what}", f"q(z|x) = N(μ, σ²) of {enc.label}, {enc.model} VAE: μ ± 2σ")
    render.exportable(fig_kl, f"vae-encode-kl_{what}", f"KL(q(z|x) ‖ N(0, I)) per dimension, {enc.label}, {enc.model}")
    table = "| dim | μ | σ | KL (nats) |\n|---|---|---|---|\n" + "\n".join(
        f"| z{d + 1} | {mu[d]:+.3f} | {sigma[d]:.3f} | {kl[d]:.3f} |" for d in range(min(D, 8)))
    if D > 8:
        table += f"\n\n({D - 8} more dimensions in the plots)"
    images = render.row(render.img_tag(enc.x, caption=f"encoded: {enc.label}"),
                        render.img_tag(recon, caption=f"reconstruction f<sub>θ</sub>(μ), {enc.model}",
                                       alt=models.alt(f"reconstruction fθ(μ), {enc.model}", recon[None])))
    return images, fig_q, fig_kl, table, reparameterize(models, enc.model, enc, eps_seed)


@torch.inference_mode()
def reparameterize(models: Models, name: str, state, eps_seed) -> str:
    """z = μ + σ·ε for a seeded ε, and what the decoder makes of it."""
    vae = models.vae(name)
    enc = encoded_for(models, name, state)
    eps_seed = checks.seed(eps_seed, "ε seed")
    mu, sigma = enc.mu, enc.sigma
    eps = torch.randn(vae.latent_dim, generator=torch.Generator().manual_seed(eps_seed))
    z = vae.reparameterize(enc.posterior(), 1, eps=eps[None, None])[0, 0]
    probs = vae.decode_probs(z[None])[0]
    n = min(vae.latent_dim, 4)
    fmt = ", ".join
    more = ", …" if vae.latent_dim > n else ""
    eq = (f"<p class='ge-note'>ε seed {eps_seed}: z = μ + σ·ε = ({fmt(f'{v:+.2f}' for v in z[:n])}{more}) with "
          f"μ = ({fmt(f'{v:+.2f}' for v in mu[:n])}{more}), σ = ({fmt(f'{v:.2f}' for v in sigma[:n])}{more}), "
          f"ε = ({fmt(f'{v:+.2f}' for v in eps[:n])}{more})</p>")
    return render.row(render.img_tag(probs, size=112, caption="f<sub>θ</sub>(μ + σ·ε)",
                                     alt=models.alt("fθ(μ + σ·ε)", probs[None]))) + eq


def encode_index(models: Models, name: str, index, eps_seed):
    i = models.test_index(index)
    eps_seed = checks.seed(eps_seed, "ε seed")
    d = models.test_digits()
    enc = encode_digit(models, name, d.x[i], f"test digit #{i} (a {int(d.labels[i])})")
    return (enc, *_encode_view(models, enc, eps_seed))


def reencode(models: Models, name: str, state, eps_seed):
    """After the model changed: the same digit through the new model's encoder (nothing, if none is encoded)."""
    if state is None:
        return (None, *[gr.update()] * 5)
    enc = encoded_for(models, name, state)
    return (enc, *_encode_view(models, enc, checks.seed(eps_seed, "ε seed")))


def encode_drawing(models: Models, name: str, image, eps_seed, label: str = "your drawing"):
    eps_seed = checks.seed(eps_seed, "ε seed")
    a = checks.image_array(image)
    try:
        x = preprocess_drawing(a)
    except ValueError as e:
        raise checks.InputError(checks.sentence(f"Cannot read a digit from that image: {e}")) from None
    enc = encode_digit(models, name, x, label)
    return (enc, *_encode_view(models, enc, eps_seed))


def _gallery(models: Models) -> list:
    if models.digits is None:
        return []
    return [render.upscale(render.to_uint8(models.digits.x[i]), 2) for i in range(min(40, len(models.digits.x)))]


@dataclass(frozen=True)
class EncodeView:
    """What the Encode sub-lab lays out that other views use: the test-digit box, the ε seed, what a new encoding
    updates (the session's encoded digit first), and the events after which the encoded digit has changed."""

    index: gr.Number
    eps_seed: gr.Number
    outputs: list
    encoded: tuple


def _encode_sketch_or_upload(models: Models, name: str, sketch, upload, newest, eps_seed):
    """Encode whichever of the drawing and the upload changed last (`newest`: "sketch" or "upload"), or the
    other if that one is empty (an API call sends only one); the panel's caption says which it was."""
    newest = checks.choice("Newest input", newest, ("sketch", "upload"))
    has_sketch = _has_drawing(sketch)
    if upload and (newest == "upload" or not has_sketch):
        return encode_drawing(models, name, upload, eps_seed, "your upload")
    return encode_drawing(models, name, sketch, eps_seed, "your drawing")


def _has_drawing(sketch) -> bool:
    """Whether a Sketchpad value holds any stroke."""
    if isinstance(sketch, dict):
        sketch = sketch.get("composite")
    if sketch is None:
        return False
    a = np.asarray(sketch)
    return bool(a.size) and (a[..., 3].any() if a.ndim == 3 and a.shape[2] == 4 else bool(np.ptp(a)))


def build(ctl: VaeControls, links: Links) -> EncodeView:
    """Lay out and wire the Encode sub-lab (call inside its gr.Tab)."""
    models = ctl.models
    n_test = len(models.digits.x) if models.digits is not None else 0
    with gr.Row():
        with gr.Column():
            with gr.Row():
                idx = Number(0, label=f"test digit index (0–{max(n_test - 1, 0)})", step=1,
                                         minimum=0, elem_id="vae-index")
                idx_btn = gr.Button("Encode test digit", variant="primary", elem_id="vae-encode-btn")
            pics = _gallery(models)
            gallery = render.digit_picker(pics, f"or pick one (test digits #0–#{len(pics) - 1})",
                                          [f"test digit #{i}" for i in range(len(pics))], "vae-gallery")
            sketch = Sketchpad(label="or draw a digit", type="numpy", canvas_size=(280, 280),
                               elem_id="vae-sketch", layers=False,
                               brush=gr.Brush(default_size=18, colors=["#000000"], color_mode="fixed"))
            upload = gr.File(label="or upload an image of a digit", file_types=["image"], type="filepath", height=110)
            draw_btn = gr.Button("Encode drawing / upload")
        with gr.Column():
            images = gr.HTML(elem_id="vae-enc-images")
            with gr.Row():
                to_mu = gr.Button("Move the sliders to μ", elem_id="vae-to-mu")
                eps_seed = Number(0, label="ε seed", minimum=0, step=1, elem_id="vae-eps-seed")
                eps_btn = gr.Button("Resample ε")
            eps_view = gr.HTML()
            fig_q = Plot(label="q(z|x): μ ± 2σ", show_label=False, elem_id="vae-enc-q")
            fig_kl = Plot(label="KL per dimension", show_label=False, elem_id="vae-enc-kl")
            table = gr.Markdown()

    out = [ctl.encoded, images, fig_q, fig_kl, table, eps_view]
    by_index = partial(encode_index, models)
    by_button = idx_btn.click(by_index, [ctl.model, idx, eps_seed], out, api_name="encode_index")
    by_pick = (gallery.select(render.picked, None, idx, api_visibility="private")
               .then(by_index, [ctl.model, idx, eps_seed], out, api_visibility="private"))
    newest = gr.State("sketch")  # which of the sketchpad and the upload changed last: that one is encoded
    sketch.change(lambda: "sketch", None, newest, api_visibility="private", show_progress="hidden", queue=False)
    upload.change(lambda f: "upload" if f else "sketch", upload, newest, api_visibility="private",
                  show_progress="hidden", queue=False)
    by_drawing = draw_btn.click(partial(_encode_sketch_or_upload, models),
                                [ctl.model, sketch, upload, newest, eps_seed], out, api_name="encode_drawing")
    eps_btn.click(partial(reparameterize, models), [ctl.model, ctl.encoded, eps_seed], eps_view,
                  api_name="reparameterize")

    def to_mean(name, seed, encoded):
        return moved(ctl, name, seed, encoded_for(models, name, encoded).mu)

    links.param("vae", "digit", idx, hi=max(n_test - 1, 0))
    links.param("vae", "eps_seed", eps_seed)
    to_mu.click(to_mean, [ctl.model, ctl.seed, ctl.encoded], outputs(ctl), show_progress="hidden",
                api_visibility="private")
    # the view's theory, under its figure and controls (the first screen is the instrument)
    gr.Markdown(ENCODE_TEXT, latex_delimiters=LATEX)
    return EncodeView(idx, eps_seed, out, (by_button, by_pick, by_drawing))
