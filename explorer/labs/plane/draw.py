"""Your own data: place points in the plane (or start from a built-in set), press Train, and a small DDPM2D learns
them in your session, on the server, in seconds: progress and the loss curve stream, Stop ends it early (keeping the
model as trained so far), one training at a
time for each session and for the whole app. The model stays in the session (gr.State), never in checkpoints/; the
field and the particles then use it.

Each point is a small Gaussian (explorer/plane.DRAW_STD), so the drawn data set is a Gaussian mixture: its diffused
density, score and ε* are exact, and so is the error map of the model trained on it."""

from __future__ import annotations

import json
import math
import threading
import time
from functools import partial

import gradio as gr
import torch

from explorer import background, checks, page, plane
from explorer.config import AppConfig
from explorer.gradio_compat import Dropdown, event_payload
from explorer.labs.plane.common import YOURS, PlaneControls, Trained
from explorer.labs.plane.field import settled_field
from explorer.labs.plane.particles import particles
from train.data2d import sample
from train.fit2d import fit
from train.models.ddpm2d import DDPM2D, DDPM2DConfig

MIN_POINTS, MAX_POINTS = 3, 300
TRAIN_SECONDS = 30.0  # and at most this long, whatever the machine
MODEL = DDPM2DConfig(hidden=64, layers=3)  # 13 k parameters: seconds to train, enough for a few blobs



def text(train_steps: int) -> str:
    """The view's prose, with the step cap the app was started with (`--train-steps`)."""
    return (f"Click or drag in the plane to place points ({MIN_POINTS} to {MAX_POINTS}), or start from a built-in "
            f"set, then press **Train**: a small network ({MODEL.hidden} units × {MODEL.layers} layers) learns them "
            f"here, in your session, for {train_steps} steps or {TRAIN_SECONDS:g} s, whichever comes first (Stop "
            "ends it sooner and keeps the model so far). Each point stands for a small Gaussian (standard deviation "
            f"{plane.DRAW_STD:g}), so the exact field of your data is known and the error map works. When it is "
            "done, the data set above switches to *your drawing*.")


def points(value) -> torch.Tensor:
    """The drawing's points, checked: (N, 2) float64, MIN_POINTS ≤ N ≤ MAX_POINTS, finite, inside the plane."""
    try:
        pts = json.loads(value)["points"] if isinstance(value, str) else value["points"]
    except (TypeError, ValueError, KeyError):
        raise checks.InputError(f"The drawing must be {{'points': [[x, y], …]}}; got {checks.shown(value)}.") from None
    if not isinstance(pts, list):
        raise checks.InputError(f"The drawing's points must be a list of [x, y] pairs; got {checks.shown(pts)}.")
    if len(pts) < MIN_POINTS:
        raise checks.InputError(f"The drawing has {len(pts)} point{'s' * (len(pts) != 1)}: place at least "
                                f"{MIN_POINTS} (click in the plane).")
    if len(pts) > MAX_POINTS:
        raise checks.InputError(f"The drawing has {len(pts)} points: at most {MAX_POINTS}.")
    E = plane.EXTENT
    for p in pts:
        if (not isinstance(p, list) or len(p) != 2 or any(isinstance(c, bool) or not isinstance(c, int | float)
                                                          for c in p)):
            raise checks.InputError(f"Each point must be [x, y], two numbers; got {checks.shown(p)}.")
        try:  # (a JSON integer has no size limit: 10**400 does not fit a float)
            finite = all(math.isfinite(float(c)) for c in p)
        except OverflowError:
            finite = False
        if not finite:
            raise checks.InputError(f"The point {checks.shown(p)} is not two finite numbers.")
        if not all(-E <= c <= E for c in p):
            raise checks.InputError(f"The point {checks.shown(p)} is outside the plane [−{E:g}, {E:g}]².")
    return torch.tensor(pts, dtype=torch.float64)


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


def loss_svg(losses: list[float], total: int) -> str:
    """The training loss (a running mean over 50 steps) against the step, as a small SVG."""
    W, H = 360, 140
    if len(losses) < 2:
        return ""
    smooth, acc = [], 0.0
    for i, v in enumerate(losses):
        acc += v - (losses[i - 50] if i >= 50 else 0.0)
        smooth.append(acc / min(i + 1, 50))
    top, bottom = max(smooth), min(smooth)
    span = (top - bottom) or 1.0
    pts = " ".join(f"{8 + i / total * (W - 16):.1f},{8 + (top - v) / span * (H - 30):.1f}"
                   for i, v in enumerate(smooth) if i % 5 == 0 or i == len(smooth) - 1)
    return (f"<svg class='ge-plane-loss' viewBox='0 0 {W} {H}' width='{W}' height='{H}' role='img' aria-label='the "
            f"training loss, from {smooth[0]:.3f} to {smooth[-1]:.3f} over {len(losses)} steps'>"
            f"<polyline fill='none' stroke='#b3261e' stroke-width='1.5' points='{pts}'/>"
            f"<text x='8' y='{H - 6}' font-size='11'>loss {smooth[-1]:.3f} at step {len(losses)} of {total}"
            "</text></svg>")


