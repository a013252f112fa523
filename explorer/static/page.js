// The page's own code, imported once as it loads (launch's js): dark mode for the plotly figures, logarithmic slider
// tracks, and every figure exportable.
//
// Log sliders: a slider with the class ge-log-slider (labs/kl/common.LOG_SCALE) keeps its value, its number box
// and its range in σ, but its track is log σ, so that σ = 0.001 … 0.1 is not squeezed into the first pixels. The
// range input's own `value` (what Gradio reads and writes) converts between the two, and the bounds Gradio sets on
// it are taken as σ and set as log σ.
//
// Dark: lib/theme.js; a figure that is not a live plot (gr.Plot) is redrawn once after plotly draws it light
// ('plotly_afterplot').
//
// Export: "Download PNG" and "Download SVG" under each plotly figure whose layout names
// its export (render.exportable: layout.meta.ge_export = {name, caption}), and "Download PNG" under each image grid
// that names one (render.grid_tag: <figure data-ge-export=name>). The file is called `name`, and the caption, the
// parameters that made it, is drawn under the figure in the file too. Nothing leaves the page.
import {CONFIG, DARK, isDark, theme} from './lib/theme.js';

const redrawDark = gd => {
  if (!isDark() || !window.Plotly || gd.layout?.paper_bgcolor === DARK.paper) return;
  (gd.gePlotly || window.Plotly).react(gd, gd.data, theme(gd.layout), CONFIG);
};

const save = (url, file) => {
  const a = document.createElement('a');
  a.href = url; a.download = file; document.body.appendChild(a); a.click(); a.remove();
};
// a live plot keeps its export beside the figure (render.live_value), a gr.Plot in its layout
const plotMeta = gd => gd.geExportInfo || gd.layout?.meta?.ge_export;

// A KL panel draws the hand's values at once and the server's answer, which names its export, a moment later
// (kl_panel.js: dataset.drawn, dataset.server): a download waits until the server has answered for what is drawn,
// up to 5 s (then it takes the last answer's name: the server is gone or very slow)
const settled = gd => new Promise(done => {
  const root = gd.closest('.ge-page-plot');
  if (!root || root.dataset.server === root.dataset.drawn) { done(); return; }
  root.dataset.exportWaits = '1';  // (the tests wait for this mark)
  const end = () => { watch.disconnect(); clearTimeout(limit); delete root.dataset.exportWaits; done(); };
  const watch = new MutationObserver(() => { if (root.dataset.server === root.dataset.drawn) end(); });
  watch.observe(root, {attributes: true, attributeFilter: ['data-server', 'data-drawn']});
  const limit = setTimeout(end, 5000);
});

const savePlot = async (gd, format) => {
  await settled(gd);
  const meta = plotMeta(gd), area = gd.querySelector('.draglayer .xy .nsewdrag')?.getBoundingClientRect();
  if (!meta || !window.Plotly || !area) return;
  // the figure's size and margins as drawn: its box, and the plot area (the drag rectangle Plotly draws over it)
  const box = gd.getBoundingClientRect(), width = Math.round(box.width), height = Math.round(box.height);
  const margin = {l: area.left - box.left, r: box.right - area.right, t: area.top - box.top, b: box.bottom - area.bottom};
  const extra = 36;  // room for the caption under the plot
  const layout = JSON.parse(JSON.stringify(gd.layout));
  delete layout.meta;
  layout.width = width; layout.height = height + extra;
  layout.margin = {...margin, b: margin.b + extra, autoexpand: false};
  layout.annotations = [...(layout.annotations || []), {
    text: meta.caption, showarrow: false, xref: 'paper', yref: 'paper', x: 0, y: 0, xanchor: 'left',
    yanchor: 'top', yshift: -(margin.b + 6), align: 'left', font: {size: 12}}];
  const url = await Plotly.toImage({data: gd.data, layout},
                                   {format, width, height: height + extra, scale: format === 'png' ? 2 : 1});
  save(url, `${meta.name}.${format}`);
};

const saveGrid = async fig => {
  const img = fig.querySelector('img'), caption = (fig.querySelector('figcaption')?.innerText || '').trim();
  if (!img) return;
  await img.decode();
  const k = Math.max(1, Math.round(img.width / img.naturalWidth)), w = img.naturalWidth * k,
    h = img.naturalHeight * k, extra = caption ? 28 : 0;
  const c = document.createElement('canvas');
  c.width = Math.max(w, 320); c.height = h + extra;
  const x = c.getContext('2d');
  x.fillStyle = '#fff'; x.fillRect(0, 0, c.width, c.height);
  x.imageSmoothingEnabled = false;  // crisp pixels, as on screen
  x.drawImage(img, 0, 0, w, h);
  if (caption) { x.fillStyle = '#111'; x.font = '14px sans-serif'; x.fillText(caption, 4, h + 19, c.width - 8); }
  save(c.toDataURL('image/png'), `${fig.dataset.geExport}.png`);
};

