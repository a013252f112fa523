"""Links that restore a view, and what every view shows on first load.

The URL's query names the open lab, its sub-tab and the controls that define what it shows, for instance
`?lab=kl&view=two-d&mu_q1=1.5` or `?lab=diffusion&view=reverse&steps=10&class=3&seed=7`. The page keeps it up to
date as controls move (static/links.js, with `history.replaceState`: no request, no reload) and writes only the
values that differ from the defaults. As a page opens, a request (`wire`, on `demo.load`) reads the query
(`restore`), checks each value as the control's own handler would, and answers with the controls, the tabs and
every view computed from them (`first_views`, in the order the labs registered their `opening`s): the same
handlers as the buttons, so a link and a click show the same thing. Views that take seconds for new values (a
linked digit's likelihood) are `later` openings: unless their result is in the cache already, they come in a
second answer, so the page opens without waiting for them. A bad or unknown value is named in a note above the
labs and its control keeps its default: never a broken page.

The openings run on every page load, so their results are cached (`memo`) and the defaults are computed in the
background at start-up (`warm_in_background`): a class of thirty opening the app computes each view once.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import gradio as gr

from explorer import checks

PLAIN = (str, int, float, bool)
CACHE_SIZE = 64
log = logging.getLogger("explorer")  # opening results kept per view (the defaults and the links opened most recently)


@dataclass(frozen=True)
class Param:
    """One control in the URL: `name` there, read from and written to `component` (which has an elem_id)."""

    lab: str
    name: str
    component: gr.components.Component
    parse: Callable[[str], object]  # the URL's text → the control's value; raises checks.InputError
    kind: str  # how the page reads it: "number" (sliders and number boxes), "choice" (radio, dropdown), "check"
    default: object


@dataclass
class Opening:
    """A view's first picture: `fn(*inputs)` → `outputs`, for the controls as a link restored them."""

    fn: Callable
    inputs: list
    outputs: list
    then: list = field(default_factory=list)  # more steps that need this one's outputs: (fn, inputs, outputs)
    lab: str | None = None  # the lab it belongs to (the one being built when it was registered)
    later: bool = False  # seconds to compute for values not seen before: sent in the page's second answer

    def all_outputs(self) -> list:
        return [*self.outputs, *(c for _, _, outs in self.then for c in outs)]

    def all_inputs(self) -> list:
        return [*self.inputs, *(c for _, ins, _ in self.then for c in ins)]


@dataclass(frozen=True)
class Step:
    """One numbered "try this" step of a lab's path through its ideas: a button that shows the view the link
    `query` names (the lab's other controls back to their defaults), a line on what to look at, and optionally a
    question to answer before pressing it, whose answer the page reveals on demand."""

    label: str  # the button's text, after its number
    query: dict[str, str]  # as in a URL: lab, view and controls
    text: str  # what to look at, one or two short sentences
    predict: str = ""  # "predict first": asked before the button is pressed
    answer: str = ""  # revealed on demand, after the prediction


def _label(component) -> str:
    return str(component.label or component.elem_id)


def _number_parser(component, lo: float | None, hi: float | None, integer: bool | None):
    lo = component.minimum if lo is None else lo
    hi = component.maximum if hi is None else hi
    lo = -math.inf if lo is None else lo
    hi = (checks.MAX_SEED if integer else math.inf) if hi is None else hi
    if integer is None:
        step = getattr(component, "step", 1) or 1
        integer = float(step).is_integer() and (lo == -math.inf or float(lo).is_integer())
    name = _label(component)
    return lambda text: checks.number_text(name, text, lo, hi, integer=integer)


def _choices(component) -> list[str]:
    return [c[1] if isinstance(c, tuple | list) else c for c in component.choices]


