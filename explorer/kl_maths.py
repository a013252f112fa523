"""The KL lab's computations, in float64, with torch.distributions for every density and closed form.

    KL(p || q) = E_p[log p(x) − log q(x)] = ∫ p(x) log(p(x)/q(x)) dx ≥ 0   (Jensen: −log is convex)

For Gaussians `kl_divergence` gives the closed form; for a Gaussian mixture there is none, and the lab
uses quadrature on a fine grid. Monte Carlo estimators follow Schulman (2020), "Approximating KL
divergence": k1 = log(p/q) (unbiased, high variance), k2 = ½(log r)² (biased, low variance when p and q are close)
and k3 = (r − 1) − log r with r = q/p (unbiased, never negative, and far lower variance when p and q are close).

Beside the two KLs, two divergences that are symmetric and bounded: the Jensen–Shannon divergence
JS(p, q) = ½ KL(p ‖ m) + ½ KL(q ‖ m) with m = (p + q)/2 (at most log 2 nats), and the total-variation distance
TV(p, q) = ½ ∫ |p − q| (at most 1). JS has no closed form for two Gaussians: it is integrated on a grid dense around
each mean; TV has one, from the points where the two densities cross (`js_tv_1d`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

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
    k2: float = float("nan")  # mean of ½ (log r)²: biased
    k2_stderr: float = float("nan")
    k2_running: torch.Tensor | None = None  # (P,)
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
    k2 = 0.5 * log_r**2
    k3 = torch.expm1(log_r) - log_r  # (r − 1) − log r, accurate for r near 1
    ns = torch.unique(torch.logspace(0, math.log10(n), points, dtype=DT).round().long())
    steps = torch.arange(1, n + 1, dtype=DT)
    run1, run2, run3 = ((k.cumsum(0) / steps)[ns - 1] for k in (k1, k2, k3))

    def se(v: torch.Tensor) -> float:
        return float(v.std() / math.sqrt(n)) if n > 1 else float("nan")

    # (Σ r)² / Σ r² in log space (r can overflow where q is far wider than p): near n when the ratios are even,
    # small when a few samples carry them: the sample's own sign of heavy tails, finite variance or not
    ess = float(torch.exp(2 * torch.logsumexp(log_r, 0) - torch.logsumexp(2 * log_r, 0)))
    return MCEstimate(n, float(k1.mean()), se(k1), float(k3.mean()), se(k3), ns, run1, run3, ess=ess,
                      k2=float(k2.mean()), k2_stderr=se(k2), k2_running=run2)


ESTIMATORS = {"k1": lambda log_r: -log_r, "k2": lambda log_r: 0.5 * log_r**2,
              "k3": lambda log_r: torch.expm1(log_r) - log_r}


def estimator_moments(mu_p: float, sigma_p: float, mu_q: float, sigma_q: float, nodes: int = 120) -> dict:
    """Per estimator, its exact bias and standard deviation for one sample x ~ p, each over the true KL(p ‖ q):
    E_p[k] and E_p[k²] by Gauss–Hermite quadrature (exact for k1 and k2, whose samples are polynomials in x when p
    and q are Gaussian; k3 has e^(linear or quadratic) terms, integrated to machine precision with 120 nodes)."""
    import numpy as np

    t, w = np.polynomial.hermite_e.hermegauss(nodes)  # ∫ f(t) e^(−t²/2) dt ≈ Σ w f(t)
    x = torch.tensor(mu_p + sigma_p * t, dtype=DT)
    w = torch.tensor(w / math.sqrt(2 * math.pi), dtype=DT)  # weights of E over N(0, 1)
    log_r = normal(mu_q, sigma_q).log_prob(x) - normal(mu_p, sigma_p).log_prob(x)
    true = kl_1d(mu_p, sigma_p, mu_q, sigma_q)[0]
    out = {}
    for name, k in ESTIMATORS.items():
        v = k(log_r)
        mean, second = float((w * v).sum()), float((w * v * v).sum())
        out[name] = {"bias": (mean - true) / true, "std": math.sqrt(max(second - mean * mean, 0.0)) / true}
    return {"kl": true, **out}


def crossings(mu_p: float, sigma_p: float, mu_q: float, sigma_q: float) -> list[float]:
    """Where two 1-D Gaussian densities are equal: the real roots of log p(x) − log q(x) = a x² + b x + c."""
    a = 0.5 / sigma_q**2 - 0.5 / sigma_p**2
    b = mu_p / sigma_p**2 - mu_q / sigma_q**2
    c = 0.5 * mu_q**2 / sigma_q**2 - 0.5 * mu_p**2 / sigma_p**2 + math.log(sigma_q / sigma_p)
    if abs(a) < 1e-15 * max(abs(b), abs(c), 1.0):  # equal widths: one crossing, or none when p = q
        return [] if b == 0 else [-c / b]
    disc = b * b - 4 * a * c
    if disc <= 0:
        return []
    r = math.sqrt(disc)
    q_ = -0.5 * (b + math.copysign(r, b))  # the numerically stable pair of roots
    return sorted([q_ / a, c / q_])


def tv_1d(mu_p: float, sigma_p: float, mu_q: float, sigma_q: float) -> float:
    """TV(p, q) = ½ ∫ |p − q| in closed form: on each interval between crossings p − q keeps its sign, so the
    integral is ½ Σ |P(I) − Q(I)|, each from the normal CDF."""
    def cdf(x: float, mu: float, s: float) -> float:
        return 1.0 if x == math.inf else 0.0 if x == -math.inf else 0.5 * math.erfc(-(x - mu) / (s * math.sqrt(2)))

    edges = [-math.inf, *crossings(mu_p, sigma_p, mu_q, sigma_q), math.inf]
    mass = [(cdf(b, mu_p, sigma_p) - cdf(a, mu_p, sigma_p), cdf(b, mu_q, sigma_q) - cdf(a, mu_q, sigma_q))
            for a, b in itertools.pairwise(edges)]
    return 0.5 * sum(abs(mp - mq) for mp, mq in mass)


def js_tv_1d(mu_p: float, sigma_p: float, mu_q: float, sigma_q: float, per_side: int = 20001) -> tuple[float, float]:
    """(JS(p, q) in nats, TV(p, q)) for two 1-D Gaussians: JS by the trapezoid rule on the union of two grids, each
    dense over ±12 standard deviations of one of them, and a grid across both (the densities beyond ±12σ are below
    e^−72 of their peaks); TV in closed form (`tv_1d`)."""
    p, q = normal(mu_p, sigma_p), normal(mu_q, sigma_q)
    lo = min(mu_p - 12 * sigma_p, mu_q - 12 * sigma_q)
    hi = max(mu_p + 12 * sigma_p, mu_q + 12 * sigma_q)
    x = torch.unique(torch.cat([torch.linspace(m - 12 * s, m + 12 * s, per_side, dtype=DT)
                                for m, s in ((mu_p, sigma_p), (mu_q, sigma_q))] +
                               [torch.linspace(lo, hi, per_side, dtype=DT)]))
    lp, lq = p.log_prob(x), q.log_prob(x)
    lm = torch.logaddexp(lp, lq) - math.log(2)
    js_f = 0.5 * (lp.exp() * (lp - lm) + lq.exp() * (lq - lm))
    return float(torch.trapezoid(js_f, x)), tv_1d(mu_p, sigma_p, mu_q, sigma_q)


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
