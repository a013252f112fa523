"""The fixed forward process: z_t of a digit while you drag t, the schedules, and snapshots at chosen t."""

import re
from functools import partial

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import torch

from explorer import checks, page, render
from explorer.gradio_compat import Number, Sketchpad, Slider
from explorer.labs.diffusion.common import DiffusionControls, test_digit
from explorer.links import Links
from explorer.models import Models
from explorer.vae_maths import preprocess_drawing
from train.diffusion import GaussianDiffusion, to_model_range, to_unit_range

SNAPSHOT_FRACTIONS = (0, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0)  # default snapshots, of T: t = 0, 50, …, 1000
MAX_SNAPSHOTS = 12

def schedule_figure(T: int, t_mark: int | None = None, trained: str = "linear") -> go.Figure:
    """ᾱ_t, β_t and log SNR against t = 1 … T for the linear and cosine schedules, the current t (0 … T) marked. Each
    has its own axis: β_t (1e-4 to 0.02 for the linear schedule, up to 0.999 at the cosine's end) is flat on ᾱ_t's
    [0, 1], so it gets a log axis."""
    fig = go.Figure()
    ts = np.arange(1, T + 1)
    for name, dash in (("linear", None), ("cosine", "dot")):
        d = GaussianDiffusion(T, name)
        width = 3 if name == trained else 1.5
        fig.add_trace(go.Scatter(x=ts, y=d.alphas_cumprod.numpy(), name=f"ᾱ_t ({name})", line=dict(color="#2563eb",
                                 dash=dash, width=width)))
        fig.add_trace(go.Scatter(x=ts, y=d.betas.numpy(), name=f"β_t ({name})", yaxis="y2",
                                 line=dict(color="#ea580c", dash=dash, width=width)))
        fig.add_trace(go.Scatter(x=ts, y=d.log_snr.numpy(), name=f"log SNR ({name})", yaxis="y3",
                                 line=dict(color="#16a34a", dash=dash, width=width)))
    if t_mark is not None:  # shapes[0] and annotations[0]: SCHEDULE_MARK_JS moves them while t changes
        fig.add_vline(x=t_mark, line=dict(color="black", width=1.5), annotation_text=f"t = {t_mark}")
    fig.update_layout(meta={"T": T}, height=360, margin=dict(l=50, r=10, t=40, b=40),
                      title=f"schedules (the model uses {trained})",
                      xaxis=dict(title="t", domain=[0, 0.8]),
                      yaxis=dict(title=dict(text="ᾱ_t", font=dict(color="#2563eb")), range=[0, 1]),
                      yaxis2=dict(title=dict(text="β_t", font=dict(color="#ea580c")), overlaying="y", side="right",
                                  anchor="x", showgrid=False, type="log", tickvals=[1e-4, 1e-3, 1e-2, 1e-1, 1],
                                  ticktext=["10⁻⁴", "10⁻³", "0.01", "0.1", "1"]),
                      yaxis3=dict(title=dict(text="log SNR = log ᾱ/(1−ᾱ)", font=dict(color="#16a34a")),
                                  overlaying="y", side="right", anchor="free", position=0.93, showgrid=False),
                      legend=dict(orientation="h", y=-0.25, font=dict(size=10)))
    render.exportable(fig, render.file_name("diffusion-schedules", T=T),
                      f"ᾱ_t, β_t and log SNR against t for T = {T}, linear (solid) and cosine (dotted); the model "
                      f"uses the {trained} schedule")
    return fig


def forward_view(models: Models, x, t, eps_seed) -> str:
    """z_t = √ᾱ_t x + √(1−ᾱ_t) ε for one fixed ε, with the coefficients spelled out."""
    m = models.diffusion_model()
    if x is None:
        raise checks.InputError("Choose a test digit or draw one first.")
    t = checks.number("t", t, 0, m.diffusion.T, integer=True)
    eps_seed = checks.seed(eps_seed, "ε seed")
    eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(eps_seed))
    z = m.diffusion.q_sample_at(x, t, eps)
    signal, noise, snr = m.diffusion.coefficients(t)
    caption = (f"z<sub>{t}</sub> = {signal:.3f}·x + {noise:.3f}·ε &nbsp; (ᾱ<sub>t</sub> = {signal**2:.4g}, "
               f"signal-to-noise {snr:.3g})" if t else "t = 0: z<sub>0</sub> = x")
    z_img = to_unit_range(z[0, 0])
    return render.row(render.img_tag(to_unit_range(x[0, 0]), size=112, caption="x"),
                      render.img_tag(to_unit_range(eps[0, 0], 2.0), size=112, caption=f"ε (seed {eps_seed})"),
                      render.img_tag(z_img, size=196, caption=caption,
                                     alt=models.alt(render.plain(caption), z_img[None])))


DEFAULT = object()  # `snapshots` called without t values (not None: an API client's null is refused)


def default_snapshots(T: int) -> str:
    return ", ".join(str(t) for t in sorted({round(f * T) for f in SNAPSHOT_FRACTIONS}))


