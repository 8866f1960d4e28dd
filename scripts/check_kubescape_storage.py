"""Run kubescape's real storage server behind a real kube-apiserver and compare it with our stand-in.

kubescape/storage is an aggregated API server: kube-apiserver proxies /apis/spdx.softwarecomposition.kubescape.io
to it. Its lists leave the report (``spec``) out unless asked with ``resourceVersion=fullSpec``; the getter's unit
tests rely on tests/kube_standin.py's ``strip_spec_in_list`` modelling that. This script checks the model against
the real thing, and runs the getter on it:

1. etcd + kube-apiserver with aggregation on (tests/k8s/testenv.py), the storage binary beside it on a
   non-loopback address (Endpoints and EndpointSlices refuse loopback), registered as APIService
   v1beta1.spdx.softwarecomposition.kubescape.io;
2. the bundled sample cluster's kubescape objects created through kube-apiserver (the storage refuses the two kinds
   it computes itself, vulnerabilitysummaries and configurationscansummaries);
3. per stored kind, a LIST, a LIST with ``resourceVersion=fullSpec`` and a GET of every object, reduced to what a
   list item lacks or changes against its GET, and the requests to page through with limit=1, beside what the
   stand-in answers for the same objects; the computed kinds' lists at small limits, in a table of their own;
4. the getter: ``report-exporter get`` as the CronJob's ServiceAccount (cronjob/rbac.yaml), every kind complete,
   counts equal to the server's, every archived object equal to its GET; and its fallback path for a storage that
   ignores fullSpec (``listing.iter_pages`` without it, then ``listing.fill_payloads``), which must GET every
   report the plain list left out.

It builds nothing: pass the storage binary (docs/kubescape-storage.md says how it was built) and the directory of
kube-apiserver and etcd (scripts/k8s/ensure-binaries.sh prints it). The storage reads fixed paths
(/etc/config/clusterData.json, /data), so it runs chrooted into a directory of its own, in a private mount
namespace (``unshare``, root or an unprivileged user namespace): nothing is written to the host's /etc or /.

  python scripts/check_kubescape_storage.py --storage-binary /tmp/ksbuild/bin/kubescape-storage \
      --k8s-bin-dir ~/.cache/report-exporter/k8s/v1.34.3 [--host 192.0.2.2] [--workdir /tmp/ksrun] \
      [--page-size 2] [--keep]

Prints the tables (markdown) and one ``MISMATCH:`` line per disagreement. Exit status: 0 the stand-in lists like
the real server and the getter archived every report whole, 1 a mismatch, 2 the environment could not be started.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


from exporter.catalog import CATALOG, KUBESCAPE_GROUP, KUBESCAPE_VERSION, ReportKind, Scanner  # noqa: E402
from exporter.config import load_settings  # noqa: E402
from exporter.filesource import FileScan, iter_report_objects  # noqa: E402
from exporter.kube.api import connect  # noqa: E402
from exporter.kube.listing import ListQuery, collection_path, fill_payloads, iter_pages, object_path  # noqa: E402
from exporter.rundir import reader  # noqa: E402
from exporter.samples import sample_cluster_dir  # noqa: E402
from tests.k8s.testenv import KubeTestEnv, KubeTestEnvError, _die_with_parent  # noqa: E402
from tests.kube_standin import FULL_SPEC, KubeStandin, ServedResource  # noqa: E402

KUBESCAPE_KINDS = tuple(kind for kind in CATALOG if kind.scanner is Scanner.KUBESCAPE)
STORAGE_NAMESPACE = "kubescape"
STORAGE_SERVICE = "storage"
RBAC = REPO / "cronjob" / "rbac.yaml"
START_TIMEOUT = 120.0


class SetupError(RuntimeError):
    """The environment (kube-apiserver, the storage, the APIService) could not be brought up."""


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=_mkdir(args.workdir)))
    if args.keep:
        os.environ["K8S_TESTENV_KEEP"] = "1"
    print(f"work directory: {workdir}", file=sys.stderr)
    try:
        with KubeTestEnv(args.k8s_bin_dir, workdir=workdir / "kube", aggregation=True) as kube:
            kube.create_namespace(STORAGE_NAMESPACE)
            with StorageServer(args.storage_binary, kube, workdir / "storage", host=args.host) as storage:
                kube.register_api_service(
                    KUBESCAPE_GROUP,
                    KUBESCAPE_VERSION,
                    host=storage.host,
                    port=storage.port,
                    namespace=STORAGE_NAMESPACE,
                    service=STORAGE_SERVICE,
                )
                return check(kube, workdir, page_size=args.page_size)
    except (SetupError, KubeTestEnvError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        if not args.keep:  # the storage's mounts lived in its own mount namespace, gone with it
            shutil.rmtree(workdir, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ the storage


class StorageServer:
    """kubescape/storage's binary, chrooted into ``root_dir`` and listening on ``host``:a free port.

    The binary's paths are fixed in main.go (v0.0.220): /etc/config/clusterData.json and config.json (the latter
    movable with CONFIG_DIR), its data under /data (file.DefaultStorageRoot, SQLite metadata.sq3 and gob payloads
    opened with O_DIRECT), and ~/.kube/config for its cleanup client when not in a Pod. A chroot gives it all of
    them without touching the host; the binary is static (CGO_ENABLED=0), so it needs no libraries there.
    """

    def __init__(self, binary: Path, kube: KubeTestEnv, root_dir: Path, *, host: str) -> None:
        self.binary, self.kube, self.root = Path(binary).resolve(), kube, root_dir
        self.host, self.port = host, _free_port("0.0.0.0")
        self.log_path = root_dir.parent / "storage.log"
        self._popen: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> StorageServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        self._prepare_root()
        mounts = " && ".join(
            [
                f"mount --bind {_q(self.binary)} {_q(self.root / 'storage')}",
                f"mount --rbind /proc {_q(self.root / 'proc')}",
                f"mount --rbind /dev {_q(self.root / 'dev')}",
                f"exec chroot {_q(self.root)} /storage",
            ]
        )
        unshare = ["unshare", "--mount", "--propagation", "private"]
        if os.geteuid() != 0:
            unshare[1:1] = ["--user", "--map-root-user"]
        with self.log_path.open("wb") as log:
            self._popen = subprocess.Popen(
                [*unshare, "sh", "-c", mounts],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={
                    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                    "HOME": "/home/storage",
                    # rest.InClusterConfig(): the storage's informers, its delegated authentication (it reads
                    # kube-system/extension-apiserver-authentication) and its cleanup client, as in a Pod.
                    "KUBERNETES_SERVICE_HOST": "127.0.0.1",
                    "KUBERNETES_SERVICE_PORT": str(self.kube.port),
                },
                start_new_session=True,
                # unshare, sh and chroot each exec the next, so the storage itself dies with this process.
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only calls prctl(2)
            )
        self._wait_ready()

    def stop(self) -> None:
        if self._popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._popen.pid, signal.SIGTERM)
        try:
            self._popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._popen.pid, signal.SIGKILL)
            self._popen.wait()
        self._popen = None

    def _prepare_root(self) -> None:
        account = self.root / "var/run/secrets/kubernetes.io/serviceaccount"
        for sub in ("etc/config", "data", "proc", "dev", "tmp", "run/storage", "home/storage", account):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").chmod(0o1777)
        (self.root / "storage").touch()  # the mount point of the binary
        cluster_data = {"clusterName": "testenv", "namespace": STORAGE_NAMESPACE, "accountID": ""}
        (self.root / "etc/config/clusterData.json").write_text(json.dumps(cluster_data))
        # main.go calls Go's flag.Parse() before cobra sees the command line, so the server's own flags
        # (--secure-port, --tls-cert-file, ...) are refused: the port and certificate come from config.json,
        # as in kubescape's Helm chart; it listens on every address (bind address 0.0.0.0).
        config = {
            "serverBindPort": self.port,
            "tlsServerCertFile": "/run/storage/serving.crt",
            "tlsServerKeyFile": "/run/storage/serving.key",
            "cleanupInterval": "24h",
        }
        (self.root / "etc/config/config.json").write_text(json.dumps(config))
        # kube-apiserver verifies the Service's name; the IP lets this script probe /readyz directly.
        self.kube.issue_serving_cert(
            self.root / "run/storage", dns_names=[f"{STORAGE_SERVICE}.{STORAGE_NAMESPACE}.svc"], ips=[self.host]
        )
        self.kube.create_service_account(STORAGE_NAMESPACE, STORAGE_SERVICE)
        self.kube.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "kubescape-storage-testenv"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "namespace": STORAGE_NAMESPACE, "name": STORAGE_SERVICE}],
        })  # fmt: skip
        (account / "token").write_text(self.kube.sa_token(STORAGE_NAMESPACE, STORAGE_SERVICE, expiration_seconds=7200))
        (account / "ca.crt").write_bytes((self.kube.dir / "pki" / "ca.crt").read_bytes())
        (account / "namespace").write_text(STORAGE_NAMESPACE)

    def _wait_ready(self) -> None:
        context = ssl.create_default_context(cafile=str(self.kube.dir / "pki" / "ca.crt"))
        url = f"https://{self.host}:{self.port}/readyz"
        deadline = time.monotonic() + START_TIMEOUT
        last: object = None
        while time.monotonic() < deadline:
            assert self._popen is not None
            if self._popen.poll() is not None:
                raise SetupError(f"the storage exited with {self._popen.returncode}:\n{self._log_tail()}")
            try:
                with urllib.request.urlopen(url, context=context, timeout=5) as response:
                    if response.status == 200:
                        return
            except (OSError, ValueError) as error:
                last = error
            time.sleep(0.5)
        raise SetupError(f"the storage was not ready after {START_TIMEOUT:.0f}s ({last}):\n{self._log_tail()}")

    def _log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


# ------------------------------------------------------------------------------------------------ the check


LIST_MODES = {"list": "", "list fullSpec": f"resourceVersion={FULL_SPEC}"}
COMPARE_HEADER = ["kind", "created", "listed", "request", "real: item vs GET", "stand-in: item vs GET",
                  "real pages (limit=1)", "stand-in pages", "same"]  # fmt: skip
COMPUTED_HEADER = ["kind", "request", "items", "continue", "item vs GET"]


@dataclass(frozen=True)
class KindObservation:
    """What one server answered for one kind: objects, and per list mode how its items differ from their GETs."""

    created: int  # objects POSTed and accepted (0 for the storage's computed kinds)
    served: int  # objects a plain list returns
    shapes: dict[str, str]  # list mode -> "what list items lack or change against the GET", e.g. "-spec"
    pages: dict[str, int]  # list mode -> requests to page through it with limit=1
    gets: dict[tuple[str, str], dict[str, Any]]  # (namespace, name) -> the GET, without apiVersion/kind


def check(kube: KubeTestEnv, workdir: Path, *, page_size: int) -> int:
    """Create the sample objects, compare the real storage with the stand-in, run the getter; 0 when all agree."""
    created = create_sample_objects(kube)
    real = {kind: observe(kube.request, kind, created.get(kind, 0)) for kind in KUBESCAPE_KINDS}
    stored = {kind: seen for kind, seen in real.items() if seen.created}
    computed = [kind for kind, seen in real.items() if not seen.created]
    rows, mismatches = compare(stored, observe_standin(stored))
    print("## Lists against GETs, real storage and stand-in\n")
    print(markdown_table(rows))
    print("\n## Kinds the storage computes (POST refused), their lists at small limits\n")
    print(markdown_table(computed_rows(kube, computed), header=COMPUTED_HEADER))
    problems = mismatches + fallback_problems(kube, stored) + run_getter(kube, workdir, real, page_size=page_size)
    print()
    for problem in problems:
        print(f"MISMATCH: {problem}")
    if not problems:
        print("all agree: the stand-in lists like the real storage, the getter archived every report whole")
    return 1 if problems else 0


def create_sample_objects(kube: KubeTestEnv) -> dict[ReportKind, int]:
    """POST the bundled sample cluster's kubescape objects; the storage computes some kinds itself and refuses them."""
    created: dict[ReportKind, int] = {}
    refused: dict[ReportKind, str] = {}
    for kind, obj in iter_report_objects(sample_cluster_dir(), FileScan()):
        if kind.scanner is not Scanner.KUBESCAPE:
            continue
        namespace = obj["metadata"].get("namespace")
        if namespace and kube.request("GET", f"/api/v1/namespaces/{namespace}").status == 404:
            kube.create_namespace(namespace)
        metadata = {k: v for k, v in obj["metadata"].items() if k in ("name", "namespace", "labels", "annotations")}
        status, body = kube.request("POST", collection_path(kind, namespace), {**obj, "metadata": metadata})
        if status == 201:
            created[kind] = created.get(kind, 0) + 1
        else:
            refused[kind] = f"{status} {body.get('message', body) if isinstance(body, dict) else body}"
    for kind, reason in refused.items():
        print(f"create {kind.plural}: refused ({reason})", file=sys.stderr)
    return created


