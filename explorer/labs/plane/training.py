"""Training in the session on a drawing (explorer/labs/plane/draw.py lays out the controls): a small DDPM2D learns
the drawn points in seconds, on the server; progress, the loss curve and the field error stream; Stop ends it early
(keeping the model as trained so far); Continue training goes on from the weights. One training at a time for each
session and for the whole app. The model stays in the session (gr.State), never in checkpoints/.

The field error (explorer/plane.excess_loss) is the part of the training loss that training can still remove, exact
in expectation because each drawn point is a small Gaussian and the drawn data set is a mixture whose ε* is known;
the verdict compares it with the loss floor of the exact denoiser."""

from __future__ import annotations

import copy
import json
import math
import threading
import time
from functools import partial

import gradio as gr
import torch

from explorer import background, checks, plane
from explorer.labs.plane.common import TRAINED_NAME, YOURS, PlaneControls, Trained, builtin_reference
from train.fit2d import fit
from train.models.ddpm2d import DDPM2D, DDPM2DConfig

MIN_POINTS, MAX_POINTS = 3, 300
TRAIN_SECONDS = 30.0  # and at most this long, whatever the machine
MODEL = DDPM2DConfig(hidden=64, layers=3)  # 13 k parameters: seconds to train, enough for a few blobs


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


EVALS = 8  # field-error estimates per training (plane.excess_loss, about 0.15 s each)
# Converged: the field error is under this share of the loss floor (the exact denoiser's loss). The built-in ring8 and
# uneven3 models reach 1.3% and 0.5%; the in-session model on a drawing of 4 or 40 points reaches 2.0–2.5% after
# 4,000 steps, 25% after 500 and 92% after 150 (measured when this was written).
CONVERGED = 0.05


def builtin_errors(models) -> str:
    """The built-in exact sets' models' field errors, as a sentence: what a fully trained model reaches (on its own
    data, with its own network and steps, which the sentence names). Computed once per process."""
    if id(models) not in _BUILTIN_ERRORS:
        _BUILTIN_ERRORS[id(models)] = _builtin_errors(models)
    return _BUILTIN_ERRORS[id(models)]


_BUILTIN_ERRORS: dict[int, str] = {}  # id(models) -> `builtin_errors`


def _builtin_errors(models) -> str:
    parts = []
    for name in ("ring8", "uneven3"):
        if name in models.planes:
            m = models.plane(name)
            e, se, floor = plane.excess_loss(m, builtin_reference(name).mixture)
            run = models.plane_cards.get(name, {}).get("training", {})
            known = {"steps", "batch_size"} <= set(run)
            how = f", {run['steps']:,} steps of {run['batch_size']} points" if known else ""
            parts.append(f"{name} {e:.4f} ± {se:.4f}, {e / floor:.1%} of its floor ({m.config.hidden} units × "
                         f"{m.config.layers} layers{how})")
    return ("For comparison, the built-in models on their own data: " + "; ".join(parts) + ".") if parts else ""


def verdict(errors: list[tuple[int, float, float, float]], planned: int, done: int, why: str) -> tuple[bool, str]:
    """(converged, a plain sentence) after a training that planned `planned` steps and did `done`, from its last
    field-error estimate (step, error, standard error, floor): not converged when it stopped early (`why`) or while
    the error is more than CONVERGED of the floor."""
    _, e, _, floor = errors[-1]
    share = e / floor
    if done < planned:
        return False, (f"<b>Not converged yet</b>: {why} after {done:,} of {planned:,} steps, with the field error at "
                       f"{share:.0%} of the floor. Press <b>Continue training</b>.")
    if share > CONVERGED:
        return False, (f"<b>Not converged yet</b>: the field error is {share:.0%} of the floor (the loss of the "
                       f"exact denoiser, {floor:.3f}); converged means under {CONVERGED:.0%}. Press <b>Continue "
                       "training</b>.")
    return True, (f"Converged: the field error is {share:.1%} of the floor (the loss of the exact denoiser, "
                  f"{floor:.3f}), under {CONVERGED:.0%}.")


def error_text(errors: list[tuple[int, float, float, float]]) -> str:
    """The field error's estimates so far, as a line."""
    shown = ", ".join(f"{e:.4f} at {s:,}" for s, e, *_ in errors[-EVALS:])
    s, e, se, floor = errors[-1]
    return (f"<p class='ge-plane-err'>Field error E‖ε<sub>θ</sub> − ε*‖² (per coordinate, as the loss: the part of "
            f"the training loss that training can remove, 0 for the exact denoiser): <b>{e:.4f} ± {se:.4f}</b> at "
            f"step {s:,} (Monte Carlo, ± one standard error), against a floor of {floor:.4f}, the training loss of "
            f"the exact denoiser. So far: {shown}.</p>")


