"""What the 2-D lab's views share: the data set control, the session's own model (trained on a drawing), and the
files the page fetches (explorer/plane.py computes them; they are written once, under served.folder())."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import torch

from explorer import checks, plane, served
from explorer.models import PLANE_DATASETS, Models
from train.models.ddpm2d import DDPM2D

YOURS = "your drawing"
NAMES = {"ring8": "8 Gaussians on a ring", "uneven3": "3 uneven Gaussians", "moons": "two moons",
         "spiral": "spiral", "checkerboard": "checkerboard", YOURS: "your drawing (train it first)"}
TRAINED_NAME = "your drawing (trained: {steps} steps)"  # the data set's label once a model is trained on it
MAX_AGE_S = 1800  # a session's files (its runs, its own model's field) are removed after this long
LATEX = [{"left": "$", "right": "$", "display": False}]


@dataclass
class Trained:
    """A model a user trained in their session on their drawing (explorer/labs/plane/draw.py): kept in gr.State,
    never written to checkpoints/."""

    model: DDPM2D
    points: torch.Tensor  # (N, 2) float64: the drawing it was trained on
    steps: int  # training steps done, over every training of this model (Train, then each Continue)
    seconds: float
    loss: float  # the mean training loss over the last steps
    losses: list[float] = dataclasses.field(default_factory=list)  # every step's training loss, in order
    # (step, plane.excess_loss, its standard error), measured EVALS times per training
    errors: list[tuple[int, float, float]] = dataclasses.field(default_factory=list)
    converged: bool = False  # the last training ran its course and the error levelled off (draw.verdict)
    _field: tuple[str, Path] | None = None  # the field view's value and the file it names

    @property
    def field(self) -> str:
        """The field view's value for this model, computed again if its file was pruned (after MAX_AGE_S): the
        session keeps the model as long as Gradio keeps the session."""
        if self._field is None or not self._field[1].exists():
            self._field = field_value(self.model, self.reference, YOURS, session=True, with_path=True)
        return self._field[0]

    @functools.cached_property
    def reference(self) -> plane.Reference:
        return plane.reference(YOURS, self.points)


@dataclass
class PlaneControls:
    """The lab's shared parts: the models, the data set radio and the session's own model (gr.State of Trained)."""

    models: Models
    data: gr.Radio
    trained: gr.State
    choices: list  # the data set radio's (label, value) choices as built
    field: gr.HTML | None = None  # the views and what runs the particles, once built
    particles: gr.HTML | None = None
    particle_inputs: list | None = None

    def model(self, name, trained: Trained | None) -> tuple[DDPM2D, plane.Reference, str]:
        """(model, reference, name) for data set `name` ("ring8", …, or YOURS: the session's model)."""
        name = checks.choice("Data set", name, [*PLANE_DATASETS, YOURS])  # models.plane names one that did not load
        if name == YOURS:
            if trained is None:
                raise checks.InputError("You have not trained a model on a drawing yet: draw points in "
                                        "'Your own data' and press Train.")
            return trained.model, trained.reference, name
        return self.models.plane(name), builtin_reference(name), name


@functools.lru_cache(maxsize=8)
def builtin_reference(name: str) -> plane.Reference:
    return plane.reference(name)


def write(blob: bytes, prefix: str) -> Path:
    """`blob` as a new file under served.folder() (atomically: a page never fetches half a file); its path
    (served.served_url gives its URL). Files of sessions (`prefix` "plane-s-…") older than MAX_AGE_S are removed
    first."""
    d = served.folder()
    d.mkdir(parents=True, exist_ok=True)
    served.prune(d, "plane-s-*.bin", MAX_AGE_S)
    with tempfile.NamedTemporaryFile("wb", dir=d, prefix=".plane-", suffix=".tmp", delete=False) as f:
        f.write(blob)
    path = d / f"{prefix}-{uuid.uuid4().hex[:12]}.bin"
    os.replace(f.name, path)
    return path


def field_value(model: DDPM2D, ref: plane.Reference, name: str, session: bool, with_path: bool = False):
    """The field view's value: the table's URL and its header (explorer/static/plane_field.js reads them); with
    `with_path`, (value, the table's file)."""
    header, blob = plane.field_table(model, ref)
    path = write(blob, "plane-s-field" if session else f"plane-field-{name}")
    value = json.dumps({"data": name, "title": NAMES.get(name, name), "url": served.served_url(path),
                        "bytes": len(blob), **header})
    return (value, path) if with_path else value


@functools.lru_cache(maxsize=8)
def builtin_field(model: DDPM2D, name: str) -> str:
    """A built-in data set's field value, computed once per process (0.4–0.8 s for a mixture, 2–3 s for a KDE
    reference on one idle core; the app computes them all as it starts, `links.warmups`)."""
    return field_value(model, builtin_reference(name), name, session=False)
