"""The diffusion lab: the fixed forward process, the learned reverse process frame by frame, two samplers
from the same noise, and the ELBO term by term.

Layout first (`build`), events wired after; handlers are module-level functions that take the loaded
models first. All the maths is in train/diffusion.py; this module only arranges and draws it. A run's
frames live in the user's gr.State (for export; users never see each other's frames) and are handed to the
page once, where explorer/filmstrip.py scrubs them without the server.
"""

import dataclasses
import io
import itertools
import math
import tempfile
import time
from functools import partial
from pathlib import Path

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image

from explorer import background, checks, filmstrip, render
from explorer.models import Models
from explorer.state import CLASS_NONE, CLASSES, MAX_GUIDANCE, MAX_SAMPLES, SamplerRequest
from explorer.vae_maths import preprocess_drawing
from train.diffusion import GaussianDiffusion
from train.models.ddpm import DDPM

SNAPSHOT_FRACTIONS = (0, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0)  # default snapshots, of T: t = 0, 50, …, 1000
MAX_SNAPSHOTS = 12
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
**Its ELBO.** By Jensen, $\log p(x)\ge\mathrm{ELBO}=\mathbb E_q[\log p(x,z_{1:T})-\log q(z_{1:T}\mid x)]$. For this
chain the bound splits into three kinds of terms; written as the loss $-\mathrm{ELBO}\ge-\log p(x)$, every term is
a positive cost:
$$-\mathrm{ELBO}=\underbrace{\mathrm{KL}(q(z_T\mid x)\,\|\,p(z_T))}_{L_T\text{: prior matching}}
+\sum_{t=2}^{T}\underbrace{\mathbb E_q\,\mathrm{KL}(q(z_{t-1}\mid z_t,x)\,\|\,p_\theta(z_{t-1}\mid z_t))}_{
L_{t-1}\text{: denoising matching}}\;\underbrace{-\;\mathbb E_q\log p_\theta(x\mid z_1)}_{L_0\text{: reconstruction}}$$
Below, each term of this loss for the chosen digit (one sample of $z_t$ per step), in nats; the smaller the sum,
the higher the bound on $\log p(x)$.
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
        raise checks.InputError(models.errors.get("diffusion", "No diffusion checkpoint is loaded."))
    return models.ddpm


