"""The ELBO's two gaps (train/inference_gaps.py) on the shipped 2-D VAE, checked by routes that do not use them."""

import math

import pytest
import torch

from train.inference_gaps import best_gaussian, elbo_terms, gaps
from train.models.vae import posterior_grid


@pytest.fixture(scope="module")
def two_d(vae2d, model_digits):
    return gaps(vae2d, model_digits[:2], steps=100, samples=16, eval_samples=2048)


def test_the_gaps_add_up_and_neither_is_negative_beyond_its_noise(two_d):
    g = two_d
    assert g.method == "exact (quadrature)"
    assert torch.allclose(g.approximation + g.amortization, g.total, atol=1e-9)
    assert (g.amortization >= -3 * g.amortization_stderr).all(), (g.amortization, g.amortization_stderr)
    assert (g.approximation > -0.05).all()  # log p(x) ≥ ELBO(q) for every q (Jensen), to Monte Carlo noise
    assert (g.amortization > 0.01).any()  # the optimizer found a better Gaussian than the encoder's for some digit


def test_the_approximation_gap_is_the_kl_from_the_best_gaussian_to_the_true_posterior(vae2d, model_digits, two_d):
    """log p(x) − ELBO(q*) = KL(q* || p(z|x)): here by quadrature of q*·(log q* − log p(z|x)) on the posterior's
    grid (train/models/vae.py), against the gaps' exact log p(x) and Monte Carlo ELBO."""
    grid = posterior_grid(vae2d, model_digits[:2], fine=241)
    zz = torch.stack(torch.meshgrid(grid.z1, grid.z2, indexing="ij"), -1)  # (G1, G2, 2)
    cell = float((grid.z1[1] - grid.z1[0]) * (grid.z2[1] - grid.z2[0]))
    for b in range(2):
        mu, sigma = two_d.mu_best[b].double(), two_d.sigma_best[b].double()
        log_q = (-0.5 * ((zz.double() - mu) / sigma) ** 2 - sigma.log() - 0.5 * math.log(2 * math.pi)).sum(-1)
        kl = float((log_q.exp() * (log_q - grid.log_posterior[b].double())).sum() * cell)
        assert kl == pytest.approx(float(two_d.approximation[b]), abs=0.1), b


def test_the_best_gaussian_ends_above_where_it_started(vae2d, model_digits):
    x = model_digits[:2]
    with torch.no_grad():
        q = vae2d.encode(x)
    mu0, ls0 = q.base_dist.loc, q.base_dist.scale.log()
    mu, ls = best_gaussian(vae2d, x, mu0, ls0, steps=100, samples=16, seed=3)
    eps = torch.randn((4096, 2, 2), generator=torch.Generator().manual_seed(99))  # fresh draws, shared by both

    def elbo(m, s):
        with torch.no_grad():
            recon, kl = elbo_terms(vae2d, x, m, s, eps)
        return recon.mean(0) - kl

    before, after = elbo(mu0, ls0), elbo(mu, ls)
    assert (after >= before - 0.01).all(), (before, after)
    unchanged = best_gaussian(vae2d, x, mu0, ls0, steps=0)
    assert torch.equal(unchanged[0], mu0) and torch.equal(unchanged[1], ls0)
    with pytest.raises(ValueError, match="steps must be"):
        best_gaussian(vae2d, x, mu0, ls0, steps=-1)


def test_a_latent_of_more_than_two_dimensions_uses_the_named_importance_weighted_bound(vae32d, model_digits):
    g = gaps(vae32d, model_digits[:1], steps=5, samples=8, eval_samples=256, iwae_k=64)
    assert g.method == "IWAE-64 lower bound" and g.mu_best.shape == (1, 32)
    assert torch.allclose(g.approximation + g.amortization, g.total, atol=1e-9)


def test_the_optimizer_runs_in_a_thread_that_holds_autograd_off(vae2d, model_digits):
    """A server's worker thread may be left in inference mode by an earlier handler (a generator suspended inside
    `torch.inference_mode()`): the best Gaussian is still found there."""
    with torch.inference_mode():
        q = vae2d.encode(model_digits[:1])
        mu, _ = best_gaussian(vae2d, model_digits[:1], q.base_dist.loc, q.base_dist.scale.log(), steps=5, samples=4)
    assert not torch.equal(mu, q.base_dist.loc)  # it moved
