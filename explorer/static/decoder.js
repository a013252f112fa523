// The VAE lab's decoded view (explorer/labs/vae/page_decoder.py): while a latent slider is dragged, the page
// decodes z itself with the checkpoint's own weights and paints f_θ(z) and the seeded Bernoulli sample in the next
// display frame (one draw per frame, however many values came in it); when the drag settles it asks the server
// ('settle'), whose answer (the value) replaces the page's. A slider's own input events bring its value on the page's
// channel (lib/controls.js); the other sliders' values are the page's own z, which the server's answers set (a
// programmatic move: z = 0, random z, a click on the map). A 'ge-decode' event on its .ge-dec root (model, seed, z)
// asks for a decode too (the tests use it). Hovering over the latent map or
// the decoded manifold decodes the point under the pointer (a preview: the sliders and the server are left as they
// are).
import {on} from './lib/channel.js';
import {follow} from './lib/controls.js';
import {forward, layersOf, uniforms} from './lib/decoder_maths.js';
import {drag} from './lib/settle.js';

const paint = (canvas, values) => {
  const side = Math.round(Math.sqrt(values.length)), ctx = canvas.getContext('2d');
  const img = ctx.createImageData(side, side);
  values.forEach((v, i) => {
    const g = Math.round(Math.min(Math.max(v, 0), 1) * 255);
    img.data.set([g, g, g, 255], 4 * i);
  });
  ctx.putImageData(img, 0, 0);
};

const key = w => JSON.stringify([w.model, w.seed, w.z]);
const okSeed = s => s !== null && s !== '' && Number.isInteger(Number(s)) && Number(s) >= 0;

