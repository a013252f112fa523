"""Start-up: the app's first HTTP 200, then how long a page takes until every view of every sub-tab shows its
first picture (nothing empty), for the first page after start-up and for a second page (the first
views then come from the cache, explorer/links.py); then a link to a test digit not computed before, whose
likelihood study takes seconds: until the digit shows, and until every view is drawn. Then, side by side in one run,
fresh pages (a new browser context each: nothing cached, as a student's first visit) of this app and of a trivial
Gradio app (one slider, one image: bench_vae's floor), alternating, each timed inside the page from navigation start
(performance.now()) to its first picture and to every view of its first screen. Prints a table.

    python -m tests.bench.bench_startup --data-dir ../shared/data
    python -m tests.bench.bench_startup --data-dir ../shared/data --app-tree ../before   # another tree's app
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tests.bench.common import ROOT, app_page, print_table
from tests.browser.test_links import FIRST_VIEWS, SHOWN
from tests.conftest import CHECKPOINTS, OPENED


def populated(page, url: str) -> tuple[float, float]:
    """Seconds from opening `url` to the open tab's views shown, and to every sub-tab's views shown (opening each
    in turn, as a student would)."""
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("#vae-decoded img", timeout=120_000)
    for sel in FIRST_VIEWS[("VAE", "Ancestral sampling")]:
        page.wait_for_function(SHOWN, arg=sel, timeout=120_000)
    first = time.perf_counter() - t0
    for (lab, view), selectors in FIRST_VIEWS.items():
        page.get_by_role("tab", name=lab, exact=True).click()
        page.get_by_role("tab", name=view, exact=True).click()
        for sel in selectors:
            page.wait_for_function(SHOWN, arg=sel, timeout=120_000)
    return first, time.perf_counter() - t0


def link_opened(page, url: str, digit: int) -> tuple[float, float]:
    """Seconds from opening a link to test digit `digit`'s Encode view to the digit shown (the page's first answer)
    and to the page marking itself opened (the second answer: the likelihood study, among the slow views)."""
    t0 = time.perf_counter()
    page.goto(f"{url}/?lab=vae&view=encode&digit={digit}")
    page.wait_for_function(f"() => document.querySelector('#vae-enc-images')?.innerText.includes('#{digit}')",
                           timeout=120_000)
    shown = time.perf_counter() - t0
    page.wait_for_function(OPENED, timeout=120_000)
    return shown, time.perf_counter() - t0


READY_AT = "() => {{ const ok = ({cond})(); return ok ? performance.now() : false; }}"
FLOOR_READY = ("() => document.querySelector('#floor-out img') !== null "
               "&& document.querySelector('#floor-slider input[type=range]') !== null")
FIRST_PICTURE = ("() => document.querySelector('#vae-decoded .ge-dec-server img') !== null "
                 "&& document.querySelector('#vae-z1 input[type=range]') !== null")
EVERY_VIEW = ("() => " + FIRST_PICTURE[6:] + " && "
              + " && ".join(f"({SHOWN})('{sel}')" for sel in FIRST_VIEWS[("VAE", "Ancestral sampling")]))


def fresh_page_ms(browser, url: str, conditions: list[str]) -> list[float]:
    """Milliseconds from navigation start to each condition first holding (checked every frame), in a new context."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = ctx.new_page()
        page.goto(url, wait_until="commit")
        return [page.wait_for_function(READY_AT.format(cond=c), polling="raf", timeout=120_000).json_value()
                for c in conditions]
    finally:
        ctx.close()


def side_by_side(browser, app_url: str, pages: int) -> dict[str, list[float]]:
    """`pages` fresh pages of the app and of the trivial app, alternating, after one unmeasured page of each."""
    from tests.bench.bench_vae import floor_app
    from tests.conftest import free_port

    port = free_port()
    floor = floor_app(port)
    floor_url = f"http://127.0.0.1:{port}/"
    out = {"floor": [], "first": [], "every": []}
    try:
        fresh_page_ms(browser, floor_url, [FLOOR_READY])
        fresh_page_ms(browser, app_url, [EVERY_VIEW])
        for _ in range(pages):
            out["floor"] += fresh_page_ms(browser, floor_url, [FLOOR_READY])
            first, every = fresh_page_ms(browser, app_url, [FIRST_PICTURE, EVERY_VIEW])
            out["first"].append(first)
            out["every"].append(every)
    finally:
        floor.close()
    return out


def weight(browser, url: str) -> tuple[int, int]:
    """(requests, bytes of their bodies) of one fresh page of `url` until every view of its first screen is shown."""
    sizes = []
    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = ctx.new_page()
        page.on("requestfinished", lambda r: sizes.append(r.sizes()["responseBodySize"]))
        page.goto(url, wait_until="commit")
        page.wait_for_function(EVERY_VIEW, polling="raf", timeout=120_000)
    finally:
        ctx.close()
    return len(sizes), sum(sizes)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "data")
    ap.add_argument("--checkpoints", type=Path, default=CHECKPOINTS)
    ap.add_argument("--app-tree", type=Path, default=None, help="run the app of this source tree instead")
    ap.add_argument("--pages", type=int, default=4, help="fresh pages of each app, side by side")
    args = ap.parse_args()
    with app_page(args.data_dir, args.checkpoints, tree=args.app_tree) as (server, page):
        startup = server.startup_s
        cold = populated(page, server.url)
        warm = populated(page, server.url)
        link = link_opened(page, server.url, 11)
        loads = side_by_side(page.context.browser, server.url, args.pages)
        requests, size = weight(page.context.browser, server.url)
    med = {k: sorted(v)[len(v) // 2] for k, v in loads.items()}
    print_table([
        ("app start-up to first HTTP 200", f"{startup:.1f} s", "", 1, ""),
        ("first page after start-up: the open tab's views shown", f"{cold[0]:.1f} s", "", 1, ""),
        (f"first page after start-up: every sub-tab's views shown ({len(FIRST_VIEWS)} sub-tabs opened in turn)",
         f"{cold[1]:.1f} s", "", 1, ""),
        ("a later page: the open tab's views shown", f"{warm[0]:.1f} s", "", 1, ""),
        ("a later page: every sub-tab's views shown", f"{warm[1]:.1f} s", "", 1, ""),
        ("a link to a digit not seen before: the digit shown", f"{link[0]:.1f} s", "", 1, ""),
        ("the same link: every view drawn (its likelihood study too)", f"{link[1]:.1f} s", "", 1, ""),
        ("fresh page, trivial Gradio app: slider and image shown (navigation start →)", f"{med['floor']:.0f} ms",
         f"{max(loads['floor']):.0f} ms", len(loads["floor"]), ""),
        ("fresh page, this app: the decoded image and the z sliders shown", f"{med['first']:.0f} ms "
         f"({med['first'] / med['floor']:.2f}×)", f"{max(loads['first']):.0f} ms", len(loads["first"]), "≤ 1.2×"),
        ("fresh page, this app: every view of the first screen shown", f"{med['every']:.0f} ms "
         f"({med['every'] / med['floor']:.2f}×)", f"{max(loads['every']):.0f} ms", len(loads["every"]), "≤ 1.5×"),
        ("fresh page, this app: requests and bytes until every view is shown", f"{requests} / "
         f"{size / 2**20:.2f} MiB", "", 1, ""),
    ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
