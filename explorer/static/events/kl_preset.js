// A KL panel's preset button, in the page (labs/kl/panel.py, two_d.py): it sets the sliders (the event's outputs),
// says what the preset shows, and has the panel draw the new values at once (a 'ge-set' event on its root); the
// server's answer follows when the panel settles. presets: {name: {values} or {swap: indices}, caption}.
(presets, name, plot, current) => {
  const p = presets[name], values = p.values ? p.values : p.swap.map(i => current[i]);
  const root = document.querySelector(`#${plot} .ge-page-plot`);
  if (root) root.dispatchEvent(new CustomEvent('ge-set', {detail: values}));
  return [...values, p.caption];
}
