"""The DefectDojo client's lookups, against the stand-in: which existing test a context's findings belong to."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from exporter.config import load_settings
from exporter.dojo import client as dojo_client
from tests.dojo_harness import SHOP_CONTEXT, TOKEN
from tests.dojo_standin import DojoStandin

CONTEXT = SHOP_CONTEXT


@pytest.fixture
def client(dojo: DojoStandin) -> Iterator[dojo_client.DojoClient]:
    settings = load_settings(environ={}, flags={"dojo.url": dojo.url, "dojo.retries": 0, "dojo.backoff_factor": 0})
    made = dojo_client.DojoClient(settings.dojo, api_key=TOKEN)
    yield made
    made.close()


def import_test(dojo: DojoStandin, title: str, *, fail: bool = False) -> int:
    """Create a test of CONTEXT's engagement titled `title` (empty, as a failed import leaves it when `fail`)."""
    if fail:
        dojo.import_fails_after_creating_test()
    form = {"scan_type": CONTEXT.scan_type, "product_type_name": CONTEXT.product_type, "product_name": CONTEXT.product,
            "engagement_name": CONTEXT.engagement, "test_title": title, "auto_create_context": "true"}  # fmt: skip
    response = requests.post(f"{dojo.url}/api/v2/import-scan/", data=form, headers={"Authorization": f"Token {TOKEN}"},
                             files={"file": ("scan.json", b"[]", "application/json")}, timeout=10)  # fmt: skip
    assert response.status_code == (500 if fail else 201), response.text
    return int(max(dojo.tests(), key=lambda test: int(test["id"]))["id"])


def test_the_tests_of_a_title_come_oldest_first(dojo: DojoStandin, client: dojo_client.DojoClient) -> None:
    """The oldest holds the findings; newer ones of the same title are what failed imports left behind."""
    oldest = import_test(dojo, CONTEXT.title)
    import_test(dojo, f"{CONTEXT.title} and more")  # DefectDojo's `title` filter matches names containing it
    left_behind = [import_test(dojo, CONTEXT.title, fail=True) for _ in range(2)]
    assert [int(test["id"]) for test in client.tests_named(CONTEXT)] == [oldest, *left_behind]


def test_the_oldest_test_comes_first_whatever_order_the_api_lists_them_in(
    client: dojo_client.DojoClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = [{"id": 12, "title": CONTEXT.title}, {"id": 3, "title": CONTEXT.title}, {"id": 7, "title": "other"},
              {"id": 9, "title": CONTEXT.title}]  # fmt: skip
    answers = {"products/": [{"id": 1, "name": CONTEXT.product}], "tests/": listed,
               "engagements/": [{"id": 2, "name": CONTEXT.engagement}]}  # fmt: skip

    def find(path: str, **_filters: Any) -> list[dict[str, Any]]:
        return answers[path]

    monkeypatch.setattr(client, "find", find)
    assert [test["id"] for test in client.tests_named(CONTEXT)] == [3, 9, 12]


def test_no_test_of_the_title_is_an_empty_list(dojo: DojoStandin, client: dojo_client.DojoClient) -> None:
    assert client.tests_named(CONTEXT) == [], "no product yet"
    import_test(dojo, "vulnerability payments")
    assert client.tests_named(CONTEXT) == []
