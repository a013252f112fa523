"""What guidance samples (train/guidance2d.py), on uneven3 where every density and score is exact."""

import math

import pytest
import torch

from train.data2d import energy_distance
from train.diffusion import GaussianDiffusion
from train.guidance2d import cfg_sample, component, sample_grid, tilted_grid
from train.mixture2d import eps_star, uneven3


def test_the_tilted_grid_is_normalized_and_is_the_class_at_w_0():
    mix = uneven3()
    axis, logd, area = tilted_grid(mix, 1, 0.0)
    assert float(logd.exp().sum() * area) == pytest.approx(1.0, abs=1e-9)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    z = torch.stack([xx.flatten(), yy.flatten()], 1)
    assert torch.allclose(logd.flatten(), component(mix, 1).log_prob(z), atol=1e-6)  # (the class's mass is all inside)
    g = torch.Generator().manual_seed(0)
    x = sample_grid(axis, logd, 20_000, g)
    assert torch.allclose(x.mean(0), mix.means[1], atol=0.01) and torch.allclose(torch.cov(x.T), mix.covs[1], atol=0.01)
    with pytest.raises(ValueError, match="class 3 is outside 0 … 2"):
        component(mix, 3)


def test_the_guided_noise_is_the_tilted_diffused_densitys_noise_prediction():
    """(1 + w) ε*(z | c) − w ε*(z) = −√(1 − ᾱ) ∇ log [q_t(z | c)^(1+w) q_t(z)^(−w)]: the gradient by central
    differences of the log densities (torch.distributions), not by the closed-form scores."""
    mix, c, w, a = uneven3(), 2, 3.0, 0.4
    z = torch.tensor([[0.3, 0.9], [-1.0, 0.2], [1.2, 1.5]], dtype=torch.float64)
    guided = (1 + w) * eps_star(component(mix, c), a, z) - w * eps_star(mix, a, z)

    def log_tilted(p):
        cond, full = component(mix, c).diffused(a).distribution(), mix.diffused(a).distribution()
        return (1 + w) * cond.log_prob(p) - w * full.log_prob(p)

    h, grad = 1e-5, []
    for d in range(2):
        e = torch.zeros(2, dtype=torch.float64)
        e[d] = h
        grad.append((log_tilted(z + e) - log_tilted(z - e)) / (2 * h))
    assert torch.allclose(guided, -math.sqrt(1 - a) * torch.stack(grad, 1), atol=1e-6)


def test_guided_sampling_matches_the_tilted_density_only_without_guidance():
    mix, d = uneven3(), GaussianDiffusion(1000, "linear")
    g = torch.Generator().manual_seed(3)
    eds, floors = {}, {}
    for w in (0.0, 4.0):
        axis, logd, _ = tilted_grid(mix, 2, w)
        exact, other = sample_grid(axis, logd, 1500, g), sample_grid(axis, logd, 1500, g)
        eds[w] = energy_distance(cfg_sample(mix, 2, w, d, 1500, steps=50, seed=0), exact)
        floors[w] = energy_distance(other, exact)
    assert eds[0.0] < 4 * floors[0.0] + 0.002, (eds, floors)  # w = 0: the class itself, to DDIM-50's error
    assert eds[4.0] > 100 * floors[4.0], (eds, floors)  # w = 4: another distribution altogether