export const mount = ({element, props, watch, trigger}) => {
  const root = element.querySelector('.ge-dec');
  const decoders = JSON.parse(root.dataset.decoders);
  const serverBox = element.querySelector('.ge-dec-server'), pageBox = element.querySelector('.ge-dec-page');
  const canvases = [element.querySelector('.ge-dec-mean'), element.querySelector('.ge-dec-sample')];
  const Z_RANGE = +root.dataset.zRange;
  const weights = new Map();  // model name -> Promise of its layers
  const load = name => {
    if (!weights.has(name)) {
      const d = decoders[name];
      weights.set(name, fetch(new URL(d.url, document.baseURI)).then(r => {
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        return r.arrayBuffer();
      }).then(buf => {
        const layers = layersOf(buf, d.dims);
        root.dataset.loaded = [root.dataset.loaded, name].filter(Boolean).join(',');
        return layers;
      }));
    }
    return weights.get(name);
  };

  // The weights (2.6 MB for the 2-D model) are fetched once the page has opened (its link restored, its first views
  // shown) and is idle: on a fresh page they were the largest download before the first picture (docs/benchmarks.md).
  // A drag before then fetches them at once (`draw`).
  const queued = new Set();
  const prefetch = name => {
    if (queued.has(name)) return;
    queued.add(name);
    on('opened', () => (window.requestIdleCallback ?? (f => setTimeout(f, 200)))(() => load(name), {timeout: 2000}));
  };
  let want = null, seedU = {seed: null, u: null}, current = null;
  let z = [], seed = 0;  // the sliders' z and the pixel seed as the page holds them (typed values as typed)
  const lastGood = {};  // model -> the last z the page could draw: the server draws it under a bad value's message
  const costs = [];
  const draw = async () => {
    const w = want;
    if (!w || !(w.model in decoders)) return;
    const layers = await load(w.model);
    if (w !== want) return;  // a newer value came while the weights loaded
    const t0 = performance.now();
    const probs = forward(layers, w.z);
    if (seedU.seed !== w.seed) seedU = {seed: w.seed, u: uniforms(w.seed, probs.length)};
    paint(canvases[0], probs);
    paint(canvases[1], probs.map((p, i) => (seedU.u[i] < p ? 1 : 0)));
    element.querySelector('.ge-dec-seed').textContent = w.seed;
    pageBox.hidden = false; serverBox.hidden = true;
    root.geProbs = probs;  // f_θ(z) as the page computed it, for the tests that compare it with torch's
    root.dataset.drawn = key(w);  // what it shows (the benchmark and the tests watch this)
    costs.push(performance.now() - t0);  // milliseconds of main-thread work per update (the benchmark reads it)
    if (costs.length > 1000) costs.shift();
    root.geCosts = costs;
  };
  root.geMoving = () => hand.moving();  // (the tests wait until the hand is still)
  const hand = drag({trigger, draw, make: () => {  // a bad value goes to the server as it is: its answer names it
    if (!want) return null;
    // the seed as it is now: one typed after this drag began would otherwise be undone by this answer
    return {model: want.model, seed: okSeed(seed) ? Number(seed) : want.rawSeed, z: want.ok ? want.z : want.raw,
            last: lastGood[want.model] ?? null};
  }});
  // Pointer moves reach the page once per display frame, at its start (browsers align them with animation frames):
  // one is drawn at once, in the frame it came in (waiting for the next animation frame cost a frame: p50 19–24 ms
  // against 12–14 ms, bench_vae's map hover), unless that frame has drawn already; then it waits for the next.
  let drewNow = false;
  const drawInThisFrame = () => {
    if (hand.scheduled()) return;  // a draw is scheduled: it will show the latest value
    if (drewNow) { hand.schedule(); return; }
    drewNow = true;
    requestAnimationFrame(() => { drewNow = false; });
    draw();
  };
  const request = (model, seed, z) => {
    const D = decoders[model] ? decoders[model].dims[0] : 0, zs = z.slice(0, D).map(Number);
    const ok = okSeed(seed) && z.slice(0, D).every(v => v !== null && v !== '') &&
      zs.every(v => Number.isFinite(v) && Math.abs(v) <= Z_RANGE);
    // what the server is told of a bad value: a number where there is one, else what was typed
    const raw = z.slice(0, D).map(v => (v === '' || v == null ? v ?? null : Number.isFinite(Number(v)) ? Number(v) : v));
    want = {model, seed: Number(seed), z: zs, ok, raw, rawSeed: ok ? Number(seed) : seed};
    if (ok) lastGood[model] = zs;
    hand.moved(ok);  // drawn in time for the next frame (a decode takes about a millisecond), asked once it pauses
  };
  root.addEventListener('ge-decode', e => request(e.detail.model, e.detail.seed, e.detail.z));
  // a slider's own input events (its range or its number box): its value, and the page's z for the others
  const sliders = Array.from({length: +root.dataset.sliders}, (_, d) => `vae-z${d + 1}`);
  follow(element, [...sliders, 'vae-seed']);
  sliders.forEach((id, d) => on(id, ([v]) => {
    z[d] = v;
    if (current && current.model in decoders) request(current.model, seed, z);
  }, {replay: false}));
  // the pixel seed: redrawn at once and asked through the same settler as a drag, so that an answer for the old
  // seed (a drag's, still out when the seed was typed) can never land after the new seed's and undo it
  on('vae-seed', ([v]) => {
    if (String(v) === String(seed)) return;  // Gradio's echo of a value the page holds
    seed = v;
    if (current && current.model in decoders) request(current.model, seed, z);
  }, {replay: false});

  // --- hover: the point under the pointer on the latent map or the manifold, decoded in the page ---------------
  const plane = gd => {  // the map's projection, carried by its star trace (labs/vae/latent_map.py)
    const star = gd && gd.data && gd.data.find(t => t.meta && t.meta.axes);
    return star ? star.meta : null;
  };
  const toZ = (p, u, v) => p.center.map((c, d) => c + u * p.axes[0][d] + v * p.axes[1][d]);
  let hovering = false;
  const preview = z => {
    hand.cancelPause();  // a preview is not sent to the server
    want = {model: current.model, seed: current.seed, z, ok: true, raw: z, rawSeed: current.seed};
    hovering = true;
    drawInThisFrame();
  };
  const unhover = () => {
    if (!hovering) return;
    hovering = false;
    want = null;
    pageBox.hidden = true; serverBox.hidden = false;  // back to the sliders' z, as the server drew it
  };
  document.addEventListener('mousemove', e => {
    const onMap = e.target.closest && e.target.closest('#vae-map .ge-live-plot');
    const onGrid = e.target.closest && e.target.closest('#vae-manifold img');
    const gd = document.querySelector('#vae-map .ge-live-plot');
    const p = current && current.model in decoders ? plane(gd) : null;
    if (!p || !(onMap || onGrid)) { unhover(); return; }
    if (onMap) {  // the plot area is the drag rectangle Plotly draws over it; the ranges are its public layout's
      const area = gd.querySelector('.draglayer .xy .nsewdrag')?.getBoundingClientRect();
      const [x0, x1] = gd.layout?.xaxis?.range ?? [], [y0, y1] = gd.layout?.yaxis?.range ?? [];
      const fx = area && (e.clientX - area.left) / area.width, fy = area && (e.clientY - area.top) / area.height;
      if (!area || x0 === undefined || y0 === undefined || !(fx >= 0 && fx <= 1 && fy >= 0 && fy <= 1)) {
        unhover(); return;
      }
      preview(toZ(p, x0 + fx * (x1 - x0), y1 - fy * (y1 - y0)));
    } else {
      const r = onGrid.getBoundingClientRect(), n = p.grid.length;
      const col = Math.min(n - 1, Math.floor((e.clientX - r.left) / r.width * n));
      const row = Math.min(n - 1, Math.floor((e.clientY - r.top) / r.height * n));
      preview(toZ(p, p.grid[col], p.grid[n - 1 - row]));  // rows: v from high to low, as vae_maths.manifold
    }
  });

  const show = () => {
    if (!props.value) return;
    const v = JSON.parse(props.value);
    current = {model: v.model, seed: v.seed};  // the model and pixel seed the next hover decodes with
    if (!v.error) lastGood[v.model] = v.z;
    // a newer question is out (lib/settle.js): its answer replaces the page's. Checked before the page takes this
    // answer's z and seed: a question that waited for this answer is sent now, with what the page holds (taking a
    // stale answer's seed first sent the old seed again, and undid one typed meanwhile)
    if (hand.stale(v.seq)) return;
    if (!hand.moving()) { z = [...v.z]; seed = v.seed; }  // a programmatic move, or the answer to the last drag
    serverBox.innerHTML = v.html;
    if (v.model in decoders) prefetch(v.model);  // later drags need no network
    // the server's answer replaces the page's, unless it answers for another z while the hand is still moving
    if (!want || !hand.moving() || key(want) === key(v) || v.error) { pageBox.hidden = true; serverBox.hidden = false; }
  };
  show();
  watch('value', show);
};
