// The latent map's star follows every change of z (drag, arrow keys, typing), in the page alone: a JS-only
// .change event of each slider, whose inputs are all the sliders. The star trace's meta holds the map plane's
// projection uv = (z − c)·P (explorer/labs/vae/latent_map.py); an empty or bad value moves nothing.
(...z) => {
  const div = document.querySelector('#vae-map .ge-live-plot');
  if (!div || !div.data || !window.Plotly) return [];
  const i = div.data.findIndex(t => t.meta && t.meta.P);
  if (i < 0) return [];
  const {center, P, axes, exact} = div.data[i].meta;
  const raw = z.slice(0, center.length), zs = raw.map(Number);
  if (raw.some(v => v === null || v === '') || zs.some(v => !Number.isFinite(v))) return [];
  let u = 0, v = 0;
  zs.forEach((zd, d) => { u += (zd - center[d]) * P[d][0]; v += (zd - center[d]) * P[d][1]; });
  (div.gePlotly || window.Plotly).restyle(div, {x: [[u]], y: [[v]]}, [i]);
  // how far z lies from the plane (latent_map.off_plane_text says the same for the server's z)
  const line = document.querySelector('#vae-map .ge-map-off b');
  if (line && !exact) {
    let off = 0, far = 0;
    zs.forEach((zd, d) => {
      const r = zd - center[d] - u * axes[0][d] - v * axes[1][d];
      off += r * r; far += (zd - center[d]) ** 2;
    });
    line.textContent = Math.sqrt(off).toFixed(2);
    line.nextSibling.textContent = ` from the plane, ${Math.sqrt(far).toFixed(2)} from the means' centre.`;
  }
  return [];
}
