"""Gaussian mixtures in two dimensions, diffused in closed form: the exact marginal q(z_t), its score and the noise
prediction a perfect network would make (the 2-D diffusion lab shows the learned field beside this one).

If x ~ Σ_k w_k N(μ_k, Σ_k) and z_t = √ᾱ_t x + √(1 − ᾱ_t) ε with ε ~ N(0, I) (Ho et al. 2020, eq. 4), then z_t is
again a mixture, with the same weights:

    q(z_t) = Σ_k w_k N(√ᾱ_t μ_k, ᾱ_t Σ_k + (1 − ᾱ_t) I).

Its score, with responsibilities r_k(z) = w_k N_k(z) / q(z):

    ∇ log q(z) = Σ_k r_k(z) C_k⁻¹ (m_k − z),    m_k, C_k the diffused means and covariances,

and the noise a perfect ε-prediction network outputs is the posterior mean of ε (Tweedie's formula; Song et al. 2021,
eq. 3 with Ho's parameterization):

    ε*(z_t, t) = E[ε | z_t] = −√(1 − ᾱ_t) ∇ log q(z_t).

Everything in float64. Imports only torch (the maths stays with train/diffusion.py's schedule, passed in as ᾱ_t).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

DT = torch.float64


@dataclass(frozen=True)
class Mixture2D:
    """Σ_k w_k N(μ_k, Σ_k) in ℝ². weights: (K,), positive, summing to 1; means: (K, 2); covs: (K, 2, 2), positive
    definite."""

    weights: torch.Tensor
    means: torch.Tensor
    covs: torch.Tensor

    def __post_init__(self):
        K = self.weights.shape[0]
        if self.means.shape != (K, 2) or self.covs.shape != (K, 2, 2):
            raise ValueError(f"a mixture of {K} components needs means (K, 2) and covs (K, 2, 2), not "
                             f"{tuple(self.means.shape)} and {tuple(self.covs.shape)}")
        total = torch.tensor(1.0, dtype=self.weights.dtype)
        if not torch.isclose(self.weights.sum(), total) or (self.weights <= 0).any():
            raise ValueError(f"mixture weights must be positive and sum to 1, not {self.weights.tolist()}")

    def diffused(self, alpha_bar: float) -> Mixture2D:
        """q(z_t) for z_t = √ᾱ x + √(1 − ᾱ) ε: the same weights, means √ᾱ μ_k, covariances ᾱ Σ_k + (1 − ᾱ) I.
        alpha_bar ∈ [0, 1]: 1 is the data itself, 0 pure noise N(0, I)."""
        if not 0.0 <= alpha_bar <= 1.0:
            raise ValueError(f"ᾱ = {alpha_bar} is outside the allowed range [0, 1]")
        eye = torch.eye(2, dtype=DT)
        return Mixture2D(self.weights, math.sqrt(alpha_bar) * self.means,
                         alpha_bar * self.covs + (1.0 - alpha_bar) * eye)

    def distribution(self) -> MixtureSameFamily:
        return MixtureSameFamily(Categorical(probs=self.weights), MultivariateNormal(self.means, self.covs))

    def _precisions(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(Σ_k⁻¹: (K, 2, 2), log det Σ_k: (K,)), from the closed form of a 2 × 2 inverse."""
        a, b, c, d = self.covs[:, 0, 0], self.covs[:, 0, 1], self.covs[:, 1, 0], self.covs[:, 1, 1]
        det = a * d - b * c
        inv = torch.stack([torch.stack([d, -b], -1), torch.stack([-c, a], -1)], -2) / det[:, None, None]
        return inv, det.log()

    def _component_log_probs(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(log w_k + log N(z; μ_k, Σ_k): (N, K), Σ_k⁻¹ (μ_k − z): (N, K, 2)). Written out for 2 × 2 covariances
        (the same values as torch.distributions.MultivariateNormal, tested; a KDE's hundreds of components made its
        batched Cholesky solves the lab's slowest step)."""
        inv, logdet = self._precisions()
        diff = self.means[None] - z[:, None, :]  # μ_k − z: (N, K, 2)
        pull = torch.einsum("kij,nkj->nki", inv, diff)  # Σ_k⁻¹ (μ_k − z): (N, K, 2)
        maha = (diff * pull).sum(-1)  # (N, K)
        return self.weights.log() - math.log(2 * math.pi) - 0.5 * logdet - 0.5 * maha, pull

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z) for z: (N, 2) -> (N,)."""
        return torch.logsumexp(self._component_log_probs(z)[0], dim=1)

    def responsibilities(self, z: torch.Tensor) -> torch.Tensor:
        """r_k(z) = w_k N_k(z) / q(z): (N, 2) -> (N, K), computed in log space (far from every mode they do not
        underflow to 0/0)."""
        return torch.softmax(self._component_log_probs(z)[0], dim=1)

    def score(self, z: torch.Tensor) -> torch.Tensor:
        """∇_z log q(z) = Σ_k r_k(z) Σ_k⁻¹ (μ_k − z), in closed form: (N, 2) -> (N, 2)."""
        comp, pull = self._component_log_probs(z)
        return (torch.softmax(comp, dim=1).unsqueeze(-1) * pull).sum(1)

    def entropy(self, points_per_sigma: float = 16.0, reach: float = 9.0) -> float:
        """The differential entropy H = −∫ q log q in nats, by the midpoint rule on a grid: the box reaching `reach`
        standard deviations past every component (the mass outside is below e^{−reach²/2}), with `points_per_sigma`
        cells per smallest standard deviation. A Gaussian mixture's entropy has no closed form; on a grid this fine
        the rule's error is far below 1e-6 nats (the integrand is smooth, and tests/train/test_mixture2d.py checks
        the value against a single Gaussian's closed form and against halving the cell)."""
        sd = torch.linalg.eigvalsh(self.covs).sqrt()  # (K, 2): the components' standard deviations along their axes
        h = float(sd.min()) / points_per_sigma
        pad = reach * float(sd.max())
        lo, hi = self.means.min(0).values - pad, self.means.max(0).values + pad
        axes = [torch.arange(float(lo[i]) + h / 2, float(hi[i]), h, dtype=DT) for i in range(2)]
        total = 0.0
        for chunk in axes[0].split(256):  # (256 · M, 2) points at a time
            z = torch.cartesian_prod(chunk, axes[1])
            logq = self.log_prob(z)
            total += float(-(logq.exp() * logq).sum())
        return total * h * h

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n points: (n, 2). Drawn with `generator` (component, then the point), so a seed repeats them."""
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)  # (n,)
        eps = torch.randn(n, 2, dtype=DT, generator=generator)
        chol = torch.linalg.cholesky(self.covs)  # (K, 2, 2)
        return self.means[k] + (chol[k] @ eps.unsqueeze(-1)).squeeze(-1)


def eps_star(data: Mixture2D, alpha_bar: float, z_t: torch.Tensor) -> torch.Tensor:
    """The exact ε-prediction at noise level ᾱ_t: E[ε | z_t] = −√(1 − ᾱ_t) ∇ log q(z_t), where q(z_t) is `data`
    diffused to ᾱ_t (Tweedie's formula). z_t: (N, 2) -> (N, 2). The optimum of the simple loss ‖ε − ε_θ(z_t, t)‖²
    (Ho eq. 14) at every z_t: where a trained network differs from it, the network is wrong."""
    return -math.sqrt(1.0 - alpha_bar) * data.diffused(alpha_bar).score(z_t)


def _isotropic(weights: list[float], means: list[tuple[float, float]], std: float) -> Mixture2D:
    K = len(weights)
    return Mixture2D(torch.tensor(weights, dtype=DT), torch.tensor(means, dtype=DT),
                     (std**2) * torch.eye(2, dtype=DT).expand(K, 2, 2).clone())


def ring8(radius: float = 2.0, std: float = 0.15) -> Mixture2D:
    """Eight equal Gaussians on a circle: the classic toy for mode coverage."""
    angles = [2 * math.pi * k / 8 for k in range(8)]
    return _isotropic([1 / 8] * 8, [(radius * math.cos(a), radius * math.sin(a)) for a in angles], std)


def uneven3() -> Mixture2D:
    """Three Gaussians of unequal weight and shape: a sampler that covers the modes evenly is wrong here."""
    covs = torch.tensor([[[0.30, 0.12], [0.12, 0.15]], [[0.05, 0.0], [0.0, 0.05]], [[0.10, -0.06], [-0.06, 0.25]]],
                        dtype=DT)
    return Mixture2D(torch.tensor([0.6, 0.3, 0.1], dtype=DT),
                     torch.tensor([[-1.2, -0.6], [1.4, 0.2], [0.0, 1.6]], dtype=DT), covs)


MIXTURES = {"ring8": ring8, "uneven3": uneven3}
