"""What classifier-free guidance samples, in two dimensions where everything is exact.

Take a Gaussian mixture p(x) = Σ_k π_k N(μ_k, Σ_k) and call its components the classes: p(x | c) = N(μ_c, Σ_c).
Classifier-free guidance (Ho & Salimans 2022) with scale w replaces the conditional noise prediction by

    ε̃(z_t, t) = (1 + w) ε(z_t, t | c) − w ε(z_t, t),

which, at every t, is the noise prediction of the *tilted* density q_t(z | c)^(1+w) q_t(z)^(−w) (its score is
(1 + w) ∇ log q_t(z | c) − w ∇ log q_t(z)). It is tempting to conclude that the sampler then draws from the tilted
data density p(x | c)^(1+w) p(x)^(−w) / Z. It does not: the tilted densities at different t are not the diffused
versions of one another, so the reverse process follows no single forward process (Chidambaram et al. 2024, "What
does guidance do? A fine-grained analysis in a simple setting"). Here both sides are exact: the data's ε* is known in
closed form for every t (train/mixture2d.py), the tilted density is normalized on a grid, and the two sample sets
are compared by their energy distance.

Imports only torch.
"""

from __future__ import annotations

import math
from collections import deque

import torch

from train.diffusion import GaussianDiffusion
from train.mixture2d import DT, Mixture2D, eps_star


def component(mix: Mixture2D, c: int) -> Mixture2D:
    """p(x | c): the mixture's component c alone."""
    if not 0 <= c < len(mix.weights):
        raise ValueError(f"class {c} is outside 0 … {len(mix.weights) - 1}")
    return Mixture2D(torch.ones(1, dtype=DT), mix.means[c : c + 1], mix.covs[c : c + 1])


def tilted_grid(mix: Mixture2D, c: int, w: float, extent: float = 3.5, n: int = 281
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The tilted density p(x | c)^(1+w) p(x)^(−w) / Z on an n × n grid over [−extent, extent]²: (axis (n,),
    log density (n, n) indexed [y, x], cell area h²), normalized so that its grid sum times h² is 1."""
    axis = torch.linspace(-extent, extent, n, dtype=DT)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    z = torch.stack([xx.flatten(), yy.flatten()], 1)
    logd = (1 + w) * component(mix, c).log_prob(z) - w * mix.log_prob(z)
    h = float(axis[1] - axis[0])
    logd = logd - (torch.logsumexp(logd, 0) + 2 * math.log(h))
    return axis, logd.view(n, n), torch.tensor(h * h, dtype=DT)


def sample_grid(axis: torch.Tensor, logd: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """n exact draws from a gridded density: a cell by its mass, then a uniform point in it. (n, 2)."""
    h = float(axis[1] - axis[0])
    cell = torch.multinomial(torch.softmax(logd.flatten(), 0), n, replacement=True, generator=generator)
    iy, ix = cell // len(axis), cell % len(axis)
    jitter = (torch.rand(n, 2, dtype=DT, generator=generator) - 0.5) * h
    return torch.stack([axis[ix], axis[iy]], 1) + jitter


def cfg_sample(mix: Mixture2D, c: int, w: float, diffusion: GaussianDiffusion, n: int, steps: int = 50,
               seed: int = 0) -> torch.Tensor:
    """n samples of DDIM (η = 0, `steps` steps) run with the exact guided noise prediction
    (1 + w) ε*(z | c) − w ε*(z), from z_T ~ N(0, I) drawn with `seed`. (n, 2) float64."""
    cond = component(mix, c)
    abar = diffusion.alphas_cumprod.double()

    def guided(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = float(abar[int(t[0])])
        z = z.double()
        return ((1 + w) * eps_star(cond, a, z) - w * eps_star(mix, a, z)).float()

    g = torch.Generator().manual_seed(seed)
    z_T = torch.randn(n, 2, generator=g)
    gen = diffusion.ddim_sample_progressive(guided, (n, 2), min(steps, diffusion.T), 0.0, g, z_T=z_T, clip=False)
    return deque(gen, maxlen=1)[0].z_prev.double()
