// A view that the page draws while a control moves and the server answers once the hand pauses (the VAE's decoded
// view, the KL panels, the 2-D drawing): the one place that decides when to draw, when to ask, and which answer to
// show.

export const PAUSE_MS = 150;  // the hand paused: ask the server
export const MOVING_MS = 300;  // the hand is still moving: a server answer for another value does not replace the page's

// One question to the server at a time, per view, and only its newest answer shown. A view asks the server
// ('settle') when the hand pauses; the payload is made when it is sent (`make`, null for nothing to ask) and carries
// a number, `seq`, that the server's answer carries back. While one question is out, a new pause only marks that
// the view must ask again once it is answered (then with what the view holds at that moment); an answer older than
// the newest question sent is not shown. Why not Gradio's trigger_mode "always_last": a run it defers is dispatched
// again with the payload of the event that was deferred first, not the last one, so on a busy server the final
// answer was for where the hand had paused on the way. The events use trigger_mode "multiple". After `patience` ms
// without an answer (a failed request shows Gradio's error and sends no value) it asks again. `now` is the clock (a
// test's own, so that a busy machine's pauses are not mistaken for the hand's).
export const settler = (trigger, make, patience = 5000, now = () => performance.now()) => {
  let sent = 0, out = 0, since = 0, again = false, retry = null;
  const ask = () => {
    const wait = out ? patience - (now() - since) : 0;
    if (wait > 0) { again = true; clearTimeout(retry); retry = setTimeout(ask, wait); return; }
    clearTimeout(retry);
    again = false;
    const payload = make();
    if (!payload) return;
    out = ++sent; since = now();
    trigger('settle', {...payload, seq: sent});
  };
  // an answer's seq (not a number: a value the server sent on its own, shown as before): true when a newer
  // question was sent after it, whose answer is to come
  const stale = seq => {
    if (typeof seq !== 'number') return false;
    if (seq === out) { out = 0; if (again) ask(); }
    return seq < sent;
  };
  return {ask, stale};
};

// The drag: `moved(ok)` for each new value of the controls (ok: the page can draw it) schedules one `draw()` for
// the next display frame, however many values come within it, and, once the hand has paused for PAUSE_MS, `paused()`
// (by default: ask the server). `moving()` is true within MOVING_MS of the last value.
export const drag = ({trigger, make, draw, paused = null}) => {
  const asker = settler(trigger, make);
  let frame = 0, timer = null, last = -1e9;
  const onPause = paused ?? asker.ask;
  const cancelFrame = () => { if (frame) { cancelAnimationFrame(frame); frame = 0; } };
  const schedule = () => { if (!frame) frame = requestAnimationFrame(() => { frame = 0; draw(); }); };
  return {
    moved(ok) {
      last = performance.now();
      clearTimeout(timer);
      timer = setTimeout(onPause, PAUSE_MS);  // a bad value is asked too: the server's answer names it
      if (ok) schedule();
    },
    schedule,
    scheduled: () => frame !== 0,
    cancelFrame,
    cancelPause: () => clearTimeout(timer),
    moving: () => performance.now() - last < MOVING_MS,
    ask: asker.ask,
    stale: asker.stale,
  };
};
