"""The VAE lab's computations, separated from Gradio so tests can call them directly.

Everything here asks the model (train/models/vae.py) for densities and estimates; the functions only
arrange the results for display: a latent plane for the map, likelihood curves against K, the
float32 underflow demonstration, digit preprocessing for drawings.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from train.exact_likelihood import BernoulliVAE, exact_log_px
from train.models.vae import VAE, posterior_grid, running_log_mean_exp

SIDE = 28
MAX_SIDE = 512  # photos are reduced to at most this many pixels a side before the ink is found


@dataclass
class LatentPlane:
    """A 2-D window into latent space: z = center + u·axes[0] + v·axes[1].

    For a 2-D model it is the latent plane itself (center 0, unit axes). For a larger latent it is the
    plane of the two leading principal components of the test set's encoder means, scaled to one
    standard deviation along each, so the map and the manifold grid still mean something.
    """

    center: torch.Tensor  # (D,)
    axes: torch.Tensor  # (2, D)
    exact: bool  # True when the plane is the whole latent space (D = 2)

    def to_z(self, uv: torch.Tensor) -> torch.Tensor:
        """(..., 2) plane coordinates -> (..., D) latents."""
        return self.center + uv @ self.axes

    def to_uv(self, z: torch.Tensor) -> torch.Tensor:
        """(..., D) latents -> (..., 2) coordinates of their projection onto the plane."""
        return (z - self.center) @ torch.linalg.pinv(self.axes)

    def off_plane(self, z: torch.Tensor) -> torch.Tensor:
        """(..., D) latents -> (...,) their Euclidean distance from the plane, ‖z − to_z(to_uv(z))‖: what the map's
        projection does not show (0 for a 2-D model). The axes are orthogonal, so to_z ∘ to_uv is the orthogonal
        projection onto the plane."""
        return (z - self.to_z(self.to_uv(z))).norm(dim=-1)


def latent_plane(vae: VAE, means: torch.Tensor | None) -> LatentPlane:
    D = vae.latent_dim
    if D == 2:
        return LatentPlane(torch.zeros(2), torch.eye(2), True)
    if means is None:  # no test digits: the first two coordinate axes
        return LatentPlane(torch.zeros(D), torch.eye(D)[:2], False)
    center = means.mean(0)
    _, s, vh = torch.linalg.svd(means - center, full_matrices=False)
    std = s[:2] / math.sqrt(max(len(means) - 1, 1))
    return LatentPlane(center, vh[:2] * std[:, None], False)


def slider_plane(vae: VAE, means: torch.Tensor | None, k: int) -> LatentPlane:
    """The plane through the encoder means' centre spanned by latent axis k (0-based) and, across it, the leading
    principal axis of the means with their k-th coordinate removed; both unit vectors, so the map's coordinates are
    in units of z (a slider's units: dragging slider k by 1 moves the star by 1 along the horizontal axis, and only
    along it). Not scaled to the means' spread as `latent_plane` is: along an inactive latent axis (a collapsed one)
    the means hardly vary, and the star would leave the map."""
    D = vae.latent_dim
    if not 0 <= k < D:
        raise ValueError(f"latent axis {k} is outside 0…{D - 1}")
    e = torch.eye(D)
    if means is None:
        return LatentPlane(torch.zeros(D), torch.stack([e[k], e[(k + 1) % D]]), False)
    center = means.mean(0)
    rest = (means - center).clone()
    rest[:, k] = 0.0  # the means' spread across axis k
    v = torch.linalg.svd(rest, full_matrices=False)[2][0].clone()
    v[k] = 0.0  # (already 0 up to rounding: keep the axes exactly orthogonal)
    return LatentPlane(center, torch.stack([e[k], v / v.norm()]), False)


def gaussian_quantiles(n: int, lo: float = 0.05, hi: float = 0.95) -> torch.Tensor:
    """Φ⁻¹ of n evenly spaced probabilities: the manifold grid of Kingma & Welling, Fig. 4."""
    p = torch.linspace(lo, hi, n, dtype=torch.float64)
    return (math.sqrt(2.0) * torch.erfinv(2 * p - 1)).float()


@torch.inference_mode()
def manifold(vae: VAE, plane: LatentPlane, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoder means over an n×n grid of plane coordinates at Gaussian quantiles.

    Returns images (n*n, 784), row-major with v decreasing down the rows (so up is +v, as on a plot),
    and the plane coordinates (n*n, 2) of each cell.
    """
    q = gaussian_quantiles(n)
    vv, uu = torch.meshgrid(q.flip(0), q, indexing="ij")  # rows: v from high to low; columns: u low to high
    uv = torch.stack([uu, vv], -1).reshape(-1, 2)
    return vae.decode_probs(plane.to_z(uv)), uv


@dataclass
class LikelihoodCurves:
    ks: np.ndarray  # (P,) sample counts K on a log grid
    naive: np.ndarray  # (R, P) naive Monte Carlo estimates, z ~ p(z)
    importance: np.ndarray  # (R, P) importance-sampling estimates, z ~ q(z|x)
    elbo: np.ndarray  # (R, P) running mean of log w under q: the Monte Carlo ELBO
    naive_zero_fraction: float  # share of prior samples whose p(x|z) is exactly 0 in float32
    best_importance: float  # IS estimate pooled over all R·K posterior samples


