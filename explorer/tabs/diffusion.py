"""The diffusion lab: the fixed forward process, the learned reverse process frame by frame, two samplers
from the same noise, and the ELBO term by term.

Layout first (`build`), events wired after; handlers are module-level functions that take the loaded
models first. All the maths is in train/diffusion.py; this module only arranges and draws it. A run's
frames live in the user's gr.State (for export; users never see each other's frames) and are handed to the
page once, where explorer/filmstrip.py scrubs them without the server.
"""

import io
import itertools
import math
import os
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image

from explorer import checks, filmstrip, render
from explorer.models import Models
from explorer.vae_maths import preprocess_drawing
from train.diffusion import GaussianDiffusion
from train.models.ddpm import DDPM

MAX_SAMPLES = 16  # images side by side in one run
MAX_GUIDANCE = 10.0
SNAPSHOT_FRACTIONS = (0, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0)  # default snapshots, of T: t = 0, 50, …, 1000
MAX_SNAPSHOTS = 12
CLASSES = ["none (unconditional)", *[str(c) for c in range(10)]]
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]

INTRO = r"""
**A diffusion model is a hierarchical VAE with a fixed encoder.** The data $x$ is $z_0$; the encoder adds a
little Gaussian noise at each of $T$ steps, $q(z_t\mid z_{t-1})=\mathcal N(\sqrt{\alpha_t}\,z_{t-1},(1-\alpha_t)I)$,
nothing learned. Steps compose in closed form: $q(z_t\mid x)=\mathcal N(\sqrt{\bar\alpha_t}\,x,(1-\bar\alpha_t)I)$ with
$\bar\alpha_t=\prod_{s\le t}\alpha_s$, so $z_t=\sqrt{\bar\alpha_t}\,x+\sqrt{1-\bar\alpha_t}\,\varepsilon$.
The decoder is learned: starting from $z_T\sim\mathcal N(0,I)$ it runs the chain backwards, and at each step a network
$\varepsilon_\theta(z_t,t)$ predicts the noise in $z_t$, which fixes the mean of $p_\theta(z_{t-1}\mid z_t)$ and a guess
$\hat x_0=(z_t-\sqrt{1-\bar\alpha_t}\,\hat\varepsilon)/\sqrt{\bar\alpha_t}$ of the clean image.
"""

ELBO_TEXT = r"""
**Its ELBO.** By Jensen, $\log p(x)\ge\mathbb E_q[\log p(x,z_{1:T})-\log q(z_{1:T}\mid x)]$, and for this chain the
bound splits into a prior term $\mathrm{KL}(q(z_T\mid x)\,\|\,p(z_T))$, one denoising term
$\mathbb E_q\,\mathrm{KL}(q(z_{t-1}\mid z_t,x)\,\|\,p_\theta(z_{t-1}\mid z_t))$ per step, and a reconstruction term
$-\mathbb E_q\log p_\theta(x\mid z_1)$. Below, each term for the chosen digit (one sample of $z_t$ per step).
"""

GUIDANCE_TEXT = r"""
**Class and guidance.** One network is both models: in training, DROPOUT of the images had their label replaced by
"none", so $\varepsilon_\theta(z_t,t,y)$ is the conditional model and $\varepsilon_\theta(z_t,t,\varnothing)$ the
unconditional one, which learned from that share of the images only and draws less tidy digits. Classifier-free guidance
(Ho & Salimans 2022) samples with
$\hat\varepsilon=(1+w)\,\varepsilon_\theta(z_t,t,y)-w\,\varepsilon_\theta(z_t,t,\varnothing)$:
$w=0$ is the plain conditional model, larger $w$ pushes samples towards what makes $y$ likely, trading
variety for clearer digits.
"""


def _guidance_text(models: Models) -> str:
    share = models.ddpm_card.get("training", {}).get("class_dropout")
    return (GUIDANCE_TEXT.replace("DROPOUT", f"{share:.0%}" if share is not None else "some")
            + _measured_guidance(models.ddpm_card))


