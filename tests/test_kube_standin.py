"""The kube stand-in answers like kube-apiserver v1.34 for what report-exporter uses.

Unit tests elsewhere trust these answers, so each behaviour is pinned here, mostly at the HTTP level and once
end to end through the official ``kubernetes`` client the product itself uses.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes import client as kube_client
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException

from tests.kube_standin import (
    INCONSISTENT_CONTINUE_MESSAGE,
    LISTED_ZERO_SPECS,
    NOT_FOUND_MESSAGE,
    SYNC_CHECKSUM_ANNOTATION,
    KubeStandin,
    ServedResource,
    StandinFactory,
)

GROUP, VERSION = "aquasecurity.github.io", "v1alpha1"
TOKEN = "test-token"
USER = "system:serviceaccount:report-exporter:report-exporter"
VULNS = ServedResource(
    GROUP, VERSION, "vulnerabilityreports", "VulnerabilityReport", True, short_names=("vuln", "vulns")
)
CLUSTER_VULNS = ServedResource(
    GROUP,
    VERSION,
    "clustervulnerabilityreports",
    "ClusterVulnerabilityReport",
    False,
)
KS_GROUP, KS_VERSION = "spdx.softwarecomposition.kubescape.io", "v1beta1"
MANIFESTS = ServedResource(
    KS_GROUP, KS_VERSION, "vulnerabilitymanifests", "VulnerabilityManifest", True, list_items_carry_type=False
)


@pytest.fixture
def make_standin() -> Iterator[StandinFactory]:
    factory = StandinFactory()
    yield factory
    factory.close_all()


@pytest.fixture
def standin(make_standin: StandinFactory) -> KubeStandin:
    served = make_standin([VULNS, CLUSTER_VULNS, MANIFESTS])
    served.add_objects(
        "vulnerabilityreports",
        [
            _report(ns, name, {"team": team, "tier": tier})
            for ns, name, team, tier in [
                ("team-b", "pod-b1", "b", "web"),
                ("team-a", "pod-a2", "a", "db"),
                ("team-a", "pod-a1", "a", "web"),
                ("team-c", "pod-c1", "c", "batch"),
                ("team-b", "pod-b2", "b", "db"),
            ]
        ],
    )
    served.add_objects(
        ("vulnerabilitymanifests", KS_GROUP),
        [
            {
                "apiVersion": f"{KS_GROUP}/{KS_VERSION}",
                "kind": "VulnerabilityManifest",
                "metadata": {"namespace": "kubescape", "name": f"m{i}"},
                "spec": {"payload": {"matches": [i]}},
            }
            for i in range(3)
        ],
    )
    return served


def _report(namespace: str, name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"namespace": namespace, "name": name, "labels": labels},
        "report": {"summary": {"criticalCount": 1}},
        "spec": {"artifact": name},
    }


def _get(standin: KubeStandin, path: str, *, token: str | None = TOKEN, **params: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.get(standin.url + path, headers=headers, params=params, timeout=5)


def _names(body: dict[str, Any]) -> list[str]:
    return [f"{i['metadata'].get('namespace', '')}/{i['metadata']['name']}" for i in body["items"]]


def _vulns_path() -> str:
    return f"/apis/{GROUP}/{VERSION}/vulnerabilityreports"


def test_kubernetes_client_pages_through_a_cluster_wide_list_with_limit_and_continue(
    standin: KubeStandin, tmp_path: Path
) -> None:
    kubeconfig = standin.write_kubeconfig(tmp_path / "kubeconfig")
    api_client = kube_config.new_client_from_config(config_file=str(kubeconfig))
    api = kube_client.CustomObjectsApi(api_client)
    pages, token = [], None
    while True:
        page = api.list_cluster_custom_object(
            GROUP, VERSION, "vulnerabilityreports", limit=2, **({"_continue": token} if token else {})
        )
        pages.append(page)
        token = page["metadata"].get("continue")
        if not token:
            break
    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    assert [p["metadata"].get("remainingItemCount") for p in pages] == [3, 1, None]
    assert len({p["metadata"]["resourceVersion"] for p in pages}) == 1
    names = [n for p in pages for n in _names(p)]
    assert names == ["team-a/pod-a1", "team-a/pod-a2", "team-b/pod-b1", "team-b/pod-b2", "team-c/pod-c1"]
    assert all(
        i["apiVersion"] == f"{GROUP}/{VERSION}" and i["kind"] == "VulnerabilityReport"
        for p in pages
        for i in p["items"]
    )
    assert pages[0]["kind"] == "VulnerabilityReportList"
    api_client.close()


def test_raw_api_client_get_without_preloading_sees_forbidden_as_api_exception(
    standin: KubeStandin, tmp_path: Path
) -> None:
    kubeconfig = standin.write_kubeconfig(tmp_path / "kubeconfig")
    api_client = kube_config.new_client_from_config(config_file=str(kubeconfig))
    response = api_client.call_api(
        _vulns_path(),
        "GET",
        query_params=[("limit", 1)],
        auth_settings=["BearerToken"],
        _preload_content=False,
        _return_http_data_only=True,
    )
    assert json.loads(response.data)["metadata"]["remainingItemCount"] == 4
    standin.forbid("vulnerabilityreports")
    with pytest.raises(ApiException) as raised:
        api_client.call_api(_vulns_path(), "GET", auth_settings=["BearerToken"], _preload_content=False)
    assert raised.value.status == 403
    assert json.loads(raised.value.body)["reason"] == "Forbidden"
    api_client.close()


def test_discovery_documents_name_every_served_group_version_and_resource(
    make_standin: StandinFactory,
) -> None:
    older = ServedResource(GROUP, "v1alpha1", "vulnerabilityreports", "VulnerabilityReport", True)
    newer = ServedResource(GROUP, "v1beta1", "vulnerabilityreports", "VulnerabilityReport", True)
    standin = make_standin([older, newer, CLUSTER_VULNS, MANIFESTS, VULNS])
    assert _get(standin, "/version").json()["gitVersion"] == "v1.34.3"
    assert _get(standin, "/api").json()["versions"] == ["v1"]
    groups = {g["name"]: g for g in _get(standin, "/apis").json()["groups"]}
    assert set(groups) == {GROUP, KS_GROUP}
    assert groups[GROUP]["preferredVersion"] == {"groupVersion": f"{GROUP}/v1beta1", "version": "v1beta1"}
    assert [v["version"] for v in groups[GROUP]["versions"]] == ["v1beta1", "v1alpha1"]
    resources = _get(standin, f"/apis/{GROUP}/{VERSION}").json()
    assert (resources["kind"], resources["groupVersion"]) == ("APIResourceList", f"{GROUP}/{VERSION}")
    by_name = {r["name"]: r for r in resources["resources"]}
    assert by_name["vulnerabilityreports"] == {
        "name": "vulnerabilityreports",
        "singularName": "vulnerabilityreport",
        "namespaced": True,
        "kind": "VulnerabilityReport",
        "verbs": ["get", "list", "watch"],
        "shortNames": ["vuln", "vulns"],
    }
    assert by_name["clustervulnerabilityreports"]["namespaced"] is False


@pytest.mark.parametrize(
    "path",
    [
        "/apis/example.com/v1",
        "/apis/example.com",
        f"/apis/{GROUP}/v9",
        f"/apis/{GROUP}/{VERSION}/nothings",
        f"{_vulns_path()}/pod-a1",
    ],
)
def test_unserved_paths_get_the_apiservers_generic_not_found_status(standin: KubeStandin, path: str) -> None:
    response = _get(standin, path)
    assert response.status_code == 404
    assert response.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": NOT_FOUND_MESSAGE,
        "reason": "NotFound",
        "details": {},
        "code": 404,
    }


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_a_missing_or_wrong_bearer_token_is_unauthorized(standin: KubeStandin, token: str | None) -> None:
    response = _get(standin, _vulns_path(), token=token)
    assert response.status_code == 401
    assert response.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }
    assert standin.requests[-1].status == 401


def test_forbidden_messages_are_worded_as_the_rbac_authorizer_words_them(standin: KubeStandin) -> None:
    standin.forbid("vulnerabilityreports", allowed_namespaces=["team-a"])
    standin.forbid("vulnerabilityreports", "get")
    cluster = _get(standin, _vulns_path())
    assert cluster.status_code == 403
    assert cluster.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'vulnerabilityreports.{GROUP} is forbidden: User "{USER}" cannot list resource '
        f'"vulnerabilityreports" in API group "{GROUP}" at the cluster scope',
        "reason": "Forbidden",
        "details": {"group": GROUP, "kind": "vulnerabilityreports"},
        "code": 403,
    }
    namespaced = _get(standin, f"/apis/{GROUP}/{VERSION}/namespaces/team-b/vulnerabilityreports")
    namespaced_scope = 'in API group "aquasecurity.github.io" in the namespace "team-b"'
    assert namespaced.json()["message"].endswith(namespaced_scope)
    assert _get(standin, f"/apis/{GROUP}/{VERSION}/namespaces/team-a/vulnerabilityreports").status_code == 200
    single = _get(standin, f"/apis/{GROUP}/{VERSION}/namespaces/team-a/vulnerabilityreports/pod-a1").json()
    assert single["message"].startswith(
        f'vulnerabilityreports.{GROUP} "pod-a1" is forbidden: User "{USER}" cannot get resource'
    )
    assert single["details"]["name"] == "pod-a1"


def test_an_expired_continue_token_gets_410_with_a_token_that_finishes_the_list_at_the_latest_revision(
    standin: KubeStandin,
) -> None:
    first = _get(standin, _vulns_path(), limit=2).json()
    standin.add_objects("vulnerabilityreports", [_report("team-z", "pod-z1", {})])
    standin.expire_continue("vulnerabilityreports")
    expired = _get(standin, _vulns_path(), limit=2, **{"continue": first["metadata"]["continue"]})
    assert expired.status_code == 410
    body = expired.json()
    fresh_token = body["metadata"].pop("continue")
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": INCONSISTENT_CONTINUE_MESSAGE,
        "reason": "Expired",
        "code": 410,
    }
    assert _decode(fresh_token) == {"v": "meta.k8s.io/v1", "rv": -1, "start": "team-a/pod-a2\x00"}
    rest = _get(standin, _vulns_path(), **{"continue": fresh_token}).json()
    assert _names(rest) == ["team-b/pod-b1", "team-b/pod-b2", "team-c/pod-c1", "team-z/pod-z1"]
    assert int(rest["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])


def test_a_continue_token_keeps_reading_the_snapshot_of_its_first_page(standin: KubeStandin) -> None:
    first = _get(standin, _vulns_path(), limit=3).json()
    assert _decode(first["metadata"]["continue"]) == {
        "v": "meta.k8s.io/v1",
        "rv": int(first["metadata"]["resourceVersion"]),
        "start": "team-b/pod-b1\x00",
    }
    standin.add_objects("vulnerabilityreports", [_report("team-b", "pod-b0", {}), _report("team-d", "d", {})])
    second = _get(standin, _vulns_path(), limit=3, **{"continue": first["metadata"]["continue"]}).json()
    assert _names(second) == ["team-b/pod-b2", "team-c/pod-c1"]
    assert second["metadata"] == {"resourceVersion": first["metadata"]["resourceVersion"]}
    assert len(_get(standin, _vulns_path()).json()["items"]) == 7


def test_throttling_returns_429_with_retry_after_as_status_or_as_the_filters_plain_text(
    standin: KubeStandin,
) -> None:
    standin.fail("vulnerabilityreports", 429, retry_after=7)
    throttled = _get(standin, _vulns_path())
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "7")
    assert throttled.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Too many requests, please try again later.",
        "reason": "TooManyRequests",
        "details": {"retryAfterSeconds": 7},
        "code": 429,
    }
    assert _get(standin, _vulns_path()).status_code == 200
    standin.fail("vulnerabilityreports", 429)
    assert _get(standin, _vulns_path()).json()["details"] == {}
    standin.fail("vulnerabilityreports", 429, retry_after=1, body="text")
    plain = _get(standin, _vulns_path())
    assert (plain.status_code, plain.headers["Retry-After"]) == (429, "1")
    assert plain.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert plain.text == "Too many requests, please try again later.\n"


@pytest.mark.parametrize(
    ("status", "reason", "message", "details"),
    [
        (
            500,
            "InternalError",
            "Internal error occurred: etcdserver: request timed out",
            {"causes": [{"message": "etcdserver: request timed out"}]},
        ),
        (503, "ServiceUnavailable", "service unavailable", None),
        (
            504,
            "Timeout",
            "Timeout: request did not complete within requested timeout - context deadline exceeded",
            {},
        ),
    ],
)
def test_server_side_failures_carry_the_apiservers_status_bodies(
    standin: KubeStandin, status: int, reason: str, message: str, details: dict[str, Any] | None
) -> None:
    standin.fail("vulnerabilityreports", status)
    body = _get(standin, _vulns_path()).json()
    assert (body["code"], body["reason"], body["message"], body.get("details")) == (
        status,
        reason,
        message,
        details,
    )


def test_a_kind_can_fail_half_way_through_its_pages(standin: KubeStandin) -> None:
    fault = standin.fail_after_pages("vulnerabilityreports", 1, 503, times=1)
    first = _get(standin, _vulns_path(), limit=2).json()
    token = first["metadata"]["continue"]
    assert _get(standin, _vulns_path(), limit=2, **{"continue": token}).status_code == 503
    assert not fault.active
    retried = _get(standin, _vulns_path(), limit=2, **{"continue": token})
    assert retried.status_code == 200
    assert _names(retried.json()) == ["team-b/pod-b1", "team-b/pod-b2"]


def test_on_page_fails_only_that_page_and_a_removed_fault_no_longer_fires(standin: KubeStandin) -> None:
    standin.fail("vulnerabilityreports", 500, on_page=2, times=5)
    first = _get(standin, _vulns_path(), limit=2)
    assert first.status_code == 200
    assert _get(standin, f"/apis/{KS_GROUP}/{KS_VERSION}/vulnerabilitymanifests", limit=1).status_code == 200
    token = first.json()["metadata"]["continue"]
    assert _get(standin, _vulns_path(), limit=2, **{"continue": token}).status_code == 500
    standin.clear_faults("vulnerabilityreports")
    assert _get(standin, _vulns_path(), limit=2, **{"continue": token}).status_code == 200
    forever = standin.fail_after_pages("vulnerabilityreports", 0)
    assert _get(standin, _vulns_path()).status_code == 500
    forever.remove()
    assert _get(standin, _vulns_path()).status_code == 200


def test_strip_spec_in_list_zero_fills_spec_in_items_but_a_get_returns_the_whole_object(
    standin: KubeStandin,
) -> None:
    """As the real kubescape/storage v0.0.220 answered (docs/kubescape-storage.md): the listed spec is the Go zero
    value of the kind's spec, not absent, and the listed metadata carries the sync checksum a GET does not."""
    standin.strip_spec_in_list("vulnerabilitymanifests")
    listed = _get(standin, f"/apis/{KS_GROUP}/{KS_VERSION}/vulnerabilitymanifests").json()
    assert [set(i) for i in listed["items"]] == [{"metadata", "spec"}] * 3
    assert all(i["spec"] == LISTED_ZERO_SPECS["vulnerabilitymanifests"] for i in listed["items"])
    assert all(SYNC_CHECKSUM_ANNOTATION in i["metadata"]["annotations"] for i in listed["items"])
    one_path = f"/apis/{KS_GROUP}/{KS_VERSION}/namespaces/kubescape/vulnerabilitymanifests/m1"
    single = _get(standin, one_path).json()
    assert single["spec"] == {"payload": {"matches": [1]}}
    assert (single["apiVersion"], single["kind"]) == (f"{KS_GROUP}/{KS_VERSION}", "VulnerabilityManifest")


