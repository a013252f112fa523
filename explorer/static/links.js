// A link to the view on screen (explorer/links.py): the URL's query names the open lab, its sub-tab and each linked
// control whose value differs from its default, kept up to date as they change (history.replaceState: no request,
// no reload). Mounted for each lab's "copy link" control; the first one also keeps the URL. Its value is the config,
// from Links.page_config. The controls' values come on the page's channel (lib/channel.js) under their elem_ids,
// from their own input events (lib/controls.js: the URL follows a drag while the server is unreachable) and from
// Gradio's change events (the server's and a preset's changes too); the open tabs are the tab lists' own state
// (aria-selected), and a change of tab puts 'tabs' on the channel.
import {get, on} from './lib/channel.js';
import {follow} from './lib/controls.js';

const selected = tabsId => {  // the id of the selected tab of the gr.Tabs `tabsId` (its own tab list comes first)
  const list = document.querySelector(`#${tabsId} [role=tablist]`);
  return list?.querySelector('button[role=tab][aria-selected=true]')?.dataset.tabId ?? null;
};
const same = (value, p) => {
  if (p.kind === 'number') return value === '' || value === null || Number(value) === Number(p.default);
  if (p.kind === 'check') return Boolean(value) === Boolean(p.default);
  return String(value) === String(p.default);
};
const topic = p => p.elem;
const query = cfg => {  // the view on screen, as a query string
  const q = new URLSearchParams(), lab = cfg.top ? selected(cfg.top) : null;
  const now = new URLSearchParams(location.search);
  for (const kept of ['__theme', 'present']) {  // Gradio's dark mode, presenter mode (presenter.js): they stay
    if (now.get(kept)) q.set(kept, now.get(kept));
  }
  if (!lab) return q;
  q.set('lab', lab);
  const views = cfg.views[lab], view = views ? selected(views.tabs) : null;
  if (view) q.set('view', view);
  for (const p of cfg.params) {
    const value = get(topic(p))?.[0];  // never changed: its default
    if (p.lab !== lab || value === undefined || same(value, p)) continue;
    q.set(p.name, p.kind === 'check' ? (value ? '1' : '0') : String(value));
  }
  return q;
};
const link = cfg => {
  const q = query(cfg).toString();
  return location.origin + location.pathname + (q ? `?${q}` : '');
};

let writer = null;  // one writer for the whole page
const keepTheUrl = cfg => {
  let timer = 0, last = location.href;
  const write = () => {
    timer = 0;
    // not before the page has what its link restores ('opened', explorer/links.py): the controls still at their
    // defaults would write the defaults over the link being opened
    if (!get('opened')) return;
    const url = link(cfg);
    if (url !== last) {
      history.replaceState(history.state, '', url); last = url;
      window.dispatchEvent(new Event('ge-link'));  // (presenter.js: its QR code and slide number follow)
    }
  };
  const soon = () => { if (!timer) timer = setTimeout(write, 150); };  // after the tab list has marked its tab
  for (const p of cfg.params) on(topic(p), soon, {replay: false});
  on('tabs', soon, {replay: false});
  on('opened', soon);
  return {link: () => link(cfg)};
};

export const mount = ({element, props}) => {
  const root = element.querySelector('.ge-links'), cfg = JSON.parse(props.value);
  const button = root.querySelector('button'), said = root.querySelector('.ge-links-said');
  if (!writer) writer = window.geLinks = keepTheUrl(cfg);  // (the tests read the link through window.geLinks)
  follow(element, cfg.params.map(topic));  // the controls of this lab (each lab has its button)
  button.addEventListener('click', async () => {
    const url = writer.link();
    let ok = false;
    try { await navigator.clipboard.writeText(url); ok = true; } catch {  // not a secure context: select it
      const box = document.createElement('textarea');
      box.value = url; document.body.appendChild(box); box.select();
      try { ok = document.execCommand('copy'); } catch { ok = false; }
      box.remove();
    }
    said.textContent = ok ? 'Link copied.' : url;
    root.dataset.link = url;
  });
  remember(element.closest('.ge-lab-head')?.querySelector('.ge-path'));
};

// A lab's "Start here" (explorer/tour.py) is one closed line; once opened, this browser remembers it was seen
// (localStorage), and the line says so on later visits.
const remember = path => {
  if (!path) return;
  const key = `ge-seen:${path.id}`, mark = () => path.classList.add('ge-path-seen');
  try { if (localStorage.getItem(key)) mark(); } catch { /* storage blocked: nothing remembered */ }
  path.querySelector('button')?.addEventListener('click', () => {
    mark();
    try { localStorage.setItem(key, '1'); } catch { /* as above */ }
  });
};
