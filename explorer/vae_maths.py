"""The VAE lab's computations, separated from Gradio so tests can call them directly.

Everything here asks the model (train/models/vae.py) for densities and estimates; the functions only
arrange the results for display: a latent plane for the map, likelihood curves against K, the
float32 underflow demonstration, digit preprocessing for drawings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from train.models.vae import VAE, posterior_grid, running_log_mean_exp

SIDE = 28


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
def likelihood_curves(vae: VAE, x: torch.Tensor, k_max: int, repeats: int, seed: int,
                      points: int = 40) -> LikelihoodCurves:
    """log p(x) estimated three ways as K grows, each repeated `repeats` times. x: (784,) in {0, 1}."""
    g = torch.Generator().manual_seed(seed)
    xb = x.reshape(1, -1).expand(repeats, -1)
    lw_prior = vae.log_weights(xb, k_max, "prior", g)  # (R, K)
    lw_post = vae.log_weights(xb, k_max, "posterior", g)  # (R, K)
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
        grid = posterior_grid(vae, x[None])
        log_px, method = float(grid.log_px[0]), "numerical integration over a fine z grid"
    else:
        log_px, method = log_px_is, "importance sampling, all samples pooled"
    return ELBOReport(float(t.reconstruction[0]), float(t.kl[0]), float(t.elbo[0]), log_px, method), grid


def preprocess_drawing(img: np.ndarray) -> torch.Tensor:
    """A drawing or photo of a digit -> (784,) in {0, 1}, prepared the way MNIST's digits were.

    Ink is dark-on-light or opaque-on-transparent. As in MNIST, the ink's bounding box is scaled to fit
    20×20 and placed so its centre of mass sits at the centre of the 28×28 frame; then it is
    thresholded at 0.5. Raises ValueError for an image without ink.
    """
    a = np.asarray(img)
    if a.ndim == 2:
        ink = 1.0 - a.astype(np.float32) / 255.0
    elif a.ndim == 3 and a.shape[2] in (3, 4):
        lum = a[..., :3].astype(np.float32).mean(-1) / 255.0
        if a.shape[2] == 4 and a[..., 3].min() < 255:
            ink = (a[..., 3].astype(np.float32) / 255.0) * (1.0 - lum)
            if ink.max() < 0.2:  # light strokes on a transparent canvas
                ink = a[..., 3].astype(np.float32) / 255.0 * lum
        else:
            ink = 1.0 - lum
            if np.median(ink) > 0.5:  # a light digit on a dark background, like MNIST itself
                ink = 1.0 - ink
    else:
        raise ValueError(f"expected a 2-D grey or RGB(A) image, got an array of shape {a.shape}")
    mask = ink > 0.15
    if not mask.any():
        raise ValueError("the image has no ink: draw or upload a digit")
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