def test_typed_resources_list_items_without_apiversion_and_kind(standin: KubeStandin) -> None:
    listed = _get(standin, f"/apis/{KS_GROUP}/{KS_VERSION}/vulnerabilitymanifests").json()
    assert (listed["apiVersion"], listed["kind"]) == (f"{KS_GROUP}/{KS_VERSION}", "VulnerabilityManifestList")
    assert all("apiVersion" not in i and "kind" not in i for i in listed["items"])


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("team=a", ["team-a/pod-a1", "team-a/pod-a2"]),
        ("team==b,tier=db", ["team-b/pod-b2"]),
        ("tier!=web", ["team-a/pod-a2", "team-b/pod-b2", "team-c/pod-c1", "team-z/bare"]),
        ("tier in (db, batch)", ["team-a/pod-a2", "team-b/pod-b2", "team-c/pod-c1"]),
        ("tier notin (web,db),team", ["team-c/pod-c1"]),
        ("team", ["team-a/pod-a1", "team-a/pod-a2", "team-b/pod-b1", "team-b/pod-b2", "team-c/pod-c1"]),
        ("!team", ["team-z/bare"]),
    ],
)
def test_label_selectors_filter_as_the_apiserver_does(
    standin: KubeStandin,
    selector: str,
    expected: list[str],
) -> None:
    standin.add_objects("vulnerabilityreports", [_report("team-z", "bare", {})])
    assert _names(_get(standin, _vulns_path(), labelSelector=selector).json()) == expected