def _measured_guidance(card: dict) -> str:
    """What the card's sample-quality table (train/evaluate.py) measured of class-conditional DDIM-50 at each
    guidance scale, as a sentence; '' if it holds no such rows."""
    rows = card.get("sample_quality", {}).get("rows", [])
    ddim = [r for r in rows if (r.get("kind"), r.get("sampler"), r.get("labels")) == ("ddpm", "ddim50", "balanced")]
    if not ddim:
        return ""
    n = max(r["n"] for r in ddim)  # the largest evaluation, on one device (the CPU if it has rows)
    device = "cpu" if any(r.get("device") == "cpu" for r in ddim) else ddim[-1].get("device")
    by_w = {float(r["guidance"]): r for r in ddim if r["n"] == n and r.get("device") == device}  # newest wins
    scores = "; ".join(f"$w={w:g}$: IS {r['inception_score']:.2f}, FD {r['frechet_distance']:.1f}"
                       for w, r in sorted(by_w.items()))
    real = next((r for r in rows if r.get("kind") == "real"), None)
    floor = (f" (real digits: IS {real['inception_score']:.2f}; two sets of real digits are FD "
             f"{real['frechet_distance']:.1f} apart)" if real else "")
    where = "" if device == "cpu" else f", sampled on {device}"
    return (f"\n\n**Measured on this model** with DDIM-50, {n:,} samples each{where}, scored by our MNIST classifier "
            f"(`python -m train evaluate`): {scores}{floor}. A higher Inception Score (IS) means each sample is "
            "more confidently one digit; a higher Fréchet distance (FD) means the samples as a whole sit further "
            "from real digits, in their variety as much as in their shapes.\n")


# --- helpers ---------------------------------------------------------------------------------------

def _ddpm(models: Models) -> DDPM:
    if models.ddpm is None:
        raise gr.Error(models.errors.get("diffusion", "No diffusion checkpoint is loaded."))
    return models.ddpm


