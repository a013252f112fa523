"""A run's frames as an animated GIF and an H.264 MP4, each frame labelled (the run, the step, t, the rows), and its
samples as a PNG; every file named after the run."""

import functools
import io
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from explorer import checks, render, served
from explorer.state import DPM_SOLVER, SamplerRequest

BLOCK_GAP = 8  # black pixels between a frame's three blocks (reverse._frame_png)

HOLD_S = 1.0  # the sample stays on screen this long at the end of an export
EXPORT_MAX_AGE_S = 3600  # exports older than this are removed

def export_name(req: SamplerRequest) -> str:
    """A file name that says what the run was: 'ddim50-eta0-seed7-class3-w2', 'dpmpp2m20-seed0-uncond',
    'ddpm1000-seed0-uncond'."""
    what = {"DDPM": f"ddpm{req.steps}", DPM_SOLVER: f"dpmpp2m{req.steps}"}.get(req.sampler,
                                                                           f"ddim{req.steps}-eta{req.eta:g}")
    cls = "uncond" if req.label is None else f"class{req.label}-w{req.guidance:g}"
    return f"{what}-seed{req.seed}-{cls}".replace(".", "p")


def _export_path(name: str, suffix: str) -> str:
    """A new file `name`….suffix in the exports folder, under the folder the app serves as it is (served.folder():
    Gradio serves the file from there, without a copy in its cache); exports older than an hour are pruned, and the
    whole folder goes when the app exits."""
    exports = served.folder() / "exports"
    exports.mkdir(exist_ok=True)
    served.prune(exports, "*", EXPORT_MAX_AGE_S)
    d = Path(tempfile.mkdtemp(dir=exports))  # a folder per export: the file keeps its plain name
    return str(d / f"{name}{suffix}")


# Pillow's built-in font has Latin glyphs only: the labels spell Greek letters and hats out
ROWS = ("z_t", "predicted noise", "predicted x_0")  # a frame's blocks, left to right (reverse._frame_png)
SAMPLE_ROWS = ("z_0, the sample", "last predicted noise", "z_0, the sample")  # the last frame's (t = 0)
HEADER_H, LABEL_H, FONT_PX = 40, 22, 14  # the title and caption; then each block's name above it


def first_block(grid: np.ndarray) -> np.ndarray:
    """A frame's first block (of three, BLOCK_GAP apart): the samples z_t, or z_0 in the last frame."""
    return grid[:, : (grid.shape[1] - 2 * BLOCK_GAP) // 3]


@functools.cache
def _font(px: int = FONT_PX) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=px)  # Pillow's own scalable font: no system font needed


def frame_caption(run, frame) -> str:
    """What a frame shows, for its header: 'step 12 of 50 · t = 760' or 'the sample · t = 0'."""
    steps = run.total - 1
    return "the sample · t = 0" if frame.t == 0 else f"step {frame.k + 1} of {steps} · t = {frame.t}"


def labelled(grid: np.ndarray, title: str, caption: str, rows: tuple[str, ...], scale: int) -> np.ndarray:
    """A frame (uint8: len(rows) blocks side by side, BLOCK_GAP apart, reverse._frame_png), upscaled by `scale`, with
    the run's title and the frame's caption above it and each block's name above the block: white text on black,
    like the digits."""
    big = render.upscale(grid, scale)
    h, w = big.shape
    width = max(w, 360)  # room for the title of a run of one sample
    out = Image.new("L", (width, HEADER_H + LABEL_H + h), 0)
    out.paste(Image.fromarray(big), (0, HEADER_H + LABEL_H))
    draw, font = ImageDraw.Draw(out), _font()
    draw.text((6, 4), title.replace("η", "eta"), fill=255, font=font)
    draw.text((6, 4 + FONT_PX + 4), caption, fill=200, font=font)
    block = (w - (len(rows) - 1) * BLOCK_GAP * scale) / len(rows)
    for i, name in enumerate(rows):
        draw.text((i * (block + BLOCK_GAP * scale) + 4, HEADER_H + 2), name, fill=255, font=font)
    return np.asarray(out)


def _export_frames(run, scale: int = 3) -> list[np.ndarray]:
    """At most 100 evenly spaced frames of a run, first and last included, upscaled and labelled."""
    if not run or not run.frames:
        raise checks.InputError("Run the reverse process first; there is nothing to export yet.")
    frames = run.frames
    idx = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), 100)).round().astype(int))
    return [labelled(np.asarray(Image.open(io.BytesIO(frames[i].png)).convert("L")), run.title,
                     frame_caption(run, frames[i]), SAMPLE_ROWS if frames[i].t == 0 else ROWS, scale) for i in idx]


def export_samples(run, scale: int = 4) -> str:
    """The run's last frame's first block, its samples (z_0 once it finished), as a PNG grid with the run's title."""
    last = run.frames[-1]
    grid = np.asarray(Image.open(io.BytesIO(last.png)).convert("L"))
    row = first_block(grid)  # z_0, or z_t where a run stopped early
    what = "the samples z_0" if last.t == 0 else f"stopped at t = {last.t}: z_t"
    img = labelled(row, run.title, what, ("z_0" if last.t == 0 else "z_t",), scale)
    path = _export_path(f"{run.name}-samples", ".png")
    Image.fromarray(img).save(path)
    return path


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


SLIDES_FRAMES = 26  # the slides GIF's frames at most (the first and the sample included)


def export_slides_gif(run, scale: int = 3) -> str:
    """A small GIF for slides: the samples' block only (z_t, from noise to the sample), at most SLIDES_FRAMES frames,
    16 grey levels, the sample held for HOLD_S. For a 16-sample DDIM-50 run of the shipped model: 0.39 MB, against
    8.8 MB for the full GIF (three blocks, every frame; measured when this was written)."""
    frames = run.frames
    idx = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), SLIDES_FRAMES)).round().astype(int))
    images = []
    for i in idx:
        grid = np.asarray(Image.open(io.BytesIO(frames[i].png)).convert("L"))
        block = first_block(grid)
        name = ("z_0, the sample",) if frames[i].t == 0 else ("z_t",)
        a = labelled(block, run.title, frame_caption(run, frames[i]), name, scale)
        images.append(Image.fromarray((a // 17 * 17).astype(np.uint8)))  # 16 levels: runs of equal bytes compress
    path = _export_path(f"{run.name}-slides", ".gif")
    durations = [120] * (len(images) - 1) + [int(1000 * HOLD_S)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=True)
    return path


def export(run) -> list[str]:
    """GIF and MP4 of this user's last run (its frames decoded once for both), a small GIF for slides, and a PNG of its
    samples. Asked again
    for the same finished run, the files already written (while they last) are handed out again, not rewritten."""
    if (run and run.done and run.exports and run.exported_frames == len(run.frames)
            and all(Path(f).exists() for f in run.exports)):
        return list(run.exports)
    frames = _export_frames(run)
    files = [export_gif(frames, run.name), export_slides_gif(run), export_mp4(frames, run.name), export_samples(run)]
    run.exports, run.exported_frames = tuple(files), len(run.frames)
    return files

