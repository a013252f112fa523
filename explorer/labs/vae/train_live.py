"""Train a 2-D VAE here: a small VAE learns MNIST in the session (train/fit_vae.py), one training at a time for the
whole app, capped in epochs and seconds; Stop keeps the model so far, Continue training goes on from its weights.
After every epoch, on a fixed batch of test digits: the ELBO, the IWAE bound and the exact log p(x) (quadrature),
and the latent map redrawn. The model lives in the session (gr.State), never in checkpoints/."""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass
from functools import partial

import gradio as gr
import plotly.graph_objects as go
import torch

from explorer import background, checks
from explorer.gradio_compat import Plot, Slider
from explorer.labs.vae.common import LATEX, VaeControls
from explorer.labs.vae.latent_map import DIGIT_COLORS
from explorer.models import Models
from train.fit_vae import fit, scores
from train.models.vae import VAE, VAEConfig

MODEL = VAEConfig(latent_dim=2, hidden_dim=256, n_layers=2)  # 0.54 M parameters: an epoch of 12,000 digits in ~2 s
MAX_EPOCHS, MAX_BETA = 30, 8.0
TRAIN_SECONDS = 60.0  # a training ends after this long, whatever the machine (Continue training goes on)
EVAL_DIGITS, MAP_DIGITS, K = 8, 1000, 100

TEXT = rf"""
**Train one yourself.** Press **Train** and a VAE with a 2-D latent ({MODEL.hidden_dim} units × {MODEL.n_layers}
layers in the encoder and in the decoder) learns 12,000 MNIST training digits here, in your session: at most
{MAX_EPOCHS} epochs or {TRAIN_SECONDS:g} s per press, one training at a time for the whole app (others wait their
turn). After every epoch the plot adds, for {EVAL_DIGITS} fixed test digits, the ELBO, the importance-weighted bound
IWAE-{K} and the exact $\log p(x)$ by quadrature over the latent plane, and the map redraws where the encoder puts
{MAP_DIGITS:,} test digits. Watch the gap $\log p(x)-\mathrm{{ELBO}}=\mathrm{{KL}}(q_\phi(z\mid x)\,\|\,p(z\mid x))$:
early on the encoder lags behind the decoder and the gap opens; as it catches up the gap narrows, while $\log p(x)$
itself keeps rising. Set β above 1 and train again to watch the map crowd towards the prior. **Stop** keeps the
model as of its last finished epoch; **Continue training** goes on from its weights (the step size starts its
schedule again).
"""


@dataclass(frozen=True)
class Live:
    """A session's trained VAE and what it has done."""

    model: VAE
    beta: float
    epochs: int
    history: tuple[tuple[int, float, float, float], ...]  # (epoch, ELBO, IWAE-K, exact log p(x)) per epoch
    seconds: float


_stops: dict[str, threading.Event] = {}  # session -> its training's Stop


def stop(request: gr.Request = None) -> str:
    """Stop: the caller's training ends at its next step; the model of its last finished epoch is kept."""
    event = _stops.get(request.session_hash) if request else None
    if event is None or event.is_set():
        return "Nothing is training."
    event.set()
    return "Stopping: the model as of its last finished epoch is kept."


def train(models: Models, beta, epochs, request: gr.Request = None):
    """A new VAE, trained for `epochs` epochs with weight β on the KL term; yields (status, curves, map, Live)."""
    yield from _run(models, beta, epochs, None, request)


def train_more(models: Models, beta, epochs, live: Live | None, request: gr.Request = None):
    """Continue training the session's VAE from its weights."""
    if live is None:
        raise checks.InputError("There is no model to continue yet: press Train first.")
    yield from _run(models, beta, epochs, live, request)


def _curves(history) -> go.Figure:
    fig = go.Figure()
    ep = [h[0] for h in history]
    for i, name, color, dash in ((3, "log p(x), exact", "#111827", "dash"), (2, f"IWAE-{K} bound", "#2563eb", None),
                                 (1, "ELBO", "#16a34a", None)):
        fig.add_trace(go.Scatter(x=ep, y=[h[i] for h in history], name=name, mode="lines+markers",
                                 line=dict(color=color, dash=dash), hovertemplate="epoch %{x}: %{y:.2f} nats"))
    gap = f": gap log p(x) − ELBO = {history[-1][3] - history[-1][1]:.2f} nats" if history else ""
    fig.update_layout(height=330, title=f"{EVAL_DIGITS} test digits, mean per digit{gap}", legend=dict(
        orientation="h", y=-0.25), xaxis=dict(title="epoch", dtick=1), yaxis=dict(title="nats"),
        margin=dict(l=55, r=10, t=45, b=40))
    return fig


def _map(models: Models, mu: torch.Tensor, epoch: int) -> go.Figure:
    labels = models.digits.labels[: len(mu)]
    fig = go.Figure([go.Scattergl(x=mu[labels == c, 0].numpy(), y=mu[labels == c, 1].numpy(), mode="markers",
                                  name=str(c), marker=dict(size=4, color=DIGIT_COLORS[c], opacity=0.7))
                     for c in range(10)])
    fig.update_layout(height=330, title=f"encoder means of {len(mu):,} test digits after epoch {epoch}",
                      xaxis=dict(title="z1"), yaxis=dict(title="z2", scaleanchor="x"),
                      margin=dict(l=45, r=10, t=45, b=40), legend=dict(itemsizing="constant"))
    return fig