def observe(request: Any, kind: ReportKind, created: int) -> KindObservation:
    """List the kind both ways and GET every listed object through ``request`` (KubeTestEnv.request's signature)."""
    base = collection_path(kind)
    items: dict[str, list[dict[str, Any]]] = {}
    pages: dict[str, int] = {}
    for mode, query in LIST_MODES.items():
        status, body = request("GET", f"{base}?{query}")
        if status != 200:
            raise SetupError(f"LIST {base}?{query} answered {status}: {body}")
        items[mode] = body["items"]
        pages[mode] = _count_pages(request, base, query)
    gets: dict[tuple[str, str], dict[str, Any]] = {}
    for item in items["list"]:
        namespace, name = item["metadata"].get("namespace"), item["metadata"]["name"]
        status, whole = request("GET", object_path(kind, namespace, name))
        if status != 200:
            raise SetupError(f"GET {object_path(kind, namespace, name)} answered {status}: {whole}")
        gets[(namespace or "", name)] = {k: v for k, v in whole.items() if k not in ("apiVersion", "kind")}
    shapes = {mode: _shape(listed, gets) for mode, listed in items.items()}
    return KindObservation(created, len(items["list"]), shapes, pages, gets)


def observe_standin(real: Mapping[ReportKind, KindObservation]) -> dict[ReportKind, KindObservation]:
    """The stand-in as the getter's unit tests configure it, holding exactly what the real server's GETs returned."""
    resources = [
        ServedResource(k.group, k.version, k.plural, k.kind, k.namespaced, list_items_carry_type=False) for k in real
    ]
    with KubeStandin(resources) as standin:
        token = "test-token"
        for kind, seen in real.items():
            standin.add_objects((kind.plural, kind.group), seen.gets.values())
            standin.strip_spec_in_list((kind.plural, kind.group))

        def request(method: str, path: str) -> tuple[int, Any]:
            http_request = urllib.request.Request(standin.url + path, method=method)
            http_request.add_header("Authorization", f"Bearer {token}")
            try:
                with urllib.request.urlopen(http_request, timeout=30) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read())

        return {kind: observe(request, kind, seen.created) for kind, seen in real.items()}


