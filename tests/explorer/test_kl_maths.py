"""The KL lab's maths: closed forms against quadrature and Monte Carlo, non-negativity, the fits."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import MultivariateNormal, kl_divergence

from explorer import kl_fit as kf
from explorer import kl_maths as km


@pytest.mark.parametrize("params", [(0, 1, 1, 2), (-3, 0.5, 2, 1.5), (1, 2, 1, 0.3), (0, 1, 0, 1)])
def test_1d_closed_form_matches_quadrature_and_formula(params):
    mu_p, s_p, mu_q, s_q = params
    kl_pq, kl_qp = km.kl_1d(*params)
    formula = math.log(s_q / s_p) + (s_p**2 + (mu_p - mu_q) ** 2) / (2 * s_q**2) - 0.5
    assert math.isclose(kl_pq, formula, rel_tol=1e-12, abs_tol=1e-14)
    x = torch.linspace(-40, 40, 400_001, dtype=torch.float64)
    p, q = km.normal(mu_p, s_p), km.normal(mu_q, s_q)
    assert math.isclose(float(kf.kl_quadrature(p, q, x)), kl_pq, rel_tol=1e-6, abs_tol=1e-9)
    assert math.isclose(float(kf.kl_quadrature(q, p, x)), kl_qp, rel_tol=1e-6, abs_tol=1e-9)


def test_kl_of_a_distribution_with_itself_is_exactly_zero():
    assert km.kl_1d(0.3, 1.7, 0.3, 1.7) == (0.0, 0.0)
    assert km.kl_2d((1, -1, 0.5, 2, 0.3), (1, -1, 0.5, 2, 0.3)) == (0.0, 0.0)


@settings(max_examples=200, deadline=None)
@given(st.floats(-10, 10), st.floats(0.001, 10), st.floats(-10, 10), st.floats(0.001, 10))
def test_kl_is_never_negative(mu_p, s_p, mu_q, s_q):
    kl_pq, kl_qp = km.kl_1d(mu_p, s_p, mu_q, s_q)
    assert kl_pq >= 0 and kl_qp >= 0


_mu, _s, _rho = st.floats(-5, 5), st.floats(0.05, 5), st.floats(-0.99, 0.99)


@settings(max_examples=100, deadline=None)
@given(st.tuples(_mu, _mu, _s, _s, _rho), st.tuples(_mu, _mu, _s, _s, _rho))
def test_2d_kl_is_never_negative(p_params, q_params):
    a, b = km.kl_2d(p_params, q_params)
    assert a >= 0 and b >= 0


def test_monte_carlo_agrees_with_the_closed_form():
    for q_params in ((0.7, 1.2), (0.1, 1.05)):
        exact = km.kl_1d(0.0, 1.0, *q_params)[0]
        mc = km.monte_carlo(0.0, 1.0, *q_params, 10**6, seed=0)
        assert abs(mc.k1 - exact) < 4 * mc.k1_stderr and abs(mc.k3 - exact) < 4 * mc.k3_stderr
    assert mc.k3_stderr < mc.k1_stderr / 3  # where q is close to p, k3 is far less noisy (variance ~25x lower)
    assert mc.ns[-1] == 10**6 and mc.k1_running[-1] == pytest.approx(mc.k1)


def test_2d_closed_form_matches_monte_carlo_and_quadrature():
    pp, qp = (0.5, -1, 1.2, 0.7, 0.6), (-0.5, 0.0, 0.9, 1.3, -0.4)
    kl_pq, kl_qp = km.kl_2d(pp, qp)
    p, q = km.mvn(*pp), km.mvn(*qp)
    x = p.sample((400_000,))
    mc = (p.log_prob(x) - q.log_prob(x)).mean()
    assert abs(float(mc) - kl_pq) < 0.02
    g = torch.linspace(-9, 9, 1201, dtype=torch.float64)
    xx = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1)
    lp, lq = p.log_prob(xx), q.log_prob(xx)
    quad = float(torch.trapezoid(torch.trapezoid(lq.exp() * (lq - lp), g), g))
    assert math.isclose(quad, kl_qp, rel_tol=1e-4)
    assert kl_pq == pytest.approx(float(kl_divergence(MultivariateNormal(p.loc, p.covariance_matrix),
                                                      MultivariateNormal(q.loc, q.covariance_matrix))))


def test_two_spikes_far_apart_give_an_enormous_but_finite_kl():
    kl_pq, kl_qp = km.kl_1d(-4, 0.1, 4, 0.1)
    assert kl_pq == pytest.approx(3200) and kl_qp == pytest.approx(3200)
    assert math.isfinite(km.kl_1d(-10, 0.001, 10, 0.001)[0])


def test_ellipse_lies_on_the_mahalanobis_contour():
    d = km.mvn(1, 2, 1.5, 0.5, 0.7)
    e = km.ellipse(d, 2.0)
    diff = e - d.loc
    m = (diff @ torch.linalg.inv(d.covariance_matrix) * diff).sum(-1)
    assert torch.allclose(m, torch.full_like(m, 4.0), atol=1e-9)


@settings(max_examples=300, deadline=None)
@given(st.floats(-1e6, 1e6), st.floats(1e-6, 1e9))
def test_steady_ranges_hold_the_data_with_at_most_a_tenth_more_each_side(lo, span):
    hi = lo + span
    a, b = km.steady_range(lo, hi)
    assert a <= lo and b >= hi
    assert lo - a <= (hi - lo) / 10 * (1 + 1e-12) and b - hi <= (hi - lo) / 10 * (1 + 1e-12)
    s = km.nice_step((hi - lo) / km.STEADY_TICKS)  # both ends are multiples of one nice step
    assert a / s == pytest.approx(round(a / s), rel=1e-12, abs=1e-9)
    assert b / s == pytest.approx(round(b / s), rel=1e-12, abs=1e-9)


def test_steady_ranges_change_in_steps_while_a_mean_is_dragged():
    """μ_q dragged from 1 to 3 in the slider's steps of 0.01: the 1-D panel's x-axis changes a few times, not at
    each of the 200 frames, and always holds 5σ either side of both means."""
    ranges = [km.plot_range(0.0, 1.0, 1 + k / 100, 0.8) for k in range(201)]
    assert len({tuple(r) for r in ranges}) <= 6
    assert all(r[0] <= -5 and r[1] >= 1 + k / 100 + 4 for k, r in enumerate(ranges))
    assert km.nice_step(0.3) == 0.5 and km.nice_step(2.1) == 2.5 and km.nice_step(0) is None
    assert km.nice_step(1e31) is None and km.steady_range(0.0, math.inf) == [0.0, math.inf]


@pytest.mark.parametrize("density_max, f_min, f_max", [(0.5, -0.2, 0.6), (399.0, -1e3, 8e10), (0.4, 0.0, 0.0),
                                                       (2.0, -3.0, 0.1), (0.4, math.nan, math.inf)])
def test_shared_zero_holds_the_curves_and_puts_both_zeros_at_one_height(density_max, f_min, f_max):
    y, y2 = km.shared_zero(density_max, f_min, f_max)
    assert y[1] >= density_max and y[0] <= 0 and y2[0] <= 0
    if math.isfinite(f_max) and f_max > 0:
        assert y2[1] >= f_max and y2[0] <= f_min
    assert y[0] / (y[1] - y[0]) == pytest.approx(y2[0] / (y2[1] - y2[0]), rel=1e-12, abs=1e-15)  # the zeros' height


def test_the_2d_ranges_hold_both_two_sigma_ellipses():
    p, q = (-1.0, 0.0, 1.0, 0.6, 0.5), (1.0, 0.5, 0.8, 1.2, -0.3)
    (x0, x1), (y0, y1) = km.ranges_2d(p, q)
    for params in (p, q):
        e = km.ellipse(km.mvn(*params), 2.0)
        assert x0 < float(e[:, 0].min()) and float(e[:, 0].max()) < x1
        assert y0 < float(e[:, 1].min()) and float(e[:, 1].max()) < y1


def test_forward_fit_reaches_moment_matching_and_reverse_fit_picks_a_mode():
    args = (-3.0, 0.5, 3.0, 0.5, 0.5)
    steps = list(kf.fit_gaussian(kf.mixture(*args), start=(0.5, 1.0)))
    last = steps[-1]
    m, s = kf.moment_match(*args)
    assert last.forward[0] == pytest.approx(m, abs=1e-3) and last.forward[1] == pytest.approx(s, abs=1e-3)
    assert last.reverse[0] == pytest.approx(3.0, abs=0.02) and last.reverse[1] == pytest.approx(0.5, abs=0.02)
    assert last.kl_reverse == pytest.approx(math.log(2), abs=0.01)  # one mode of an even mixture: log 2
    assert steps[0].kl_forward > last.kl_forward and steps[0].step == 0
    assert last.final and last.converged_forward and last.converged_reverse and not any(s.final for s in steps[:-1])


# each mixture once, from each of the slider's ends and from inside the mixture (the slowest combinations to converge)
@pytest.mark.parametrize(("args", "start"), [((-2.0, 0.6, 2.5, 0.8, 0.4), -10.0), ((-10.0, 0.1, 10.0, 0.1, 0.5), 0.5),
                                             ((-10.0, 5.0, 10.0, 5.0, 0.01), 10.0)])
def test_forward_fit_converges_from_anywhere_in_the_start_range(args, start):
    """From a far start the old 200-step fit stopped at μ −1.05, σ 3.28 (optimum 0.70, 2.32) yet said it had
    reached the optimum; now it runs until its gradient vanishes, and says whether it did."""
    # the first step that reports the forward fit converged, or the last: a converged direction stops moving, so its
    # (μ, σ) there are the fit's final ones, and the reverse fit need not be waited for (from between the two far
    # spikes it runs ~4,000 steps, the forward one ~500)
    fit = kf.fit_gaussian(kf.mixture(*args), start=(start, 1.0))
    last = next(step for step in fit if step.converged_forward or step.final)
    m, s = kf.moment_match(*args)
    assert last.converged_forward, last
    assert last.forward[0] == pytest.approx(m, abs=1e-2) and last.forward[1] == pytest.approx(s, rel=1e-3)


def test_a_fit_that_runs_out_of_steps_says_so():
    last = list(kf.fit_gaussian(kf.mixture(-2.0, 0.6, 2.5, 0.8, 0.4), start=(-5.0, 1.0), max_steps=200))[-1]
    assert last.final and last.step == 200 and not last.converged_forward


def test_formatting_says_when_float64_overflows():
    assert km.fmt_nats(float("inf")).startswith("∞: beyond float64")
    assert "NaN" in km.fmt_nats(float("nan"))
    assert km.fmt_nats(3200.0) == "3200" and "e+" in km.fmt_nats(2e6)


@pytest.mark.parametrize(("mu_p", "s_p", "mu_q", "s_q"), [(0, 1, 1, 2), (0, 0.1, 8, 0.1), (0.3, 1, 0.3, 1),
                                                          (-2, 0.5, 1, 3), (0, 0.001, 0.002, 0.003)])
def test_js_and_tv_match_mpmaths_quadrature(mu_p, s_p, mu_q, s_q):
    """JS (a trapezoid on unions of grids) and TV (closed form, from the crossings) against mpmath's adaptive
    quadrature in 30-digit arithmetic, with the means and the densities' crossings as breakpoints."""
    import mpmath

    mpmath.mp.dps = 30
    p = lambda x: mpmath.npdf(x, mu_p, s_p)  # noqa: E731
    q = lambda x: mpmath.npdf(x, mu_q, s_q)  # noqa: E731

    def js_f(x):
        a, b = p(x), q(x)
        m = (a + b) / 2
        return (a * mpmath.log(a / m) if a > 0 else 0) / 2 + (b * mpmath.log(b / m) if b > 0 else 0) / 2

    lo, hi = min(mu_p - 12 * s_p, mu_q - 12 * s_q), max(mu_p + 12 * s_p, mu_q + 12 * s_q)
    pts = sorted({lo, mu_p - 3 * s_p, mu_p, mu_p + 3 * s_p, mu_q - 3 * s_q, mu_q, mu_q + 3 * s_q, hi,
                  *(x for x in km.crossings(mu_p, s_p, mu_q, s_q) if lo < x < hi)})  # |p − q|'s kinks
    js_ref = float(mpmath.quad(js_f, pts))
    tv_ref = float(mpmath.quad(lambda x: abs(p(x) - q(x)) / 2, pts))
    js, tv = km.js_tv_1d(mu_p, s_p, mu_q, s_q)
    assert js == pytest.approx(js_ref, abs=2e-8) and tv == pytest.approx(tv_ref, abs=1e-12)
    assert -1e-12 <= js <= math.log(2) + 1e-12 and -1e-12 <= tv <= 1 + 1e-12


