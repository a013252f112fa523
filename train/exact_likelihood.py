"""log p(x) = log ∫ p(x|z) p(z) dz for a 2-D latent, by quadrature with a convergence check per image.

No bound: the integral itself, to a stated accuracy. For each image x:

1. A coarse grid over [−E, E]² (shared by all images: the decoder runs once on it) finds where the joint
   p(x, z) = p(x|z) p(z) has mass: the coarse cells within `threshold` nats of the largest, and one cell around
   them. Posteriors of a 2-D VAE can be narrow (σ ≈ 0.01) and have several modes; the union of cells follows
   each mode, unlike a single box.
2. Each of those cells is split into s × s sub-cells and the joint summed at their corners' grid (the rectangle
   rule on a uniform grid of step h = coarse step / s, restricted to the cells). The integrand is smooth and ~0 at
   the region's edge, so this is the trapezoid rule, whose error falls faster than any power of h (for a Gaussian
   of width σ, like exp(−2π²σ²/h²)). The same sum over every other node (step 2h) gives a second estimate; their
   difference, `step_change`, bounds the error of the coarser one, and the finer one is reported. While it exceeds
   `tol`, s doubles (up to `max_split`).
3. The integrand's largest value on the region's outer nodes, over its peak (`edge_ratio`), says whether it has
   died away there, so that the region held all the mass; a region that reaches the coarse grid's border is searched
   again on a grid twice as wide (up to 8 times the first).

`Likelihood` is what is integrated: the VAE's Bernoulli decoder (`BernoulliVAE`), or in the tests a
linear-Gaussian decoder whose p(x) is known in closed form. Imports only torch.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol

import torch
import torch.nn.functional as F


class Likelihood(Protocol):
    def grid(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x_b | z_g) for every image and grid point: z (G, 2), x (B, M) -> (B, G), float32 is enough."""

    def pairs(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x_p | z_p) row by row: z (P, 2), x (P, M) -> (P,) float64."""


class BernoulliVAE:
    """p(x|z) = Π_m B(x_m; σ(f_θ(z)_m)) of a 2-D VAE (train/models/vae.py), for the quadrature."""

    def __init__(self, model: torch.nn.Module):
        if model.latent_dim != 2:
            raise ValueError(f"quadrature needs a 2-D latent; this model has {model.latent_dim}")
        self.model = model

    @torch.no_grad()
    def grid(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        logits = self.model.decode_logits(z)  # (G, M)
        # Σ_m x_m log σ(l_m) + (1 − x_m) log σ(−l_m): two sums of non-positive terms (no cancellation in float32)
        return x @ F.logsigmoid(logits).T + (1 - x) @ F.logsigmoid(-logits).T  # (B, G)

    @torch.no_grad()
    def pairs(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        logits = self.model.decode_logits(z).double()  # the network in float32; the sums in float64
        return (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(1)


def log_prior(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) for z (..., 2)."""
    return -0.5 * z.pow(2).sum(-1) - math.log(2 * math.pi)


class ExactLogPx(NamedTuple):
    log_px: torch.Tensor  # (B,) float64, nats
    step_change: torch.Tensor  # (B,) |estimate at step h − at step 2h|: bounds the error of the coarser one
    edge_ratio: torch.Tensor  # (B,) the integrand at the region's edge over its peak: ~0 when it held the mass
    split: torch.Tensor  # (B,) int: sub-cells per coarse cell side that met the tolerance
    cells: torch.Tensor  # (B,) int: coarse cells integrated over
    extent: torch.Tensor  # (B,) the half-width E of the coarse search grid that found the region


