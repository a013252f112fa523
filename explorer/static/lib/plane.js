// Shared by the 2-D diffusion lab's views (explorer/labs/plane/): the binary files the server wrote
// (explorer/plane.py), fetched once each, and drawing on canvases. The plane is [−E, E]², x to the right, y up.
export const PLANE = (() => {
  const files = new Map();  // url -> Promise of its ArrayBuffer
  const fetchBin = url => {
    if (!files.has(url)) {
      files.set(url, fetch(new URL(url, document.baseURI)).then(r => {
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        return r.arrayBuffer();
      }));
    }
    return files.get(url);
  };
  // a canvas sized to its CSS box at the screen's pixel ratio; drawing coordinates are CSS pixels
  const setup = canvas => {
    const S = canvas.clientWidth || 360, r = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(S * r)) {
      canvas.width = Math.round(S * r);
      canvas.height = Math.round(S * r);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(r, 0, 0, r, 0, 0);
    return {ctx, S};
  };
  const px = (E, S) => ({x: v => (v + E) / (2 * E) * S, y: v => (E - v) / (2 * E) * S});
  const fromPx = (E, S, X, Y) => [X / S * 2 * E - E, E - Y / S * 2 * E];
  // colour ramps: 256 RGB entries between anchor colours
  const ramp = anchors => {
    const lut = new Uint8ClampedArray(256 * 3);
    for (let i = 0; i < 256; i++) {
      const f = i / 255 * (anchors.length - 1), k = Math.min(Math.floor(f), anchors.length - 2), w = f - k;
      for (let c = 0; c < 3; c++) lut[3 * i + c] = anchors[k][c] * (1 - w) + anchors[k + 1][c] * w;
    }
    return lut;
  };
  const DENSITY = ramp([[255, 255, 255], [214, 230, 244], [140, 190, 222], [55, 130, 190], [20, 70, 140]]);
  const ERROR = ramp([[255, 255, 255], [254, 228, 160], [253, 150, 70], [220, 40, 35], [120, 0, 40]]);
  const off = document.createElement('canvas');
  // n × n cells (row by row from the top) of u8 values at `offset`, over the whole canvas
  const heat = (ctx, S, u8, offset, n, lut) => {
    const img = new ImageData(n, n);
    for (let i = 0; i < n * n; i++) {
      const v = u8[offset + i];
      img.data[4 * i] = lut[3 * v]; img.data[4 * i + 1] = lut[3 * v + 1]; img.data[4 * i + 2] = lut[3 * v + 2];
      img.data[4 * i + 3] = 255;
    }
    off.width = n; off.height = n;
    off.getContext('2d').putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(off, 0, 0, S, S);
  };
  // arrows −ε at the centres of an n × n grid: codes (int16, 2 per arrow, × scale) from index `at`; an arrow's length
  // is |ε| / UNIT of 0.9 of a cell, at most that: the noise added has E|ε|² = 2 in two dimensions, so the arrows near
  // the data are long enough to read, and the much longer ones far from it (only a large ε reaches there) are capped
  const UNIT = 1.5;
  const arrows = (ctx, S, E, n, codes, at, scale, colour) => {
    const cell = S / n, P = px(E, S);
    ctx.strokeStyle = colour; ctx.fillStyle = colour; ctx.lineWidth = 1.2;
    for (let i = 0; i < n * n; i++) {
      const gx = -E + (i % n + 0.5) / n * 2 * E, gy = E - (Math.floor(i / n) + 0.5) / n * 2 * E;
      const ex = codes[at + 2 * i] * scale, ey = codes[at + 2 * i + 1] * scale;
      const len = Math.min(1, Math.hypot(ex, ey) / UNIT) * 0.9 * cell;
      if (len < 0.5) continue;
      const ux = -ex / Math.hypot(ex, ey), uy = ey / Math.hypot(ex, ey);  // −ε, with y up on the screen
      const x0 = P.x(gx) - ux * len / 2, y0 = P.y(gy) - uy * len / 2, x1 = x0 + ux * len, y1 = y0 + uy * len;
      const h = Math.min(4, len * 0.4);
      ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke();
      ctx.beginPath(); ctx.moveTo(x1, y1);
      ctx.lineTo(x1 - ux * h - uy * h * 0.6, y1 - uy * h + ux * h * 0.6);
      ctx.lineTo(x1 - ux * h + uy * h * 0.6, y1 - uy * h - ux * h * 0.6);
      ctx.fill();
    }
  };
  // the field table's parts (explorer/plane.field_table): views over one ArrayBuffer
  const table = (v, buf) => {
    const K = v.ts.length, A = v.arrows ** 2, H = v.heat ** 2, R = v.err_max > 0 ? v.err ** 2 : 0;
    return {v, K, A, H, R, learned: new Int16Array(buf, 0, K * A * 2), exact: new Int16Array(buf, K * A * 4, K * A * 2),
            dens: new Uint8Array(buf, K * A * 8, K * H), err: new Uint8Array(buf, K * A * 8 + K * H, K * R)};
  };
  const nearest = (ts, t) => {
    let k = 0;
    for (let i = 1; i < ts.length; i++) if (Math.abs(ts[i] - t) < Math.abs(ts[k] - t)) k = i;
    return k;
  };
  return {fetchBin, setup, px, fromPx, DENSITY, ERROR, heat, arrows, UNIT, table, nearest};
})();
