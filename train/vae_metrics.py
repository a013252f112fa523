"""What a VAE's latent code carries: rate and distortion, the KL of each latent dimension, and the active units.

The ELBO splits into two terms that pull against each other (Alemi et al. 2018, "Fixing a Broken ELBO", §2):

    rate        R = E_x KL(q(z|x) || p(z))          nats the code spends per image
    distortion  D = −E_x E_q(z|x) log p(x|z)        nats of the image the code leaves unexplained
    ELBO = −(R + D)

Training with E_q[log p(x|z)] − β·KL (β-VAE, Higgins et al. 2017) minimizes D + β·R: β > 1 buys a lower rate with
more distortion, and pushed far enough, the code carries nothing (R → 0, posterior collapse). Every (R, D) on the
line R + D = c has the same ELBO.

A latent dimension u is *active* when the encoder's mean moves with the image (Burda, Grosse & Salakhutdinov 2016,
"Importance Weighted Autoencoders", §5.2): A_u = Cov_x(E_q(z|x)[z_u]) > 0.01. A collapsed dimension has q(z_u|x)
≈ p(z_u) for every x, so its mean stays near 0 and its KL near 0.

Imports only torch (the explorer imports this file).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

ACTIVE_THRESHOLD = 0.01  # Burda et al. 2016, §5.2


class RateDistortion(NamedTuple):
    """Means over the images, in nats."""

    rate: float  # E_x KL(q(z|x) || p(z)), closed form per image
    distortion: float  # −E_x E_q log p(x|z), Monte Carlo over `samples` draws of z per image
    kl_per_dim: torch.Tensor  # (D,) E_x KL(q(z_d|x) || p(z_d)); sums to `rate`
    activity: torch.Tensor  # (D,) Cov_x(E_q[z_d]) = the variance over the images of the encoder's mean μ_d(x)
    active_units: int  # dimensions with activity > ACTIVE_THRESHOLD
    images: int
    samples: int

    @property
    def elbo(self) -> float:
        """−(R + D): the ELBO (β = 1) that these two terms make."""
        return -(self.rate + self.distortion)


def activity(mu: torch.Tensor) -> torch.Tensor:
    """Cov_x(E_q[z_u]) for each dimension u: the variance over the images (unbiased, N − 1) of the encoder's means.
    mu: (N, D) -> (D,)."""
    if mu.shape[0] < 2:
        raise ValueError(f"activity needs at least 2 images, got {mu.shape[0]}")
    return mu.double().var(0, unbiased=True)


@torch.no_grad()
def rate_distortion(model, x: torch.Tensor, samples: int = 1, seed: int = 0, batch: int = 500) -> RateDistortion:
    """R, D, the per-dimension KL and the active units of `model` (train/models/vae.py) on the images x: (N, M)
    in {0, 1}. D is estimated with `samples` reparameterized draws of z per image (unbiased); R is exact."""
    if samples < 1:
        raise ValueError(f"samples must be at least 1, not {samples}")
    g = torch.Generator().manual_seed(seed)
    kl_dims, recon, mus = [], [], []
    for s in range(0, len(x), batch):
        xb = x[s : s + batch]
        q = model.encode(xb)
        kl_dims.append(model.kl_per_dim(q).double())  # (B, D)
        z = model.reparameterize(q, samples, g)  # (S, B, D)
        recon.append(model.decode(z).log_prob(xb).double().mean(0))  # (B,)
        mus.append(q.base_dist.loc)
    kl_per_dim = torch.cat(kl_dims).mean(0)
    act = activity(torch.cat(mus))
    return RateDistortion(rate=float(kl_per_dim.sum()), distortion=float(-torch.cat(recon).mean()),
                          kl_per_dim=kl_per_dim, activity=act, active_units=int((act > ACTIVE_THRESHOLD).sum()),
                          images=len(x), samples=samples)


def as_card(rd: RateDistortion) -> dict:
    """The card's entry: plain floats, each named with what it is."""
    return {"rate_nats": rd.rate, "distortion_nats": rd.distortion, "elbo_nats": rd.elbo,
            "kl_per_dim_nats": [float(v) for v in rd.kl_per_dim],
            "activity": [float(v) for v in rd.activity], "active_units": rd.active_units,
            "active_threshold": ACTIVE_THRESHOLD, "images": rd.images, "samples_per_image": rd.samples,
            "how": "R = E_x KL(q(z|x) || p(z)) in closed form; D = −E_x E_q log p(x|z) by Monte Carlo; "
                   "activity_u = Cov_x(E_q[z_u]) (Burda et al. 2016), active when > 0.01 (Alemi et al. 2018)"}
