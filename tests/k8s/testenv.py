"""A real etcd + kube-apiserver on 127.0.0.1 for integration tests.

Nothing else of a cluster runs (no controller-manager, scheduler or kubelet):
objects are stored, validated, admitted and authorized exactly as in a
cluster, but no controller acts on them. Consequences worth knowing:

* new namespaces get no ``default`` ServiceAccount and deleted namespaces stay
  ``Terminating``, so tests use fresh, unique names;
* the ServiceAccount admission plugin is disabled (it would reject Pods that
  name a ServiceAccount no controller will ever create);
* tokens come from the TokenRequest API, which kube-apiserver serves itself.

    with KubeTestEnv(bin_dir) as kube:
        kube.create_namespace("ns")
        kube.create_service_account("ns", "reader")
        token = kube.sa_token("ns", "reader")
        status, body = kube.request("GET", "/api/v1/namespaces/ns/secrets", token=token)

Aggregation (``aggregation=True``, off by default) adds a front-proxy CA and
client certificate and the kube-apiserver flags that proxy to an aggregated API
server (kubescape's storage, metrics-server); ``register_api_service`` then
points an APIService at a server listening on a non-loopback host:port.

Run-time dependencies: the standard library and ``cryptography`` (for the PKI).
CRD manifests are sent to the server as YAML, so no YAML parser is needed.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import dataclasses
import datetime
import http.client
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
FRONT_PROXY_CLIENT_NAME = "front-proxy-client"
_CA_COMMON_NAME = "report-exporter-testenv-ca"
KEEP_WORKDIR_ENV = "K8S_TESTENV_KEEP"
_CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
_FIELD_MANAGER = "report-exporter-testenv"
_PORT_ATTEMPTS = 3
_PR_SET_PDEATHSIG = 1
# Condition times have whole-second precision, so the server's "less than 2 s
# ago" can be true up to 3 s after the real transition; waiting until the
# truncated time + 2 s (plus a little) is exactly enough.
_CRD_CREATE_GRACE_SECONDS = 2.05
_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded before fork: the child only calls it


class KubeTestEnvError(RuntimeError):
    """The test environment could not start or a harness call failed."""


class ApiResponse(NamedTuple):
    """Status code and body of one API call; unpacks as ``status, body``."""

    status: int
    body: Any  # parsed JSON, or text when the server did not answer JSON


class KubeTestEnv:
    """etcd + kube-apiserver in a temporary directory, on free loopback ports.

    Admin calls authenticate with a client certificate in ``system:masters``
    (the same identity as :attr:`kubeconfig`); calls with ``token=`` present
    only that bearer token, so RBAC decides as it would for the real caller.
    """

    def __init__(
        self,
        bin_dir: Path,
        *,
        workdir: Path | None = None,
        start_timeout: float = 90.0,
        extra_apiserver_args: Iterable[str] = (),
        aggregation: bool = False,
    ) -> None:
        self.bin_dir = Path(bin_dir)
        self.aggregation = aggregation
        self.dir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="k8s-testenv-"))
        self.start_timeout = start_timeout
        self.extra_apiserver_args = tuple(extra_apiserver_args)
        self.kubeconfig = self.dir / "admin.kubeconfig"
        self.port = 0
        self.url = ""
        self._pki: Pki | None = None
        self._processes: list[_Process] = []
        self._admin_tls: ssl.SSLContext | None = None
        self._token_tls: ssl.SSLContext | None = None

    def __enter__(self) -> KubeTestEnv:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start etcd, then kube-apiserver; return once /readyz says ok.

        Free ports are picked by binding port 0 and releasing it, so another
        process can take one before we bind it again; such a clash is retried
        with new ports instead of failing the test session.
        """
        self._pki = make_pki(self.dir / "pki", aggregation=self.aggregation)
        self._admin_tls = self._tls_context(client_cert=True)
        self._token_tls = self._tls_context(client_cert=False)
        try:
            self._start_processes_on_free_ports()
        except BaseException:
            self.stop()
            raise
        self._write_kubeconfig(
            self.kubeconfig,
            user={
                "client-certificate-data": _b64(self._pki.admin_cert.read_bytes()),
                "client-key-data": _b64(self._pki.admin_key.read_bytes()),
            },
        )

    def stop(self) -> None:
        """Stop both processes (SIGTERM, then SIGKILL) and remove the work dir.

        Set K8S_TESTENV_KEEP=1 to keep the directory (logs, PKI, etcd data)
        for a post-mortem.
        """
        self._stop_processes()
        if os.environ.get(KEEP_WORKDIR_ENV) != "1":
            shutil.rmtree(self.dir, ignore_errors=True)

    # -------------------------------------------------------------- clients

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | str | bytes | None = None,
        token: str | None = None,
        *,
        content_type: str | None = None,
    ) -> ApiResponse:
        """One raw API call; never raises for HTTP error statuses.

        ``body``: a mapping is sent as JSON, text or bytes as YAML unless
        ``content_type`` says otherwise (e.g. ``application/merge-patch+json``).
        ``token``: None calls as the admin; a token calls as its owner.
        """
        data, default_type = _encode_body(body)
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", content_type or default_type)
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        context = self._token_tls if token is not None else self._admin_tls
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return ApiResponse(status, json.loads(raw))
        except ValueError:
            return ApiResponse(status, raw.decode(errors="replace"))

    def apply_crds(self, paths: Iterable[Path]) -> list[str]:
        """Create (or server-side apply) the CRDs in these YAML files and wait until served.

        Returns the CRD names. A CRD counts as ready when it is Established and
        a list of its resource answers 200, so the next create cannot 404.

        Then it also waits out the create grace period: kube-apiserver delays
        every create of a custom resource by 2 s while its CRD was Established
        less than 2 s ago (apiextensions-apiserver customresource_handler.go,
        meant for HA servers). Paying that once here keeps it out of the
        first test's timings.
        """
        crds: list[dict[str, Any]] = []
        for path in paths:
            for document in _yaml_documents(Path(path).read_text()):
                crds.append(self._create_or_apply_crd(document, origin=Path(path)))
        established_at = max((self._wait_until_served(crd) for crd in crds), default=0.0)
        time.sleep(max(0.0, established_at + _CRD_CREATE_GRACE_SECONDS - time.time()))
        return [crd["metadata"]["name"] for crd in crds]

    def create_namespace(self, name: str) -> dict[str, Any]:
        """Create a namespace; names must be fresh (deletion never completes here)."""
        return self._create(
            "/api/v1/namespaces",
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name},
            },
        )

    def create_service_account(self, namespace: str, name: str) -> dict[str, Any]:
        """Create a ServiceAccount (no controller creates ``default`` for us)."""
        return self._create(
            f"/api/v1/namespaces/{namespace}/serviceaccounts",
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": name},
            },
        )

    def apply_rbac(self, manifest: Path) -> None:
        """The ServiceAccounts, ClusterRoles and ClusterRoleBindings of one YAML file, created as `kubectl create -f`
        creates them; KubeTestEnvError names the first the server refuses."""
        paths = {
            "ServiceAccount": "/api/v1/namespaces/{namespace}/serviceaccounts",
            "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        }
        for document in yaml.safe_load_all(manifest.read_text()):
            path = paths[document["kind"]].format(namespace=document["metadata"].get("namespace", "default"))
            status, body = self.request("POST", path, document)
            if status != 201:
                raise KubeTestEnvError(f"{manifest.name}: {document['kind']} answered {status}: {_message(body)}")

    def sa_token(
        self,
        namespace: str,
        name: str,
        *,
        expiration_seconds: int = 3600,
        audiences: list[str] | None = None,
    ) -> str:
        """Mint a bound token for a ServiceAccount via the TokenRequest API.

        The server refuses expirations under 600 s; the default audience is
        the API server's own (the issuer), which is what RBAC tests need.
        """
        spec: dict[str, Any] = {"expirationSeconds": expiration_seconds}
        if audiences:
            spec["audiences"] = audiences
        token_request = self._create(
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
        )
        return str(token_request["status"]["token"])

    def sa_kubeconfig(self, namespace: str, name: str, path: Path) -> Path:
        """Write a kubeconfig that acts as the ServiceAccount, with a fresh token."""
        self._write_kubeconfig(Path(path), user={"token": self.sa_token(namespace, name)})
        return Path(path)

    # ---------------------------------------------------------- aggregation

    def issue_serving_cert(
        self, directory: Path, *, dns_names: Iterable[str], ips: Iterable[str] = ()
    ) -> tuple[Path, Path]:
        """A serving certificate (and key) for an aggregated API server, signed by the testenv CA.

        kube-apiserver dials the endpoint address but verifies the certificate for the Service's name,
        ``<service>.<namespace>.svc``, against the APIService's caBundle (the testenv CA).
        """
        pki = self._aggregation_pki()
        assert pki.ca_key is not None
        directory.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = directory / "serving.crt", directory / "serving.key"
        ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        names = list(dns_names)
        sans: list[x509.GeneralName] = [x509.DNSName(name) for name in names]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        _issue(
            _Issuer(ca_key, _x509_name(_CA_COMMON_NAME), _not_before()),
            cert_path,
            key_path,
            _x509_name(names[0] if names else "aggregated-apiserver"),
            ExtendedKeyUsageOID.SERVER_AUTH,
            sans,
        )
        return cert_path, key_path

    def register_api_service(
        self,
        group: str,
        version: str,
        *,
        host: str,
        port: int,
        namespace: str,
        service: str,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """Route ``/apis/<group>/<version>`` to an aggregated server at ``host:port``; wait until Available.

        Creates a selector-less Service, its Endpoints and an EndpointSlice (kube-apiserver v1.34's aggregator
        resolves endpoints from EndpointSlices; no controller here mirrors Endpoints into one), then the
        APIService with the testenv CA as caBundle. ``host`` must not be a loopback address: Endpoints and
        EndpointSlice validation rejects 127.0.0.0/8. The server's certificate must name
        ``<service>.<namespace>.svc`` (see :meth:`issue_serving_cert`).
        """
        pki = self._aggregation_pki()
        self._create(
            f"/api/v1/namespaces/{namespace}/services",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": service},
                "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]},
            },
        )
        self._create(
            f"/api/v1/namespaces/{namespace}/endpoints",
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": service},
                "subsets": [
                    {"addresses": [{"ip": host}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}
                ],
            },
        )
        self._create(
            f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {"name": f"{service}-testenv", "labels": {"kubernetes.io/service-name": service}},
                "addressType": "IPv6" if ":" in host else "IPv4",
                "endpoints": [{"addresses": [host], "conditions": {"ready": True}}],
                "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
            },
        )
        name = f"{version}.{group}"
        self._create(
            "/apis/apiregistration.k8s.io/v1/apiservices",
            {
                "apiVersion": "apiregistration.k8s.io/v1",
                "kind": "APIService",
                "metadata": {"name": name},
                "spec": {
                    "group": group,
                    "version": version,
                    "service": {"namespace": namespace, "name": service, "port": 443},
                    "caBundle": _b64(pki.ca_cert.read_bytes()),
                    "groupPriorityMinimum": 1000,
                    "versionPriority": 15,
                },
            },
        )
        return self._wait_until_available(name, f"/apis/{group}/{version}", timeout)

    # ------------------------------------------------------------ internals

    def _start_processes_on_free_ports(self) -> None:
        for _ in range(_PORT_ATTEMPTS - 1):
            try:
                self._start_processes()
                return
            except _PortInUseError:
                self._stop_processes()
        self._start_processes()

    def _start_processes(self) -> None:
        shutil.rmtree(self.dir / "etcd", ignore_errors=True)  # a retry must not see the old member
        etcd_port, etcd_peer_port, self.port = _free_port(), _free_port(), _free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        etcd = self._spawn(
            "etcd", _etcd_args(self.bin_dir / "etcd", self.dir / "etcd", etcd_url, f"http://127.0.0.1:{etcd_peer_port}")
        )
        self._wait_for(etcd, lambda: _http_ok(f"{etcd_url}/health"))
        assert self._pki is not None
        apiserver = self._spawn(
            "kube-apiserver",
            [
                *_overridable(
                    [
                        *_apiserver_args(self.bin_dir / "kube-apiserver", self._pki, self.dir, etcd_url, self.port),
                        *(_aggregation_args(self._pki) if self.aggregation else []),
                    ],
                    self.extra_apiserver_args,
                ),
                *self.extra_apiserver_args,
            ],
        )
        self._wait_for(apiserver, lambda: self.request("GET", "/readyz").status == 200)

    def _spawn(self, name: str, argv: list[str]) -> _Process:
        log_path = self.dir / f"{name}.log"
        log = log_path.open("wb")
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only calls prctl(2), see there
        )
        process = _Process(name, popen, log, log_path)
        self._processes.append(process)
        return process

    def _wait_for(self, process: _Process, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.start_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                log = process.log_tail()
                if "address already in use" in log:
                    raise _PortInUseError(process.name)
                raise KubeTestEnvError(f"{process.name} exited with {process.popen.returncode}:\n{log}")
            try:
                if ready():
                    return
            except (OSError, ValueError, http.client.HTTPException) as error:
                last_error = error
            time.sleep(0.1)
        raise KubeTestEnvError(
            f"{process.name} not ready after {self.start_timeout:.0f}s ({last_error}):\n{process.log_tail()}"
        )

    def _stop_processes(self) -> None:
        for process in reversed(self._processes):
            process.stop()
        self._processes.clear()

    def _tls_context(self, *, client_cert: bool) -> ssl.SSLContext:
        assert self._pki is not None
        context = ssl.create_default_context(cafile=str(self._pki.ca_cert))
        if client_cert:
            context.load_cert_chain(str(self._pki.admin_cert), str(self._pki.admin_key))
        return context

    def _create(self, path: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        status, body = self.request("POST", path, obj)
        if status != 201:
            raise KubeTestEnvError(f"POST {path} answered {status}: {_message(body)}")
        return dict(body)

    def _create_or_apply_crd(self, document: str, *, origin: Path) -> dict[str, Any]:
        status, body = self.request("POST", _CRD_PATH, document)
        if status == 409:
            name = body["details"]["name"]
            status, body = self.request(
                "PATCH",
                f"{_CRD_PATH}/{name}?fieldManager={_FIELD_MANAGER}&force=true",
                document,
                content_type="application/apply-patch+yaml",
            )
        if status not in (200, 201):
            raise KubeTestEnvError(f"CRD from {origin} rejected with {status}: {_message(body)}")
        return dict(body)

    def _wait_until_served(self, crd: Mapping[str, Any]) -> float:
        """Wait until the CRD's resource is served; return when it became Established (epoch s)."""
        name = crd["metadata"]["name"]
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        version = next(v["name"] for v in crd["spec"]["versions"] if v.get("served"))
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            _, current = self.request("GET", f"{_CRD_PATH}/{name}")
            status = current.get("status") if isinstance(current, dict) else None
            conditions = (status or {}).get("conditions") or []  # both are null right after create
            established = next((c for c in conditions if c["type"] == "Established" and c["status"] == "True"), None)
            if established and self.request("GET", f"/apis/{group}/{version}/{plural}?limit=1").status == 200:
                return _epoch_seconds(established["lastTransitionTime"])
            time.sleep(0.1)
        raise KubeTestEnvError(f"CRD {name} not served after {self.start_timeout:.0f}s")

    def _aggregation_pki(self) -> Pki:
        if self._pki is None or self._pki.front_proxy_ca_cert is None:
            raise KubeTestEnvError("aggregated API servers need KubeTestEnv(..., aggregation=True), started")
        return self._pki

    def _wait_until_available(self, name: str, discovery_path: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        current: Any = None
        while time.monotonic() < deadline:
            _, current = self.request("GET", f"/apis/apiregistration.k8s.io/v1/apiservices/{name}")
            conditions = ((current or {}).get("status") or {}).get("conditions") or []
            available = any(c["type"] == "Available" and c["status"] == "True" for c in conditions)
            if available and self.request("GET", discovery_path).status == 200:
                return dict(current)
            time.sleep(0.2)
        raise KubeTestEnvError(f"APIService {name} not Available after {timeout:.0f}s: {json.dumps(current)[:1000]}")

    def _write_kubeconfig(self, path: Path, *, user: Mapping[str, str]) -> None:
        """Write a kubeconfig as JSON (valid YAML), with the CA embedded so it works anywhere."""
        assert self._pki is not None
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "testenv",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": _b64(self._pki.ca_cert.read_bytes()),
                    },
                }
            ],
            "users": [{"name": "testenv", "user": dict(user)}],
            "contexts": [{"name": "testenv", "context": {"cluster": "testenv", "user": "testenv"}}],
            "current-context": "testenv",
        }
        path.write_text(json.dumps(config, indent=2))
        path.chmod(0o600)


