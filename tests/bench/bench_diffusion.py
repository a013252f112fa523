"""Benchmark the diffusion lab: time to the first frame and to the full trajectory (DDIM-50, DDPM-1000),
scrub latency in the browser, and training throughput. Prints a Markdown table.

    python -m tests.bench.bench_diffusion --data-dir ../shared/data

Uses checkpoints/ddpm.safetensors; until that ships, a model of the shipped configuration with untrained
weights (timing depends on the architecture, not on the weights), and says so in the table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from tests.bench.common import app_page, pct, print_table, slider_latency
from tests.conftest import CHECKPOINTS
from train import checkpoint as ckpt
from train.models.ddpm import DDPM, DDPMConfig

SHIPPED = DDPMConfig(base_channels=16, channel_mults="1,2,4", num_res_blocks=2)  # the shipped model (its card)


APP_RUNS = 10  # Gradio slows down over the first runs that deliver large values (bench_gradio_floor.py)
RUN_TIMES = """() => new Promise(resolve => {
  // click Run; milliseconds, in the page, to the first streamed frame and to the run being scrubbable
  const el = document.querySelector('#diff-frame'), range = el.querySelector('.ge-film-range');
  const img = el.querySelector('.ge-film-img');
  let t0 = 0, first = null, lastSrc = img.src;
  const observer = new MutationObserver(() => {
    if (first === null && range.disabled && img.src !== lastSrc) first = performance.now() - t0;
    if (first !== null && !range.disabled) { observer.disconnect(); resolve([first, performance.now() - t0]); }
  });
  observer.observe(el, {subtree: true, attributes: true, childList: true, characterData: true});
  t0 = performance.now();
  document.querySelector('#diff-run').click();
})"""


def sampler_timings(model: DDPM, sampler: str, steps: int, repeats: int = 3) -> tuple[float, float]:
    """Seconds to the first yielded step and to the last, one image, best of `repeats`."""
    first, full = [], []
    for r in range(repeats):
        g = torch.Generator().manual_seed(r)
        t0 = time.perf_counter()
        gen = (model.diffusion.ddpm_sample_progressive(model.eps_model(None), (1, 1, 28, 28), g) if sampler == "ddpm"
               else model.diffusion.ddim_sample_progressive(model.eps_model(None), (1, 1, 28, 28), steps, 0.0, g))
        with torch.inference_mode():
            for k, _ in enumerate(gen):
                if k == 0:
                    first.append(time.perf_counter() - t0)
        full.append(time.perf_counter() - t0)
    return min(first), min(full)


def training_throughput(config: DDPMConfig, bf16: bool, steps: int = 8, batch: int = 128) -> float:
    """Images per second of training steps (forward, backward, Adam) at batch 128."""
    model = DDPM(config)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(batch, 1, 28, 28) * 2 - 1
    times = []
    for i in range(steps + 2):
        t = torch.randint(0, config.timesteps, (batch,))
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model.diffusion.training_loss(model.eps_model(None), x, t, torch.randn_like(x)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return batch / (sum(times) / len(times))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=Path("data"))
    ap.add_argument("--checkpoints", type=Path, default=CHECKPOINTS)
    ap.add_argument("--changes", type=int, default=100, help="frame-slider changes measured (>= 100)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ckdir = Path(tmp)
        for f in args.checkpoints.glob("*"):
            (ckdir / f.name).symlink_to(f.resolve())
        shipped = (ckdir / "ddpm.safetensors").exists()
        if not shipped:
            ckpt.save_checkpoint(ckdir / "ddpm.safetensors", DDPM(SHIPPED), "ddpm", {"note": "untrained, for timing"})
        model = ckpt.load_checkpoint(ckdir / "ddpm.safetensors")
        ddim_first, ddim_full = sampler_timings(model, "ddim", 50)
        ddpm_first, ddpm_full = sampler_timings(model, "ddpm", model.config.timesteps, repeats=1)

        print("samplers timed; starting the app", file=sys.stderr, flush=True)
        with app_page(args.data_dir, ckdir) as (_, page):
            page.get_by_role("tab", name="Diffusion", exact=True).click()
            page.get_by_role("tab", name="Reverse process").click()
            runs = []
            for _ in range(APP_RUNS):  # the first after start-up is cold
                runs.append(page.evaluate(RUN_TIMES))
                page.wait_for_timeout(500)  # Gradio drops a click on Run while it is finishing the last run
            print(f"app runs (ms to first frame, to done): {runs}", file=sys.stderr, flush=True)
            (cold_first, cold_full), warm = runs[0], runs[1:]
            warm_firsts = [r[0] for r in warm]
            warm_full = pct([r[1] for r in warm], 50)
            slider = page.locator("#diff-frame .ge-film-range")
            page.wait_for_function("() => !document.querySelector('#diff-frame .ge-film-range').disabled")
            slider.scroll_into_view_if_needed()
            slider.press("Home")  # a run ends on its last frame; scrubbing starts from the first
            page.wait_for_function("() => document.querySelector('#diff-frame').innerText.includes('frame 1 of')",
                                   timeout=10_000)
            scrub = slider_latency(page, "#diff-frame .ge-film-range", "#diff-frame",
                                   "el => el.querySelector('.ge-film-img').src", args.changes, period=40)  # 50 frames
            print("scrubbed the DDIM run; running DDPM in the app", file=sys.stderr, flush=True)
            # DDPM at all T steps, 4 images: the longest run; past the page's frame budget it keeps a subsample
            page.locator("#diff-sampler").get_by_label("DDPM", exact=True).check()
            t0 = time.perf_counter()
            page.click("#diff-run")
            page.wait_for_function("() => { const s = document.querySelector('#diff-status').innerText;"
                                   "        return s.startsWith('DDPM, all') && s.includes('done'); }", timeout=600_000)
            page.wait_for_function("() => !document.querySelector('#diff-frame .ge-film-range').disabled")
            ddpm_app = time.perf_counter() - t0
            kept = 1 + int(page.eval_on_selector("#diff-frame .ge-film-range", "el => el.max"))
            slider.press("Home")
            scrub_ddpm = slider_latency(page, "#diff-frame .ge-film-range", "#diff-frame",
                                        "el => el.querySelector('.ge-film-img').src", args.changes, period=40)
    note = "" if shipped else " (untrained weights, shipped architecture)"
    print("app done; timing training", file=sys.stderr, flush=True)
    fp32, bf16 = training_throughput(model.config, False), training_throughput(model.config, True)
    print_table([
        (f"DDIM-50, 1 image: first step{note}", f"{1000 * ddim_first:.0f} ms", "", 3, "≤ 200 ms"),
        (f"DDIM-50, 1 image: full trajectory{note}", f"{ddim_full:.2f} s", "", 3, "≤ 1 s"),
        (f"DDPM-{model.config.timesteps}, 1 image: first step", f"{1000 * ddpm_first:.0f} ms", "", 1, ""),
        (f"DDPM-{model.config.timesteps}, 1 image: full trajectory", f"{ddpm_full:.1f} s", "", 1, ""),
        ("app, DDIM-50 × 4 images: click → first frame shown (first run after start-up)", f"{cold_first:.0f} ms", "",
         1, ""),
        (f"app, DDIM-50 × 4 images: click → first frame shown ({len(warm)} later runs)",
         f"{pct(warm_firsts, 50):.0f} ms", f"{pct(warm_firsts, 95):.0f} ms", len(warm), "≤ 200 ms"),
        (f"app, DDIM-50 × 4 images: click → run done, scrubbable (first run / median of {len(warm)} later)",
         f"{cold_full / 1000:.2f} s / {warm_full / 1000:.2f} s", "", len(runs), ""),
        ("frame slider → frame shown, browser (DDIM-50 run)", f"{pct(scrub, 50):.1f} ms", f"{pct(scrub, 95):.1f} ms",
         len(scrub), "p50 ≤ 50 ms"),
        (f"app, DDPM-{model.config.timesteps} × 4 images: click → run done, frames in the page",
         f"{ddpm_app:.1f} s, {kept} frames", "", 1, ""),
        ("frame slider → frame shown, browser (DDPM run)", f"{pct(scrub_ddpm, 50):.1f} ms",
         f"{pct(scrub_ddpm, 95):.1f} ms", len(scrub_ddpm), "p50 ≤ 50 ms"),
        ("training throughput, fp32 (batch 128)", f"{fp32:.0f} images/s", "", 8, ""),
        ("training throughput, bf16 autocast (batch 128)", f"{bf16:.0f} images/s", "", 8, ""),
    ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
