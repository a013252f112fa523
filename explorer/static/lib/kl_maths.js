// The KL lab's closed forms, densities and number formatting, computed in the page while a slider is dragged
// (explorer/static/kl_panel.js). It mirrors explorer/kl_maths.py and explorer/labs/kl/common.py operation by
// operation, in float64 (JavaScript numbers), so the page and the server agree to rounding:
// tests/browser/test_kl_page.py checks this file against torch.distributions.kl_divergence in Chromium.
//
//   KL(p ‖ q) = E_p[log p(x) − log q(x)] ≥ 0; for 1-D Gaussians
//   KL = ½ (σp²/σq² + (μp − μq)²/σq² − 1 − log(σp²/σq²))   (torch's _kl_normal_normal, term for term)
const LOG_SQRT_2PI = Math.log(Math.sqrt(2 * Math.PI));

// (KL(p‖q), KL(q‖p)) for two 1-D Gaussians, each as torch.distributions.kl_divergence computes it
const klNormal = (mp, sp, mq, sq) => {
  const ratio = (sp / sq) ** 2, t1 = ((mp - mq) / sq) ** 2;
  return 0.5 * (ratio + t1 - 1 - Math.log(ratio));
};
const kl1d = (mp, sp, mq, sq) => [klNormal(mp, sp, mq, sq), klNormal(mq, sq, mp, sp)];

// log N(x; μ, σ²), as torch's Normal.log_prob
const logPdf = (x, mu, s) => -((x - mu) ** 2) / (2 * s * s) - Math.log(s) - LOG_SQRT_2PI;

// torch.linspace for float64: the first half counts up from `lo`, the second down from `hi` (torch's own
// kernel rounds some points one ulp apart from these)
const linspace = (lo, hi, n) => {
  const step = (hi - lo) / (n - 1), out = new Array(n), half = Math.floor(n / 2);
  for (let i = 0; i < n; i++) out[i] = i < half ? lo + step * i : hi - step * (n - 1 - i);
  return out;
};

// kl_maths.NICE_STEPS, nice_step, steady_range: axis ranges widened outward to multiples of a nice step (1, 2, 2.5,
// 5 × 10^k, parsed from the same decimal text as the server's) about a twentieth of the span, so that the axes
// change in steps while a slider moves and the page can move the curves alone (plot_frames.js)
const NICE_STEPS = [];
for (let e = -30; e <= 30; e++) for (const m of ['1', '2', '2.5', '5']) NICE_STEPS.push(Number(`${m}e${e}`));
const STEADY_TICKS = 20;
const niceStep = raw => (Number.isFinite(raw) && raw > 0 ? NICE_STEPS.find(s => s >= raw) ?? null : null);
const outward = (lo, hi, s) => {  // one more step where the product rounded back inside
  const a = Math.floor(lo / s), b = Math.ceil(hi / s);
  return [(a * s <= lo ? a : a - 1) * s, (b * s >= hi ? b : b + 1) * s];
};
const steadyRange = (lo, hi) => {
  const s = niceStep((hi - lo) / STEADY_TICKS);
  return s === null ? [lo, hi] : outward(lo, hi, s);
};
// kl_maths.plot_range: the 1-D panel's x-axis, 5σ either side of both means, steady
const plotRange = (mp, sp, mq, sq, width = 5) =>
  steadyRange(Math.min(mp - width * sp, mq - width * sq), Math.max(mp + width * sp, mq + width * sq));

// kl_maths.grid_for: 200 points over the x-axis, and 100 more within 5σ of each mean; sorted, unique
const gridFor = (mp, sp, mq, sq, n = 200) => {
  const [lo, hi] = plotRange(mp, sp, mq, sq);
  const all = [...linspace(lo, hi, n), ...linspace(mp - 5 * sp, mp + 5 * sp, n >> 1),
               ...linspace(mq - 5 * sq, mq + 5 * sq, n >> 1)].sort((a, b) => a - b);
  return all.filter((v, i) => i === 0 || v !== all[i - 1]);
};