def train(ctl: PlaneControls, train_steps: int, drawing, request: gr.Request = None):
    """Train a new model on the drawing; yields (status HTML, trained state) as it goes. The steps run in a thread of
    their own (explorer/background.py); Stop (`stop_training`) or a closed page ends them, and a stopped training
    keeps its model as it is. `train_steps`: the cap (AppConfig.train_steps)."""
    yield from _train(ctl, train_steps, drawing, None, request)


def train_more(ctl: PlaneControls, train_steps: int, drawing, trained: Trained | None, request: gr.Request = None):
    """Continue training: `train` from `trained`'s weights, on the drawing as it is now. The learning-rate schedule
    starts again (a warm restart); the steps, the loss curve and the field error go on from where they were."""
    if trained is None:
        raise checks.InputError("There is no model to continue yet: press Train first.")
    yield from _train(ctl, train_steps, drawing, trained, request)


def _steps(model: DDPM2D, ref: plane.Reference, train_steps: int, start: int, asked: threading.Event, t0: float):
    """The training's steps: (step, loss, field error or None) after each; a field error every train_steps // EVALS
    steps and at the last, on the same points each time (comparable estimates). Ends early when Stop was asked or
    after TRAIN_SECONDS."""
    every = max(1, train_steps // EVALS)
    for step, loss in fit(model, lambda n, g: ref.mixture.sample(n, g), train_steps, seed=start):
        if step % every == 0 or step == train_steps:
            model.eval()
            e = plane.excess_loss(model, ref.mixture, seed=0)
            model.train()
            yield step, loss, e
        else:
            yield step, loss, None
        if asked.is_set() or time.perf_counter() - t0 > TRAIN_SECONDS:
            return


def _train(ctl: PlaneControls, train_steps: int, drawing, trained: Trained | None, request: gr.Request | None):
    pts = points(drawing)
    resume = trained is not None
    session = request.session_hash if request else None
    with background.RUNS.claim(session):
        torch.manual_seed(0)
        if resume:
            model = copy.deepcopy(trained.model).requires_grad_(True)
            start, losses, errors = trained.steps, list(trained.losses), list(trained.errors)
            seconds0 = trained.seconds
        else:
            model, start, losses, errors, seconds0 = DDPM2D(MODEL), 0, [], [], 0.0
        ref = plane.reference(YOURS, pts)
        stop, asked, t0 = threading.Event(), threading.Event(), time.perf_counter()
        if session is not None:
            _stops[session] = asked  # set by Stop (`stop`: by background.stream, when the page is closed too)

        steps = partial(_steps, model, ref, train_steps, start, asked, t0)
        try:
            for batch in background.stream(steps, stop, interval=0.1, name="plane-train"):
                for step, loss, e in batch:
                    losses.append(loss)
                    if e is not None:
                        errors.append((start + step, *e))
                done = len(losses) - start
                bar = f"<progress max='{train_steps}' value='{done}'></progress>"
                what = "Continuing on" if resume else "Training on"
                yield (f"<p>{bar} {what} your {len(pts)} points: step {done} of {train_steps}, "
                       f"{time.perf_counter() - t0:.1f} s.</p>" + loss_svg(losses, start + train_steps)
                       + (error_text(errors) if errors else "")), gr.skip()
        finally:
            if session is not None and _stops.get(session) is asked:
                del _stops[session]
        done = len(losses) - start
        if not done:
            if resume:
                raise checks.InputError("Stopped before the first step: the model is as it was.")
            raise checks.InputError("Stopped before the first step: there is no model to use.")
        model.eval()
        if not errors or errors[-1][0] != start + done:  # stopped between estimates: one for where it stopped
            errors.append((start + done, *plane.excess_loss(model, ref.mixture, seed=0)))
        seconds = time.perf_counter() - t0
        why = "stopped (Stop)" if asked.is_set() else f"reached the {TRAIN_SECONDS:g} s limit"
        converged, sentence = verdict(errors, train_steps, done, why)
        trained = Trained(model.requires_grad_(False), pts, start + done, seconds0 + seconds,
                          sum(losses[-50:]) / len(losses[-50:]), losses, errors, converged)
        trained.field  # noqa: B018 (computed now, while the user waits for the training anyway)
        how = ("Stopped early (Stop): trained" if asked.is_set() else "Trained" if done == train_steps else
               f"Reached the {TRAIN_SECONDS:g} s limit: trained")
        total = f" ({start + done:,} in all)" if resume else ""
        yield (f"<p>{how} for {done} steps{total} in {seconds:.1f} s (mean loss of the last 50 steps "
               f"{trained.loss:.3f}). The field and the particles now use your model.</p>"
               + loss_svg(losses, start + train_steps) + error_text(errors)
               + f"<p class='ge-plane-verdict'>{sentence} {builtin_errors(ctl.models)}</p>"), trained


def trained_label(choices: list, trained: Trained) -> dict:
    """The data set radio once a model is trained: your drawing, named with its steps, and chosen."""
    label = TRAINED_NAME.format(steps=f"{trained.steps:,}")
    return gr.update(choices=[(label, v) if v == YOURS else (k, v) for k, v in choices], value=YOURS)
