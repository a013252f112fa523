// The forward process's schedule marker follows every change of t (drag, arrow keys, typing), in the page
// alone: a JS-only .change event of the t slider. The figure's layout.meta.T is the number of steps.
(t) => {
  const div = document.querySelector('#diff-schedule .ge-live-plot'), v = Number(t);
  if (!div || !div.layout || !window.Plotly || t === null || t === '') return [];
  const T = div.layout.meta && div.layout.meta.T;
  if (Number.isInteger(v) && v >= 0 && v <= T)
    (div.gePlotly || window.Plotly).relayout(div, {'shapes[0].x0': v, 'shapes[0].x1': v, 'annotations[0].x': v,
                                 'annotations[0].text': `t = ${v}`});
  return [];
}
