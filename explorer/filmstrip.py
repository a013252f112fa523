"""A trajectory viewer that scrubs in the browser.

A run's frames reach the page once, as PNG data URLs; after that the frame slider, the step buttons and
playback only swap an <img>'s source in the page, so scrubbing never waits for the server. While a run
streams, each update carries only its newest frame. When it ends, `publish` writes every frame, or, past
FRAME_BUDGET bytes (DDPM's 1000 steps of many samples), an even subsample that always keeps the first and
the last, to a JSON file that the app serves (`folder()`); the final value names that file and carries the
last frame, and the page fetches the rest. The server still keeps every frame for export. A stopped run is
shown like a finished one, with what it computed.

Why a file and not the value itself: Gradio slows down after delivering large values. Measured with
tests/bench/bench_gradio_floor.py, click → first streamed value grows from about 25 ms to about 225 ms
once earlier runs ended in a 600 kB value; the viewer's final values reach megabytes.

Beside the frames, a small SVG of the noise schedule, √ᾱ_t (signal) and √(1−ᾱ_t) (noise) against t, with a
marker at the shown frame's t. The curves are drawn once, into the template; scrubbing moves the marker.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

import gradio as gr
import numpy as np
from PIL import Image

from explorer import page
from explorer.served import folder, prune, served_url

FRAME_BUDGET = 8_000_000  # PNG bytes of one run's frames sent to the page (~10.7 MB as base64)
SVG_W, SVG_H, PAD, TOP = 260, 160, 30, 26  # TOP: room for the legend
MAX_AGE_S = 600  # published runs older than this are removed (the page fetches them within a second)


@dataclass(frozen=True)
class Frame:
    """One frame of a run, the k-th (0-based), as a PNG: the input z_t of a reverse step at the paper's
    t (1 … T), or, last, the sampler's output z_0 (t = 0)."""

    k: int
    t: int
    png: bytes
    alt: str = ""  # what a screen reader says; the page writes one from k and t when empty


class ViewerFrame(TypedDict):
    """One frame as the page gets it."""

    k: int  # 0-based position in the run
    t: int  # the paper's t: 1 … T for a step's input z_t, 0 for the sample z_0
    src: str  # a PNG data URL
    alt: str  # what a screen reader says ("" : the page's caption of the frame)


class ViewerValue(TypedDict, total=False):
    """The viewer's value, one JSON object; explorer/static/filmstrip.js reads exactly these keys."""

    run: int  # the run's id: the page ignores values of runs older than the newest it has shown
    final: bool  # False while streaming (one frame), True once the run ended (finished or stopped)
    total: int  # frames planned: steps + 1 (the sample)
    computed: int  # frames computed (fewer than total when stopped)
    width: int  # one frame's size in pixels
    height: int
    scale: int  # how many screen pixels per frame pixel
    frames: list[ViewerFrame]  # streaming: the newest; final: the last, shown while the rest are fetched
    kept: int  # final only: how many frames the file holds (an even subsample past FRAME_BUDGET)
    frames_url: str  # final only: where the file of all kept frames is, relative to the page


def _frame_json(f: Frame) -> ViewerFrame:
    return ViewerFrame(k=f.k, t=f.t, src="data:image/png;base64," + base64.b64encode(f.png).decode("ascii"),
                       alt=f.alt)


def kept(frames: list[Frame], budget: int = FRAME_BUDGET) -> list[Frame]:
    """All frames if their PNGs fit in `budget` bytes, else the largest even subsample that fits (first and
    last always kept, so two frames may exceed a budget smaller than themselves)."""
    size = sum(len(f.png) for f in frames)
    if size <= budget or len(frames) <= 2:
        return frames
    m = max(2, int(len(frames) * budget / size))  # right when frames are of equal size, a guess otherwise
    while True:
        pick = [frames[i] for i in np.unique(np.linspace(0, len(frames) - 1, m).round().astype(int))]
        if m == 2 or sum(len(f.png) for f in pick) <= budget:
            return pick
        m -= 1


_run_ids = itertools.count(1)


@dataclass
class Run:
    """One user's reverse process, kept in their gr.State: every frame so far, and how to stop it.

    `total` frames are planned: one per step and the sample. Stop sets `stop`; the run's own stream then
    ends with its final value, so nothing the run streamed can arrive after it. `id` grows with every run
    of the process: the page ignores values of a run older than the newest it has shown."""

    total: int
    frames: list[Frame] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    id: int = field(default_factory=lambda: next(_run_ids))
    started: bool = False  # a handler has begun computing it
    done: bool = False  # finished, stopped or failed
    name: str = "reverse-process"  # what its exports are called
    title: str = "reverse process"  # what it is, in words: its exports' header (SamplerRequest.describe)
    successor: int | None = None  # the id of the run that stopped it by starting (a Run click while it ran)
    samples: object = None  # the finished run's samples, (n, 28, 28) in [0, 1] (for the classifier's readings)
    exports: tuple[str, ...] = ()  # the files of its last export, and how many frames the run had then
    exported_frames: int = -1

    @property
    def steps(self) -> int:
        return self.total - 1


