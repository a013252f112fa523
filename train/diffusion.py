"""Gaussian diffusion: schedules, the forward process, the DDPM, DDIM and DPM-Solver++(2M) samplers, and the ELBO
term by term.

A diffusion model is a Markovian hierarchical VAE with a fixed encoder (Ho et al. 2020, "Denoising
Diffusion Probabilistic Models"; Luo 2022, "Understanding Diffusion Models: A Unified Perspective"):

    encoder   q(z_t | z_{t-1}) = N(√α_t z_{t-1}, (1 − α_t) I),   x = z_0           (Ho eq. 2)
              q(z_t | x)       = N(√ᾱ_t x, (1 − ᾱ_t) I),         ᾱ_t = Π_{s≤t} α_s  (Ho eq. 4)
    decoder   p_θ(z_{t-1} | z_t) = N(μ_θ(z_t, t), σ_t² I), with μ_θ from the predicted noise ε_θ(z_t, t)

Code names follow improved-diffusion (Nichol & Dhariwal 2021) and the papers:

| code                          | paper                          |
|-------------------------------|--------------------------------|
| betas[t]                      | β_t = 1 − α_t                  |
| alphas_cumprod[t]             | ᾱ_t                            |
| posterior_variance[t]         | β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)   (Ho eq. 7) |
| posterior_mean_coef1/2[t]     | the two weights of μ̃_t(z_t, x) (Ho eq. 7) |
| predict_x0_from_eps           | x̂_0 = (z_t − √(1−ᾱ_t) ε̂) / √ᾱ_t     (Ho eq. 4 solved for x) |

Timesteps are 0-based in code: index t ∈ {0, …, T−1} is the paper's step t+1. Images live in [−1, 1].
Imports only torch and math.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator
from typing import Literal, NamedTuple

import torch
from torch import nn

Schedule = Literal["linear", "cosine"]
LossWeighting = Literal["uniform", "min_snr"]
Sampler = Literal["ddpm", "ddim", "dpmpp2m"]


def linear_betas(T: int, beta_start: float = 1e-4, beta_end: float = 0.02, max_beta: float = 0.999) -> torch.Tensor:
    """β_t rising linearly (Ho et al. §4), scaled so any T spans the same noise range as T = 1000. float64.

    Clipped at `max_beta` like the cosine schedule: for T ≤ 50 the scaled β_T would reach 1, making ᾱ_T = 0.
    """
    scale = 1000 / T
    return torch.linspace(scale * beta_start, scale * beta_end, T, dtype=torch.float64).clamp(max=max_beta)


def cosine_betas(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """ᾱ_t = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2) (Nichol & Dhariwal eq. 17); β_t clipped. float64."""
    t = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - f[1:] / f[:-1]).clamp(max=max_beta)


def to_model_range(x: torch.Tensor) -> torch.Tensor:
    """Grey levels in [0, 1] -> the model's [−1, 1]."""
    return x * 2 - 1


