"""Each lab's "Start here": one sentence and numbered steps, each a button that shows the view its link names (the
lab's other controls back to their defaults), a line on what to look at, and optionally a question to answer
before pressing it, whose answer the page reveals on demand. explorer/links.py wires the buttons."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import gradio as gr


@dataclass(frozen=True)
class Step:
    """One numbered "try this" step of a lab's path through its ideas."""

    label: str  # the button's text, after its number
    query: dict[str, str]  # as in a URL: lab, view and controls
    text: str  # what to look at, one or two short sentences
    predict: str = ""  # "predict first": asked before the button is pressed
    answer: str = ""  # revealed on demand, after the prediction


def layout(lab: str, start: str, steps: Sequence[Step]) -> list[tuple[str, Step, gr.Button]]:
    """Lay out the lab's "Start here" where it is called: `start` (one sentence, Markdown) and a button per step.
    Returns (lab, step, its button) for each."""
    from explorer import render

    buttons = []
    # one line that opens (the first screen is the lab's figure); the page marks it once it was opened (links.js)
    with gr.Accordion(f"Start here · {len(steps)} steps", open=False, elem_classes="ge-path", elem_id=f"{lab}-path"):
        gr.Markdown(start, elem_classes="ge-path-start")
        with gr.Row(elem_classes="ge-path-steps"):
            for i, step in enumerate(steps, 1):
                with gr.Column(min_width=180, elem_classes="ge-step"):
                    b = gr.Button(f"{i} · {step.label}", size="sm", elem_id=f"{lab}-step-{i}")
                    gr.HTML(render.step_text(step), elem_classes="ge-step-text", padding=False)
                buttons.append((lab, step, b))
    return buttons