def value(run: Run, final: bool, budget: int = FRAME_BUDGET) -> str:
    """The viewer's value. Streaming (final=False): the newest frame only. Final: the frames kept for the page,
    and how many were computed (fewer than `total` when the run was stopped)."""
    if not run.frames:
        return ""
    shown = kept(run.frames, budget) if final else run.frames[-1:]
    w, h = Image.open(io.BytesIO(shown[-1].png)).size
    return json.dumps(ViewerValue(run=run.id, final=final, total=run.total, computed=len(run.frames), width=w, height=h,
                                  scale=4 if w <= 220 else 2, frames=[_frame_json(f) for f in shown]))


def pending(run_id: int) -> str:
    """The viewer's value for a run that has not drawn its first frame: its id and no frames. The page blanks the
    previous run's picture and caption, and keeps the id, so no later value of an earlier run is drawn over it."""
    return json.dumps({"run": run_id, "final": False, "total": 0, "computed": 0, "frames": []})


def publish(run: Run, budget: int = FRAME_BUDGET) -> str:
    """The final value of a finished or stopped run: the frames kept for the page (see `kept`) go to a JSON
    file {"frames": [...]} under `folder()`, which the value names by URL (relative to the page, as Gradio
    serves files) beside the last frame, shown at once while the page fetches the file."""
    if not run.frames:
        return ""
    d = folder()
    d.mkdir(parents=True, exist_ok=True)  # a temp cleaner may have removed it; the served path stays the same
    prune(d, "run-*.json", MAX_AGE_S)
    shown = kept(run.frames, budget)
    with tempfile.NamedTemporaryFile("w", prefix="run-", suffix=".json", dir=d, delete=False) as f:
        json.dump({"frames": [_frame_json(fr) for fr in shown]}, f)
    v = json.loads(value(Run(run.total, run.frames[-1:], id=run.id), final=True))
    v.update(computed=len(run.frames), kept=len(shown), frames_url=served_url(Path(f.name)))
    return json.dumps(v)


def schedule_svg(diffusion) -> str:
    """√ᾱ_t and √(1−ᾱ_t) of a GaussianDiffusion against t = 1…T, with a marker line the page moves to the shown
    frame's t."""
    T = diffusion.T
    signal = diffusion.sqrt_alphas_cumprod.double().numpy()
    noise = diffusion.sqrt_one_minus_alphas_cumprod.double().numpy()
    xs = PAD + (np.arange(1, T + 1) / T) * (SVG_W - PAD - 10)
    idx = np.unique(np.r_[np.arange(0, T, max(1, T // 200)), T - 1])  # ~200 points, t = T included
    y0, y1 = SVG_H - PAD, TOP  # the plot's bottom (0) and top (1)

    def line(ys: np.ndarray) -> str:
        return " ".join(f"{x:.1f},{y0 - y * (y0 - y1):.1f}" for x, y in zip(xs[idx], ys[idx], strict=True))

    return (
        f"<svg class='ge-film-sched' viewBox='0 0 {SVG_W} {SVG_H}' width='{SVG_W}' height='{SVG_H}' "
        f"data-t='{T}' data-x0='{PAD}' data-x1='{SVG_W - 10}' role='img' "
        f"aria-label='noise schedule with the current step marked'>"
        f"<line x1='{PAD}' y1='{y0}' x2='{SVG_W - 10}' y2='{y0}' stroke='currentColor' opacity='0.5'/>"
        f"<line x1='{PAD}' y1='{y0}' x2='{PAD}' y2='{y1}' stroke='currentColor' opacity='0.5'/>"
        f"<text x='{PAD - 4}' y='{y1 + 4}' text-anchor='end' font-size='10' fill='currentColor'>1</text>"
        f"<text x='{PAD - 4}' y='{y0}' text-anchor='end' font-size='10' fill='currentColor'>0</text>"
        f"<text x='{PAD}' y='{SVG_H - 14}' font-size='10' fill='currentColor'>t = 1</text>"
        f"<text x='{SVG_W - 10}' y='{SVG_H - 14}' text-anchor='end' font-size='10' fill='currentColor'>T = {T}</text>"
        f"<polyline points='{line(signal)}' fill='none' stroke='#2563eb' stroke-width='2'/>"
        f"<polyline points='{line(noise)}' fill='none' stroke='#ea580c' stroke-width='2'/>"
        f"<text x='{PAD}' y='11' font-size='10' fill='#2563eb'>— signal √ᾱ<tspan font-size='7'>t</tspan></text>"
        f"<text x='{SVG_W - 10}' y='11' text-anchor='end' font-size='10' fill='#ea580c'>— noise "
        f"√(1−ᾱ<tspan font-size='7'>t</tspan>)</text>"
        f"<line class='ge-film-mark' x1='{PAD}' y1='{y0}' x2='{PAD}' y2='{y1}' stroke='currentColor' "
        f"stroke-width='1.5' stroke-dasharray='3 2' visibility='hidden'/>"
        f"<text class='ge-film-mark-label' x='{PAD}' y='{SVG_H - 2}' font-size='10' text-anchor='middle' "
        f"fill='currentColor'></text></svg>"
    )






def viewer(diffusion, elem_id: str) -> gr.HTML:
    """The viewer for a model with this GaussianDiffusion's schedule; set its value with `value(...)`. Its page code is
    explorer/static/filmstrip.{html,js,css}; the schedule's SVG goes where the HTML says <!-- schedule -->."""
    before, after = page.static("filmstrip.html").split("<!-- schedule -->")
    return gr.HTML("", html_template=before + schedule_svg(diffusion) + after,
                   js_on_load=page.mount("filmstrip.js"), css_template=page.static("filmstrip.css"),
                   elem_id=elem_id)