def compare(
    real: Mapping[ReportKind, KindObservation], standin: Mapping[ReportKind, KindObservation]
) -> tuple[list[list[str]], list[str]]:
    rows: list[list[str]] = []
    mismatches: list[str] = []
    for kind, seen in real.items():
        model = standin[kind]
        for mode in LIST_MODES:
            same = seen.shapes[mode] == model.shapes[mode]
            counts = [str(seen.created), str(seen.served)]
            shapes = [seen.shapes[mode], model.shapes[mode], str(seen.pages[mode]), str(model.pages[mode])]
            rows.append([kind.plural, *counts, mode, *shapes, "yes" if same else "NO"])
            if not same:
                mismatches.append(f"{kind.plural} {mode}: real {seen.shapes[mode]!r}, stand-in {model.shapes[mode]!r}")
    return rows, mismatches


def markdown_table(rows: Iterable[list[str]], header: list[str] = COMPARE_HEADER) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def computed_rows(kube: KubeTestEnv, computed: Iterable[ReportKind]) -> list[list[str]]:
    """How the computed kinds list: the storage builds them from a list of the namespaced summaries, whose
    ``limit`` and ``resourceVersion`` it passes on, and whose continue token it drops."""
    rows: list[list[str]] = []
    for kind in computed:
        for query in ("", "limit=1", "limit=2", f"resourceVersion={FULL_SPEC}", f"resourceVersion={FULL_SPEC}&limit=2"):
            status, body = kube.request("GET", f"{collection_path(kind)}?{query}")
            if status != 200:
                rows.append([kind.plural, query or "(none)", f"HTTP {status}", "", ""])
                continue
            gets = {}
            for item in body["items"]:
                _, whole = kube.request("GET", object_path(kind, None, item["metadata"]["name"]))
                gets[("", item["metadata"]["name"])] = {
                    k: v for k, v in whole.items() if k not in ("apiVersion", "kind")
                }
            token = (body.get("metadata") or {}).get("continue") or "none"
            rows.append([kind.plural, query or "(none)", str(len(body["items"])), token, _shape(body["items"], gets)])
    return rows


