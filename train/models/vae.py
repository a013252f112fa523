"""A VAE with a Gaussian encoder and a Bernoulli decoder on binarized images.

Follows Kingma & Welling, "Auto-Encoding Variational Bayes" (2014), with the importance-weighted
log-likelihood estimate of Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (2015).

    prior      p(z)   = N(0, I_D)
    decoder    p(x|z) = prod_m Bernoulli(x_m; f_θ(z)_m),   f_θ(z) = sigmoid(logits)
    encoder    q(z|x) = N(μ(x), diag σ²(x))

Every distribution is a `torch.distributions` object, so log-densities and the KL term are never
written by hand. Imports only torch: the explorer imports this file without torchvision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence


@dataclass
class VAEConfig:
    data_dim: int = field(default=784, metadata={"help": "pixels M of a flattened image (28×28 MNIST)"})
    latent_dim: int = field(default=2, metadata={"help": "D; 2 lets the explorer draw the latent plane"})
    hidden_dim: int = field(default=512, metadata={"help": "width of every hidden layer"})
    n_layers: int = field(default=2, metadata={"help": "hidden layers in the encoder and in the decoder"})


class ELBOTerms(NamedTuple):
    """ELBO = reconstruction − kl (Kingma & Welling eq. 3), each of shape (B,), in nats."""

    elbo: torch.Tensor
    reconstruction: torch.Tensor  # E_q[log p(x|z)], Monte Carlo over the given samples
    kl: torch.Tensor  # KL(q(z|x) || p(z)), closed form


class AncestralSample(NamedTuple):
    """The three stages of ancestral sampling: z ~ p(z), f_θ(z), x ~ B(f_θ(z))."""

    z: torch.Tensor  # (N, D)
    probs: torch.Tensor  # (N, M) in [0, 1]
    x: torch.Tensor  # (N, M) in {0, 1}


def _mlp(d_in: int, d_hidden: int, d_out: int, n_layers: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = d_in
    for _ in range(n_layers):
        layers += [nn.Linear(d, d_hidden), nn.ELU()]
        d = d_hidden
    layers.append(nn.Linear(d, d_out))
    return nn.Sequential(*layers)


class VAE(nn.Module):
    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        D, M = config.latent_dim, config.data_dim
        self.encoder = _mlp(M, config.hidden_dim, 2 * D, config.n_layers)  # -> (μ, log σ)
        self.decoder = _mlp(D, config.hidden_dim, M, config.n_layers)  # -> Bernoulli logits
        self.register_buffer("_zeros", torch.zeros(D), persistent=False)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    # --- the three distributions -------------------------------------------------------------
    def prior(self) -> Independent:
        """p(z) = N(0, I_D), event shape (D,)."""
        return Independent(Normal(self._zeros, torch.ones_like(self._zeros)), 1)

    def encode(self, x: torch.Tensor) -> Independent:
        """q(z|x) = N(μ(x), diag σ²(x)). x: (B, M) in [0, 1]; batch shape (B,), event shape (D,)."""
        assert x.shape[-1] == self.config.data_dim, f"x has {x.shape[-1]} pixels, expected {self.config.data_dim}"
        mu, log_sigma = self.encoder(x).chunk(2, dim=-1)  # (B, D) each
        return Independent(Normal(mu, log_sigma.clamp(-12.0, 6.0).exp()), 1)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder logits. z: (..., D) -> (..., M); f_θ(z) = sigmoid(logits)."""
        assert z.shape[-1] == self.latent_dim, f"z has {z.shape[-1]} dimensions, expected {self.latent_dim}"
        return self.decoder(z)

    def decode_probs(self, z: torch.Tensor) -> torch.Tensor:
        """f_θ(z): per-pixel probabilities, (..., M) in [0, 1]."""
        return torch.sigmoid(self.decode_logits(z))

    def decode(self, z: torch.Tensor) -> Independent:
        """p(x|z) = prod_m B(x_m; f_θ(z)_m); event shape (M,)."""
        return Independent(Bernoulli(logits=self.decode_logits(z)), 1)

    # --- objectives and estimates ------------------------------------------------------------
    def reparameterize(self, q: Independent, n: int, generator: torch.Generator | None = None,
                       eps: torch.Tensor | None = None) -> torch.Tensor:
        """z = μ + σ·ε with ε ~ N(0, I): (n, B, D), differentiable in μ and σ (Kingma & Welling §2.4).
        `eps` (n, B, D), if given, is used instead of fresh draws."""
        mu, sigma = q.base_dist.loc, q.base_dist.scale
        if eps is None:
            eps = torch.randn((n, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + sigma * eps

    def kl_per_dim(self, q: Independent) -> torch.Tensor:
        """KL(q(z_d|x) || p(z_d)) for each latent dimension d: (B, D). Summed over d it is the ELBO's KL term."""
        return kl_divergence(q.base_dist, self.prior().base_dist)

    def elbo(self, x: torch.Tensor, n_samples: int = 1, generator: torch.Generator | None = None,
             eps: torch.Tensor | None = None) -> ELBOTerms:
        """ELBO(x) = E_q[log p(x|z)] − KL(q(z|x) || p(z)). x: (B, M) in {0, 1} -> three (B,) tensors.
        `eps` (n_samples, B, D), if given, is the reparameterization noise instead of fresh draws."""
        q = self.encode(x)
        z = self.reparameterize(q, n_samples, generator, eps)  # (S, B, D)
        reconstruction = self.decode(z).log_prob(x).mean(0)  # (B,)
        kl = kl_divergence(q, self.prior())  # (B,)
        return ELBOTerms(reconstruction - kl, reconstruction, kl)

    def log_weights(
        self,
        x: torch.Tensor,
        k: int,
        proposal: str = "posterior",
        generator: torch.Generator | None = None,
        chunk: int = 1000,
    ) -> torch.Tensor:
        """log w_k = log p(x|z_k) + log p(z_k) − log r(z_k), z_k ~ r, for k samples per image.

        proposal="posterior" takes r = q(z|x) (importance sampling, Burda et al. eq. 8);
        proposal="prior" takes r = p(z), so log w_k = log p(x|z_k) (naive Monte Carlo).
        x: (B, M) in {0, 1} -> (B, k). Samples are drawn in chunks to bound memory.
        """
        if proposal not in ("posterior", "prior"):
            raise ValueError(f"proposal must be 'posterior' or 'prior', not {proposal!r}")
        prior = self.prior()
        q = self.encode(x) if proposal == "posterior" else None
        out = []
        for start in range(0, k, chunk):
            n = min(chunk, k - start)
            if q is None:
                z = torch.randn((n, x.shape[0], self.latent_dim), generator=generator, device=x.device)
                logw = self.decode(z).log_prob(x)  # (n, B)
            else:
                z = self.reparameterize(q, n, generator)  # (n, B, D)
                logw = self.decode(z).log_prob(x) + prior.log_prob(z) - q.log_prob(z)  # (n, B)
            out.append(logw)
        return torch.cat(out, 0).T  # (B, k)

    def log_likelihood(
        self, x: torch.Tensor, k: int, generator: torch.Generator | None = None, chunk: int = 1000
    ) -> torch.Tensor:
        """Importance-weighted estimate log (1/k) Σ_k w_k of log p(x), via logsumexp. (B, M) -> (B,).

        It is a lower bound in expectation that tightens to log p(x) as k grows (Burda et al. Thm. 1).
        """
        return torch.logsumexp(self.log_weights(x, k, "posterior", generator, chunk), dim=1) - math.log(k)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> AncestralSample:
        """Ancestral sampling: z ~ N(0, I), probs = f_θ(z), x ~ B(probs), all pixels drawn at once."""
        z = torch.randn((n, self.latent_dim), generator=generator, device=self._zeros.device)
        probs = self.decode_probs(z)
        x = torch.bernoulli(probs, generator=generator)
        return AncestralSample(z, probs, x)


class PosteriorGrid(NamedTuple):
    """log p(x) by quadrature over a 2-D latent grid, and the grid's normalized posterior."""

    log_px: torch.Tensor  # (B,)
    z1: torch.Tensor  # (G1,) grid coordinates of dimension 1
    z2: torch.Tensor  # (G2,) grid coordinates of dimension 2
    log_posterior: torch.Tensor  # (B, G1, G2): log p(z|x) density on the grid


@torch.no_grad()
def posterior_grid(
    model: VAE, x: torch.Tensor, extent: float = 6.0, coarse: int = 97, fine: int = 161, chunk: int = 8192
) -> PosteriorGrid:
    """Exact-in-the-limit log p(x) = log ∫ p(x|z) p(z) dz for a 2-D latent by the midpoint rule.

    A coarse grid over [-extent, extent]² finds where the joint p(x, z) has mass (within e^-40 of its
    peak); a fine grid over that box gives the value. x: (B, M) -> log_px (B,). Mass outside
    [-extent, extent]² has prior probability below 2e-9 and is neglected.
    """
    if model.latent_dim != 2:
        raise ValueError(f"quadrature needs a 2-D latent, this model has {model.latent_dim}")

    def log_joint(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        zz = torch.stack(torch.meshgrid(z1, z2, indexing="ij"), -1).reshape(-1, 2)  # (G1*G2, 2)
        parts = []
        for s in range(0, zz.shape[0], chunk):
            zc = zz[s : s + chunk]
            lp = model.decode(zc[:, None, :]).log_prob(x) + model.prior().log_prob(zc)[:, None]  # (G, B)
            parts.append(lp)
        return torch.cat(parts, 0).T.reshape(x.shape[0], len(z1), len(z2))  # (B, G1, G2)

    dev = x.device
    g = torch.linspace(-extent, extent, coarse, device=dev)
    lj = log_joint(g, g)  # (B, G, G)
    step = g[1] - g[0]
    lo1, hi1, lo2, hi2 = [], [], [], []
    for b in range(x.shape[0]):
        mask = lj[b] > lj[b].max() - 40.0
        i = torch.nonzero(mask.any(1)).flatten()
        j = torch.nonzero(mask.any(0)).flatten()
        lo1.append(g[i.min()] - 2 * step)
        hi1.append(g[i.max()] + 2 * step)
        lo2.append(g[j.min()] - 2 * step)
        hi2.append(g[j.max()] + 2 * step)
    # One shared fine box for the batch keeps the output a single tensor; per-image boxes would be tighter.
    z1 = torch.linspace(float(min(lo1)), float(max(hi1)), fine, device=dev)
    z2 = torch.linspace(float(min(lo2)), float(max(hi2)), fine, device=dev)
    lj = log_joint(z1, z2)
    log_cell = torch.log((z1[1] - z1[0]) * (z2[1] - z2[0]))
    log_px = torch.logsumexp(lj.flatten(1), dim=1) + log_cell  # (B,)
    return PosteriorGrid(log_px, z1, z2, lj - log_px[:, None, None])


def running_log_mean_exp(log_w: torch.Tensor) -> torch.Tensor:
    """log (1/K) Σ_{k≤K} exp(log_w_k) for every K at once, along the last dim: (..., K) -> (..., K).

    The importance-weighted (or naive) estimate of log p(x) after the first K samples, computed in
    log space so that weights like e^-400 neither underflow nor lose precision.
    """
    k = torch.arange(1, log_w.shape[-1] + 1, device=log_w.device, dtype=log_w.dtype)
    return torch.logcumsumexp(log_w, dim=-1) - k.log()


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between two latents. z0, z1: (D,), t: (T,) in [0, 1] -> (T, D).

    The direction moves along the great circle from z0/‖z0‖ to z1/‖z1‖ (Shoemake 1985; White 2016 for
    latent spaces) while the norm moves linearly from ‖z0‖ to ‖z1‖. A straight line between two latents at an angle
    cuts through the lower-norm middle, which N(0, I) rarely samples in high dimension; this path keeps ‖z‖ between
    the two ends' norms (whatever those are: encoder means sit well inside the prior's typical radius √D). (The
    textbook slerp of non-unit vectors overshoots in norm
    when the two are nearly opposite.) Falls back to the straight line for (anti)parallel directions.
    """
    t = t[:, None]  # (T, 1)
    n0, n1 = z0.norm().clamp_min(1e-12), z1.norm().clamp_min(1e-12)
    u0, u1 = z0 / n0, z1 / n1
    omega = torch.arccos(torch.dot(u0, u1).clamp(-1.0, 1.0))
    if torch.sin(omega).abs() < 1e-6:
        return (1 - t) * z0 + t * z1
    direction = (torch.sin((1 - t) * omega) * u0 + torch.sin(t * omega) * u1) / torch.sin(omega)  # unit norm
    return ((1 - t) * n0 + t * n1) * direction