def _to_unit(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """[−scale, scale] -> [0, 1], clipped, for display."""
    return ((x / scale + 1) / 2).clamp(0, 1)


def _frame_png(step, n: int) -> bytes:
    """One frame as a PNG: rows z_t, ε̂ (±2 shown as black to white), x̂_0; one column per sample."""
    rows = torch.cat([_to_unit(step.z_t[:n]), _to_unit(step.eps[:n], 2.0), _to_unit(step.x0[:n])])  # (3n, 1, 28, 28)
    order = torch.arange(3 * n).view(3, n).flatten()  # row-major: all z_t, then all ε̂, then all x̂_0
    g = render.grid(rows[order].squeeze(1), n, pad=2)
    buf = io.BytesIO()
    Image.fromarray(g, mode="L").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _digit(models: Models, index) -> torch.Tensor:
    if models.digits is None:
        raise gr.Error(models.digits_error or "MNIST test digits are not loaded; draw a digit instead.")
    i = checks.number("Test digit index", index, 0, len(models.digits.x) - 1, integer=True)
    return models.digits.grey[i].view(1, 1, 28, 28) * 2 - 1  # grey levels in [−1, 1], as in training


# --- forward process ---------------------------------------------------------------------------------

def schedule_figure(T: int, t_mark: int | None = None, trained: str = "linear") -> go.Figure:
    """β_t, ᾱ_t and log SNR against t for the linear and cosine schedules, the current t marked."""
    fig = go.Figure()
    ts = np.arange(1, T + 1)
    for name, dash in (("linear", None), ("cosine", "dot")):
        d = GaussianDiffusion(T, name)
        width = 3 if name == trained else 1.5
        fig.add_trace(go.Scatter(x=ts, y=d.alphas_cumprod.numpy(), name=f"ᾱ_t ({name})", line=dict(color="#2563eb",
                                 dash=dash, width=width)))
        fig.add_trace(go.Scatter(x=ts, y=d.betas.numpy(), name=f"β_t ({name})", line=dict(color="#ea580c", dash=dash,
                                 width=width)))
        fig.add_trace(go.Scatter(x=ts, y=d.log_snr.numpy(), name=f"log SNR ({name})", yaxis="y2",
                                 line=dict(color="#16a34a", dash=dash, width=width)))
    if t_mark is not None:
        fig.add_vline(x=t_mark + 1, line=dict(color="black", width=1.5), annotation_text=f"t = {t_mark + 1}")
    fig.update_layout(height=330, margin=dict(l=50, r=50, t=40, b=40), title=f"schedules (the model uses {trained})",
                      xaxis=dict(title="t"), yaxis=dict(title="ᾱ_t, β_t", range=[0, 1]),
                      yaxis2=dict(title="log SNR = log ᾱ/(1−ᾱ)", overlaying="y", side="right", showgrid=False),
                      legend=dict(orientation="h", y=-0.25, font=dict(size=10)))
    return fig


@torch.inference_mode()
def forward_view(models: Models, x, t, eps_seed) -> str:
    """z_t = √ᾱ_t x + √(1−ᾱ_t) ε for one fixed ε, with the coefficients spelled out."""
    m = _ddpm(models)
    if x is None:
        raise gr.Error("Choose a test digit or draw one first.")
    T = m.diffusion.T
    t = checks.number("t", t, 0, T, integer=True)
    eps_seed = checks.seed(eps_seed, "ε seed")
    eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(eps_seed))
    if t == 0:
        z, a = x, 1.0
    else:
        a = float(m.diffusion.alphas_cumprod[t - 1])
        z = m.diffusion.q_sample(x, torch.tensor([t - 1]), eps)
    caption = (f"z<sub>{t}</sub> = {math.sqrt(a):.3f}·x + {math.sqrt(1 - a):.3f}·ε &nbsp; (ᾱ<sub>t</sub> = {a:.4g}, "
               f"signal-to-noise {a / max(1 - a, 1e-12):.3g})" if t else "t = 0: z<sub>0</sub> = x")
    return render.row(render.img_tag(_to_unit(x[0, 0]), size=112, caption="x"),
                      render.img_tag(_to_unit(eps[0, 0], 2.0), size=112, caption=f"ε (seed {eps_seed})"),
                      render.img_tag(_to_unit(z[0, 0]), size=196, caption=caption))


def default_snapshots(T: int) -> str:
    return ", ".join(str(t) for t in sorted({round(f * T) for f in SNAPSHOT_FRACTIONS}))


def snapshot_ts(text, T: int) -> list[int]:
    """'0, 50, 100' -> [0, 50, 100]: up to MAX_SNAPSHOTS whole numbers in [0, T], sorted, duplicates dropped."""
    parts = [p for p in str(text or "").replace(";", ",").replace(" ", ",").split(",") if p]
    if not parts:
        raise gr.Error(f"Snapshot t values: give up to {MAX_SNAPSHOTS} whole numbers from 0 to {T}, e.g. 0, 100, 500.")
    ts = []
    for p in parts:
        try:
            ts.append(int(p))
        except ValueError:
            raise gr.Error(f"Snapshot t value {p!r} is not a whole number; allowed: 0 to {T}.") from None
    bad = [t for t in ts if not 0 <= t <= T]
    if bad:
        raise gr.Error(f"Snapshot t = {bad[0]} is outside the allowed range [0, {T}].")
    ts = sorted(set(ts))
    if len(ts) > MAX_SNAPSHOTS:
        raise gr.Error(f"{len(ts)} snapshot t values given; at most {MAX_SNAPSHOTS} are shown.")
    return ts


