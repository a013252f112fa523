"""Running test work in the background of the browser tests, where it only takes the CPU they leave idle."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

LOWEST = 19  # nice: ~1.5% of a core against a process at 0 that wants it


def lower_priority(nice: int = LOWEST) -> None:
    """Run this process, and the processes it starts from now on, at priority `nice` against everything else on the
    machine.

    Linux with autogroup scheduling (/proc/sys/kernel/sched_autogroup_enabled; on in this CI's machine) shares the
    CPU fairly between sessions first, and only then by nice within a session; Playwright starts Chromium in a
    session of its own. So a process niced inside pytest's session still took a whole core from the page whenever
    the page wanted more than one (its renderer and its software compositor), and browser tests timed out beside it.
    Here the process starts a session of its own (it must not lead one already: a plain child of pytest or of an
    xdist worker does not), lowers that session's group, and lowers its own nice for kernels without autogroups."""
    with contextlib.suppress(OSError):
        os.setsid()
    with contextlib.suppress(OSError):
        Path("/proc/self/autogroup").write_text(str(nice))
    os.nice(max(0, nice - os.nice(0)))
