"""Stopping the app as a service manager does (SIGTERM) while its background work runs: it leaves at once, quietly
(no traceback, no C++ abort message), with exit status 0, and its files are gone. In the slow tier: it starts an app
of its own."""

import re
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import launch_app, wait_until_up


@pytest.mark.slow
def test_sigterm_stops_the_app_quietly_and_at_once(synthetic_data, app_checkpoints):
    server = wait_until_up(launch_app(synthetic_data, app_checkpoints))
    folder = Path(re.search(r"files for the page \(removed at exit\): (\S+)", server.log.read_text())[1])
    cache = Path(re.search(r"Gradio's cache: (\S+)", server.log.read_text())[1])
    urllib.request.urlopen(server.url, timeout=30).read()  # a page opened: its first views are being computed
    assert folder.is_dir() and cache.is_dir()
    t0 = time.perf_counter()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(60) == 0
    seconds = time.perf_counter() - t0
    log = server.log.read_text()
    assert "Traceback" not in log and "terminate called" not in log and "CancelledError" not in log, log[-2000:]
    assert not folder.exists() and not cache.exists()
    assert seconds < 10, f"the app took {seconds:.1f} s to stop"  # quick, not a benchmark: it used to take 20–40 s
