// The 2-D lab's field view (explorer/labs/plane/field.py). Its value names the field table the server computed for
// the chosen data set (every T/100 steps: ε_θ and ε* on a grid of arrows, q(z_t), the error map); the page draws
// the t that the slider #plane-t is on, in the same display frame as the slider moves, with no request. Runs as
// gr.HTML's js_on_load after plane_common.js.
const root = element.querySelector('.ge-plane-field'), canvas = root.querySelector('canvas');
const readout = root.querySelector('.ge-plane-readout'), legend = root.querySelector('.ge-plane-legend');
const note = root.querySelector('.ge-plane-note');
let table = null, url = null, pending = false;  // pending: a value came while the view was hidden

const slider = () => document.querySelector('#plane-t input[type=range]');
const mode = () => {
  const checked = document.querySelector('#plane-show input:checked');
  return checked ? checked.value : 'learned field −ε_θ';
};

function draw() {
  if (!table) return;
  const {v, A, H, R} = table, s = slider();
  const k = PLANE.nearest(v.ts, s ? +s.value : v.ts[0]), m = mode();
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

document.addEventListener('input', e => { if (e.target.closest && e.target.closest('#plane-t')) draw(); });
document.addEventListener('change', e => { if (e.target.closest && e.target.closest('#plane-show, #plane-t')) draw(); });
// a tab opened, a window resized: drawn at its new size (and loaded, if a value came while hidden)
new ResizeObserver(() => (pending && canvas.clientWidth ? load() : draw())).observe(canvas);
watch('value', load);
load();
