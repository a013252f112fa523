// The VAE lab's decoded view (explorer/labs/vae/page_decoder.py): while a latent slider is dragged, the page
// decodes z itself with the checkpoint's own weights and paints f_θ(z) and the seeded Bernoulli sample in the next
// display frame (one draw per frame, however many events came in it); when the drag settles it asks the server
// ('settle'), whose answer (the value) replaces the page's. Runs as gr.HTML's js_on_load: `element`, `props`,
// `watch` and `trigger` are Gradio's. It listens to the latent sliders' own input events (#vae-z1 … #vae-zD), with
// no Gradio event in between; a 'ge-decode' event on its .ge-dec root (model, seed, z) asks for a decode too (the
// tests use it). Hovering over the latent map or the decoded manifold decodes the point under the pointer (a
// preview: the sliders and the server are left as they are).
const root = element.querySelector('.ge-dec');
const decoders = JSON.parse(root.dataset.decoders);
const serverBox = element.querySelector('.ge-dec-server'), pageBox = element.querySelector('.ge-dec-page');
const canvases = [element.querySelector('.ge-dec-mean'), element.querySelector('.ge-dec-sample')];
const Z_RANGE = +root.dataset.zRange;
const weights = new Map();  // model name -> Promise of its layers [{W, b, nIn, nOut}]

const load = name => {
  if (!weights.has(name)) {
    const d = decoders[name];
    weights.set(name, fetch(new URL(d.url, document.baseURI)).then(r => {
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      return r.arrayBuffer();
    }).then(buf => {
      const all = new Float32Array(buf), layers = [];
      let at = 0;
      for (let i = 0; i + 1 < d.dims.length; i++) {
        const nIn = d.dims[i], nOut = d.dims[i + 1];
        layers.push({W: all.subarray(at, at + nIn * nOut), b: all.subarray(at + nIn * nOut, at + nIn * nOut + nOut),
                     nIn, nOut});
        at += nIn * nOut + nOut;
      }
      root.dataset.loaded = [root.dataset.loaded, name].filter(Boolean).join(',');
      return layers;
    }));
  }
  return weights.get(name);
};

// f_θ(z): Linear → ELU → … → Linear → sigmoid, accumulated in float64 (the weights are float32)
const forward = (layers, z) => {
  let h = Float64Array.from(z);
  layers.forEach((L, i) => {
    const out = new Float64Array(L.nOut), last = i === layers.length - 1;
    for (let o = 0; o < L.nOut; o++) {
      let s = L.b[o];
      const row = o * L.nIn;
      for (let k = 0; k < L.nIn; k++) s += L.W[row + k] * h[k];
      out[o] = last ? 1 / (1 + Math.exp(-s)) : (s > 0 ? s : Math.expm1(s));
    }
    h = out;
  });
  return h;
};

// Mulberry32, the same uniforms as page_decoder.pixel_uniforms: pixel m is on when u_m < f_θ(z)_m
const uniforms = (seed, n) => {
  let a = seed | 0;
  const u = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    a = a + 0x6D2B79F5 | 0;
    let t = Math.imul(a ^ a >>> 15, 1 | a);
    t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t;
    u[i] = ((t ^ t >>> 14) >>> 0) / 4294967296;
  }
  return u;
};

const paint = (canvas, values) => {
  const side = Math.round(Math.sqrt(values.length)), ctx = canvas.getContext('2d');
  const img = ctx.createImageData(side, side);
  values.forEach((v, i) => {
    const g = Math.round(Math.min(Math.max(v, 0), 1) * 255);
    img.data.set([g, g, g, 255], 4 * i);
  });
  ctx.putImageData(img, 0, 0);
};