@torch.inference_mode()
def snapshots(models: Models, x, eps_seed, ts_text=None) -> str:
    """z_t at each chosen t, all with the same ε (the forward view's)."""
    m = _ddpm(models)
    if x is None:
        raise gr.Error("Choose a test digit or draw one first.")
    ts = snapshot_ts(ts_text if ts_text is not None else default_snapshots(m.diffusion.T), m.diffusion.T)
    eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(checks.seed(eps_seed, "ε seed")))
    figs = []
    for t in ts:  # t = 0 is x; t ≥ 1 is index t − 1
        z = x if t == 0 else m.diffusion.q_sample(x, torch.tensor([t - 1]), eps)
        figs.append(render.img_tag(_to_unit(z[0, 0]), size=84, caption=f"t = {t}"))
    return render.row(*figs)


def choose_digit(models: Models, index) -> torch.Tensor:
    return _digit(models, index)


def draw_digit(image) -> torch.Tensor:
    from explorer.tabs.vae import _image_array

    try:
        x = preprocess_drawing(_image_array(image))
    except ValueError as e:
        raise gr.Error(f"Cannot read a digit from that image: {e}.") from None
    return x.view(1, 1, 28, 28) * 2 - 1


# --- reverse process ---------------------------------------------------------------------------------

def _sampler_args(models: Models, sampler, steps, eta, seed, n, label, guidance):
    m = _ddpm(models)
    if sampler not in ("DDPM", "DDIM"):
        raise gr.Error(f"Sampler must be 'DDPM' or 'DDIM', not {sampler!r}.")
    T = m.diffusion.T
    steps = T if sampler == "DDPM" else checks.number("Steps", steps, 1, T, integer=True)
    eta = checks.number("η", eta, 0.0, 1.0)
    seed = checks.seed(seed)
    n = checks.number("Samples", n, 1, MAX_SAMPLES, integer=True)
    guidance = checks.number("Guidance scale", guidance, 0.0, MAX_GUIDANCE)
    if label not in CLASSES:
        raise gr.Error(f"Class must be one of {', '.join(CLASSES)}; got {label!r}.")
    y = None if label == CLASSES[0] or not m.config.num_classes else torch.full((n,), int(label), dtype=torch.long)
    return m, steps, eta, seed, n, y, guidance


def _trajectory(m: DDPM, sampler: str, steps: int, eta: float, y, guidance: float, z_T: torch.Tensor,
                generator: torch.Generator):
    eps_model = m.eps_model(y, guidance if y is not None else 0.0)
    if sampler == "DDPM":
        return m.diffusion.ddpm_sample_progressive(eps_model, tuple(z_T.shape), generator, z_T=z_T)
    return m.diffusion.ddim_sample_progressive(eps_model, tuple(z_T.shape), steps, eta, generator, z_T=z_T)


def _compute_frames(m: DDPM, sampler: str, steps: int, eta: float, y, guidance: float, z_T: torch.Tensor,
                    generator: torch.Generator, run: filmstrip.Run, stop: threading.Event, done: threading.Event,
                    errors: list[BaseException]) -> None:
    """Run a whole trajectory in the calling thread, appending each step's frame to run.frames."""
    n = z_T.shape[0]
    try:
        with torch.inference_mode():
            for k, step in enumerate(_trajectory(m, sampler, steps, eta, y, guidance, z_T, generator)):
                if stop.is_set():
                    return
                run.frames.append(filmstrip.Frame(k, step.t, _frame_png(step, n)))
    except BaseException as e:  # handed to the streaming generator, which raises it in the request
        errors.append(e)
    finally:
        done.set()