def test_a_filtered_page_has_no_remaining_item_count_and_bad_selectors_are_bad_requests(
    standin: KubeStandin,
) -> None:
    page = _get(standin, _vulns_path(), labelSelector="team", limit=2).json()
    assert "continue" in page["metadata"]
    assert "remainingItemCount" not in page["metadata"]
    assert _get(standin, _vulns_path(), labelSelector="team in a").status_code == 400
    unsupported = _get(standin, _vulns_path(), fieldSelector="spec.artifact=x")
    assert (unsupported.status_code, unsupported.json()["message"]) == (
        400,
        "field label not supported: spec.artifact",
    )
    bad_token = _get(standin, _vulns_path(), **{"continue": "bm90LWpzb24"})
    assert bad_token.status_code == 400
    assert bad_token.json()["message"].startswith("invalid continue token: continue key is not valid")


def test_namespace_paths_and_field_selectors_narrow_the_list(standin: KubeStandin) -> None:
    team_b_path = f"/apis/{GROUP}/{VERSION}/namespaces/team-b/vulnerabilityreports"
    namespaced = _get(standin, team_b_path, limit=1).json()
    assert _names(namespaced) == ["team-b/pod-b1"]
    assert _decode(namespaced["metadata"]["continue"])["start"] == "pod-b1\x00"
    assert _names(
        _get(standin, _vulns_path(), fieldSelector="metadata.namespace!=team-a,metadata.name!=pod-b1").json()
    ) == ["team-b/pod-b2", "team-c/pod-c1"]
    by_name = _get(standin, _vulns_path(), fieldSelector="metadata.name=pod-c1").json()
    assert _names(by_name) == ["team-c/pod-c1"]


