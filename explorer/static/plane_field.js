// The 2-D lab's field view (explorer/labs/plane/field.py). Its value names the field table the server computed for
// the chosen data set (every T/100 steps: ε_θ and ε* on a grid of arrows, q(z_t), the error map); the page draws
// the t and the layer that its controls (t, show) are on, as they move, with no request: their values come on the
// page's channel (lib/channel.js), from their own input events (lib/controls.js) and Gradio's change events (a
// link's values too); before any change, the root's data-initial holds them.
import {on} from './lib/channel.js';
import {follow} from './lib/controls.js';
import {PLANE} from './lib/plane.js';

export const mount = ({element, props, watch, trigger}) => {
  const root = element.querySelector('.ge-plane-field'), canvas = root.querySelector('canvas');
  const readout = root.querySelector('.ge-plane-readout'), legend = root.querySelector('.ge-plane-legend');
  const note = root.querySelector('.ge-plane-note');
  let table = null, url = null, pending = false;  // pending: a value came while the view was hidden

  let [tNow, mode] = JSON.parse(root.dataset.initial);  // the controls' values

  function draw() {
    if (!table) return;
    const {v, A, H, R} = table, m = mode;
    const k = PLANE.nearest(v.ts, Number.isFinite(Number(tNow)) && tNow !== null ? Number(tNow) : v.ts[0]);
    const {ctx, S} = PLANE.setup(canvas);
    const errorMap = m.startsWith('error') && R > 0, exact = m.startsWith('exact');
    if (errorMap) PLANE.heat(ctx, S, table.err, k * R, v.err, PLANE.ERROR);
    else PLANE.heat(ctx, S, table.dens, k * H, v.heat, PLANE.DENSITY);
    PLANE.arrows(ctx, S, v.extent, v.arrows, exact ? table.exact : table.learned, 2 * A * k,
                 exact ? v.exact_scale : v.learned_scale, errorMap ? '#333' : '#b3261e');
    const t = v.ts[k];
    root.dataset.t = t;
    root.dataset.mode = errorMap ? 'error' : exact ? 'exact' : 'learned';
    readout.textContent = `${v.title}, t = ${t}: √ᾱ_t = ${v.sqrt_ab[k].toFixed(3)}` +
      (R > 0 ? `; the network's mean error ‖ε_θ − ε*‖ under q(z_t): ${v.err_mean[k].toFixed(3)}` : '') + '.';
    legend.textContent = errorMap
      ? `Colour: ‖ε_θ − ε*‖ from 0 (white) to ${v.err_max.toFixed(2)} (dark red), one scale for every t. ` +
        'Arrows: the learned field.'
      : `Colour: q(z_t), white where it is 0. Arrows: ${exact ? 'the exact −ε*' : 'the learned −ε_θ'}, ` +
        `length in proportion to |ε|, capped at ${PLANE.UNIT} (most of a cell).`;
    note.textContent = `Reference density: ${v.note}.` + (m.startsWith('error') && !R
      ? ' No exact field here, so no error map: pick ring8, uneven3 or your own drawing.' : '');
    canvas.setAttribute('aria-label', `${readout.textContent} ${legend.textContent}`);
  }

  // the table is fetched when the view is first shown: a page opened on another lab never downloads it
  function load() {
    if (!props.value) return;
    if (!canvas.clientWidth) { pending = true; return; }
    pending = false;
    const v = JSON.parse(props.value);
    if (v.url === url) { draw(); return; }
    url = v.url;
    PLANE.fetchBin(v.url).then(buf => {
      if (url !== v.url) return;
      table = PLANE.table(v, buf);
      root.dataset.loaded = v.data;
      draw();
    }).catch(e => { readout.textContent = `Could not load the field (${e.message}).`; });
  }

  follow(element, ['plane-t', 'plane-show']);
  on('plane-t', ([t]) => { tNow = t; draw(); });
  on('plane-show', ([show]) => { mode = show ?? mode; draw(); });
  // a tab opened, a window resized: drawn at its new size (and loaded, if a value came while hidden)
  new ResizeObserver(() => (pending && canvas.clientWidth ? load() : draw())).observe(canvas);
  watch('value', load);
  load();
};
