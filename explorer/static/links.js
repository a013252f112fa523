// A link to the view on screen (explorer/links.py): the URL's query names the open lab, its sub-tab and each linked
// control whose value differs from its default, kept up to date as they change (history.replaceState: no request,
// no reload). Runs as gr.HTML's js_on_load (`element` and `props` are Gradio's) for each lab's "copy link"
// control; the first one also keeps the URL. Its value is the config, from Links.page_config.
const root = element.querySelector('.ge-links'), cfg = JSON.parse(props.value);
const button = root.querySelector('button'), said = root.querySelector('.ge-links-said');

const selected = tabsId => {  // the id of the selected tab of the gr.Tabs `tabsId` (its own tab list comes first)
  const list = document.querySelector(`#${tabsId} [role=tablist]`);
  return list?.querySelector('button[role=tab][aria-selected=true]')?.dataset.tabId ?? null;
};
const read = p => {  // a control's value as the page holds it, or null where it is not on the page
  const el = document.getElementById(p.elem);
  if (!el) return null;
  if (p.kind === 'number') return el.querySelector('input[type=number]')?.value ?? null;
  if (p.kind === 'check') return el.querySelector('input[type=checkbox]')?.checked ?? null;
  const radio = el.querySelector('input[type=radio][aria-checked=true], input[type=radio]:checked');
  if (radio) return radio.value;
  return el.querySelector('input[role=combobox], input')?.value ?? null;
};
const same = (value, p) => {
  if (p.kind === 'number') return value === '' || Number(value) === Number(p.default);
  if (p.kind === 'check') return value === Boolean(p.default);
  return value === String(p.default);
};
const query = () => {  // the view on screen, as a query string
  const q = new URLSearchParams(), lab = cfg.top ? selected(cfg.top) : null;
  const theme = new URLSearchParams(location.search).get('__theme');  // Gradio's own: dark mode stays
  if (theme) q.set('__theme', theme);
  if (!lab) return q;
  q.set('lab', lab);
  const views = cfg.views[lab], view = views ? selected(views.tabs) : null;
  if (view) q.set('view', view);
  for (const p of cfg.params) {
    if (p.lab !== lab) continue;
    const value = read(p);
    if (value !== null && !same(value, p)) q.set(p.name, p.kind === 'check' ? (value ? '1' : '0') : value);
  }
  return q;
};
const link = () => {
  const q = query().toString();
  return location.origin + location.pathname + (q ? `?${q}` : '');
};

if (!window.geLinks) {  // one writer for the whole page
  window.geLinks = {link};
  let timer = 0, last = location.href;
  const write = () => {
    timer = 0;
    // not before the page has what its link restores (<html data-ge-restored>, explorer/links.py): the controls
    // still at their defaults would write the defaults over the link being opened
    if (document.documentElement.dataset.geRestored !== '1') return;
    const url = link();
    if (url !== last) { history.replaceState(history.state, '', url); last = url; }
  };
  const soon = () => { if (!timer) timer = setTimeout(write, 150); };
  for (const type of ['input', 'change', 'click', 'keyup']) document.addEventListener(type, soon, true);
  setInterval(write, 1000);  // values the server or a preset set, which fire no page event
}

button.addEventListener('click', async () => {
  const url = link();
  let ok = false;
  try { await navigator.clipboard.writeText(url); ok = true; } catch (e) {  // not a secure context: select it
    const box = document.createElement('textarea');
    box.value = url; document.body.appendChild(box); box.select();
    try { ok = document.execCommand('copy'); } catch (e2) { ok = false; }
    box.remove();
  }
  said.textContent = ok ? 'Link copied.' : url;
  root.dataset.link = url;
});
