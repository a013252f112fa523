"""Benchmark dragging: the VAE lab's latent sliders and map hover, and the KL lab's 1-D and 2-D sliders, in a real
browser (the page computes while you drag), beside a trivial Gradio app's round trip in the same run; the
main-thread work per update; the server's path through gradio_client, the bytes the page fetches, app start-up
time and memory. Prints a Markdown table.

    python -m tests.bench.bench_vae                       # test digits from ./data (downloaded if missing)
    python -m tests.bench.bench_vae --data-dir ../shared/data --changes 200

Browser latency is measured inside the page: from the keydown that moves the slider one step (a real,
trusted key press sent by Playwright; for the map, the pointer move) to the frame that paints the change (the
page's drawing, `data-drawn`; the floor app's image `src`): see tests/bench/common.py, FRAME. Not collected by
pytest; run it by hand.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from tests.bench.common import FRAME, ROOT, app_page, pct, peak_rss_mib, print_table, slider_latency
from tests.conftest import CHECKPOINTS, free_port


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


def floor_app(port: int):
    """The round-trip floor: a trivial Gradio app whose slider's .input returns a small image (a 28×28 PNG)."""
    import gradio as gr
    import numpy as np

    from explorer import render

    def image(v: float) -> str:
        a = np.full((28, 28), int(127 + 127 * np.tanh(float(v))), np.uint8)
        return render.img_tag(a, size=150)

    with gr.Blocks() as demo:
        s = gr.Slider(-4, 4, value=0, step=0.01, label="v", elem_id="floor-slider")
        out = gr.HTML(image(0), elem_id="floor-out")
        s.input(image, s, out, queue=False, trigger_mode="always_last", show_progress="hidden")
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True)
    return demo


HOVER_PROBE = """() => {
  // mousemove over the map -> the frame that paints the page's changed drawing
  window.__down = []; window.__shown = [];
  const frame = """ + FRAME + """;
  document.addEventListener('mousemove', e => window.__down.push(e.timeStamp), true);
  const root = document.querySelector('#vae-decoded .ge-dec');
  let last = root.dataset.drawn;
  new MutationObserver(() => {
    if (root.dataset.drawn === last) return;
    last = root.dataset.drawn;
    frame.painted(t => window.__shown.push(t));
  }).observe(root, {attributes: true});
}"""


def hover_latency(page, changes: int) -> list[float]:
    """Milliseconds from a real pointer move over the latent map to the frame that shows its decoded point."""
    page.get_by_role("tab", name="Latent map").click()
    page.wait_for_function("() => (document.querySelector('#vae-map .ge-live-plot').data || []).length > 0",
                           timeout=30_000)
    box = page.locator("#vae-map .ge-live-plot .nsewdrag").first.bounding_box()
    page.evaluate(HOVER_PROBE)
    times = []
    for i in range(changes + 5):
        x = box["x"] + box["width"] * (0.2 + 0.6 * ((i * 37) % 100) / 100)
        y = box["y"] + box["height"] * (0.2 + 0.6 * ((i * 61) % 100) / 100)
        page.mouse.move(x, y)
        page.wait_for_function(f"window.__shown.length >= {i + 1}", timeout=10_000)
        down, shown = page.evaluate("[window.__down.at(-1), window.__shown.at(-1)]")
        times.append(shown - down)
    return times[5:]


def kl_latency(page, tabs: tuple[str, ...], slider: str, plot: str, changes: int
               ) -> tuple[list[float], list[float], dict]:
    """A KL panel's slider → its redrawn figure, computed and drawn in the page; the main-thread work per update
    (milliseconds the panel's own code, kl_panel.js, spent in each frame it drew); and how many frames moved the
    curves inside Plotly's drawing (the axes held) or were drawn by Plotly."""
    for name in tabs:
        page.get_by_role("tab", name=name, exact=True).click()
    page.wait_for_selector(f"{plot} .js-plotly-plot", timeout=60_000)
    drawn = "el => el.querySelector('.ge-page-plot')?.dataset.drawn"
    root = f"document.querySelector('{plot} .ge-page-plot')"
    before = page.evaluate(f"() => ({{...{root}.geFrames}})")
    times = slider_latency(page, f"{slider} input[type=range]", plot, drawn, changes)
    after = page.evaluate(f"() => ({{...{root}.geFrames}})")
    return times, page.evaluate(f"() => {root}.geCosts.slice(-{changes})"), {k: after[k] - before[k] for k in after}


