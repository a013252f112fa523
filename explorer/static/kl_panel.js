// A KL panel computed in the page (render.page_plot; labs/kl/panel.py, two_d.py): while its sliders move, the page
// computes both KLs, the densities (1-D) or the ellipses (2-D) with lib/kl_maths.js and draws once per animation
// frame: by moving the curves inside Plotly's drawing (lib/plot_frames.js) while the axes keep their ranges, else with
// one Plotly.react; when the hand pauses it asks the server ('settle'), whose answer (the value) replaces the page's.
// The controls' values (the sliders, and for 1-D the direction) come on the page's channel from their own input
// events (lib/controls.js). The value is the server's: {html, figure, params}, a
// `render.live_value`; the page keeps its figure's styling and replaces only the arrays and texts it computes. A
// 'ge-set' event on the .ge-page-plot root (detail: the values, in slider order, and for 1-D the direction) sets what
// is drawn: the presets use it, and so do the tests.
import {on} from './lib/channel.js';
import {follow} from './lib/controls.js';
import * as kl from './lib/kl_maths.js';
import {move} from './lib/plot_frames.js';
import {drag} from './lib/settle.js';
import {CONFIG, theme as dark} from './lib/theme.js';

const KEEP = 0.5;  // the least share of an axis that a frame's own range may fill and keep the axis
const key = values => JSON.stringify(values);
// each trace named by its place (lib/plot_frames.js finds Plotly's drawing of a trace by its uid)
const named = data => data.map((trace, i) => ({...trace, uid: `ge${i}`}));
// what the server is told: a number where the box holds one, else what it holds
const normal = values => values.map(v => (v === '' || v == null ? v ?? null : Number.isFinite(Number(v)) ? Number(v) : v));

