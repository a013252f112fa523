"""The VAE lab: latent sliders, ancestral sampling, the latent map, encoding, likelihoods, interpolation.

Layout first (`build`), events wired after; every handler is a module-level function that takes the
loaded models as its first argument and is bound with functools.partial. Handlers validate their
inputs and raise gr.Error with the bad value and the allowed range; per-user state (the encoded digit)
lives in gr.State, the models are shared and read-only.
"""


import math
from functools import partial

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import torch

from explorer import checks, render
from explorer.models import VAE_CHECKPOINTS, Models
from explorer.state import EncodedDigit
from explorer.vae_maths import (
    LatentPlane,
    elbo_report,
    latent_plane,
    likelihood_curves,
    manifold,
    preprocess_drawing,
    underflow,
)
from train.models.vae import VAE, slerp

VAE_NAMES = set(VAE_CHECKPOINTS)
MAX_SLIDERS = 32  # one slider per latent dimension, for latents up to this size
Z_RANGE = 4.0  # sliders span [-4, 4]: 99.99% of N(0, 1) mass
MANIFOLD_SIDE = 15  # cells per side of the manifold grid
GRID_CELL_PX = 2  # manifold cells are drawn at 2× so clicks land precisely
DIGIT_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf"]
MAX_K, MAX_REPEATS, MAX_SAMPLE_BUDGET = 100_000, 50, 400_000

INTRO = r"""
**The model.** A latent $z \in \mathbb{R}^D$ is drawn from the prior $p(z)=\mathcal N(0, I)$; the decoder network
$f_\theta$ turns it into one probability per pixel, and each of the $M=784$ pixels is an independent coin flip:
$p(x\mid z)=\prod_{m=1}^{M}\mathrm{Bernoulli}\big(x_m;\,f_\theta(z)_m\big)$. The encoder
$q_\phi(z\mid x)=\mathcal N\big(\mu_\phi(x), \mathrm{diag}\,\sigma^2_\phi(x)\big)$ guesses which $z$ explain a given
digit. Both networks were trained together by maximizing the ELBO on binarized MNIST.
"""

SLIDERS_TEXT = r"""
**Decoding while you drag.** The sliders are $z$. The left image is the decoder's mean $f_\theta(z)$: every pixel's
probability of being on. The right image is one draw $x \sim \mathcal B(f_\theta(z))$ with the seed below: the same
$z$ with another seed gives another binary image, because the model's randomness lives in the pixels too.
"""

SAMPLING_TEXT = r"""
**Ancestral sampling** follows the model's arrows: (1) draw $z \sim \mathcal N(0, I)$; (2) compute
$f_\theta(z)$; (3) draw every pixel $x_m \sim \mathrm{Bernoulli}(f_\theta(z)_m)$. Given $z$ the pixels are
independent, so step 3 is a single parallel draw of all 784 pixels: no pixel waits for another.
"""

MAP_TEXT = r"""
**The latent map.** Each dot is one test digit placed at its encoder mean $\mu_\phi(x)$, coloured by its label.
The star is the sliders' $z$. The grid beside it decodes $f_\theta(z)$ over a lattice of Gaussian quantiles
(as in Kingma & Welling's Fig. 4), so equal areas of the grid hold equal prior probability.
**Click a dot on the map or a cell of the grid** to move the sliders there.
"""

ENCODE_TEXT = r"""
**Encoding.** The encoder outputs a Gaussian $q_\phi(z\mid x)$: a mean $\mu$ and a spread $\sigma$ per dimension.
Its cost in the ELBO is $\mathrm{KL}\big(q_\phi(z\mid x)\,\|\,\mathcal N(0,I)\big)
=\sum_d \tfrac12\big(\mu_d^2+\sigma_d^2-1-\log\sigma_d^2\big)$, shown per dimension: dimensions with KL ≈ 0 are
unused (their posterior is the prior). **Reparameterization:** a sample is $z=\mu+\sigma\odot\varepsilon$ with
$\varepsilon\sim\mathcal N(0,I)$, so gradients flow through $\mu$ and $\sigma$; *Resample ε* draws a new $\varepsilon$.
"""

LIKELIHOOD_TEXT = r"""
**Why $\log p(x)$ is hard.** $p(x)=\int p(x\mid z)\,p(z)\,dz$ has no closed form for a neural decoder. The naive
estimate averages $p(x\mid z_k)$ over $K$ draws $z_k\sim p(z)$. That average is unbiased for $p(x)$, but its log is
biased low (Jensen: $\mathbb E\log\hat p\le\log\mathbb E\,\hat p=\log p(x)$), and it is hopeless in practice: almost
every prior sample explains $x$ badly, so the average hangs on rare lucky draws and needs an enormous $K$, all the
more as $D$ grows (the posterior fills a vanishing share of the prior's volume). Drawing $z_k\sim q_\phi(z\mid x)$
instead and weighting by $p(z_k)/q_\phi(z_k\mid x)$ (importance sampling) puts the samples where the posterior is;
its log is biased low too, and the bias shrinks as $K$ grows. Each $p(x\mid z)$ is a product of 784 per-pixel
probabilities: near the encoder's mean it is tiny but may still fit in float32, while for most $z$ drawn from the
prior it is below float32's smallest number and multiplies out to exactly 0 (the share is below the plot). So every
estimate here is computed in log space, with log-sum-exp.
"""

ELBO_TEXT = r"""
$$\log p(x) = \mathrm{ELBO} + \underbrace{\mathrm{KL}\big(q_\phi(z\mid x)\,\|\,p(z\mid x)\big)}_{\text{gap}\;\ge\;0}$$
$$\mathrm{ELBO} = \mathbb E_{q}[\log p(x\mid z)] - \mathrm{KL}\big(q_\phi(z\mid x)\,\|\,p(z)\big)$$
Raising the ELBO either raises $\log p(x)$ (a better model) or shrinks the gap (an encoder closer to the true
posterior).
"""


