// The reverse-process viewer (explorer/filmstrip.py): a run's frames reach the page once, then the slider,
// the step buttons and playback only swap an <img>'s source. The value's schema is filmstrip.ViewerValue.
export const mount = ({element, props, watch, trigger}) => {
  const q = s => element.querySelector(s);
  let frames = [], total = 0, computed = 0, kept = 0, final = false, timer = null, newest = 0, drawnRun = 0;
  const caption = f => `frame ${f.k + 1} of ${total}: ` +
    (f.t === 0 ? 'z₀, the sample (the sampler’s output)' : `z_t at t = ${f.t}, the input of step ${f.k + 1}`) +
    (final && computed < total ? ` · stopped after ${computed} of ${total - 1} steps` : '') +
    (final && kept < computed ? ` · the page keeps ${kept} of the ${computed} frames` : '');
  const show = i => {
    const f = frames[i];
    if (!f) return;
    const img = q('.ge-film-img');
    img.src = f.src; img.alt = f.alt || caption(f); img.hidden = false;
    q('.ge-film-caption').textContent = caption(f);
    const svg = q('.ge-film-sched'), mark = q('.ge-film-mark'), label = q('.ge-film-mark-label');
    const x0 = +svg.dataset.x0, x1 = +svg.dataset.x1, x = x0 + f.t / +svg.dataset.t * (x1 - x0);
    mark.setAttribute('x1', x); mark.setAttribute('x2', x); mark.setAttribute('visibility', 'visible');
    label.setAttribute('x', Math.min(Math.max(x, x0 + 24), x1 - 24)); label.textContent = `t = ${f.t}`;
  };
  const pause = () => {
    if (timer !== null) clearInterval(timer);
    timer = null;
    q('[data-act=play]').textContent = '▶ play';
  };
  const go = i => {
    const r = q('.ge-film-range');
    r.value = Math.max(0, Math.min(frames.length - 1, i));
    show(+r.value);
  };
  let drawn = 0, loading = null;  // a newer value drops (and aborts) the fetch of an older one
  const enable = on => {
    const r = q('.ge-film-range');
    r.max = frames.length - 1; r.value = frames.length - 1; r.disabled = !on;
    element.querySelectorAll('.ge-film-btn').forEach(b => { b.disabled = !on; });
    show(frames.length - 1);
  };
  const draw = () => {
    if (!props.value) return;
    const v = JSON.parse(props.value);
    if (v.run < newest) return;  // a value of an older run, arriving late: the newer run's stays on screen
    if (!v.frames.length && v.run === drawnRun) return;  // the blank for a run that already drew its frames
    newest = v.run;
    pause();
    const mine = ++drawn;
    if (loading) { loading.abort(); loading = null; }
    if (!v.frames.length) {  // a new run, before its first frame: nothing of the runs before it stays on screen
      frames = []; total = v.total; computed = 0; final = false;
      q('.ge-film-img').hidden = true;
      q('.ge-film-caption').textContent = 'waiting for the first frame of the new run…';
      q('.ge-film-range').disabled = true;
      element.querySelectorAll('.ge-film-btn').forEach(b => { b.disabled = true; });
      q('.ge-film-mark').setAttribute('visibility', 'hidden');
      return;
    }
    drawnRun = v.run;
    frames = v.frames; total = v.total; computed = v.computed; final = v.final; kept = v.kept ?? frames.length;
    const img = q('.ge-film-img');
    img.width = v.width * v.scale; img.height = v.height * v.scale;
    q('.ge-film-labels').style.width = `${v.width * v.scale}px`;  // one name above each of the three blocks
    enable(v.final && !v.frames_url);
    if (!v.frames_url) return;
    // a finished run: its last frame is shown; the rest come from a file (see filmstrip.publish)
    loading = new AbortController();
    fetch(new URL(v.frames_url, document.baseURI), {signal: loading.signal})
      .then(r => { if (!r.ok) throw new Error(`HTTP ${r.status}`); return r.json(); })
      .then(all => { if (mine === drawn) { frames = all.frames; enable(true); } })
      .catch(e => {
        if (mine === drawn && e.name !== 'AbortError')
          q('.ge-film-caption').textContent = `could not load the frames (${e.message}): run again`;
      });
  };
  element.addEventListener('input', e => { if (e.target.matches('.ge-film-range')) { pause(); show(+e.target.value); } });
  element.addEventListener('click', e => {
    const b = e.target.closest('.ge-film-btn');
    if (!b || b.disabled) return;
    const r = q('.ge-film-range'), i = +r.value;
    if (b.dataset.act === 'prev') { pause(); go(i - 1); }
    else if (b.dataset.act === 'next') { pause(); go(i + 1); }
    else if (timer !== null) pause();
    else {
      if (i >= frames.length - 1) go(0);
      const stride = Math.max(1, Math.floor(frames.length / +element.querySelector('.ge-film').dataset.playFrames));
      b.textContent = '⏸ pause';
      timer = setInterval(() => {
        const j = +q('.ge-film-range').value + stride;
        if (j >= frames.length - 1) { pause(); go(frames.length - 1); } else go(j);
      }, 60);
    }
  });
  draw();
  watch('value', draw);
};
