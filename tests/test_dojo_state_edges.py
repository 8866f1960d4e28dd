"""The sync state's reading of what it does not hold, at the edges found by mutation testing.

A key the state never recorded, or an entry that lacks a field, reads as unknown (None), never as an error: the
sync asks the state about tests before it knows whether they were fed, and a state written by an older version
lacks fields a newer one records. A state this version cannot read (another schema, not a JSON object) is refused
with one line, as one the store cannot give back (tests/test_dojo_state_unreadable.py): taken for no state, split
tests would be laid out anew, their findings moved between parts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exporter.archive import keys
from exporter.archive.filestore import FileStore
from exporter.dojo.state import SCHEMA_VERSION, SyncState, load_state
from exporter.errors import DojoError

SHOP = "trivy-operator/vulnerability/shop"


def test_a_key_the_state_never_recorded_has_no_ids() -> None:
    state = SyncState()
    assert [state.test_id(SHOP), state.engagement_id(SHOP), state.fingerprint(SHOP)] == [None, None, None]
    assert state.identities(SHOP) is None


def test_an_entry_without_a_test_id_reads_as_unknown() -> None:
    state = SyncState({SHOP: {"fingerprint": "f00d", "test_id": None, "engagement_id": None}})
    assert (state.test_id(SHOP), state.engagement_id(SHOP), state.fingerprint(SHOP)) == (None, None, "f00d")


@pytest.mark.parametrize(
    "document",
    [{"schema_version": SCHEMA_VERSION + 1, "tests": {SHOP: {"fingerprint": "f00d", "test_id": 1}}}, [SHOP]],
    ids=["another-schema", "not-an-object"],
)
def test_a_state_this_version_cannot_read_is_refused_not_taken_for_a_first_night(
    tmp_path: Path, document: object
) -> None:
    store = FileStore(tmp_path.as_uri())
    store.put_bytes(json.dumps(document).encode(), keys.dojo_state_key("prod"))
    with pytest.raises(DojoError, match=r"is not one this version reads .*run the version that wrote it, or delete"):
        load_state(store, "prod")
    readable = {"schema_version": SCHEMA_VERSION, "tests": {SHOP: {"fingerprint": "f00d", "test_id": 1}}}
    store.put_bytes(json.dumps(readable).encode(), keys.dojo_state_key("prod"))
    assert load_state(store, "prod").test_id(SHOP) == 1