def fallback_problems(kube: KubeTestEnv, stored: Mapping[ReportKind, KindObservation]) -> list[str]:
    """The getter's own listing on a plain list (what it does when a storage refuses or ignores fullSpec).

    ``listing.iter_pages`` without fullSpec, then ``listing.fill_payloads``, which must GET every item the list
    left without its report; an item kept as listed is archived with the storage's zero-valued ``spec``.
    """
    api = connect(load_settings(environ={}, flags={"kube.kubeconfig": kube.kubeconfig}).kube)
    problems: list[str] = []
    for kind, seen in stored.items():
        kept_as_listed = 0
        for listed in iter_pages(api, ListQuery(kind, 500)):
            for item in fill_payloads(api, kind, listed, concurrency=2).items:
                whole = item.to_dict()
                if (
                    whole.get("spec")
                    != seen.gets[(whole["metadata"].get("namespace", ""), whole["metadata"]["name"])]["spec"]
                ):
                    kept_as_listed += 1
        if kept_as_listed:
            problems.append(
                f"getter fallback (plain list + fill_payloads) {kind.plural}: {kept_as_listed} of {seen.served} "
                "objects kept with the listed zero-valued spec instead of being fetched"
            )
    return problems


def run_getter(
    kube: KubeTestEnv, workdir: Path, real: Mapping[ReportKind, KindObservation], *, page_size: int
) -> list[str]:
    """``report-exporter get`` as the CronJob's ServiceAccount; what it archived against the server's GETs."""
    kube.create_namespace("report-exporter")
    try:
        kube.apply_rbac(RBAC)
    except KubeTestEnvError as error:
        raise SetupError(f"applying {error}") from None
    kubeconfig = kube.sa_kubeconfig("report-exporter", "report-exporter", workdir / "report-exporter.kubeconfig")
    completed = subprocess.run(
        [sys.executable, "-m", "exporter", "get", "--out", str(workdir / "runs"), "--kubeconfig", str(kubeconfig),
         "--page-size", str(page_size), "--log-format", "json"],
        capture_output=True, text=True, timeout=600, check=False, cwd=REPO,
    )  # fmt: skip
    (workdir / "get.log").write_text(completed.stderr)
    if completed.returncode != 0:
        return [f"report-exporter get exited with {completed.returncode}: {completed.stderr[-2000:]}"]
    run_dir = Path(completed.stdout.strip())
    print(f"getter run directory: {run_dir}", file=sys.stderr)
    problems = [f"run directory: {problem}" for problem in reader.verify(run_dir)]
    entries = {entry["plural"]: entry for entry in reader.read_manifest(run_dir)["kinds"]}
    for kind, seen in real.items():
        entry = entries[kind.plural]
        if entry["status"] != "complete" or entry["objects"] != seen.served:
            problems.append(f"getter {kind.plural}: {entry['status']}, {entry['objects']} objects, server has "
                            f"{seen.served}")  # fmt: skip
            continue
        for obj in reader.iter_objects(run_dir, entry):
            key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            archived = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
            expected = dict(seen.gets[key])
            expected["metadata"] = {k: v for k, v in expected["metadata"].items() if k != "managedFields"}
            if not seen.created:  # computed per request: a fresh creationTimestamp, references in any order
                archived, expected = _computed_content(archived), _computed_content(expected)
            if archived != expected or obj["apiVersion"] != kind.api_version or obj["kind"] != kind.kind:
                problems.append(f"getter {kind.plural} {key}: archived object differs from its GET")
    return problems