_stops: dict[str, threading.Event] = {}  # session -> its training's Stop


def stop_training(request: gr.Request = None) -> str:
    """Stop: the caller's training ends at its next step and its model, as trained so far, is kept and used."""
    event = _stops.get(request.session_hash) if request else None
    if event is None or event.is_set():
        return "Nothing is training."
    event.set()
    return "Stopping: the model as trained so far is kept."


def train(ctl: PlaneControls, train_steps: int, drawing, request: gr.Request = None):
    """Train on the drawing; yields (status HTML, trained state) as it goes. The steps run in a thread of their own
    (explorer/background.py); Stop (`stop_training`) or a closed page ends them, and a stopped training keeps its
    model as it is. `train_steps`: the cap (AppConfig.train_steps)."""
    pts = points(drawing)
    session = request.session_hash if request else None
    with background.RUNS.claim(session):
        torch.manual_seed(0)
        model = DDPM2D(MODEL)
        ref = plane.reference(YOURS, pts)
        stop, asked, losses, t0 = threading.Event(), threading.Event(), [], time.perf_counter()
        if session is not None:
            _stops[session] = asked  # set by Stop (`stop`: by background.stream, when the page is closed too)

        def steps():
            for step, loss in fit(model, lambda n, g: ref.mixture.sample(n, g), train_steps, seed=0):
                yield step, loss
                if asked.is_set() or time.perf_counter() - t0 > TRAIN_SECONDS:
                    return

        try:
            for batch in background.stream(steps, stop, interval=0.1, name="plane-train"):
                losses += [loss for _, loss in batch]
                bar = f"<progress max='{train_steps}' value='{len(losses)}'></progress>"
                yield (f"<p>{bar} Training on your {len(pts)} points: step {len(losses)} of {train_steps}, "
                       f"{time.perf_counter() - t0:.1f} s.</p>" + loss_svg(losses, train_steps)), gr.skip()
        finally:
            if session is not None and _stops.get(session) is asked:
                del _stops[session]
        if not losses:
            raise checks.InputError("Stopped before the first step: there is no model to use.")
        seconds = time.perf_counter() - t0
        trained = Trained(model.eval().requires_grad_(False), pts, len(losses), seconds,
                          sum(losses[-50:]) / len(losses[-50:]))
        trained.field  # noqa: B018 (computed now, while the user waits for the training anyway)
        how = ("Stopped early (Stop): trained" if asked.is_set() else "Trained" if len(losses) == train_steps else
               f"Reached the {TRAIN_SECONDS:g} s limit: trained")
        yield (f"<p>{how} for {len(losses)} steps in {seconds:.1f} s (mean loss of the last 50 steps "
               f"{trained.loss:.3f}). The field and the particles now use your model.</p>"
               + loss_svg(losses, train_steps)), trained


def build(ctl: PlaneControls, config: AppConfig) -> None:
    gr.Markdown(text(config.train_steps))
    canvas = gr.HTML(as_drawing([]), elem_id="plane-draw", html_template=page.static("plane_draw.html"),
                     js_on_load=page.mount("plane_draw.js", ("settle",)))
    with gr.Row():
        start = Dropdown(list(plane.BUILTIN), value="ring8", label="or start from",
                         elem_id="plane-start", scale=1)
        use = gr.Button("Use these points", elem_id="plane-use", scale=0)
        go = gr.Button("Train", variant="primary", elem_id="plane-train", scale=0)
        stop = gr.Button("Stop", elem_id="plane-stop", scale=0)
    status = gr.HTML(elem_id="plane-train-status")
    canvas.settle(settle, None, canvas, trigger_mode="multiple", show_progress="hidden", api_visibility="private")
    use.click(start_from, start, canvas, api_name="plane_start_from", show_progress="hidden")
    run = go.click(background.in_session(train, ctl, config.train_steps), [canvas], [status, ctl.trained],
                   api_name="plane_train", concurrency_limit=1, concurrency_id="plane-train",
                   show_progress="minimal")  # (it shows the wait)
    stop.click(stop_training, None, status, api_name="plane_stop", show_progress="hidden")
    # trained: the data set becomes the drawing, and the field and particles show its model
    (run.success(lambda: YOURS, None, ctl.data, api_visibility="private", show_progress="hidden")
     .then(partial(settled_field, ctl), [ctl.data, ctl.trained], ctl.field, api_visibility="private")
     .then(partial(particles, ctl), ctl.particle_inputs, ctl.particles, api_visibility="private",
           concurrency_limit=2, concurrency_id="plane-particles"))
