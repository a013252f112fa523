"""Step-by-step work in a thread of its own, reported by a generator that a Gradio handler can stream.

Why a thread: Gradio resumes a generator handler in whichever worker thread is free and only after it has
sent the previous update, so work done inside the handler waits for the network, and torch's thread-local
modes (inference mode) do not hold across its steps. Here the work runs to its end in one thread, puts
each item on a queue, and the handler only drains it.
"""

from __future__ import annotations

import contextlib
import inspect
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def stream(produce: Callable[[], Iterable[T]], stop: threading.Event, interval: float = 0.05,
           name: str = "background") -> Iterator[list[T]]:
    """Run `produce()` in a new thread; yield lists of the items it made since the last yield.

    The first item is yielded as soon as it exists, later ones at most one list per `interval` seconds
    (a browser cannot show more anyway). Ends when `produce` is exhausted or `stop` is set (by the caller,
    e.g. a Stop button), re-raises what `produce` raised, and sets `stop` when closed, so that a closed
    page ends the thread at its next item.
    """
    q: queue.Queue = queue.Queue()

    def work() -> None:
        try:
            for item in produce():
                if stop.is_set():
                    return
                q.put(item)
        except BaseException as e:  # handed to the consumer, which raises it in the request
            q.put(_Failure(e))
        finally:
            q.put(_END)

    threading.Thread(target=work, name=name, daemon=True).start()
    first = True
    try:
        while not stop.is_set():
            try:
                item = q.get(timeout=interval)  # wake up every interval to see whether we were stopped
            except queue.Empty:
                continue
            batch: list[T] = []
            deadline = time.monotonic() + (0.0 if first else interval)
            while True:
                if item is _END:
                    if batch:
                        yield batch
                    return
                if isinstance(item, _Failure):
                    raise item.error
                batch.append(item)
                left = deadline - time.monotonic()
                try:
                    item = q.get(timeout=left) if left > 0 else q.get_nowait()
                except queue.Empty:
                    break
            first = False
            yield batch
    finally:
        stop.set()


class OneRunEach:
    """At most one long run (the reverse process, the sampler comparison) per browser session or API client at a
    time: with two run slots for the whole app, one client could otherwise hold both with DDPM-1000 runs
    while a class waits. A second run of the same session waits `wait` seconds for the first to end (the page's Run
    button stops the previous run first, which ends at its next step), then is refused with a message."""

    def __init__(self, wait: float = 2.0):
        self.wait = wait
        self._busy: set[str] = set()
        self._freed = threading.Condition()

    @contextlib.contextmanager
    def claim(self, session: str | None) -> Iterator[None]:
        """Hold `session`'s one run for the `with` block; None (the app's own calls, not a client's) holds nothing."""
        if session is None:
            yield
            return
        from explorer import checks

        with self._freed:
            if not self._freed.wait_for(lambda: session not in self._busy, timeout=self.wait):
                raise checks.InputError("You have a run going already (the reverse process or the sampler "
                                        "comparison): wait for it to end, or press Stop. One run at a time each.")
            self._busy.add(session)
        try:
            yield
        finally:
            with self._freed:
                self._busy.discard(session)
                self._freed.notify_all()


RUNS = OneRunEach()  # the app's long runs


def in_session(fn: Callable, *bound) -> Callable:
    """`fn(*bound, …, request=…)` as a handler that Gradio hands the caller's gr.Request (it finds the type in the
    handler's own annotations, which a functools.partial does not carry); the API's parameters keep `fn`'s names."""
    import gradio as gr

    if inspect.isgeneratorfunction(fn):
        def handler(*args, **kwargs):
            yield from fn(*bound, *args, **kwargs)
    else:
        def handler(*args, **kwargs):
            return fn(*bound, *args, **kwargs)
    # Gradio fills the parameters of this signature (the inputs, then gr.Progress and gr.Request where they stand)
    # and finds the request by its annotation; view_api and the count check name the same parameters
    handler.__signature__ = inspect.Signature(list(inspect.signature(fn).parameters.values())[len(bound):])
    handler.__annotations__ = {"request": gr.Request}
    handler.__name__, handler.__doc__ = fn.__name__, fn.__doc__
    return handler