def _computed_content(obj: Mapping[str, Any]) -> dict[str, Any]:
    metadata = {k: v for k, v in obj["metadata"].items() if k != "creationTimestamp"}
    spec = {k: _sorted(v) if isinstance(v, list) else v for k, v in (obj.get("spec") or {}).items()}
    return {**obj, "metadata": metadata, "spec": spec}


def _shape(listed: list[dict[str, Any]], gets: Mapping[tuple[str, str], dict[str, Any]]) -> str:
    """What list items lack (-key), add (+key) or change (~key) against their GETs, over all items.

    A changed ``spec`` reads ``~spec(empty)`` when the item's holds nothing but zeros, empty strings and nulls;
    otherwise its changed fields are named, with ``(zeros)`` or ``(order)`` when that is all that differs.
    """
    if not listed:
        return "(no items)"
    marks: set[str] = set()
    for item in listed:
        whole = gets[(item["metadata"].get("namespace") or "", item["metadata"]["name"])]
        marks.update(f"-{key}" for key in whole.keys() - item.keys())
        marks.update(f"+{key}" for key in item.keys() - whole.keys())
        for key in sorted(whole.keys() & item.keys()):
            if item[key] == whole[key]:
                continue
            if key == "metadata":
                marks.update(_metadata_marks(item[key], whole[key]))
            elif not _has_content(item[key]):
                marks.add(f"~{key}(empty)")
            elif isinstance(item[key], dict) and isinstance(whole[key], dict):
                marks.update(_field_marks(key, item[key], whole[key]))
            else:
                marks.add(f"~{key}")
    return ", ".join(sorted(marks)) or "whole"