@dataclass(frozen=True)
class Pki:
    """Files of the throwaway PKI: one CA signs the serving and admin certs."""

    ca_cert: Path
    apiserver_cert: Path
    apiserver_key: Path
    admin_cert: Path
    admin_key: Path
    service_account_key: Path  # signs TokenRequest tokens
    service_account_pub: Path  # verifies them
    # Aggregation only (make_pki(..., aggregation=True)), else None:
    ca_key: Path | None = None  # signs aggregated servers' serving certs
    front_proxy_ca_cert: Path | None = None  # --requestheader-client-ca-file
    front_proxy_client_cert: Path | None = None  # what kube-apiserver presents to aggregated servers
    front_proxy_client_key: Path | None = None


def make_pki(directory: Path, *, aggregation: bool = False) -> Pki:
    """Generate CA, serving cert (127.0.0.1/localhost), admin client cert, SA key pair.

    ECDSA P-256 throughout: kube-apiserver accepts it for TLS, client certs
    and ES256 service-account tokens, and the keys take milliseconds to make
    where RSA keys would add about a second to every session start.

    ``aggregation``: also keep the CA key (to sign aggregated servers' serving
    certs) and make a separate front-proxy CA and its client certificate, as
    kubeadm does, so aggregated servers trust only the proxy for request headers.
    """
    directory.mkdir(parents=True, exist_ok=True)
    file_names = ("ca.crt", "apiserver.crt", "apiserver.key", "admin.crt", "admin.key", "sa.key", "sa.pub")
    pki = Pki(*(directory / name for name in file_names))
    ca = _make_ca(pki.ca_cert, _CA_COMMON_NAME)
    _issue(
        ca,
        pki.apiserver_cert,
        pki.apiserver_key,
        _x509_name("kube-apiserver"),
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
    )
    _issue(
        ca,
        pki.admin_cert,
        pki.admin_key,
        _x509_name("testenv-admin", organization="system:masters"),
        ExtendedKeyUsageOID.CLIENT_AUTH,
    )
    sa_key = ec.generate_private_key(ec.SECP256R1())
    _write_private_key(pki.service_account_key, sa_key)
    pki.service_account_pub.write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    if not aggregation:
        return pki
    pki = dataclasses.replace(
        pki,
        ca_key=directory / "ca.key",
        front_proxy_ca_cert=directory / "front-proxy-ca.crt",
        front_proxy_client_cert=directory / "front-proxy-client.crt",
        front_proxy_client_key=directory / "front-proxy-client.key",
    )
    assert pki.ca_key and pki.front_proxy_ca_cert and pki.front_proxy_client_cert and pki.front_proxy_client_key
    _write_private_key(pki.ca_key, ca.key)
    front_proxy_ca = _make_ca(pki.front_proxy_ca_cert, "report-exporter-testenv-front-proxy-ca")
    _issue(
        front_proxy_ca,
        pki.front_proxy_client_cert,
        pki.front_proxy_client_key,
        _x509_name(FRONT_PROXY_CLIENT_NAME),
        ExtendedKeyUsageOID.CLIENT_AUTH,
    )
    return pki


