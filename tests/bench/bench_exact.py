"""Seconds for the exact test log-likelihood of the 2-D VAE (train/exact_likelihood.py), on this machine.

Times the quadrature over the first --n binarized test images (default: all 10,000) and, beside it, the k = 1000
importance-weighted estimate of the same images; prints a table with images per second and how many images needed
a finer step than the first.

    python -m tests.bench.bench_exact --data-dir ../shared/data
    python -m tests.bench.bench_exact --data-dir ../shared/data --n 1000 --threads 2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from tests.bench.common import ROOT
from tests.conftest import CHECKPOINTS
from train import checkpoint as ckpt
from train.data import TEST_BINARIZE_SEED, load_split
from train.exact_likelihood import BernoulliVAE, exact_log_px


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "data")
    ap.add_argument("--checkpoint", type=Path, default=CHECKPOINTS / "vae_2d.safetensors")
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = ckpt.load_checkpoint(args.checkpoint)
    x = load_split("mnist", False, args.data_dir, binarize_seed=TEST_BINARIZE_SEED).flat()[: args.n]
    t0 = time.perf_counter()
    r = exact_log_px(BernoulliVAE(model), x)
    exact_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with torch.inference_mode():
        for s in range(0, len(x), 100):
            model.log_likelihood(x[s : s + 100], 1000, torch.Generator().manual_seed(s))
    iwae_s = time.perf_counter() - t0
    print(f"{len(x):,} test images, {torch.get_num_threads()} torch threads")
    print("| what | seconds | images/s | notes |")
    print("|---|---|---|---|")
    print(f"| exact log p(x), quadrature | {exact_s:.1f} | {len(x) / exact_s:.1f} | mean −log p(x) "
          f"{-float(r.log_px.mean()):.2f} nats; {int((r.split > 2).sum())} images refined past the first step, "
          f"largest step change {float(r.step_change.max()):.4f} nats |")
    print(f"| importance-weighted estimate, k = 1000 | {iwae_s:.1f} | {len(x) / iwae_s:.1f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