let want = null, settleTimer = null, lastInput = -1e9, seedU = {seed: null, u: null}, current = null;
const costs = [];
const key = w => JSON.stringify([w.model, w.seed, w.z]);
const settle = geSettler(trigger, () => {  // a bad typed value goes to the server as typed: its answer names it
  if (!want) return null;
  // the seed as its box holds it now: one typed after this drag began would otherwise be undone by this answer
  const box = document.querySelector('#vae-seed input[type=number]')?.value, typed = box === undefined ? NaN : +box;
  const seed = box !== '' && Number.isInteger(typed) && typed >= 0 ? typed : want.rawSeed;
  return {model: want.model, seed, z: want.ok ? want.z : want.raw};
});
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
let frame = 0;  // input events coalesce: whatever came within one display frame is drawn once, at its start
const schedule = () => { if (!frame) frame = requestAnimationFrame(() => { frame = 0; drewNow = false; draw(); }); };
// Pointer moves reach the page once per display frame, at its start (browsers align them with animation frames): one
// is drawn at once, in the frame it came in (waiting for the next animation frame cost a frame: p50 19–24 ms against
// 12–14 ms, bench_vae's map hover), unless that frame has drawn already; then it waits for the next.
let drewNow = false;
const drawInThisFrame = () => {
  if (frame) return;  // a draw is scheduled: it will show the latest value
  if (drewNow) { schedule(); return; }
  drewNow = true;
  requestAnimationFrame(() => { drewNow = false; });
  draw();
};
const request = (model, seed, z) => {
  const D = decoders[model] ? decoders[model].dims[0] : 0, zs = z.slice(0, D).map(Number);
  const ok = Number.isInteger(Number(seed)) && Number(seed) >= 0 &&
    z.slice(0, D).every(v => v !== null && v !== '') && zs.every(v => Number.isFinite(v) && Math.abs(v) <= Z_RANGE);
  // what the server is told of a bad value: a number where the box holds one, else what it holds
  const raw = z.slice(0, D).map(v => (v === '' || v == null ? v ?? null : Number.isFinite(Number(v)) ? Number(v) : v));
  want = {model, seed: Number(seed), z: zs, ok, raw, rawSeed: ok ? Number(seed) : seed};
  lastInput = performance.now();
  clearTimeout(settleTimer);
  if (!ok) { settleTimer = setTimeout(settle.ask, 150); return; }  // a bad value: the server names it (typing paused)
  schedule();  // in time for the next frame: the weights are in memory, and a decode takes about a millisecond
  settleTimer = setTimeout(settle.ask, 150);
};
root.addEventListener('ge-decode', e => request(e.detail.model, e.detail.seed, e.detail.z));
document.addEventListener('input', e => {  // a latent slider moved (its range, or its number box being typed in)
  const box = e.target.closest && e.target.closest('[id^="vae-z"]');
  if (!box || !current || !(current.model in decoders)) return;
  const D = decoders[current.model].dims[0], z = [];
  for (let d = 1; d <= D; d++) {
    const own = box.id === `vae-z${d}`;
    z.push(own ? e.target.value : document.querySelector(`#vae-z${d} input[type=range]`)?.value);
  }
  request(current.model, current.seed, z);
}, true);
// --- hover: the point under the pointer on the latent map or the manifold, decoded in the page ---------------
const plane = () => {  // the map's projection, carried by its star trace (labs/vae/latent_map.py)
  const gd = document.querySelector('#vae-map .ge-live-plot');
  const star = gd && gd.data && gd.data.find(t => t.meta && t.meta.axes);
  return star ? star.meta : null;
};
const toZ = (p, u, v) => p.center.map((c, d) => c + u * p.axes[0][d] + v * p.axes[1][d]);
let hovering = false;
const preview = z => {
  clearTimeout(settleTimer);  // a preview is not sent to the server
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
  const p = current && current.model in decoders ? plane() : null;
  const onMap = e.target.closest && e.target.closest('#vae-map .ge-live-plot');
  const onGrid = e.target.closest && e.target.closest('#vae-manifold img');
  if (!p || !(onMap || onGrid)) { unhover(); return; }
  if (onMap) {
    const gd = document.querySelector('#vae-map .ge-live-plot'), L = gd._fullLayout, r = gd.getBoundingClientRect();
    const u = L.xaxis.p2d(e.clientX - r.left - L._size.l), v = L.yaxis.p2d(e.clientY - r.top - L._size.t);
    const [x0, x1] = L.xaxis.range, [y0, y1] = L.yaxis.range;
    if (u < Math.min(x0, x1) || u > Math.max(x0, x1) || v < Math.min(y0, y1) || v > Math.max(y0, y1)) {
      unhover(); return;
    }
    preview(toZ(p, u, v));
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
  current = {model: v.model, seed: v.seed};  // the model and pixel seed the next drag decodes with
  if (settle.stale(v.seq)) return;  // a newer question is out (static/settle.js): its answer replaces the page's
  serverBox.innerHTML = v.html;
  if (v.model in decoders) load(v.model);  // prefetch: later drags need no network
  // the server's answer replaces the page's, unless it answers for another z while the hand is still moving
  const dragging = performance.now() - lastInput < 300;
  if (!want || !dragging || key(want) === key(v) || v.error) { pageBox.hidden = true; serverBox.hidden = false; }
};
show();
watch('value', show);
