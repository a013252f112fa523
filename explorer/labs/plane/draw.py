"""Your own data: place points in the plane (or start from a built-in set), press Train, and a small DDPM2D learns
them in your session (explorer/labs/plane/training.py); Continue training goes on from its weights, Stop ends it
early. The field and the particles then use it.

Each point is a small Gaussian (explorer/plane.DRAW_STD), so the drawn data set is a Gaussian mixture: its diffused
density, score and ε* are exact, and so is the error map of the model trained on it."""

from __future__ import annotations

import json
from functools import partial

import gradio as gr
import torch

from explorer import background, checks, page, plane
from explorer.config import AppConfig
from explorer.gradio_compat import Dropdown, event_payload
from explorer.labs.plane.common import PlaneControls
from explorer.labs.plane.field import settled_field
from explorer.labs.plane.particles import particles
from explorer.labs.plane.training import (
    MAX_POINTS,
    MIN_POINTS,
    MODEL,
    TRAIN_SECONDS,
    points,
    stop_training,
    train,
    train_more,
    trained_label,
)
from train.data2d import sample


def text(train_steps: int) -> str:
    """The view's prose, with the step cap the app was started with (`--train-steps`)."""
    return (f"Click or drag in the plane to place points ({MIN_POINTS} to {MAX_POINTS}), or start from a built-in "
            f"set, then press **Train**: a small network ({MODEL.hidden} units × {MODEL.layers} layers) learns them "
            f"here, in your session, for {train_steps} steps or {TRAIN_SECONDS:g} s, whichever comes first (Stop "
            "ends it sooner and keeps the model so far). Each point stands for a small Gaussian (standard deviation "
            f"{plane.DRAW_STD:g}), so the exact field of your data is known and the error map works. When it is "
            "done, the data set above switches to *your drawing*. The field error, under the buttons, is how far the "
            "network still is from the exact denoiser of your points; until it says *converged*, **Continue "
            "training** goes on from the current weights.")


def as_drawing(pts) -> str:
    return json.dumps({"points": [[round(float(x), 4), round(float(y), 4)] for x, y in pts]})


def settle(evt: gr.EventData) -> str:
    """The page's drawing after a stroke, as the server keeps it (what Train uses): the valid points, at most
    MAX_POINTS, and a message naming what was left out. Fewer than MIN_POINTS is not refused here (the user is
    still drawing); Train says so."""
    data = event_payload(evt)
    raw, seq = data.get("points"), data.get("seq")
    raw = raw if isinstance(raw, list) else []
    kept, message = [], ""
    for p in raw[: MAX_POINTS + 1]:  # (the page sends at most MAX_POINTS; one more says there were too many)
        try:
            kept.append(points({"points": [p] * MIN_POINTS})[0].tolist())
        except checks.InputError as e:
            message = e.message
    if len(kept) > MAX_POINTS:
        kept, message = kept[:MAX_POINTS], f"At most {MAX_POINTS} points: the first {MAX_POINTS} are kept."
    seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else None  # the page's number, sent back
    return json.dumps({**json.loads(as_drawing(kept)), "message": message, "seq": seq})


def start_from(data) -> str:
    """200 points of built-in data set `data`, to edit or train on."""
    name = checks.choice("Start from", data, list(plane.BUILTIN))
    return as_drawing(sample(name, 200, torch.Generator().manual_seed(0)).clamp(-plane.EXTENT, plane.EXTENT).tolist())


def build(ctl: PlaneControls, config: AppConfig) -> None:
    with gr.Row(equal_height=False):  # the drawing, and the buttons beside it: both on the first screen
        with gr.Column(scale=3):
            canvas = gr.HTML(as_drawing([]), elem_id="plane-draw", html_template=page.static("plane_draw.html"),
                             js_on_load=page.mount("plane_draw.js", ("settle",)))
        with gr.Column(scale=2, min_width=280):
            with gr.Row():
                go = gr.Button("Train", variant="primary", elem_id="plane-train", min_width=90)
                more = gr.Button("Continue training", elem_id="plane-continue", min_width=90)
                stop = gr.Button("Stop", elem_id="plane-stop", min_width=70)
            with gr.Row(equal_height=True):
                start = Dropdown(list(plane.BUILTIN), value="ring8", label="or start from",
                                 elem_id="plane-start", scale=1)
                use = gr.Button("Use these points", elem_id="plane-use", scale=0)
            status = gr.HTML(elem_id="plane-train-status")
    canvas.settle(settle, None, canvas, trigger_mode="multiple", show_progress="hidden", api_visibility="private")
    use.click(start_from, start, canvas, api_name="plane_start_from", show_progress="hidden")
    run = go.click(background.in_session(train, ctl, config.train_steps), [canvas], [status, ctl.trained],
                   api_name="plane_train", concurrency_limit=1, concurrency_id="plane-train",
                   show_progress="minimal")  # (it shows the wait)
    # from the session's model (one training at a time for the app: the same concurrency id)
    resumed = more.click(background.in_session(train_more, ctl, config.train_steps),
                         [canvas, ctl.trained], [status, ctl.trained], api_name="plane_continue", concurrency_limit=1,
                         concurrency_id="plane-train", show_progress="minimal")
    stop.click(stop_training, None, status, api_name="plane_stop", show_progress="hidden")
    # trained: the data set becomes the drawing (named with its steps), and the field and particles show its model
    for event in (run, resumed):
        (event.success(partial(trained_label, ctl.choices), ctl.trained, ctl.data, api_visibility="private",
                       show_progress="hidden")
         .then(partial(settled_field, ctl), [ctl.data, ctl.trained], ctl.field, api_visibility="private")
         .then(partial(particles, ctl), ctl.particle_inputs, ctl.particles, api_visibility="private",
               concurrency_limit=2, concurrency_id="plane-particles"))
    # the view's theory, under its figure and controls (the first screen is the instrument)
    gr.Markdown(text(config.train_steps))