def test_a_missing_object_is_not_found_with_the_apiservers_message(standin: KubeStandin) -> None:
    standin.add_objects(CLUSTER_VULNS.qualified, [{"metadata": {"name": "node-1"}, "report": {}}])
    assert _get(standin, f"/apis/{GROUP}/{VERSION}/clustervulnerabilityreports/node-1").json()["kind"] == (
        "ClusterVulnerabilityReport"
    )
    missing = _get(standin, f"/apis/{GROUP}/{VERSION}/namespaces/team-a/vulnerabilityreports/gone")
    assert missing.status_code == 404
    assert missing.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'vulnerabilityreports.{GROUP} "gone" not found',
        "reason": "NotFound",
        "details": {"name": "gone", "group": GROUP, "kind": "vulnerabilityreports"},
        "code": 404,
    }


def test_requests_are_recorded_with_path_query_and_status(standin: KubeStandin) -> None:
    standin.clear_requests()
    _get(standin, _vulns_path(), limit=2, labelSelector="team=a")
    _get(standin, "/apis/nope/v1")
    assert [(r.method, r.path, dict(r.query), r.status) for r in standin.requests] == [
        ("GET", _vulns_path(), {"limit": "2", "labelSelector": "team=a"}, 200),
        ("GET", "/apis/nope/v1", {}, 404),
    ]


def test_concurrent_clients_all_get_whole_answers(standin: KubeStandin) -> None:
    results: list[int] = []

    def list_all() -> None:
        with requests.Session() as session:
            for _ in range(10):
                response = session.get(
                    standin.url + _vulns_path(), headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
                )
                results.append(len(response.json()["items"]))

    threads = [threading.Thread(target=list_all) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [5] * 80


def test_close_is_prompt_even_with_a_kept_alive_connection(make_standin: StandinFactory) -> None:
    standin = make_standin([VULNS])
    session = requests.Session()
    warm = session.get(standin.url + "/version", headers={"Authorization": f"Bearer {TOKEN}"})
    assert warm.status_code == 200
    started = time.monotonic()
    standin.close()
    assert time.monotonic() - started < 1
    with pytest.raises(requests.ConnectionError):
        requests.get(standin.url + "/version", timeout=2)
    session.close()


def test_objects_must_name_their_scope_correctly(standin: KubeStandin) -> None:
    with pytest.raises(ValueError, match=r"needs metadata\.namespace"):
        standin.add_objects("vulnerabilityreports", [{"metadata": {"name": "x"}}])
    with pytest.raises(ValueError, match="no served resource"):
        standin.add_objects("pods", [])


def _decode(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    return decoded