// --- 2-D Gaussians: N(μ, Σ), Σ = [[s1², ρ s1 s2], [ρ s1 s2, s2²]], through its Cholesky factor L ---------
const chol = (s1, s2, rho) => {
  const a = s1 * s1, b = rho * s1 * s2, c = s2 * s2, l11 = Math.sqrt(a), l21 = b / l11;
  return [l11, l21, Math.sqrt(c - l21 * l21)];  // L = [[l11, 0], [l21, l22]]
};
// KL(p‖q) = Σ log diag L_q − Σ log diag L_p + ½ (‖L_q⁻¹ L_p‖²_F + ‖L_q⁻¹ (μq − μp)‖² − 2), as torch computes it
const klMvn = (p, q) => {
  const [a, b, c] = chol(p[2], p[3], p[4]), [A, B, C] = chol(q[2], q[3], q[4]);  // [l11, l21, l22]
  const half1 = (Math.log(A) + Math.log(C)) - (Math.log(a) + Math.log(c));
  // X = L_q⁻¹ L_p by forward substitution, column by column
  const x11 = a / A, x21 = (b - B * x11) / C, x22 = c / C;
  const term2 = x11 * x11 + x21 * x21 + x22 * x22;
  const d1 = q[0] - p[0], d2 = q[1] - p[1], y1 = d1 / A, y2 = (d2 - B * y1) / C;
  return half1 + 0.5 * (term2 + (y1 * y1 + y2 * y2) - 2);
};
// kl_maths.kl_2d: rounding residue below 1e-12 under zero is reported as 0 (KL is never negative)
const clean = v => (v > -1e-12 && v < 0 ? 0 : v);
const kl2d = (p, q) => [clean(klMvn(p, q)), clean(klMvn(q, p))];

// kl_maths.ellipse: the k-σ contour, n points, μ + k (cos t, sin t) Lᵀ
const ellipse = (mu1, mu2, s1, s2, rho, k, n = 120) => {
  const [l11, l21, l22] = chol(s1, s2, rho), t = linspace(0, 2 * Math.PI, n);
  return [t.map(v => mu1 + k * Math.cos(v) * l11),
          t.map(v => mu2 + (k * Math.cos(v) * l21 + k * Math.sin(v) * l22))];
};

// --- Python's float formatting (format(v, '.4g') and '.4e'), for the same text as the server's ---------
// p significant digits of a > 0, rounded as Python rounds: to nearest, ties (exact halves) to even
const significant = (a, p) => {
  const [m, e] = a.toExponential(p - 1).split('e');
  let digits = m.replace('.', ''), exp = +e;
  const [em, ee] = a.toExponential(100).split('e'), exact = em.replace('.', '');
  if (/^50*$/.test(exact.slice(p))) {  // exactly halfway: JavaScript rounds up, Python to the even neighbour
    digits = exact.slice(0, p); exp = +ee;
    if (+digits[p - 1] % 2 === 1) {
      const up = String(BigInt(digits) + 1n);
      if (up.length > p) { digits = up.slice(0, p); exp += 1; } else digits = up;
    }
  }
  return [digits, exp];
};
const expText = e => (e < 0 ? '-' : '+') + String(Math.abs(e)).padStart(2, '0');
const formatG = (v, p = 4) => {
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const sign = v < 0 ? '-' : '', [d, exp] = significant(Math.abs(v), p);
  if (exp >= -4 && exp < p) {
    const whole = exp >= 0 ? d.slice(0, exp + 1) : '0';
    const frac = (exp >= 0 ? d.slice(exp + 1) : '0'.repeat(-exp - 1) + d).replace(/0+$/, '');
    return sign + whole + (frac ? '.' + frac : '');
  }
  const rest = d.slice(1).replace(/0+$/, '');
  return sign + d[0] + (rest ? '.' + rest : '') + 'e' + expText(exp);
};
const formatE = (v, p = 4) => {
  if (v === 0) return (Object.is(v, -0) ? '-' : '') + '0.' + '0'.repeat(p) + 'e+00';
  const [d, exp] = significant(Math.abs(v), p + 1);
  return (v < 0 ? '-' : '') + d[0] + '.' + d.slice(1) + 'e' + expText(exp);
};
// kl_maths.fmt_nats
const fmtNats = v => {
  if (Number.isNaN(v)) return 'undefined (NaN)';
  if (!Number.isFinite(v)) return '∞: beyond float64 (over 1.8e308 nats)';
  return Math.abs(v) < 1e5 ? formatG(v) : formatE(v);
};
// labs/kl/common.numbers_html, character for character; `prefix` is 'kl-' (1-D panel) or 'kl2-' (2-D)
const numbersHtml = (pq, qp, prefix = 'kl-') => {
  const cell = v => {
    const bits = Number.isFinite(v) ? v / Math.LN2 : v;
    return `<b>${fmtNats(v)}</b> nats<br><span class='ge-note'>${fmtNats(bits)} bits</span>`;
  };
  return `<div class='ge-row' id='${prefix}numbers'>` +
    `<div class='ge-kl'><div>KL(p ‖ q)</div><div id='${prefix}pq'>${cell(pq)}</div></div>` +
    `<div class='ge-kl'><div>KL(q ‖ p)</div><div id='${prefix}qp'>${cell(qp)}</div></div>` +
    `<div class='ge-note'>difference ${fmtNats(Math.abs(pq - qp))} nats</div></div>`;
};

