// The page's one event channel. The controls' values come in under their elem_ids, each as [value]: from their own
// input events (lib/controls.js) and from Gradio's own change events, which carry the server's and the presets'
// changes too (explorer/render.py, publish_values); the views that draw them take them out (`on`). A value is kept,
// so a view that subscribes after its control moved (a tab opened late) is handed the latest one at once.
const values = new Map();  // topic -> the latest value
const listeners = new Map();  // topic -> Set of functions

export const set = (topic, value) => {
  values.set(topic, value);
  for (const fn of listeners.get(topic) ?? []) fn(value);
};

export const get = topic => values.get(topic);

// `fn(value)` for every value set under `topic` from now on, and at once for the latest one (`replay`); returns
// a function that unsubscribes
export const on = (topic, fn, {replay = true} = {}) => {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  listeners.get(topic).add(fn);
  if (replay && values.has(topic)) fn(values.get(topic));
  return () => listeners.get(topic).delete(fn);
};
