"""What every view shows as a page opens: each lab's openings run on the controls as a link restored them.

An opening is `fn(*inputs) -> outputs`, then more steps that read its outputs. They run in the order the labs
registered them, each reading the controls (as restored, else their defaults) and what earlier openings made (a
session's state: the encoded digit, the latent z). `views` yields at most twice: first every view that is quick,
with the slow (`later`) ones whose result is cached already; then the other slow ones. The page shows the first
answer at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import gradio as gr

from explorer import checks


@dataclass
class Opening:
    """A view's first picture: `fn(*inputs)` → `outputs`, for the controls as a link restored them."""

    fn: Callable  # memo-wrapped (explorer/memo.py): it has .ready(*args)
    inputs: list
    outputs: list
    then: list = field(default_factory=list)  # more steps that need this one's outputs: (fn, inputs, outputs)
    lab: str | None = None  # the lab it belongs to
    later: bool = False  # seconds to compute for values not seen before: sent after the quick views

    def all_outputs(self) -> list:
        return [*self.outputs, *(c for _, _, outs in self.then for c in outs)]

    def all_inputs(self) -> list:
        return [*self.inputs, *(c for _, ins, _ in self.then for c in ins)]


def views(openings: list[Opening], restored: dict) -> Iterator[tuple[dict, list[str]]]:
    """({component: value}, [a message per view that could not be drawn]) for the quick views and the later ones
    already cached, then (only if some are left) for the other later views."""
    made: dict = {}  # component → the value an opening gave it, for the openings that read it

    def value_of(c):
        if c in made:
            return made[c]
        return restored[c] if c in restored and not isinstance(restored[c], gr.Tabs) else c.value

    def run(o: Opening, out: dict, notes: list[str]) -> None:
        for fn, inputs, outputs in [(o.fn, o.inputs, o.outputs), *o.then]:
            try:
                result = fn(*[value_of(c) for c in inputs])
            except checks.InputError as e:
                notes.append(f"A view could not be drawn for this link: {e.message}")
                return
            for c, r in zip(outputs, [result] if len(outputs) == 1 else list(result), strict=True):
                update = isinstance(r, dict) and r.get("__type__") == "update"
                if not update or "value" in r:
                    made[c] = r["value"] if update else r
                out[c] = merge(out.get(c, restored.get(c)), r)

    out, notes, left = {}, [], []
    for o in openings:
        if o.later and (o.then or not o.fn.ready(*[value_of(c) for c in o.inputs])):
            left.append(o)
        else:
            run(o, out, notes)
    yield out, notes
    if left:
        out, notes = {}, []
        for o in left:
            run(o, out, notes)
        yield out, notes


def outputs(openings: list[Opening]) -> tuple[list, list]:
    """The components the quick openings set and those the later ones set (each once, in order); a component set
    by both is refused: it would show one and then the other."""
    later = list(dict.fromkeys(c for o in openings if o.later for c in o.all_outputs()))
    early = list(dict.fromkeys(c for o in openings if not o.later for c in o.all_outputs()))
    if both := {id(c) for c in later} & {id(c) for c in early}:
        names = [str(c.label or c.elem_id) for c in later if id(c) in both]
        raise ValueError(f"A view is set by a later opening and by another one: {', '.join(names)}.")
    return early, later


def merge(before, after):
    """What a component is sent when a link set its value (`before`) and an opening updates it (`after`)."""
    if before is None or isinstance(before, gr.Tabs):
        return after
    if isinstance(after, dict) and after.get("__type__") == "update" and "value" not in after:
        return {**after, "value": before}
    return after
