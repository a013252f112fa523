"""Benchmark the 2-D diffusion lab ("Diffusion in 2-D", ?lab=plane): the field's t slider and particle playback in a
real browser, beside a trivial Gradio app's round trip in the same run; training a model on a drawing in the session
and how close it then samples to the drawing; the server's compute per data set; and, from the cards, each shipped
model's sample quality. Prints a Markdown table.

    python -m tests.bench.bench_plane                     # about 3 minutes on 2 cores
    python -m tests.bench.bench_plane --changes 200 --plays 3

Browser latency is measured inside the page, as bench_vae.py does: from the keydown that moves the t slider one step
(a real, trusted key press sent by Playwright) to the frame that paints the field drawn for the new t (plane_field.js
sets `data-t` on `.ge-plane-field` in its draw(), which runs inside the slider's input listener, so the change is
painted in the next frame: see tests/bench/common.py, FRAME). The main-thread work per update is measured apart:
set the range input's value, dispatch an 'input' event and time the dispatch (Gradio's own listeners and the
field's draw(), which has set `data-t` when dispatchEvent returns). Playback: frames counted with
requestAnimationFrame while ▶ play runs (one draw per frame, timed by plane_particles.js in `geStats.drawMs`).
Headless Chromium (--disable-gpu, software canvas) may pace frames differently from a desktop browser, so the draw
time is reported too: it decides whether 60 frames per second are possible. Not collected by pytest; run it by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import torch

from tests.bench.bench_vae import floor_app
from tests.bench.common import ROOT, app_page, pct, print_table, slider_latency
from tests.conftest import CHECKPOINTS, free_port

N_PARTICLES = 2000
DDIM_STEPS = 50
SMALL_T = 10  # the smallest t of the field table (every T/100 steps, T = 1000)

# -- in the page --------------------------------------------------------------------------------------------------

DISPATCH = """async ([values, waitFrame]) => {
  // main-thread work per t change: set the range input, dispatch 'input', time dispatchEvent (Gradio's listeners and
  // plane_field.js's draw(), which sets data-t synchronously); one change per frame, as a drag would make them
  const s = document.querySelector('#plane-t input[type=range]'), root = document.querySelector('.ge-plane-field');
  const out = [], missed = [];
  for (const v of values) {
    s.value = v;
    const t0 = performance.now();
    s.dispatchEvent(new Event('input', {bubbles: true}));
    out.push(performance.now() - t0);
    if (root.dataset.t !== String(v)) missed.push([v, root.dataset.t]);
    if (waitFrame) await new Promise(r => requestAnimationFrame(r));
  }
  return [out, missed];
}"""

IDLE_FPS = """() => new Promise(resolve => {
  // the browser's frame rate with nothing to draw: requestAnimationFrame callbacks per second over one second
  const ts = [];
  const tick = now => { ts.push(now); if (now - ts[0] < 1000) requestAnimationFrame(tick);
                        else resolve((ts.length - 1) / ((ts.at(-1) - ts[0]) / 1000)); };
  requestAnimationFrame(tick);
})"""

PLAYED_ONCE = """() => { const r = document.querySelector('.ge-plane-particles');
  return r.querySelector('.ge-plane-play').getAttribute('aria-label') === 'play'
    && +r.querySelector('.ge-plane-t').value === 0; }"""

PLAY = """() => new Promise(resolve => {
  // click ▶ play and count, until playback ends (t = 0), the frames (requestAnimationFrame callbacks), the draws
  // plane_particles.js made (geStats.drawMs, per-draw milliseconds) and the frames that showed a new kept state of
  // each panel (canvas data-frame)
  const root = document.querySelector('.ge-plane-particles'), btn = root.querySelector('.ge-plane-play');
  const canvases = [...root.querySelectorAll('.ge-plane-canvas')];
  root.geStats.drawMs.length = 0;  // emptied in place (plane_particles.js keeps the same array): this run's draws only
  const frames = [], states = canvases.map(() => 0), last = canvases.map(c => c.dataset.frame), long = [];
  // frames of over 50 ms: their duration and the part after the scripts (style, layout, paint: the canvases' flush)
  const entry = e => [e.duration, e.renderStart ? e.startTime + e.duration - e.renderStart : 0];
  const observer = PerformanceObserver.supportedEntryTypes.includes('long-animation-frame')
    ? new PerformanceObserver(list => long.push(...list.getEntries().map(entry))) : null;
  if (observer) observer.observe({type: 'long-animation-frame'});
  let t0 = 0, started = false;
  const tick = now => {
    const playing = btn.getAttribute('aria-label') === 'pause';
    if (playing) started = true;
    if (started) {
      frames.push(now);
      canvases.forEach((c, i) => { if (c.dataset.frame !== last[i]) { last[i] = c.dataset.frame; states[i]++; } });
    }
    if (started && !playing) {
      const wall = performance.now() - t0, drawMs = [...root.geStats.drawMs];
      if (observer) { long.push(...observer.takeRecords().map(entry)); observer.disconnect(); }
      resolve({frames: frames.length, wall, raf: frames.slice(1).map((f, i) => f - frames[i]), drawMs, states,
               end: +root.querySelector('.ge-plane-t').value, long: observer ? long : null});
    } else requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  t0 = performance.now();
  btn.click();
})"""


def field_slider(page, changes: int) -> tuple[list[float], list[float], list[float], list]:
    """The field view's t slider: latency (keydown → painted frame) and the main-thread work per change, for the
    learned field and for the error map."""
    page.get_by_role("tab", name="Diffusion in 2-D").click()
    page.get_by_role("tab", name="The field").click()
    page.wait_for_selector(".ge-plane-field[data-loaded]", timeout=120_000)
    latency = slider_latency(page, "#plane-t input[type=range]", "#plane-field",
                             "el => el.querySelector('.ge-plane-field')?.dataset.t", changes)
    values = [10 * (1 + (i * 37) % 100) for i in range(changes)]  # t from 10 to 1000, in a scattered order
    work, missed = page.evaluate(DISPATCH, [values, True])
    page.locator("#plane-show").get_by_label("error ‖ε_θ − ε*‖").check()
    page.wait_for_function("() => document.querySelector('.ge-plane-field').dataset.mode === 'error'")
    work_err, missed_err = page.evaluate(DISPATCH, [values, True])
    page.locator("#plane-show").get_by_label("learned field −ε_θ").check()
    return latency, work, work_err, missed + missed_err


def playback(page, plays: int) -> tuple[float, dict[str, list[dict]]]:
    """Particle playback with the defaults (trails and field underneath on), with trails off, and with both off."""
    page.get_by_role("tab", name="Particles").click()
    page.wait_for_selector(".ge-plane-particles[data-loaded]", timeout=180_000)
    page.wait_for_function(PLAYED_ONCE, timeout=60_000)  # a new run plays once by itself: measured after it
    loaded = page.get_attribute(".ge-plane-particles", "data-loaded")
    n = page.evaluate("() => document.querySelector('.ge-plane-particles .ge-plane-status').textContent")
    print(f"particles: {loaded}; {n}", file=sys.stderr, flush=True)
    page.locator(".ge-plane-particles .ge-plane-play").scroll_into_view_if_needed()
    idle = page.evaluate(IDLE_FPS)
    out = {}
    for kind, trails, under in (("defaults", True, True), ("trails off", False, True), ("both off", False, False)):
        page.locator(".ge-plane-particles .ge-plane-trails").set_checked(trails)
        page.locator(".ge-plane-particles .ge-plane-under").set_checked(under)
        out[kind] = []
        for _ in range(plays):
            r = page.evaluate(PLAY)
            if r["end"] != 0:
                print(f"warning: playback ended at t = {r['end']}, not 0", file=sys.stderr)
            out[kind].append(r)
            page.wait_for_timeout(200)
        print(f"playback, {kind}: {[round(r['frames'] / r['wall'] * 1000, 1) for r in out[kind]]} fps",
              file=sys.stderr, flush=True)
    page.locator(".ge-plane-particles .ge-plane-trails").set_checked(True)
    page.locator(".ge-plane-particles .ge-plane-under").set_checked(True)
    return idle, out


# -- the server ---------------------------------------------------------------------------------------------------

def drawing(n: int = 40) -> list[list[float]]:
    """`n` points on two blobs (a user's quick drawing), within the plane, rounded as the page rounds them."""
    g = torch.Generator().manual_seed(7)
    centres = torch.tensor([[-1.5, -0.5], [1.5, 1.0]])
    pts = centres[torch.arange(n) % 2] + 0.35 * torch.randn(n, 2, generator=g)
    return [[round(float(x), 4), round(float(y), 4)] for x, y in pts.clamp(-3.4, 3.4)]


def fetch_positions(url: str, run: dict) -> np.ndarray:
    """A particle run's positions, as the page decodes them: int16 codes × pos_scale, (frames, n, 2)."""
    with urllib.request.urlopen(f"{url}/{run['pos']}", timeout=60) as r:
        blob = r.read()
    count = run["frames"] * run["n"] * 2  # (the reference marginals follow, float32)
    return np.frombuffer(blob, dtype="<i2", count=count).reshape(run["frames"], run["n"], 2) * run["pos_scale"]


def train_in_session(url: str, pts: list[list[float]]) -> dict:
    """Train on `pts` through /plane_train, then, in the same session, the field and both particle runs of the
    trained model; the energy distance of the runs' samples to the drawn mixture, and that of the mixture to itself."""
    from gradio_client import Client

    from explorer import plane
    from explorer.labs.plane.common import YOURS
    from train.data2d import energy_distance

    client = Client(url, verbose=False)
    t0 = time.perf_counter()
    status = client.predict(json.dumps({"points": pts}), api_name="/plane_train")
    wall = time.perf_counter() - t0
    m = re.search(r"Trained for (\d+) steps in ([\d.]+) s \(mean loss of the last 50 steps ([\d.]+)\)", status)
    if not m:
        raise RuntimeError(f"/plane_train ended without its final status: {status[:300]}")
    steps, seconds, loss = int(m[1]), float(m[2]), float(m[3])
    field = json.loads(client.predict(YOURS, api_name="/plane_field"))
    t1 = time.perf_counter()
    value = json.loads(client.predict(YOURS, DDIM_STEPS, 0.0, N_PARTICLES, 0, api_name="/plane_particles"))
    particles_s = time.perf_counter() - t1
    mixture = plane.reference(YOURS, torch.tensor(pts, dtype=torch.float64)).mixture
    target = mixture.sample(N_PARTICLES, torch.Generator().manual_seed(1))
    other = mixture.sample(N_PARTICLES, torch.Generator().manual_seed(2))
    ed = {run["label"]: energy_distance(torch.from_numpy(fetch_positions(url, run)[-1]), target)
          for run in value["runs"]}
    return {"wall": wall, "steps": steps, "seconds": seconds, "loss": loss, "ed": ed,
            "floor": energy_distance(other, target), "err_mean": field["err_mean"][0], "t": field["ts"][0],
            "particles_s": particles_s}


def server_compute(checkpoints: Path) -> dict[str, dict]:
    """Seconds, in this process on one thread (as the app runs them: explorer --threads 1), for each shipped model's
    field table (explorer.plane.field_table) and a run of N_PARTICLES through DDPM (all T steps) and DDIM-50."""
    from explorer import plane
    from train.checkpoint import load_checkpoint

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = {}
    try:
        for name in plane.BUILTIN:
            path = checkpoints / f"ddpm2d_{name}.safetensors"
            if not path.exists():
                continue
            model, ref = load_checkpoint(path), plane.reference(name)
            T = model.diffusion.T
            t0 = time.perf_counter()
            header, blob = plane.field_table(model, ref)
            t1 = time.perf_counter()
            plane.particle_run(model, ref, N_PARTICLES, 0, "DDPM", T, 1.0)
            t2 = time.perf_counter()
            plane.particle_run(model, ref, N_PARTICLES, 0, "DDIM", DDIM_STEPS, 0.0)
            t3 = time.perf_counter()
            out[name] = {"field": t1 - t0, "ddpm": t2 - t1, "ddim": t3 - t2, "T": T, "bytes": len(blob),
                         "exact": header["exact"], "err_mean": header["err_mean"][0] if header["err_mean"] else None}
    finally:
        torch.set_num_threads(threads)
    return out


def cards(checkpoints: Path) -> dict[str, dict]:
    out = {}
    for path in sorted(checkpoints.glob("ddpm2d_*.json")):
        metrics = json.loads(path.read_text())["metrics"]
        out[path.stem.removeprefix("ddpm2d_")] = metrics
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "data")
    ap.add_argument("--checkpoints", type=Path, default=CHECKPOINTS)
    ap.add_argument("--changes", type=int, default=200, help="t-slider changes measured (>= 200)")
    ap.add_argument("--plays", type=int, default=3, help="playbacks (5 s each) measured per setting")
    args = ap.parse_args()

    load = [os.getloadavg()[0]]  # other work on the machine skews every number: said beside the table
    compute = server_compute(args.checkpoints)
    print("server compute timed; starting the app", file=sys.stderr, flush=True)
    pts = drawing()
    with app_page(args.data_dir, args.checkpoints) as (server, page):
        errors = []
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        latency, work, work_err, missed = field_slider(page, args.changes)
        print("field slider measured", file=sys.stderr, flush=True)
        idle_fps, plays = playback(page, args.plays)
        # the round-trip floor, in the same run and the same browser (bench_vae.py's)
        port = free_port()
        demo = floor_app(port)
        try:
            page.goto(f"http://127.0.0.1:{port}")
            floor = slider_latency(page, "#floor-slider input[type=range]", "#floor-out",
                                   "el => el.querySelector('img')?.src", args.changes)
        finally:
            demo.close()
        page.goto("about:blank")  # nothing in the browser competes with the training
        print("browser done; training on a drawing", file=sys.stderr, flush=True)
        trained = train_in_session(server.url, pts)
        load.append(os.getloadavg()[0])

    floor50 = pct(floor, 50)
    card = cards(args.checkpoints)
    ratio = {k: c["energy_distance"]["ddim50"] / c["energy_distance_floor"] for k, c in card.items()}
    usable = max(ratio.values()) if ratio else 3.0
    rows = [
        ("t slider → field redrawn and painted, in the page (key press → frame)", f"{pct(latency, 50):.1f} ms",
         f"{pct(latency, 95):.1f} ms", len(latency), f"p50 ≤ 16.7 ms, p95 ≤ 33 ms, p50 ≤ ½ floor ({floor50 / 2:.1f})"),
        ("trivial Gradio app: slider .input → small image (the round-trip floor)", f"{floor50:.1f} ms",
         f"{pct(floor, 95):.1f} ms", len(floor), ""),
        (f"main-thread work per t change, learned field (input dispatch → field drawn; max {max(work):.1f} ms)",
         f"{pct(work, 50):.2f} ms", f"{pct(work, 95):.2f} ms", len(work), "≤ ~8 ms"),
        (f"main-thread work per t change, error map (max {max(work_err):.1f} ms)", f"{pct(work_err, 50):.2f} ms",
         f"{pct(work_err, 95):.2f} ms", len(work_err), "≤ ~8 ms"),
        ("browser frame rate with nothing drawing (requestAnimationFrame, headless)", f"{idle_fps:.1f} fps", "", 1,
         ""),
    ]
    for kind, what in (("defaults", "trails and field underneath on (defaults)"), ("trails off", "trails off"),
                       ("both off", "trails and field underneath off")):
        rs = plays[kind]
        fps = [r["frames"] / r["wall"] * 1000 for r in rs]
        raf = [x for r in rs for x in r["raf"]]
        draw = [x for r in rs for x in r["drawMs"]]
        states = [[s / r["wall"] * 1000 for s in r["states"]] for r in rs]
        rows += [
            (f"particle playback, {N_PARTICLES:,} particles × 2 panels, {what}: frames per second (min {min(fps):.1f})",
             f"{pct(fps, 50):.1f} fps", "", len(rs), "60 fps"),
            (f"  … frame interval (p50 / p95; max {max(raf):.0f} ms)", f"{pct(raf, 50):.1f} ms",
             f"{pct(raf, 95):.1f} ms", len(raf), "≤ 16.7 ms"),
            (f"  … main-thread draw per frame, both panels (p50 / p95; max {max(draw):.1f} ms)",
             f"{pct(draw, 50):.1f} ms", f"{pct(draw, 95):.1f} ms", len(draw), "≤ ~12 ms for 60 fps"),
            ("  … new states shown per second, DDPM / DDIM-50 panel (kept frames over the 5 s run)",
             f"{pct([s[0] for s in states], 50):.1f} / {pct([s[1] for s in states], 50):.1f}", "", len(rs), ""),
        ]
        if all(r["long"] is not None for r in rs):  # Long Animation Frames API (Chromium ≥ 123)
            long = [x for r in rs for x in r["long"]]
            rows.append(("  … frames over 50 ms (long animation frames) per playback: count; their p50 duration, and "
                         "the p50 part after the scripts (style, layout, paint)",
                         f"{len(long) / len(rs):.1f}; {pct([x[0] for x in long], 50):.0f} ms, "
                         f"{pct([x[1] for x in long], 50):.0f} ms" if long else "0", "", len(long), "0"))
    ed, fl = trained["ed"], trained["floor"]
    ddim_label = next(k for k in ed if k.startswith("DDIM"))
    ddpm_label = next(k for k in ed if k.startswith("DDPM"))
    ok = ed[ddim_label] <= usable * fl
    rows += [
        (f"train on a drawing ({len(pts)} points, two blobs) via /plane_train: whole call, wall clock",
         f"{trained['wall']:.1f} s", "", 1, ""),
        ("  … training as its status reports (steps in seconds; final loss)",
         f"{trained['steps']} steps in {trained['seconds']:.1f} s; loss {trained['loss']:.3f}", "", 1, ""),
        (f"  … then /plane_particles: {ddpm_label} and {ddim_label}, {N_PARTICLES:,} particles, files written",
         f"{trained['particles_s']:.1f} s", "", 1, ""),
        (f"  … energy distance of its {ddim_label} samples to the drawn mixture (vs floor {fl:.4f}: "
         f"{ed[ddim_label] / fl:.1f}×)", f"{ed[ddim_label]:.4f}", "", N_PARTICLES,
         f"usable: ≤ {usable:.1f}× floor (shipped models' worst DDIM-50) — {'yes' if ok else 'NO'}"),
        (f"  … energy distance of its {ddpm_label} samples (vs floor: {ed[ddpm_label] / fl:.1f}×)",
         f"{ed[ddpm_label]:.4f}", "", N_PARTICLES, ""),
        ("  … data-vs-data floor: two samples of the drawn mixture", f"{fl:.4f}", "", N_PARTICLES, ""),
        (f"  … field error ‖ε_θ − ε*‖, mean under q(z_t) at t = {trained['t']} (/plane_field)",
         f"{trained['err_mean']:.3f}", "", 1,
         "shipped: " + ", ".join(f"{k} {c['err_mean']:.3f}" for k, c in compute.items() if c["err_mean"] is not None)),
    ]
    for name, c in compute.items():
        rows.append((f"server compute, {name}: field table ({'exact' if c['exact'] else 'KDE'} reference, "
                     f"{c['bytes'] / 2**10:.0f} KiB) / DDPM-{c['T']} / DDIM-{DDIM_STEPS}, {N_PARTICLES:,} particles, "
                     "1 thread", f"{c['field']:.2f} s / {c['ddpm']:.2f} s / {c['ddim']:.2f} s", "", 1, ""))
    for name, c in card.items():
        e = c["energy_distance"]
        rows.append((f"from the card, {name}: energy distance DDPM / DDIM-10 / DDIM-50 / DDIM-T (floor "
                     f"{c['energy_distance_floor']:.4f}; DDIM-50 {ratio[name]:.1f}× floor)",
                     f"{e['ddpm']:.4f} / {e['ddim10']:.4f} / {e['ddim50']:.4f} / {e['ddimT']:.4f}", "",
                     c.get("eval_n", ""), ""))
    print_table(rows)
    print(f"\nload average (1 min) at the start and the end: {load[0]:.2f}, {load[1]:.2f} on {os.cpu_count()} CPUs")
    if missed:
        print(f"\nwarning: {len(missed)} t changes left data-t elsewhere: {missed[:5]}")
    if errors:
        print(f"\nthe page reported {len(errors)} errors: {errors[:5]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
