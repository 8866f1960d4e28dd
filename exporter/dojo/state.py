"""What was last sent to DefectDojo, kept where tomorrow's CronJob pod finds it: the archive.

One small JSON document per cluster (`<cluster>/dojo/state.json`): per test, the fingerprint of the last document
DefectDojo accepted and the test's id. A test whose fingerprint is unchanged (and whose test still exists) is not
reimported: an unchanged cluster costs no import at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from exporter.archive import keys
from exporter.archive.store import Store
from exporter.errors import ArchiveError

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

    def record(self, key: str, **values: Any) -> None:
        self.tests[key] = values

    def to_bytes(self) -> bytes:
        return json.dumps({"schema_version": SCHEMA_VERSION, "tests": self.tests}, indent=1, sort_keys=True).encode()


def load_state(store: Store | None, cluster: str) -> SyncState:
    """The last state, or an empty one (first run, no archive, or a state this version cannot read)."""
    if store is None:
        return SyncState()
    try:
        document = json.loads(store.get_bytes(keys.dojo_state_key(cluster)))
    except (ArchiveError, ValueError):
        return SyncState()
    if not isinstance(document, dict) or document.get("schema_version") != SCHEMA_VERSION:
        return SyncState()
    return SyncState(dict(document.get("tests") or {}))


def save_state(store: Store | None, cluster: str, state: SyncState) -> None:
    if store is not None:
        store.put_bytes(state.to_bytes(), keys.dojo_state_key(cluster))