# --- input checks ------------------------------------------------------------------------------

def _vae(models: Models, name: str) -> VAE:
    if not models.vaes:
        raise checks.InputError("No VAE checkpoint is loaded; see the VAE tab for the command that trains one.")
    return models.vaes[checks.choice("Model", name, models.vaes)]


_number = checks.number


def _latent(vae: VAE, values) -> torch.Tensor:
    """The first D slider values as a (D,) latent, each checked to lie in the sliders' range."""
    D = vae.latent_dim
    if len(values) < D:
        raise checks.InputError(f"Expected {D} latent values for this model, got {len(values)}.")
    return torch.tensor([_number(f"z{d + 1}", values[d], -Z_RANGE, Z_RANGE) for d in range(D)])


def _digits(models: Models):
    if models.digits is None:
        raise checks.InputError(models.digits_error or "MNIST test digits are not loaded.")
    return models.digits


def _index(models: Models, index) -> int:
    n = len(_digits(models).x)
    return _number("Test digit index", index, 0, n - 1, integer=True)


def _encoded(state) -> torch.Tensor:
    if state is None:
        raise checks.InputError("Encode a digit first: pick a test digit or draw one in the Encode tab.")
    return state.x


def encode_digit(models: Models, name: str, x: torch.Tensor, label: str) -> EncodedDigit:
    """x: (784,) in {0, 1}, encoded once by model `name`: what every view of the encoded digit reads."""
    vae = _vae(models, name)
    with torch.inference_mode():
        q = vae.encode(x[None])
    return EncodedDigit(x, name, q.base_dist.loc[0], q.base_dist.scale[0], label)


# --- per-model caches (computed once at start-up; read-only afterwards) ------------------------

class Cache:
    """Test-set encodings and the latent plane of each model: computed at build time, never mutated."""

    def __init__(self, models: Models):
        self.means: dict[str, torch.Tensor | None] = {}
        self.planes: dict[str, LatentPlane] = {}
        self.manifolds: dict[str, tuple[np.ndarray, torch.Tensor]] = {}
        with torch.inference_mode():
            for name, vae in models.vaes.items():
                mu = vae.encode(models.digits.x).base_dist.loc if models.digits is not None else None
                self.means[name] = mu
                self.planes[name] = latent_plane(vae, mu)
                imgs, uv = manifold(vae, self.planes[name], MANIFOLD_SIDE)
                self.manifolds[name] = (render.upscale(render.grid(imgs, MANIFOLD_SIDE, pad=0), GRID_CELL_PX), uv)


# --- handlers ----------------------------------------------------------------------------------

@torch.inference_mode()
def decode(models: Models, name: str, seed, *z_values) -> str:
    """Sliders -> the decoder's mean f_θ(z) and one Bernoulli sample, as HTML."""
    vae = _vae(models, name)
    seed = checks.seed(seed)
    z = _latent(vae, z_values)
    probs = vae.decode_probs(z[None])[0]
    x = torch.bernoulli(probs, generator=torch.Generator().manual_seed(seed))
    return render.row(render.img_tag(probs, size=150, caption="mean f<sub>θ</sub>(z)"),
                      render.img_tag(x, size=150, caption=f"sample x ~ B(f<sub>θ</sub>(z)), seed {seed}"))


def decode_slider(models: Models, d: int, name: str, seed, value, z: list | None) -> tuple[str, list]:
    """One slider moved: update dimension d of this session's latent and decode it.

    A slider event carries only its own value and the session's current z (a gr.State), not all 32 sliders:
    every input component costs about a millisecond on each side, which decides whether dragging feels live.
    """
    D = _vae(models, name).latent_dim
    if d >= D:
        raise checks.InputError(f"z{d + 1} does not exist in a {D}-D latent.")
    z = list(z) if z is not None and len(z) == D else [0.0] * D
    try:
        z[d] = _number(f"z{d + 1}", value, -Z_RANGE, Z_RANGE)
        return decode(models, name, seed, *z), z
    except checks.InputError as e:  # a queue=False event shows no toast: the message goes above the image
        seed = seed if isinstance(seed, int | float) and 0 <= seed <= checks.MAX_SEED else 0
        return checks.error_note(e.message + " The image shows the last valid z.") + decode(models, name, seed, *z), z


def decode_all(models: Models, name: str, seed, *z_values) -> tuple[str, list]:
    """All sliders at once (after they were set programmatically): the decoded view and the session's z."""
    D = _vae(models, name).latent_dim
    return decode(models, name, seed, *z_values), [float(v) for v in z_values[:D]]


@torch.inference_mode()
def ancestral(models: Models, name: str, seed, n) -> tuple[go.Figure, str, str]:
    """Draw z ~ N(0, I), f_θ(z), x ~ B(f_θ(z)): the three stages for one sample, and a grid of n samples."""
    vae = _vae(models, name)
    seed = checks.seed(seed)
    n = _number("Number of samples", n, 1, 400, integer=True)
    s = vae.sample(n, torch.Generator().manual_seed(seed))
    z0 = s.z[0].numpy()
    fig = go.Figure(go.Bar(x=[f"z{d + 1}" for d in range(len(z0))], y=z0, marker_color="#6366f1"))
    fig.update_layout(title="① z ~ N(0, I)", height=260, margin=dict(l=30, r=10, t=40, b=30),
                      yaxis=dict(range=[-Z_RANGE, Z_RANGE], zeroline=True))
    stages = render.row(render.img_tag(s.probs[0], caption="② f<sub>θ</sub>(z): pixel probabilities"),
                        render.img_tag(s.x[0], caption="③ x ~ B(f<sub>θ</sub>(z)): all 784 pixels at once"),
                        arrows=True)
    nrow = max(1, math.ceil(math.sqrt(n)))
    grids = render.row(render.grid_tag(s.probs, nrow, cell=40, caption=f"f<sub>θ</sub>(z) of {n} draws of z"),
                       render.grid_tag(s.x, nrow, cell=40, caption="their Bernoulli samples x"))
    return fig, stages, grids


