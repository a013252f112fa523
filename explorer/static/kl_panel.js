// A KL panel computed in the page (render.page_plot; labs/kl/panel.py, two_d.py): while its sliders move, the page computes both KLs,
// the densities (1-D) or the ellipses (2-D) with kl_maths.js (GeKl, loaded before this file) and draws once per
// animation frame: by moving the curves inside Plotly's drawing (plot_frames.js, GeFrames) while the axes keep their
// ranges, else with one Plotly.react; when the hand pauses it asks the server ('settle'), whose answer (the value)
// replaces the page's. Runs as gr.HTML's js_on_load: `element`, `props`, `watch` and `trigger` are Gradio's. The
// value is the server's: {html, figure, params}, a `render.live_value`; the page keeps its figure's styling and
// replaces only the arrays and texts it computes. A 'ge-set' event on the .ge-page-plot root (detail: the values, in
// slider order, and for 1-D the direction) sets what is drawn: the presets use it, and so do the tests.
const root = element.querySelector('.ge-page-plot'), cfg = JSON.parse(root.dataset.config);
const box = element.querySelector('.ge-live-html'), div = element.querySelector('.ge-live-plot');
root.geKl = GeKl;  // the page's maths, for the tests that compare it with torch
let template = null, shape = null;  // plotly's template (first value only) and the server figure last drawn
let want = null, frame = 0, settleTimer = null, lastInput = -1e9;
const costs = [];  // milliseconds of main-thread work per page update (the benchmark reads it)

// one configuration for every draw (a changed one makes Plotly.react draw anew, measuring every label): no
// plotly.com link in an offline app, and no camera button: the figure's own downloads name and caption the file
const CONFIG = {displaylogo: false, modeBarButtonsToRemove: ['toImage']};
// the copy of plotly.js that drew the figure first draws it always: Gradio's gr.Plot brings a second one and makes it
// window.Plotly when it loads, and a figure that another copy drew is drawn anew, measuring every label
const plotly = () => (div.gePlotly ??= window.Plotly);
const narrow = window.matchMedia('(max-width: 640px)');  // a phone: a shorter figure, kept in view (app.css)
const theme = layout => {  // dark mode (static/page.js), and the phone's height
  const l = window.geFigures?.theme(layout) ?? layout;
  return narrow.matches ? {...l, height: 270, margin: {...l.margin, t: 40, b: 30}} : l;
};
const key = values => JSON.stringify(values);
const valid = values => cfg.ranges.every(([lo, hi], i) => {
  const v = values[i];
  return v !== '' && v !== null && Number.isFinite(Number(v)) && Number(v) >= lo && Number(v) <= hi;
});
// the hand paused: Plotly draws the last moved frame (its model of the figure, for hover and resizing, is then true
// even with no server), and the server is asked for its answer, which replaces the page's
const asker = geSettler(trigger, () => (want ? {values: want.values} : null));  // static/settle.js
const settle = () => {
  if (resting) plotlyDraws(figureOf(resting, resting.ranges), resting.ranges);
  asker.ask();
};

// The axes Plotly drew last: their ranges, and the look (dark mode, the phone's layout). A frame whose own ranges
// (kl_maths.steady_range: they change in steps) lie inside them and fill at least half of each keeps them: its
// curves are moved inside Plotly's drawing (plot_frames.js, ~1 ms) instead of a Plotly.react (12–16 ms here), and
// the axes hold still while the hand moves. Plotly draws every other frame, on roomier ranges (the panel's `room`:
// a growing curve then keeps them for many frames), and the hand's last frame once it pauses, on its own ranges:
// the figure at rest has the ranges the server's has.
const AXES = cfg.kind === '1d' ? ['x', 'y', 'y2'] : ['x', 'y'], axisName = a => `${a[0]}axis${a.slice(1)}`;
const look = () => JSON.stringify([document.body.classList.contains('dark'), narrow.matches]);
const KEEP = 0.5;  // the least share of an axis that a frame's own range may fill and keep the axis
let drawn = null, resting = null;  // drawn: {ranges, look} of Plotly's last figure; resting: the last moved frame
const inside = (inner, outer, fill = 0) => AXES.every(a => {
  const [lo, hi] = inner[a], [L, H] = outer[a] ?? [NaN, NaN];
  return lo >= L && hi <= H && hi - lo >= fill * (H - L);
});
const frames = {moved: 0, plotly: 0};  // how each page frame was drawn (the benchmark and the tests read it)
root.geFrames = frames;
const figureOf = (page, ranges) => {  // the server figure's styling with the page's arrays, texts and `ranges`
  const data = shape.data.map((trace, i) => ({...trace, ...page.traces[i]}));
  const layout = page.title ? {...shape.layout, title: {...shape.layout.title, text: page.title}} : {...shape.layout};
  for (const a of AXES) layout[axisName(a)] = {...layout[axisName(a)], range: ranges[a]};
  return [data, theme(layout)];
};
const plotlyDraws = ([data, layout], ranges) => {
  const asked = Object.fromEntries(AXES.map(a => [a, [...(ranges[a] ?? [NaN, NaN])]]));  // before Plotly widens one
  plotly().react(div, data, layout, CONFIG);
  drawn = root.geDrawn = {ranges: asked, look: look()};  // (the tests read it)
  resting = null;
};