def _to_unit(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """[−scale, scale] -> [0, 1], clipped, for display."""
    return ((x / scale + 1) / 2).clamp(0, 1)


def _frame_png(z: torch.Tensor, eps: torch.Tensor, x0: torch.Tensor) -> bytes:
    """One frame as a PNG: rows z_t, ε̂ (±2 shown as black to white), x̂_0; one column per sample. (n, 1, 28, 28)
    each, in [−1, 1] (ε̂ in about ±2)."""
    n = z.shape[0]
    rows = torch.cat([_to_unit(z), _to_unit(eps, 2.0), _to_unit(x0)])  # (3n, 1, 28, 28)
    g = render.grid(rows.squeeze(1), n, pad=2)  # row-major: all z_t, then all ε̂, then all x̂_0
    buf = io.BytesIO()
    Image.fromarray(g, mode="L").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _digit(models: Models, index) -> torch.Tensor:
    if models.digits is None:
        raise checks.InputError(models.digits_error or "MNIST test digits are not loaded; draw a digit instead.")
    i = checks.number("Test digit index", index, 0, len(models.digits.x) - 1, integer=True)
    return models.digits.grey[i].view(1, 1, 28, 28) * 2 - 1  # grey levels in [−1, 1], as in training


# --- forward process ---------------------------------------------------------------------------------

def schedule_figure(T: int, t_mark: int | None = None, trained: str = "linear") -> go.Figure:
    """β_t, ᾱ_t and log SNR against t = 1 … T for the linear and cosine schedules, the current t (0 … T) marked."""
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
    if t_mark is not None:  # shapes[0] and annotations[0]: SCHEDULE_MARK_JS moves them while t changes
        fig.add_vline(x=t_mark, line=dict(color="black", width=1.5), annotation_text=f"t = {t_mark}")
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
        raise checks.InputError("Choose a test digit or draw one first.")
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
        raise checks.InputError(f"Snapshot t values: give up to {MAX_SNAPSHOTS} whole numbers from 0 to {T}, "
                                "e.g. 0, 100, 500.")
    ts = []
    for p in parts:
        try:
            ts.append(int(p))
        except ValueError:
            raise checks.InputError(f"Snapshot t value {p!r} is not a whole number; allowed: 0 to {T}.") from None
    bad = [t for t in ts if not 0 <= t <= T]
    if bad:
        raise checks.InputError(f"Snapshot t = {bad[0]} is outside the allowed range [0, {T}].")
    ts = sorted(set(ts))
    if len(ts) > MAX_SNAPSHOTS:
        raise checks.InputError(f"{len(ts)} snapshot t values given; at most {MAX_SNAPSHOTS} are shown.")
    return ts


@torch.inference_mode()
def snapshots(models: Models, x, eps_seed, ts_text=None) -> str:
    """z_t at each chosen t, all with the same ε (the forward view's)."""
    m = _ddpm(models)
    if x is None:
        raise checks.InputError("Choose a test digit or draw one first.")
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

    a = _image_array(image)
    try:
        x = preprocess_drawing(a)
    except ValueError as e:
        raise checks.InputError(checks.sentence(f"Cannot read a digit from that image: {e}")) from None
    return x.view(1, 1, 28, 28) * 2 - 1


# --- reverse process ---------------------------------------------------------------------------------

def parse_request(models: Models, sampler, steps, eta, seed, n, label, guidance) -> SamplerRequest:
    m = _ddpm(models)
    return SamplerRequest.parse(m.diffusion.T, m.config.num_classes, sampler, steps, eta, seed, n, label, guidance)


def _trajectory(m: DDPM, req: SamplerRequest, z_T: torch.Tensor, generator: torch.Generator):
    y = None if req.label is None else torch.full((z_T.shape[0],), req.label, dtype=torch.long)
    eps_model = m.eps_model(y, req.guidance)
    if req.sampler == "DDPM":
        return m.diffusion.ddpm_sample_progressive(eps_model, tuple(z_T.shape), generator, z_T=z_T)
    return m.diffusion.ddim_sample_progressive(eps_model, tuple(z_T.shape), req.steps, req.eta, generator, z_T=z_T)


def _frames(m: DDPM, req: SamplerRequest):
    """Every frame of a run, one per step (its input z_t, ε̂, x̂_0) and last the sample z_0 (its x̂_0 row
    repeats z_0; its ε̂ row is the last step's prediction, the noise that step removed)."""
    g = torch.Generator().manual_seed(req.seed)
    z_T = torch.randn((req.n, 1, 28, 28), generator=g)
    with torch.inference_mode():
        k, step = -1, None
        for k, step in enumerate(_trajectory(m, req, z_T, g)):
            yield filmstrip.Frame(k, step.t + 1, _frame_png(step.z_t, step.eps, step.x0))
        yield filmstrip.Frame(k + 1, 0, _frame_png(step.z_prev, step.eps, step.z_prev))


def new_run(run) -> filmstrip.Run:
    """The Run button's first step, before the run waits in the queue: a fresh run in this session's state,
    so that Stop can reach it even before it starts. A run still going is stopped."""
    if run is not None and not run.done:
        run.stop.set()
    return filmstrip.Run(0)


def new_run_without_exports(run) -> tuple[filmstrip.Run, None]:
    """`new_run`, and the previous run's export files cleared: they no longer match what is shown."""
    return new_run(run), None


def reverse(models: Models, sampler, steps, eta, seed, n, label, guidance, run=None):
    """Stream the reverse process: every frame is kept (for scrubbing and export), the page gets frames as
    they come.

    Yields (viewer value, status, run state). While streaming, at most ~20 updates a second, each with the
    newest frame only; the last update hands the page the whole run (see explorer/filmstrip.py). The steps
    run in a thread of their own (explorer/background.py). Stop sets the run's `stop`: this generator then
    yields the stopped run as its last value, so no streamed value can arrive after it.
    """
    req = parse_request(models, sampler, steps, eta, seed, n, label, guidance)
    if run is None or run.started:  # an API call, which has no Run button's first step
        run = filmstrip.Run(0)
    run.total, run.started, run.name = req.steps + 1, True, export_name(req)
    what = req.describe()
    if run.stop.is_set():
        run.done = True
        yield gr.update(), f"Stopped before the first step ({what}).", run
        return
    t0 = time.perf_counter()
    try:
        for batch in background.stream(partial(_frames, _ddpm(models), req), run.stop, name="reverse-process"):
            run.frames.extend(batch)
            k = min(len(run.frames), req.steps)
            status = f"{what}: step {k} of {req.steps}, {time.perf_counter() - t0:.2f} s"
            yield filmstrip.value(run, final=False), status, run
    finally:
        run.done = True  # also when the page was closed: the generator is closed, the thread ends
    if len(run.frames) < run.total:  # stopped: background.stream ended early
        done = len(run.frames)
        status = (f"Stopped after {done} of {req.steps} steps ({what}): scrub them below." if done else
                  f"Stopped before the first step ({what}).")
        yield (filmstrip.publish(run) if done else gr.update()), status, run
        return
    status = f"{what}: done in {time.perf_counter() - t0:.2f} s. Scrub the frames below; the last is the sample."
    yield filmstrip.publish(run), status, run


def stop(run) -> str | dict:
    """Stop this session's run: the run's own stream ends with its final value. Says so if none is going."""
    if run is None or run.done:
        return "Nothing is running."
    run.stop.set()
    return gr.update()


HOLD_S = 1.0  # the sample stays on screen this long at the end of an export
EXPORT_MAX_AGE_S = 3600  # exports older than this are removed (Gradio has served and cached them by then)
_exports: list[Path] = []  # this process's export folder, made on first use


def export_name(req: SamplerRequest) -> str:
    """A file name that says what the run was: 'ddim50-eta0-seed7-class3-w2', 'ddpm1000-seed0-uncond'."""
    what = f"ddpm{req.steps}" if req.sampler == "DDPM" else f"ddim{req.steps}-eta{req.eta:g}"
    cls = "uncond" if req.label is None else f"class{req.label}-w{req.guidance:g}"
    return f"{what}-seed{req.seed}-{cls}".replace(".", "p")


def _export_path(name: str, suffix: str) -> str:
    """A new file `name`-….suffix in this process's export folder (old exports pruned)."""
    if not _exports:
        _exports.append(Path(tempfile.mkdtemp(prefix="ge-exports-")))
    filmstrip.prune(_exports[0], "*", EXPORT_MAX_AGE_S)
    d = Path(tempfile.mkdtemp(dir=_exports[0]))  # a folder per export: the file keeps its plain name
    return str(d / f"{name}{suffix}")


def _export_frames(run, scale: int = 3) -> list[np.ndarray]:
    """At most 100 evenly spaced frames of a run, first and last included, upscaled."""
    if not run or not run.frames:
        raise checks.InputError("Run the reverse process first; there is nothing to export yet.")
    frames = run.frames
    idx = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), 100)).round().astype(int))
    return [render.upscale(np.asarray(Image.open(io.BytesIO(frames[i].png)).convert("L")), scale) for i in idx]


