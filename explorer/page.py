"""The page's own code (explorer/static): where its ES modules are served, and the JavaScript that Gradio runs to
load them (a gr.HTML's js_on_load: `mount`) or to put controls' values on the page's channel (`publish`,
`publish_values`). Python holds no page code beyond these one-line loaders.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from explorer import served

STATIC = Path(__file__).resolve().parent / "static"  # the page's own JS, CSS and HTML


@functools.cache
def static(name: str) -> str:
    """The text of explorer/static/`name`, read once."""
    return (STATIC / name).read_text(encoding="utf-8")


STATIC_URL = served.tree("static", STATIC)  # the page imports its modules from here: ge/static/<name>


def _import(name: str) -> str:
    """JavaScript that imports the ES module explorer/static/`name` (a promise of the module)."""
    return f"import(new URL({json.dumps(STATIC_URL + name)}, document.baseURI).href)"


def mount(name: str, events: tuple[str, ...] = ()) -> str:
    """A gr.HTML's js_on_load that imports the ES module explorer/static/`name` and calls its
    `mount({element, props, watch, trigger})` with Gradio's own arguments. `events`: the custom events the module
    triggers (Gradio offers `.settle(...)` on the component only for names quoted in its js_on_load)."""
    return (f"/* triggers {', '.join(json.dumps(e) for e in events) or 'no custom event'} */ "
            f"{_import(name)}.then(m => m.mount({{element, props, watch, trigger}}))"
            f".catch(e => console.error({json.dumps(name)}, e));")


def publish(topic: str) -> str:
    """A JS-only event's `js` that puts the event's input values (a list) on the page's channel under `topic`
    (static/lib/channel.js), where the views that draw them take them; nothing goes to the server."""
    return f"(...values) => {{ {_import('lib/channel.js')}.then(m => m.set({json.dumps(topic)}, values)); }}"


def js_call(name: str, *args, inputs: bool = False) -> str:
    """An event's `js` that calls the function in explorer/static/`name` with JSON arguments; with `inputs`, the
    event's input values follow them as one more argument (a list), and what the function returns goes to the
    event's outputs."""
    call = f"({static(name).strip()})({', '.join([*(json.dumps(a) for a in args), *(['inputs'] if inputs else [])])})"
    return f"(...inputs) => {call}" if inputs else f"() => {call}"


def publish_values(components: list) -> None:
    """Each of `components` puts its value on the page's channel (static/lib/channel.js) under its elem_id at every
    change, the server's and a preset's included: a JS-only event, no request."""
    for c in components:
        if getattr(c, "ge_published", False):  # once each (a view and the links may both ask)
            continue
        c.ge_published = True
        c.change(None, [c], None, js=publish(c.elem_id), trigger_mode="multiple", api_visibility="private")


# The modules of the first screen (the page's own, the presenter's, the links' and the VAE decoder's), named in the
# page's head so that the browser fetches them beside Gradio's own bundle; each would otherwise be fetched only when
# the module importing it has run, after Gradio has built the page (docs/benchmarks.md, start-up).
FIRST_MODULES = ("page.js", "lib/theme.js", "presenter.js", "links.js", "lib/channel.js", "lib/controls.js",
                 "decoder.js", "lib/decoder_maths.js", "lib/settle.js")
HEAD = "".join(f'<link rel="modulepreload" href="{STATIC_URL}{name}">' for name in FIRST_MODULES)

JS = f"() => {{ {_import('page.js')}; }}"  # launch's js: the page's own module (dark figures, log tracks, exports)