def _steps(model: VAE, images, x_eval, x_map, beta: float, epochs: int, seed: int, asked: threading.Event,
           t0: float):
    """The training, in its own thread: ("step", epoch, step, ELBO) after every step, and after each epoch
    ("epoch", epoch, its Scores, (the map's encoder means, a copy of the model)), all computed here so that the
    handler never reads weights that are changing. Ends early when Stop was asked or after TRAIN_SECONDS."""
    for epoch, step, elbo, last in fit(model, images, epochs, beta, seed=seed):
        yield "step", epoch, step, elbo
        if last:
            with torch.no_grad():
                mu = model.encode(x_map).base_dist.loc
            yield "epoch", epoch, scores(model, x_eval, k=K), (mu, copy.deepcopy(model).requires_grad_(False))
        if asked.is_set() or time.perf_counter() - t0 > TRAIN_SECONDS:
            return


def _run(models: Models, beta, epochs, live: Live | None, request: gr.Request | None):
    beta = checks.number("β", beta, 0, MAX_BETA)
    epochs = checks.number("Epochs", epochs, 1, MAX_EPOCHS, integer=True)
    if models.digits is None:
        raise checks.InputError("Training here needs the MNIST digits: start the app with --data-dir.")
    images, x_eval, x_map = models.train_digits(), models.digits.x[:EVAL_DIGITS], models.digits.x[:MAP_DIGITS]
    session = request.session_hash if request else None
    with background.RUNS.claim(session):
        torch.manual_seed(0)
        model = copy.deepcopy(live.model).requires_grad_(True) if live else VAE(MODEL)
        done, history, seconds0 = (live.epochs, list(live.history), live.seconds) if live else (0, [], 0.0)
        stop_, asked, t0 = threading.Event(), threading.Event(), time.perf_counter()
        if session is not None:
            _stops[session] = asked
        state, step = live, 0
        try:
            produce = partial(_steps, model, images, x_eval, x_map, beta, epochs, done, asked, t0)
            for batch in background.stream(produce, stop_, interval=0.3, name="vae-train"):
                lmap = gr.update()
                for kind, epoch, value, extra in batch:
                    if kind == "step":
                        step = value
                        continue
                    history.append((done + epoch, value.elbo, value.iwae, value.exact))
                    state = Live(extra[1], beta, done + epoch, tuple(history), seconds0 + time.perf_counter() - t0)
                    lmap = _map(models, extra[0], done + epoch)
                yield (f"Training with β = {beta:g}: epoch {batch[-1][1]} of {epochs}, step {step:,}, "
                       f"{time.perf_counter() - t0:.0f} s"), _curves(history), lmap, state
        finally:
            stop_.set()
            _stops.pop(session, None)
    ran = (state.epochs - done) if state is not None else 0
    why = "Stopped" if asked.is_set() else f"Stopped at the {TRAIN_SECONDS:g} s cap" if ran < epochs else "Done"
    total = (f"{state.epochs} epoch{'s' * (state.epochs != 1)} in all, {state.seconds:.0f} s" if state is not None
             else "no epoch finished")
    more = " Press <b>Continue training</b> to go on." if ran < epochs else ""
    yield (f"{why}: {ran} epoch{'s' * (ran != 1)} this time ({total}).{more}", gr.update(), gr.update(), state)


def build(ctl: VaeControls) -> None:
    models = ctl.models
    live = gr.State(None)
    with gr.Row(equal_height=False):  # the buttons beside the two figures they fill
        with gr.Column(scale=1, min_width=220):
            with gr.Row():
                go_btn = gr.Button("Train", variant="primary", elem_id="vae-train", min_width=80)
                more = gr.Button("Continue training", elem_id="vae-train-more", min_width=80)
                stop_btn = gr.Button("Stop", elem_id="vae-train-stop", min_width=60)
            beta = Slider(0, MAX_BETA, value=1.0, step=0.1, label="β (weight of the KL term)", elem_id="vae-train-beta")
            epochs = Slider(1, MAX_EPOCHS, value=8, step=1, label="epochs", elem_id="vae-train-epochs")
            status = gr.HTML(elem_id="vae-train-status")
        with gr.Column(scale=2, min_width=300):
            curves = Plot(label="log p(x) and its bounds per epoch", show_label=False, elem_id="vae-train-curves")
        with gr.Column(scale=2, min_width=300):
            lmap = Plot(label="the latent map", show_label=False, elem_id="vae-train-map")
    outs = [status, curves, lmap, live]
    go_btn.click(background.in_session(train, models), [beta, epochs], outs, api_name="vae_train",
                 concurrency_limit=1, concurrency_id="vae-train", show_progress="minimal")
    more.click(background.in_session(train_more, models), [beta, epochs, live], outs, api_name="vae_train_more",
               concurrency_limit=1, concurrency_id="vae-train", show_progress="minimal")
    stop_btn.click(stop, None, status, api_name="vae_train_stop", show_progress="hidden")
    gr.Markdown(TEXT, latex_delimiters=LATEX)

