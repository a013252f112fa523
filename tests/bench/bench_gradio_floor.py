"""What Gradio itself costs between a click and the first value a generator streams, measured in the page.

The diffusion lab's "click → first frame" (bench_diffusion.py) includes Gradio's queue and the browser; this
benchmark measures those alone, with a handler that does no work, so the two tables can be read together:

- a generator that streams small values only (the framework's floor);
- the same after runs whose last value was large, as the reverse-process viewer's was (every frame of a run
  as PNG data URLs, up to 8 MB): the first value of a later run then takes longer to show, growing over the
  first runs and then levelling off;
- the control: the same large runs, but the component is set to a small value before each timed click, so
  the slowdown comes from the large values delivered before, not from the one on screen;
- another component: after each large run, a click whose small value goes to a second component (one
  return, no streaming), so the slowdown is the page's, not the component's.

    python -m tests.bench.bench_gradio_floor [--runs 16] [--large 600000]
"""

from __future__ import annotations

import argparse
import socket
import sys
import time

import gradio as gr

from tests.bench.common import pct, print_table
from tests.chromium import launch

CLICK_TO_VALUE = """(button) => new Promise(resolve => {
  // milliseconds from clicking `button` to the first change of #floor-value's text
  const text = () => (document.querySelector('#floor-value') || {}).textContent;
  const before = text(), box = document.querySelector('#floor-html');
  let t0 = 0;
  const observer = new MutationObserver(() => {
    if (text() !== before) { observer.disconnect(); resolve(performance.now() - t0); }
  });
  observer.observe(box, {subtree: true, childList: true, characterData: true});
  t0 = performance.now();
  document.querySelector(button).click();
})"""


PING = """() => new Promise(resolve => {
  // milliseconds from clicking #floor-ping to the first change of #floor-pong's text (another component)
  const text = () => document.querySelector('#floor-pong').textContent, before = text();
  let t0 = 0;
  const observer = new MutationObserver(() => {
    if (text() !== before) { observer.disconnect(); resolve(performance.now() - t0); }
  });
  observer.observe(document.querySelector('#floor-other'), {subtree: true, childList: true, characterData: true});
  t0 = performance.now();
  document.querySelector('#floor-ping').click();
})"""


def build(large: int) -> gr.Blocks:
    def stream(last_size: float):
        """Twenty small values, 50 ms apart, then one of `last_size` characters, like a reverse-process run."""
        for i in range(20):
            yield f"<p id='floor-value'>{i} {time.time()}</p>"
            time.sleep(0.05)
        yield f"<p id='floor-value'>done {time.time()}</p>" + "x" * int(last_size)

    with gr.Blocks() as demo:
        html = gr.HTML("<p id='floor-value'>none</p>", elem_id="floor-html")
        small, big = gr.Number(0, visible=False), gr.Number(large, visible=False)
        gr.Button("small", elem_id="floor-small").click(stream, small, html)
        gr.Button("large", elem_id="floor-large").click(stream, big, html)
        gr.Button("clear", elem_id="floor-clear").click(lambda: "<p id='floor-value'>cleared</p>", None, html)
        other = gr.HTML("<p id='floor-pong'>0</p>", elem_id="floor-other")
        gr.Button("ping", elem_id="floor-ping").click(lambda: f"<p id='floor-pong'>{time.time()}</p>", None, other)
    return demo


def timings(page, button: str, runs: int, clear: bool = False, ping: bool = False) -> list[float]:
    out = []
    for _ in range(runs):
        if ping:  # a large run, untimed; then the timed click on the other component
            page.click(button)
            page.wait_for_function("() => document.querySelector('#floor-value').textContent.startsWith('done')",
                                   timeout=30_000)
            page.wait_for_timeout(500)
            out.append(page.evaluate(PING))
            page.wait_for_timeout(300)
            continue
        if clear:
            page.click("#floor-clear")
            page.wait_for_function("() => document.querySelector('#floor-value').textContent === 'cleared'")
            page.wait_for_timeout(300)
        out.append(page.evaluate(CLICK_TO_VALUE, button))
        page.wait_for_function("() => document.querySelector('#floor-value').textContent.startsWith('done')",
                               timeout=30_000)
        page.wait_for_timeout(500)  # as bench_diffusion: Gradio drops a click while it finishes the last run
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=16, help="runs of each kind (>= 8)")
    ap.add_argument("--large", type=int, default=600_000, help="characters of the large last value")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    demo = build(args.large)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.queue().launch(server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        with sync_playwright() as p:
            rows = []
            for kind in ("small", "large", "cleared", "other"):
                browser = launch(p)  # a fresh page for each kind: nothing carried over
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{port}/")
                page.wait_for_selector("#floor-small")
                ms = timings(page, "#floor-small" if kind == "small" else "#floor-large", args.runs,
                             clear=kind == "cleared", ping=kind == "other")
                browser.close()
                print(f"{kind}: {[round(t) for t in ms]}", file=sys.stderr, flush=True)
                what = {"small": "small values only",
                        "large": f"after runs ending in a {args.large:,}-character value",
                        "cleared": f"after runs ending in a {args.large:,}-character value, then a small one",
                        "other": f"another component's value, after runs ending in a {args.large:,}-character value",
                        }[kind]
                half = args.runs // 2
                rows.append((f"Gradio, click → first value shown, {what}: runs 1–3 (median)",
                             f"{pct(ms[:3], 50):.0f} ms", "", 3, ""))
                rows.append((f"Gradio, click → first value shown, {what}: runs {half + 1}–{args.runs}",
                             f"{pct(ms[half:], 50):.0f} ms", f"{pct(ms[half:], 95):.0f} ms", args.runs - half, ""))
    finally:
        demo.close()
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