def test_schulmans_table_by_quadrature_is_his_closed_forms_and_a_monte_carlo():
    """For p = N(0, 1), q = N(μ, 1): KL = μ²/2; log r = μx − μ²/2 is N(−μ²/2, μ²) under p, so k1 has standard deviation
    μ (over the KL: 2/μ), k2's mean is ½(μ² + μ⁴/4) (bias over the KL: μ²/4); and k3 by a million samples."""
    for mu in (0.1, 1.0):
        m = km.estimator_moments(0.0, 1.0, mu, 1.0)
        assert m["kl"] == pytest.approx(mu * mu / 2)
        assert m["k1"]["bias"] == pytest.approx(0, abs=1e-9) and m["k1"]["std"] == pytest.approx(2 / mu)
        assert m["k2"]["bias"] == pytest.approx(mu * mu / 4)
        var_k2 = 0.25 * (2 * mu**4 + 4 * (mu * mu / 2) ** 2 * mu * mu)  # Var(y²)/4, y ~ N(−μ²/2, μ²)
        assert m["k2"]["std"] == pytest.approx(math.sqrt(var_k2) / (mu * mu / 2))
        mc = km.monte_carlo(0.0, 1.0, mu, 1.0, 1_000_000, seed=0)
        assert m["k3"]["bias"] == pytest.approx(0, abs=1e-9)
        assert m["k3"]["std"] == pytest.approx(mc.k3_stderr * 1000 / m["kl"], rel=0.02)
        assert mc.k2 == pytest.approx(m["kl"] * (1 + m["k2"]["bias"]), rel=0.01)
