"""explorer/background.py: work in a thread, reported in batches, stopped from outside."""

import threading
import time

import pytest

from explorer import background


def test_every_item_arrives_once_in_order_the_first_at_once():
    stop = threading.Event()
    batches = list(background.stream(lambda: iter(range(200)), stop, interval=0.01))
    assert [i for b in batches for i in b] == list(range(200))
    assert stop.is_set()  # closed: the producer is told to end


def test_stop_ends_the_stream_and_the_producer():
    stop, made = threading.Event(), []

    def slow():
        for i in range(10_000):
            made.append(i)
            time.sleep(0.001)
            yield i

    got = []
    for batch in background.stream(slow, stop, interval=0.01):
        got += batch
        if len(got) > 5:
            stop.set()
    n = len(made)
    time.sleep(0.05)
    assert len(made) <= n + 1 < 10_000  # the producer stopped at its next item


def test_errors_of_the_producer_are_raised_in_the_consumer():
    def broken():
        yield 1
        raise RuntimeError("the network failed")

    with pytest.raises(RuntimeError, match="the network failed"):
        list(background.stream(broken, threading.Event(), interval=0.01))