@torch.inference_mode()
def likelihood_curves(vae: VAE, x: torch.Tensor, k_max: int, repeats: int, seed: int, points: int = 40,
                      progress: Callable[[float, str], None] | None = None) -> LikelihoodCurves:
    """log p(x) estimated three ways as K grows, each repeated `repeats` times. x: (784,) in {0, 1}.

    `progress(fraction, what)` is told after each run of K samples (a 32-D model at K = 10^5 takes a minute)."""
    g = torch.Generator().manual_seed(seed)
    xr = x.reshape(1, -1)
    runs = {"prior": [], "posterior": []}
    for proposal, name in (("prior", "naive, z ~ p(z)"), ("posterior", "importance sampling, z ~ q(z|x)")):
        for r in range(repeats):
            if progress is not None:
                done = r + (repeats if proposal == "posterior" else 0)
                progress(done / (2 * repeats), f"{name}: run {r + 1} of {repeats}, K = {k_max:,}")
            runs[proposal].append(vae.log_weights(xr, k_max, proposal, g))  # (1, K)
    lw_prior, lw_post = torch.cat(runs["prior"]), torch.cat(runs["posterior"])  # (R, K) each
    ks = np.unique(np.round(np.logspace(0, math.log10(k_max), points)).astype(int))
    idx = torch.as_tensor(ks - 1)
    steps = torch.arange(1, k_max + 1, dtype=lw_post.dtype)
    elbo_run = lw_post.cumsum(-1) / steps
    pooled = torch.logsumexp(lw_post.flatten(), 0) - math.log(lw_post.numel())
    return LikelihoodCurves(
        ks=ks,
        naive=running_log_mean_exp(lw_prior)[:, idx].numpy(),
        importance=running_log_mean_exp(lw_post)[:, idx].numpy(),
        elbo=elbo_run[:, idx].numpy(),
        naive_zero_fraction=float((lw_prior.float().exp() == 0).float().mean()),
        best_importance=float(pooled),
    )


@dataclass
class Underflow:
    log_p: float  # log p(x|z) = Σ_m log p(x_m|z), in nats, computed in log space
    product32: float  # Π_m p(x_m|z) multiplied directly in float32
    product64: float  # the same in float64
    pixels: int


@torch.inference_mode()
def underflow(vae: VAE, x: torch.Tensor, z: torch.Tensor) -> Underflow:
    """p(x|z) as a product of M per-pixel probabilities, directly versus in log space. z: (D,)."""
    probs = vae.decode_probs(z[None])[0].double()  # (M,)
    per_pixel = torch.where(x.double() > 0.5, probs, 1 - probs)  # p(x_m | z)
    log_p = float(vae.decode(z[None]).log_prob(x[None])[0])
    return Underflow(log_p, float(torch.prod(per_pixel.float())), float(torch.prod(per_pixel)), per_pixel.numel())


@dataclass
class ELBOReport:
    reconstruction: float  # E_q[log p(x|z)]
    kl: float  # KL(q(z|x) || p(z)), closed form
    elbo: float
    log_px: float  # the best available log p(x): quadrature (2-D) or pooled importance sampling
    log_px_method: str

    @property
    def gap(self) -> float:
        """log p(x) − ELBO = KL(q(z|x) || p(z|x)) ≥ 0."""
        return self.log_px - self.elbo


@torch.inference_mode()
def elbo_report(vae: VAE, x: torch.Tensor, seed: int, log_px_is: float, samples: int = 2000) -> tuple[
        ELBOReport, object | None]:
    """ELBO terms for one digit, and log p(x) by quadrature when the latent is 2-D (else the IS value)."""
    g = torch.Generator().manual_seed(seed)
    t = vae.elbo(x[None], n_samples=samples, generator=g)
    grid = None
    if vae.latent_dim == 2:
        grid = posterior_grid(vae, x[None])  # the heatmap's grid; the value from the checked quadrature
        log_px = float(exact_log_px(BernoulliVAE(vae), x[None]).log_px[0])
        method = "exact: quadrature over the latent plane, within 0.01 nats"
    else:
        log_px, method = log_px_is, "importance sampling, all samples pooled"
    return ELBOReport(float(t.reconstruction[0]), float(t.kl[0]), float(t.elbo[0]), log_px, method), grid


def _otsu(values: np.ndarray, bins: int = 256) -> float:
    """The threshold between the two classes of `values` (in [0, 1]) that maximizes their between-class
    variance (Otsu 1979)."""
    hist, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    p = hist.astype(np.float64) / max(hist.sum(), 1)
    centers = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)
    m0 = np.cumsum(p * centers)
    mt = m0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mt * w0 - m0) ** 2 / (w0 * (1 - w0))
    return float(centers[np.nanargmax(np.where(np.isfinite(between), between, -1))])