def to_unit_range(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """[−scale, scale] -> [0, 1], clipped: model images (scale 1) or predicted noise (shown at scale 2) for display."""
    return ((x / scale + 1) / 2).clamp(0, 1)


def extract(a: torch.Tensor, t: torch.Tensor, x_shape: torch.Size) -> torch.Tensor:
    """a[t] reshaped to broadcast against x: a (T,), t (B,) -> (B, 1, 1, …)."""
    return a.gather(0, t).reshape(t.shape[0], *([1] * (len(x_shape) - 1)))


class Step(NamedTuple):
    """One step of a sampler: the index t it started from and what the network said there."""

    t: int  # 0-based index of z_t (the paper's t+1); the loop yields T−1 (or the first DDIM step) down to 0
    z_t: torch.Tensor  # (B, C, H, W) the noisy image the network saw
    eps: torch.Tensor  # (B, C, H, W) predicted noise ε_θ(z_t, t)
    x0: torch.Tensor  # (B, C, H, W) predicted clean image x̂_0, clipped to [−1, 1]
    z_prev: torch.Tensor  # (B, C, H, W) the sample of the next, less noisy step (the final image at t = 0)


class ELBOTerms(NamedTuple):
    """Negative ELBO of x in nats per image, term by term (Ho eq. 5); all (B,) or (B, T)."""

    prior: torch.Tensor  # L_T = KL(q(z_T | x) || N(0, I))  (B,)
    denoising: torch.Tensor  # L_{t-1} = KL(q(z_{t-1} | z_t, x) || p_θ(z_{t-1} | z_t)) for t = 2..T  (B, T−1)
    reconstruction: torch.Tensor  # L_0 = −log p_θ(x | z_1): discretized over 256 levels, or a density  (B,)

    def total(self) -> torch.Tensor:
        return self.prior + self.denoising.sum(1) + self.reconstruction

    def bits_per_dim(self, dims: int) -> torch.Tensor:
        return self.total() / (dims * math.log(2.0))


EpsModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (z_t, t) -> ε̂


class GaussianDiffusion(nn.Module):
    """The fixed forward process and the samplers. Schedules are computed in float64 and stored as float32
    buffers, so `.to(device)` moves them. The network is an argument, never a member."""

    def __init__(self, T: int = 1000, schedule: Schedule = "linear"):
        super().__init__()
        if schedule not in ("linear", "cosine"):
            raise ValueError(f"schedule must be 'linear' or 'cosine', not {schedule!r}")
        self.T, self.schedule = T, schedule
        betas = linear_betas(T) if schedule == "linear" else cosine_betas(T)
        alphas = 1.0 - betas
        ac = torch.cumprod(alphas, 0)
        ac_prev = torch.cat([torch.ones(1, dtype=torch.float64), ac[:-1]])
        post_var = betas * (1.0 - ac_prev) / (1.0 - ac)  # β̃_t (Ho eq. 7)
        bufs = {
            "betas": betas,
            "alphas_cumprod": ac,
            "alphas_cumprod_prev": ac_prev,
            "sqrt_alphas_cumprod": ac.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1.0 - ac).sqrt(),
            "sqrt_recip_alphas_cumprod": (1.0 / ac).sqrt(),
            "sqrt_recipm1_alphas_cumprod": (1.0 / ac - 1.0).sqrt(),
            "posterior_variance": post_var,
            # β̃_1 = 0: log-variance clipped to β̃_2 at t = 1, as in improved-diffusion
            "posterior_log_variance_clipped": torch.log(torch.cat([post_var[1:2], post_var[1:]])),
            "posterior_mean_coef1": betas * ac_prev.sqrt() / (1.0 - ac),
            "posterior_mean_coef2": (1.0 - ac_prev) * alphas.sqrt() / (1.0 - ac),
            "log_snr": torch.log(ac / (1.0 - ac)),
        }
        for k, v in bufs.items():
            self.register_buffer(k, v.float(), persistent=False)

    # --- forward process -------------------------------------------------------------------------
    def coefficients(self, t: int) -> tuple[float, float, float]:
        """(√ᾱ_t, √(1−ᾱ_t), SNR = ᾱ_t/(1−ᾱ_t)) at the paper's step t ∈ {0, …, T}; t = 0 is the data itself."""
        if not 0 <= t <= self.T:
            raise ValueError(f"t = {t} is outside the allowed range [0, {self.T}]")
        if t == 0:
            return 1.0, 0.0, math.inf
        a = float(self.alphas_cumprod[t - 1])  # index t − 1 is the paper's step t
        return math.sqrt(a), math.sqrt(1.0 - a), a / (1.0 - a)

    def q_sample_at(self, x0: torch.Tensor, t: int, noise: torch.Tensor) -> torch.Tensor:
        """z_t at the paper's step t ∈ {0, …, T} for every image of x0 (t = 0: x0 itself). x0, noise: (B, …)."""
        self.coefficients(t)  # checks t
        if t == 0:
            return x0
        return self.q_sample(x0, torch.full((x0.shape[0],), t - 1, dtype=torch.long, device=x0.device), noise)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """z_t = √ᾱ_t x + √(1−ᾱ_t) ε  (Ho eq. 4, reparameterized). x0, noise: (B, …), t: (B,)."""
        return (extract(self.sqrt_alphas_cumprod, t, x0.shape) * x0
                + extract(self.sqrt_one_minus_alphas_cumprod, t, x0.shape) * noise)

    def q_posterior_mean_variance(self, x0: torch.Tensor, z_t: torch.Tensor, t: torch.Tensor):
        """q(z_{t−1} | z_t, x) = N(μ̃_t, β̃_t I)  (Ho eqs. 6–7). Returns mean, variance, clipped log-variance."""
        mean = (extract(self.posterior_mean_coef1, t, z_t.shape) * x0
                + extract(self.posterior_mean_coef2, t, z_t.shape) * z_t)
        return (mean, extract(self.posterior_variance, t, z_t.shape),
                extract(self.posterior_log_variance_clipped, t, z_t.shape))

    def predict_x0_from_eps(self, z_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x̂_0 = (z_t − √(1−ᾱ_t) ε̂) / √ᾱ_t  (Ho eq. 4 solved for x)."""
        return (extract(self.sqrt_recip_alphas_cumprod, t, z_t.shape) * z_t
                - extract(self.sqrt_recipm1_alphas_cumprod, t, z_t.shape) * eps)

    def predict_eps_from_x0(self, z_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        return ((extract(self.sqrt_recip_alphas_cumprod, t, z_t.shape) * z_t - x0)
                / extract(self.sqrt_recipm1_alphas_cumprod, t, z_t.shape))

    def training_loss(self, model: EpsModel, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor,
                      weighting: LossWeighting = "uniform", snr_gamma: float = 5.0) -> torch.Tensor:
        """L_simple = ‖ε − ε_θ(z_t, t)‖², averaged over pixels: (B,)  (Ho eq. 14), times `loss_weight(t)`."""
        eps = model(self.q_sample(x0, t, noise), t)
        loss = (eps.float() - noise).pow(2).flatten(1).mean(1)
        return loss if weighting == "uniform" else loss * self.loss_weight(t, weighting, snr_gamma)

    def loss_weight(self, t: torch.Tensor, weighting: LossWeighting, snr_gamma: float = 5.0) -> torch.Tensor:
        """The weight of each timestep's ε-loss: 1 ("uniform", Ho eq. 14), or min(SNR_t, γ) / SNR_t ("min_snr",
        Hang et al. 2023, "Efficient Diffusion Training via Min-SNR Weighting Strategy", eq. 11 written for
        ε-prediction): steps whose SNR exceeds γ, the nearly clean ones that are easy to denoise, weigh less, so
        the gradient is not spent on them at the expense of the noisy steps that decide a sample's shape. t: (B,)."""
        if weighting == "uniform":
            return torch.ones(t.shape, device=t.device)
        if weighting != "min_snr":
            raise ValueError(f"weighting must be 'uniform' or 'min_snr', not {weighting!r}")
        if not snr_gamma > 0:
            raise ValueError(f"snr_gamma = {snr_gamma} must be > 0")
        snr = self.log_snr.gather(0, t).exp()
        return snr.clamp(max=snr_gamma) / snr

    # --- reverse process -------------------------------------------------------------------------
    def p_mean_variance(self, model: EpsModel, z_t: torch.Tensor, t: torch.Tensor, clip: bool = True):
        """p_θ(z_{t−1} | z_t) = N(μ̃_t(z_t, x̂_0), β̃_t I): the posterior with x replaced by the prediction.

        Returns (mean, log-variance, ε̂, x̂_0). With the true x this is exactly q(z_{t−1} | z_t, x).
        """
        eps = model(z_t, t).float()
        x0 = self.predict_x0_from_eps(z_t, t, eps)
        if clip:
            x0 = x0.clamp(-1.0, 1.0)
        mean, _, log_var = self.q_posterior_mean_variance(x0, z_t, t)
        return mean, log_var, eps, x0

    def predict(self, model: EpsModel, z_t: torch.Tensor, i: int, clip: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(ε̂, x̂_0) of the network at index i for the whole batch z_t; with `clip`, x̂_0 clipped to [−1, 1] and ε̂
        recomputed from it, so the two stay consistent (DDIM's and DPM-Solver++'s steps)."""
        t = torch.full((z_t.shape[0],), i, device=z_t.device, dtype=torch.long)
        eps = model(z_t, t).float()
        x0 = self.predict_x0_from_eps(z_t, t, eps)
        if clip:
            x0 = x0.clamp(-1.0, 1.0)
            eps = self.predict_eps_from_x0(z_t, t, x0)
        return eps, x0

    def timesteps(self, steps: int, spacing: str = "uniform") -> list[int]:
        """`steps` timestep indices from T−1 down to 0. "uniform": evenly spaced in t (DDIM's τ; all of them when
        steps = T); "karras": evenly spaced in σ^(1/ρ), ρ = 7, with σ = √((1 − ᾱ)/ᾱ) (Karras et al. 2022, eq. 5),
        which spends the steps where the probability-flow ODE bends, near the data; "logsnr": evenly spaced in
        λ = log(α/σ) (Lu et al. 2022's recommendation for DPM-Solver). The last two are rounded to the nearest
        trained timestep (the network knows no other), so a few may coincide and fewer than `steps` remain."""
        if not 1 <= steps <= self.T:
            raise ValueError(f"steps = {steps} is outside the allowed range [1, {self.T}]")
        if spacing not in ("uniform", "karras", "logsnr"):
            raise ValueError(f"spacing must be 'uniform', 'karras' or 'logsnr', not {spacing!r}")
        if steps == 1:
            return [self.T - 1]
        if spacing == "uniform":
            return sorted({round(i * (self.T - 1) / (steps - 1)) for i in range(steps)}, reverse=True)
        ac = self.alphas_cumprod.double()
        value = ((1 - ac) / ac).sqrt() ** (1 / 7) if spacing == "karras" else 0.5 * torch.log(ac / (1 - ac))
        targets = torch.linspace(float(value[-1]), float(value[0]), steps, dtype=torch.float64)
        idx = (value[None, :] - targets[:, None]).abs().argmin(1)  # the nearest trained timestep to each
        return sorted({int(i) for i in idx}, reverse=True)

    @torch.no_grad()
    def ddpm_sample_progressive(self, model: EpsModel, shape: tuple[int, ...], generator: torch.Generator | None = None,
                                z_T: torch.Tensor | None = None, clip: bool = True) -> Iterator[Step]:
        """Ancestral sampling (Ho Algorithm 2): z_{t−1} = μ_θ(z_t, t) + σ_t ε, σ_t² = β̃_t, no noise at the end."""
        dev = self.betas.device
        z = torch.randn(shape, generator=generator, device=dev) if z_T is None else z_T
        for i in reversed(range(self.T)):
            t = torch.full((shape[0],), i, device=dev, dtype=torch.long)
            mean, log_var, eps, x0 = self.p_mean_variance(model, z, t, clip)
            noise = (torch.randn(shape, generator=generator, device=dev, dtype=z.dtype) if i > 0
                     else torch.zeros_like(z))
            z_prev = mean + (0.5 * log_var).exp() * noise
            yield Step(i, z, eps, x0, z_prev)
            z = z_prev

    @torch.no_grad()
    def ddim_sample_progressive(self, model: EpsModel, shape: tuple[int, ...], steps: int = 50, eta: float = 0.0,
                                generator: torch.Generator | None = None, z_T: torch.Tensor | None = None,
                                clip: bool = True) -> Iterator[Step]:
        """DDIM (Song et al. 2021, eq. 12) on a subsequence of `steps` timesteps; η = 0 is deterministic,
        η = 1 with every step equals DDPM's ancestral sampler."""
        if not 0.0 <= eta <= 1.0 or math.isnan(eta):
            raise ValueError(f"eta = {eta} is outside the allowed range [0, 1]")
        dev = self.betas.device
        z = torch.randn(shape, generator=generator, device=dev) if z_T is None else z_T
        seq = self.timesteps(steps)
        for k, i in enumerate(seq):
            eps, x0 = self.predict(model, z, i, clip)
            a_t = self.alphas_cumprod[i]
            a_prev = self.alphas_cumprod[seq[k + 1]] if k + 1 < len(seq) else torch.tensor(1.0, device=dev)
            sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()  # Song eq. 16
            dir_zt = (1 - a_prev - sigma**2).clamp(min=0).sqrt() * eps  # "direction pointing to x_t"
            noise = torch.randn(shape, generator=generator, device=dev, dtype=z.dtype) if k + 1 < len(seq) else 0.0
            z_prev = a_prev.sqrt() * x0 + dir_zt + sigma * noise
            yield Step(i, z, eps, x0, z_prev)
            z = z_prev

    @torch.no_grad()
    def dpm_solver_pp_sample_progressive(self, model: EpsModel, shape: tuple[int, ...], steps: int = 20,
                                         generator: torch.Generator | None = None, z_T: torch.Tensor | None = None,
                                         clip: bool = True, spacing: str = "uniform") -> Iterator[Step]:
        """DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion
        Probabilistic Models", Algorithm 2): a second-order multistep solver of the probability-flow ODE written for
        the data prediction x̂_0, on the same `steps` timesteps as DDIM (or spaced evenly in log-SNR, `spacing`
        "logsnr", as Lu et al. recommend), one network call each.

        With α_t = √ᾱ_t, σ_t = √(1 − ᾱ_t), λ_t = log(α_t / σ_t) and h = λ_s − λ_t for a step from t to s < t:

            z_s = (σ_s / σ_t) z_t − α_s (e^{−h} − 1) D,      D = (1 + 1/(2r)) x̂_0(t) − 1/(2r) x̂_0(t_prev)

        where r = h_prev / h is the previous step's h over this one's. The first step has no earlier x̂_0 and takes
        D = x̂_0(t): the first-order solver, which is DDIM with η = 0 (Lu et al. §4.1). The last step goes
        to the clean image, σ = 0 and λ = ∞, where the first-order step lands on x̂_0 itself, as DDIM's last does.
        With `clip`, x̂_0 is clipped to [−1, 1] before it enters D (and ε̂ recomputed from it): the data prediction's
        advantage (Lu §4: thresholding). Deterministic after z_T.
        """
        dev = self.betas.device
        z = torch.randn(shape, generator=generator, device=dev) if z_T is None else z_T
        seq = self.timesteps(steps, spacing)
        ac = self.alphas_cumprod.double()

        def alpha_sigma_lambda(i: int) -> tuple[float, float, float]:
            a = float(ac[i])
            return math.sqrt(a), math.sqrt(1.0 - a), 0.5 * math.log(a / (1.0 - a))

        x0_prev, h_prev = None, None
        for k, i in enumerate(seq):
            eps, x0 = self.predict(model, z, i, clip)
            if k + 1 == len(seq):
                z_prev = x0
            else:
                _, sigma_t, lam_t = alpha_sigma_lambda(i)
                alpha_s, sigma_s, lam_s = alpha_sigma_lambda(seq[k + 1])
                h = lam_s - lam_t
                if x0_prev is None:
                    d = x0
                else:
                    half_over_r = 0.5 * h / h_prev  # 1/(2r), r = h_prev / h
                    d = (1.0 + half_over_r) * x0 - half_over_r * x0_prev
                z_prev = (sigma_s / sigma_t) * z - alpha_s * math.expm1(-h) * d
                x0_prev, h_prev = x0, h
            yield Step(i, z, eps, x0, z_prev)
            z = z_prev

    @torch.no_grad()
    def heun_sample_progressive(self, model: EpsModel, shape: tuple[int, ...], steps: int = 20,
                                generator: torch.Generator | None = None, z_T: torch.Tensor | None = None,
                                spacing: str = "karras") -> Iterator[Step]:
        """Heun's second-order method on the probability-flow ODE (Karras et al. 2022, "Elucidating the Design Space
        of Diffusion-Based Generative Models", Algorithm 1, deterministic), on `steps` timesteps spaced as they
        recommend (`timesteps(steps, spacing)`; "uniform" gives DDIM's).

        In the variables x = z / √ᾱ and σ = √((1 − ᾱ)/ᾱ) the ODE is dx/dσ = ε(z, t): the predicted noise itself. From
        σ_i to σ_{i+1} an Euler step x' = x + (σ_{i+1} − σ_i) ε(x_i) is corrected with the slope at its end,
        x_{i+1} = x + (σ_{i+1} − σ_i) (ε(x_i) + ε(x')) / 2; the last step, to σ = 0, is Euler's, which lands on x̂_0.
        Network calls: 2·steps − 1. No clipping (an ODE solver's state is not a clipped image)."""
        dev = self.betas.device
        z = torch.randn(shape, generator=generator, device=dev) if z_T is None else z_T
        seq = self.timesteps(steps, spacing)
        ac = self.alphas_cumprod.double()
        sig = [math.sqrt((1.0 - float(ac[i])) / float(ac[i])) for i in seq]

        def eps_at(x: torch.Tensor, k: int) -> torch.Tensor:  # ε at the k-th timestep, from x in the σ variables
            return self.predict(model, x / math.sqrt(1.0 + sig[k] ** 2), seq[k], clip=False)[0]

        x = z * math.sqrt(1.0 + sig[0] ** 2)  # z / √ᾱ
        d = eps_at(x, 0)
        for k, i in enumerate(seq):
            z_t = x / math.sqrt(1.0 + sig[k] ** 2)
            x0 = x - sig[k] * d  # x̂_0 = (z − √(1 − ᾱ) ε) / √ᾱ
            if k + 1 == len(seq):
                yield Step(i, z_t, d, x0, x0)
                return
            h = sig[k + 1] - sig[k]
            x_euler = x + h * d
            d_end = eps_at(x_euler, k + 1)
            x = x + h * 0.5 * (d + d_end)
            eps_now, d = d, eps_at(x, k + 1)
            yield Step(i, z_t, eps_now, x0, x / math.sqrt(1.0 + sig[k + 1] ** 2))

    def sample(self, model: EpsModel, shape: tuple[int, ...], sampler: Sampler = "ddim",
               steps: int = 50, eta: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """The sampler run to the end: the final images, (B, C, H, W) in [−1, 1]. `steps` and `eta` are DDIM's;
        DPM-Solver++(2M) takes `steps` and ignores `eta`; DDPM takes all T steps."""
        if sampler == "ddpm":
            gen = self.ddpm_sample_progressive(model, shape, generator)
        elif sampler == "ddim":
            gen = self.ddim_sample_progressive(model, shape, steps, eta, generator)
        elif sampler == "dpmpp2m":
            gen = self.dpm_solver_pp_sample_progressive(model, shape, steps, generator)
        else:
            raise ValueError(f"sampler must be 'ddpm', 'ddim' or 'dpmpp2m', not {sampler!r}")
        return deque(gen, maxlen=1)[0].z_prev  # run the generator to its last step

    # --- the ELBO --------------------------------------------------------------------------------
    @torch.no_grad()
    def elbo_terms(self, model: EpsModel, x0: torch.Tensor, generator: torch.Generator | None = None,
                   t_indices: list[int] | None = None, batch: int = 250,
                   progress: Callable[[int, int], None] | None = None,
                   decoder: Literal["discretized", "gaussian"] = "discretized") -> ELBOTerms:
        """Every term of the negative ELBO (Ho eq. 5): for images x0 in [−1, 1] on the 256-level grid with the
        discretized decoder (Ho eq. 13), a bound on −log P(x) in nats; for continuous data (the 2-D points) with
        `decoder="gaussian"`, L_0 = −log N(x; μ_θ(z_1, 1), σ_1² I), and the total bounds the density's −log p(x).

        Each denoising term uses one sample z_t ~ q(z_t | x) per image. (image, t) pairs are batched, up to
        `batch` per network call, so `model` must accept any batch size (the unconditional ε_θ does).
        `t_indices` restricts the work to some steps (the others stay 0); by default all T are computed.
        `progress(done, total)` is called after each network call with the number of timesteps done.
        """
        if decoder not in ("discretized", "gaussian"):
            raise ValueError(f"decoder must be 'discretized' or 'gaussian', not {decoder!r}")
        B, dev = x0.shape[0], x0.device
        mean_T = extract(self.sqrt_alphas_cumprod, torch.full((B,), self.T - 1, device=dev), x0.shape) * x0
        var_T = 1.0 - self.alphas_cumprod[-1]
        prior = normal_kl(mean_T, torch.log(var_T).expand_as(x0), torch.zeros_like(x0),
                          torch.zeros_like(x0)).flatten(1).sum(1)  # L_T
        denoising = torch.zeros(B, self.T - 1, device=dev)
        reconstruction = torch.zeros(B, device=dev)
        ts = list(t_indices) if t_indices is not None else list(range(self.T))
        per_call = max(1, batch // B)
        for s in range(0, len(ts), per_call):
            tt = torch.tensor(ts[s : s + per_call], device=dev)  # (k,)
            k = len(tt)
            x = x0.repeat(k, *([1] * (x0.dim() - 1)))  # (k·B, …), t-major
            t = tt.repeat_interleave(B)
            z_t = self.q_sample(x, t, torch.randn(x.shape, generator=generator, device=dev))
            mean, log_var, _, _ = self.p_mean_variance(model, z_t, t, clip=False)
            q_mean, _, q_log_var = self.q_posterior_mean_variance(x, z_t, t)
            kl = normal_kl(q_mean, q_log_var, mean, log_var).flatten(1).sum(1).view(k, B)  # L_{t-1}
            # L_0 = −log p_θ(x | z_1): a Gaussian integrated over each pixel's bin (Ho eq. 13), or its density
            ll = (discretized_gaussian_log_likelihood(x, mean, 0.5 * log_var) if decoder == "discretized" else
                  -0.5 * (math.log(2 * math.pi) + log_var + (x - mean) ** 2 * torch.exp(-log_var)))
            nll = -ll.flatten(1).sum(1).view(k, B)
            for j, ti in enumerate(tt.tolist()):
                if ti == 0:
                    reconstruction = nll[j]
                else:
                    denoising[:, ti - 1] = kl[j]
            if progress is not None:
                progress(min(s + per_call, len(ts)), len(ts))
        return ELBOTerms(prior, denoising, reconstruction)


def normal_kl(mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor, logvar2: torch.Tensor) -> torch.Tensor:
    """KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) elementwise, in nats."""
    return 0.5 * (logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2) - 1.0)


def _std_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def discretized_gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """log ∫ N(y; mean, e^{2 log_scale}) dy over the bin of x (Ho eq. 13): bins of width 2/255 on [−1, 1],
    the two end bins extended to ±∞. x must lie on the 256-level grid. Elementwise, in nats."""
    centered = x - mean
    inv = torch.exp(-log_scale)
    cdf_plus = _std_normal_cdf(inv * (centered + 1.0 / 255.0))
    cdf_minus = _std_normal_cdf(inv * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_minus = torch.log((1.0 - cdf_minus).clamp(min=1e-12))
    log_delta = torch.log((cdf_plus - cdf_minus).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_minus, log_delta))
