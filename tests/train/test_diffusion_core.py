"""The diffusion maths against closed forms and an oracle noise predictor."""

import math

import pytest
import torch

from train.diffusion import GaussianDiffusion, cosine_betas, linear_betas


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_schedule_values(schedule):
    d = GaussianDiffusion(1000, schedule)
    ac = d.alphas_cumprod.double()
    assert (ac[1:] < ac[:-1]).all() and 0 < ac[-1] < 1e-3 and ac[0] > 0.99
    betas = linear_betas(1000) if schedule == "linear" else cosine_betas(1000)
    assert torch.allclose(ac, torch.cumprod(1 - betas, 0), rtol=1e-6)
    ac64 = torch.cumprod(1 - betas, 0)
    ac_prev = torch.cat([torch.ones(1, dtype=torch.float64), ac64[:-1]])
    expected = betas * (1 - ac_prev) / (1 - ac64)  # β̃_t (Ho eq. 7), in float64
    assert torch.allclose(d.posterior_variance.double(), expected, rtol=1e-5, atol=1e-12)
    assert d.posterior_variance[0] == 0 and (d.posterior_variance[1:] < betas[1:].float() + 1e-9).all()


def test_linear_and_cosine_closed_forms():
    b = linear_betas(1000)
    assert math.isclose(b[0], 1e-4) and math.isclose(b[-1], 0.02)
    t, T, s = 500, 1000, 0.008
    f = lambda u: math.cos((u / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    assert math.isclose(torch.cumprod(1 - cosine_betas(T), 0)[t - 1].item(), f(t) / f(0), rel_tol=1e-9)


def test_q_sample_moments():
    d = GaussianDiffusion(1000)
    x = torch.full((20000, 1, 1, 1), 0.7)
    t = torch.full((20000,), 300)
    z = d.q_sample(x, t, torch.randn_like(x, generator=torch.Generator().manual_seed(0)))
    a = d.alphas_cumprod[300]
    assert abs(z.mean() - a.sqrt() * 0.7) < 0.02 and abs(z.var() - (1 - a)) < 0.02


def _oracle(d, x):
    """ε(z_t, t) that returns exactly the noise in z_t for the known clean images x; batches of k·B tile x
    t-major, as elbo_terms does."""

    def eps(z, t):
        xx = x.repeat(z.shape[0] // x.shape[0], *([1] * (x.dim() - 1)))
        return (z - d.sqrt_alphas_cumprod[t].view(-1, 1, 1, 1) * xx) / d.sqrt_one_minus_alphas_cumprod[t].view(
            -1, 1, 1, 1
        )

    return eps


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_oracle_noise_predictor_recovers_x(sampler):
    d = GaussianDiffusion(200, "cosine").double()
    x = torch.rand(3, 1, 8, 8, dtype=torch.float64) * 2 - 1
    g = torch.Generator().manual_seed(0)
    shape = x.shape
    steps = list(
        d.ddpm_sample_progressive(_oracle(d, x), shape, g, z_T=torch.randn(shape, dtype=torch.float64))
        if sampler == "ddpm"
        else d.ddim_sample_progressive(_oracle(d, x), shape, 20, 0.0, g, z_T=torch.randn(shape, dtype=torch.float64))
    )
    assert torch.allclose(steps[-1].z_prev, x, atol=1e-6)
    # x̂_0 divides by √ᾱ_t, which amplifies the float32 rounding of the stored schedule where ᾱ_t is tiny
    well_conditioned = [s for s in steps if d.alphas_cumprod[s.t] > 1e-2]
    assert len(well_conditioned) >= 5
    assert all(torch.allclose(s.x0, x, atol=1e-5) for s in well_conditioned)


def test_training_loss_is_zero_for_the_oracle():
    d = GaussianDiffusion(100)
    x = torch.rand(4, 1, 5, 5) * 2 - 1
    t = torch.randint(0, 100, (4,))
    noise = torch.randn_like(x)
    assert d.training_loss(_oracle(d, x), x, t, noise).max() < 1e-8


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("T", [10, 20, 50])
def test_short_schedules_stay_finite(schedule, T):
    d = GaussianDiffusion(T, schedule)
    assert d.betas.max() < 1 and d.alphas_cumprod[-1] > 0
    for name in (
        "posterior_variance",
        "posterior_log_variance_clipped",
        "posterior_mean_coef1",
        "posterior_mean_coef2",
        "sqrt_recip_alphas_cumprod",
        "sqrt_recipm1_alphas_cumprod",
    ):
        assert torch.isfinite(getattr(d, name)).all(), name


def test_one_ddpm_step_matches_ho_equation_11():
    """Reference: z_{t−1} = (z_t − β_t/√(1−ᾱ_t) ε̂)/√α_t + σ_t w, σ_t² = β̃_t (Ho et al. 2020, eq. 11, Alg. 2)."""
    d = GaussianDiffusion(1000, "linear").double()
    model = lambda z, t: torch.tanh(z * 0.7 + t.view(-1, 1, 1, 1) / 1000)  # noqa: E731  any fixed ε̂
    z = torch.randn(2, 1, 4, 4, dtype=torch.float64)
    first = next(d.ddpm_sample_progressive(model, z.shape, torch.Generator().manual_seed(5), z_T=z, clip=False))
    w = torch.randn(z.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    t = 999
    b = linear_betas(1000)
    a_bar = torch.cumprod(1 - b, 0)
    eps = model(z, torch.full((2,), t))
    mean = (z - b[t] / (1 - a_bar[t]).sqrt() * eps) / (1 - b[t]).sqrt()
    var = b[t] * (1 - a_bar[t - 1]) / (1 - a_bar[t])
    assert torch.allclose(first.z_prev, mean + var.sqrt() * w, atol=1e-5)


def test_one_ddim_step_matches_song_equation_12():
    """Reference: z_{τ−1} = √ᾱ_{τ−1} x̂_0 + √(1−ᾱ_{τ−1}−σ²) ε̂ + σ w, σ from eq. 16 (Song et al. 2021)."""
    d = GaussianDiffusion(1000, "cosine").double()
    model = lambda z, t: torch.sin(z + t.view(-1, 1, 1, 1) / 500)  # noqa: E731
    z = torch.randn(3, 1, 4, 4, dtype=torch.float64)
    eta, steps = 0.6, 10
    first = next(
        d.ddim_sample_progressive(model, z.shape, steps, eta, torch.Generator().manual_seed(9), z_T=z, clip=False)
    )
    a_bar = torch.cumprod(1 - cosine_betas(1000), 0)
    seq = d.timesteps(steps)
    t, t_prev = seq[0], seq[1]
    eps = model(z, torch.full((3,), t))
    x0 = (z - (1 - a_bar[t]).sqrt() * eps) / a_bar[t].sqrt()
    sigma = eta * ((1 - a_bar[t_prev]) / (1 - a_bar[t]) * (1 - a_bar[t] / a_bar[t_prev])).sqrt()
    w = torch.randn(z.shape, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    ref = a_bar[t_prev].sqrt() * x0 + (1 - a_bar[t_prev] - sigma**2).sqrt() * eps + sigma * w
    assert seq[0] == 999 and seq[-1] == 0 and len(seq) == steps
    # x̂_0 divides by √ᾱ_999 ≈ 5e-5 here, magnifying the float32 rounding of the stored schedule
    assert torch.allclose(first.z_prev, ref, rtol=1e-3, atol=1e-3)


def test_ddim_with_eta_one_and_every_step_is_ddpm():
    d = GaussianDiffusion(50, "linear").double()
    model = lambda z, t: 0.3 * z  # noqa: E731
    z = torch.randn(2, 1, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    a = list(d.ddpm_sample_progressive(model, z.shape, torch.Generator().manual_seed(1), z_T=z, clip=False))
    b = list(d.ddim_sample_progressive(model, z.shape, 50, 1.0, torch.Generator().manual_seed(1), z_T=z, clip=False))
    # equal in exact arithmetic; DDPM uses the stored posterior coefficients and DDIM ᾱ, both float32-rounded
    assert all(torch.allclose(x.z_prev, y.z_prev, rtol=1e-4, atol=1e-5) for x, y in zip(a, b, strict=True))


def test_elbo_terms_oracle_and_sum():
    """With the oracle ε, p_θ(z_{t−1}|z_t) is exactly q(z_{t−1}|z_t, x): every denoising KL is 0."""
    d = GaussianDiffusion(40, "cosine").double()
    x = (torch.randint(0, 256, (2, 1, 4, 4)).double() / 255) * 2 - 1  # on the 256-level grid
    terms = d.elbo_terms(_oracle(d, x), x, torch.Generator().manual_seed(0), batch=1000)
    assert terms.denoising.abs().max() < 1e-8
    assert torch.allclose(terms.total(), terms.prior + terms.reconstruction)
    assert (terms.prior >= 0).all() and (terms.reconstruction > 0).all()
    assert torch.allclose(terms.bits_per_dim(16), terms.total() / (16 * math.log(2)))


def test_elbo_terms_batched_over_t_equals_one_t_at_a_time():
    d = GaussianDiffusion(30, "linear")
    model = lambda z, t: 0.5 * z  # noqa: E731
    x = torch.rand(3, 1, 4, 4) * 2 - 1
    a = d.elbo_terms(model, x, torch.Generator().manual_seed(0), batch=3)  # one t per call
    b = d.elbo_terms(model, x, torch.Generator().manual_seed(0), batch=1000)  # all t at once
    assert torch.allclose(a.total(), b.total(), rtol=0.05)  # the same terms, different noise draws
    assert a.denoising.shape == (3, 29) and (a.denoising > 0).all()


def test_the_continuous_elbo_bounds_a_gaussians_entropy_from_above():
    """decoder="gaussian" (the 2-D points): for x ~ N(0, s² I) in two dimensions and the exact noise predictor
    ε*(z_t) = √(1 − ᾱ_t) z_t / (ᾱ_t s² + 1 − ᾱ_t), the mean negative ELBO is at least the entropy log(2πe s²) (the
    ELBO bounds log p(x); the mean of −log p over p is its entropy); a predictor for the wrong s does worse; and
    L_0 is −log N(x; μ_θ(z_1, 1), σ_1²), recomputed with torch.distributions."""
    d, s = GaussianDiffusion(200), 0.5
    x = s * torch.randn(4000, 2, generator=torch.Generator().manual_seed(0))

    def oracle(var):
        def eps(z, t):
            a = d.alphas_cumprod[t][:, None]
            return (1 - a).sqrt() * z / (a * var + 1 - a)
        return eps

    def nelbo(model, seed=1):
        return d.elbo_terms(model, x, torch.Generator().manual_seed(seed), batch=40_000, decoder="gaussian")

    total = nelbo(oracle(s**2)).total().double()
    entropy = math.log(2 * math.pi * math.e * s**2)
    assert float(total.mean()) > entropy - 3 * float(total.std()) / math.sqrt(len(x))
    assert float(nelbo(oracle(1.0)).total().mean()) > float(total.mean()) + 0.1
    # L_0 by hand: z_1 drawn as elbo_terms draws it at t index 0 (the first call's noise, t-major)
    g = torch.Generator().manual_seed(1)
    t0 = torch.zeros(len(x), dtype=torch.long)
    z1 = d.q_sample(x, t0, torch.randn(x.shape, generator=g))
    mean, log_var, _, _ = d.p_mean_variance(oracle(s**2), z1, t0, clip=False)
    by_hand = -torch.distributions.Normal(mean, (0.5 * log_var).exp()).log_prob(x).sum(1)
    torch.testing.assert_close(nelbo(oracle(s**2), seed=1).reconstruction, by_hand, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="decoder must be 'discretized' or 'gaussian', not 'laplace'"):
        d.elbo_terms(oracle(s**2), x[:2], decoder="laplace")
