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