const redraw = () => {  // one animation frame: compute what `want` shows and draw it
  frame = 0;
  const w = want;
  if (!w || !w.ok || !shape || !div.data) return;
  const t0 = performance.now(), v = w.values.slice(0, cfg.ranges.length).map(Number);
  const page = cfg.kind === '1d' ? GeKl.panel1d(...v, w.values[4]) : GeKl.panel2d(v);
  if (drawn?.look === look() && inside(page.ranges, drawn.ranges, KEEP) && GeFrames.move(div, page.traces, page.title)) {
    resting = page;
    frames.moved++;
  } else {
    const ranges = inside(page.ranges, page.room) ? page.room : page.ranges;
    plotlyDraws(figureOf(page, ranges), ranges);
    resting = ranges === page.ranges ? null : page;  // on roomy axes: drawn on its own once the hand pauses
    frames.plotly++;
  }
  box.innerHTML = page.html;
  root.gePage = {pq: page.pq, qp: page.qp, traces: page.traces, ranges: page.ranges};  // what the page computed, for the tests
  root.dataset.drawn = key(w.values);  // what it shows (the benchmark and the tests watch this)
  costs.push(performance.now() - t0);
  if (costs.length > 1000) costs.shift();
  root.geCosts = costs;
};
// what the server is told: a number where the box holds one, else what it holds
const normal = values => values.map(v => (v === '' || v == null ? v ?? null : Number.isFinite(Number(v)) ? Number(v) : v));
const request = values => {  // values: the sliders (and for 1-D the direction) as the page holds them
  want = {values: normal(values), ok: valid(values)};
  lastInput = performance.now();
  clearTimeout(settleTimer);
  settleTimer = setTimeout(settle, 150);  // the server's answer, once the hand pauses; it names a bad value
  if (want.ok && !frame) frame = requestAnimationFrame(redraw);  // input events coalesce: one draw per frame
};
const read = target => {  // the values as the page holds them; `target`: the element whose event this is
  const values = cfg.sliders.map(id => {
    const own = target && target.closest && target.closest(`#${id}`);
    // the number box holds what was typed, even out of range (the range input would clamp it)
    return own ? target.value : document.querySelector(`#${id} input[type=number]`)?.value;
  });
  if (cfg.direction) {  // the radio just clicked, else the one Gradio marks (its radios do not share a name)
    const own = target && target.closest && target.closest(`#${cfg.direction}`);
    values.push(own ? target.value
      : document.querySelector(`#${cfg.direction} input[aria-checked="true"]`)?.value ?? 'KL(p‖q)');
  }
  return values;
};
root.addEventListener('ge-set', e => {  // the sliders' values; the direction, if not given, is the radio's
  const values = [...e.detail];
  if (cfg.direction && values.length === cfg.sliders.length) values.push(read(null).at(-1));
  request(values);
});
document.addEventListener('input', e => {  // one of this panel's sliders (its range or number box) or the direction
  const ids = [...cfg.sliders, cfg.direction].filter(Boolean);
  if (e.target.closest && ids.some(id => e.target.closest(`#${id}`))) request(read(e.target));
}, true);

const show = () => {  // a value from the server: its figure is the truth, and the styling the page reuses
  if (!props.value) return;
  const v = JSON.parse(props.value);
  if (asker.stale(v.seq)) return;  // a newer question is out: its answer replaces the page's
  if (!v.figure) { box.innerHTML = v.html; return; }  // a message only (live_note): the figure stays as it was
  if (v.figure.layout.template) template = v.figure.layout.template; else v.figure.layout.template = template;
  shape = v.figure;
  // it replaces the page's drawing unless it answers for other values while the hand is still moving
  const moving = performance.now() - lastInput < 300;
  if (want && moving && key(want.values) !== key(v.params)) return;
  if (frame) { cancelAnimationFrame(frame); frame = 0; }
  box.innerHTML = v.html;
  if (v.export) div.geExportInfo = v.export;  // what its downloads are called (static/page.js)
  plotlyDraws([v.figure.data, theme(v.figure.layout)],
              Object.fromEntries(AXES.map(a => [a, v.figure.layout[axisName(a)]?.range])));
  root.dataset.drawn = key(v.params);
  root.dataset.server = key(v.params);
};
show();
watch('value', show);
// a slider moved before this script ran (the tab had just opened): draw, and ask the server, for what it shows now
const now = read(null);
if (props.value && now.every(v => v != null) && key(normal(now)) !== key(JSON.parse(props.value).params)) {
  request(now);
}