def snapshot_ts(text, T: int) -> list[int]:
    """'0, 50, 100' -> [0, 50, 100]: up to MAX_SNAPSHOTS whole numbers in [0, T], sorted, duplicates dropped."""
    if not isinstance(text, str):
        raise checks.InputError(f"Snapshot t values must be text such as \"0, 100, 500\", not {checks.shown(text)}.")
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    if not parts:
        raise checks.InputError(f"Snapshot t values: give up to {MAX_SNAPSHOTS} whole numbers from 0 to {T}, "
                                "e.g. 0, 100, 500.")
    ts = []
    for p in parts:
        if not re.fullmatch(r"-?[0-9]+", p):  # plain digits: not "1_000", "--5" or "٣", which int() takes
            raise checks.InputError(f"Snapshot t value {checks.shown(p)} is not a whole number; allowed: 0 to {T}.")
        ts.append(int(p))
    bad = [t for t in ts if not 0 <= t <= T]
    if bad:
        raise checks.InputError(f"Snapshot t = {bad[0]} is outside the allowed range [0, {T}].")
    ts = sorted(set(ts))
    if len(ts) > MAX_SNAPSHOTS:
        raise checks.InputError(f"{len(ts)} snapshot t values given; at most {MAX_SNAPSHOTS} are shown.")
    return ts


def snapshots(models: Models, x, eps_seed, ts_text=DEFAULT) -> str:
    """z_t at each chosen t, all with the same ε (the forward view's); the default t values when none are given
    (as the page opens)."""
    m = models.diffusion_model()
    if x is None:
        raise checks.InputError("Choose a test digit or draw one first.")
    ts = snapshot_ts(default_snapshots(m.diffusion.T) if ts_text is DEFAULT else ts_text, m.diffusion.T)
    eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(checks.seed(eps_seed, "ε seed")))
    zs = [to_unit_range(m.diffusion.q_sample_at(x, t, eps)[0, 0]) for t in ts]
    return render.row(*(render.img_tag(z, size=84, caption=f"t = {t}", alt=models.alt(f"z at t = {t}", z[None]))
                        for t, z in zip(ts, zs, strict=True)))


def draw_digit(image) -> torch.Tensor:
    a = checks.image_array(image)
    try:
        x = preprocess_drawing(a)
    except ValueError as e:
        raise checks.InputError(checks.sentence(f"Cannot read a digit from that image: {e}")) from None
    return to_model_range(x.view(1, 1, 28, 28))


def build(ctl: DiffusionControls, links: Links) -> gr.Tab | None:
    models, T = ctl.models, ctl.T
    x0 = ctl.digit.value
    t0 = T // 4  # where the forward view starts: a quarter of the way to pure noise
    with gr.Row():
        with gr.Column(scale=2):
            with gr.Row():
                index = ctl.index = Number(0, label="test digit index", minimum=0, step=1,
                                           elem_id="diff-index")
                ctl.pick = gr.Button("Use this test digit")
            sketch = Sketchpad(label="or draw one", type="numpy", canvas_size=(200, 200), elem_id="diff-sketch",
                               layers=False,
                               brush=gr.Brush(default_size=14, colors=["#000000"], color_mode="fixed"))
            ctl.draw = gr.Button("Use the drawing")
        with gr.Column(scale=3):
            with gr.Row():  # t and its noise's seed on one line: the figure under them stays on the first screen
                t = Slider(0, T, value=t0, step=1, label="t (0 = the image, T = pure noise)", elem_id="diff-t",
                           scale=3)
                eps = Number(0, label="ε seed (fixed while you drag t)", minimum=0, step=1, elem_id="diff-eps",
                             scale=1, min_width=140)
            view = gr.HTML(forward_view(models, x0, t0, 0) if x0 is not None else "", elem_id="diff-forward")
    render.live_plot(render.live_value(schedule_figure(T, t0, ctl.ddpm.config.schedule), template=True),
                     elem_id="diff-schedule")
    with gr.Row():
        snap_ts = gr.Textbox(default_snapshots(T), scale=3, elem_id="diff-snap-ts",
                             label=f"snapshot t values (up to {MAX_SNAPSHOTS}, 0 to {T})")
        snap_btn = gr.Button("Show snapshots", scale=1)
    snaps = gr.HTML(snapshots(models, x0, 0) if x0 is not None else "", elem_id="diff-snapshots")

    fwd, snap = partial(forward_view, models), partial(snapshots, models)
    t.input(checks.live(fwd), [ctl.digit, t, eps], view, queue=False, trigger_mode="always_last",
            show_progress="hidden", api_visibility="private")
    t.change(None, t, None, js=page.static("events/schedule_mark.js"))  # the marker follows every change: in the page
    snap_in = [ctl.digit, eps, snap_ts]
    eps.change(fwd, [ctl.digit, t, eps], view, api_visibility="private").then(snap, snap_in, snaps,
                                                                               api_visibility="private")
    snap_btn.click(snap, snap_in, snaps, api_name="snapshots")
    snap_ts.submit(snap, snap_in, snaps, api_visibility="private")
    for ev, fn, inputs, api in ((ctl.pick.click, partial(test_digit, models), [index], "diffusion_digit"),
                                (ctl.draw.click, draw_digit, [sketch], None)):
        ev(fn, inputs, [ctl.digit], api_name=api, api_visibility="public" if api else "private").then(
            fwd, [ctl.digit, t, eps], view, api_visibility="private").then(
            snap, snap_in, snaps, api_visibility="private")

    def forward(t: int, eps_seed: int = 0, index: int = 0) -> str:
        """z_t of test digit `index` for noise seed `eps_seed`, as HTML (the forward view)."""
        return forward_view(models, test_digit(models, index), t, eps_seed)

    gr.api(forward, api_name="forward")
    if models.digits is not None:
        links.param("diffusion", "digit", index, hi=len(models.digits.x) - 1)
        links.param("diffusion", "t", t)
        links.param("diffusion", "eps_seed", eps)
        links.opening(partial(test_digit, models), [index], [ctl.digit],
                      then=[(fwd, [ctl.digit, t, eps], [view]), (snap, snap_in, [snaps])])
