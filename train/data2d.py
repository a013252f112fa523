"""Points in the plane for the 2-D diffusion model: the two Gaussian mixtures of train/mixture2d.py, whose
diffused marginals are known exactly, and three sets whose are not (two moons, a spiral, a checkerboard); and the
energy distance, the sample-quality figure that fits 2-D data.

Every set is drawn from an explicit torch.Generator, so a seed repeats it, as (n, 2) float64 spread over about
[−3, 3]², the scale at which the forward process's N(0, I) noise swamps the data at t = T.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from train.mixture2d import MIXTURES

DT = torch.float64


def moons(n: int, generator: torch.Generator | None = None, noise: float = 0.08) -> torch.Tensor:
    """Two interleaved half circles (scikit-learn's make_moons, centred and scaled by 1.5)."""
    k = torch.rand(n, generator=generator, dtype=DT) < 0.5
    a = torch.rand(n, generator=generator, dtype=DT) * math.pi
    x = torch.where(k, torch.cos(a), 1 - torch.cos(a))
    y = torch.where(k, torch.sin(a), 0.5 - torch.sin(a))
    pts = torch.stack([x - 0.5, y - 0.25], 1) * 1.5
    return pts + noise * torch.randn(n, 2, generator=generator, dtype=DT)


def spiral(n: int, generator: torch.Generator | None = None, noise: float = 0.05) -> torch.Tensor:
    """One arm turning twice around the origin, radius growing from 0.3 to 2.7 (a Swiss roll seen from its end)."""
    s = torch.rand(n, generator=generator, dtype=DT)
    angle, radius = 4 * math.pi * s, 0.3 + 2.4 * s
    pts = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], 1)
    return pts + noise * torch.randn(n, 2, generator=generator, dtype=DT)


def checkerboard(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform on the black squares of a 4 × 4 board over [−2, 2]²: sharp edges no smooth density has."""
    cell = torch.randint(0, 8, (n,), generator=generator)  # the 8 black squares, numbered row by row
    row = cell // 2
    col = 2 * (cell % 2) + row % 2
    u = torch.rand(n, 2, generator=generator, dtype=DT)
    return torch.stack([col + u[:, 0], row + u[:, 1]], 1) - 2.0


# the data's differential entropy E[−log q(x)] in nats where it has a closed form: the checkerboard is uniform on 8
# unit squares, q = 1/8 on them (the mixtures' is computed from their exact density, train/mixture2d.py)
ENTROPY = {"checkerboard": math.log(8.0)}


def _mixture(make: Callable) -> Callable[..., torch.Tensor]:
    def draw(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return make().sample(n, generator)

    return draw


DATASETS: dict[str, Callable[..., torch.Tensor]] = {
    **{name: _mixture(make) for name, make in MIXTURES.items()},
    "moons": moons,
    "spiral": spiral,
    "checkerboard": checkerboard,
}


def sample(name: str, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """n points of the data set `name`: (n, 2) float64."""
    if name not in DATASETS:
        raise ValueError(f"unknown 2-D data set {name!r}; choose one of {', '.join(DATASETS)}")
    if n < 1:
        raise ValueError(f"n = {n} points: need at least 1")
    return DATASETS[name](n, generator)


def energy_distance(x: torch.Tensor, y: torch.Tensor, chunk: int = 2048) -> float:
    """The energy distance between the samples x: (n, 2) and y: (m, 2) (Székely & Rizzo 2013, eq. 2, its V-statistic):
    2 E‖X − Y‖ − E‖X − X'‖ − E‖Y − Y'‖, never negative, 0 only when both are one distribution. Pairwise distances are
    summed in chunks of rows, in float64."""
    def mean_dist(a: torch.Tensor, b: torch.Tensor) -> float:
        total = sum(float(torch.cdist(a[i:i + chunk].double(), b.double(),
                                      compute_mode="donot_use_mm_for_euclid_dist").sum())  # exact, not via ‖a‖² + ‖b‖²
                    for i in range(0, len(a), chunk))
        return total / (len(a) * len(b))

    return 2 * mean_dist(x, y) - mean_dist(x, x) - mean_dist(y, y)
