"""The URL's state: which controls a link names, how their text is read, and what a query asks for.

The URL's query names the open lab, its sub-tab and the controls that define what it shows, for instance
`?lab=kl&view=two-d&mu_q1=1.5` or `?lab=diffusion&view=reverse&steps=10&class=3&seed=7`. The page keeps it up to
date as controls move (static/links.js, with `history.replaceState`: no request, no reload) and writes only the
values that differ from the defaults. Each value is checked as the control's own handler would; a bad or unknown
one is named in a note above the labs and its control keeps its default: never a broken page.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import gradio as gr

from explorer import checks

# a link's keys that are not a lab's settings: which lab and view it opens, and two the page itself keeps (Gradio's
# `__theme`, dark mode; `present`, presenter mode, static/presenter.js)
PAGE_KEYS = ("lab", "view", "__theme", "present")


@dataclass(frozen=True)
class Param:
    """One control in the URL: `name` there, read from and written to `component` (which has an elem_id)."""

    lab: str
    name: str
    component: gr.components.Component
    parse: Callable[[str], object]  # the URL's text → the control's value; raises checks.InputError
    kind: str  # how the page reads it: "number" (sliders and number boxes), "choice" (radio, dropdown), "check"
    default: object


def label(component) -> str:
    return str(component.label or component.elem_id)


def param(lab: str, name: str, component, lo: float | None = None, hi: float | None = None,
          integer: bool | None = None) -> Param:
    """`component` (a slider, number box, radio, dropdown or checkbox with an elem_id) as `name` in the URL.
    Numbers are checked against `lo`/`hi` (default: the component's own range)."""
    if not component.elem_id:
        raise ValueError(f"The control {label(component)!r} needs an elem_id to be linked.")
    if isinstance(component, gr.Radio | gr.Dropdown):
        allowed, name_shown = [c[1] if isinstance(c, tuple | list) else c for c in component.choices], label(component)
        return Param(lab, name, component, lambda text: checks.choice(name_shown, text, allowed), "choice",
                     component.value)
    if isinstance(component, gr.Checkbox):
        def parse(text):
            if text not in ("0", "1", "true", "false"):
                raise checks.InputError(f"{label(component)} must be 1 or 0, not {checks.shown(text)}.")
            return text in ("1", "true")
        return Param(lab, name, component, parse, "check", component.value)
    lo = component.minimum if lo is None else lo
    hi = component.maximum if hi is None else hi
    lo = -math.inf if lo is None else lo
    hi = (checks.MAX_SEED if integer else math.inf) if hi is None else hi
    if integer is None:
        step = getattr(component, "step", 1) or 1
        integer = float(step).is_integer() and (lo == -math.inf or float(lo).is_integer())
    name_shown = label(component)
    return Param(lab, name, component, lambda text: checks.number_text(name_shown, text, lo, hi, integer=integer),
                 "number", component.value)


@dataclass
class LabState:
    """One lab's part of a link: its sub-tabs (`tabs`, {view id: label}) and its linked controls. The lab's
    `restore(query)` reads its part of a query; the registry (explorer/links.py) picks the lab."""

    lab: str
    label: str
    params: list[Param] = field(default_factory=list)
    tabs: gr.Tabs | None = None
    views: dict[str, str] = field(default_factory=dict)

    def restore(self, query: dict[str, str], named: bool = True) -> tuple[dict, list[str]]:
        """{component or sub-tabs: value or update} for the view and settings `query` names that this lab has, and
        a message per item it cannot have. `named`: the query names this lab (else it is the lab a link without
        `lab=` opens on). Makes no component (its updates are gr.update): it may run while the app is built."""
        out: dict = {}
        notes: list[str] = []
        view = query.get("view")
        if view is not None:
            if named and view in self.views:
                out[self.tabs] = gr.update(selected=view)
            else:
                where = f"the {self.label} lab" if named else "a link without `lab=`"
                known = self.views if named else {}
                notes.append(f"`view={view}` is not a view of {where}" + (f"; choose one of {', '.join(known)}."
                                                                          if known else "."))
        by_name = {p.name: p for p in self.params}
        for key, text in query.items():
            if key in PAGE_KEYS:
                continue
            p = by_name.get(key)
            if p is None:
                notes.append(f"`{key}` is not a setting of the {self.label} lab.")
                continue
            try:
                out[p.component] = p.parse(text)
            except checks.InputError as e:
                notes.append(f"`{key}={text}`: {e.message} Its default is shown.")
        return out, notes


def note_text(notes: list[str]) -> dict:
    """The note above the labs: hidden when a link asked for nothing the app cannot show."""
    if not notes:
        return gr.update(value="", visible=False)
    items = "\n".join(f"- {html.escape(n, quote=False)}" for n in notes[:12])
    return gr.update(value=f"**This link asked for something this app cannot show; the rest of it is "
                           f"restored.**\n{items}", visible=True)
