"""Where a fresh page's time goes before Gradio has built it: Chromium's sampling CPU profiler from navigation to
`#labs` in the DOM (the labs' tab bar: Gradio has processed the config and mounted the first tab), on the second of
two fresh pages; prints the functions with the most time inclusive of what they call (docs/benchmarks.md, start-up).

    python -m tests.bench.profile_page --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

from tests.bench.common import ROOT, app_page
from tests.conftest import CHECKPOINTS

MOUNTED = "() => document.querySelector('#labs') !== null"


def profile(browser, url: str) -> tuple[dict, float]:
    """(Chromium's CPU profile, ms to `#labs`) of one fresh page."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = ctx.new_page()
        cdp = ctx.new_cdp_session(page)
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": 200})  # microseconds
        cdp.send("Profiler.start")
        page.goto(url, wait_until="commit")
        page.wait_for_function(MOUNTED, polling="raf", timeout=120_000)
        at = page.evaluate("performance.now()")
        return cdp.send("Profiler.stop")["profile"], at
    finally:
        ctx.close()


def inclusive_ms(prof: dict) -> collections.Counter:
    """Milliseconds per function (name, script, line, column), counting the time of everything it called."""
    nodes = {n["id"]: n for n in prof["nodes"]}
    parent = {c: n["id"] for n in prof["nodes"] for c in n.get("children", [])}
    own = collections.Counter()
    for node_id, dt in zip(prof["samples"], prof["timeDeltas"], strict=True):
        own[node_id] += dt / 1000
    out = collections.Counter()
    for node_id, ms in own.items():
        seen, n = set(), node_id
        while n is not None:
            f = nodes[n]["callFrame"]
            key = (f["functionName"] or "(anonymous)", f["url"].rsplit("/", 1)[-1], f["lineNumber"], f["columnNumber"])
            if key not in seen:  # a recursive function counts once per sample
                out[key] += ms
                seen.add(key)
            n = parent.get(n)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "data")
    ap.add_argument("--checkpoints", type=Path, default=CHECKPOINTS)
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()
    with app_page(args.data_dir, args.checkpoints) as (server, page):
        browser = page.context.browser
        profile(browser, server.url)  # unmeasured: the server's caches warm
        prof, at = profile(browser, server.url)
    print(f"#labs in the DOM after {at:.0f} ms; inclusive CPU time per function:")
    print("| ms | function | script:line:column |\n|---|---|---|")
    for (name, script, line, col), ms in inclusive_ms(prof).most_common(args.top):
        print(f"| {ms:.0f} | {name} | {script}:{line}:{col} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
