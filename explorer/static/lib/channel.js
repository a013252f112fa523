// The page's one event channel. The controls' values come in under their elem_ids, each as [value]: from their own
// input events (lib/controls.js) and from Gradio's own change events, which carry the server's and the presets'
// changes too (explorer/page.py, publish_values); the views that draw them take them out (`on`). A value is kept,
// so a view that subscribes after its control moved (a tab opened late) is handed the latest one at once.
const values = new Map();  // topic -> the latest value
const listeners = new Map();  // topic -> Set of functions
const own = new Map();  // topic -> when a control's own event last set it
// Gradio's change event for a value that a control's own event brought already comes later, sometimes after the
// control's next value: within ECHO_MS of the control's own last event it is an echo, and dropped (else the view
// would step back to it for a frame). A server's or a preset's change comes with no event of the control's own.
const ECHO_MS = 1000;

// `fromControl`: the value comes from the control's own event (lib/controls.js), not from Gradio
export const set = (topic, value, fromControl = false) => {
  const now = performance.now();
  if (fromControl) own.set(topic, now);
  else if (now - (own.get(topic) ?? -Infinity) < ECHO_MS) return;
  values.set(topic, value);
  for (const fn of listeners.get(topic) ?? []) fn(value, fromControl);
};

export const get = topic => values.get(topic);

// `fn(value, fromControl)` for every value set under `topic` from now on, and at once for the latest one (`replay`);
// returns a function that unsubscribes
export const on = (topic, fn, {replay = true} = {}) => {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  listeners.get(topic).add(fn);
  if (replay && values.has(topic)) fn(values.get(topic));
  return () => listeners.get(topic).delete(fn);
};
