"""What the 2-D diffusion lab draws, computed on the server from a DDPM2D (train/models/ddpm2d.py), its data set's
reference density (train/mixture2d.py) and the shared samplers (train/diffusion.py); the page only plays it back.

- The reference q(x): the exact mixture for ring8 and uneven3 and for points a user draws (each point a small
  Gaussian, `DRAW_STD`); for moons, spiral and checkerboard a Gaussian KDE of `KDE_POINTS` data points, which is
  again a mixture, so that every q(z_t), its score and ε* come from the same closed form (approximate, and said so).
- The field table (`field_table`): at `field_ts(T)` (every T/100 steps), the learned ε_θ and the reference ε* on an
  ARROWS × ARROWS grid, the reference density q(z_t) on a HEAT × HEAT grid and the error ‖ε_θ − ε*‖ on an
  ERR × ERR grid, with the error's mean under q(z_t), where the reference is exact (a KDE's field is not the
  field the network was trained towards, so its difference would not be the network's error). The page draws any
  t of the table within a display frame.
- A particle run (`particle_run`): N points from one z_T through DDPM (all T steps) or DDIM (S steps, η), every
  step's z_t and ε̂, and the reference's x and y marginals at each step's t for the histograms (in the positions
  file, after the positions).

Arrays go to the page as little-endian binary files: int16 for the fields and positions (`quantize`: value =
code × scale, the scale in the header), uint8 for the heat maps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from train.data2d import DATASETS, sample
from train.mixture2d import DT, MIXTURES, Mixture2D, eps_star
from train.models.ddpm2d import DDPM2D

EXTENT = 3.5  # the plane drawn: [−EXTENT, EXTENT]²; the data sets lie within ±3.3, z_T ~ N(0, I) mostly within ±3
ARROWS = 21  # arrows per side of the field
HEAT = 48  # density cells per side
ERR = 32  # error cells per side (each needs a network evaluation at each t)
BINS = 64  # histogram bins per axis
KDE_POINTS = 120  # data points in the KDE reference of a data set that is not a mixture
DRAW_STD = 0.12  # each drawn point is N(point, DRAW_STD² I): the drawn data set is this mixture, exactly
BUILTIN = tuple(DATASETS)  # the built-in data sets, in the order train/data2d.py lists them
MAX_FRAMES = 120  # frames of a particle run sent to the page: an even subsample keeping the first and the last


@dataclass(frozen=True)
class Reference:
    """A data set's density for the lab: `mixture` is exact when `exact`, else a KDE of the data (`note` says so)."""

    mixture: Mixture2D
    exact: bool
    note: str


def reference(name: str, points: torch.Tensor | None = None) -> Reference:
    """The reference of built-in data set `name`, or of `points` ((N, 2), a user's drawing) when given."""
    if points is not None:
        n = len(points)
        return Reference(Mixture2D(torch.full((n,), 1.0 / n, dtype=DT), points.to(DT),
                                   DRAW_STD**2 * torch.eye(2, dtype=DT).expand(n, 2, 2).clone()), True,
                         f"exact: your {n} points, each a Gaussian of standard deviation {DRAW_STD:g}")
    if name in MIXTURES:
        return Reference(MIXTURES[name](), True, "exact: the data set is a Gaussian mixture")
    x = sample(name, KDE_POINTS, torch.Generator().manual_seed(12345)).to(DT)
    h = float(x.std(0).mean()) * KDE_POINTS ** (-1 / 6)  # Scott's rule in two dimensions
    return Reference(Mixture2D(torch.full((KDE_POINTS,), 1.0 / KDE_POINTS, dtype=DT), x,
                               h**2 * torch.eye(2, dtype=DT).expand(KDE_POINTS, 2, 2).clone()), False,
                     f"approximate: a Gaussian KDE of {KDE_POINTS} data points (bandwidth {h:.3f}), diffused exactly")