def _map_points_url(models: Models, cache: Cache, name: str) -> str | None:
    """The test-set encoder means of model `name`, one trace per digit, as a file the page fetches once
    (render.publish_traces): 10,000 points (~150 kB) that no slider changes."""
    mu = cache.means[name]
    if mu is None:
        return None

    def traces() -> list:
        uv = cache.planes[name].to_uv(mu).numpy()
        labels = models.digits.labels.numpy()
        return [go.Scattergl(x=uv[labels == c, 0], y=uv[labels == c, 1], mode="markers", name=str(c),
                             marker=dict(size=3, color=DIGIT_COLORS[c], opacity=0.6),
                             hovertemplate=f"digit {c}<br>(%{{x:.2f}}, %{{y:.2f}})<extra></extra>")
                for c in range(10)]

    return render.publish_traces(traces, "vae-map-" + "".join(c if c.isalnum() else "-" for c in name))


def latent_map(models: Models, cache: Cache, name: str, state, z_values: list | None, template: bool = False) -> str:
    """The latent map as a `render.live_value`: the test-set encoder means coloured by digit (fetched once by the
    page, see `_map_points_url`), the sliders' z (a list, None for 0) as a star, and the encoded digit's
    posterior ellipses."""
    vae = _vae(models, name)
    z = _latent(vae, z_values if z_values is not None else [0.0] * vae.latent_dim)
    plane = cache.planes[name]
    fig = go.Figure()
    if state is not None and state.model == name:
        m, s = state.mu, state.sigma
        t = torch.linspace(0, 2 * math.pi, 100)
        for k in (1, 2):
            pts = _projected_ellipse(plane, m, s, k, t)
            fig.add_trace(go.Scattergl(
                x=pts[:, 0].numpy(), y=pts[:, 1].numpy(), mode="lines", name=f"q(z|x) {k}σ", hoverinfo="skip",
                line=dict(color="black", width=2 if k == 1 else 1, dash=None if k == 1 else "dot")))
    zz = plane.to_uv(z).numpy()
    # WebGL like the points: Plotly draws every WebGL trace above every SVG one, which hid an SVG star among them.
    # Its meta carries the plane's projection uv = (z − c)·P, so the page moves it as a slider changes (STAR_JS).
    proj = {"center": [float(f"{v:.6g}") for v in plane.center.tolist()],
            "P": [[float(f"{v:.6g}") for v in row] for row in torch.linalg.pinv(plane.axes).tolist()]}
    fig.add_trace(go.Scattergl(x=[zz[0]], y=[zz[1]], mode="markers", name="sliders' z", meta=proj,
                               marker=dict(symbol="star", size=18, color="gold", line=dict(color="black", width=1.5))))
    ax = "z" if plane.exact else "PC"
    fig.update_layout(height=520, margin=dict(l=40, r=10, t=40, b=40), legend=dict(itemsizing="constant"),
                      title="test-set encoder means" + ("" if plane.exact else ", on their 2 principal axes"),
                      xaxis=dict(title=f"{ax}1", range=[-4, 4]), yaxis=dict(title=f"{ax}2", range=[-4, 4],
                                                                         scaleanchor="x"),
                      clickmode="event")
    return render.live_value(fig, template=template, static_url=_map_points_url(models, cache, name))


def _projected_ellipse(plane: LatentPlane, m: torch.Tensor, s: torch.Tensor, k: int, t: torch.Tensor):
    """k-σ ellipse of q(z|x) mapped into plane coordinates (uv = (z − c)·P, P the pseudo-inverse)."""
    P = torch.linalg.pinv(plane.axes)  # (D, 2)
    cov = P.T @ torch.diag(s**2) @ P  # (2, 2)
    evals, evecs = torch.linalg.eigh(cov)
    circle = torch.stack([t.cos(), t.sin()], -1) * (k * evals.clamp_min(0).sqrt())
    return plane.to_uv(m) + circle @ evecs.T


def manifold_image(models: Models, cache: Cache, name: str) -> np.ndarray:
    _vae(models, name)
    return cache.manifolds[name][0]


def _sliders_from_z(z: torch.Tensor) -> list:
    vals = [round(float(v), 2) for v in z.clamp(-Z_RANGE, Z_RANGE)]
    return vals + [gr.update() for _ in range(MAX_SLIDERS - len(vals))]  # sliders beyond D stay as they are


