// The 2-D lab's particles (explorer/labs/plane/particles.py). The value names two runs from the same z_T (DDPM and
// DDIM): files of every kept step's positions (int16 codes × pos_scale, (frames, n, 2)) and predicted noise, and the
// field table of the data set. Playing, scrubbing, trails, histograms and a clicked particle's path are all drawn
// here from those files, with no request: the server computed them once.
import {PLANE} from './lib/plane.js';

export const mount = ({element, props, watch, trigger}) => {
  const root = element.querySelector('.ge-plane-particles'), panelsBox = root.querySelector('.ge-plane-panels');
  const playBtn = root.querySelector('.ge-plane-play'), scrub = root.querySelector('.ge-plane-t');
  const tOut = root.querySelector('.ge-plane-tval'), status = root.querySelector('.ge-plane-status');
  const trails = root.querySelector('.ge-plane-trails'), under = root.querySelector('.ge-plane-under');
  // kept frames in a trail, and trails for at most TRAILED particles (evenly chosen: a crowd's trails show its flow,
  // and each costs paint time); a whole run (t from T to 0) plays in PLAY_MS
  const TRAIL = 6, TRAILED = 600, PLAY_MS = 5000;
  let shown = null, panels = [], field = null, chosen = -1, playing = 0, drawMs = [], drawn = '';

  const frameAt = (run, t) => {  // the last kept frame whose t is ≥ the playhead's: the state the sampler has reached
    let k = 0;
    while (k + 1 < run.t.length && run.t[k + 1] >= t) k++;
    return k;
  };

  function histogram(ctx, W, H, run, codes, marg, k, axis, colour) {
    const n = run.n, B = run.bins, E = run.extent, w = 2 * E / B, counts = new Float64Array(B);
    for (let i = 0; i < n; i++) {
      const v = codes[2 * (k * n + i) + axis] * run.pos_scale, b = Math.floor((v + E) / w);
      if (b >= 0 && b < B) counts[b] += 1 / (n * w);
    }
    const ref = marg.subarray((2 * k + axis) * B, (2 * k + axis + 1) * B), top = Math.max(...counts, ...ref, 1e-9);
    ctx.clearRect(0, 0, W, H);
    ctx.fillStyle = colour;
    for (let b = 0; b < B; b++) {
      const h = counts[b] / top * (H - 4);
      ctx.fillRect(b * W / B, H - h, W / B - 0.5, h);
    }
    ctx.strokeStyle = '#111'; ctx.lineWidth = 1.5; ctx.beginPath();
    ref.forEach((d, b) => { const x = (b + 0.5) * W / B, y = H - d / top * (H - 4); b ? ctx.lineTo(x, y) : ctx.moveTo(x, y); });
    ctx.stroke();
    ctx.fillStyle = '#111'; ctx.font = '12px sans-serif'; ctx.fillText(axis ? 'y' : 'x', 4, 13);
  }

  function drawPanel(p, t) {
    const {run, codes} = p, n = run.n, E = run.extent, k = frameAt(run, t);
    const {ctx, S} = PLANE.setup(p.canvas), P = PLANE.px(E, S);
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, S, S);
    if (under.checked && field) {  // the field at the nearest t of the table (none at t = 0: the data itself)
      const v = field.v, j = PLANE.nearest(v.ts, Math.max(run.t[k], v.ts[0]));
      ctx.globalAlpha = 0.55;
      PLANE.heat(ctx, S, field.dens, j * field.H, v.heat, PLANE.DENSITY);
      ctx.globalAlpha = 0.35;
      PLANE.arrows(ctx, S, E, v.arrows, field.learned, 2 * field.A * j, v.learned_scale, '#555');
      ctx.globalAlpha = 1;
    }
    const s = run.pos_scale;
    if (trails.checked && k > 0) {
      const stride = Math.ceil(n / TRAILED);
      ctx.strokeStyle = 'rgba(179, 38, 30, 0.25)'; ctx.lineWidth = 1; ctx.beginPath();
      for (let i = 0; i < n; i += stride) {
        for (let j = Math.max(0, k - TRAIL); j < k; j++) {
          const a = 2 * (j * n + i), b = 2 * ((j + 1) * n + i);
          ctx.moveTo(P.x(codes[a] * s), P.y(codes[a + 1] * s));
          ctx.lineTo(P.x(codes[b] * s), P.y(codes[b + 1] * s));
        }
      }
      ctx.stroke();
    }
    ctx.fillStyle = '#b3261e';
    for (let i = 0; i < n; i++) {
      const a = 2 * (k * n + i);
      ctx.fillRect(P.x(codes[a] * s) - 1, P.y(codes[a + 1] * s) - 1, 2, 2);
    }
    if (chosen >= 0 && chosen < n) drawPath(ctx, P, p, k);
    histogram(p.hx.getContext('2d'), p.hx.width, p.hx.height, run, codes, p.marg, k, 0, '#8fb8de');
    histogram(p.hy.getContext('2d'), p.hy.width, p.hy.height, run, codes, p.marg, k, 1, '#8fb8de');
    const tk = run.t[k];
    p.caption.textContent = `${run.label}: ${tk ? `z_${tk}` : 'the samples z_0'}` +
      (run.frames < run.computed ? ` (every step computed; ${run.frames} of its ${run.computed} states kept to play)` : '');
    p.canvas.dataset.frame = k;
  }

  function drawPath(ctx, P, p, k) {  // the chosen particle: its whole path, x̂_0 and −ε̂ at the shown frame
    const {run, codes} = p, n = run.n, s = run.pos_scale, i = chosen;
    ctx.strokeStyle = '#0b57d0'; ctx.lineWidth = 1.5; ctx.beginPath();
    for (let j = 0; j < run.frames; j++) {
      const a = 2 * (j * n + i);
      j ? ctx.lineTo(P.x(codes[a] * s), P.y(codes[a + 1] * s)) : ctx.moveTo(P.x(codes[a] * s), P.y(codes[a + 1] * s));
    }
    ctx.stroke();
    const a = 2 * (k * n + i), zx = codes[a] * s, zy = codes[a + 1] * s;
    ctx.fillStyle = '#0b57d0'; ctx.beginPath(); ctx.arc(P.x(zx), P.y(zy), 4.5, 0, 2 * Math.PI); ctx.fill();
    if (!p.eps || !run.t[k]) return;
    const ex = p.eps[a] * run.eps_scale, ey = p.eps[a + 1] * run.eps_scale;
    const x0 = (zx - run.sqrt_1mab[k] * ex) / run.sqrt_ab[k], y0 = (zy - run.sqrt_1mab[k] * ey) / run.sqrt_ab[k];
    ctx.strokeStyle = '#0b57d0'; ctx.lineWidth = 2; ctx.beginPath();
    ctx.moveTo(P.x(zx), P.y(zy)); ctx.lineTo(P.x(zx - 0.5 * ex), P.y(zy - 0.5 * ey)); ctx.stroke();
    const X = P.x(x0), Y = P.y(y0);
    ctx.beginPath(); ctx.moveTo(X - 6, Y - 6); ctx.lineTo(X + 6, Y + 6); ctx.moveTo(X - 6, Y + 6); ctx.lineTo(X + 6, Y - 6);
    ctx.stroke();
    p.canvas.dataset.x0 = `${x0},${y0}`;
  }

  function draw() {
    if (!panels.length) return;
    const t0 = performance.now(), t = +scrub.value;
    tOut.textContent = `t = ${t}`;
    // the panels show the sampler's states: while the playhead stays between two of them, nothing is drawn again
    const key = [...panels.map(p => `${frameAt(p.run, t)}:${!!p.eps}`), chosen, trails.checked, under.checked,
                 panels[0].canvas.clientWidth].join();
    if (key === drawn) return;
    drawn = key;
    panels.forEach(p => drawPanel(p, t));
    drawMs.push(performance.now() - t0);
    if (drawMs.length > 2000) drawMs = drawMs.slice(-1000);
    root.geStats = {drawMs, t};
  }

  function choose(p, e) {  // the particle nearest the click, in the frame shown
    const r = p.canvas.getBoundingClientRect(), {run, codes} = p, n = run.n, k = frameAt(run, +scrub.value);
    const [x, y] = PLANE.fromPx(run.extent, r.width, e.clientX - r.left, e.clientY - r.top);
    let best = -1, d = Infinity;
    for (let i = 0; i < n; i++) {
      const a = 2 * (k * n + i), dd = (codes[a] * run.pos_scale - x) ** 2 + (codes[a + 1] * run.pos_scale - y) ** 2;
      if (dd < d) { d = dd; best = i; }
    }
    chosen = best;
    root.dataset.chosen = best;
    Promise.all(panels.map(q => q.eps ? null : PLANE.fetchBin(q.run.eps).then(b => { q.eps = new Int16Array(b); })))
      .then(draw);
    status.textContent = `Following particle ${best + 1} of ${n}: its path in both panels (the same z_T), the guess x̂_0 ` +
      '(a cross) and the arrow −ε̂ at the shown step. Click elsewhere to follow another.';
    draw();
  }

  function play() {
    if (playing) { playing = 0; playBtn.textContent = '▶ play'; playBtn.setAttribute('aria-label', 'play'); return; }
    if (+scrub.value <= 0) scrub.value = scrub.max;
    const start = performance.now(), from = +scrub.value, T = +scrub.max, id = playing = performance.now();
    playBtn.textContent = '⏸ pause'; playBtn.setAttribute('aria-label', 'pause');
    const tick = now => {
      if (playing !== id) return;
      scrub.value = Math.max(0, Math.round(from - (now - start) / PLAY_MS * T));
      draw();
      if (+scrub.value > 0) requestAnimationFrame(tick);
      else { playing = 0; playBtn.textContent = '▶ play'; playBtn.setAttribute('aria-label', 'play'); }
    };
    requestAnimationFrame(tick);
  }

  // the runs are fetched when the view is first shown: a page opened elsewhere never downloads them
  let pending = false;
  function load() {
    if (!props.value) return;
    if (!root.clientWidth) { pending = true; return; }
    pending = false;
    const v = JSON.parse(props.value);
    if (shown && shown.runs[0].pos === v.runs[0].pos && shown.runs[1].pos === v.runs[1].pos) return;
    shown = v; chosen = -1; playing = 0;
    status.textContent = 'Loading the runs…';
    Promise.all([...v.runs.map(r => PLANE.fetchBin(r.pos)), PLANE.fetchBin(v.field.url)]).then(bufs => {
      if (shown !== v) return;
      field = PLANE.table(v.field, bufs[2]);
      panelsBox.replaceChildren();
      panels = v.runs.map((run, i) => {
        const fig = document.createElement('figure');
        fig.className = 'ge-plane-panel';
        fig.innerHTML = "<canvas class='ge-plane-canvas' role='img'></canvas><div class='ge-plane-hists'>" +
          "<canvas class='ge-plane-hist' width='300' height='40' role='img'></canvas>" +
          "<canvas class='ge-plane-hist' width='300' height='40' role='img'></canvas></div><figcaption></figcaption>";
        panelsBox.append(fig);
        const [canvas, hx, hy] = fig.querySelectorAll('canvas');
        canvas.setAttribute('aria-label', `${run.label}: ${run.n} particles from the same z_T; click one to follow it`);
        hx.setAttribute('aria-label', 'histogram of the particles\' x against the marginal of q(z_t) (the line)');
        hy.setAttribute('aria-label', 'histogram of the particles\' y against the marginal of q(z_t) (the line)');
        const p = {run, codes: new Int16Array(bufs[i], 0, run.frames * run.n * 2), canvas, hx, hy,
                   marg: new Float32Array(bufs[i], run.marginals_at, run.frames * 2 * run.bins),
                   caption: fig.querySelector('figcaption'), eps: null, index: i};
        canvas.addEventListener('click', e => choose(p, e));
        return p;
      });
      drawn = '';
      scrub.max = v.runs[0].t[0];
      scrub.value = scrub.max;
      root.querySelector('.ge-plane-tmax').textContent = scrub.max;
      status.textContent = `${v.title}: ${v.runs[0].n} particles from z_T (seed ${v.seed}), played once from t = ` +
        `${scrub.max} to the samples at t = 0. Press play again or drag t; ` +
        'click a particle to follow it. Histograms: x, then y, against the marginals of q(z_t) (lines).';
      root.dataset.loaded = `${v.data}:${v.runs[1].label}`;
      draw();
      // a new run plays once and ends on its samples (at once, without the motion, for a reader who asks for less)
      if (matchMedia('(prefers-reduced-motion: reduce)').matches) { scrub.value = 0; draw(); } else play();
    }).catch(e => { status.textContent = `Could not load the runs (${e.message}).`; });
  }

  playBtn.addEventListener('click', play);
  scrub.addEventListener('input', draw);
  trails.addEventListener('change', draw);
  under.addEventListener('change', draw);
  // a tab opened, a window resized: drawn at its new size (and loaded, if a value came while hidden)
  new ResizeObserver(() => (pending && root.clientWidth ? load() : draw())).observe(root);
  watch('value', load);
  load();
};