def reverse(models: Models, sampler, steps, eta, seed, n, label, guidance):
    """Stream the reverse process: every step is kept (for scrubbing and export), the page gets frames as
    they come.

    Yields (viewer value, status, run state). While streaming, at most ~20 updates a second, each with the
    newest frame only; the last update hands the page the whole run (see explorer/filmstrip.py).

    The steps run in one thread of their own while this generator only reports them, so sampling never
    waits for Gradio to send an update, and torch's thread-local modes (inference mode) hold for the whole
    run: Gradio resumes a generator in whichever worker thread is free. Stop (or a closed page) ends the
    generator, which stops the thread at its next step.
    """
    m, steps, eta, seed, n, y, guidance = _sampler_args(models, sampler, steps, eta, seed, n, label, guidance)
    g = torch.Generator().manual_seed(seed)
    z_T = torch.randn((n, 1, 28, 28), generator=g)
    run = filmstrip.Run(steps)
    stop, done, errors = threading.Event(), threading.Event(), []
    worker = threading.Thread(target=_compute_frames, name="reverse-process", daemon=True,
                              args=(m, sampler, steps, eta, y, guidance, z_T, g, run, stop, done, errors))
    t0 = time.perf_counter()
    worker.start()
    try:
        shown = 0
        while not done.wait(0.005 if shown == 0 else 0.05):  # the first frame at once, then ~20 a second
            if len(run.frames) > shown:
                shown = len(run.frames)
                status = f"{sampler}: step {shown} of {steps}, {time.perf_counter() - t0:.2f} s"
                yield filmstrip.value(run, final=False), status, run  # the state holds the frames so far (Stop)
    finally:
        stop.set()  # reached on Stop too: the generator is closed, and the thread ends at its next step
    if errors:
        raise errors[0]
    status = f"{sampler} with {steps} steps done in {time.perf_counter() - t0:.2f} s: scrub the frames below."
    yield filmstrip.publish(run), status, run


def stopped(run) -> tuple:
    """After Stop: hand the page what the run computed, scrubbable like a finished run."""
    if not run or not run.frames:
        return gr.update(), "Stopped before the first step."
    return filmstrip.publish(run), f"Stopped after {len(run.frames)} of {run.total} steps: scrub them below."


HOLD_S = 1.0  # the sample stays on screen this long at the end of an export
EXPORT_MAX_AGE_S = 3600  # exports older than this are removed (Gradio has served and cached them by then)
_exports: list[Path] = []  # this process's export folder, made on first use


def _export_path(suffix: str) -> str:
    if not _exports:
        _exports.append(Path(tempfile.mkdtemp(prefix="ge-exports-")))
    filmstrip.prune(_exports[0], "*", EXPORT_MAX_AGE_S)
    fd, path = tempfile.mkstemp(prefix="reverse-process-", suffix=suffix, dir=_exports[0])
    os.close(fd)
    return path


def _export_frames(run, scale: int = 3) -> list[np.ndarray]:
    """At most 100 evenly spaced frames of a run, first and last included, upscaled."""
    if not run or not run.frames:
        raise gr.Error("Run the reverse process first; there is nothing to export yet.")
    frames = run.frames
    idx = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), 100)).round().astype(int))
    return [render.upscale(np.asarray(Image.open(io.BytesIO(frames[i].png)).convert("L")), scale) for i in idx]


def export_gif(frames: list[np.ndarray]) -> str:
    """Frames from `_export_frames` as an animated GIF: 60 ms a frame, the sample held for HOLD_S."""
    images = [Image.fromarray(a) for a in frames]
    path = _export_path(".gif")
    durations = [60] * (len(images) - 1) + [int(1000 * HOLD_S)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0)
    return path


