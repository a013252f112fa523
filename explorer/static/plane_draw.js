// The 2-D lab's drawing (explorer/labs/plane/draw.py): click or drag to place points in the plane. After each stroke
// the page sends its points to the server ('settle'), which checks them and sends back the drawing it keeps (the
// value), with a message if it refused some.
import {PLANE} from './lib/plane.js';
import {settler} from './lib/settle.js';

export const mount = ({element, props, watch, trigger}) => {
  const root = element.querySelector('.ge-plane-draw'), canvas = root.querySelector('canvas');
  const count = root.querySelector('.ge-plane-count'), message = root.querySelector('.ge-plane-message');
  const E = 3.5, SPACING = 0.12, MAX = 300;  // explorer/plane.EXTENT; points of a drag at least this far apart
  let pts = [], strokes = [], stroke = null;

  function draw() {
    const {ctx, S} = PLANE.setup(canvas), P = PLANE.px(E, S);
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, S, S);
    ctx.strokeStyle = '#ddd'; ctx.lineWidth = 1;
    for (let v = -3; v <= 3; v++) {
      ctx.beginPath(); ctx.moveTo(P.x(v), 0); ctx.lineTo(P.x(v), S); ctx.moveTo(0, P.y(v)); ctx.lineTo(S, P.y(v));
      ctx.stroke();
    }
    ctx.strokeStyle = '#999'; ctx.beginPath();
    ctx.moveTo(P.x(0), 0); ctx.lineTo(P.x(0), S); ctx.moveTo(0, P.y(0)); ctx.lineTo(S, P.y(0)); ctx.stroke();
    ctx.fillStyle = 'rgba(179, 38, 30, 0.8)';
    for (const [x, y] of pts) { ctx.beginPath(); ctx.arc(P.x(x), P.y(y), 3, 0, 2 * Math.PI); ctx.fill(); }
    count.textContent = `${pts.length} point${pts.length === 1 ? '' : 's'} (3 to ${MAX}).`;
    root.dataset.count = pts.length;
  }

  const at = e => {
    const r = canvas.getBoundingClientRect();
    return PLANE.fromPx(E, r.width, e.clientX - r.left, e.clientY - r.top).map(v => Math.round(v * 1e4) / 1e4);
  };

  function add(p) {
    const last = stroke.length ? stroke[stroke.length - 1] : null;
    if (last && Math.hypot(p[0] - last[0], p[1] - last[1]) < SPACING) return;
    if (Math.abs(p[0]) > E || Math.abs(p[1]) > E) return;
    if (pts.length >= MAX) { message.textContent = `At most ${MAX} points.`; return; }
    stroke.push(p); pts.push(p);
    draw();
  }

  // the server answers with its copy, numbered as sent: one drawing out at a time, and an older answer is not shown
  // over newer points (static/lib/settle.js)
  const asker = settler(trigger, () => ({points: pts}));
  const send = () => asker.ask();

  canvas.addEventListener('pointerdown', e => {
    stroke = [];
    canvas.setPointerCapture(e.pointerId);
    add(at(e));
  });
  canvas.addEventListener('pointermove', e => { if (stroke) add(at(e)); });
  const end = () => {
    if (!stroke) return;
    if (stroke.length) strokes.push(stroke.length);
    stroke = null;
    send();
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  root.querySelector('.ge-plane-undo').addEventListener('click', () => {
    pts = pts.slice(0, pts.length - (strokes.pop() || 0));
    draw(); send();
  });
  root.querySelector('.ge-plane-clear').addEventListener('click', () => { pts = []; strokes = []; draw(); send(); });

  function load() {
    if (!props.value) return;
    const v = JSON.parse(props.value);
    if (asker.stale(v.seq)) return;
    if (!stroke) {  // the server's drawing, unless a stroke is going on (its end sends the drawing again)
      if (JSON.stringify(v.points) !== JSON.stringify(pts)) strokes = [];
      pts = v.points || [];
    }
    message.textContent = v.message || '';
    root.dataset.server = (v.points || []).length;  // the points the server holds: what Train trains on
    draw();
  }

  new ResizeObserver(() => draw()).observe(canvas);  // a tab opened, a window resized: drawn at its new size
  watch('value', load);
  load();
};
