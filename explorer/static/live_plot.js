// A live plot (explorer/render.py, live_plot): HTML above a Plotly figure, both from one JSON value, drawn with
// one Plotly.react per update; Plotly is the copy the app serves (render.PLOTLY_JS).
import {CONFIG, theme} from './lib/theme.js';

export const mount = ({element, props, watch, trigger}) => {
  const box = element.querySelector('.ge-live-html'), div = element.querySelector('.ge-live-plot');
  let template = null;  // plotly's template (7 kB) comes with the first figure only; later ones reuse it
  // the copy of plotly.js that drew the figure first draws it always (Gradio's gr.Plot brings another and makes it
  // window.Plotly when it loads; a figure that another copy drew is drawn anew)
  const plotly = () => (div.gePlotly ??= window.Plotly);
  const under = {};  // static traces by URL (see render.publish_traces), fetched once, drawn below the figure's
  const draw = () => {
    if (!props.value) return;
    const value = props.value, v = JSON.parse(value);
    box.innerHTML = v.html;
    if (!v.figure) return;  // a message only (live_note): the figure stays as it was
    if (v.figure.layout.template) template = v.figure.layout.template; else v.figure.layout.template = template;
    if (v.export) div.geExportInfo = v.export;  // what its downloads are called (static/page.js)
    const url = v.static_url;
    plotly().react(div, [...((url && under[url]) || []), ...v.figure.data], theme(v.figure.layout), CONFIG);
    if (url && !(url in under)) {
      under[url] = null;  // being fetched
      fetch(new URL(url, document.baseURI))
        .then(r => { if (!r.ok) throw new Error(`HTTP ${r.status}`); return r.json(); })
        .then(t => { under[url] = t.traces; if (props.value === value) draw(); })
        .catch(e => { delete under[url]; box.innerHTML += `<p>could not load the plot's points (${e.message})</p>`; });
    }
  };
  let clicks = false;  // a click on a point is sent to Python through Gradio's own channel (the 'click' event)
  const bindClicks = () => {
    if (clicks || !div.on) return;
    clicks = true;
    div.on('plotly_click', ev => {
      const p = ev.points && ev.points[0];
      if (p && Number.isFinite(p.x) && Number.isFinite(p.y)) trigger('click', {x: p.x, y: p.y});
    });
  };
  draw();
  bindClicks();
  watch('value', () => { draw(); bindClicks(); });
};
