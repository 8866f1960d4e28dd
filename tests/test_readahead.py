import threading
import time
from collections.abc import Iterator

import pytest

from exporter.kube.readahead import read_ahead


def test_items_arrive_in_order_and_complete() -> None:
    assert list(read_ahead(iter(range(100)))) == list(range(100))


def test_the_next_item_is_produced_while_the_current_one_is_consumed() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for number in range(3):
            produced.append(number)
            yield number

    pages = read_ahead(source())
    assert next(pages) == 0
    time.sleep(0.2)
    assert produced == [0, 1, 2], "one item is read ahead, one waits in the queue"
    assert list(pages) == [1, 2]


def test_a_failure_surfaces_after_the_items_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise ValueError("page 2 failed")

    pages = read_ahead(source())
    assert next(pages) == 1
    with pytest.raises(ValueError, match="page 2 failed"):
        next(pages)


def test_stopping_early_stops_the_worker() -> None:
    def endless() -> Iterator[int]:
        number = 0
        while True:
            yield number
            number += 1

    pages = read_ahead(endless())
    assert next(pages) == 0
    pages.close()
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]
