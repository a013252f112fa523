"""The first views' cache: results kept per plain arguments, and the defaults computed ahead of time.

The openings (explorer/first_views.py) run on every page load, so their results are kept (`memo`) and the defaults
are computed in the background at start-up (`warm`): a class of thirty opening the app computes each view once.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import Future

PLAIN = (str, int, float, bool)
CACHE_SIZE = 64  # results kept per view (the defaults and the links opened most recently)
log = logging.getLogger("explorer")


def memo(fn: Callable) -> Callable:
    """`fn` with its results kept for the last CACHE_SIZE distinct arguments, when they are all plain values
    (numbers, strings, None): a call with a session's state is not cached. Openings are deterministic
    (seeded), so a kept result is the result. A call whose result is being computed (by the start-up's warming
    thread, or another page) waits for it instead of computing it again. `fn.ready(*args)`: whether a call would be
    answered from the cache at once."""
    cache: OrderedDict = OrderedDict()  # key → Future
    lock = threading.Lock()

    @functools.wraps(fn)
    def wrapper(*args):
        k = key(args)
        if k is None:
            return fn(*args)
        with lock:
            future = cache.get(k)
            mine = future is None
            if mine:
                future = cache[k] = Future()
                while len(cache) > CACHE_SIZE:
                    cache.popitem(last=False)
            else:
                cache.move_to_end(k)
        if mine:
            try:
                future.set_result(fn(*args))
            except BaseException as e:
                with lock:
                    if cache.get(k) is future:
                        del cache[k]  # an error is not kept: the next call tries again
                future.set_exception(e)
        return future.result()

    def ready(*args) -> bool:
        k = key(args)
        with lock:
            future = cache.get(k) if k is not None else None
        return future is not None and future.done() and future.exception() is None

    wrapper.ready = ready
    return wrapper


def key(args: tuple) -> tuple | None:
    """`memo`'s cache key for `args`, or None when one is not a plain value (a session's state: never cached)."""
    if not all(a is None or isinstance(a, PLAIN) for a in args):
        return None
    return tuple(("bool", a) if isinstance(a, bool) else ("", a) for a in args)  # 1 is 1.0, True is not


def warm(calls: Iterable[tuple[Callable, list]], workers: int = 2) -> None:
    """Run each (fn, args) whose args are plain values, in `workers` daemon threads below the requests' priority,
    and return when all are done; a failure is logged, not raised."""
    todo = iter([(fn, args) for fn, args in calls if key(tuple(args)) is not None])
    lock = threading.Lock()

    def worker() -> None:
        try:  # a page that opens meanwhile is answered first (Linux: per thread)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except (AttributeError, OSError):
            pass
        while True:
            with lock:
                item = next(todo, None)
            if item is None:
                return
            fn, args = item
            try:
                fn(*args)
            except Exception as e:
                log.warning("could not precompute a first view (%s): %s", getattr(fn, "__name__", fn), e)

    # daemons, unlike a ThreadPoolExecutor's workers, do not hold the process at exit: a stop (Ctrl-C, SIGTERM) need
    # not wait for a minute of warming
    threads = [threading.Thread(target=worker, name=f"first-views-{i}", daemon=True) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