def export_gif(frames: list[np.ndarray], name: str = "reverse-process") -> str:
    """Frames from `_export_frames` as an animated GIF: 60 ms a frame, the sample held for HOLD_S."""
    images = [Image.fromarray(a) for a in frames]
    path = _export_path(name, ".gif")
    durations = [60] * (len(images) - 1) + [int(1000 * HOLD_S)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0)
    return path


def export_mp4(frames: list[np.ndarray], name: str = "reverse-process") -> str:
    """Frames from `_export_frames` as an H.264 MP4 (PyAV), the sample held for HOLD_S, for slides and players."""
    import av

    images = frames + [frames[-1]] * int(16 * HOLD_S)  # video frames have one duration: repeat the sample
    h, w = images[0].shape
    path = _export_path(name, ".mp4")
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
    return [export_gif(frames, run.name), export_mp4(frames, run.name)]


def two_samplers(models: Models, steps_a, steps_b, eta, seed, n, label, guidance, with_ddpm=False,
                 progress=gr.Progress()) -> str:
    """DDIM with two step counts (and, if asked, DDPM with all T steps) from the same z_T, final samples side
    by side. Reports its progress step by step (DDPM's 1000 steps take minutes on a CPU)."""
    req = parse_request(models, "DDIM", steps_a, eta, seed, n, label, guidance)
    m = _ddpm(models)
    steps_b = checks.number("Steps (second DDIM)", steps_b, 1, m.diffusion.T, integer=True)
    if not isinstance(with_ddpm, bool):
        raise checks.InputError(f"'Include DDPM' must be true or false, not {checks.shown(with_ddpm)}.")
    arms = [req, dataclasses.replace(req, steps=steps_b)]
    if with_ddpm:
        arms.append(dataclasses.replace(req, sampler="DDPM", steps=m.diffusion.T, eta=1.0))
    z_T = torch.randn((req.n, 1, 28, 28), generator=torch.Generator().manual_seed(req.seed))
    total, done, out = sum(a.steps for a in arms), 0, []
    with torch.inference_mode():
        for arm in arms:
            t0 = time.perf_counter()
            g = torch.Generator().manual_seed(req.seed + 1)
            last = None
            for k, step in enumerate(_trajectory(m, arm, z_T, g)):
                last = step
                if k % 10 == 0:
                    progress((done + k) / total, desc=f"{arm.sampler}, {arm.steps} steps: step {k + 1}")
            done += arm.steps
            what = f"DDPM, all {arm.steps} steps" if arm.sampler == "DDPM" else f"DDIM, {arm.steps} steps, η = {eta:g}"
            out.append(render.grid_tag(_to_unit(last.z_prev.squeeze(1)), req.n, cell=56,
                                       caption=f"{what}: {time.perf_counter() - t0:.1f} s"))
    return ("<div>" + "".join(out) + f"<p class='ge-note'>all from the same z_T (seed {req.seed}"
            + ("" if req.label is None else f", class {req.label}, w = {req.guidance:g}") + ")</p></div>")


