// One question to the server at a time, per view, and only its newest answer shown (loaded before the view's own
// script: decoder.js, kl_panel.js, plane_draw.js). A view asks the server ('settle') when the hand pauses; the
// payload is made when it is sent (`make`, null for nothing to ask) and carries a number, `seq`, that the server's
// answer carries back. While one question is out, a new pause only marks that the view must ask again once it is
// answered (then with what the view holds at that moment); an answer older than the newest question sent is not
// shown. Why not Gradio's trigger_mode "always_last": a run it defers is dispatched again with the payload of the
// event that was deferred first, not the last one, so on a busy server the final answer was for where the hand had
// paused on the way (and the kept value, e.g. a drawing, was the older one). The events use trigger_mode "multiple".
// After `patience` ms without an answer (a failed request shows Gradio's error and sends no value) it asks again.
// `now` is the clock (a test's own, so that a busy machine's pauses are not mistaken for the hand's).
const geSettler = (trigger, make, patience = 5000, now = () => performance.now()) => {
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
