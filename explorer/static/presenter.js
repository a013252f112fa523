// Presenter mode (explorer/app.py puts it in the header): for a projector at 1280 × 720, large type and the figures
// and their controls without the prose; a list of saved views (links) that steps like slides with ← and → (or the
// bar's buttons); and a QR code of the current link, drawn here by qrcode-generator (vendored: static/vendor), so
// that a class can open the same view on their phones. The mode is in the link (present=1: lib/links.js keeps it);
// the slides are kept in this browser (localStorage). The QR library (52 kB) is fetched only when presenting: it is
// not on a student's first screen (docs/benchmarks.md, start-up).
let qrcode = null;  // the library's factory, once imported
const qrLibrary = () => import('./vendor/qrcode-generator/qrcode.mjs').then(m => { qrcode = m.default; });

const KEY = 'ge-slides';
const load = () => { try { return JSON.parse(localStorage.getItem(KEY)) || []; } catch { return []; } };
const store = list => { try { localStorage.setItem(KEY, JSON.stringify(list)); } catch { /* blocked: not kept */ } };
const presenting = () => new URLSearchParams(location.search).get('present') === '1';
const withPresent = (url, on) => {
  const u = new URL(url);
  if (on) u.searchParams.set('present', '1'); else u.searchParams.delete('present');
  return u.toString();
};
// the view on screen: links.js's link (it keeps present=1), or the address bar before links.js has mounted
const here = () => (window.geLinks ? window.geLinks.link() : location.href);

export const mount = ({element}) => {
  const root = element.querySelector('.ge-present'), q = s => root.querySelector(s);
  const toggle = q('.ge-present-toggle'), bar = q('.ge-present-bar'), where = q('.ge-present-where');
  const list = q('.ge-present-list ol'), qr = q('.ge-present-qr');
  const index = () => load().indexOf(withPresent(here(), true));
  const show = () => {
    const on = presenting(), slides = load(), i = index();
    document.documentElement.classList.toggle('ge-presenting', on);
    toggle.setAttribute('aria-pressed', String(on));
    toggle.textContent = on ? 'Leave presenter mode' : 'Present';
    bar.hidden = !on;
    where.textContent = slides.length ? (i >= 0 ? `slide ${i + 1} of ${slides.length}` : `not a slide (${slides.length} saved)`)
      : 'no slides yet';
    q('.ge-present-drop').disabled = i < 0;
    q('.ge-present-prev').disabled = !slides.length;
    q('.ge-present-next').disabled = !slides.length;
    list.replaceChildren(...slides.map((url, k) => {
      const li = document.createElement('li'), a = document.createElement('a');
      a.href = url; a.textContent = new URL(url).search.slice(1) || 'the first view';
      if (k === i) li.setAttribute('aria-current', 'true');
      li.append(a);
      return li;
    }));
    if (!on) return;  // the QR code is drawn only while presenting
    if (!qrcode) { qrLibrary().then(show); return; }
    const link = withPresent(here(), false);  // the QR code opens the view, not presenter mode
    const code = qrcode(0, 'M');
    code.addData(link);
    code.make();
    qr.src = code.createDataURL(4, 4);
    root.dataset.qr = link;  // (the tests decode the image and compare)
  };
  const go = step => {
    const slides = load();
    if (!slides.length) return;
    const i = index(), next = i < 0 ? (step > 0 ? 0 : slides.length - 1) : (i + step + slides.length) % slides.length;
    location.href = slides[next];
  };
  toggle.addEventListener('click', () => {
    history.replaceState(history.state, '', withPresent(location.href, !presenting()));
    show();
  });
  q('.ge-present-add').addEventListener('click', () => {
    const slides = load(), url = withPresent(here(), true);
    if (!slides.includes(url)) store([...slides, url]);
    show();
  });
  q('.ge-present-drop').addEventListener('click', () => { store(load().filter((_, k) => k !== index())); show(); });
  q('.ge-present-clear').addEventListener('click', () => { store([]); show(); });
  q('.ge-present-prev').addEventListener('click', () => go(-1));
  q('.ge-present-next').addEventListener('click', () => go(1));
  document.addEventListener('keydown', e => {  // ← →, unless a control has the keys (a slider, a box, a tab list)
    if (!presenting() || e.altKey || e.ctrlKey || e.metaKey || (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight')) return;
    if (e.target.closest && e.target.closest('input, textarea, select, [role=tab], [contenteditable]')) return;
    e.preventDefault();
    go(e.key === 'ArrowRight' ? 1 : -1);
  });
  window.addEventListener('ge-link', show);  // links.js rewrote the address: the QR code and the slide number follow
  show();
};
