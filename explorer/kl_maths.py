"""The KL lab's computations, in float64, with torch.distributions for every density and closed form.

    KL(p || q) = E_p[log p(x) − log q(x)] = ∫ p(x) log(p(x)/q(x)) dx ≥ 0   (Jensen: −log is convex)

For Gaussians `kl_divergence` gives the closed form; for a Gaussian mixture there is none, and the lab
uses quadrature on a fine grid. Monte Carlo estimators follow Schulman (2020), "Approximating KL
divergence": k1 = log(p/q) (unbiased, high variance) and k3 = (r − 1) − log r with r = q/p (unbiased,
never negative, and far lower variance when p and q are close).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal, Normal, kl_divergence

DT = torch.float64


def normal(mu: float, sigma: float) -> Normal:
    return Normal(torch.tensor(mu, dtype=DT), torch.tensor(sigma, dtype=DT))


def kl_1d(mu_p: float, sigma_p: float, mu_q: float, sigma_q: float) -> tuple[float, float]:
    """(KL(p || q), KL(q || p)) in nats for two 1-D Gaussians, from the closed form."""
    p, q = normal(mu_p, sigma_p), normal(mu_q, sigma_q)
    return float(kl_divergence(p, q)), float(kl_divergence(q, p))


def integrand(p, q, x: torch.Tensor) -> torch.Tensor:
    """p(x)·log(p(x)/q(x)): its integral is KL(p || q). Parts of it are negative; the total never is."""
    lp, lq = p.log_prob(x), q.log_prob(x)
    return lp.exp() * (lp - lq)


# Axis ranges that change in steps, not at every frame of a drag. A panel's ranges are widened outward to multiples
# of a "nice" step (1, 2, 2.5 or 5 × 10^k) about a twentieth of their span: while a slider moves, the axes stay
# put for many frames (the page then moves only the curves: static/plot_frames.js) and step when the curves outgrow
# them. The steps are parsed from decimal text, as static/kl_maths.js parses them, so that page and server hold the
# same doubles and compute the same ranges to the bit.
NICE_STEPS = tuple(float(f"{m}e{e}") for e in range(-30, 31) for m in ("1", "2", "2.5", "5"))
STEADY_TICKS = 20


def nice_step(raw: float) -> float | None:
    """The smallest of NICE_STEPS ≥ raw; None where there is none (raw not finite, ≤ 0 or beyond 5e30)."""
    if not (math.isfinite(raw) and raw > 0):
        return None
    return next((s for s in NICE_STEPS if s >= raw), None)


def outward(lo: float, hi: float, s: float) -> list[float]:
    """[lo, hi] widened to multiples of s; one more step where the product rounded back inside."""
    a, b = math.floor(lo / s), math.ceil(hi / s)
    return [(a if a * s <= lo else a - 1) * s, (b if b * s >= hi else b + 1) * s]


def steady_range(lo: float, hi: float) -> list[float]:
    """[lo, hi] widened outward to multiples of nice_step((hi − lo) / 20): at most a tenth of the span wider on
    each side, and the same for every lo, hi between two multiples. Unchanged where no step fits."""
    s = nice_step((hi - lo) / STEADY_TICKS)
    return [lo, hi] if s is None else outward(lo, hi, s)


def plot_range(mu_p: float, sigma_p: float, mu_q: float, sigma_q: float, width: float = 5.0) -> list[float]:
    """The 1-D panel's x-axis: `width` σ either side of both means, widened to a steady range."""
    return steady_range(min(mu_p - width * sigma_p, mu_q - width * sigma_q),
                        max(mu_p + width * sigma_p, mu_q + width * sigma_q))


