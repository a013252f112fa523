"""Links that restore a view: the registry the labs fill while they are built, wired once they all exist.

A lab registers its tab (`lab`), its sub-tabs (`sub_tabs`), the controls a URL may name (`param`,
explorer/url_state.py), what each view shows first (`opening`, explorer/first_views.py) and its "Start here"
(`path`, explorer/tour.py). As a page opens, one generator on `demo.load` reads the query, sets the controls and the
tabs, yields every quick view (and the slow ones already cached), then the slow ones: the same handlers as the
buttons, so a link and a click show the same thing. A step's button does the same for its own link.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence

import gradio as gr

from explorer import first_views, memo, page, tour, url_state
from explorer.first_views import Opening
from explorer.tour import Step
from explorer.url_state import Param

__all__ = ["Links", "Step"]
log = logging.getLogger("explorer")


class Links:
    """The registry that the labs fill while they are built and that the app wires once they all exist (`wire`)."""

    def __init__(self) -> None:
        self.states: dict[str, url_state.LabState] = {}  # lab id → its part of a link (its restore)
        self.top: gr.Tabs | None = None
        self.openings: list[Opening] = []
        self.warmups: list[Callable[[], object]] = []  # more work to do ahead of time, after the first views
        self.note: gr.Markdown | None = None
        self.buttons: list[gr.HTML] = []
        self.steps: list[tuple[str, Step, gr.Button]] = []  # (lab, step, its button)
        self._building: str | None = None  # the lab whose controls and openings are being registered

    @property
    def labs(self) -> dict[str, str]:
        """lab id → its tab's label."""
        return {lab: st.label for lab, st in self.states.items()}

    @property
    def views(self) -> dict[str, tuple[gr.Tabs, dict[str, str]]]:
        """lab id → its sub-tabs and {view id: label}, for the labs that have sub-tabs."""
        return {lab: (st.tabs, st.views) for lab, st in self.states.items() if st.tabs is not None}

    @property
    def params(self) -> list[Param]:
        return [p for st in self.states.values() for p in st.params]

    # --- what the labs register -------------------------------------------------------------------------------
    def lab(self, lab: str, label: str) -> url_state.LabState:
        """The lab `lab` is built next: the controls and openings registered from now on are its own."""
        self.states[lab] = url_state.LabState(lab, label)
        self._building = lab
        return self.states[lab]

    def button(self) -> gr.HTML:
        """A lab's "copy a link to this view" control (static/links.js), placed where it is called."""
        b = gr.HTML("{}", elem_classes="ge-links-box", js_on_load=page.mount("links.js"),
                    html_template=page.static("links.html"))
        self.buttons.append(b)
        return b

    def path(self, lab: str, start: str, steps: Sequence[Step]) -> None:
        """A lab's "Start here", laid out where it is called (explorer/tour.py); its buttons are wired in `wire`."""
        self.steps += tour.layout(lab, start, steps)

    def head(self, lab: str, start: str, steps: Sequence[Step], show_path: bool = True) -> None:
        """A lab's first line: its "Start here" (`path`, unless `show_path` is False) and the link button, in one
        row."""
        with gr.Row(equal_height=False, elem_classes="ge-lab-head"):
            if show_path:
                self.path(lab, start, steps)
            self.button()

    def sub_tabs(self, lab: str, tabs: gr.Tabs, views: dict[str, str]) -> None:
        """`tabs` (with an elem_id) holds the lab's sub-tabs, each a gr.Tab with `id=` a key of `views`."""
        self.states[lab].tabs, self.states[lab].views = tabs, dict(views)

    def param(self, lab: str, name: str, component, lo: float | None = None, hi: float | None = None,
              integer: bool | None = None) -> None:
        """`component` as `name` in the URL (url_state.param)."""
        if any(p.name == name for p in self.states[lab].params):
            raise ValueError(f"Two controls of the {lab} lab are linked as {name!r}.")
        self.states[lab].params.append(url_state.param(lab, name, component, lo, hi, integer))

    def opening(self, fn: Callable, inputs: Sequence, outputs: Sequence, then: Sequence = (),
                later: bool = False) -> None:
        """Show `fn(*inputs)` in `outputs` when a page opens, and then each (fn, inputs, outputs) of `then` in turn.
        `fn` is cached on its arguments (memo.memo). `later`: a view that takes seconds for values not seen before (a
        linked digit's likelihood, a linked sampler's run): the page shows the controls and the other views first."""
        self.openings.append(Opening(memo.memo(fn), list(inputs), list(outputs),
                                     [(memo.memo(f), list(i), list(o)) for f, i, o in then], self._building, later))

    # --- the server's side of a link ----------------------------------------------------------------------------
    def restore(self, query: dict[str, str]) -> tuple[dict, list[str]]:
        """The values a link's `query` sets: {component: value or update}, and a message per ignored item. The
        query's lab (else the first) restores its own part (url_state.LabState.restore)."""
        lab, notes = query.get("lab"), []
        if lab is not None and lab not in self.states:
            notes.append(f"`lab={lab}` is not a lab here; choose one of {', '.join(self.states)}.")
            lab = None
        if not self.states:
            return {}, notes
        out, said = self.states[lab or next(iter(self.states))].restore(query, named=lab is not None)
        updates = {self.top: gr.update(selected=lab)} if lab is not None and self.top is not None else {}
        return {**updates, **out}, notes + said

    def answers(self, values: dict, notes: list[str], lab: str | None = None) -> Iterator[dict]:
        """What a page (or lab `lab`'s step) is sent: the controls as `values` set them with the quick views, then the
        slow views; the note above the labs names what could not be shown."""
        openings = [o for o in self.openings if lab is None or o.lab == lab]
        said, sent = list(notes), dict(values)
        for views, failed in first_views.views(openings, values):
            said += failed
            sent.update(views)  # each answer holds the earlier ones' values too: Gradio sends a generator's
            yield {**sent, self.note: url_state.note_text(said)}  # outputs as differences from the last

    def page_answers(self, request: gr.Request) -> Iterator[dict]:
        """`answers` for the query the page opened with."""
        values, notes = self.restore(dict(request.query_params) if request is not None else {})
        yield from self.answers(values, notes)

    def step_answers(self, lab: str, step: Step) -> Iterator[dict]:
        """`answers` for a step's query, the lab's other controls back to their defaults (other labs untouched)."""
        values, notes = self.restore(step.query)
        for p in self.params:
            if p.lab == lab:
                values.setdefault(p.component, p.default)
        yield from self.answers(values, notes, lab)

    def outputs(self, lab: str | None = None) -> tuple[list, list]:
        """What a page's (or a step's, for `lab`) answers set: the note, tabs, controls and quick views; the slow
        views."""
        early, later = first_views.outputs([o for o in self.openings if lab is None or o.lab == lab])
        tabs = [t for lb, (t, _) in self.views.items() if lab is None or lb == lab]
        first = list(dict.fromkeys([
            self.note, *([self.top] if self.top is not None else []), *tabs,
            *(p.component for p in self.params if lab is None or p.lab == lab), *early]))
        return first, later

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
        calls = [(o.fn, [getattr(c, "value", None) for c in o.inputs]) for o in self.openings]
        t = threading.Thread(target=memo.warm, args=([*calls, *((w, []) for w in self.warmups)],),
                             name="first-views", daemon=True)
        t.start()
        return t

    def wire(self, demo: gr.Blocks) -> None:
        """On each page load, one generator restores what the URL asks for and sends the quick views, then the slow
        ones (Gradio's progress shows on those meanwhile); the page then marks itself opened (static/opened.js:
        static/links.js keeps the URL from then on). Call inside `demo` once every lab is built."""
        for b in self.buttons:  # built before the labs registered their controls: the config is complete now
            b.value = self.page_config()
        # the URL follows every change of a linked control, the server's too (static/links.js)
        page.publish_values(list(dict.fromkeys(p.component for p in self.params)))
        for tabs in [self.top, *(t for t, _ in self.views.values())]:
            if tabs is not None:
                tabs.change(None, None, None, js=page.publish("tabs"), trigger_mode="multiple",
                            api_visibility="private")
        first, later = self.outputs()
        loaded = demo.load(self.page_answers, None, [*first, *later], show_progress="full",
                           show_progress_on=later or None, api_visibility="private")
        loaded.then(None, None, None, js=page.static("events/opened.js"))
        wired = [(lab, b, self._wire_step(lab, step, b)) for lab, step, b in self.steps]
        # a step shows its lab's views as of its own query: its click cancels what another step of the lab (or the
        # page's load) is still computing, which would otherwise land over it; the page then counts as opened
        for lab, b, _ in wired:
            others = [e for lab2, b2, event in wired if lab2 == lab and b2 is not b and event is not None
                      for e in [event]]
            b.click(None, None, None, cancels=[loaded, *others], api_visibility="private",
                    js=page.static("events/opened.js"))

    def _wire_step(self, lab: str, step: Step, button: gr.Button):
        """The step's button shows its view as a page opens; returns its event (None for a hidden step)."""
        notes = self.restore(step.query)[1]
        if step.query.get("lab") != lab or notes:  # e.g. a view without its checkpoint or the test digits
            log.info("the %s lab's step %r is hidden: %s", lab, step.label, " ".join(notes) or "not its lab")
            button.visible = False
            return None
        first, later = self.outputs(lab)
        return button.click(functools.partial(self.step_answers, lab, step), None, [*first, *later],
                            show_progress="full", show_progress_on=later or None, api_visibility="private")
