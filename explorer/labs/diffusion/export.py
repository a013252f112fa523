"""A run's frames as an animated GIF and an H.264 MP4, named after the run."""

import io
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from explorer import checks, filmstrip, render
from explorer.state import SamplerRequest

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

