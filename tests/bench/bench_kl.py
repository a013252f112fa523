"""Benchmark the KL lab: time from a μ_q slider change to the updated figure being painted in headless
Chromium (p50/p95). Prints a Markdown table.

    python -m tests.bench.bench_kl --changes 100
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from tests.bench.common import app_page, pct, print_table, slider_latency
from tests.conftest import CHECKPOINTS
from train.data import write_synthetic_mnist


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--changes", type=int, default=100, help="slider changes measured (>= 100)")
    ap.add_argument("--checkpoints", type=Path, default=CHECKPOINTS)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, app_page(write_synthetic_mnist(tmp), args.checkpoints) as (_, page):
        # the KL lab needs no MNIST: tiny synthetic digits suffice
        page.get_by_role("tab", name="KL divergence").click()
        page.wait_for_selector("#kl-plot .js-plotly-plot", timeout=60_000)
        # the figure's title carries the KL value, so it changes exactly when the figure is redrawn
        times = slider_latency(page, "#kl-mu-q input[type=range]", "#kl-plot",
                               "el => el.querySelector('.gtitle')?.textContent", args.changes)
    print_table([("KL lab: μ_q slider → figure painted, browser", f"{pct(times, 50):.1f} ms",
                  f"{pct(times, 95):.1f} ms", len(times), "p50 ≤ 50 ms")])
    print(f"\nmean {statistics.mean(times):.1f} ms, max {max(times):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
