"""Shared by the benchmarks: percentiles, peak memory, and in-page slider latency."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.chromium import launch
from tests.conftest import AppServer, start_app

ROOT = Path(__file__).resolve().parents[2]

# When is a change painted? A page that draws inside requestAnimationFrame (the page's own views) is painted at the
# end of that same frame; a change made anywhere else (a Gradio update) is painted in the next frame. `frame.now()`
# is the moment the change can be painted: at once inside a frame's animation callbacks, else at the start of the
# next frame's. A frame's callbacks end when a message posted from its first callback is delivered.
FRAME = """(() => {
  if (window.__frame) cancelAnimationFrame(window.__frame.id);
  const f = {inFrame: false, id: 0}, ch = new MessageChannel();
  ch.port1.onmessage = () => { f.inFrame = false; };
  const tick = () => { f.inFrame = true; ch.port2.postMessage(0); f.id = requestAnimationFrame(tick); };
  f.id = requestAnimationFrame(tick);
  f.painted = push => {
    if (f.inFrame) push(performance.now()); else requestAnimationFrame(() => push(performance.now()));
  };
  window.__frame = f;
  return f;
})()"""

PROBE = """([slider, container, signature]) => {
  // keydown on the slider -> the frame that paints the change of the container's `signature`.
  // Installing it again replaces the previous probe (else every press and change would count twice).
  if (window.__probe) { window.__probe.slider.removeEventListener('keydown', window.__probe.down, true);
                        window.__probe.observer.disconnect(); }
  window.__down = []; window.__shown = [];
  const frame = """ + FRAME + """;
  const sig = new Function('el', `return (${signature})(el);`);
  const el = document.querySelector(container), sl = document.querySelector(slider);
  const down = () => window.__down.push(performance.now());
  sl.addEventListener('keydown', down, true);
  let last = sig(el);
  const observer = new MutationObserver(() => {
    const now = sig(el);
    if (now !== last) { last = now; frame.painted(t => window.__shown.push(t)); }
  });
  observer.observe(el, {subtree: true, childList: true, attributes: true, characterData: true});
  window.__probe = {slider: sl, down, observer};
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


def slider_latency(page, slider: str, container: str, signature: str, changes: int, warmup: int = 5,
                   period: int = 50) -> list[float]:
    """Milliseconds from a real (trusted) arrow-key press on `slider` to the first frame after the element
    `container` changed, as judged by the JS function `signature(el) -> string`. Alternates direction
    every `period` presses so the value stays in range: the slider needs more than `period` steps of room
    to the right of where it starts."""
    page.wait_for_selector(slider, timeout=60_000)
    page.wait_for_selector(container, timeout=60_000)
    page.evaluate(PROBE, [slider, container, signature])
    page.locator(slider).focus()
    for i in range(changes + warmup):
        page.keyboard.press("ArrowRight" if (i // period) % 2 == 0 else "ArrowLeft")
        page.wait_for_function(f"window.__shown.length >= {i + 1}", timeout=10_000)
    down, shown = page.evaluate("[window.__down, window.__shown]")
    return [s - d for d, s in zip(down[warmup:], shown[warmup:], strict=True)]


def print_table(rows: list[tuple]) -> None:
    print("| measurement | p50 / value | p95 | n | target |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")


@contextmanager
def app_page(data_dir: Path, checkpoints: Path, tree: Path | None = None) -> Iterator[tuple[AppServer, object]]:
    """The app started on a free port and a headless Chromium page open on it; both closed afterwards. `tree`: the
    app of another source tree (a `git worktree` of an earlier commit, for before/after tables)."""
    from playwright.sync_api import sync_playwright

    server = start_app(data_dir, checkpoints, tree=tree)
    try:
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(server.url)
            yield server, page
            browser.close()
    finally:
        server.proc.terminate()
        server.proc.wait(10)
