"""What a reverse run's frames and samples look like: each frame three square blocks side by side (z_t, the
predicted noise ε̂, the predicted x̂_0), each sample in the same cell of each block; and the samples with what the
project's classifier reads in each."""

import io
import math

import gradio as gr
import numpy as np
import torch
from PIL import Image

from explorer import filmstrip, reading, render
from explorer.labs.diffusion.export import BLOCK_GAP
from explorer.models import Models
from explorer.state import DPM_SOLVER, SamplerRequest
from train.diffusion import to_unit_range
from train.models.ddpm import DDPM


def block_columns(n: int) -> int:
    """Columns of a frame's square block of n samples: ⌈√n⌉ (16 samples: 4 × 4)."""
    return math.ceil(math.sqrt(n))


def block_width(n: int) -> int:
    """The pixel width of one block of a frame of n samples (render.grid's cells and pads)."""
    return block_columns(n) * (render.SIDE + 2) + 2


def frame_png(z: torch.Tensor, eps: torch.Tensor, x0: torch.Tensor) -> bytes:
    """One frame as a PNG: three square blocks side by side, z_t | ε̂ (±2 shown as black to white) | x̂_0, each sample
    in the same cell of each block (⌈√n⌉ columns, row-major). (n, 1, 28, 28) each, in [−1, 1] (ε̂ in about ±2)."""
    cols = block_columns(z.shape[0])
    blocks = [render.grid(a.squeeze(1), cols, pad=2) for a in (to_unit_range(z), to_unit_range(eps, 2.0),
                                                               to_unit_range(x0))]
    gap = np.zeros((blocks[0].shape[0], BLOCK_GAP), dtype=np.uint8)
    g = np.concatenate([blocks[0], gap, blocks[1], gap, blocks[2]], axis=1)
    buf = io.BytesIO()
    Image.fromarray(g, mode="L").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def readings(models: Models, on: bool, run) -> dict:
    """The samples of the last finished run as a square grid, each with what the project's classifier reads in it
    under it (its most probable digit and that softmax probability: a network's confidence, not a frequency); hidden
    unless asked for (`on`) and while no run has finished."""
    if not on or run is None or run.samples is None or models.classifier is None:
        return gr.update(value="", visible=bool(on))
    probs = reading.probabilities(models.classifier, run.samples)
    best, digit = probs.max(dim=1)
    cells = "".join(render.img_tag(img, size=56, caption=f"{d} ({p:.0%})" if p >= reading.SURE else f"unsure ({d}?)",
                                   alt=f"sample {i + 1}: the classifier reads {d} ({p:.0%})")
                    for i, (img, d, p) in enumerate(zip(run.samples, digit.tolist(), best.tolist(), strict=True)))
    return gr.update(visible=True, value=(
        f"<p class='ge-note'>What the project's classifier reads in the {len(probs)} samples of {run.title} (the "
        "most probable digit and its softmax probability):</p>"
        f"<div class='ge-readings' style='grid-template-columns:repeat({block_columns(len(probs))}, max-content)'>"
        f"{cells}</div>"))


def trajectory(m: DDPM, req: SamplerRequest, z_T: torch.Tensor, generator: torch.Generator):
    y = None if req.label is None else torch.full((z_T.shape[0],), req.label, dtype=torch.long)
    eps_model = m.eps_model(y, req.guidance)
    if req.sampler == "DDPM":
        return m.diffusion.ddpm_sample_progressive(eps_model, tuple(z_T.shape), generator, z_T=z_T)
    if req.sampler == DPM_SOLVER:
        return m.diffusion.dpm_solver_pp_sample_progressive(eps_model, tuple(z_T.shape), req.steps, z_T=z_T)
    return m.diffusion.ddim_sample_progressive(eps_model, tuple(z_T.shape), req.steps, req.eta, generator, z_T=z_T)


def run_frames(m: DDPM, req: SamplerRequest, alt=lambda text, images: text, run: filmstrip.Run | None = None):
    """Every frame of a run, one per step (its input z_t, ε̂, x̂_0) and last the sample z_0 (its x̂_0 block
    repeats z_0; its ε̂ block is the last step's prediction, the noise that step removed). `alt(text, images)`: the
    sample frame's alt text (Models.alt: with what the classifier reads in the samples). `run`: keeps the samples."""
    g = torch.Generator().manual_seed(req.seed)
    z_T = torch.randn((req.n, 1, 28, 28), generator=g)
    with torch.inference_mode():
        k, step = -1, None
        for k, step in enumerate(trajectory(m, req, z_T, g)):
            yield filmstrip.Frame(k, step.t + 1, frame_png(step.z_t, step.eps, step.x0))
        samples = to_unit_range(step.z_prev.squeeze(1))
        if run is not None:
            run.samples = samples
        yield filmstrip.Frame(k + 1, 0, frame_png(step.z_prev, step.eps, step.z_prev),
                              alt=alt(f"the {req.n} samples z_0 (the left block), {req.describe()}", samples))
