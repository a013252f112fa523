// Mark views as out of date (on = true: a control changed) or current again (on = false: recomputed). Only a
// view that holds a result can be out of date. Called with the views' element ids.
(ids, on) => {
  for (const id of ids) {
    const el = document.getElementById(id);
    if (!el) continue;
    if (on) { if (el.dataset.geComputed) el.classList.add('ge-stale'); }
    else { el.classList.remove('ge-stale'); el.dataset.geComputed = '1'; }
  }
  return [];
}
