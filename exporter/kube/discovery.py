"""Which catalog kinds the cluster serves: one discovery GET per API group version.

A kind the cluster does not serve is `absent`, not an error: most clusters run one scanner, not both. A group whose
discovery fails for another reason (an aggregated API server that is down answers 503) makes its kinds `failed`,
so that downstream nobody mistakes "could not ask" for "nothing to report".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from exporter import catalog
from exporter.catalog import ReportKind
from exporter.errors import KubeError
from exporter.kube.api import ApiStatusError, KubeApi


@dataclass(frozen=True)
class Availability:
    """Whether a kind can be listed; `error` is set when discovery itself failed."""

    served: bool
    error: str | None = None


def server_version(api: KubeApi) -> str | None:
    """The API server's gitVersion; also the first call of a run, so credentials fail fast and clearly."""
    try:
        return str(api.get_json("/version").get("gitVersion") or "") or None
    except ApiStatusError as exc:
        if exc.status == 401:
            raise KubeError(
                f"the Kubernetes API at {api.server} rejected the credentials (401 Unauthorized); "
                "renew the token or check the kubeconfig user"
            ) from None
        return None


def discover(api: KubeApi, kinds: Iterable[ReportKind]) -> dict[ReportKind, Availability]:
    """Availability of each kind, from `/apis/<group>/<version>`."""
    result: dict[ReportKind, Availability] = {}
    for (group, version), members in catalog.groups(kinds).items():
        try:
            served = {resource["name"] for resource in api.get_json(f"/apis/{group}/{version}")["resources"]}
        except ApiStatusError as exc:
            if exc.status == 404:
                result.update({kind: Availability(served=False) for kind in members})
                continue
            if exc.status == 401:
                raise KubeError(
                    f"the Kubernetes API at {api.server} rejected the credentials (401 Unauthorized); "
                    "renew the token or check the kubeconfig user"
                ) from None
            error = f"API group {group}/{version} could not be discovered: HTTP {exc.status} {exc.reason}"
            if exc.status == 503:
                error += " (its aggregated API server is unavailable; is the scanner's storage pod running?)"
            result.update({kind: Availability(served=False, error=error) for kind in members})
            continue
        result.update({kind: Availability(served=kind.plural in served) for kind in members})
    return result