class Links:
    """The registry that the labs fill while they are built (`lab`, `param`, `opening`) and that the app wires
    once they all exist (`wire`)."""

    def __init__(self) -> None:
        self.labs: dict[str, str] = {}  # lab id → its tab's label
        self.top: gr.Tabs | None = None
        self.views: dict[str, tuple[gr.Tabs, dict[str, str]]] = {}  # lab id → its sub-tabs and {view id: label}
        self.params: list[Param] = []
        self.openings: list[Opening] = []
        self.warmups: list[Callable[[], object]] = []  # more work to do ahead of time, after the first views
        self.note: gr.Markdown | None = None
        self.buttons: list[gr.HTML] = []
        self.steps: list[tuple[str, Step, gr.Button]] = []  # (lab, step, its button)
        self._building: str | None = None  # the lab whose controls and openings are being registered

    def button(self) -> gr.HTML:
        """A lab's "copy a link to this view" control (static/links.js), placed where it is called."""
        from explorer import render

        b = gr.HTML("{}", elem_classes="ge-links-box", js_on_load=render.static("links.js"),
                    html_template="<div class='ge-links'><button type='button' class='ge-links-copy'>"
                                  "Copy a link to this view</button> <span class='ge-links-said' "
                                  "aria-live='polite'></span></div>")
        self.buttons.append(b)
        return b

    # --- what the labs register -------------------------------------------------------------------------------
    def lab(self, lab: str, label: str) -> None:
        """The lab `lab` is built next: the openings registered from now on are its own."""
        self.labs[lab] = label
        self._building = lab

    def path(self, lab: str, start: str, steps: Sequence[Step]) -> None:
        """A lab's "start here": `start` (one sentence, Markdown) and its numbered steps, laid out where it is called.
        Each step's button sets the lab's controls and views as its query says (wired in `wire`)."""
        from explorer import render

        with gr.Accordion("Start here", open=True, elem_classes="ge-path", elem_id=f"{lab}-path"):
            gr.Markdown(start, elem_classes="ge-path-start")
            with gr.Row(elem_classes="ge-path-steps"):
                for i, step in enumerate(steps, 1):
                    with gr.Column(min_width=180, elem_classes="ge-step"):
                        b = gr.Button(f"{i} · {step.label}", size="sm", elem_id=f"{lab}-step-{i}")
                        gr.HTML(render.step_text(step), elem_classes="ge-step-text", padding=False)
                    self.steps.append((lab, step, b))

    def sub_tabs(self, lab: str, tabs: gr.Tabs, views: dict[str, str]) -> None:
        """`tabs` (with an elem_id) holds the lab's sub-tabs, each a gr.Tab with `id=` a key of `views`."""
        self.views[lab] = (tabs, views)

    def param(self, lab: str, name: str, component, lo: float | None = None, hi: float | None = None,
              integer: bool | None = None) -> None:
        """`component` (a slider, number box, radio, dropdown or checkbox with an elem_id) as `name` in the URL.
        Numbers are checked against `lo`/`hi` (default: the component's own range)."""
        if not component.elem_id:
            raise ValueError(f"The control {_label(component)!r} needs an elem_id to be linked.")
        if any((p.lab, p.name) == (lab, name) for p in self.params):
            raise ValueError(f"Two controls of the {lab} lab are linked as {name!r}.")
        if isinstance(component, gr.Radio | gr.Dropdown):
            allowed, label = _choices(component), _label(component)
            parse, kind = (lambda text: checks.choice(label, text, allowed)), "choice"
        elif isinstance(component, gr.Checkbox):
            def parse(text):
                if text not in ("0", "1", "true", "false"):
                    raise checks.InputError(f"{_label(component)} must be 1 or 0, not {checks.shown(text)}.")
                return text in ("1", "true")
            kind = "check"
        else:
            parse, kind = _number_parser(component, lo, hi, integer), "number"
        self.params.append(Param(lab, name, component, parse, kind, component.value))

    def opening(self, fn: Callable, inputs: Sequence, outputs: Sequence, then: Sequence = (),
                later: bool = False) -> None:
        """Show `fn(*inputs)` in `outputs` when a page opens (after `restore`), and then each (fn, inputs,
        outputs) of `then` in turn. `fn` is cached on its arguments (`memo`). `later`: a view that takes seconds for
        values not seen before (a linked digit's likelihood, a linked sampler's run): the page opens with the
        controls and the other views without waiting for it, and it follows in a second answer (`wire`)."""
        self.openings.append(Opening(memo(fn), list(inputs), list(outputs),
                                     [(memo(f), list(i), list(o)) for f, i, o in then], self._building, later))

    # --- the server's side of a link ----------------------------------------------------------------------------
    def restore(self, query: dict[str, str]) -> tuple[dict, list[str]]:
        """The values a link's `query` sets: {component: value or update}, and a message per ignored item."""
        lab, view, out, notes = self._read(query)
        updates: dict = {}
        if lab is not None and self.top is not None:
            updates[self.top] = gr.Tabs(selected=lab)
        if view is not None:
            updates[self.views[lab][0]] = gr.Tabs(selected=view)
        return {**updates, **out}, notes

    def _read(self, query: dict[str, str]) -> tuple[str | None, str | None, dict, list[str]]:
        """What `query` asks for: its lab and view where they exist, {component: value} for the settings it names
        that parse, and a message per item it cannot have. Makes no component (it may run while the app is built)."""
        out: dict = {}
        notes: list[str] = []
        lab = query.get("lab")
        if lab is not None and lab not in self.labs:
            notes.append(f"`lab={lab}` is not a lab here; choose one of {', '.join(self.labs)}.")
            lab = None
        by_name = {p.name: p for p in self.params if p.lab == (lab or next(iter(self.labs), None))}
        view = query.get("view")
        if view is not None:
            views = self.views.get(lab, (None, {}))[1] if lab else {}
            if view not in views:
                where = f"the {self.labs[lab]} lab" if lab else "a link without `lab=`"
                notes.append(f"`view={view}` is not a view of {where}" + (f"; choose one of {', '.join(views)}."
                                                                          if views else "."))
                view = None
        for key, text in query.items():
            if key in ("lab", "view", "__theme"):
                continue
            p = by_name.get(key)
            if p is None:
                where = self.labs.get(lab or next(iter(self.labs), ""), "this")
                notes.append(f"`{key}` is not a setting of the {where} lab.")
                continue
            try:
                out[p.component] = p.parse(text)
            except checks.InputError as e:
                notes.append(f"`{key}={text}`: {e.message} Its default is shown.")
        return lab, view, out, notes

    def note_text(self, notes: list[str]) -> dict:
        if not notes:
            return gr.update(value="", visible=False)
        items = "\n".join(f"- {html.escape(n, quote=False)}" for n in notes[:12])
        return gr.update(value=f"**This link asked for something this app cannot show; the rest of it is "
                               f"restored.**\n{items}", visible=True)

    def page_config(self) -> str:
        """What static/links.js needs: the labs' and views' tab labels and each linked control's elem_id."""
        return json.dumps({
            "top": self.top.elem_id if self.top is not None else None,
            "labs": self.labs,
            "views": {lab: {"tabs": tabs.elem_id, "ids": views} for lab, (tabs, views) in self.views.items()},
            "params": [{"lab": p.lab, "name": p.name, "elem": p.component.elem_id, "kind": p.kind,
                        "default": p.default} for p in self.params],
        })

    def warm_in_background(self) -> threading.Thread:
        """Compute the default first views in a thread of their own, so that the first page to open finds them
        cached (the server answers requests meanwhile)."""
        t = threading.Thread(target=_warm, args=(self.openings, self.warmups), name="first-views", daemon=True)
        t.start()
        return t

    def first_views(self, restored: dict, lab: str | None = None, later: bool | None = None,
                    sent: set[int] | None = None) -> tuple[dict, list[str]]:
        """Every opening's outputs (only lab `lab`'s, if given; only the `later` ones or only the others, if given),
        computed in turn from the controls as a link `restored` them (the others at their defaults) and from what
        earlier openings made (a session's state: the encoded digit, the latent z); and a message per view that could
        not be drawn. For the later views, the earlier openings they read from are computed again (from the cache)
        but not sent.

        `sent`, with `later=False`: the later openings whose result is in the cache already are sent too (a default
        view, a link opened before), and their indices added to `sent`; with `later=True`: those are left out."""
        out: dict = {}
        made: dict = {}  # component → the value an opening gave it, for the openings that read it
        notes: list[str] = []
        needed = self._read_by_later() if later is True else set()

        def value_of(c):
            if c in made:
                return made[c]
            return restored[c] if c in restored and not isinstance(restored[c], gr.Tabs) else c.value

        for i, o in enumerate(self.openings):
            if lab is not None and o.lab != lab:
                continue
            if o.later and later is True and sent is not None and i in sent:
                continue  # the first answer had it
            if o.later and later is False:  # in the first answer only if its result is ready in the cache
                if sent is None or o.then or not o.fn.ready(*[value_of(c) for c in o.inputs]):
                    continue
                sent.add(i)
            quiet = later is True and not o.later  # computed for what a later view reads, not sent
            if quiet and not any(id(c) in needed for c in o.all_outputs()):
                continue
            for fn, inputs, outputs in [(o.fn, o.inputs, o.outputs), *o.then]:
                try:
                    result = fn(*[value_of(c) for c in inputs])
                except checks.InputError as e:
                    if not quiet:  # (the first answer said it)
                        notes.append(f"A view could not be drawn for this link: {e.message}")
                    break
                for c, r in zip(outputs, [result] if len(outputs) == 1 else list(result), strict=True):
                    update = isinstance(r, dict) and r.get("__type__") == "update"
                    if not update or "value" in r:
                        made[c] = r["value"] if update else r
                    if not quiet:
                        out[c] = _merge(out.get(c, restored.get(c)), r)
        return out, notes

    def _read_by_later(self) -> set[int]:
        """ids of the components that the later openings read, and those that the openings making them read, and so
        on back: what the second answer must compute again to have what the first made."""
        needed = {id(c) for o in self.openings if o.later for c in o.all_inputs()}
        for o in reversed(self.openings):
            if not o.later and any(id(c) in needed for c in o.all_outputs()):
                needed |= {id(c) for c in o.all_inputs()}
        return needed

    def wire(self, demo: gr.Blocks) -> None:
        """On each page load, a request restores what the URL asks for and draws every view from it, the `later`
        ones only where their result is in the cache; if one is not, the page asks for them in a second request
        (Gradio's progress shows on them meanwhile). Call inside `demo` once every lab is built."""
        config = self.page_config()
        for b in self.buttons:  # built before the labs registered their controls: the config is complete now
            b.value = config
        first, second = self._outputs()
        # the query the page opened with and the later views already sent, for the second answer: its own request
        # would carry the address bar's query as it is then (Gradio's client sends location.search with each request)
        opened_with = gr.State()
        # how many later views the first answer could not send; the page asks for them with this hidden button
        pending = gr.Number(visible="hidden", elem_id="ge-later-pending")
        fetch = gr.Button("the slower views", visible="hidden", elem_id="ge-later-views")
        n_later = sum(o.later for o in self.openings)

        def on_load(request: gr.Request) -> dict:
            query = dict(request.query_params) if request is not None else {}
            values, notes = self.restore(query)
            sent: set[int] = set()  # the later views whose result is ready (the defaults, once warm) come now too
            views, failed = self.first_views(values, later=False, sent=sent)
            return {**values, **views, self.note: self.note_text(notes + failed),
                    opened_with: {"query": query, "sent": sorted(sent)}, pending: n_later - len(sent)}

        def on_load_later(kept: dict | None) -> dict:
            kept = kept or {"query": {}, "sent": []}
            values, notes = self.restore(kept["query"])
            return self._later_views(values, notes, sent=set(kept["sent"]))

        # the page marks that it has them all (<html data-ge-restored>): static/links.js starts keeping the URL then,
        # and the tests and the benchmark wait for it. A page whose views were all in the cache (the defaults, once
        # the app is warm) makes one request, as before the split.
        mark = "document.documentElement.dataset.geRestored = '1';"
        (demo.load(on_load, None, [*first, *second[1:], opened_with, pending], show_progress="hidden",
                   api_visibility="private")
         .then(None, pending, None, js=f"(n) => {{ if (n > 0) document.getElementById('ge-later-views').click(); "
                                       f"else {{ {mark} }} }}"))
        later = fetch.click(on_load_later, opened_with, second, show_progress="full",
                            show_progress_on=second[1:] or None, api_visibility="private")
        later.then(None, None, None, js=f"() => {{ {mark} }}")
        wired = [(lab, b, self._wire_step(lab, step, b)) for lab, step, b in self.steps]
        # a step shows its lab's views as of its own query: its click cancels what another step of the lab (or the
        # page's second answer) is still computing, which would otherwise land over it; the page then counts as
        # opened (what the link asked for is replaced), and static/links.js keeps the URL from here on
        for lab, b, _ in wired:
            others = [e for lab2, b2, events in wired if lab2 == lab and b2 is not b for e in events]
            b.click(None, None, None, cancels=[later, *others], api_visibility="private",
                    js="() => { document.documentElement.dataset.geRestored = '1'; }")

    def _outputs(self, lab: str | None = None) -> tuple[list, list]:
        """What a page's (or a step's, for `lab`) first and second answers set."""
        openings = [o for o in self.openings if lab is None or o.lab == lab]
        later = list(dict.fromkeys(c for o in openings if o.later for c in o.all_outputs()))
        early = list(dict.fromkeys(c for o in openings if not o.later for c in o.all_outputs()))
        if both := {id(c) for c in later} & {id(c) for c in early}:
            names = [_label(c) for c in later if id(c) in both]
            raise ValueError(f"A view is set by a later opening and by another one: {', '.join(names)}.")
        tabs = [t for lb, (t, _) in self.views.items() if lab is None or lb == lab]
        first = list(dict.fromkeys([
            self.note, *([self.top] if self.top is not None else []), *tabs,
            *(p.component for p in self.params if lab is None or p.lab == lab), *early]))
        return first, [self.note, *later]

    def _later_views(self, values: dict, notes: list[str], lab: str | None = None,
                     sent: set[int] | None = None) -> dict:
        """The second answer: the later views (but those `sent` in the first), and the note again only when one of
        them could not be drawn (it then names what the first answer named too)."""
        views, failed = self.first_views(values, lab=lab, later=True, sent=sent)
        if not failed:
            return {**views, self.note: gr.update()}
        early_failed = self.first_views(values, lab=lab, later=False)[1]  # from the cache
        return {**views, self.note: self.note_text(notes + early_failed + failed)}

    def step_view(self, lab: str, step: Step, later: bool | None = None) -> dict:
        """What a step's button shows: its query restored, the lab's other controls at their defaults, and the lab's
        views drawn from them (the other labs keep what they show); only the later views or only the others, if
        `later` is given."""
        values, notes = self.restore(step.query)
        for p in self.params:
            if p.lab == lab:
                values.setdefault(p.component, p.default)
        if later is True:
            return self._later_views(values, notes, lab)
        views, failed = self.first_views(values, lab=lab, later=later)
        return {**values, **views, self.note: self.note_text(notes + failed)}

    def _wire_step(self, lab: str, step: Step, button: gr.Button) -> list:
        """The step's button shows its view in two answers, as a page opens; returns their events."""
        notes = self._read(step.query)[3]  # not restore: a gr.Tabs(...) made here would join the layout
        if step.query.get("lab") != lab or notes:  # e.g. a view without its checkpoint or the test digits
            log.info("the %s lab's step %r is hidden: %s", lab, step.label, " ".join(notes) or "not its lab")
            button.visible = False
            return []
        first, second = self._outputs(lab)
        shown = button.click(functools.partial(self.step_view, lab, step, False), None, first,
                             show_progress="minimal", api_visibility="private")
        if not second[1:]:  # the lab has no later views
            return [shown]
        return [shown, shown.then(functools.partial(self.step_view, lab, step, True), None, second,
                                  show_progress="full", show_progress_on=second[1:], api_visibility="private")]


