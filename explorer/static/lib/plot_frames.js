// Dragged frames without Plotly's redraw: one Plotly.react costs 12–16 ms on our 2 cores (filling in the
// figure's defaults, redrawing every axis, then the browser's style and layout), which alone misses a display frame.
// While a slider moves and the axes keep their ranges (kl_maths.steady_range makes them change in steps), nothing
// but the curves changes: `move` writes the new curves into the SVG paths Plotly drew, mapped to pixels by the
// figure's own axes (the ranges in its public `layout` over the plot area Plotly drew), in about a millisecond.
// Plotly still draws every figure that changes an axis, and the figure of a paused hand (kl_panel.js).
//
// What it writes is what Plotly's scatter traces draw: a line 'M x,y L x,y …' (a non-finite point breaks it), a
// 'tozeroy' fill closed along the trace's zero, markers translated to their point. Anything else, or a figure whose
// traces differ in count, kind or point count from what is asked, is left to Plotly: `move` says false.
const px = v => (v > 1e6 ? 1e6 : v < -1e6 ? -1e6 : v).toFixed(2);  // as Plotly rounds; far points clamped
// An axis as a map from data to the plot area's pixels, as Plotly's linear axes map them: the range is Plotly's own
// (it writes the range it chose back into the public `layout`), the size that of the subplot's drag rectangle
const axis = (div, id, subplot) => {
  const spec = div.layout?.[`${id[0]}axis${id.slice(1)}`], range = spec?.range;
  const rect = div.querySelector(`.draglayer .${subplot} .nsewdrag`);
  if (!range || !rect || spec.type === 'log') return null;
  const size = +rect.getAttribute(id[0] === 'x' ? 'width' : 'height'), [r0, r1] = range.map(Number);
  if (!(size > 0) || !(r1 !== r0)) return null;
  const m = size / (r1 - r0);
  return {c2p: id[0] === 'x' ? v => m * (v - r0) : v => m * (r1 - v)};
};
// the subplot whose plot area a trace is drawn over: an axis that overlays another shares that one's area
const subplotOf = (div, t) => {
  const base = id => div.layout?.[`${id[0]}axis${id.slice(1)}`]?.overlaying ?? id;
  return `${base(t.xaxis ?? 'x')}${base(t.yaxis ?? 'y')}`;
};
// Plotly marks the group it draws a scatter trace in with the trace's `uid` (class 'trace<uid>'): the caller gives
// each trace one (Plotly makes its own otherwise, which the public `data` does not show). Trace index -> its group.
const groups = (div, data) => data.map(t => (t.uid == null ? null
  : div.querySelector(`.cartesianlayer g.trace.scatter.trace${CSS.escape(String(t.uid))}`)));
const line = (xs, ys, xa, ya) => {
  let d = '', pen = 'M';
  for (let j = 0; j < xs.length; j++) {
    if (!Number.isFinite(xs[j]) || !Number.isFinite(ys[j])) { pen = 'M'; continue; }
    d += `${pen}${px(xa.c2p(xs[j]))},${px(ya.c2p(ys[j]))}`;
    pen = 'L';
  }
  return d;
};
// Each trace's plan: its elements and the attributes they get; null if Plotly must draw it.
const plan = (div, trace, g, next, subplot) => {
  const xa = axis(div, trace.xaxis ?? 'x', subplot), ya = axis(div, trace.yaxis ?? 'y', subplot), {x, y} = next;
  const mode = trace.mode ?? 'lines+markers';
  if (!g || !xa || !ya || !x || !y || x.length !== y.length || x.length === 0) return null;
  const writes = [];
  if (mode.includes('lines')) {
    const el = g.querySelector('path.js-line');
    if (!el) return null;
    const d = line(x, y, xa, ya);
    writes.push([el, 'd', d]);
    if (trace.fill === 'tozeroy') {
      const fill = g.querySelector('path.js-fill');
      if (!fill || !x.every(Number.isFinite) || !y.every(Number.isFinite)) return null;
      const zero = px(ya.c2p(0));
      writes.push([fill, 'd', `M${px(xa.c2p(x[0]))},${zero}L${d.slice(1)}L${px(xa.c2p(x.at(-1)))},${zero}Z`]);
    } else if (trace.fill && trace.fill !== 'none') return null;
  }
  if (mode.includes('markers')) {
    const points = g.querySelectorAll('path.point');
    if (points.length !== x.length || !x.every(Number.isFinite) || !y.every(Number.isFinite)) return null;
    points.forEach((el, j) => writes.push([el, 'transform', `translate(${px(xa.c2p(x[j]))},${px(ya.c2p(y[j]))})`]));
  }
  return writes;
};
// Draw `traces` ([{x, y}], one per trace of the figure, in its order; the figure's traces have uids) and, if given, the title's text, into the
// figure Plotly last drew in `div`; true if done, false (nothing written) if Plotly must draw it.
export const move = (div, traces, title) => {
  const data = div.data;  // the traces as given to Plotly (public): its defaults are scatter, shown
  if (!data || !div.layout || data.length !== traces.length) return false;
  if (data.some(t => (t.type ?? 'scatter') !== 'scatter' || (t.visible ?? true) !== true)) return false;
  const gs = groups(div, data), all = [];
  for (let i = 0; i < traces.length; i++) {
    const writes = plan(div, data[i], gs[i], traces[i], subplotOf(div, data[i]));
    if (!writes) return false;
    all.push(...writes);
  }
  const head = title === undefined ? null : div.querySelector('.gtitle');
  if (title !== undefined && (!head || head.childElementCount > 0 || /[<&]/.test(title))) return false;  // rich text
  for (const [el, name, value] of all) el.setAttribute(name, value);
  if (head && head.textContent !== title) { head.textContent = title; head.setAttribute('data-unformatted', title); }
  return true;
};
