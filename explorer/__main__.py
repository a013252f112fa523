"""python -m explorer: load the shipped checkpoints and serve the app (http://127.0.0.1:7860 by default)."""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from explorer import served
from explorer.models import DEFAULT_CHECKPOINTS, DEFAULT_DATA_DIR


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m explorer", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    p.add_argument("--checkpoints", type=Path, default=DEFAULT_CHECKPOINTS,
                   help=f"folder of checkpoints (default: {DEFAULT_CHECKPOINTS})")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                   help=f"folder holding MNIST/raw for the test digits (default: {DEFAULT_DATA_DIR})")
    p.add_argument("--download", action=argparse.BooleanOptionalAction, default=True,
                   help="download the MNIST test set into --data-dir if it is missing (default: on)")
    p.add_argument("--share", action="store_true", help="also serve through a public Gradio share link")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="also serve requests addressed to this host name (repeatable; IP addresses and localhost "
                        "always are: other names are refused against DNS rebinding, see explorer/guard.py)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads per computation (default: 1; see docs/benchmarks.md, 'Where the time goes')")
    p.add_argument("--warm", action=argparse.BooleanOptionalAction, default=True,
                   help="once serving, compute every view's default first picture in the background, for the first "
                        "page to open (default: on; the API tests, which open no page, turn it off)")
    p.add_argument("--train-steps", type=int, default=4000,
                   help="the 2-D lab's in-session training: at most this many steps per drawing (default: 4000, "
                        "about 6 s on one core; fewer on a slow or busy server)")
    args = p.parse_args(argv)
    if not 100 <= args.train_steps <= 20000:
        p.error(f"--train-steps {args.train_steps} is outside [100, 20000]")
    if not 1 <= args.port <= 65535:
        p.error(f"--port {args.port} is outside [1, 65535]")
    if not 1 <= args.threads <= 256:
        p.error(f"--threads {args.threads} is outside [1, 256]")
    return args


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas (on Linux; elsewhere nothing). glibc gives threads that allocate at once arenas of
    their own, up to 8 per core, and keeps what each frees for that arena: with Gradio's handler threads a
    20-user load grew the app by ~370 MB in a minute (tests/bench/bench_load.py). Set before any thread starts."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        libc = None
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(-8, arenas)  # M_ARENA_MAX


def warn_about(models) -> None:
    """What did not load, and why, on stderr (the app serves the rest)."""
    for name, err in models.errors.items():
        print(f"warning: {name}: {err}", file=sys.stderr)
    for warning in models.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if models.digits_error:
        print(f"warning: {models.digits_error}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    limit_malloc_arenas()
    # SIGTERM (a service manager, `kill`) stops the app as Ctrl-C does: Gradio closes its server, and the atexit
    # handlers remove the app's files
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # no launch telemetry or version check: the app runs offline, in classrooms (set before gradio is imported)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    # Gradio's cache (uploads, images handed to it) in a folder of this process's own, removed when it exits (Gradio
    # prunes it hourly too: app.build_demo); a GRADIO_TEMP_DIR set by the user is theirs, and stays
    if "GRADIO_TEMP_DIR" not in os.environ:
        cache = tempfile.mkdtemp(prefix="ge-gradio-")
        os.environ["GRADIO_TEMP_DIR"] = cache
        atexit.register(shutil.rmtree, cache, ignore_errors=True)
    # a user's bad input is one INFO line (explorer.checks.InputError), not a traceback
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for noisy in ("httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    import torch

    from explorer import checks
    from explorer.app import LAUNCH_KW, QUEUE_KW, app_kwargs, build_demo
    from explorer.models import load_models

    checks.limit_images()  # Pillow refuses images past 4096 × 4096 pixels before decoding them
    torch.set_grad_enabled(False)
    # Handlers run in Gradio's worker threads, where a torch op on more than one thread starts an OpenMP team
    # per calling thread: on 2 cores DDPM sampling ran 3× slower with 2 threads than with 1 (these models are
    # too small to gain from intra-op parallelism anyway). Set in the main thread, it holds for all threads.
    torch.set_num_threads(args.threads)
    models = load_models(args.checkpoints, args.data_dir, args.download)
    warn_about(models)
    from explorer.config import AppConfig
    from explorer.links import Links

    links = Links()
    demo = build_demo(models, links=links, config=AppConfig(train_steps=args.train_steps))

    print(f"files for the page (removed at exit): {served.folder()}", flush=True)
    print(f"Gradio's cache: {os.environ['GRADIO_TEMP_DIR']}", flush=True)
    print(f"Generative Explorer: serving on http://{args.host}:{args.port}", flush=True)
    demo.queue(**QUEUE_KW).launch(server_name=args.host, server_port=args.port, share=args.share, show_error=True,
                                  quiet=True, prevent_thread_lock=True, **LAUNCH_KW,
                                  app_kwargs=app_kwargs(args.allowed_host, any_host=args.share, demo=demo,
                                                        errors=models.errors))
    from starlette.middleware import Middleware

    from explorer.gradio_compat import outermost
    from explorer.guard import GuardMiddleware

    # the guard again, outside Gradio's CORS middleware: a foreign site's preflight is refused, not answered
    outermost(demo.server_app, Middleware(GuardMiddleware, allowed_hosts=args.allowed_host, any_host=args.share))
    # once it serves: every view's default first picture, computed in the background for the first page to open
    if args.warm:
        links.warm_in_background()
    serve_until_stopped(demo)
    return 0


def serve_until_stopped(demo) -> None:
    """Serve until Ctrl-C or SIGTERM, then stop at once: open pages hold event streams that uvicorn would otherwise
    wait for (Gradio's own block_thread gives them 5 s), and a stopped app should free its port now. The pages see
    the server go, and reload when it is back."""
    try:
        while demo.is_running:
            time.sleep(0.1)
    except KeyboardInterrupt:
        print("stopping: open pages are disconnected", flush=True)
        # uvicorn reports the tasks that a forced exit cancels as errors, with a traceback: here they are expected
        logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
        if demo.server:
            demo.server.force_exit = True  # uvicorn: do not wait for open connections and tasks to end
            demo.server.close()
        exit_now()


def exit_now(code: int = 0) -> None:
    """Remove the app's files (its atexit handlers) and end the process without finalizing the interpreter: the
    worker threads that may still be inside a torch computation (a first view, a run) would otherwise hold the exit
    for seconds to tens of seconds and end it with C++'s "terminate called without an active exception"."""
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
