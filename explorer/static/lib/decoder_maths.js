// The VAE decoder's forward pass and the pixel seed's uniforms, as the page computes them while a latent slider is
// dragged (explorer/static/decoder.js). explorer/labs/vae/page_decoder.py writes the weights and draws the same
// uniforms; tests/js/decoder_maths.test.mjs checks both against what torch and Python compute.

// The weights file: every layer's W (nOut × nIn, row-major) then b, float32, in order; dims = [D, h1, …, 784]
export const layersOf = (buffer, dims) => {
  const all = new Float32Array(buffer), layers = [];
  let at = 0;
  for (let i = 0; i + 1 < dims.length; i++) {
    const nIn = dims[i], nOut = dims[i + 1];
    layers.push({W: all.subarray(at, at + nIn * nOut), b: all.subarray(at + nIn * nOut, at + nIn * nOut + nOut),
                 nIn, nOut});
    at += nIn * nOut + nOut;
  }
  if (at !== all.length) throw new Error(`the weights hold ${all.length} numbers, the layers ${dims} need ${at}`);
  return layers;
};

// f_θ(z): Linear → ELU → … → Linear → sigmoid, accumulated in float64 (the weights are float32)
export const forward = (layers, z) => {
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

// Mulberry32 (Tommy Ettinger), the same uniforms as page_decoder.pixel_uniforms: pixel m is on when u_m < f_θ(z)_m
export const uniforms = (seed, n) => {
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
