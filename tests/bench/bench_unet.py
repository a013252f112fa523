"""Milliseconds per image and denoising step of the shipped DDPM's UNet on this machine's CPU, as `python -m train
evaluate` runs it: plain, channels-last, and channels-last compiled by TorchInductor (`--compile`,
train/evaluate.py's `fast_unet`). Prints a Markdown table with what one DDPM-1000 batch and 5,000 samples then take.

    python -m tests.bench.bench_unet --threads 2
    python -m tests.bench.bench_unet --threads 2 --batch 250 --steps 10

Each variant is warmed up first (for the compiled one, that is the compile, whose seconds are in the table), then
timed over --steps calls of ε_θ(z_t, t) on a batch of class-conditional inputs at random t. Variants run one after
another in this process, so a machine shared with other work shows in every row alike; compare rows of one run.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time

import torch

from tests.conftest import CHECKPOINTS
from train import checkpoint as ckpt
from train.evaluate import balanced_labels, fast_unet


def ms_per_image_step(unet: torch.nn.Module, batch: int, steps: int, timesteps: int) -> tuple[float, float]:
    """(warm-up seconds, ms per image and step) of `unet` on `batch` noisy images, labels 0–9 in turn."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(batch, 1, 28, 28, generator=g)
    y = balanced_labels(0, batch)

    def call() -> None:
        t = torch.randint(0, timesteps, (batch,), generator=g)
        unet(z, t, y)

    with torch.no_grad():
        t0 = time.perf_counter()
        call()  # the first call: compiling, for the compiled variant
        call()
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(steps):
            call()
        return warm, (time.perf_counter() - t0) / steps / batch * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=str(CHECKPOINTS / "ddpm.safetensors"))
    ap.add_argument("--batch", type=int, default=250, help="images per call (evaluate's default batch)")
    ap.add_argument("--steps", type=int, default=10, help="timed calls per variant")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = ckpt.load_checkpoint(args.checkpoint)
    timesteps = model.config.timesteps
    variants = {
        "plain": lambda u: u,
        "channels-last": lambda u: u.to(memory_format=torch.channels_last),
        "channels-last, compiled (`--compile`)": fast_unet,
    }
    rows, base = [], None
    for name, make in variants.items():
        warm, ms = ms_per_image_step(make(copy.deepcopy(model.unet)), args.batch, args.steps, timesteps)
        base = base or ms
        rows.append([name, f"{ms:.2f}", f"{base / ms:.2f}×", f"{warm:.1f}",
                     f"{ms * args.batch * timesteps / 1000:.0f}", f"{ms * 5000 * timesteps / 3.6e6:.2f}"])
    print(f"\nDDPM UNet on the CPU, {torch.get_num_threads()} threads, batch {args.batch}, {args.steps} timed steps\n")
    head = ["UNet", "ms / image / step", "speed-up", "warm-up s (compile)", f"one DDPM-{timesteps} batch, s",
            f"5,000 DDPM-{timesteps} samples, h"]
    for r in [head, ["---"] * len(head), *rows]:
        print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