export const mount = ({element, props, watch, trigger}) => {
  const root = element.querySelector('.ge-page-plot'), cfg = JSON.parse(root.dataset.config);
  const box = element.querySelector('.ge-live-html'), div = element.querySelector('.ge-live-plot');
  root.geKl = kl;  // the page's maths, for the tests that compare it with torch
  let template = null, shape = null;  // plotly's template (first value only) and the server figure last drawn
  let want = null;
  const costs = [];  // milliseconds of main-thread work per page update (the benchmark reads it)

  // the copy of plotly.js that drew the figure first draws it always: Gradio's gr.Plot brings a second one and makes it
  // window.Plotly when it loads, and a figure that another copy drew is drawn anew, measuring every label
  const plotly = () => (div.gePlotly ??= window.Plotly);
  const narrow = window.matchMedia('(max-width: 640px)');  // a phone: a shorter figure, kept in view (app.css)
  // presenter mode (presenter.js): larger type above the figure, so a shorter figure keeps it on a 1280 × 720 screen
  const presenting = () => document.documentElement.classList.contains('ge-presenting');
  const theme = layout => {  // dark mode (lib/theme.js), and the phone's and the projector's heights
    const l = dark(layout);
    if (narrow.matches) return {...l, height: 270, margin: {...l.margin, t: 40, b: 30}};
    return presenting() && l.height ? {...l, height: l.height - 80} : l;
  };
  const valid = values => cfg.ranges.every(([lo, hi], i) => {
    const v = values[i];
    return v !== '' && v !== null && Number.isFinite(Number(v)) && Number(v) >= lo && Number(v) <= hi;
  });

  // The axes Plotly drew last: their ranges, and the look (dark mode, the phone's layout). A frame whose own ranges
  // (kl_maths.steady_range: they change in steps) lie inside them and fill at least half of each keeps them: its
  // curves are moved inside Plotly's drawing (plot_frames.js, ~1 ms) instead of a Plotly.react (12–16 ms here), and
  // the axes hold still while the hand moves. Plotly draws every other frame, on roomier ranges (the panel's `room`:
  // a growing curve then keeps them for many frames), and the hand's last frame once it pauses, on its own ranges:
  // the figure at rest has the ranges the server's has.
  const AXES = cfg.kind === '1d' ? ['x', 'y', 'y2'] : ['x', 'y'], axisName = a => `${a[0]}axis${a.slice(1)}`;
  const look = () => JSON.stringify([document.body.classList.contains('dark'), narrow.matches]);
  let drawn = null, resting = null;  // drawn: {ranges, look} of Plotly's last figure; resting: the last moved frame
  const inside = (inner, outer, fill = 0) => AXES.every(a => {
    const [lo, hi] = inner[a], [L, H] = outer[a] ?? [NaN, NaN];
    return lo >= L && hi <= H && hi - lo >= fill * (H - L);
  });
  const frames = {moved: 0, plotly: 0};  // how each page frame was drawn (the benchmark and the tests read it)
  root.geFrames = frames;
  const figureOf = (page, ranges) => {  // the server figure's styling with the page's arrays, texts and `ranges`
    const data = named(shape.data.map((trace, i) => ({...trace, ...page.traces[i]})));
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
    const w = want;
    if (!w || !w.ok || !shape || !div.data) return;
    const t0 = performance.now(), v = w.values.slice(0, cfg.ranges.length).map(Number);
    const page = cfg.kind === '1d' ? kl.panel1d(...v, w.values[4]) : kl.panel2d(v);
    if (drawn?.look === look() && inside(page.ranges, drawn.ranges, KEEP) && move(div, page.traces, page.title)) {
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
  // the hand paused: Plotly draws the last moved frame (its model of the figure, for hover and resizing, is then true
  // even with no server), and the server is asked for its answer, which replaces the page's
  const hand = drag({trigger, draw: redraw, make: () => (want ? {values: want.values} : null), paused: () => {
    if (resting) plotlyDraws(figureOf(resting, resting.ranges), resting.ranges);
    hand.ask();
  }});
  // the controls as the page holds them: the sliders (the server's values, then their own input events, lib/controls.js,
  // and the presets' 'ge-set') and, for 1-D, the direction radio's choice (its own events, and Gradio's change events:
  // a link's choice); a 'ge-set' with a direction draws it without choosing it
  const n = cfg.sliders.length, first = props.value ? JSON.parse(props.value).params ?? null : null;
  let held = first ? first.slice(0, n) : null, radio = cfg.direction ? first?.[n] ?? 'KL(p‖q)' : null;
  const request = values => {
    held = values.slice(0, n);
    want = {values: normal(values), ok: valid(values)};
    hand.moved(want.ok);  // input events coalesce: one draw per frame; the server's answer once the hand pauses
  };
  const now = () => (cfg.direction ? [...held, radio] : [...held]);
  root.addEventListener('ge-set', e => {
    const values = [...e.detail];
    if (cfg.direction && values.length === n) values.push(radio);
    request(values);
  });
  follow(element, [...cfg.sliders, ...(cfg.direction ? [cfg.direction] : [])]);
  // (a value that came before this module ran, the tab having just opened, comes at once: drawn and asked)
  cfg.sliders.forEach((id, i) => on(id, ([v]) => {
    if (!held || key(normal([v])) === key(normal([held[i]]))) return;
    held = [...held];
    held[i] = v;
    request(now());
  }));
  // the radio clicked: drawn; set by the server (a link, whose figure comes with it): only kept
  if (cfg.direction) on(cfg.direction, ([v], clicked) => { radio = v; if (clicked && held) request(now()); },
                        {replay: false});

  const show = () => {  // a value from the server: its figure is the truth, and the styling the page reuses
    if (!props.value) return;
    const v = JSON.parse(props.value);
    if (hand.stale(v.seq)) return;  // a newer question is out: its answer replaces the page's
    if (!v.figure) { box.innerHTML = v.html; return; }  // a message only (live_note): the figure stays as it was
    if (v.figure.layout.template) template = v.figure.layout.template; else v.figure.layout.template = template;
    shape = v.figure;
    // it replaces the page's drawing unless it answers for other values while the hand is still moving
    if (want && hand.moving() && key(want.values) !== key(v.params)) return;
    hand.cancelFrame();
    // a value the server sent on its own (a link, a step): its controls are the page's now; an answer to the page's
    // own question holds what the page asked
    if (typeof v.seq !== 'number') held = v.params.slice(0, n);
    box.innerHTML = v.html;
    if (v.export) div.geExportInfo = v.export;  // what its downloads are called (static/page.js)
    plotlyDraws([named(v.figure.data), theme(v.figure.layout)],
                Object.fromEntries(AXES.map(a => [a, v.figure.layout[axisName(a)]?.range])));
    root.dataset.drawn = key(v.params);
    root.dataset.server = key(v.params);
  };
  show();
  watch('value', show);
};
