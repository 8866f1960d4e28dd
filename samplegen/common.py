"""Determinism and Kubernetes object metadata shared by the bundled sample and the synthetic generator.

Every "random" value (uids, resource versions, hashes, timestamps, picks) is derived by hashing a fixed seed
with the identity of what is being built, never from process state: the bundle must regenerate byte-for-byte
and a synthetic report must depend on its arguments only.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

JSON = dict[str, Any]

SEED = "report-exporter/samples/v1"
CLUSTER_NAME = "prod-eu-1"
BASE_TIME = datetime(2025, 3, 14, 6, 0, 0, tzinfo=UTC)
TRIVY_API_VERSION = "aquasecurity.github.io/v1alpha1"
KUBESCAPE_API_VERSION = "spdx.softwarecomposition.kubescape.io/v1beta1"
KUBESCAPE_NAMESPACE = "kubescape"

_POD_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def digest(*parts: object) -> str:
    """A hex SHA-256 of the seed and `parts`: the root of every derived value."""
    text = "\x1f".join([SEED, *(str(part) for part in parts)])
    return hashlib.sha256(text.encode()).hexdigest()


def rng(*parts: object) -> random.Random:
    """A random generator private to `parts`, so one object's picks never shift another's."""
    return random.Random(digest("rng", *parts))


def stable_uid(*parts: object) -> str:
    """A version-4 style UUID, as the API server assigns to `metadata.uid`."""
    return str(uuid.UUID(hex=digest("uid", *parts)[:32], version=4))


def resource_version(*parts: object) -> str:
    """An etcd-like `metadata.resourceVersion` (a decimal counter in the millions)."""
    return str(10_000_000 + int(digest("rv", *parts)[:8], 16) % 80_000_000)


def sha256_ref(*parts: object) -> str:
    """An OCI-style `sha256:<hex>` digest."""
    return "sha256:" + digest("sha", *parts)


def spec_hash(*parts: object) -> str:
    """The short hex hash trivy-operator writes into `resource-spec-hash` and `plugin-config-hash`."""
    return digest("spec-hash", *parts)[:10]


def pod_template_hash(*parts: object, length: int = 10) -> str:
    """A ReplicaSet suffix in the alphabet Kubernetes uses for `pod-template-hash`."""
    seed = int(digest("pth", *parts), 16)
    chars = []
    for _ in range(length):
        seed, index = divmod(seed, len(_POD_HASH_ALPHABET))
        chars.append(_POD_HASH_ALPHABET[index])
    return "".join(chars)


def timestamp(offset_seconds: int) -> str:
    """An RFC 3339 UTC time `offset_seconds` after the sample's scan time, as the API server prints it."""
    return (BASE_TIME + timedelta(seconds=offset_seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def offset(*parts: object, spread: int = 6 * 3600) -> int:
    """A stable offset in [0, spread) seconds so objects are not all created in the same second."""
    return int(digest("offset", *parts)[:8], 16) % spread


def json_size(obj: Any) -> int:
    """Bytes of `json.dumps(obj)` in UTF-8: the size the synthetic makers aim at."""
    return len(json.dumps(obj, ensure_ascii=False).encode())


@dataclass(frozen=True)
class OwnerRef:
    """The object a report is owned by: trivy-operator sets a controller reference to the scanned resource."""

    api_version: str
    kind: str
    name: str
    uid: str

    def as_json(self) -> JSON:
        return {
            "apiVersion": self.api_version,
            "blockOwnerDeletion": False,
            "controller": True,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
        }


@dataclass(frozen=True)
class Meta:
    """What varies between report objects' `metadata`; the rest is derived from it."""

    name: str
    namespace: str | None
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    owner: OwnerRef | None = None
    created: int = 0
    generation: int | None = None


def object_meta(meta: Meta, api_version: str, kind: str) -> JSON:
    """`metadata` as `kubectl get -o json` prints it, keys in the API server's order."""
    out: JSON = {}
    if meta.annotations:
        out["annotations"] = dict(sorted(meta.annotations.items()))
    out["creationTimestamp"] = timestamp(meta.created)
    if meta.generation is not None:
        out["generation"] = meta.generation
    out["labels"] = dict(sorted(meta.labels.items()))
    out["name"] = meta.name
    if meta.namespace is not None:
        out["namespace"] = meta.namespace
    if meta.owner is not None:
        out["ownerReferences"] = [meta.owner.as_json()]
    out["resourceVersion"] = resource_version(api_version, kind, meta.namespace, meta.name)
    out["uid"] = stable_uid(api_version, kind, meta.namespace, meta.name)
    return out


def with_managed_fields(obj: JSON, manager: str, payload_key: str) -> JSON:
    """`obj` with the `metadata.managedFields` a server-side write leaves (the exporter must drop them)."""
    metadata = obj["metadata"]
    fields_v1: JSON = {
        "f:metadata": {
            "f:labels": {".": {}, **{f"f:{key}": {} for key in metadata.get("labels", {})}},
        },
        f"f:{payload_key}": {".": {}, **{f"f:{key}": {} for key in obj.get(payload_key, {})}},
    }
    if "ownerReferences" in metadata:
        owner_uid = metadata["ownerReferences"][0]["uid"]
        fields_v1["f:metadata"]["f:ownerReferences"] = {".": {}, f'k:{{"uid":"{owner_uid}"}}': {}}
    if "annotations" in metadata:
        fields_v1["f:metadata"]["f:annotations"] = {
            ".": {},
            **{f"f:{key}": {} for key in metadata["annotations"]},
        }
    entry = {
        "apiVersion": obj["apiVersion"],
        "fieldsType": "FieldsV1",
        "fieldsV1": fields_v1,
        "manager": manager,
        "operation": "Update",
        "time": metadata["creationTimestamp"],
    }
    return {**obj, "metadata": dict(sorted({**metadata, "managedFields": [entry]}.items()))}