def _metadata_marks(listed: Mapping[str, Any], whole: Mapping[str, Any]) -> set[str]:
    marks = {
        f"~metadata.{key}"
        for key in listed.keys() | whole.keys()
        if key != "annotations" and listed.get(key) != whole.get(key)
    }
    listed_annotations, whole_annotations = listed.get("annotations") or {}, whole.get("annotations") or {}
    marks.update(f"+annotation {key}" for key in listed_annotations.keys() - whole_annotations.keys())
    marks.update(f"-annotation {key}" for key in whole_annotations.keys() - listed_annotations.keys())
    marks.update(
        f"~annotation {key}"
        for key in listed_annotations.keys() & whole_annotations.keys()
        if listed_annotations[key] != whole_annotations[key]
    )
    return marks


def _field_marks(prefix: str, listed: Mapping[str, Any], whole: Mapping[str, Any]) -> set[str]:
    marks: set[str] = set()
    for key in listed.keys() | whole.keys():
        mine, theirs = listed.get(key), whole.get(key)
        if mine == theirs:
            continue
        if not _has_content(mine):
            marks.add(f"~{prefix}.{key}(zeros)")
        elif isinstance(mine, list) and isinstance(theirs, list) and _sorted(mine) == _sorted(theirs):
            marks.add(f"~{prefix}.{key}(order)")
        else:
            marks.add(f"~{prefix}.{key}")
    return marks


def _sorted(values: list[Any]) -> list[str]:
    return sorted(json.dumps(value, sort_keys=True) for value in values)


def _has_content(value: Any) -> bool:
    """Whether a value holds anything but empty containers, empty strings, zeros, false and nulls."""
    if isinstance(value, dict):
        return any(_has_content(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_content(v) for v in value)
    return bool(value)


def _count_pages(request: Any, base: str, query: str) -> int:
    """Requests needed to page through a list with limit=1, following continue tokens until none is returned."""
    pages, token = 0, ""
    while True:
        params = "&".join(p for p in (query, "limit=1", f"continue={urllib.parse.quote(token)}" if token else "") if p)
        status, body = request("GET", f"{base}?{params}")
        pages += 1
        if status != 200:
            raise SetupError(f"LIST {base}?{params} answered {status}: {body}")
        token = (body.get("metadata") or {}).get("continue") or ""
        if not token or pages > 1000:
            return pages


# ------------------------------------------------------------------------------------------------ helpers


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage-binary", type=Path, required=True, help="kubescape/storage server binary")
    parser.add_argument("--k8s-bin-dir", type=Path, required=True, help="directory with kube-apiserver and etcd")
    parser.add_argument("--host", default=None, help="non-loopback address to serve the storage on (default: "
                        "the source address of the default route)")  # fmt: skip
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ksrun"), help="parent of the run's directory")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs, data, PKI)")
    parser.add_argument("--page-size", type=int, default=2, help="the getter's --page-size (default 2: several "
                        "pages, continue tokens, on the few sample objects)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.host is None:
        args.host = _default_host()
    return args


def _default_host() -> str:
    """The address this host sends from on its default route: a UDP connect() sends nothing."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))
        except OSError as error:
            raise SystemExit(f"no default route to find a non-loopback address ({error}): pass --host") from None
        address = str(sock.getsockname()[0])
    if address.startswith("127."):
        raise SystemExit("the default route leaves from a loopback address: pass --host")
    return address


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _q(path: Path) -> str:
    return "'" + str(path).replace("'", "'\\''") + "'"


if __name__ == "__main__":
    sys.exit(main())
