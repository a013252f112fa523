// Dragged frames without Plotly's redraw: one Plotly.react costs 12–16 ms on our 2 cores (filling in the
// figure's defaults, redrawing every axis, then the browser's style and layout), which alone misses a display frame.
// While a slider moves and the axes keep their ranges (kl_maths.steady_range makes them change in steps), nothing
// but the curves changes: GeFrames.move writes the new curves into the SVG paths Plotly drew, mapped to pixels by
// the figure's own axes (Plotly's `c2p`), in about a millisecond. Plotly still draws every figure that changes an
// axis, and the figure of a paused hand (kl_panel.js). Runs before kl_panel.js in its js_on_load.
//
// What it writes is what Plotly's scatter traces draw: a line 'M x,y L x,y …' (a non-finite point breaks it), a
// 'tozeroy' fill closed along the trace's zero, markers translated to their point. Anything else, or a figure whose
// traces differ in count, kind or point count from what is asked, is left to Plotly: `move` says false.
const GeFrames = (() => {
  const px = v => (v > 1e6 ? 1e6 : v < -1e6 ? -1e6 : v).toFixed(2);  // as Plotly rounds; far points clamped
  const axis = (full, id) => full[`${id[0]}axis${id.slice(1)}`];  // 'y2' -> layout.yaxis2
  // Plotly binds each trace's calcdata to its <g class="trace">: trace index -> its group
  const groups = div => {
    const out = [];
    for (const g of div.querySelectorAll('g.trace.scatter')) {
      const i = g.__data__?.[0]?.trace?.index;
      if (Number.isInteger(i)) out[i] = g;
    }
    return out;
  };
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
  const plan = (full, trace, g, next) => {
    const xa = axis(full, trace.xaxis), ya = axis(full, trace.yaxis), {x, y} = next;
    if (!g || !xa || !ya || !x || !y || x.length !== y.length || x.length === 0) return null;
    const writes = [];
    if (trace.mode.includes('lines')) {
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
    if (trace.mode.includes('markers')) {
      const points = g.querySelectorAll('path.point');
      if (points.length !== x.length || !x.every(Number.isFinite) || !y.every(Number.isFinite)) return null;
      points.forEach((el, j) => writes.push([el, 'transform', `translate(${px(xa.c2p(x[j]))},${px(ya.c2p(y[j]))})`]));
    }
    return writes;
  };
  // Draw `traces` ([{x, y}], one per trace of the figure, in its order) and, if given, the title's text, into the
  // figure Plotly last drew in `div`; true if done, false (nothing written) if Plotly must draw it.
  const move = (div, traces, title) => {
    const full = div._fullLayout, data = div._fullData;
    if (!full || !data || data.length !== traces.length) return false;
    const gs = groups(div), all = [];
    for (let i = 0; i < traces.length; i++) {
      if (data[i].type !== 'scatter' || data[i].visible !== true) return false;
      const writes = plan(full, data[i], gs[i], traces[i]);
      if (!writes) return false;
      all.push(...writes);
    }
    const head = title === undefined ? null : div.querySelector('.gtitle');
    if (title !== undefined && (!head || head.childElementCount > 0 || /[<&]/.test(title))) return false;  // rich text
    for (const [el, name, value] of all) el.setAttribute(name, value);
    if (head && head.textContent !== title) { head.textContent = title; head.setAttribute('data-unformatted', title); }
    return true;
  };
  return {move};
})();
