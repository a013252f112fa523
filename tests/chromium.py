"""Finding and launching a Chromium for the browser tests and the benchmarks.

Order: $GE_CHROMIUM, a system chromium (Debian's `apt-get install chromium`), then Playwright's own
build (`playwright install chromium`). When none is found the tests skip, except where browser tests
are required ($CI or $GE_REQUIRE_BROWSER set), where they fail.
"""

from __future__ import annotations

import os
import shutil

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str | None:
    """An executable to pass to Playwright, or None to try Playwright's bundled browser."""
    if os.environ.get("GE_CHROMIUM"):
        return os.environ["GE_CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


def browser_required() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("GE_REQUIRE_BROWSER"))


def launch(playwright):
    """Launch headless Chromium; raises RuntimeError naming what was tried if none can start."""
    path = chromium_path()
    try:
        return playwright.chromium.launch(executable_path=path, args=FLAGS, headless=True)
    except Exception as e:
        raise RuntimeError(
            f"no usable Chromium (tried {path or 'Playwright bundled build'}): {str(e).splitlines()[0]}. "
            "Install one with `playwright install chromium` or `apt-get install chromium`, "
            "or point $GE_CHROMIUM at an executable.") from None