def grid_for(mu_p: float, sigma_p: float, mu_q: float, sigma_q: float, n: int = 200) -> torch.Tensor:
    """A plotting grid over the whole x-axis (plot_range), with extra points within 5σ of each mean, where the
    narrower density lives."""
    lo, hi = plot_range(mu_p, sigma_p, mu_q, sigma_q)
    pts = [torch.linspace(lo, hi, n, dtype=DT)]
    for mu, s in ((mu_p, sigma_p), (mu_q, sigma_q)):
        pts.append(torch.linspace(mu - 5 * s, mu + 5 * s, n // 2, dtype=DT))
    return torch.unique(torch.cat(pts))  # sorted


@dataclass
class MCEstimate:
    n: int
    k1: float  # mean of log p(x) − log q(x), x ~ p
    k1_stderr: float
    k3: float  # mean of (r − 1) − log r, r = q(x)/p(x)
    k3_stderr: float
    ns: torch.Tensor  # (P,) sample counts for the convergence plot
    k1_running: torch.Tensor  # (P,)
    k3_running: torch.Tensor  # (P,)
    ess: float = float("nan")  # Kish's effective sample size of the ratios r = q/p: (Σ r)² / Σ r², at most n


def monte_carlo(
    mu_p: float, sigma_p: float, mu_q: float, sigma_q: float, n: int, seed: int, points: int = 60
) -> MCEstimate:
    """Estimate KL(p || q) from n samples of p with both estimators, and their running means."""
    p, q = normal(mu_p, sigma_p), normal(mu_q, sigma_q)
    g = torch.Generator().manual_seed(seed)
    x = mu_p + sigma_p * torch.randn(n, generator=g, dtype=DT)
    log_r = q.log_prob(x) - p.log_prob(x)  # log q/p
    k1 = -log_r
    k3 = torch.expm1(log_r) - log_r  # (r − 1) − log r, accurate for r near 1
    ns = torch.unique(torch.logspace(0, math.log10(n), points, dtype=DT).round().long())
    steps = torch.arange(1, n + 1, dtype=DT)
    run1, run3 = (k1.cumsum(0) / steps)[ns - 1], (k3.cumsum(0) / steps)[ns - 1]

    def se(v: torch.Tensor) -> float:
        return float(v.std() / math.sqrt(n)) if n > 1 else float("nan")

    # (Σ r)² / Σ r² in log space (r can overflow where q is far wider than p): near n when the ratios are even,
    # small when a few samples carry them: the sample's own sign of heavy tails, finite variance or not
    ess = float(torch.exp(2 * torch.logsumexp(log_r, 0) - torch.logsumexp(2 * log_r, 0)))
    return MCEstimate(n, float(k1.mean()), se(k1), float(k3.mean()), se(k3), ns, run1, run3, ess)


# --- 2-D Gaussians -------------------------------------------------------------------------------


def mvn(mu1: float, mu2: float, s1: float, s2: float, rho: float) -> MultivariateNormal:
    """N(μ, Σ) with Σ = [[s1², ρ s1 s2], [ρ s1 s2, s2²]]."""
    cov = torch.tensor([[s1 * s1, rho * s1 * s2], [rho * s1 * s2, s2 * s2]], dtype=DT)
    return MultivariateNormal(torch.tensor([mu1, mu2], dtype=DT), covariance_matrix=cov)


def kl_2d(p_params: tuple, q_params: tuple) -> tuple[float, float]:
    """(KL(p || q), KL(q || p)) in nats for two 2-D Gaussians, from the closed form.

    The Cholesky-based closed form can return about −1e-16 for identical arguments; KL is never negative,
    so such rounding residue (below 1e-12 in size) is reported as 0.
    """
    p, q = mvn(*p_params), mvn(*q_params)

    def clean(v: float) -> float:
        return 0.0 if -1e-12 < v < 0.0 else v

    return clean(float(kl_divergence(p, q))), clean(float(kl_divergence(q, p)))


def ellipse(d: MultivariateNormal, k: float, n: int = 120) -> torch.Tensor:
    """Points of the k-σ contour {x : (x − μ)ᵀ Σ⁻¹ (x − μ) = k²}: (n, 2)."""
    t = torch.linspace(0, 2 * math.pi, n, dtype=DT)
    circle = torch.stack([t.cos(), t.sin()], -1) * k
    return d.loc + circle @ d.scale_tril.T


# --- fitting a Gaussian to a mixture -------------------------------------------------------------


def mixture(mu1: float, s1: float, mu2: float, s2: float, w1: float) -> MixtureSameFamily:
    """p = w1·N(mu1, s1²) + (1 − w1)·N(mu2, s2²)."""
    return MixtureSameFamily(
        Categorical(probs=torch.tensor([w1, 1 - w1], dtype=DT)),
        Normal(torch.tensor([mu1, mu2], dtype=DT), torch.tensor([s1, s2], dtype=DT)),
    )


def moment_match(mu1: float, s1: float, mu2: float, s2: float, w1: float) -> tuple[float, float]:
    """The forward-KL optimum: argmin_q KL(p || q) over Gaussians has q's mean and variance equal to p's."""
    m = w1 * mu1 + (1 - w1) * mu2
    var = w1 * (s1**2 + mu1**2) + (1 - w1) * (s2**2 + mu2**2) - m * m
    return m, math.sqrt(var)


def quadrature_grid(p: MixtureSameFamily, n: int = 1201) -> torch.Tensor:
    mus, sig = p.component_distribution.loc, p.component_distribution.scale
    return torch.linspace(float((mus - 10 * sig).min()), float((mus + 10 * sig).max()), n, dtype=DT)


def kl_quadrature(a, b, x: torch.Tensor) -> torch.Tensor:
    """∫ a(x) log(a(x)/b(x)) dx by the trapezoid rule on x; differentiable in both."""
    la, lb = a.log_prob(x), b.log_prob(x)
    return torch.trapezoid(la.exp() * (la - lb), x)


@dataclass
class FitStep:
    step: int
    forward: tuple[float, float]  # (μ, σ) of q fitted by minimizing KL(p || q)
    reverse: tuple[float, float]  # (μ, σ) of q fitted by minimizing KL(q || p)
    kl_forward: float  # KL(p || q_forward)
    kl_reverse: float  # KL(q_reverse || p)
    converged_forward: bool = False  # its gradient fell below the tolerance (the fit stopped moving)
    converged_reverse: bool = False
    final: bool = False  # the last step: both converged, or the step limit was reached


def _report_step(i: int) -> bool:
    """Which steps a fit reports: every 10 up to 100, then every 100 (a fit can take thousands)."""
    return i % 10 == 0 if i <= 100 else i % 100 == 0


def fit_gaussian(
    p: MixtureSameFamily, max_steps: int = 5000, lr: float = 0.1, start: tuple[float, float] = (0.5, 1.0),
    tol: float = 1e-5,
) -> Iterator[FitStep]:
    """Gradient descent (Adam) on (μ, log σ) of q for both directions at once, yielding every few steps and last.

    Each direction stops moving once its gradient's largest component is below `tol` (converged); the fit ends
    when both have, or after `max_steps`. From any start in the lab's range the forward fit converges within
    about 3,000 steps (measured on the lab's presets and extreme mixtures). Both KLs are computed by quadrature
    on a fixed grid wide enough for p and any sensible q; for the reverse direction the grid also follows q, which
    can become narrow (mode seeking). Start q off the centre of a symmetric mixture: there the reverse KL has a
    saddle and gradient descent cannot pick a mode.
    """
    x = quadrature_grid(p)
    params = {
        k: torch.tensor([start[0], math.log(start[1])], dtype=DT, requires_grad=True) for k in ("forward", "reverse")
    }
    opts = {k: torch.optim.Adam([v], lr=lr) for k, v in params.items()}
    done = {"forward": False, "reverse": False}
    for i in range(max_steps + 1):
        qf = Normal(params["forward"][0], params["forward"][1].exp())
        qr = Normal(params["reverse"][0], params["reverse"][1].exp())
        xr = torch.cat([x, qr.loc.detach() + qr.scale.detach() * torch.linspace(-8, 8, 401, dtype=DT)]).sort().values
        kls = {"forward": kl_quadrature(p, qf, x), "reverse": kl_quadrature(qr, p, xr)}
        for k in ("forward", "reverse"):
            if not done[k]:
                opts[k].zero_grad()
                kls[k].backward()
                done[k] = float(params[k].grad.abs().max()) < tol
        final = i == max_steps or all(done.values())
        if _report_step(i) or final:
            with torch.no_grad():
                yield FitStep(i, (float(qf.loc), float(qf.scale)), (float(qr.loc), float(qr.scale)),
                              float(kls["forward"]), float(kls["reverse"]), done["forward"], done["reverse"], final)
        if final:
            return
        for k in ("forward", "reverse"):
            if not done[k]:
                opts[k].step()


@dataclass(frozen=True)
class ReverseOptimum:
    start: tuple[float, float]  # (μ, σ) the descent started from
    fit: tuple[float, float]  # (μ, σ) where it stopped
    kl: float  # KL(q ‖ p) there
    converged: bool


def fit_reverse(p: MixtureSameFamily, start: tuple[float, float], max_steps: int = 5000, lr: float = 0.1,
                tol: float = 1e-5) -> ReverseOptimum:
    """Gradient descent on KL(q ‖ p) alone, as `fit_gaussian` does it, from `start` = (μ, σ): the local optimum that
    start leads to."""
    x = quadrature_grid(p)
    theta = torch.tensor([start[0], math.log(start[1])], dtype=DT, requires_grad=True)
    opt = torch.optim.Adam([theta], lr=lr)
    converged = False
    for i in range(max_steps + 1):
        q = Normal(theta[0], theta[1].exp())
        xr = torch.cat([x, q.loc.detach() + q.scale.detach() * torch.linspace(-8, 8, 401, dtype=DT)]).sort().values
        kl = kl_quadrature(q, p, xr)
        opt.zero_grad()
        kl.backward()
        converged = float(theta.grad.abs().max()) < tol
        if converged or i == max_steps:  # the parameters returned are those this KL was computed at
            break
        opt.step()
    theta, kl = theta.detach(), kl.detach()
    return ReverseOptimum(start, (float(theta[0]), float(theta[1].exp())), float(kl), converged)


def reverse_restarts(p: MixtureSameFamily) -> list[ReverseOptimum]:
    """KL(q ‖ p) is not convex in q's parameters: each start can lead to its own local optimum. The descents from
    each component of p (its own mean and σ, next to the mode it may settle on), best (lowest KL) first."""
    comps = p.component_distribution
    with torch.enable_grad():  # gradient descent, in whatever thread asks (the app turns grad off in its main one)
        found = [fit_reverse(p, (float(m), float(sd))) for m, sd in zip(comps.loc, comps.scale, strict=True)]
    return sorted(found, key=lambda r: r.kl)


def shared_zero(density_max: float, f_min: float, f_max: float, pad: float = 1.05) -> tuple[list, list]:
    """Axis ranges for the densities (left) and the integrand (right) of the 1-D panel that put both zeros at the
    same height: the integrand dips below 0 where the other density is larger, the densities never do. Each end is
    padded by 5% and widened to a multiple of a nice step (see steady_range), so that the axes change in steps while
    a slider moves. Non-finite extremes are ignored. static/kl_maths.js `sharedZero` is the same function."""
    top = density_max * pad if math.isfinite(density_max) and density_max > 0 else 1.0
    s = nice_step(top / STEADY_TICKS)
    top = top if s is None else outward(0.0, top, s)[1]
    hi = f_max * pad if math.isfinite(f_max) and f_max > 0 else 1.0
    lo = f_min * pad if math.isfinite(f_min) and math.isfinite(f_max) and f_max > 0 and f_min < 0 else 0.0
    s = nice_step((hi - lo) / STEADY_TICKS)
    if s is not None:
        lo, hi = outward(lo, hi, s)
    below = -lo / hi
    return [-below * top, top], [lo, hi]


def ranges_2d(p_params: tuple, q_params: tuple, k: float = 2.0, pad: float = 0.05) -> tuple[list, list]:
    """The 2-D panel's x₁ and x₂ ranges: both k-σ ellipses (each reaches μᵢ ± k σᵢ along axis i), padded by 5% of
    the span and widened to steady ranges. static/kl_maths.js `ranges2d` is the same function."""
    out = []
    for i in (0, 1):
        lo = min(p_params[i] - k * p_params[2 + i], q_params[i] - k * q_params[2 + i])
        hi = max(p_params[i] + k * p_params[2 + i], q_params[i] + k * q_params[2 + i])
        out.append(steady_range(lo - pad * (hi - lo), hi + pad * (hi - lo)))
    return out[0], out[1]


def fmt_nats(v: float) -> str:
    """A KL value for display; says so when float64 overflowed instead of printing a bare 'inf'."""
    if math.isnan(v):
        return "undefined (NaN)"
    if math.isinf(v):
        return "∞: beyond float64 (over 1.8e308 nats)"
    return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.4e}"