def choose_model(page, name: str) -> None:
    box = page.locator("#vae-model input")
    box.click()
    page.get_by_role("option", name=name).click()
    page.wait_for_function("n => (document.querySelector('#vae-decoded .ge-dec').dataset.loaded || '').includes(n)",
                           arg=name, timeout=60_000)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "data")
    ap.add_argument("--checkpoints", type=Path, default=CHECKPOINTS)
    ap.add_argument("--changes", type=int, default=200, help="slider changes measured per method (>= 200)")
    args = ap.parse_args()

    page_drawn = "el => el.querySelector('.ge-dec')?.dataset.drawn"  # the page's own drawing (decoder.js)
    with app_page(args.data_dir, args.checkpoints) as (server, page):
        startup = server.startup_s
        page.wait_for_selector("#vae-decoded .ge-dec", timeout=60_000)
        page.wait_for_function("() => (document.querySelector('#vae-decoded .ge-dec').dataset.loaded || '')"
                               ".includes('2-D latent')", timeout=60_000)
        browser = slider_latency(page, "#vae-z1 input[type=range]", "#vae-decoded", page_drawn, args.changes)
        release_sliders(page, RELEASES)
        later = slider_latency(page, "#vae-z1 input[type=range]", "#vae-decoded", page_drawn, args.changes)
        choose_model(page, "32-D latent")
        browser32 = slider_latency(page, "#vae-z1 input[type=range]", "#vae-decoded", page_drawn, args.changes)
        hover = hover_latency(page, args.changes)
        work_vae = page.evaluate(f"() => document.querySelector('#vae-decoded .ge-dec').geCosts.slice(-{args.changes})")
        kl, work_kl, how_kl = kl_latency(page, ("KL divergence",), "#kl-mu-q", "#kl-plot", args.changes)
        kl2, work_kl2, how_kl2 = kl_latency(page, ("Two 2-D Gaussians",), "#kl2-mu-q1", "#kl2-plot", args.changes)
        decoders = page.evaluate("() => JSON.parse(document.querySelector('#vae-decoded .ge-dec').dataset.decoders)")
        heap = page.evaluate("() => performance.memory ? performance.memory.usedJSHeapSize / 2 ** 20 : NaN")
        client = bench_client(server.url, args.changes)
        peak = peak_rss_mib(server.proc.pid)
        # the round-trip floor, in the same run and the same browser
        port = free_port()
        demo = floor_app(port)
        try:
            page.goto(f"http://127.0.0.1:{port}")
            floor = slider_latency(page, "#floor-slider input[type=range]", "#floor-out",
                                   "el => el.querySelector('img')?.src", args.changes)
        finally:
            demo.close()

    floor50 = pct(floor, 50)
    rows = [
        ("VAE slider → decoded image painted, in the page (2-D model)", f"{pct(browser, 50):.1f} ms",
         f"{pct(browser, 95):.1f} ms", len(browser), f"p50 ≤ 16.7 ms, p95 ≤ 33 ms, p50 ≤ ½ floor ({floor50 / 2:.1f})"),
        (f"the same after {RELEASES} slider releases (each redraws the latent map)", f"{pct(later, 50):.1f} ms",
         f"{pct(later, 95):.1f} ms", len(later), "the same"),
        ("VAE slider → decoded image painted, in the page (32-D model)", f"{pct(browser32, 50):.1f} ms",
         f"{pct(browser32, 95):.1f} ms", len(browser32), "the same"),
        ("latent map: pointer move → its point decoded and painted, in the page (32-D model)",
         f"{pct(hover, 50):.1f} ms", f"{pct(hover, 95):.1f} ms", len(hover), "the same"),
        ("KL lab: μ_q slider → figure and both KLs painted, in the page", f"{pct(kl, 50):.1f} ms",
         f"{pct(kl, 95):.1f} ms", len(kl), "the same"),
        ("KL lab, two 2-D Gaussians: μ_q,1 slider → ellipses and both KLs painted, in the page",
         f"{pct(kl2, 50):.1f} ms", f"{pct(kl2, 95):.1f} ms", len(kl2), "the same"),
        *[(f"main-thread work per update: {what} (p50 / p95; max {max(w):.1f} ms)", f"{pct(w, 50):.1f} ms",
           f"{pct(w, 95):.1f} ms", len(w), "≤ ~8 ms") for what, w in
          (("VAE decode and paint (32-D)", work_vae), ("KL 1-D panel", work_kl), ("KL 2-D panel", work_kl2))],
        *[(f"KL {what} panel: frames that moved the curves / that Plotly drew (axes changed)",
           f"{how['moved']} / {how['plotly']}", "", how["moved"] + how["plotly"], "")
          for what, how in (("1-D", how_kl), ("2-D", how_kl2))],
        ("trivial Gradio app: slider .input → small image (the round-trip floor)", f"{floor50:.1f} ms",
         f"{pct(floor, 95):.1f} ms", len(floor), ""),
        ("slider → image, gradio_client /decode (the server's path)", f"{pct(client, 50):.1f} ms",
         f"{pct(client, 95):.1f} ms", len(client), ""),
        ("decoder weights fetched once per model", ", ".join(f"{n}: {d['bytes'] / 2**20:.2f} MiB"
                                                            for n, d in decoders.items()), "", 1, ""),
        ("page JS heap after both models", f"{heap:.0f} MiB", "", 1, ""),
        ("app start-up to first HTTP 200", f"{startup:.1f} s", "", 1, ""),
        ("app peak resident memory (VmHWM)", f"{peak:.0f} MiB", "", 1, ""),
    ]
    print_table(rows)
    print(f"\npage: mean {statistics.mean(browser):.1f} ms, max {max(browser):.1f} ms; "
          f"floor: mean {statistics.mean(floor):.1f} ms; client: mean {statistics.mean(client):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