const bar = (what, buttons) => {
  const div = document.createElement('div');
  div.className = 'ge-export';
  for (const [label, act] of buttons) {
    const b = document.createElement('button');
    b.type = 'button'; b.textContent = label; b.title = `${label} of ${what}`;
    b.addEventListener('click', act);
    div.appendChild(b);
  }
  return div;
};

const valueOf = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value');
const logTrack = r => {
  if (r.geLog) return;
  r.geLog = true;
  const sigma = Number(valueOf.get.call(r)), bounds = {min: Number(r.min), max: Number(r.max)};
  const setAttr = r.setAttribute.bind(r), L = Math.log10;
  const progress = () => r.style.setProperty('--range_progress',
    `${100 * (Number(valueOf.get.call(r)) - L(bounds.min)) / (L(bounds.max) - L(bounds.min))}%`);
  r.setAttribute = (name, v) => {  // Gradio sets min, max and step in σ
    if (name === 'min' || name === 'max') { bounds[name] = Number(v); setAttr(name, String(L(Number(v)))); return; }
    setAttr(name, name === 'step' ? '0.01' : v);  // an arrow key: σ × 1.023
  };
  Object.defineProperty(r, 'value', {
    configurable: true,
    get() {  // σ, to three significant digits, within the bounds
      const s = Number((10 ** Number(valueOf.get.call(r))).toPrecision(3));
      return String(Math.min(bounds.max, Math.max(bounds.min, s)));
    },
    set(v) { const s = Number(v); valueOf.set.call(r, String(L(s > 0 ? s : bounds.min))); progress(); },
  });
  r.setAttribute('min', bounds.min); r.setAttribute('max', bounds.max); r.setAttribute('step', 'any');
  r.value = sigma;
};

// sliders say what they are and their value to a screen reader (aria-valuetext: "σ_p 0.8", not a bare "0.8")
const sliderName = r => (r.closest('.block')?.querySelector('[data-testid="block-info"]')?.textContent || '').trim();
const speak = r => { const text = `${sliderName(r)} ${r.value}`.trim();
                     if (r.getAttribute('aria-valuetext') !== text) r.setAttribute('aria-valuetext', text); };

const scan = () => {
  for (const r of document.querySelectorAll('.ge-log-slider input[type=range]')) logTrack(r);
  for (const r of document.querySelectorAll('input[type=range]')) {
    if (!r.geSpeaks) { r.geSpeaks = true; r.addEventListener('input', () => speak(r)); }
    speak(r);
  }
  for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    if (!gd.geThemed && gd.on) { gd.geThemed = true; gd.on('plotly_afterplot', () => redrawDark(gd)); redrawDark(gd); }
    if (gd.geExport || !plotMeta(gd)) continue;
    gd.geExport = bar('this plot', [['Download PNG', () => savePlot(gd, 'png')],
                                    ['Download SVG', () => savePlot(gd, 'svg')]]);
    gd.after(gd.geExport);
  }
  for (const fig of document.querySelectorAll('figure[data-ge-export]')) {
    if (fig.querySelector(':scope > .ge-export')) continue;
    fig.appendChild(bar('this grid', [['Download PNG', () => saveGrid(fig)]]));
  }
};
// a phone: the KL figure stays in view while its sliders move (app.css, position: sticky), which needs Gradio's
// container to clip rather than hide its overflow (overflow: hidden makes it the scroller the figure sticks in;
// custom CSS cannot reach the container itself: Gradio scopes it to the container's contents)
const narrow = window.matchMedia('(max-width: 640px)');
const container = () => { const c = document.querySelector('.gradio-container');
                          if (c) c.style.overflow = narrow.matches ? 'clip' : ''; };
narrow.addEventListener('change', container);
container();
// figures and sliders come and go with tabs and answers: a scan once the page's elements change (at most every 200 ms;
// the live views' own redraws, which add no figure, are not looked at)
let soon = 0;
const own = r => r.target.closest?.('.ge-live-html, .ge-dec, .ge-film, .ge-plane-panels');
new MutationObserver(records => {
  if (!soon && !records.every(own)) soon = setTimeout(() => { soon = 0; scan(); }, 200);
}).observe(document.body, {childList: true, subtree: true});
scan();
window.geFigures = {scan, savePlot, saveGrid};  // (the tests call the downloads)