@torch.inference_mode()
def elbo_chart(models: Models, x, seed, progress=gr.Progress()) -> tuple[go.Figure, str]:
    """Every term of the loss −ELBO of one digit, against t, with their sum in bits per dimension (an upper
    bound on −log p(x), the negative log-likelihood)."""
    m = _ddpm(models)
    if x is None:
        raise checks.InputError("Choose a test digit or draw one first.")
    seed = checks.seed(seed)
    terms = m.diffusion.elbo_terms(m.eps_model(None), x, torch.Generator().manual_seed(seed),
                                   progress=lambda done, total: progress(done / total,
                                                                         desc=f"{done} of {total} timesteps"))
    T, dims = m.diffusion.T, x[0].numel()
    den = terms.denoising[0].numpy()
    fig = go.Figure(go.Bar(x=np.arange(2, T + 1), y=den, name="denoising L_{t−1} = E KL(q(z_{t−1}|z_t,x) ‖ p_θ)",
                           marker_color="#6366f1"))
    # the two end terms are single values among T bars: drawn as large markers so they can be seen
    fig.add_trace(go.Scatter(x=[1], y=[float(terms.reconstruction[0])],
                             name="reconstruction L_0 = −log p_θ(x|z₁), t = 1",
                             mode="markers", marker=dict(color="#ea580c", size=13, symbol="diamond")))
    fig.add_trace(go.Scatter(x=[T + 1], y=[float(terms.prior[0])], name="prior L_T = KL(q(z_T|x) ‖ N(0, I)), t = T",
                             mode="markers", marker=dict(color="#16a34a", size=13, symbol="diamond")))
    fig.update_layout(height=380, margin=dict(l=50, r=10, t=50, b=40), bargap=0,
                      title=f"the loss −ELBO = {float(terms.bits_per_dim(dims)[0]):.3f} bits/dim "
                            f"({float(terms.total()[0]):.1f} nats), term by term",
                      xaxis=dict(title="t"), yaxis=dict(title="term of −ELBO (nats, log scale)", type="log"),
                      legend=dict(orientation="h", y=-0.2))
    total = float(terms.total()[0])
    edges = sorted({1, *(e for e in (10, T // 10, T // 2) if 1 < e < T), T})  # T = 1000: 1, 10, 100, 500, 1000
    rows = [f"| reconstruction (t = 1) | {float(terms.reconstruction[0]):.2f} | "
            f"{100 * float(terms.reconstruction[0]) / total:.1f}% |"]
    for lo, hi in ((a + 1, b) for a, b in itertools.pairwise(edges)):
        v = float(den[lo - 2 : hi - 1].sum())
        rows.append(f"| denoising, t = {lo}–{hi} | {v:.2f} | {100 * v / total:.1f}% |")
    rows.append(f"| prior (t = T) | {float(terms.prior[0]):.4f} | {100 * float(terms.prior[0]) / total:.2f}% |")
    md = ("| terms of the loss −ELBO | nats | share |\n|---|---|---|\n" + "\n".join(rows) +
          f"\n| **sum: −ELBO ≥ −log p(x)** | **{total:.2f}** | {float(terms.bits_per_dim(dims)[0]):.3f} bits/dim |")
    return fig, md


# --- layout and wiring -------------------------------------------------------------------------------

SCHEDULE_MARK_JS = """(t) => {
  const div = document.querySelector('#diff-schedule .ge-live-plot'), v = Number(t);
  if (div && div.layout && window.Plotly && t !== null && t !== '' && Number.isInteger(v) && v >= 0 && v <= T_MAX)
    window.Plotly.relayout(div, {'shapes[0].x0': v, 'shapes[0].x1': v, 'annotations[0].x': v,
                                 'annotations[0].text': `t = ${v}`});
  return [];
}"""
GUIDANCE_LABEL_ON = "guidance scale w"
GUIDANCE_LABEL_OFF = "guidance scale w (pick a class: without one there is nothing to guide towards)"


def _sampler_controls(sampler: str) -> list:
    """DDPM always takes all T steps with fresh noise: the steps and η sliders only matter for DDIM."""
    ddim = sampler == "DDIM"
    return [gr.update(interactive=ddim, label="steps" if ddim else "steps (DDPM always takes all T)"),
            gr.update(interactive=ddim, label="η (DDIM: 0 deterministic, 1 like DDPM)" if ddim
                      else "η (DDPM draws fresh noise every step, like DDIM with η = 1)")]


def _guidance_control(label: str) -> dict:
    on = label != CLASS_NONE
    return gr.update(interactive=on, label=GUIDANCE_LABEL_ON if on else GUIDANCE_LABEL_OFF)


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
        with gr.Tab("Forward process") as forward_tab:
            digit = gr.State(x0)
            with gr.Row():
                with gr.Column(scale=2):
                    with gr.Row():
                        f_index = checks.Number(0, label="test digit index", minimum=0, step=1)
                        f_pick = gr.Button("Use this test digit")
                    f_sketch = gr.Sketchpad(label="or draw one", type="numpy", canvas_size=(200, 200),
                                            brush=gr.Brush(default_size=14, colors=["#000000"], color_mode="fixed"),
                                            elem_id="diff-sketch")
                    f_draw = gr.Button("Use the drawing")
                with gr.Column(scale=3):
                    f_t = checks.Slider(0, T, value=t0, step=1, label="t (0 = the image, T = pure noise)",
                                    elem_id="diff-t")
                    f_eps = checks.Number(0, label="ε seed (fixed while you drag t)", minimum=0, step=1)
                    f_view = gr.HTML(forward_view(models, x0, t0, 0) if x0 is not None else "", elem_id="diff-forward")
            render.live_plot(render.live_value(schedule_figure(T, t0, m.config.schedule), template=True),
                                       elem_id="diff-schedule")
            with gr.Row():
                f_snap_ts = gr.Textbox(default_snapshots(T), scale=3, elem_id="diff-snap-ts",
                                       label=f"snapshot t values (up to {MAX_SNAPSHOTS}, 0 to {T})")
                f_snap_btn = gr.Button("Show snapshots", scale=1)
            f_snaps = gr.HTML(snapshots(models, x0, 0) if x0 is not None else "", elem_id="diff-snapshots")
        with gr.Tab("Reverse process"):
            with gr.Row():
                r_sampler = checks.Radio(["DDIM", "DDPM"], value="DDIM", label="sampler", elem_id="diff-sampler")
                r_steps = checks.Slider(1, T, value=min(50, T), step=1, label="steps (DDIM; DDPM uses all T)",
                                        elem_id="diff-steps")
                r_eta = checks.Slider(0, 1, value=0.0, step=0.05, label="η (DDIM: 0 deterministic, 1 like DDPM)",
                                      elem_id="diff-eta")
                r_seed = checks.Number(0, label="seed", minimum=0, step=1)
                r_n = checks.Slider(1, MAX_SAMPLES, value=4, step=1, label="samples at once")
            with gr.Row():
                r_label = checks.Dropdown(CLASSES, value=CLASS_NONE, label="class (classifier-free guidance)",
                                      interactive=bool(m.config.num_classes), elem_id="diff-class")
                r_guid = checks.Slider(0, MAX_GUIDANCE, value=2.0, step=0.5, interactive=False, elem_id="diff-guidance",
                                       label=GUIDANCE_LABEL_OFF)
                r_run = gr.Button("Run the reverse process", variant="primary", elem_id="diff-run")
                r_stop = gr.Button("Stop", variant="stop", elem_id="diff-stop")
            r_status = gr.Markdown(elem_id="diff-status")
            r_view = filmstrip.viewer(m.diffusion.alphas_cumprod.numpy(), elem_id="diff-frame")
            r_frames = gr.State(None)
            gr.Markdown("Rows: the noisy sample $z_t$, the predicted noise $\\hat\\varepsilon$ (±2 shown black to "
                        "white) and the predicted clean image $\\hat x_0$. The last frame is the sample $z_0$ the "
                        "sampler returns. Once a run ends, the slider, the arrow keys "
                        "and ▶ play move through its frames in your browser, without recomputing anything.\n\n"
                        + (_guidance_text(models) if m.config.num_classes else ""), latex_delimiters=LATEX)
            with gr.Row():
                r_export = gr.Button("Export GIF and MP4", size="sm", scale=0)
                r_file = gr.File(label="trajectory (GIF, MP4)", file_count="multiple", interactive=False, height=110,
                                 elem_id="diff-export-files")
        with gr.Tab("Same seed, two samplers"):
            gr.Markdown("DDIM with two step counts, and if you ask, DDPM with all T steps, all from the same initial "
                        "noise z_T.")
            with gr.Row():
                c_a = checks.Slider(1, T, value=min(50, T), step=1, label="DDIM steps (first)")
                c_b = checks.Slider(1, T, value=min(10, T), step=1, label="DDIM steps (second)")
                c_eta = checks.Slider(0, 1, value=0.0, step=0.05, label="η")
                c_seed = checks.Number(0, label="seed", minimum=0, step=1)
                c_n = checks.Slider(1, MAX_SAMPLES, value=4, step=1, label="samples")
                c_label = checks.Dropdown(CLASSES, value=CLASS_NONE, label="class",
                                      interactive=bool(m.config.num_classes))
                c_guid = checks.Slider(0, MAX_GUIDANCE, value=2.0, step=0.5, label=GUIDANCE_LABEL_OFF,
                                       interactive=False)
            with gr.Row():
                c_ddpm = gr.Checkbox(False, label=f"also DDPM with all {T} steps (minutes on a CPU)",
                                     elem_id="diff-compare-ddpm")
                c_btn = gr.Button("Compare", variant="primary", elem_id="diff-compare-btn")
            c_out = gr.HTML(elem_id="diff-compare")
        with gr.Tab("ELBO per timestep"):
            gr.Markdown(ELBO_TEXT, latex_delimiters=LATEX)
            with gr.Row():
                e_seed = checks.Number(0, label="seed of the z_t samples", minimum=0, step=1)
                e_btn = gr.Button("Compute every term for the chosen digit (Forward process tab)", variant="primary",
                                  elem_id="diff-elbo-run")
            e_plot = gr.Plot(show_label=False, elem_id="diff-elbo-plot")
            e_md = gr.Markdown(elem_id="diff-elbo-table")

    # --- events ---
    render.brush_on_open(forward_tab, "diff-sketch")
    fwd = partial(forward_view, models)
    f_t.input(checks.live(fwd), [digit, f_t, f_eps], f_view, queue=False, trigger_mode="always_last",
              show_progress="hidden", api_visibility="private")

    def forward(t: int, eps_seed: int = 0, index: int = 0) -> str:
        """z_t of test digit `index` for noise seed `eps_seed`, as HTML (the forward view)."""
        return forward_view(models, _digit(models, index), t, eps_seed)

    gr.api(forward, api_name="forward")
    # the schedule's marker follows every change of t (drag, arrow keys, typing), in the page alone
    f_t.change(None, f_t, None, js=SCHEDULE_MARK_JS.replace("T_MAX", str(T)))
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
    r_sampler.change(_sampler_controls, r_sampler, [r_steps, r_eta], api_visibility="private", show_progress="hidden")
    for label, guid in ((r_label, r_guid), (c_label, c_guid)):
        label.change(_guidance_control, label, guid, api_visibility="private", show_progress="hidden")
    (r_run.click(new_run_without_exports, r_frames, [r_frames, r_file], api_visibility="private",
                 show_progress="hidden")
     .then(partial(reverse, models), [*run_in, r_frames], [r_view, r_status, r_frames], api_name="reverse",
           concurrency_limit=2, show_progress="minimal"))
    r_stop.click(stop, r_frames, r_status, api_name="stop", show_progress="hidden")
    r_export.click(export, r_frames, r_file, api_name="export")
    c_in = [c_a, c_b, c_eta, c_seed, c_n, c_label, c_guid, c_ddpm]
    render.mark_stale(c_in, ["diff-compare"])
    c_run = c_btn.click(partial(two_samplers, models), c_in, c_out,
                api_name="two_samplers", concurrency_limit=2)
    render.clear_stale(c_run, ["diff-compare"])
    render.mark_stale([e_seed, f_pick, f_draw], ["diff-elbo-plot", "diff-elbo-table"])  # another seed or digit
    render.clear_stale(e_btn.click(partial(elbo_chart, models), [digit, e_seed], [e_plot, e_md],
                                   api_name="elbo_terms"), ["diff-elbo-plot", "diff-elbo-table"])