def manifold_click(models: Models, cache: Cache, name: str, evt: gr.SelectData) -> list:
    """A click on grid cell (row, col) sets the sliders to that cell's z."""
    _vae(models, name)
    x, y = evt.index
    col = min(max(int(x) // (render.SIDE * GRID_CELL_PX), 0), MANIFOLD_SIDE - 1)
    row = min(max(int(y) // (render.SIDE * GRID_CELL_PX), 0), MANIFOLD_SIDE - 1)
    uv = cache.manifolds[name][1][row * MANIFOLD_SIDE + col]
    return _sliders_from_z(cache.planes[name].to_z(uv))


def map_click(models: Models, cache: Cache, name: str, point: str) -> list:
    """`point` is "u,v" from a click on the latent map; sets the sliders to that point's z."""
    _vae(models, name)
    try:
        u, v = (float(p) for p in str(point).split(","))
    except ValueError:
        raise checks.InputError(f"A map point is two numbers 'u,v'; got {point!r}.") from None
    u = _number("Map coordinate u", u, -Z_RANGE, Z_RANGE)
    v = _number("Map coordinate v", v, -Z_RANGE, Z_RANGE)
    return _sliders_from_z(cache.planes[name].to_z(torch.tensor([u, v])))


def _encode_view(models: Models, enc: EncodedDigit, eps_seed: int):
    """Everything the Encode panel shows for an encoded digit."""
    vae = _vae(models, enc.model)
    mu, sigma = enc.mu, enc.sigma
    with torch.inference_mode():
        kl = vae.kl_per_dim(enc.posterior())[0]  # (D,)
        recon = vae.decode_probs(mu[None])[0]
    D = vae.latent_dim
    dims = [f"z{d + 1}" for d in range(D)]
    fig_q = go.Figure(go.Scatter(x=dims, y=mu.numpy(), mode="markers", name="μ",
                                 error_y=dict(type="data", array=(2 * sigma).numpy(), visible=True),
                                 marker=dict(size=8, color="#6366f1")))
    fig_q.update_layout(title=f"q(z|x): μ ± 2σ per dimension ({enc.model})", height=280,
                        margin=dict(l=30, r=10, t=40, b=30), yaxis=dict(range=[-Z_RANGE, Z_RANGE]))
    fig_kl = go.Figure(go.Bar(x=dims, y=kl.numpy(), marker_color="#f59e0b"))
    fig_kl.update_layout(title=f"KL(q(z|x) ‖ N(0, I)) per dimension: total {float(kl.sum()):.2f} nats",
                         height=280, margin=dict(l=30, r=10, t=40, b=30))
    table = "| dim | μ | σ | KL (nats) |\n|---|---|---|---|\n" + "\n".join(
        f"| z{d + 1} | {mu[d]:+.3f} | {sigma[d]:.3f} | {kl[d]:.3f} |" for d in range(min(D, 8)))
    if D > 8:
        table += f"\n\n({D - 8} more dimensions in the plots)"
    images = render.row(render.img_tag(enc.x, caption=f"encoded: {enc.label}"),
                        render.img_tag(recon, caption=f"reconstruction f<sub>θ</sub>(μ), {enc.model}"))
    return images, fig_q, fig_kl, table, reparameterize(models, enc.model, enc, eps_seed)


@torch.inference_mode()
def reparameterize(models: Models, name: str, state, eps_seed) -> str:
    """z = μ + σ·ε for a seeded ε, and what the decoder makes of it."""
    vae = _vae(models, name)
    enc = _encoded_for(models, name, state)
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
    return render.row(render.img_tag(probs, size=112, caption="f<sub>θ</sub>(μ + σ·ε)")) + eq


def _encoded_for(models: Models, name: str, state) -> EncodedDigit:
    """The session's encoded digit as model `name` encodes it (re-encoded if another model encoded it)."""
    _encoded(state)
    return state if state.model == name else encode_digit(models, name, state.x, state.label)


def encode_index(models: Models, name: str, index, eps_seed):
    i = _index(models, index)
    eps_seed = checks.seed(eps_seed, "ε seed")
    d = _digits(models)
    enc = encode_digit(models, name, d.x[i], f"test digit #{i} (a {int(d.labels[i])})")
    return (enc, *_encode_view(models, enc, eps_seed))


def reencode(models: Models, name: str, state, eps_seed):
    """After the model changed: the same digit through the new model's encoder (nothing, if none is encoded)."""
    if state is None:
        return (None, *[gr.update()] * 5)
    enc = _encoded_for(models, name, state)
    return (enc, *_encode_view(models, enc, checks.seed(eps_seed, "ε seed")))


def _image_array(value) -> np.ndarray:
    """An ImageEditor/Sketchpad value, an image file path, or an array -> a numpy image; errors are gr.Error."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(value, dict):
        value = value.get("composite")
    if value is None:
        raise checks.InputError("No image: draw a digit on the sketchpad or upload an image first.")
    if isinstance(value, str):
        try:
            with Image.open(value) as im:
                return np.asarray(im.convert("RGBA"))
        except (UnidentifiedImageError, OSError):
            raise checks.InputError("That file is not an image Pillow can read (PNG, JPEG, …).") from None
    return np.asarray(value)


def encode_drawing(models: Models, name: str, image, eps_seed, label: str = "your drawing"):
    eps_seed = checks.seed(eps_seed, "ε seed")
    a = _image_array(image)
    try:
        x = preprocess_drawing(a)
    except ValueError as e:
        raise checks.InputError(checks.sentence(f"Cannot read a digit from that image: {e}")) from None
    enc = encode_digit(models, name, x, label)
    return (enc, *_encode_view(models, enc, eps_seed))


def sliders_to_mu(models: Models, name: str, state) -> list:
    return _sliders_from_z(_encoded_for(models, name, state).mu)


def likelihood(models: Models, name: str, state, k_max, repeats, seed, progress=gr.Progress()):
    """The likelihood lab for the encoded digit: estimates against K, underflow, ELBO terms, posterior."""
    vae = _vae(models, name)
    state = _encoded_for(models, name, state)
    x = state.x
    k_max = _number("K (samples)", k_max, 10, MAX_K, integer=True)
    repeats = _number("Repeats", repeats, 1, MAX_REPEATS, integer=True)
    seed = checks.seed(seed)
    if k_max * repeats > MAX_SAMPLE_BUDGET:
        raise checks.InputError(f"K × repeats = {k_max * repeats:,} exceeds the limit of {MAX_SAMPLE_BUDGET:,} "
                                "samples; lower K or the repeats.")
    curves = likelihood_curves(vae, x, k_max, repeats, seed,
                               progress=lambda f, what: progress(0.9 * f, desc=what))
    progress(0.9, desc="ELBO terms and log p(x)")
    report, grid = elbo_report(vae, x, seed, curves.best_importance)

    fig = go.Figure()
    for label, arr, color in (("naive MC, z ~ p(z)", curves.naive, "#dc2626"),
                              ("importance sampling, z ~ q(z|x)", curves.importance, "#2563eb"),
                              ("ELBO (mean of log w under q)", curves.elbo, "#16a34a")):
        finite = np.where(np.isfinite(arr), arr, np.nan)
        for r in range(arr.shape[0]):
            fig.add_trace(go.Scatter(x=curves.ks, y=finite[r], mode="lines", line=dict(color=color, width=0.7),
                                     opacity=0.35, showlegend=False, hoverinfo="skip", legendgroup=label))
        fig.add_trace(go.Scatter(x=curves.ks, y=np.nanmean(finite, 0), mode="lines", name=label,
                                 line=dict(color=color, width=3), legendgroup=label))
    fig.add_hline(y=report.log_px, line=dict(color="black", dash="dash"),
                  annotation_text=f"log p(x) ≈ {report.log_px:.2f} ({'exact' if grid is not None else 'best IS'})")
    lo = min(report.elbo, float(np.nanmin(curves.importance))) - 10
    fig.update_layout(title=f"log p(x) for {state.label} ({name}): {repeats} runs (thin) and their mean",
                      xaxis=dict(type="log", title="K, samples per estimate"),
                      yaxis=dict(title="nats", range=[max(lo - 60, float(np.nanmin(np.where(
                          np.isfinite(curves.naive), curves.naive, np.nan))) - 5), report.log_px + 8]),
                      height=460, margin=dict(l=50, r=10, t=50, b=50), legend=dict(orientation="h", y=-0.2))

    spread = np.nanstd(np.where(np.isfinite(curves.naive[:, -1]), curves.naive[:, -1], np.nan))
    spread_is = float(np.std(curves.importance[:, -1]))
    with torch.inference_mode():
        mu = vae.encode(x[None]).base_dist.loc[0]
        z_prior = torch.randn(vae.latent_dim, generator=torch.Generator().manual_seed(seed))
    at_mu, at_prior = underflow(vae, x, mu), underflow(vae, x, z_prior)
    under_md = f"""
**Spread at K = {k_max:,}:** naive estimates vary with standard deviation **{spread:.2f} nats** across the {repeats}
runs; importance sampling **{spread_is:.3f} nats**. Of the {repeats * k_max:,} prior samples,
**{100 * curves.naive_zero_fraction:.1f}%** have p(x|z) = 0 exactly in float32.

**Underflow.** p(x|z) multiplies {at_mu.pixels} per-pixel probabilities:

| z | product in float32 | product in float64 | log p(x\\|z), summed in log space |
|---|---|---|---|
| encoder mean μ | {at_mu.product32:.3g} | {at_mu.product64:.3g} | {at_mu.log_p:.2f} nats |
| one draw from the prior | {at_prior.product32:.3g} | {at_prior.product64:.3g} | {at_prior.log_p:.2f} nats |

float32 cannot hold numbers below about 1.4e-45 = e^-103.3 (float64: e^-744.4), so any p(x|z) smaller than that
comes out as exactly 0 when multiplied directly, and its log as −∞. Summing log-probabilities and combining samples
with log-sum-exp, log Σ_k e^(a_k) = a* + log Σ_k e^(a_k − a*), keeps every digit.
"""
    elbo_md = ELBO_TEXT + f"""
| term | value (nats) |
|---|---|
| reconstruction E_q[log p(x\\|z)] | {report.reconstruction:.2f} |
| − KL(q(z\\|x) ‖ p(z)) | −{report.kl:.2f} |
| **ELBO** | **{report.elbo:.2f}** |
| log p(x) ({report.log_px_method}) | {report.log_px:.2f} |
| **gap** = log p(x) − ELBO = KL(q(z\\|x) ‖ p(z\\|x)) | **{report.gap:.2f}** |
"""
    post_fig = None
    if grid is not None:
        post_fig = _posterior_figure(vae, x, grid)
    return fig, under_md, elbo_md, gr.update(value=post_fig, visible=post_fig is not None)


def _posterior_figure(vae: VAE, x: torch.Tensor, grid) -> go.Figure:
    dens = grid.log_posterior[0].exp().T.numpy()  # rows: z2, columns: z1
    fig = go.Figure(go.Heatmap(x=grid.z1.numpy(), y=grid.z2.numpy(), z=dens, colorscale="Viridis",
                               colorbar=dict(title="p(z|x)"), name="true posterior"))
    with torch.inference_mode():
        q = vae.encode(x[None])
    m, s = q.base_dist.loc[0], q.base_dist.scale[0]
    t = torch.linspace(0, 2 * math.pi, 100)
    for k in (1, 2):
        fig.add_trace(go.Scatter(x=(m[0] + k * s[0] * t.cos()).numpy(), y=(m[1] + k * s[1] * t.sin()).numpy(),
                                 mode="lines", line=dict(color="white", width=2, dash=None if k == 1 else "dot"),
                                 name=f"q(z|x) {k}σ"))
    # zoom to where the posterior has mass (density above 1/1000 of its peak) or the encoder's 3σ box
    mass = dens > dens.max() * 1e-3
    z1, z2 = grid.z1.numpy(), grid.z2.numpy()
    lo1 = min(z1[mass.any(0)].min(), float(m[0] - 3 * s[0])), max(z1[mass.any(0)].max(), float(m[0] + 3 * s[0]))
    lo2 = min(z2[mass.any(1)].min(), float(m[1] - 3 * s[1])), max(z2[mass.any(1)].max(), float(m[1] + 3 * s[1]))
    pad = 0.15 * max(lo1[1] - lo1[0], lo2[1] - lo2[0])
    fig.update_layout(title="p(z|x) (colour) vs q(z|x) (ellipses)", height=460,
                      xaxis=dict(title="z1", range=[lo1[0] - pad, lo1[1] + pad]),
                      yaxis=dict(title="z2", scaleanchor="x", range=[lo2[0] - pad, lo2[1] + pad]),
                      margin=dict(l=50, r=10, t=50, b=50), legend=dict(orientation="h", y=-0.2))
    return fig


@torch.inference_mode()
def interpolate(models: Models, name: str, a, b, steps) -> str:
    """Decode the straight line and the great circle between the encoder means of two test digits."""
    vae = _vae(models, name)
    ia, ib = _index(models, a), _index(models, b)
    steps = _number("Steps", steps, 3, 24, integer=True)
    d = _digits(models)
    mu = vae.encode(d.x[torch.tensor([ia, ib])]).base_dist.loc  # (2, D)
    t = torch.linspace(0, 1, steps)
    lin = (1 - t[:, None]) * mu[0] + t[:, None] * mu[1]
    sph = slerp(mu[0], mu[1], t)
    out = []
    for title, z in (("linear: (1 − t)·μ_a + t·μ_b", lin), ("spherical (slerp)", sph)):
        norms = ", ".join(f"{v:.1f}" for v in z.norm(dim=1)[:: max(1, steps // 6)])
        out.append(render.grid_tag(vae.decode_probs(z), steps, cell=48,
                                   caption=f"{title}; ‖z‖ along the path: {norms}"))
    return ("<div>" + "".join(out) +
            f"<p class='ge-note'>from test #{ia} (a {int(d.labels[ia])}) "
            f"to test #{ib} (a {int(d.labels[ib])})</p></div>")


# --- layout and wiring -------------------------------------------------------------------------

MAP_CLICK_JS = """
() => {
  // A plotly click on the latent map stores "u,v" and clicks the hidden #vae-map-click-btn, whose event
  // passes the point to the map_click handler (see MAP_POINT_JS). gr.Plot has no click event of its own.
  const attach = () => {
    const plot = document.querySelector('#vae-map .js-plotly-plot');
    if (plot && plot.on && !plot.__geClick) {
      plot.__geClick = true;
      plot.on('plotly_click', (ev) => {
        const p = ev.points && ev.points[0];
        if (!p) return;
        window.__geMapPoint = `${p.x.toFixed(3)},${p.y.toFixed(3)}`;
        document.querySelector('#vae-map-click-btn').click();
      });
    }
  };
  new MutationObserver(attach).observe(document.body, {childList: true, subtree: true});
  attach();
}
"""
MAP_POINT_JS = "(model, point) => [model, window.__geMapPoint ?? point]"
STAR_JS = """(...z) => {
  // the star's meta holds the map plane's projection uv = (z − c)·P (latent_map); a bad value moves nothing
  const div = document.querySelector('#vae-map .ge-live-plot');
  if (!div || !div.data || !window.Plotly) return [];
  const i = div.data.findIndex(t => t.meta && t.meta.P), star = div.data[i];
  if (i < 0) return [];
  const {center, P} = star.meta, zs = z.slice(0, center.length).map(Number);
  if (z.slice(0, center.length).some(v => v === null || v === '') || zs.some(v => !Number.isFinite(v))) return [];
  let u = 0, v = 0;
  zs.forEach((zd, d) => { u += (zd - center[d]) * P[d][0]; v += (zd - center[d]) * P[d][1]; });
  window.Plotly.restyle(div, {x: [[u]], y: [[v]]}, [i]);
  return [];
}"""


def build(models: Models) -> gr.State | None:
    """The VAE tab's contents; call inside `with gr.Tab(...)`. Returns the encoded-digit state (for the KL lab)."""
    gr.Markdown(INTRO, latex_delimiters=[{"left": "$$", "right": "$$", "display": True},
                                         {"left": "$", "right": "$", "display": False}])
    for name, err in models.errors.items():
        if name in VAE_NAMES:
            gr.Markdown(f"⚠️ **{name} model unavailable.** {err}", elem_classes="ge-error")
    if not models.vaes:
        return None
    if models.digits_error:
        gr.Markdown(f"ℹ️ {models.digits_error}")
    cache = Cache(models)
    names = list(models.vaes)
    first = names[0]
    D0 = models.vaes[first].latent_dim
    latex = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]
    n_test = len(models.digits.x) if models.digits is not None else 0

    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            model = checks.Dropdown(names, value=first, label="model", elem_id="vae-model")
            decoded = gr.HTML(decode(models, first, 0, *[0.0] * D0), elem_id="vae-decoded")
            with gr.Row():
                seed = checks.Number(0, label="pixel seed", minimum=0, step=1, elem_id="vae-seed")
                zero = gr.Button("z = 0", size="sm")
                rand = gr.Button("random z", size="sm")
            def z_slider(k: int) -> gr.Slider:
                return checks.Slider(-Z_RANGE, Z_RANGE, value=0.0, step=0.01, label=f"z{k + 1}", min_width=140,
                                 visible=k < D0, elem_id=f"vae-z{k + 1}")

            sliders = [z_slider(0), z_slider(1)]  # full width: the 2-D model's two sliders are easy to drag
            with gr.Accordion(f"z3 … z{MAX_SLIDERS}", open=True, visible=D0 > 2) as more_dims:
                for d in range(2, MAX_SLIDERS, 2):  # two per row keeps a 32-D latent within reach
                    with gr.Row(equal_height=True):
                        sliders += [z_slider(d), z_slider(d + 1)]
            gr.Markdown(SLIDERS_TEXT, latex_delimiters=latex)
        with gr.Column(scale=5):
            with gr.Tabs():
                with gr.Tab("Ancestral sampling"):
                    gr.Markdown(SAMPLING_TEXT, latex_delimiters=latex)
                    with gr.Row():
                        s_seed = checks.Number(0, label="seed", minimum=0, step=1)
                        s_n = checks.Slider(1, 400, value=64, step=1, label="samples in the grid")
                        s_btn = gr.Button("Draw z ~ N(0, I)", variant="primary", elem_id="vae-sample-btn")
                    with gr.Row():
                        s_z = gr.Plot(label="① the latent z", elem_id="vae-stage-z")
                        s_stages = gr.HTML(elem_id="vae-stages")
                    s_grid = gr.HTML(elem_id="vae-sample-grid")
                with gr.Tab("Latent map"):
                    gr.Markdown(MAP_TEXT, latex_delimiters=latex)
                    with gr.Row():
                        with gr.Column(scale=3):
                            lmap = render.live_plot(latent_map(models, cache, first, None, None, template=True),
                                                    elem_id="vae-map")
                        grid_img = gr.Image(manifold_image(models, cache, first),
                                            label="decoded manifold (click a cell)",
                                            interactive=False, elem_id="vae-manifold", scale=2,
                                            buttons=[])
                    map_click_box = gr.Textbox(visible="hidden", elem_id="vae-map-click")
                    map_click_btn = gr.Button(visible="hidden", elem_id="vae-map-click-btn")
                with gr.Tab("Encode") as encode_tab:
                    gr.Markdown(ENCODE_TEXT, latex_delimiters=latex)
                    encoded = gr.State(None)
                    with gr.Row():
                        with gr.Column():
                            with gr.Row():
                                idx = checks.Number(0, label=f"test digit index (0–{max(n_test - 1, 0)})", step=1,
                                                minimum=0, elem_id="vae-index")
                                idx_btn = gr.Button("Encode test digit", variant="primary", elem_id="vae-encode-btn")
                            gallery = gr.Gallery(value=_gallery(models), label="or pick one", columns=10, height=170,
                                                 allow_preview=False, elem_id="vae-gallery")
                            sketch = gr.Sketchpad(label="or draw a digit", type="numpy", canvas_size=(280, 280),
                                                  brush=gr.Brush(default_size=18, colors=["#000000"],
                                                                 color_mode="fixed"), elem_id="vae-sketch")
                            upload = gr.File(label="or upload an image of a digit", file_types=["image"],
                                             type="filepath", height=110)
                            draw_btn = gr.Button("Encode drawing / upload")
                        with gr.Column():
                            enc_images = gr.HTML()
                            with gr.Row():
                                to_mu = gr.Button("Move the sliders to μ", elem_id="vae-to-mu")
                                eps_seed = checks.Number(0, label="ε seed", minimum=0, step=1)
                                eps_btn = gr.Button("Resample ε")
                            enc_eps = gr.HTML()
                            enc_q = gr.Plot(label="q(z|x): μ ± 2σ", show_label=False, elem_id="vae-enc-q")
                            enc_kl = gr.Plot(label="KL per dimension", show_label=False, elem_id="vae-enc-kl")
                            enc_table = gr.Markdown()
                with gr.Tab("Likelihood"):
                    gr.Markdown(LIKELIHOOD_TEXT, latex_delimiters=latex)
                    with gr.Row():
                        l_k = checks.Slider(10, MAX_K, value=10_000, step=10, label="K, largest sample count")
                        l_r = checks.Slider(1, MAX_REPEATS, value=5, step=1, label="repeated runs")
                        l_seed = checks.Number(0, label="seed", minimum=0, step=1)
                        l_btn = gr.Button("Estimate log p(x) for the encoded digit", variant="primary")
                    l_plot = gr.Plot(label="log p(x) against K", show_label=False, elem_id="vae-lik-plot")
                    with gr.Row():
                        l_elbo = gr.Markdown(latex_delimiters=latex, elem_id="vae-lik-elbo")
                        l_post = gr.Plot(label="true posterior", show_label=False, visible=False,
                                         elem_id="vae-lik-post")
                    l_under = gr.Markdown(elem_id="vae-lik-under")
                with gr.Tab("Interpolation"):
                    gr.Markdown("Decode the path between the encoder means μ of two test digits: a straight line, "
                                "and a great circle (slerp) that keeps ‖z‖ near the typical radius of N(0, I).")
                    with gr.Row():
                        i_a = checks.Number(3, label="from test digit", minimum=0, step=1)
                        i_b = checks.Number(2, label="to test digit", minimum=0, step=1)
                        i_steps = checks.Slider(3, 24, value=10, step=1, label="steps")
                        i_btn = gr.Button("Interpolate", variant="primary")
                    i_out = gr.HTML(elem_id="vae-interp")

    # --- events ---
    z_state = gr.State(None)  # this session's latent z as a list of D floats (None: all zero)
    z_in = [model, seed, *sliders]
    dec = partial(decode, models)
    sync = partial(decode_all, models)
    for d, s in enumerate(sliders):
        s.input(partial(decode_slider, models, d), [model, seed, s, z_state], [decoded, z_state], queue=False,
                trigger_mode="always_last", show_progress="hidden", api_visibility="private", concurrency_limit=None)
    seed.change(sync, z_in, [decoded, z_state], show_progress="hidden", api_visibility="private")
    # the public /decode endpoint: every latent value at once, for API clients
    decode_api = gr.Button(visible="hidden", elem_id="vae-decode-api")
    decode_api.click(dec, z_in, decoded, api_name="decode")
    map_fn = partial(latent_map, models, cache)
    map_in = [model, encoded, z_state]
    for d, s in enumerate(sliders):  # the released slider's own value: its last input may still be in flight
        s.release(partial(_map_after_release, models, cache, d), [model, encoded, z_state, s], lmap,
                  show_progress="hidden", api_visibility="private", trigger_mode="always_last")

    def set_sliders(event, fn, inputs, **kw):
        """Moving the sliders programmatically: update them, then decode, remember z and redraw the map."""
        return (event(fn, inputs, sliders, show_progress="hidden", **kw)
                .then(sync, z_in, [decoded, z_state], show_progress="hidden", api_visibility="private")
                .then(map_fn, map_in, lmap, show_progress="hidden", api_visibility="private"))

    set_sliders(zero.click, lambda: [gr.update(value=0.0)] * MAX_SLIDERS, [], api_visibility="private")
    set_sliders(rand.click, partial(_random_sliders, models), [model], api_visibility="private")
    def on_grid_select(name: str, evt: gr.SelectData) -> list:  # a closure: Gradio finds SelectData by type hint,
        return manifold_click(models, cache, name, evt)  # which it cannot see through functools.partial

    set_sliders(grid_img.select, on_grid_select, [model], api_visibility="private")
    set_sliders(map_click_btn.click, partial(map_click, models, cache), [model, map_click_box], api_name="map_click",
                js=MAP_POINT_JS)
    set_sliders(to_mu.click, partial(sliders_to_mu, models), [model, encoded], api_visibility="private")

    enc_out = [encoded, enc_images, enc_q, enc_kl, enc_table, enc_eps]
    (model.change(partial(_on_model, models), [model], [*sliders, more_dims], show_progress="hidden",
                  api_visibility="private")
     .then(sync, z_in, [decoded, z_state], show_progress="hidden", api_visibility="private")
     .then(partial(reencode, models), [model, encoded, eps_seed], enc_out, api_visibility="private")
     .then(partial(manifold_image, models, cache), [model], grid_img, api_visibility="private")
     .then(map_fn, map_in, lmap, api_visibility="private"))
    for s in sliders:  # the map's star follows every change of z (drag, arrow keys, typing), in the page
        s.change(None, sliders, None, js=STAR_JS)

    sampled = ["vae-stage-z", "vae-stages", "vae-sample-grid"]
    render.mark_stale([model, s_seed, s_n], sampled)
    render.clear_stale(s_btn.click(partial(ancestral, models), [model, s_seed, s_n], [s_z, s_stages, s_grid],
                                   api_name="sample"), sampled)

    enc_idx = idx_btn.click(partial(encode_index, models), [model, idx, eps_seed], enc_out, api_name="encode_index")
    enc_idx.then(map_fn, map_in, lmap, api_visibility="private")
    gallery.select(_gallery_index, None, idx, api_visibility="private").then(
        partial(encode_index, models), [model, idx, eps_seed], enc_out, api_visibility="private").then(
        map_fn, map_in, lmap, api_visibility="private")
    render.brush_on_open(encode_tab, "vae-sketch")
    newest = gr.State("sketch")  # which of the sketchpad and the upload changed last: that one is encoded
    sketch.change(lambda: "sketch", None, newest, api_visibility="private", show_progress="hidden", queue=False)
    upload.change(lambda f: "upload" if f else "sketch", upload, newest, api_visibility="private",
                  show_progress="hidden", queue=False)
    draw_btn.click(partial(_encode_sketch_or_upload, models), [model, sketch, upload, newest, eps_seed], enc_out,
                   api_name="encode_drawing").then(map_fn, map_in, lmap, api_visibility="private")
    eps_btn.click(partial(reparameterize, models), [model, encoded, eps_seed], enc_eps, api_name="reparameterize")
    lik = ["vae-lik-plot", "vae-lik-elbo", "vae-lik-under"]
    render.mark_stale([model, l_k, l_r, l_seed], lik)
    render.clear_stale(l_btn.click(
        partial(likelihood, models), [model, encoded, l_k, l_r, l_seed], [l_plot, l_under, l_elbo, l_post],
        api_name="likelihood"), lik)
    render.mark_stale([model, i_a, i_b, i_steps], ["vae-interp"])
    render.clear_stale(i_btn.click(partial(interpolate, models), [model, i_a, i_b, i_steps], i_out,
                                   api_name="interpolate"), ["vae-interp"])
    return encoded


def _map_after_release(models: Models, cache: Cache, d: int, name: str, state, z: list | None, value) -> str:
    D = _vae(models, name).latent_dim
    z = list(z) if z is not None and len(z) == D else [0.0] * D
    if d < D:
        z[d] = value
    return latent_map(models, cache, name, state, z)


def _on_model(models: Models, name: str) -> list:
    D = _vae(models, name).latent_dim
    return [gr.update(visible=d < D, value=0.0) for d in range(MAX_SLIDERS)] + [gr.Accordion(visible=D > 2)]


def _random_sliders(models: Models, name: str) -> list:
    D = _vae(models, name).latent_dim
    return _sliders_from_z(torch.randn(D))


def _gallery(models: Models) -> list:
    if models.digits is None:
        return []
    return [(render.upscale(render.to_uint8(models.digits.x[i]), 2), f"#{i}") for i in range(40)]


def _gallery_index(evt: gr.SelectData) -> int:
    return int(evt.index)


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
