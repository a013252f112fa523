"""Benchmark the VAE lab: latent-slider latency in a real browser and through gradio_client, app start-up
time and peak memory. Prints a Markdown table.

    python -m tests.bench.bench_vae                       # test digits from ./data (downloaded if missing)
    python -m tests.bench.bench_vae --data-dir ../shared/data --changes 200

Browser latency is measured inside the page: from the keydown that moves the slider one step (a real,
trusted key press sent by Playwright) to the first animation frame after the decoded image's `src`
changed, i.e. when the new digit can be painted. Not collected by pytest; run it by hand.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from tests.bench.common import ROOT, app_page, pct, peak_rss_mib, print_table, slider_latency
from tests.conftest import CHECKPOINTS


def bench_client(url: str, changes: int) -> list[float]:
    from gradio_client import Client

    client = Client(url, verbose=False)
    z = [0.0] * 32
    times = []
    for i in range(changes + 5):
        z[0] = -3.0 + 6.0 * (i % 60) / 60
        t = time.perf_counter()
        client.predict("2-D latent", 0, z[:2], api_name="/decode")  # model, pixel seed, z
        times.append((time.perf_counter() - t) * 1000)
    return times[5:]


RELEASES = 30  # slider drags released before the second browser measurement


def release_sliders(page, times: int) -> None:
    """Drag latent slider z2 and let go, `times` times: each release redraws the latent map (its test-digit
    points ~150 kB before they moved to a file fetched once), as a student exploring the lab would."""
    box = page.locator("#vae-z2 input[type=range]").bounding_box()
    y = box["y"] + box["height"] / 2
    for i in range(times):
        page.mouse.move(box["x"] + box["width"] * (0.3 if i % 2 else 0.7), y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * (0.7 if i % 2 else 0.3), y, steps=3)
        page.mouse.up()
        page.wait_for_timeout(400)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "data")
    ap.add_argument("--checkpoints", type=Path, default=CHECKPOINTS)
    ap.add_argument("--changes", type=int, default=100, help="slider changes measured per method (>= 100)")
    args = ap.parse_args()

    with app_page(args.data_dir, args.checkpoints) as (server, page):
        startup = server.startup_s
        browser = slider_latency(page, "#vae-z1 input[type=range]", "#vae-decoded",
                                 "el => el.querySelector('img')?.src", args.changes)
        release_sliders(page, RELEASES)
        later = slider_latency(page, "#vae-z1 input[type=range]", "#vae-decoded",
                               "el => el.querySelector('img')?.src", args.changes)
        client = bench_client(server.url, args.changes)
        peak = peak_rss_mib(server.proc.pid)

    rows = [
        ("slider → image shown, browser (2-D model)", f"{pct(browser, 50):.1f} ms", f"{pct(browser, 95):.1f} ms",
         len(browser), "p50 ≤ 50 ms"),
        (f"the same after {RELEASES} slider releases (each redraws the latent map)", f"{pct(later, 50):.1f} ms",
         f"{pct(later, 95):.1f} ms", len(later), "p50 ≤ 50 ms"),
        ("slider → image, gradio_client /decode", f"{pct(client, 50):.1f} ms", f"{pct(client, 95):.1f} ms",
         len(client), ""),
        ("app start-up to first HTTP 200", f"{startup:.1f} s", "", 1, ""),
        ("app peak resident memory (VmHWM)", f"{peak:.0f} MiB", "", 1, ""),
    ]
    print_table(rows)
    print(f"\nbrowser: mean {statistics.mean(browser):.1f} ms, max {max(browser):.1f} ms; "
          f"client: mean {statistics.mean(client):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