def ink_map(img: np.ndarray) -> np.ndarray:
    """How much ink each pixel holds, in [0, 1] with the paper at 0, for a drawing or a photo of a digit.

    A drawing on a transparent canvas: ink is opacity (times darkness, or lightness for light strokes).
    An opaque image (a scan or a photo, either polarity): the paper's level is estimated as the median of the
    image's border, the ink's as the far end of the other pixels' distribution; each pixel's ink is where it
    lies between the two. So a dark digit on grey paper, or a light digit on a dark board, both give ink 1 on
    the strokes and 0 on the paper, whatever the lighting's level.
    """
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 4 and a[..., 3].min() < 255:
        lum = a[..., :3].astype(np.float32).mean(-1) / 255.0
        alpha = a[..., 3].astype(np.float32) / 255.0
        ink = alpha * (1.0 - lum)
        return ink if ink.max() >= 0.2 else alpha * lum  # light strokes on a transparent canvas
    if a.ndim == 2:
        lum = a.astype(np.float32) / 255.0
    elif a.ndim == 3 and a.shape[2] in (3, 4):
        lum = a[..., :3].astype(np.float32).mean(-1) / 255.0
    else:
        raise ValueError(f"expected a 2-D grey or RGB(A) image, got an array of shape {a.shape}")
    if max(lum.shape) > MAX_SIDE:  # a phone photo: a digit needs no more than this, and it keeps the work small
        f = MAX_SIDE / max(lum.shape)
        size = (max(1, round(lum.shape[1] * f)), max(1, round(lum.shape[0] * f)))
        lum = np.asarray(Image.fromarray(lum).resize(size, Image.BOX), dtype=np.float32)
    h, w = lum.shape
    b = max(1, round(0.05 * min(h, w)))  # the paper: a frame 5% of the image wide
    yy, xx = np.mgrid[0:h, 0:w]
    edge = np.zeros((h, w), bool)
    edge[:b], edge[-b:], edge[:, :b], edge[:, -b:] = True, True, True, True
    # the paper's level as a plane a + b·x + c·y fitted to the frame: takes out an even lighting gradient
    A = np.stack([np.ones(edge.sum()), xx[edge] / w, yy[edge] / h], 1)
    coef, *_ = np.linalg.lstsq(A, lum[edge], rcond=None)
    paper = coef[0] + coef[1] * xx / w + coef[2] * yy / h
    dev = _box_blur(lum - paper)  # 3×3 mean: sensor noise and grain average out, strokes do not
    # how far the ink reaches each way: a high percentile (robust to specks), or half the extreme for thin strokes
    dark = max(np.percentile(-dev, 99.5), 0.5 * float((-dev).max()))
    light = max(np.percentile(dev, 99.5), 0.5 * float(dev.max()))
    contrast = dark if dark >= light else light
    if contrast < 0.08:  # no pixel stands out from the paper by more than about 20 grey levels
        return np.zeros_like(lum)
    ink = (-dev if dark >= light else dev) / contrast
    return np.clip(ink, 0.0, 1.0)


def _box_blur(a: np.ndarray) -> np.ndarray:
    """The mean over each pixel's 3×3 neighbourhood (edges repeated)."""
    p = np.pad(a, 1, mode="edge")
    h, w = a.shape
    return sum(p[i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9.0


def preprocess_drawing(img: np.ndarray) -> torch.Tensor:
    """A drawing or photo of a digit -> (784,) in {0, 1}, prepared the way MNIST's digits were.

    The ink (`ink_map`) is separated from the paper by Otsu's threshold, which also clears the paper's
    grain; as in MNIST, the ink's bounding box is scaled to fit 20×20 (anti-aliased) and placed so its centre
    of mass sits at the centre of the 28×28 frame; then it is thresholded at 0.5. Raises ValueError for an
    image without ink.
    """
    ink = ink_map(img)
    if ink.max() <= 0.15:
        raise ValueError("the image has no ink: draw or upload a digit")
    level = max(_otsu(ink[ink > 0.02]) if (ink > 0.02).sum() > 16 else 0.15, 0.15)
    mask = ink > level
    ink = np.where(mask, ink, 0.0)
    ink = ink / max(float(ink.max()), 1e-6)
    ys, xs = np.nonzero(mask)
    crop = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = crop.shape
    s = 20.0 / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    small = np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize((nw, nh), Image.LANCZOS),
                       dtype=np.float32) / 255.0
    cy, cx = np.mgrid[0:nh, 0:nw]
    total = small.sum() or 1.0
    my, mx = float((cy * small).sum() / total), float((cx * small).sum() / total)
    out = np.zeros((SIDE, SIDE), dtype=np.float32)
    oy, ox = round(SIDE / 2 - my), round(SIDE / 2 - mx)
    oy, ox = min(max(oy, 0), SIDE - nh), min(max(ox, 0), SIDE - nw)
    out[oy : oy + nh, ox : ox + nw] = small
    return torch.from_numpy((out > 0.5).astype(np.float32)).flatten()
