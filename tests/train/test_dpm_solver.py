"""DPM-Solver++(2M) against diffusers' independent implementation, and its order of accuracy on Gaussian data,
where the probability-flow ODE's solution is known in closed form."""

import itertools
import math

import pytest
import torch

from train.diffusion import GaussianDiffusion

diffusers = pytest.importorskip("diffusers", reason="diffusers is a test dependency: pip install -e '.[test]'")


def _eps_model(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A fixed, nonlinear stand-in for ε_θ that depends on z and t, so every coefficient of the solver matters."""
    s = (t.to(z.dtype) / 1000.0).view(-1, *([1] * (z.dim() - 1)))
    return torch.tanh(0.7 * z + s) * (0.5 + s) + 0.1 * torch.sin(3.0 * z)


@pytest.mark.parametrize("steps", [1, 2, 5, 10, 20, 50])
def test_matches_diffusers_dpm_solver_multistep(steps):
    d = GaussianDiffusion(1000, "linear")
    seq = d.timesteps(steps)
    sched = diffusers.DPMSolverMultistepScheduler(
        num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear", solver_order=2,
        prediction_type="epsilon", algorithm_type="dpmsolver++", solver_type="midpoint", thresholding=False,
        lower_order_final=False, final_sigmas_type="zero")
    sched.set_timesteps(timesteps=seq)
    assert sched.timesteps.tolist() == seq
    z_T = torch.randn(4, 1, 6, 6, generator=torch.Generator().manual_seed(steps))
    ours = list(d.dpm_solver_pp_sample_progressive(_eps_model, z_T.shape, steps, z_T=z_T.clone(), clip=False))
    assert [s.t for s in ours] == seq
    z = z_T.clone()
    for k, t in enumerate(sched.timesteps):
        eps = _eps_model(z, torch.full((z.shape[0],), int(t)))
        z = sched.step(eps, t, z).prev_sample
        torch.testing.assert_close(ours[k].z_prev, z, rtol=1e-4, atol=1e-4)


def test_steps_yield_what_the_network_said():
    d = GaussianDiffusion(1000, "linear")
    z_T = torch.randn(3, 1, 5, 5, generator=torch.Generator().manual_seed(1))
    for clip in (False, True):
        for step in d.dpm_solver_pp_sample_progressive(_eps_model, z_T.shape, 10, z_T=z_T.clone(), clip=clip):
            t = torch.full((3,), step.t)
            eps = _eps_model(step.z_t, t)
            x0 = d.predict_x0_from_eps(step.z_t, t, eps)
            if clip:
                assert step.x0.abs().max() <= 1.0
                x0 = x0.clamp(-1, 1)
                torch.testing.assert_close(d.predict_x0_from_eps(step.z_t, t, step.eps), x0, rtol=1e-4, atol=1e-4)
            else:
                torch.testing.assert_close(step.eps, eps)
            torch.testing.assert_close(step.x0, x0)
    last = step  # the loop's final step lands on its own x̂_0
    torch.testing.assert_close(last.z_prev, last.x0)


def _gaussian_data_eps(d: GaussianDiffusion, s: float):
    """The exact ε-prediction E[ε | z_t] for data x ~ N(0, s² I): ε̂ = σ_t z / (ᾱ_t s² + σ_t²)."""

    def eps(z, t):
        a = d.alphas_cumprod.double()[t].view(-1, *([1] * (z.dim() - 1)))
        return (1 - a).sqrt() * z / (a * s * s + 1 - a)

    return eps


def test_second_order_on_gaussian_data():
    """For Gaussian data the probability-flow ODE maps z_T to z_T · s / √(ᾱ_T s² + 1 − ᾱ_T). Halving the step
    size divides DDIM's error by about 2 (first order) and DPM-Solver++(2M)'s by about 4 (second order), once the
    steps are fine enough that its first-order first and last steps no longer dominate (from about 40 steps on this
    time-uniform grid)."""
    d = GaussianDiffusion(1000, "linear").double()
    s = 0.5
    eps = _gaussian_data_eps(d, s)
    z_T = torch.randn(64, 1, 1, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    a_T = float(d.alphas_cumprod.double()[-1])
    exact = z_T * s / math.sqrt(a_T * s * s + 1 - a_T)

    def error(sampler, steps):
        gen = (d.dpm_solver_pp_sample_progressive(eps, z_T.shape, steps, z_T=z_T.clone(), clip=False)
               if sampler == "dpm" else d.ddim_sample_progressive(eps, z_T.shape, steps, z_T=z_T.clone(), clip=False))
        *_, last = gen
        return (last.z_prev - exact).abs().max().item()

    dpm = [error("dpm", n) for n in (40, 80, 160)]
    ddim = [error("ddim", n) for n in (40, 80, 160)]
    assert dpm[2] < ddim[2] / 3
    for coarse, fine in itertools.pairwise(dpm):
        assert coarse / fine > 3.0
    for coarse, fine in itertools.pairwise(ddim):
        assert 1.5 < coarse / fine < 3.0


def test_sample_names_the_sampler():
    d = GaussianDiffusion(50, "linear")
    x = d.sample(_eps_model, (2, 1, 4, 4), "dpmpp2m", 5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (2, 1, 4, 4)
    with pytest.raises(ValueError, match="sampler must be"):
        d.sample(_eps_model, (2, 1, 4, 4), "heun", 5)


def test_heun_solves_the_probability_flow_ode_of_gaussian_data_to_second_order():
    """Data N(0, s² I): in x = z/√ᾱ, σ = √((1 − ᾱ)/ᾱ) the exact ε* is σx/(s² + σ²), so the probability-flow ODE
    dx/dσ = ε* has the solution x(σ) = x(σ_max)·√(s² + σ²)/√(s² + σ_max²), and its end at σ = 0 is known exactly.
    Heun's error falls about 4× when the steps double (second order); DDIM's (Euler in these variables) about 2×."""
    import math
    from collections import deque

    from train.diffusion import GaussianDiffusion

    d, s = GaussianDiffusion(1000, "linear"), 0.5
    ac = d.alphas_cumprod.double()

    def eps_star(z, t):
        a = ac[t].view(-1, 1)
        sigma = ((1 - a) / a).sqrt()
        x = z.double() / a.sqrt()
        return (sigma * x / (s * s + sigma * sigma)).float()

    z_T = torch.randn(64, 2, generator=torch.Generator().manual_seed(0)).double()
    sig_max = math.sqrt((1 - float(ac[-1])) / float(ac[-1]))
    exact = z_T * math.sqrt(1 + sig_max**2) * s / math.sqrt(s * s + sig_max**2)

    def err(gen):
        return float((deque(gen, maxlen=1)[0].z_prev.double() - exact).abs().max())

    heun = [err(d.heun_sample_progressive(eps_star, (64, 2), n, z_T=z_T)) for n in (10, 20, 40)]
    ddim = [err(d.ddim_sample_progressive(eps_star, (64, 2), n, 0.0, z_T=z_T, clip=False)) for n in (10, 20, 40)]
    assert heun[-1] < 0.05 and heun[0] / heun[1] > 3 and heun[1] / heun[2] > 3, heun  # (Karras's steps)
    assert 1.5 < ddim[1] / ddim[2] < 3 and heun[-1] < ddim[-1] / 3, ddim
    calls = []
    d.heun_sample_progressive(lambda z, t: calls.append(1) or eps_star(z, t), (4, 2), 7, z_T=z_T[:4]).__next__()
    calls.clear()
    deque(d.heun_sample_progressive(lambda z, t: calls.append(1) or eps_star(z, t), (4, 2), 7, z_T=z_T[:4]), 0)
    assert len(calls) == 2 * 7 - 1



def test_the_three_step_spacings_run_from_the_noisiest_step_to_the_cleanest():
    from train.diffusion import GaussianDiffusion

    d = GaussianDiffusion(1000, "linear")
    for spacing in ("uniform", "karras", "logsnr"):
        seq = d.timesteps(10, spacing)
        assert seq[0] == 999 and seq[-1] == 0 and seq == sorted(set(seq), reverse=True) and len(seq) >= 9
    ac = d.alphas_cumprod.double()
    lam = [float(0.5 * torch.log(ac[i] / (1 - ac[i]))) for i in d.timesteps(6, "logsnr")]
    gaps = [b - a for a, b in itertools.pairwise(lam)]
    assert max(gaps) / min(gaps) < 1.2  # evenly spaced in log-SNR, up to rounding to trained steps
    with pytest.raises(ValueError, match="spacing must be"):
        d.timesteps(5, "cosine")
