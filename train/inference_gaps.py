"""The ELBO's two gaps (Cremer, Li & Duvenaud 2018, "Inference Suboptimality in Variational Autoencoders", §3).

For one image x, the encoder's q_φ(z|x) falls short of log p(x) for two reasons:

    log p(x) − ELBO(q_φ)  =  [log p(x) − ELBO(q*)]  +  [ELBO(q*) − ELBO(q_φ)]
         total gap            approximation gap         amortization gap

q* = argmax over every diagonal Gaussian q(z) = N(μ, diag σ²) of ELBO(x; q), found for this x alone by optimizing
μ and log σ directly. The approximation gap is what the Gaussian family cannot do (it equals KL(q* || p(z|x)));
the amortization gap is what one encoder shared by every image loses against the best Gaussian for each.

How it is computed here:
- ELBO(x; q) = E_q[log p(x|z)] − KL(q || p(z)): the KL in closed form, the expectation by Monte Carlo with the
  reparameterization z = μ + σ ε.
- q* by Adam on the reparameterized ELBO with fresh ε every step, started at the encoder's q, μ in units of its
  σ, the step size decaying to 0 on a cosine; the last iterate.
- Both ELBOs are then estimated on one fresh set of ε shared by the two (common random numbers), so that their
  difference, the amortization gap, carries little Monte Carlo noise; its standard error is reported.
- log p(x): exact by quadrature for a 2-D latent (train/exact_likelihood.py), else the importance-weighted bound
  IWAE-K (Burda et al. 2015), a lower bound in expectation, which makes the approximation gap shown a lower bound
  on the true one. `method` says which.

Imports only torch (the explorer imports this file).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch.distributions import Independent, Normal, kl_divergence

from train.exact_likelihood import BernoulliVAE, exact_log_px

LOG_SIGMA_RANGE = (-12.0, 6.0)  # the encoder's own clamp (train/models/vae.py)


class Gaps(NamedTuple):
    """Per image, in nats; (B,) unless marked."""

    log_px: torch.Tensor
    method: str  # "exact (quadrature)" or "IWAE-K lower bound"
    elbo_encoder: torch.Tensor  # ELBO(q_φ)
    elbo_best: torch.Tensor  # ELBO(q*)
    amortization_stderr: torch.Tensor  # the Monte Carlo standard error of elbo_best − elbo_encoder
    mu_encoder: torch.Tensor  # (B, D)
    sigma_encoder: torch.Tensor  # (B, D)
    mu_best: torch.Tensor  # (B, D)
    sigma_best: torch.Tensor  # (B, D)

    @property
    def total(self) -> torch.Tensor:
        return self.log_px - self.elbo_encoder

    @property
    def approximation(self) -> torch.Tensor:
        return self.log_px - self.elbo_best

    @property
    def amortization(self) -> torch.Tensor:
        return self.elbo_best - self.elbo_encoder


def elbo_terms(model, x: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor, eps: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample reconstruction log p(x|z_s) (S, B) and KL(q || p(z)) (B,) for q = N(mu, diag exp(log_sigma)²).
    x: (B, M); mu, log_sigma: (B, D); eps: (S, B, D)."""
    sigma = log_sigma.clamp(*LOG_SIGMA_RANGE).exp()
    z = mu + sigma * eps  # (S, B, D)
    recon = model.decode(z).log_prob(x)  # (S, B)
    kl = kl_divergence(Independent(Normal(mu, sigma), 1), model.prior())  # (B,)
    return recon, kl


def best_gaussian(model, x: torch.Tensor, mu0: torch.Tensor, log_sigma0: torch.Tensor, steps: int = 300,
                  samples: int = 32, lr: float = 0.05, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """q* for each image: the (μ, log σ) that maximize ELBO(x; q), by Adam from (mu0, log_sigma0) with `samples`
    fresh draws of ε per step (stochastic gradients of the reparameterized ELBO). x: (B, M) -> two (B, D).

    μ moves in units of the starting σ (μ = mu0 + σ0·u, u optimized), so that one step size suits a posterior of
    width 0.01 and one of width 1 alike; the step size decays to 0 on a cosine, so the last iterate settles, and it is
    returned. (Optimizing one fixed set of ε instead overfits it: with 32 draws the result scored below the encoder's
    own q on fresh draws for some digits.)"""
    if steps < 0 or samples < 1:
        raise ValueError(f"steps must be ≥ 0 and samples ≥ 1, not {steps} and {samples}")
    with torch.inference_mode(False), torch.enable_grad():  # (a caller's thread may hold either off: a server's)
        return _adam(model, x, mu0.detach().clone(), log_sigma0.detach().clone(), steps, samples, lr, seed)


def _adam(model, x, mu0, log_sigma0, steps, samples, lr, seed):
    g = torch.Generator().manual_seed(seed)
    scale = log_sigma0.clamp(*LOG_SIGMA_RANGE).exp()
    u = torch.zeros_like(mu0, requires_grad=True)
    log_sigma = log_sigma0.clone().requires_grad_(True)
    opt = torch.optim.Adam([u, log_sigma], lr=lr)
    for step in range(steps):
        eps = torch.randn((samples, *mu0.shape), generator=g)
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        recon, kl = elbo_terms(model, x, mu0 + scale * u, log_sigma, eps)
        opt.zero_grad(set_to_none=True)
        (-(recon.mean(0) - kl).sum()).backward()  # the images' objectives are independent: one backward for all
        opt.step()
    return (mu0 + scale * u).detach(), log_sigma.detach()


def log_px_of(model, x: torch.Tensor, iwae_k: int = 1000, seed: int = 0) -> tuple[torch.Tensor, str]:
    """log p(x) exactly for a 2-D latent, else the IWAE-K estimate (a lower bound in expectation); and which."""
    if model.latent_dim == 2:
        return exact_log_px(BernoulliVAE(model), x).log_px, "exact (quadrature)"
    with torch.no_grad():
        est = model.log_likelihood(x, iwae_k, torch.Generator().manual_seed(seed)).double()
    return est, f"IWAE-{iwae_k} lower bound"


def gaps(model, x: torch.Tensor, steps: int = 300, samples: int = 32, eval_samples: int = 4096, lr: float = 0.05,
         seed: int = 0, iwae_k: int = 1000) -> Gaps:
    """The two gaps of each image x: (B, M) in {0, 1} (see the module's docstring)."""
    with torch.no_grad():
        q = model.encode(x)
        mu_e, sigma_e = q.base_dist.loc, q.base_dist.scale
    mu_b, log_sigma_b = best_gaussian(model, x, mu_e, sigma_e.log(), steps, samples, lr, seed)
    eps = torch.randn((eval_samples, *mu_e.shape), generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        elbos = []
        for mu, log_sigma in ((mu_e, sigma_e.log()), (mu_b, log_sigma_b)):
            per_sample = []
            for s in range(0, eval_samples, 512):
                recon, kl = elbo_terms(model, x, mu, log_sigma, eps[s : s + 512])
                per_sample.append((recon - kl).double())
            elbos.append(torch.cat(per_sample))  # (S, B)
        diff = elbos[1] - elbos[0]  # common random numbers: the same ε for both
        stderr = diff.std(0) / math.sqrt(eval_samples)
    log_px, method = log_px_of(model, x, iwae_k, seed)
    return Gaps(log_px, method, elbos[0].mean(0), elbos[1].mean(0), stderr, mu_e, sigma_e, mu_b,
                log_sigma_b.clamp(*LOG_SIGMA_RANGE).exp())