def field_ts(T: int) -> list[int]:
    """The paper's t at which the field table is computed: every max(1, T // 100) steps, from that step to T."""
    step = max(1, T // 100)
    return list(range(step, T + 1, step))


def grid(n: int) -> torch.Tensor:
    """The centres of an n × n grid of cells over the plane, row by row from the top (y = +EXTENT) left: (n², 2)."""
    c = (torch.arange(n, dtype=DT) + 0.5) / n * 2 * EXTENT - EXTENT
    y, x = torch.meshgrid(c.flip(0), c, indexing="ij")
    return torch.stack([x.reshape(-1), y.reshape(-1)], dim=1)


def quantize(a: np.ndarray) -> tuple[np.ndarray, float]:
    """`a` as int16 codes and the scale that gives them back (value ≈ code × scale, within scale / 2)."""
    top = float(np.abs(a).max()) if a.size else 0.0
    scale = top / 32767 if top > 0 else 1.0
    return np.round(a / scale).astype("<i2"), scale


def alpha_bar(model: DDPM2D, t: int) -> float:
    """ᾱ_t at the paper's step t ∈ {0, …, T}, from the model's own schedule (train/diffusion.py)."""
    return model.diffusion.coefficients(t)[0] ** 2


@torch.inference_mode()
def field_table(model: DDPM2D, ref: Reference) -> tuple[dict, bytes]:
    """(header, blob): at each t of `field_ts`, ε_θ and ε* on the arrow grid (int16, (K, ARROWS², 2) each), q(z_t) on
    the heat grid (uint8, (K, HEAT²), each t scaled to its own maximum) and ‖ε_θ − ε*‖ on the error grid (uint8,
    (K, ERR²), on one scale for all t, `err_max`; only when the reference is exact), one after another."""
    ts = field_ts(model.diffusion.T)
    arrows, heat, cells = grid(ARROWS), grid(HEAT), grid(ERR)
    learned, exact, dens, err, err_mean = [], [], [], [], []
    for t in ts:
        a = alpha_bar(model, t)
        q_t = ref.mixture.diffused(a)
        at_ = cells if ref.exact else cells[:0]
        z = torch.cat([arrows, at_])
        eps = model(z.float(), torch.full((len(z),), t - 1)).double()  # the network's index is the paper's t − 1
        learned.append(eps[: len(arrows)])
        exact.append(eps_star(ref.mixture, a, arrows))
        p = q_t.log_prob(heat).exp()
        dens.append(p / p.max())
        if ref.exact:
            e = (eps[len(arrows):] - eps_star(ref.mixture, a, cells)).norm(dim=1)
            err.append(e)
            w = q_t.log_prob(cells).exp()
            err_mean.append(float((w * e).sum() / w.sum()))  # the error's mean under q(z_t), on the error grid
    learned_q, learned_s = quantize(torch.stack(learned).numpy())
    exact_q, exact_s = quantize(torch.stack(exact).numpy())
    dens_u8 = np.round(torch.stack(dens).sqrt().numpy() * 255).astype(np.uint8)  # √ so that thin tails show
    err_max, err_u8 = 0.0, np.zeros(0, np.uint8)
    if err:
        err_all = torch.stack(err)
        err_max = float(err_all.max())
        err_u8 = np.round((err_all / err_max).clamp(0, 1).numpy() * 255).astype(np.uint8)
    header = {"ts": ts, "sqrt_ab": [math.sqrt(alpha_bar(model, t)) for t in ts], "extent": EXTENT, "arrows": ARROWS,
              "heat": HEAT, "err": ERR, "learned_scale": learned_s,
              "exact_scale": exact_s, "err_max": err_max, "err_mean": err_mean, "exact": ref.exact, "note": ref.note}
    return header, b"".join(x.tobytes() for x in (learned_q, exact_q, dens_u8, err_u8))


EXCESS_TS = 64  # timesteps of `excess_loss`, evenly spread over 1 … T
EXCESS_PER_T = 64  # points per timestep


@torch.inference_mode()
def excess_loss(model: DDPM2D, mixture: Mixture2D, seed: int = 0) -> tuple[float, float, float]:
    """How far the network is from the exact denoiser, as a number whose floor is 0: E_t E_{q(z_t)} ‖ε_θ(z_t, t) −
    ε*(z_t, t)‖² / 2, t uniform on 1 … T, per coordinate as the training loss is (train/diffusion.py averages
    L_simple over the dimensions). Since ε* = E[ε | z_t], the simple loss splits as L_simple(θ) = this +
    E‖ε − ε*‖² / 2 (the second term: the loss of the exact denoiser), so this is the part of the training loss that
    training can still remove. A Monte Carlo estimate: EXCESS_TS evenly spread t (a stratified draw of t), EXCESS_PER_T
    points of q(z_t) each, drawn with `seed`, so that estimates made during one training use the same points and
    their differences are the network's. Returns (estimate, its standard error, the same points' estimate of the
    floor E‖ε − ε*‖² / 2, the loss of the exact denoiser)."""
    g = torch.Generator().manual_seed(seed)
    T = model.diffusion.T
    ts = np.unique(np.linspace(1, T, EXCESS_TS).round().astype(int))
    sq, floor = [], []
    for t in ts:
        a = alpha_bar(model, int(t))
        x = mixture.sample(EXCESS_PER_T, g)
        noise = torch.randn(x.shape, dtype=x.dtype, generator=g)
        z = math.sqrt(a) * x + math.sqrt(1 - a) * noise
        eps = model(z.float(), torch.full((len(z),), int(t) - 1)).double()  # the network's index is t − 1
        star = eps_star(mixture, a, z)
        sq.append(((eps - star) ** 2).mean(1))
        floor.append(((noise - star) ** 2).mean(1))
    per_t = torch.stack(sq)  # (EXCESS_TS, EXCESS_PER_T)
    # stratified: the mean of the per-t means; its variance is the mean of their variances over the strata
    se = math.sqrt(float(per_t.var(1).mean()) / per_t.numel())
    return float(per_t.mean()), se, float(torch.stack(floor).mean())


def marginals(ref: Reference, a: float) -> np.ndarray:
    """q(z_t)'s x and y marginal densities at ᾱ = a, averaged over each of BINS bins of [−EXTENT, EXTENT] (the
    chance of a bin, divided by its width, so they compare with a histogram of density): (2, BINS)."""
    q = ref.mixture.diffused(a)
    edges = torch.linspace(-EXTENT, EXTENT, BINS + 1, dtype=DT)
    out = []
    for axis in (0, 1):
        comp = torch.distributions.Normal(q.means[:, axis], q.covs[:, axis, axis].sqrt())
        cdf = comp.cdf(edges[:, None]) @ q.weights  # (BINS + 1,)
        out.append((cdf[1:] - cdf[:-1]) / (edges[1:] - edges[:-1]))
    return torch.stack(out).numpy()


def kept_frames(total: int, budget: int = MAX_FRAMES) -> list[int]:
    """Which of `total` frames are sent: all if they fit, else `budget` evenly spread, the first and last always."""
    if budget < 2:
        raise ValueError(f"budget = {budget}: at least 2 frames (the first and the last) are kept")
    if total <= budget:
        return list(range(total))
    return sorted({round(i * (total - 1) / (budget - 1)) for i in range(budget)})


@torch.inference_mode()
def particle_run(model: DDPM2D, ref: Reference, n: int, seed: int, sampler: str, steps: int,
                 eta: float) -> tuple[dict, bytes, bytes]:
    """n particles from z_T ~ N(0, I) (seeded by `seed`, the same for every sampler) through DDPM (all T steps,
    fresh noise drawn with seed + 1) or DDIM (`steps`, `eta`). Returns (header, positions, noise): positions are
    each kept frame's z_t, the last frame being the sample z_0 (int16, (F, n, 2)); noise the ε̂ the network predicted
    at each kept frame (int16, (F, n, 2); zero at z_0). The header names each frame's t, √ᾱ_t and √(1 − ᾱ_t) (for
    x̂_0 = (z_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t). The positions file goes on, at byte `marginals_at`, with the reference's
    x and y marginals at each kept frame's t (float32, (F, 2, BINS): `marginals`), for the histograms."""
    if sampler not in ("DDPM", "DDIM"):
        raise ValueError(f"sampler must be 'DDPM' or 'DDIM', not {sampler!r}")
    d = model.diffusion
    z_T = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
    g = torch.Generator().manual_seed(seed + 1)
    gen = (d.ddpm_sample_progressive(model, (n, 2), g, z_T=z_T, clip=False) if sampler == "DDPM" else
           d.ddim_sample_progressive(model, (n, 2), steps, eta, g, z_T=z_T, clip=False))
    zs, eps, ts, last = [], [], [], None
    for step in gen:
        zs.append(step.z_t)
        eps.append(step.eps)
        ts.append(step.t + 1)
        last = step
    zs.append(last.z_prev)
    eps.append(torch.zeros_like(last.z_prev))
    ts.append(0)
    keep = kept_frames(len(zs))
    pos_q, pos_s = quantize(torch.stack([zs[k] for k in keep]).numpy())
    eps_q, eps_s = quantize(torch.stack([eps[k] for k in keep]).numpy())
    coef = [d.coefficients(ts[k])[:2] for k in keep]
    header = {"n": n, "frames": len(keep), "computed": len(zs), "t": [ts[k] for k in keep],
              "sqrt_ab": [c[0] for c in coef], "sqrt_1mab": [c[1] for c in coef], "pos_scale": pos_s,
              "eps_scale": eps_s, "bins": BINS, "extent": EXTENT, "marginals_at": pos_q.nbytes}
    marg = np.stack([marginals(ref, alpha_bar(model, ts[k])) for k in keep]).astype("<f4")  # (F, 2, BINS)
    return header, pos_q.tobytes() + marg.tobytes(), eps_q.tobytes()


def run_marginals(header: dict, positions: bytes) -> np.ndarray:
    """The marginals a particle run's positions file carries after the positions: (F, 2, BINS) float32."""
    return np.frombuffer(positions, "<f4", header["frames"] * 2 * header["bins"],
                         header["marginals_at"]).reshape(header["frames"], 2, header["bins"])


def decode(blob: bytes, shape: tuple[int, ...], scale: float, offset: int = 0) -> np.ndarray:
    """The int16 codes at byte `offset` of `blob` as values of `shape` (what the page does): for tests."""
    count = math.prod(shape)
    return np.frombuffer(blob, dtype="<i2", count=count, offset=offset).reshape(shape) * scale
