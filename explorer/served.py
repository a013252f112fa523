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


PREFIX = "/ge/"  # the page fetches served files as ge/<name>: no server path in a URL or in /config
_named: dict[str, Path] = {}  # files outside the folder served under a name (Plotly's bundle)
_trees: dict[str, Path] = {}  # folders outside the folder served under a name (the page's own modules)


def name(alias: str, path: Path) -> str:
    """Serve `path` (a file outside `folder()`) as ge/`alias`; returns its URL relative to the page."""
    _named[alias] = path
    return PREFIX.lstrip("/") + urllib.parse.quote(alias)


def tree(alias: str, path: Path) -> str:
    """Serve the files under the folder `path` as ge/`alias`/<their path in it>; returns the URL of the folder,
    relative to the page, ending in a slash."""
    _trees[alias] = path.resolve()
    return PREFIX.lstrip("/") + urllib.parse.quote(alias) + "/"


def served_url(path: Path) -> str:
    """The URL of a file in `folder()`, relative to the page (the app may be served under a path)."""
    return PREFIX.lstrip("/") + urllib.parse.quote(path.relative_to(folder()).as_posix(), safe="/")


def resolve(url_path: str) -> Path | None:
    """The file that the path of a request for ge/<name> names, or None for a name that is not served (a name that
    leaves the folder included)."""
    rel = urllib.parse.unquote(url_path[len(PREFIX):]) if url_path.startswith(PREFIX) else ""
    if rel in _named:
        return _named[rel]
    top, _, inner = rel.partition("/")
    if top in _trees and inner:
        path = (_trees[top] / inner).resolve()
        return path if path.is_relative_to(_trees[top]) and path.is_file() else None
    if not rel or not _folder:
        return None
    path = (_folder[0] / rel).resolve()
    return path if path.is_relative_to(_folder[0].resolve()) and path.is_file() else None


class ServedFiles:
    """An ASGI middleware that answers GET and HEAD of ge/<name> with Gradio's own file route (its headers, ranges
    and checks of allowed paths), so that the page and /config name files by `served_url`, not by their place on
    the server. Any other ge/ name is a 404."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith(PREFIX) and scope.get("method") in ("GET", "HEAD"):
            file = resolve(path)
            if file is None:
                body = b'{"error": "No such file."}'
                await send({"type": "http.response.start", "status": 404, "headers": [
                    (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
                return await send({"type": "http.response.body", "body": body})
            target = "/gradio_api/file=" + file.as_posix()
            scope = {**scope, "path": target, "raw_path": urllib.parse.quote(target, safe="/=").encode()}
        return await self.app(scope, receive, send)
