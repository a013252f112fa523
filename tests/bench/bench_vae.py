"""Benchmark the VAE lab: latent-slider latency in a real browser and through gradio_client, app start-up
time and peak memory. Prints a Markdown table.

    python tests/bench/bench_vae.py                       # test digits from ./data (downloaded if missing)
    python tests/bench/bench_vae.py --data-dir ../shared/data --changes 200

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

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.browser import launch  # noqa: E402
from tests.conftest import CHECKPOINTS, start_app  # noqa: E402

INSTALL_PROBES = """() => {
  window.__down = []; window.__shown = [];
  const slider = document.querySelector('#vae-z1 input[type=range]');
  slider.addEventListener('keydown', () => window.__down.push(performance.now()), true);
  const out = document.querySelector('#vae-decoded');
  let last = out.querySelector('img').src;
  new MutationObserver(() => {
    const img = out.querySelector('img');
    if (img && img.src !== last) {
      last = img.src;
      requestAnimationFrame(() => window.__shown.push(performance.now()));
    }
  }).observe(out, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
}"""


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q / 100 * (len(xs) - 1)))]


def peak_rss_mib(pid: int) -> float:
    """VmHWM (peak resident set size) of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_browser(url: str, changes: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.wait_for_selector("#vae-decoded img", timeout=60_000)
        page.wait_for_selector("#vae-z1 input[type=range]", timeout=60_000)
        page.evaluate(INSTALL_PROBES)
        slider = page.locator("#vae-z1 input[type=range]")
        slider.focus()
        for i in range(changes + 5):  # 5 warm-up changes, not counted
            page.keyboard.press("ArrowRight" if (i // 50) % 2 == 0 else "ArrowLeft")
            page.wait_for_function(f"window.__shown.length >= {i + 1}", timeout=10_000)
        down, shown = page.evaluate("[window.__down, window.__shown]")
        browser.close()
    return [s - d for d, s in zip(down[5:], shown[5:], strict=True)]


def bench_client(url: str, changes: int) -> list[float]:
    from gradio_client import Client

    client = Client(url, verbose=False)
    z = [0.0] * 32
    times = []
    for i in range(changes + 5):
        z[0] = -3.0 + 6.0 * (i % 60) / 60
        t = time.perf_counter()
        client.predict("2-D latent", 0, *z, api_name="/decode")
        times.append((time.perf_counter() - t) * 1000)
    return times[5:]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "data")
    ap.add_argument("--checkpoints", type=Path, default=CHECKPOINTS)
    ap.add_argument("--changes", type=int, default=100, help="slider changes measured per method (>= 100)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    server = start_app(args.data_dir, args.checkpoints)
    startup = time.perf_counter() - t0
    try:
        browser = bench_browser(server.url, args.changes)
        client = bench_client(server.url, args.changes)
        peak = peak_rss_mib(server.proc.pid)
    finally:
        server.proc.terminate()
        server.proc.wait(10)

    rows = [
        ("slider → image shown, browser (2-D model)", f"{pct(browser, 50):.1f} ms", f"{pct(browser, 95):.1f} ms",
         len(browser), "p50 ≤ 50 ms"),
        ("slider → image, gradio_client /decode", f"{pct(client, 50):.1f} ms", f"{pct(client, 95):.1f} ms",
         len(client), ""),
        ("app start-up to first HTTP 200", f"{startup:.1f} s", "", 1, ""),
        ("app peak resident memory (VmHWM)", f"{peak:.0f} MiB", "", 1, ""),
    ]
    print("| measurement | p50 / value | p95 | n | target |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")
    print(f"\nbrowser: mean {statistics.mean(browser):.1f} ms, max {max(browser):.1f} ms; "
          f"client: mean {statistics.mean(client):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
