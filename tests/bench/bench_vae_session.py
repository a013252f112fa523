"""The VAE lab's computations that run while a student waits: a 2-D VAE trained in the session (VAE › Train one:
epochs per second of training, and the time of each epoch's three numbers, ELBO, IWAE-100 and the exact log p(x) of
8 test digits) and the ELBO's two gaps of one digit (VAE › Two gaps, at the view's defaults: 300 Adam steps of 32
draws, then log p(x): exact for the 2-D model, IWAE-1000 for the 32-D one). The same functions the app calls, in this
process, on `--threads` torch threads. Prints a table.

    python -m tests.bench.bench_vae_session --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from tests.bench.common import ROOT, pct, print_table
from tests.conftest import CHECKPOINTS


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "data")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--digits", type=int, default=5, help="test digits for the two gaps, each timed")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from explorer.labs.vae.train_live import EVAL_DIGITS, MODEL, K
    from explorer.models import TRAIN_DIGITS, load_models
    from train.fit_vae import fit, scores
    from train.inference_gaps import gaps
    from train.models.vae import VAE

    models = load_models(CHECKPOINTS, args.data_dir, download=False)
    images, x_eval = models.train_digits(), models.digits.x[:EVAL_DIGITS]
    torch.manual_seed(0)
    model = VAE(MODEL)
    train_s, score_s, t0 = [], [], time.perf_counter()
    for _epoch, _step, _elbo, last in fit(model, images, args.epochs):
        if last:
            train_s.append(time.perf_counter() - t0)
            t1 = time.perf_counter()
            scores(model, x_eval, k=K)
            score_s.append(time.perf_counter() - t1)
            t0 = time.perf_counter()
    rows = [(f"Train one: an epoch of training ({TRAIN_DIGITS:,} digits, batch 128, {args.threads} threads)",
             f"{pct(train_s, 50):.2f} s ({1 / pct(train_s, 50):.2f} epochs/s)", f"{max(train_s):.2f} s", len(train_s),
             ""),
            (f"Train one: each epoch's ELBO, IWAE-{K} and exact log p(x) of {EVAL_DIGITS} digits",
             f"{pct(score_s, 50):.2f} s", f"{max(score_s):.2f} s (epoch {score_s.index(max(score_s)) + 1})",
             len(score_s), "")]
    for name, vae in models.vaes.items():
        times = []
        for i in range(args.digits):
            t0 = time.perf_counter()
            gaps(vae, models.digits.x[i : i + 1], steps=300, samples=32)
            times.append(time.perf_counter() - t0)
        rows.append((f"Two gaps of one digit, {name} (300 steps × 32 draws, then log p(x))",
                     f"{pct(times, 50):.2f} s", f"{max(times):.2f} s", len(times), ""))
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