def _merge(before, after):
    """What a component is sent when a link set its value (`before`) and an opening updates it (`after`)."""
    if before is None or isinstance(before, gr.Tabs):
        return after
    if isinstance(after, dict) and after.get("__type__") == "update" and "value" not in after:
        return {**after, "value": before}
    return after


def _warm(openings: list[Opening], warmups: list[Callable[[], object]] = (), workers: int = 2) -> None:
    def one(o: Opening | Callable) -> None:
        fn, values = (o.fn, [getattr(c, "value", None) for c in o.inputs]) if isinstance(o, Opening) else (o, [])
        if _key(tuple(values)) is not None:  # plain values: what memo keeps
            try:
                fn(*values)
            except Exception as e:
                log.warning("could not precompute a first view (%s): %s", getattr(fn, "__name__", fn), e)

    # `workers` daemon threads (torch: one thread each) taking the openings in turn; daemons, unlike a
    # ThreadPoolExecutor's workers, do not hold the process at exit: a stop (Ctrl-C, SIGTERM) need not wait for
    # a minute of warming
    todo = iter([*openings, *warmups])
    lock = threading.Lock()

    def worker() -> None:
        try:  # below the requests' priority: a page that opens meanwhile is answered first (Linux: per thread)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except (AttributeError, OSError):
            pass
        while True:
            with lock:
                o = next(todo, None)
            if o is None:
                return
            one(o)

    threads = [threading.Thread(target=worker, name=f"first-views-{i}", daemon=True) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def memo(fn: Callable) -> Callable:
    """`fn` with its results kept for the last CACHE_SIZE distinct arguments, when they are all plain values
    (numbers, strings, None): a call with a session's state is not cached. Openings are deterministic
    (seeded), so a kept result is the result. A call whose result is being computed (by the start-up's warming
    thread, or another page) waits for it instead of computing it again."""
    cache: OrderedDict = OrderedDict()  # key → Future
    lock = threading.Lock()

    @functools.wraps(fn)
    def wrapper(*args):
        key = _key(args)
        if key is None:
            return fn(*args)
        with lock:
            future = cache.get(key)
            mine = future is None
            if mine:
                future = cache[key] = Future()
                while len(cache) > CACHE_SIZE:
                    cache.popitem(last=False)
            else:
                cache.move_to_end(key)
        if mine:
            try:
                future.set_result(fn(*args))
            except BaseException as e:
                with lock:
                    if cache.get(key) is future:
                        del cache[key]  # an error is not kept: the next call tries again
                future.set_exception(e)
        return future.result()

    def ready(*args) -> bool:
        """Whether a call with `args` would be answered from the cache at once (computed, without an error)."""
        key = _key(args)
        with lock:
            future = cache.get(key) if key is not None else None
        return future is not None and future.done() and future.exception() is None

    wrapper.ready = ready
    return wrapper


def _key(args: tuple) -> tuple | None:
    """`memo`'s cache key for `args`, or None when one is not a plain value (a session's state: never cached)."""
    if not all(a is None or isinstance(a, PLAIN) for a in args):
        return None
    return tuple(("bool", a) if isinstance(a, bool) else ("", a) for a in args)  # 1 is 1.0, True is not
