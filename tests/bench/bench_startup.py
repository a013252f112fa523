"""Start-up: the app's first HTTP 200, then how long a page takes until every view of every sub-tab shows its
first picture (nothing empty), for the first page after start-up and for a second page (the first
views then come from the cache, explorer/links.py); then a link to a test digit not computed before, whose
likelihood study takes seconds: until the digit shows, and until every view is drawn. Prints a table.

    python -m tests.bench.bench_startup --data-dir ../shared/data
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "data")
    ap.add_argument("--checkpoints", type=Path, default=CHECKPOINTS)
    args = ap.parse_args()
    with app_page(args.data_dir, args.checkpoints) as (server, page):
        startup = server.startup_s
        cold = populated(page, server.url)
        warm = populated(page, server.url)
        link = link_opened(page, server.url, 11)
    print_table([
        ("app start-up to first HTTP 200", f"{startup:.1f} s", "", 1, ""),
        ("first page after start-up: the open tab's views shown", f"{cold[0]:.1f} s", "", 1, ""),
        ("first page after start-up: every sub-tab's views shown (13 sub-tabs opened in turn)", f"{cold[1]:.1f} s",
         "", 1, ""),
        ("a later page: the open tab's views shown", f"{warm[0]:.1f} s", "", 1, ""),
        ("a later page: every sub-tab's views shown", f"{warm[1]:.1f} s", "", 1, ""),
        ("a link to a digit not seen before: the digit shown", f"{link[0]:.1f} s", "", 1, ""),
        ("the same link: every view drawn (its likelihood study too)", f"{link[1]:.1f} s", "", 1, ""),
    ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
