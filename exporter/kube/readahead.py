"""Fetch the next page while the current one is written.

Listing is a relay between two processes: the API server serialises a page, the exporter parses, cleans,
serialises and compresses it. Done in turn, each waits for the other; with one page read ahead on a thread, the
server's work and ours overlap (socket reads release the GIL). Memory grows by one page, which stays bounded.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()
_POLL_SECONDS = 0.2


def read_ahead(source: Iterator[T], *, depth: int = 1) -> Iterator[T]:
    """Yield `source`'s items, produced on a worker thread up to `depth` ahead; its exceptions re-raise here."""
    slots: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in source:
                if not _offer(slots, item, stop):
                    return
            _offer(slots, _DONE, stop)
        except BaseException as exc:  # handed to the consumer, which decides
            _offer(slots, _Failure(exc), stop)

    worker = threading.Thread(target=produce, name="read-ahead", daemon=True)
    worker.start()
    try:
        while (item := slots.get()) is not _DONE:
            if isinstance(item, _Failure):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _offer(slots: queue.Queue[object], item: object, stop: threading.Event) -> bool:
    """Put `item` unless the consumer went away; False when it did."""
    while not stop.is_set():
        try:
            slots.put(item, timeout=_POLL_SECONDS)
            return True
        except queue.Full:
            continue
    return False