@dataclass(frozen=True)
class _Issuer:
    key: ec.EllipticCurvePrivateKey
    name: x509.Name
    not_before: datetime.datetime


def _not_before() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)


def _make_ca(cert_path: Path, common_name: str) -> _Issuer:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _Issuer(ca_key, _x509_name(common_name), _not_before())
    ca_cert = (
        _cert_builder(ca.name, ca.name, ca_key.public_key(), ca.not_before)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return ca


def _issue(
    ca: _Issuer,
    cert_path: Path,
    key_path: Path,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName] | None = None,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _cert_builder(subject, ca.name, key.public_key(), ca.not_before)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert_path.write_bytes(builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    _write_private_key(key_path, key)


def _etcd_args(etcd: Path, data_dir: Path, client_url: str, peer_url: str) -> list[str]:
    return [
        str(etcd),
        "--name=testenv",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=testenv={peer_url}",
        "--unsafe-no-fsync",  # throwaway data: durability only costs time
        "--log-level=warn",
    ]


def _apiserver_args(apiserver: Path, pki: Pki, workdir: Path, etcd_url: str, port: int) -> list[str]:
    """kube-apiserver flags; each one that is not obvious says why it is there."""
    return [
        str(apiserver),
        f"--etcd-servers={etcd_url}",
        "--bind-address=127.0.0.1",
        # With a loopback bind it would otherwise advertise the default-route
        # address, and exit on machines that have none.
        "--advertise-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={workdir / 'certs'}",  # keeps it out of /var/run/kubernetes
        f"--tls-cert-file={pki.apiserver_cert}",
        f"--tls-private-key-file={pki.apiserver_key}",
        f"--client-ca-file={pki.ca_cert}",
        "--authorization-mode=Node,RBAC",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={pki.service_account_pub}",
        f"--service-account-signing-key-file={pki.service_account_key}",  # enables TokenRequest
        # Without a controller-manager no ServiceAccount is ever created for a
        # Pod, so the plugin would reject every Pod.
        "--disable-admission-plugins=ServiceAccount",
        "--service-cluster-ip-range=10.0.0.0/24",
        # The `kubernetes` Endpoints would get 127.0.0.1, which validation rejects.
        "--endpoint-reconciler-type=none",
        "--allow-privileged=true",
        "--profiling=false",
    ]


def _aggregation_args(pki: Pki) -> list[str]:
    """The flags that let kube-apiserver proxy to aggregated API servers (APIService objects)."""
    return [
        # Aggregated servers read these from the extension-apiserver-authentication ConfigMap, which
        # kube-apiserver writes into kube-system, and trust X-Remote-* headers only from this CA and name.
        f"--requestheader-client-ca-file={pki.front_proxy_ca_cert}",
        f"--requestheader-allowed-names={FRONT_PROXY_CLIENT_NAME}",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={pki.front_proxy_client_cert}",
        f"--proxy-client-key-file={pki.front_proxy_client_key}",
        # Dial the endpoint, not the Service's ClusterIP: there is no kube-proxy here.
        "--enable-aggregator-routing=true",
    ]


def _overridable(defaults: list[str], extra: Iterable[str]) -> list[str]:
    """The default flags less those `extra` sets again: kube-apiserver appends a repeated list flag instead of
    replacing it, so `--disable-admission-plugins=` (ServiceAccount admission on, as in a cluster) needs this."""
    given = {flag.partition("=")[0] for flag in extra}
    return [flag for flag in defaults if flag.partition("=")[0] not in given]


class _PortInUseError(Exception):
    """A process lost the race for a port picked by _free_port."""


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: IO[bytes]
    log_path: Path

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it if it is still there after 15 s."""
        with contextlib.suppress(ProcessLookupError):  # it may exit between the checks
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()
        self.log.close()

    def log_tail(self, lines: int = 40) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _die_with_parent() -> None:
    """Runs in the child: ask Linux to SIGKILL it when the test process dies.

    A pytest run killed by a CI timeout gets no chance to call stop(); without
    this etcd and kube-apiserver would outlive it and pile up on reused runners.
    Linux ties this to the *thread* that started the child, so start the
    environment from a thread that lives as long as it (pytest's main thread).
    """
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return bool(response.status == 200)


def _encode_body(body: Mapping[str, Any] | str | bytes | None) -> tuple[bytes | None, str]:
    if body is None:
        return None, ""
    if isinstance(body, bytes):
        return body, "application/yaml"
    if isinstance(body, str):
        return body.encode(), "application/yaml"
    return json.dumps(body).encode(), "application/json"


def _yaml_documents(text: str) -> list[str]:
    """Split a multi-document YAML stream on `---` lines, dropping empty documents."""
    documents = re.split(r"^---[ \t]*$", text, flags=re.MULTILINE)
    return [
        doc for doc in documents if any(line.strip() and not line.lstrip().startswith("#") for line in doc.splitlines())
    ]


def _epoch_seconds(rfc3339: str) -> float:
    return datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def _message(body: Any) -> str:
    return str(body.get("message", body)) if isinstance(body, dict) else str(body)[:500]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _x509_name(common_name: str, *, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)] if organization else []
    return x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _cert_builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, not_before: datetime.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + datetime.timedelta(days=7))
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )


def _write_private_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)
