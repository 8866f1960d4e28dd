"""What was last sent to DefectDojo, kept where tomorrow's CronJob pod finds it: the archive.

One small JSON document per cluster (`<cluster>/dojo/state.json`): per test, the fingerprint of the last document
DefectDojo accepted, the ids of its test and engagement, its context (names, scan type, service) and the
identities of the findings that document made (short digests, `exporter.dojo.identities`). A test whose
fingerprint is unchanged, and which DefectDojo still holds, is not reimported: an unchanged cluster costs one
list call per engagement. The identities tell the mass-close valve how many findings a new document would close.

Entries written before identities or engagement ids were recorded read as "unknown", never as "none".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from exporter.archive import keys
from exporter.archive.store import Store
from exporter.errors import ArchiveError, DojoError, MissingObjectError

SCHEMA_VERSION = 1


@dataclass
class SyncState:
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)  # str(TestKey) -> fingerprint, test_id, ...

    def fingerprint(self, key: str) -> str | None:
        entry = self.tests.get(key)
        return str(entry["fingerprint"]) if entry else None

    def test_id(self, key: str) -> int | None:
        entry = self.tests.get(key)
        return int(entry["test_id"]) if entry and entry.get("test_id") is not None else None

    def engagement_id(self, key: str) -> int | None:
        entry = self.tests.get(key)
        return int(entry["engagement_id"]) if entry and entry.get("engagement_id") is not None else None

    def identities(self, key: str) -> frozenset[str] | None:
        """The findings the test's last accepted document made; None when they were never recorded."""
        entry = self.tests.get(key)
        if not entry or not isinstance(entry.get("identities"), list):
            return None
        return frozenset(str(identity) for identity in entry["identities"])

    def record(self, key: str, *, identities: frozenset[str] | None = None, **values: Any) -> None:
        self.tests[key] = values
        if identities is not None:
            self.tests[key]["identities"] = sorted(identities)

    def amend(self, key: str, *, identities: frozenset[str] | None = None, **values: Any) -> None:
        """Fill in what an older version did not record (identities of the same document, the engagement id)."""
        if key not in self.tests:
            return
        self.tests[key].update(values)
        if identities is not None:
            self.tests[key]["identities"] = sorted(identities)

    def forget(self, key: str) -> None:
        self.tests.pop(key, None)

    def to_bytes(self) -> bytes:
        return json.dumps({"schema_version": SCHEMA_VERSION, "tests": self.tests}, indent=1, sort_keys=True).encode()


def load_state(store: Store | None, cluster: str) -> SyncState:
    """The last state, or an empty one (first run, or no archive).

    A state the store holds but could not give back (an outage, a read cut short, refused) is an error, never "no
    state": a sync without it would lay out split tests as on a first night, moving findings between parts, which
    DefectDojo closes in one part and opens anew in another, and would then overwrite the state with tonight's
    tests alone. A state of another schema version (written by a newer exporter, then run with an older one) is
    refused for the same reason.
    """
    if store is None:
        return SyncState()
    key = keys.dojo_state_key(cluster)
    try:
        document = json.loads(store.get_bytes(key))
    except MissingObjectError:
        return SyncState()
    except ArchiveError as error:
        raise DojoError(
            f"cannot read the DefectDojo state, nothing was sent: {error}; the next run tries again"
        ) from error
    except ValueError as error:
        raise DojoError(
            f"the DefectDojo state {key} in the archive is not JSON ({error}), nothing was sent; restore it from a "
            "backup of the bucket, or delete it to start over (every test is then sent again as on a first night)"
        ) from error
    version = document.get("schema_version") if isinstance(document, dict) else None
    if version != SCHEMA_VERSION or not isinstance(document.get("tests", {}), dict):
        raise DojoError(
            f"the DefectDojo state {key} in the archive is not one this version reads (schema_version {version!r}, "
            f"this version reads {SCHEMA_VERSION}), nothing was sent; run the version that wrote it, or delete it to "
            "start over (every test is then sent again as on a first night)"
        )
    return SyncState(dict(document.get("tests") or {}))


def save_state(store: Store | None, cluster: str, state: SyncState) -> None:
    if store is not None:
        store.put_bytes(state.to_bytes(), keys.dojo_state_key(cluster))
