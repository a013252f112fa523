// The figures' look: Gradio marks <body class="dark">, and plotly's figures come light from the server. `theme(layout)`
// gives a layout the dark colours (the live plots pass theirs through it before each Plotly.react: no second drawing
// while dragging); CONFIG is every figure's Plotly configuration: no plotly.com link in an offline app, and no camera
// button (the figure's own downloads, static/page.js, name and caption the file). One configuration for every draw:
// a changed one makes Plotly.react draw anew, measuring every label.
export const CONFIG = {displaylogo: false, modeBarButtonsToRemove: ['toImage']};
export const DARK = {paper: '#0b0f19', plot: '#111827', text: '#e5e7eb', grid: '#374151', zero: '#6b7280'};
export const isDark = () => document.body.classList.contains('dark');
const light = c => c === 'black' || c === '#000' || c === '#000000';
export const theme = layout => {
  if (!layout || !isDark() || layout.paper_bgcolor === DARK.paper) return layout;
  const out = {...layout, paper_bgcolor: DARK.paper, plot_bgcolor: DARK.plot,
               font: {...(layout.font || {}), color: DARK.text}, legend: {...(layout.legend || {}), bgcolor: DARK.paper}};
  for (const k of new Set(['xaxis', 'yaxis', ...Object.keys(layout).filter(k => /^[xy]axis\d*$/.test(k))])) {
    const ax = layout[k] || {};
    out[k] = {...ax, gridcolor: DARK.grid, linecolor: DARK.grid, zerolinecolor: ax.zerolinecolor || DARK.zero};
  }
  if (layout.shapes) out.shapes = layout.shapes.map(s => light(s.line?.color) ? {...s, line: {...s.line, color: DARK.text}} : s);
  if (layout.annotations) out.annotations = layout.annotations.map(a => light(a.font?.color) ? {...a, font: {...a.font, color: DARK.text}} : a);
  return out;
};
