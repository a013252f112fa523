"""The exact diffused marginal of a 2-D Gaussian mixture (train/mixture2d.py): its score against autograd of its
log-density and against finite differences, the diffused mixture against the forward process itself, and ε* against
the one case a reader can do by hand, a single Gaussian."""

import math

import pytest
import torch

from train.diffusion import GaussianDiffusion
from train.mixture2d import MIXTURES, Mixture2D, eps_star

DT = torch.float64


def _points(n: int = 64, seed: int = 0) -> torch.Tensor:
    """Points near the modes and far from them (where the responsibilities underflow in linear space)."""
    g = torch.Generator().manual_seed(seed)
    return torch.cat([torch.randn(n, 2, dtype=DT, generator=g) * 2, torch.tensor([[40.0, -35.0], [-60.0, 0.0]],
                                                                                   dtype=DT)])


@pytest.mark.parametrize("name", sorted(MIXTURES))
@pytest.mark.parametrize("alpha_bar", [1.0, 0.9, 0.3, 1e-3])
def test_the_score_is_the_gradient_of_the_log_density(name, alpha_bar):
    q = MIXTURES[name]().diffused(alpha_bar)
    z = _points().requires_grad_(True)
    (autograd,) = torch.autograd.grad(q.log_prob(z).sum(), z)
    assert torch.allclose(q.score(z.detach()), autograd, rtol=1e-9, atol=1e-12)
    h, z0 = 1e-5, _points(16, seed=1)[:16]
    fd = torch.stack([(q.log_prob(z0 + h * e) - q.log_prob(z0 - h * e)) / (2 * h) for e in torch.eye(2, dtype=DT)], 1)
    assert torch.allclose(q.score(z0), fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("t", [1, 100, 500, 1000])
def test_the_diffused_mixture_is_the_forward_process_of_its_samples(t):
    """q(z_t) in closed form has the mean and covariance of √ᾱ x + √(1 − ᾱ) ε over 200,000 draws (within 4 standard
    errors), and its log-density the same average over them as over its own samples."""
    data, diffusion = MIXTURES["uneven3"](), GaussianDiffusion(1000)
    a = float(diffusion.alphas_cumprod.double()[t - 1])
    g = torch.Generator().manual_seed(t)
    x = data.sample(200_000, g)
    z = math.sqrt(a) * x + math.sqrt(1 - a) * torch.randn(x.shape, dtype=DT, generator=g)
    q = data.diffused(a)
    mean = (q.weights[:, None] * q.means).sum(0)
    second = (q.weights[:, None, None] * (q.covs + q.means[:, :, None] * q.means[:, None, :])).sum(0)
    cov = second - mean[:, None] * mean[None, :]
    se = (cov.diagonal() / len(z)).sqrt()
    assert ((z.mean(0) - mean).abs() < 4 * se).all()
    assert torch.allclose(torch.cov(z.T), cov, rtol=0.02, atol=0.01)
    ll_forward, ll_own = q.log_prob(z).mean(), q.log_prob(q.sample(200_000, g)).mean()
    assert abs(ll_forward - ll_own) < 0.02


def test_eps_star_of_one_gaussian_is_its_closed_form():
    """For x ~ N(μ, s² I): z_t ~ N(√ᾱ μ, (ᾱ s² + 1 − ᾱ) I), so E[ε | z_t] = √(1 − ᾱ) (z_t − √ᾱ μ) / (ᾱ s² + 1 − ᾱ);
    at ᾱ = 0 every z_t is pure noise: ε* = z_t."""
    mu, s = torch.tensor([[1.5, -0.5]], dtype=DT), 0.4
    one = Mixture2D(torch.ones(1, dtype=DT), mu, (s * s) * torch.eye(2, dtype=DT)[None])
    z = _points(32)
    for a in (0.999, 0.5, 0.01):
        want = math.sqrt(1 - a) * (z - math.sqrt(a) * mu) / (a * s * s + 1 - a)
        assert torch.allclose(eps_star(one, a, z), want, rtol=1e-10, atol=1e-12)
    assert torch.allclose(eps_star(MIXTURES["ring8"](), 0.0, z), z, rtol=1e-12)


def test_eps_star_is_the_best_noise_prediction():
    """ε* minimizes the simple loss E‖ε − f(z_t)‖² (Ho eq. 14): nudging it in any direction does worse, over 100,000
    draws at an intermediate noise level."""
    data, a = MIXTURES["ring8"](), 0.4
    g = torch.Generator().manual_seed(3)
    x = data.sample(100_000, g)
    eps = torch.randn(x.shape, dtype=DT, generator=g)
    z = math.sqrt(a) * x + math.sqrt(1 - a) * eps
    best = eps_star(data, a, z)
    loss = ((eps - best) ** 2).sum(1).mean()
    for nudge in (0.05 * z, torch.full_like(z, 0.05), -0.05 * best):
        assert ((eps - best - nudge) ** 2).sum(1).mean() > loss


def test_bad_mixtures_and_noise_levels_are_named():
    with pytest.raises(ValueError, match="sum to 1"):
        Mixture2D(torch.tensor([0.5, 0.6], dtype=DT), torch.zeros(2, 2, dtype=DT),
                  torch.eye(2, dtype=DT).repeat(2, 1, 1))
    with pytest.raises(ValueError, match=r"needs means \(K, 2\)"):
        Mixture2D(torch.ones(1, dtype=DT), torch.zeros(1, 3, dtype=DT), torch.eye(2, dtype=DT)[None])
    with pytest.raises(ValueError, match=r"ᾱ = 1.5 is outside the allowed range \[0, 1\]"):
        MIXTURES["ring8"]().diffused(1.5)


@pytest.mark.parametrize("name", sorted(MIXTURES))
@pytest.mark.parametrize("alpha_bar", [1.0, 0.5, 1e-3])
def test_the_written_out_density_is_torch_distributions(name, alpha_bar):
    """log_prob and the responsibilities are written out for 2 × 2 covariances (speed): they equal
    torch.distributions' MixtureSameFamily of MultivariateNormal, far from the modes too."""
    q = MIXTURES[name]().diffused(alpha_bar)
    z = _points()
    torch.testing.assert_close(q.log_prob(z), q.distribution().log_prob(z), rtol=1e-12, atol=1e-10)
    comp = q.distribution().component_distribution.log_prob(z[:, None, :]) + q.weights.log()
    torch.testing.assert_close(q.responsibilities(z), torch.softmax(comp, dim=1), rtol=1e-10, atol=1e-12)


def test_entropy_by_quadrature():
    """A single Gaussian's entropy in closed form, 1 + log 2π + ½ log det Σ; a well-separated ring of eight equal ones
    adds log 8; halving the cell, from 8 points per σ to the default 16, changes nothing at 1e-9 (the rule's error
    falls faster than any power of the cell, so the default's is smaller still)."""
    from train.mixture2d import _isotropic, ring8

    cov = torch.tensor([[[0.30, 0.12], [0.12, 0.15]]], dtype=DT)
    one = Mixture2D(torch.ones(1, dtype=DT), torch.tensor([[0.5, -1.0]], dtype=DT), cov)
    assert one.entropy() == pytest.approx(1 + math.log(2 * math.pi) + 0.5 * math.log(float(torch.det(cov[0]))),
                                          abs=1e-9)
    # neighbouring modes 2 · 3 · sin(π/8) = 2.3 = 15 σ apart: the components' overlap changes the entropy by ~1e-13
    # (measured 6e-14), and the grid holds a third of the points that radius 6 (30 σ apart) needed
    ring = ring8(radius=3.0)
    alone = _isotropic([1.0], [(0.0, 0.0)], 0.15).entropy()
    assert ring.entropy() == pytest.approx(alone + math.log(8), abs=1e-9)
    for make in MIXTURES.values():
        assert make().entropy() == pytest.approx(make().entropy(points_per_sigma=8), abs=1e-9)