def _regions(lik: Likelihood, x: torch.Tensor, extent: float, coarse: int, threshold: float
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """For each image: which coarse cells to integrate (B, n, n) bool, and whether its region touches the grid's
    border (B,). Cells are centred on the nodes of a `coarse`-node grid over [−extent, extent]²."""
    nodes = torch.linspace(-extent, extent, coarse)
    zz = torch.stack(torch.meshgrid(nodes, nodes, indexing="ij"), -1).reshape(-1, 2)  # (n², 2)
    lj = torch.empty(len(x), coarse * coarse)
    for s in range(0, len(zz), 4096):
        lj[:, s : s + 4096] = lik.grid(zz[s : s + 4096], x) + log_prior(zz[s : s + 4096])
    lj = lj.view(len(x), coarse, coarse)
    core = lj > lj.flatten(1).max(1).values[:, None, None] - threshold
    grown = F.max_pool2d(core[:, None].float(), 3, stride=1, padding=1)[:, 0] > 0  # one cell around
    border = torch.zeros(coarse, coarse, dtype=torch.bool)
    border[0], border[-1], border[:, 0], border[:, -1] = True, True, True, True
    return grown, (grown & border).flatten(1).any(1)


def _integrate(lik: Likelihood, x: torch.Tensor, cells: torch.Tensor, extent: float, split: int
               ) -> tuple[float, float, float]:
    """log of the rectangle-rule sum over `cells` (n, n) of one image x (M,), with `split` sub-steps per coarse
    step, and the same with every other node (2h); and the integrand's largest value on the region's outer nodes
    (those whose neighbour lies outside it) over its largest anywhere: ~0 when it has died away at the edge."""
    n = cells.shape[0]
    step = 2 * extent / (n - 1)
    h = step / split
    offsets = (torch.arange(split) * h - step / 2).double()  # nodes from the cell's lower edge, step h
    idx = cells.nonzero()  # (C, 2)
    centres = (idx.double() * step - extent)  # (C, 2)
    oi, oj = torch.meshgrid(offsets, offsets, indexing="ij")
    z = (centres[:, None, :] + torch.stack([oi.flatten(), oj.flatten()], -1)[None]).reshape(-1, 2)  # (C·s², 2)
    lj = torch.empty(len(z), dtype=torch.float64)
    for s in range(0, len(z), 16384):
        zc = z[s : s + 16384]
        lj[s : s + 16384] = lik.pairs(zc.float(), x[None].expand(len(zc), -1)) + log_prior(zc)
    lj = lj.view(len(idx), split, split)
    fine = torch.logsumexp(lj.flatten(), 0) + 2 * math.log(h)
    half = torch.logsumexp(lj[:, ::2, ::2].flatten(), 0) + 2 * math.log(2 * h) if split > 1 else fine
    padded = F.pad(cells, (1, 1, 1, 1))  # a neighbour beyond the grid is outside the region
    i, j = idx[:, 0] + 1, idx[:, 1] + 1
    outer = torch.zeros(len(idx), split, split, dtype=torch.bool)
    outer[~padded[i - 1, j], 0, :] = True
    outer[~padded[i + 1, j], -1, :] = True
    outer[~padded[i, j - 1], :, 0] = True
    outer[~padded[i, j + 1], :, -1] = True
    edge = lj[outer].max() - lj.max()
    return float(fine), float(half), math.exp(float(edge))


@torch.no_grad()
def exact_log_px(lik: Likelihood, x: torch.Tensor, extent: float = 6.0, coarse: int = 129, threshold: float = 25.0,
                 tol: float = 0.01, first_split: int = 2, max_split: int = 64, progress=None) -> ExactLogPx:
    """log p(x) of each image x: (B, M), with its convergence record (see the module's docstring). `progress`, if
    given, is called with the number of images done."""
    B = len(x)
    out = {k: torch.zeros(B, dtype=torch.float64) for k in ("log_px", "step_change", "edge_ratio", "extent")}
    split_used, n_cells = torch.zeros(B, dtype=torch.long), torch.zeros(B, dtype=torch.long)
    for s in range(0, B, 500):
        xs = x[s : s + 500]
        cells, at_border = _regions(lik, xs, extent, coarse, threshold)
        for b in range(len(xs)):
            e, c = extent, cells[b]
            while at_border[b] and e < 8 * extent:  # the region reaches the border: search a grid twice as wide
                e *= 2
                c2, edge2 = _regions(lik, xs[b : b + 1], e, coarse, threshold)
                c, at_border[b] = c2[0], edge2[0]
            split = first_split
            while True:
                fine, half, edge = _integrate(lik, xs[b].double(), c, e, split)
                if abs(fine - half) <= tol or split >= max_split:
                    break
                split *= 2
            i = s + b
            out["log_px"][i], out["step_change"][i], out["edge_ratio"][i], out["extent"][i] = \
                fine, abs(fine - half), edge, e
            split_used[i], n_cells[i] = split, int(c.sum())
        if progress is not None:
            progress(min(s + 500, B))
    return ExactLogPx(out["log_px"], out["step_change"], out["edge_ratio"], split_used, n_cells, out["extent"])


def effective_sample_size(log_w: torch.Tensor) -> torch.Tensor:
    """Kish's effective sample size (Σ w)² / Σ w² of importance weights given as logs, along the last dim."""
    return torch.exp(2 * torch.logsumexp(log_w, -1) - torch.logsumexp(2 * log_w, -1))
