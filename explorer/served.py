"""The one folder of files that the app serves to its pages (published runs, plotted points, exports, the 2-D lab's
binary runs), created on first use and removed when the process exits, and the URLs of its files.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
import time
import urllib.parse
from pathlib import Path

_folder: list[Path] = []  # this process's served folder, once made


def folder() -> Path:
    """The folder of files the page fetches (published runs, render.publish_traces); the app serves it
    (gr.set_static_paths in build_demo)."""
    if not _folder:
        _folder.append(Path(tempfile.mkdtemp(prefix="ge-runs-")))
        atexit.register(shutil.rmtree, _folder[0], ignore_errors=True)
    return _folder[0]


def prune(folder: Path, pattern: str, max_age_s: float) -> None:
    """Remove the files and folders in `folder` matching `pattern` that are older than `max_age_s` seconds.
    Safe beside another request pruning the same folder."""
    now = time.time()
    for old in folder.glob(pattern):
        with contextlib.suppress(OSError):  # another request may remove it first
            if now - old.stat().st_mtime > max_age_s:
                if old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    old.unlink()


def served_url(path: Path) -> str:
    """The URL of a file in `folder()`, relative to the page (the app may be served under a path)."""
    return "gradio_api/file=" + urllib.parse.quote(path.as_posix(), safe="/")
