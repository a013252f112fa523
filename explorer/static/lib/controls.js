// The controls' own input events, for the views that draw while a control moves. Each event reports the one control
// it came from (its elem_id) and that control's own value, as typed (a number box's text, out of range or not) or
// chosen, onto the page's channel (lib/channel.js) under the control's elem_id. The listener sits on the lab's tab
// panel, not the document, and reads no other control. Gradio's own change events put programmatic changes on the
// same topics where a view needs them (explorer/page.py, publish_values); the controls' own events keep the page
// drawing while the server is unreachable, when Gradio dispatches no event at all.
import {set} from './channel.js';

const scopes = new WeakMap();  // tab panel -> Set of the elem_ids it reports

const valueOf = target => (target.type === 'checkbox' ? target.checked : target.value);

// report the controls `ids` that lie in the same lab as `element`
export const follow = (element, ids) => {
  const scope = element.closest('[role=tabpanel]') ?? document.body;
  if (!scopes.has(scope)) {
    const known = new Set();
    scopes.set(scope, known);
    scope.addEventListener('input', e => {
      for (let box = e.target.parentElement; box && box !== scope; box = box.parentElement) {
        if (box.id && known.has(box.id)) { set(box.id, [valueOf(e.target)], true); return; }
      }
    }, true);
  }
  for (const id of ids) scopes.get(scope).add(id);
};
