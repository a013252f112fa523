"""Typed per-user state and parsed requests: what travels between Gradio and the maths.

Each is made once, from checked inputs, and frozen: a handler that receives one need not check it again.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.distributions import Independent, Normal

from explorer import checks

CLASS_NONE = "none (unconditional)"
CLASSES = [CLASS_NONE, *[str(c) for c in range(10)]]
MAX_SAMPLES = 16  # images side by side in one reverse-process run
MAX_GUIDANCE = 10.0


@dataclass(frozen=True)
class EncodedDigit:
    """A binary digit as one VAE's encoder saw it: x and q(z|x) = N(mu, diag(sigma²)), and what it is."""

    x: torch.Tensor  # (784,) in {0, 1}
    model: str  # the VAE lab's model name ("2-D latent", ...) that encoded it
    mu: torch.Tensor  # (D,)
    sigma: torch.Tensor  # (D,)
    label: str  # what the user picked, for captions: "test digit #3 (a 0)", "your drawing", "your upload"

    @property
    def latent_dim(self) -> int:
        return self.mu.shape[0]

    def posterior(self) -> Independent:
        """q(z|x) as a distribution with batch shape (1,) and event shape (D,), as VAE.encode returns it."""
        return Independent(Normal(self.mu[None], self.sigma[None]), 1)


DPM_SOLVER = "DPM-Solver++(2M)"  # Lu et al. 2022: train/diffusion.py's dpm_solver_pp_sample_progressive
SAMPLERS = ("DDIM", DPM_SOLVER, "DDPM")


@dataclass(frozen=True)
class SamplerRequest:
    """One reverse-process run, checked: sampler, step count, η, seed, batch, class and guidance."""

    sampler: str  # one of SAMPLERS: "DDIM", DPM_SOLVER (both `steps` steps) or "DDPM" (all T steps)
    steps: int  # 1..T; T for DDPM
    eta: float  # DDIM's η in [0, 1]; 1 for DDPM (ancestral sampling is DDIM with η = 1 on every step); 0 for
    # DPM-Solver++, which solves the probability-flow ODE (deterministic, like DDIM with η = 0)
    seed: int
    n: int  # samples side by side
    label: int | None  # class, or None for the unconditional model
    guidance: float  # classifier-free guidance scale w; 0 when unconditional (it has no effect there)

    @classmethod
    def parse(cls, T: int, num_classes: int, sampler, steps, eta, seed, n, label, guidance) -> SamplerRequest:
        sampler = checks.choice("Sampler", sampler, SAMPLERS)
        label = checks.choice("Class", label, CLASSES)
        y = None if label == CLASS_NONE or not num_classes else int(label)
        w = checks.number("Guidance scale w", guidance, 0.0, MAX_GUIDANCE)
        return cls(
            sampler=sampler,
            steps=T if sampler == "DDPM" else checks.number("Steps", steps, 1, T, integer=True),
            eta=checks.number("η", eta, 0.0, 1.0) if sampler == "DDIM" else {"DDPM": 1.0, DPM_SOLVER: 0.0}[sampler],
            seed=checks.seed(seed),
            n=checks.number("Samples", n, 1, MAX_SAMPLES, integer=True),
            label=y,
            guidance=0.0 if y is None else w,  # without a class there is nothing to guide towards
        )

    def describe(self) -> str:
        """'DDIM, 50 steps, η = 0, seed 0, class 3, w = 2' (for status lines, captions and file names)."""
        steps = f"{self.steps} step{'s' if self.steps != 1 else ''}"
        what = {"DDPM": f"DDPM, all {steps}", DPM_SOLVER: f"{DPM_SOLVER}, {steps}"}.get(
            self.sampler, f"DDIM, {steps}, η = {self.eta:g}")
        cls = "unconditional" if self.label is None else f"class {self.label}, w = {self.guidance:g}"
        return f"{what}, seed {self.seed}, {cls}"