// kl_maths.shared_zero: the densities' and the integrand's axis ranges, with both zeros at the same height, each
// end padded by 5% and widened to a multiple of a nice step
const sharedZero = (densityMax, fMin, fMax, pad = 1.05) => {
  let top = Number.isFinite(densityMax) && densityMax > 0 ? densityMax * pad : 1.0;
  let s = niceStep(top / STEADY_TICKS);
  top = s === null ? top : outward(0, top, s)[1];
  let hi = Number.isFinite(fMax) && fMax > 0 ? fMax * pad : 1.0;
  let lo = Number.isFinite(fMin) && Number.isFinite(fMax) && fMax > 0 && fMin < 0 ? fMin * pad : 0.0;
  s = niceStep((hi - lo) / STEADY_TICKS);
  if (s !== null) [lo, hi] = outward(lo, hi, s);
  const below = -lo / hi;
  return [[-below * top, top], [lo, hi]];
};
// kl_maths.ranges_2d: both k-σ ellipses (μᵢ ± k σᵢ along axis i), padded by 5% of the span, steady
const ranges2d = (p, q, k = 2, pad = 0.05) => [0, 1].map(i => {
  const lo = Math.min(p[i] - k * p[2 + i], q[i] - k * q[2 + i]), hi = Math.max(p[i] + k * p[2 + i], q[i] + k * q[2 + i]);
  return steadyRange(lo - pad * (hi - lo), hi + pad * (hi - lo));
});
const extremes = ys => {
  let lo = Infinity, hi = -Infinity;
  for (const v of ys) if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
  return [lo, hi];
};

// --- what each panel draws: the arrays and texts of its figure (the server's figure gives the styling) -----
// `ranges` are the figure's axes, the server's to the bit; `room`, wider ones that a drag may draw on (kl_panel.js)
// 1-D (labs/kl/panel.gaussians_1d): traces [integrand, p, q]
const panel1d = (mp, sp, mq, sq, direction) => {
  const [pq, qp] = kl1d(mp, sp, mq, sq), x = gridFor(mp, sp, mq, sq), forward = direction === 'KL(p‖q)';
  const lp = x.map(v => logPdf(v, mp, sp)), lq = x.map(v => logPdf(v, mq, sq));
  const [la, lb] = forward ? [lp, lq] : [lq, lp];
  const f = la.map((v, i) => Math.exp(v) * (v - lb[i])), dp = lp.map(Math.exp), dq = lq.map(Math.exp);
  const [fMin, fMax] = extremes(f), top = Math.max(extremes(dp)[1], extremes(dq)[1]);
  const [y, y2] = sharedZero(top, fMin, fMax), [ry, ry2] = sharedZero(1.25 * top, 1.25 * fMin, 1.25 * fMax);
  return {
    pq, qp, html: numbersHtml(pq, qp, 'kl-'), ranges: {x: plotRange(mp, sp, mq, sq), y, y2},
    room: {x: plotRange(mp, sp, mq, sq, 6.5), y: ry, y2: ry2},  // roomier axes for a drag (kl_panel.js)
    title: `shaded area = ${direction} = ${fmtNats(forward ? pq : qp)} nats`,
    traces: [{x, y: f, name: `integrand of ${direction}`}, {x, y: dp}, {x, y: dq}],
  };
};
// 2-D (labs/kl/two_d.gaussians_2d): traces [p 1σ, p 2σ, p mean, q 1σ, q 2σ, q mean]; v: 10 numbers
const panel2d = v => {
  const p = v.slice(0, 5), q = v.slice(5, 10), [pq, qp] = kl2d(p, q), traces = [];
  for (const d of [p, q]) {
    for (const k of [1, 2]) { const [x, y] = ellipse(...d, k); traces.push({x, y}); }
    traces.push({x: [d[0]], y: [d[1]]});
  }
  const [x, y] = ranges2d(p, q), [rx, ry] = ranges2d(p, q, 2, 0.25);
  return {pq, qp, html: numbersHtml(pq, qp, 'kl2-'), traces, ranges: {x, y}, room: {x: rx, y: ry}};
};

export {kl1d, kl2d, logPdf, linspace, niceStep, steadyRange, plotRange, gridFor, ellipse, formatG, formatE, fmtNats,
          numbersHtml, sharedZero, ranges2d, panel1d, panel2d};
