// The latent map's star follows every change of z (drag, arrow keys, typing), in the page alone: a JS-only
// .change event of each slider, whose inputs are all the sliders. The star trace's meta holds the map plane's
// projection uv = (z − c)·P (explorer/labs/vae/latent_map.py); an empty or bad value moves nothing.
(...z) => {
  const div = document.querySelector('#vae-map .ge-live-plot');
  if (!div || !div.data || !window.Plotly) return [];
  const i = div.data.findIndex(t => t.meta && t.meta.P);
  if (i < 0) return [];
  const {center, P} = div.data[i].meta;
  const raw = z.slice(0, center.length), zs = raw.map(Number);
  if (raw.some(v => v === null || v === '') || zs.some(v => !Number.isFinite(v))) return [];
  let u = 0, v = 0;
  zs.forEach((zd, d) => { u += (zd - center[d]) * P[d][0]; v += (zd - center[d]) * P[d][1]; });
  (div.gePlotly || window.Plotly).restyle(div, {x: [[u]], y: [[v]]}, [i]);
  return [];
}