def export_mp4(frames: list[np.ndarray]) -> str:
    """Frames from `_export_frames` as an H.264 MP4 (PyAV), the sample held for HOLD_S, for slides and players."""
    import av

    images = frames + [frames[-1]] * int(16 * HOLD_S)  # video frames have one duration: repeat the sample
    h, w = images[0].shape
    path = _export_path(".mp4")
    with av.open(path, mode="w") as container:
        stream = container.add_stream("libx264", rate=16)
        stream.width, stream.height = w + w % 2, h + h % 2  # yuv420p wants even sides
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18"}
        for a in images:
            a = np.pad(a, ((0, h % 2), (0, w % 2)))
            for packet in stream.encode(av.VideoFrame.from_ndarray(a, format="gray")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def export(run) -> list[str]:
    """GIF and MP4 of this user's last run (its frames decoded once for both)."""
    frames = _export_frames(run)
    return [export_gif(frames), export_mp4(frames)]


@torch.inference_mode()
def two_samplers(models: Models, steps_a, steps_b, eta, seed, n, label, guidance) -> str:
    """DDPM (all T steps) and DDIM (two step counts) from the same z_T, final samples side by side."""
    m, steps_a, eta, seed, n, y, guidance = _sampler_args(models, "DDIM", steps_a, eta, seed, n, label, guidance)
    steps_b = checks.number("Steps (second DDIM)", steps_b, 1, m.diffusion.T, integer=True)
    z_T = torch.randn((n, 1, 28, 28), generator=torch.Generator().manual_seed(seed))
    out = []
    for sampler, steps in (("DDPM", m.diffusion.T), ("DDIM", steps_a), ("DDIM", steps_b)):
        t0 = time.perf_counter()
        g = torch.Generator().manual_seed(seed + 1)
        last = None
        for last in _trajectory(m, sampler, steps, eta, y, guidance, z_T, g):  # noqa: B007 run to the end
            pass
        out.append(render.grid_tag(_to_unit(last.z_prev.squeeze(1)), n, cell=56,
                                   caption=f"{sampler}, {steps} steps{'' if sampler == 'DDPM' else f', η = {eta:g}'}: "
                                           f"{time.perf_counter() - t0:.1f} s"))
    return "<div>" + "".join(out) + f"<p class='ge-note'>all three start from the same z_T (seed {seed})</p></div>"


@torch.inference_mode()
def elbo_chart(models: Models, x, seed) -> tuple[go.Figure, str]:
    """Every term of the negative ELBO of one digit, against t, with their sum in bits per dimension."""
    m = _ddpm(models)
    if x is None:
        raise gr.Error("Choose a test digit or draw one first.")
    seed = checks.seed(seed)
    terms = m.diffusion.elbo_terms(m.eps_model(None), x, torch.Generator().manual_seed(seed))
    T, dims = m.diffusion.T, x[0].numel()
    den = terms.denoising[0].numpy()
    fig = go.Figure(go.Bar(x=np.arange(2, T + 1), y=den, name="denoising KL, L_{t−1}", marker_color="#6366f1"))
    # the two end terms are single values among T bars: drawn as large markers so they can be seen
    fig.add_trace(go.Scatter(x=[1], y=[float(terms.reconstruction[0])], name="reconstruction −log p(x|z₁), t = 1",
                             mode="markers", marker=dict(color="#ea580c", size=13, symbol="diamond")))
    fig.add_trace(go.Scatter(x=[T + 1], y=[float(terms.prior[0])], name="prior KL(q(z_T|x) ‖ N(0, I)), t = T",
                             mode="markers", marker=dict(color="#16a34a", size=13, symbol="diamond")))
    fig.update_layout(height=380, margin=dict(l=50, r=10, t=50, b=40), bargap=0,
                      title=f"negative ELBO = {float(terms.bits_per_dim(dims)[0]):.3f} bits/dim "
                            f"({float(terms.total()[0]):.1f} nats)",
                      xaxis=dict(title="t"), yaxis=dict(title="nats", type="log"), legend=dict(orientation="h", y=-0.2))
    total = float(terms.total()[0])
    edges = sorted({1, *(e for e in (10, T // 10, T // 2) if 1 < e < T), T})  # T = 1000: 1, 10, 100, 500, 1000
    rows = [f"| reconstruction (t = 1) | {float(terms.reconstruction[0]):.2f} | "
            f"{100 * float(terms.reconstruction[0]) / total:.1f}% |"]
    for lo, hi in ((a + 1, b) for a, b in itertools.pairwise(edges)):
        v = float(den[lo - 2 : hi - 1].sum())
        rows.append(f"| denoising, t = {lo}–{hi} | {v:.2f} | {100 * v / total:.1f}% |")
    rows.append(f"| prior (t = T) | {float(terms.prior[0]):.4f} | {100 * float(terms.prior[0]) / total:.2f}% |")
    md = ("| terms | nats | share |\n|---|---|---|\n" + "\n".join(rows) +
          f"\n| **sum** | **{total:.2f}** | {float(terms.bits_per_dim(dims)[0]):.3f} bits/dim |")
    return fig, md


# --- layout and wiring -------------------------------------------------------------------------------

def build(models: Models) -> None:
    """The diffusion tab's contents; call inside `with gr.Tab(...)`."""
    gr.Markdown(INTRO, latex_delimiters=LATEX)
    if models.ddpm is None:
        gr.Markdown(f"⚠️ **Diffusion model unavailable.** {models.errors.get('diffusion', '')}",
                    elem_classes="ge-error")
        return
    m = models.ddpm
    T = m.diffusion.T
    x0 = _digit(models, 0) if models.digits is not None else None
    t0 = T // 4  # where the forward view starts: a quarter of the way to pure noise
    with gr.Tabs():
        with gr.Tab("Forward process"):
            digit = gr.State(x0)
            with gr.Row():
                with gr.Column(scale=2):
                    with gr.Row():
                        f_index = gr.Number(0, label="test digit index", minimum=0, step=1)
                        f_pick = gr.Button("Use this test digit")
                    f_sketch = gr.Sketchpad(label="or draw one", type="numpy", canvas_size=(200, 200),
                                            brush=gr.Brush(default_size=14, colors=["#000000"], color_mode="fixed"))
                    f_draw = gr.Button("Use the drawing")
                with gr.Column(scale=3):
                    f_t = gr.Slider(0, T, value=t0, step=1, label="t (0 = the image, T = pure noise)",
                                    elem_id="diff-t")
                    f_eps = gr.Number(0, label="ε seed (fixed while you drag t)", minimum=0, step=1)
                    f_view = gr.HTML(forward_view(models, x0, t0, 0) if x0 is not None else "", elem_id="diff-forward")
            f_sched = gr.Plot(schedule_figure(T, t0 - 1, m.config.schedule), show_label=False, elem_id="diff-schedule")
            with gr.Row():
                f_snap_ts = gr.Textbox(default_snapshots(T), scale=3, elem_id="diff-snap-ts",
                                       label=f"snapshot t values (up to {MAX_SNAPSHOTS}, 0 to {T})")
                f_snap_btn = gr.Button("Show snapshots", scale=1)
            f_snaps = gr.HTML(snapshots(models, x0, 0) if x0 is not None else "", elem_id="diff-snapshots")
        with gr.Tab("Reverse process"):
            with gr.Row():
                r_sampler = gr.Radio(["DDIM", "DDPM"], value="DDIM", label="sampler", elem_id="diff-sampler")
                r_steps = gr.Slider(1, T, value=min(50, T), step=1, label="steps (DDIM; DDPM uses all T)",
                                    elem_id="diff-steps")
                r_eta = gr.Slider(0, 1, value=0.0, step=0.05, label="η (DDIM: 0 deterministic, 1 like DDPM)")
                r_seed = gr.Number(0, label="seed", minimum=0, step=1)
                r_n = gr.Slider(1, MAX_SAMPLES, value=4, step=1, label="samples at once")
            with gr.Row():
                r_label = gr.Dropdown(CLASSES, value=CLASSES[0], label="class (classifier-free guidance)",
                                      interactive=bool(m.config.num_classes))
                r_guid = gr.Slider(0, MAX_GUIDANCE, value=2.0, step=0.5, label="guidance scale w")
                r_run = gr.Button("Run the reverse process", variant="primary", elem_id="diff-run")
                r_stop = gr.Button("Stop", variant="stop")
            r_status = gr.Markdown(elem_id="diff-status")
            r_view = filmstrip.viewer(m.diffusion.alphas_cumprod.numpy(), elem_id="diff-frame")
            r_frames = gr.State(None)
            gr.Markdown("Rows: the noisy sample $z_t$, the predicted noise $\\hat\\varepsilon$ (±2 shown black to "
                        "white) and the predicted clean image $\\hat x_0$. Once a run ends, the slider, the arrow keys "
                        "and ▶ play move through its frames in your browser, without recomputing anything.\n\n"
                        + (_guidance_text(models) if m.config.num_classes else ""), latex_delimiters=LATEX)
            with gr.Row():
                r_export = gr.Button("Export GIF and MP4", size="sm", scale=0)
                r_file = gr.File(label="trajectory (GIF, MP4)", file_count="multiple", interactive=False, height=110)
        with gr.Tab("Same seed, two samplers"):
            gr.Markdown("DDPM with all T steps and DDIM with two step counts, all from the same initial noise z_T.")
            with gr.Row():
                c_a = gr.Slider(1, T, value=min(50, T), step=1, label="DDIM steps (first)")
                c_b = gr.Slider(1, T, value=min(10, T), step=1, label="DDIM steps (second)")
                c_eta = gr.Slider(0, 1, value=0.0, step=0.05, label="η")
                c_seed = gr.Number(0, label="seed", minimum=0, step=1)
                c_n = gr.Slider(1, MAX_SAMPLES, value=4, step=1, label="samples")
                c_label = gr.Dropdown(CLASSES, value=CLASSES[0], label="class")
                c_guid = gr.Slider(0, MAX_GUIDANCE, value=2.0, step=0.5, label="guidance w")
            c_btn = gr.Button("Compare", variant="primary")
            c_out = gr.HTML()
        with gr.Tab("ELBO per timestep"):
            gr.Markdown(ELBO_TEXT, latex_delimiters=LATEX)
            with gr.Row():
                e_seed = gr.Number(0, label="seed of the z_t samples", minimum=0, step=1)
                e_btn = gr.Button("Compute every term for the chosen digit (Forward process tab)", variant="primary",
                                  elem_id="diff-elbo-run")
            e_plot = gr.Plot(show_label=False, elem_id="diff-elbo-plot")
            e_md = gr.Markdown(elem_id="diff-elbo-table")

    # --- events ---
    fwd = partial(forward_view, models)
    f_t.input(fwd, [digit, f_t, f_eps], f_view, queue=False, trigger_mode="always_last", show_progress="hidden",
              api_name="forward")
    f_t.release(lambda t: schedule_figure(T, max(int(t) - 1, 0), m.config.schedule), f_t, f_sched,
                api_visibility="private", show_progress="hidden")
    snap = partial(snapshots, models)
    snap_in = [digit, f_eps, f_snap_ts]
    f_eps.change(fwd, [digit, f_t, f_eps], f_view, api_visibility="private").then(snap, snap_in, f_snaps,
                                                                                   api_visibility="private")
    f_snap_btn.click(snap, snap_in, f_snaps, api_name="snapshots")
    f_snap_ts.submit(snap, snap_in, f_snaps, api_visibility="private")
    for ev, fn, inputs, api in ((f_pick.click, partial(choose_digit, models), [f_index], "diffusion_digit"),
                                (f_draw.click, draw_digit, [f_sketch], None)):
        ev(fn, inputs, [digit], api_name=api, api_visibility="public" if api else "private").then(
            fwd, [digit, f_t, f_eps], f_view, api_visibility="private").then(
            snap, snap_in, f_snaps, api_visibility="private")

    run_in = [r_sampler, r_steps, r_eta, r_seed, r_n, r_label, r_guid]
    run = r_run.click(partial(reverse, models), run_in, [r_view, r_status, r_frames], api_name="reverse",
                      concurrency_limit=2, show_progress="minimal")
    r_stop.click(stopped, r_frames, [r_view, r_status], cancels=[run], api_name="stop")
    r_export.click(export, r_frames, r_file, api_name="export")
    c_btn.click(partial(two_samplers, models), [c_a, c_b, c_eta, c_seed, c_n, c_label, c_guid], c_out,
                api_name="two_samplers", concurrency_limit=2)
    e_btn.click(partial(elbo_chart, models), [digit, e_seed], [e_plot, e_md], api_name="elbo_terms")
