"""Static content the samples are made of: advisories, packages, checks, controls and secret rules.

Advisory ids, packages and fixed versions are real public CVE data; the wording of titles and every check text
here is our own, written to read like the scanners' output, not copied from any scanner's database.
Tables are kept one row per entry (`fmt: off`) so they read as tables.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ecosystem:
    """How one package ecosystem is spelled by Trivy (VulnerabilityReport) and by Grype (kubescape)."""

    trivy_type: str
    trivy_class: str
    grype_type: str
    grype_language: str
    grype_namespace: str
    matcher: str
    purl_type: str
    version_format: str


# fmt: off
ECOSYSTEMS: dict[str, Ecosystem] = {
    "debian": Ecosystem("debian", "os-pkgs", "deb", "", "debian:distro:debian:12", "dpkg-matcher", "deb",
                        "deb"),
    "alpine": Ecosystem("alpine", "os-pkgs", "apk", "", "alpine:distro:alpine:3.18", "apk-matcher", "apk",
                        "apk"),
    "ubuntu": Ecosystem("ubuntu", "os-pkgs", "deb", "", "ubuntu:distro:ubuntu:22.04", "dpkg-matcher", "deb",
                        "deb"),
    "gobinary": Ecosystem("gobinary", "lang-pkgs", "go-module", "go", "github:language:go",
                          "go-module-matcher", "golang", "go"),
    "jar": Ecosystem("jar", "lang-pkgs", "java-archive", "java", "github:language:java", "java-matcher",
                     "maven", "maven"),
    "python-pkg": Ecosystem("python-pkg", "lang-pkgs", "python", "python", "github:language:python",
                            "python-matcher", "pypi", "python"),
    "node-pkg": Ecosystem("node-pkg", "lang-pkgs", "npm", "javascript", "github:language:javascript",
                          "javascript-matcher", "npm", "semver"),
    "kubernetes": Ecosystem("kubernetes", "lang-pkgs", "go-module", "go", "github:language:go",
                            "go-module-matcher", "k8s", "semver"),
}
# fmt: on


@dataclass(frozen=True)
class Advisory:
    """One vulnerable package as a scanner reports it.

    `fixed` is Trivy's spelling: empty when there is no fix, comma-separated when several branches are fixed.
    """

    id: str
    package: str
    source: str
    installed: str
    fixed: str
    severity: str
    score: float | None
    published: str
    title: str
    ecosystem: str

    @property
    def fixed_versions(self) -> list[str]:
        return [version.strip() for version in self.fixed.split(",") if version.strip()]


Row = tuple[str, str, str, str, str, str, float | None, str, str]


def _table(ecosystem: str, rows: tuple[Row, ...]) -> tuple[Advisory, ...]:
    return tuple(Advisory(*row, ecosystem=ecosystem) for row in rows)


_G36 = "2.36-9+deb12u1"
_SSL3 = "3.0.11-1~deb12u1"
_CURL = "7.88.1-10+deb12u1"
_XML2 = "2.9.14+dfsg-1.3~deb12u1"
_G35 = "2.35-0ubuntu3.1"
_USSL = "3.0.2-0ubuntu1.10"

# id, package, source, installed, fixed, severity, score, published, title
# fmt: off
_DEB_ROWS: tuple[Row, ...] = (
    ("CVE-2023-4911", "libc6", "glibc", _G36, "2.36-9+deb12u3", "HIGH", 7.8, "2023-10-03",
     "glibc: buffer overflow in ld.so leading to privilege escalation"),
    ("CVE-2023-4911", "libc-bin", "glibc", _G36, "2.36-9+deb12u3", "HIGH", 7.8, "2023-10-03",
     "glibc: buffer overflow in ld.so leading to privilege escalation"),
    ("CVE-2023-6246", "libc6", "glibc", _G36, "2.36-9+deb12u4", "HIGH", 7.8, "2024-01-31",
     "glibc: heap-based buffer overflow in __vsyslog_internal()"),
    ("CVE-2024-2961", "libc6", "glibc", _G36, "2.36-9+deb12u6", "HIGH", 8.8, "2024-04-17",
     "glibc: out of bounds write in iconv may lead to remote code execution"),
    ("CVE-2024-33599", "libc6", "glibc", _G36, "2.36-9+deb12u7", "HIGH", 8.1, "2024-05-06",
     "glibc: stack-based buffer overflow in netgroup cache"),
    ("CVE-2025-0395", "libc6", "glibc", _G36, "", "UNKNOWN", None, "2025-01-22",
     "glibc: buffer overflow when printing an assertion failure message"),
    ("CVE-2023-5678", "libssl3", "openssl", _SSL3, "3.0.11-1~deb12u2", "MEDIUM", 5.3, "2023-11-06",
     "openssl: generating or checking excessively long X9.42 DH keys or parameters may be very slow"),
    ("CVE-2024-0727", "libssl3", "openssl", _SSL3, "3.0.13-1~deb12u1", "MEDIUM", 5.5, "2024-01-26",
     "openssl: denial of service via null dereference in PKCS12 parsing"),
    ("CVE-2024-6119", "libssl3", "openssl", _SSL3, "3.0.14-1~deb12u2", "HIGH", 7.5, "2024-09-03",
     "openssl: possible denial of service in X.509 name checks"),
    ("CVE-2024-6119", "openssl", "openssl", _SSL3, "3.0.14-1~deb12u2", "HIGH", 7.5, "2024-09-03",
     "openssl: possible denial of service in X.509 name checks"),
    ("CVE-2024-5535", "libssl3", "openssl", _SSL3, "3.0.14-1~deb12u2", "CRITICAL", 9.1, "2024-06-27",
     "openssl: SSL_select_next_proto buffer overread"),
    ("CVE-2024-2511", "libssl3", "openssl", _SSL3, "3.0.14-1~deb12u1", "LOW", 5.9, "2024-04-08",
     "openssl: unbounded memory growth with session handling in TLSv1.3"),
    ("CVE-2023-45853", "zlib1g", "zlib", "1:1.2.13.dfsg-1", "", "CRITICAL", 9.8, "2023-10-14",
     "zlib: integer overflow and heap-based buffer overflow in zipOpenNewFileInZip4_6"),
    ("CVE-2023-38545", "curl", "curl", _CURL, "7.88.1-10+deb12u4", "CRITICAL", 9.8, "2023-10-18",
     "curl: heap based buffer overflow in the SOCKS5 proxy handshake"),
    ("CVE-2023-38545", "libcurl4", "curl", _CURL, "7.88.1-10+deb12u4", "CRITICAL", 9.8, "2023-10-18",
     "curl: heap based buffer overflow in the SOCKS5 proxy handshake"),
    ("CVE-2023-46218", "libcurl4", "curl", _CURL, "7.88.1-10+deb12u5", "MEDIUM", 6.5, "2023-12-07",
     "curl: information disclosure by exploiting a mixed case flaw in cookie domains"),
    ("CVE-2024-2398", "libcurl4", "curl", _CURL, "7.88.1-10+deb12u6", "MEDIUM", 6.5, "2024-03-27",
     "curl: HTTP/2 push headers memory leak"),
    ("CVE-2024-7264", "libcurl4", "curl", _CURL, "7.88.1-10+deb12u7", "MEDIUM", 6.5, "2024-07-31",
     "curl: libcurl ASN.1 date parser overread"),
    ("CVE-2023-50495", "libtinfo6", "ncurses", "6.4-4", "", "MEDIUM", 6.5, "2023-12-12",
     "ncurses: segmentation fault via _nc_wrap_entry()"),
    ("CVE-2023-50495", "ncurses-base", "ncurses", "6.4-4", "", "MEDIUM", 6.5, "2023-12-12",
     "ncurses: segmentation fault via _nc_wrap_entry()"),
    ("CVE-2023-4039", "libgcc-s1", "gcc-12", "12.2.0-14", "", "MEDIUM", 4.7, "2023-09-13",
     "gcc: -fstack-protector fails to guard dynamic stack allocations on ARM64"),
    ("CVE-2022-27943", "libstdc++6", "gcc-12", "12.2.0-14", "", "LOW", 5.5, "2022-03-26",
     "binutils: stack exhaustion in demangle_const in libiberty rust-demangle.c"),
    ("CVE-2023-31484", "perl-base", "perl", "5.36.0-7", "", "HIGH", 8.1, "2023-04-29",
     "perl: CPAN.pm does not verify TLS certificates when downloading distributions over HTTPS"),
    ("CVE-2011-3374", "apt", "apt", "2.6.1", "", "LOW", 3.7, "2019-11-26",
     "apt-key does not correctly validate gpg keys with the master keyring"),
    ("CVE-2011-3374", "libapt-pkg6.0", "apt", "2.6.1", "", "LOW", 3.7, "2019-11-26",
     "apt-key does not correctly validate gpg keys with the master keyring"),
    ("CVE-2022-0563", "libblkid1", "util-linux", "2.38.1-5+b1", "", "LOW", 5.5, "2022-02-21",
     "util-linux: partial disclosure of arbitrary files in chfn and chsh when compiled with libreadline"),
    ("CVE-2022-0563", "mount", "util-linux", "2.38.1-5+b1", "", "LOW", 5.5, "2022-02-21",
     "util-linux: partial disclosure of arbitrary files in chfn and chsh when compiled with libreadline"),
    ("CVE-2024-28085", "util-linux", "util-linux", "2.38.1-5+b1", "2.38.1-5+deb12u1", "LOW", 3.3,
     "2024-03-27", "util-linux: wall: escape sequence injection"),
    ("CVE-2023-29383", "login", "shadow", "1:4.13+dfsg1-1+b1", "", "LOW", 3.3, "2023-04-14",
     "shadow: improper input validation in shadow-utils package utility chfn"),
    ("CVE-2023-29383", "passwd", "shadow", "1:4.13+dfsg1-1+b1", "", "LOW", 3.3, "2023-04-14",
     "shadow: improper input validation in shadow-utils package utility chfn"),
    ("CVE-2005-2541", "tar", "tar", "1.34+dfsg-1.2", "", "LOW", None, "2005-08-10",
     "tar: does not properly warn the user when extracting setuid or setgid files"),
    ("CVE-2023-7008", "libsystemd0", "systemd", "252.19-1~deb12u1", "", "MEDIUM", 5.9, "2023-12-23",
     "systemd-resolved: unsigned name response in signed zone is not refused when DNSSEC=yes"),
    ("CVE-2023-7008", "libudev1", "systemd", "252.19-1~deb12u1", "", "MEDIUM", 5.9, "2023-12-23",
     "systemd-resolved: unsigned name response in signed zone is not refused when DNSSEC=yes"),
    ("CVE-2023-50387", "libsystemd0", "systemd", "252.19-1~deb12u1", "252.22-1~deb12u1", "HIGH", 7.5,
     "2024-02-14", "bind9: KeyTrap - extreme CPU consumption in DNSSEC validator"),
    ("CVE-2023-2953", "libldap-2.5-0", "openldap", "2.5.13+dfsg-5", "", "HIGH", 7.5, "2023-05-30",
     "openldap: null pointer dereference in ber_memalloc_x function"),
    ("CVE-2024-37371", "libkrb5-3", "krb5", "1.20.1-2+deb12u1", "1.20.1-2+deb12u2", "CRITICAL", 9.1,
     "2024-06-28", "krb5: GSS message token handling reads beyond buffer ends"),
    ("CVE-2024-26462", "libgssapi-krb5-2", "krb5", "1.20.1-2+deb12u1", "", "MEDIUM", 5.5, "2024-02-29",
     "krb5: memory leak in kdc/ndr.c"),
    ("CVE-2023-52425", "libexpat1", "expat", "2.5.0-1", "", "HIGH", 7.5, "2024-02-04",
     "expat: parsing large tokens can trigger a denial of service"),
    ("CVE-2024-45491", "libexpat1", "expat", "2.5.0-1", "2.5.0-1+deb12u1", "CRITICAL", 9.8, "2024-08-30",
     "libexpat: integer overflow or wraparound in dtdCopy"),
    ("CVE-2024-45492", "libexpat1", "expat", "2.5.0-1", "2.5.0-1+deb12u1", "CRITICAL", 9.8, "2024-08-30",
     "libexpat: integer overflow in nextScaffoldPart"),
    ("CVE-2024-56171", "libxml2", "libxml2", _XML2, "2.9.14+dfsg-1.3~deb12u2", "HIGH", 7.8, "2025-02-18",
     "libxml2: use-after-free in xmlSchemaIDCFillNodeTables"),
    ("CVE-2025-24928", "libxml2", "libxml2", _XML2, "2.9.14+dfsg-1.3~deb12u2", "HIGH", 7.8, "2025-02-18",
     "libxml2: stack-based buffer overflow in xmlSnprintfElements"),
    ("CVE-2024-0553", "libgnutls30", "gnutls28", "3.7.9-2+deb12u1", "3.7.9-2+deb12u2", "HIGH", 7.5,
     "2024-01-16", "gnutls: incomplete fix for CVE-2023-5981 timing side channel"),
    ("CVE-2023-44487", "libnghttp2-14", "nghttp2", "1.52.0-1", "1.52.0-1+deb12u1", "HIGH", 7.5, "2023-10-10",
     "HTTP/2: multiple HTTP/2 enabled web servers are vulnerable to a DDoS attack (Rapid Reset Attack)"),
    ("CVE-2024-28182", "libnghttp2-14", "nghttp2", "1.52.0-1", "1.52.0-1+deb12u2", "MEDIUM", 5.3,
     "2024-04-04", "nghttp2: CONTINUATION frames can cause denial of service"),
    ("CVE-2024-22365", "libpam-modules", "pam", "1.5.2-6+deb12u1", "", "MEDIUM", 5.5, "2024-02-06",
     "pam: allows an unprivileged user to block another user's namespace"),
    ("CVE-2024-6387", "openssh-client", "openssh", "1:9.2p1-2+deb12u1", "1:9.2p1-2+deb12u3", "HIGH", 8.1,
     "2024-07-01", "openssh: regreSSHion - race condition in a signal handler allows remote code execution"),
    ("TEMP-0841856-B18BAF", "bash", "bash", "5.2.15-2+b2", "", "LOW", None, "",
     "[Privilege escalation possible to other user than root]"),
)

_ALPINE_ROWS: tuple[Row, ...] = (
    ("CVE-2024-12797", "libcrypto3", "openssl", "3.1.4-r2", "3.1.8-r0", "HIGH", 7.4, "2025-02-11",
     "openssl: RFC7250 handshakes with unauthenticated servers don't abort as expected"),
    ("CVE-2024-12797", "libssl3", "openssl", "3.1.4-r2", "3.1.8-r0", "HIGH", 7.4, "2025-02-11",
     "openssl: RFC7250 handshakes with unauthenticated servers don't abort as expected"),
    ("CVE-2024-6119", "libcrypto3", "openssl", "3.1.4-r2", "3.1.7-r0", "HIGH", 7.5, "2024-09-03",
     "openssl: possible denial of service in X.509 name checks"),
    ("CVE-2024-9143", "libcrypto3", "openssl", "3.1.4-r2", "3.1.7-r1", "LOW", 4.3, "2024-10-16",
     "openssl: low-level invalid GF(2^m) parameters lead to OOB memory access"),
    ("CVE-2024-5535", "libssl3", "openssl", "3.1.4-r2", "3.1.6-r0", "LOW", 9.1, "2024-06-27",
     "openssl: SSL_select_next_proto buffer overread"),
    ("CVE-2024-8176", "libexpat", "expat", "2.6.0-r0", "2.7.0-r0", "HIGH", 7.5, "2025-03-14",
     "libexpat: improper restriction of XML entity expansion depth"),
    ("CVE-2024-45491", "libexpat", "expat", "2.6.0-r0", "2.6.3-r0", "CRITICAL", 9.8, "2024-08-30",
     "libexpat: integer overflow or wraparound in dtdCopy"),
    ("CVE-2025-26519", "musl", "musl", "1.2.4-r2", "1.2.4-r3", "HIGH", 8.1, "2025-02-14",
     "musl: input-controlled out-of-bounds write primitive in iconv"),
    ("CVE-2025-26519", "musl-utils", "musl", "1.2.4-r2", "1.2.4-r3", "HIGH", 8.1, "2025-02-14",
     "musl: input-controlled out-of-bounds write primitive in iconv"),
    ("CVE-2023-42363", "busybox", "busybox", "1.36.1-r5", "1.36.1-r7", "MEDIUM", 5.5, "2023-11-27",
     "busybox: use-after-free in awk"),
    ("CVE-2023-42366", "busybox", "busybox", "1.36.1-r5", "1.36.1-r6", "MEDIUM", 5.5, "2023-11-27",
     "busybox: heap-buffer-overflow in awk next_token"),
    ("CVE-2024-2398", "curl", "curl", "8.5.0-r0", "8.7.1-r0", "HIGH", 7.5, "2024-03-27",
     "curl: HTTP/2 push headers memory leak"),
    ("CVE-2024-6197", "libcurl", "curl", "8.5.0-r0", "8.9.0-r0", "HIGH", 7.5, "2024-07-24",
     "curl: freeing stack buffer in utf8asn1str"),
    ("CVE-2024-56171", "libxml2", "libxml2", "2.11.6-r0", "2.11.8-r1", "HIGH", 7.8, "2025-02-18",
     "libxml2: use-after-free in xmlSchemaIDCFillNodeTables"),
)

_UBUNTU_ROWS: tuple[Row, ...] = (
    ("CVE-2023-4911", "libc6", "glibc", _G35, "2.35-0ubuntu3.4", "HIGH", 7.8, "2023-10-03",
     "glibc: buffer overflow in ld.so leading to privilege escalation"),
    ("CVE-2024-2961", "libc6", "glibc", _G35, "2.35-0ubuntu3.7", "HIGH", 8.8, "2024-04-17",
     "glibc: out of bounds write in iconv may lead to remote code execution"),
    ("CVE-2023-6246", "libc6", "glibc", _G35, "2.35-0ubuntu3.6", "HIGH", 7.8, "2024-01-31",
     "glibc: heap-based buffer overflow in __vsyslog_internal()"),
    ("CVE-2024-0727", "libssl3", "openssl", _USSL, "3.0.2-0ubuntu1.14", "LOW", 5.5, "2024-01-26",
     "openssl: denial of service via null dereference in PKCS12 parsing"),
    ("CVE-2024-6119", "libssl3", "openssl", _USSL, "3.0.2-0ubuntu1.18", "MEDIUM", 7.5, "2024-09-03",
     "openssl: possible denial of service in X.509 name checks"),
    ("CVE-2023-5678", "libssl3", "openssl", _USSL, "3.0.2-0ubuntu1.12", "LOW", 5.3, "2023-11-06",
     "openssl: generating or checking excessively long X9.42 DH keys or parameters may be very slow"),
    ("CVE-2022-3715", "bash", "bash", "5.1-6ubuntu1", "5.1-6ubuntu1.1", "LOW", 7.8, "2023-01-05",
     "bash: a heap-buffer-overflow in valid_parameter_transform"),
    ("CVE-2023-44487", "libnghttp2-14", "nghttp2", "1.43.0-1build3", "1.43.0-1ubuntu0.1", "MEDIUM", 7.5,
     "2023-10-10", "HTTP/2: multiple HTTP/2 enabled web servers are vulnerable to a DDoS attack"),
    ("CVE-2024-28182", "libnghttp2-14", "nghttp2", "1.43.0-1build3", "1.43.0-1ubuntu0.2", "MEDIUM", 5.3,
     "2024-04-04", "nghttp2: CONTINUATION frames can cause denial of service"),
    ("CVE-2023-29383", "login", "shadow", "1:4.8.1-2ubuntu2.1", "1:4.8.1-2ubuntu2.2", "LOW", 3.3,
     "2023-04-14", "shadow: improper input validation in shadow-utils package utility chfn"),
    ("CVE-2024-26462", "libkrb5-3", "krb5", "1.19.2-2ubuntu0.2", "1.19.2-2ubuntu0.4", "MEDIUM", 5.5,
     "2024-02-29", "krb5: memory leak in kdc/ndr.c"),
    ("CVE-2023-7008", "libsystemd0", "systemd", "249.11-0ubuntu3.11", "", "MEDIUM", 5.9, "2023-12-23",
     "systemd-resolved: unsigned name response in signed zone is not refused when DNSSEC=yes"),
    ("CVE-2016-2781", "coreutils", "coreutils", "8.32-4.1ubuntu1", "", "LOW", 6.5, "2017-02-07",
     "coreutils: non-privileged session can escape to the parent session in chroot"),
    ("CVE-2022-4899", "libzstd1", "libzstd", "1.4.8+dfsg-3build1", "", "LOW", 7.5, "2023-03-31",
     "zstd: buffer overrun in util.c"),
)

_GO_ROWS: tuple[Row, ...] = (
    ("CVE-2023-39325", "stdlib", "", "v1.20.7", "1.20.10, 1.21.3", "HIGH", 7.5, "2023-10-11",
     "golang: net/http, x/net/http2: rapid stream resets can cause excessive work"),
    ("CVE-2023-45288", "stdlib", "", "v1.20.7", "1.21.9, 1.22.2", "MEDIUM", 7.5, "2024-04-04",
     "golang: net/http, x/net/http2: unlimited number of CONTINUATION frames causes DoS"),
    ("CVE-2024-24790", "stdlib", "", "v1.20.7", "1.21.11, 1.22.4", "CRITICAL", 9.8, "2024-06-05",
     "golang: net/netip: unexpected behavior from Is methods for IPv4-mapped IPv6 addresses"),
    ("CVE-2024-24791", "stdlib", "", "v1.20.7", "1.21.12, 1.22.5", "MEDIUM", 7.5, "2024-07-02",
     "net/http: denial of service due to improper 100-continue handling"),
    ("CVE-2024-34156", "stdlib", "", "v1.20.7", "1.22.7, 1.23.1", "HIGH", 7.5, "2024-09-06",
     "encoding/gob: decoding deeply nested structures can panic through stack exhaustion"),
    ("CVE-2023-45283", "stdlib", "", "v1.20.7", "1.20.11, 1.21.4", "MEDIUM", 7.5, "2023-11-09",
     "golang: path/filepath: recognize \\??\\ as a Root Local Device path prefix"),
    ("CVE-2023-44487", "golang.org/x/net", "", "v0.13.0", "0.17.0", "MEDIUM", 7.5, "2023-10-10",
     "HTTP/2: multiple HTTP/2 enabled web servers are vulnerable to a DDoS attack (Rapid Reset Attack)"),
    ("CVE-2023-45288", "golang.org/x/net", "", "v0.13.0", "0.23.0", "MEDIUM", 7.5, "2024-04-04",
     "golang: net/http, x/net/http2: unlimited number of CONTINUATION frames causes DoS"),
    ("CVE-2023-48795", "golang.org/x/crypto", "", "v0.12.0", "0.17.0", "MEDIUM", 5.9, "2023-12-18",
     "ssh: prefix truncation attack on Binary Packet Protocol (BPP)"),
    ("CVE-2024-45337", "golang.org/x/crypto", "", "v0.12.0", "0.31.0", "CRITICAL", 9.1, "2024-12-12",
     "golang.org/x/crypto/ssh: misuse of ServerConfig.PublicKeyCallback may cause authorization bypass"),
    ("CVE-2024-24786", "google.golang.org/protobuf", "", "v1.31.0", "1.33.0", "MEDIUM", 5.9, "2024-03-05",
     "golang-protobuf: infinite loop in protojson.Unmarshal when unmarshaling certain invalid JSON"),
    ("CVE-2023-47108", "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc", "",
     "v0.42.0", "0.46.0", "HIGH", 7.5, "2023-11-10",
     "opentelemetry-go-contrib: DoS vulnerability in otelgrpc due to unbound cardinality metrics"),
    ("CVE-2023-44487", "google.golang.org/grpc", "", "v1.57.0", "1.56.3, 1.57.1, 1.58.3", "HIGH", 7.5,
     "2023-10-10", "HTTP/2: multiple HTTP/2 enabled web servers are vulnerable to a DDoS attack"),
    ("CVE-2024-28180", "github.com/go-jose/go-jose/v3", "", "v3.0.0", "3.0.3", "MEDIUM", 4.3, "2024-03-09",
     "jose-go: improper handling of highly compressed data"),
)

_JAR_ROWS: tuple[Row, ...] = (
    ("CVE-2021-44228", "org.apache.logging.log4j:log4j-core", "", "2.14.1", "2.15.0", "CRITICAL", 10.0,
     "2021-12-10",
     "log4j-core: remote code execution in Log4j 2.x when logs contain an attacker-controlled string"),
    ("CVE-2021-45046", "org.apache.logging.log4j:log4j-core", "", "2.14.1", "2.16.0, 2.12.2", "CRITICAL", 9.0,
     "2021-12-14", "log4j-core: DoS with thread context message pattern and context lookup patterns"),
    ("CVE-2022-22965", "org.springframework:spring-beans", "", "5.3.15", "5.2.20.RELEASE, 5.3.18", "CRITICAL",
     9.8, "2022-04-01", "spring-framework: RCE via Data Binding on JDK 9+"),
    ("CVE-2024-22262", "org.springframework:spring-web", "", "5.3.15", "5.3.34, 6.0.19, 6.1.6", "HIGH", 8.1,
     "2024-04-16", "springframework: URL parsing with host validation"),
    ("CVE-2024-38816", "org.springframework:spring-webmvc", "", "5.3.15", "6.1.13", "HIGH", 7.5, "2024-09-13",
     "spring-webmvc: path traversal vulnerability in functional web frameworks"),
    ("CVE-2022-42003", "com.fasterxml.jackson.core:jackson-databind", "", "2.13.1", "2.12.7.1, 2.13.4.1",
     "HIGH", 7.5, "2022-10-02",
     "jackson-databind: deep wrapper array nesting wrt UNWRAP_SINGLE_VALUE_ARRAYS"),
    ("CVE-2022-1471", "org.yaml:snakeyaml", "", "1.30", "2.0", "HIGH", 8.8, "2022-12-01",
     "SnakeYaml: constructor deserialization remote code execution"),
    ("CVE-2022-25857", "org.yaml:snakeyaml", "", "1.30", "1.31", "HIGH", 7.5, "2022-08-30",
     "snakeyaml: denial of service due to missing nested depth limitation for collections"),
    ("CVE-2023-6378", "ch.qos.logback:logback-classic", "", "1.2.10", "1.3.12, 1.4.12, 1.2.13", "HIGH", 7.5,
     "2023-11-29", "logback: serialization vulnerability in logback receiver"),
    ("CVE-2023-20883", "org.springframework.boot:spring-boot-autoconfigure", "", "2.6.3",
     "2.5.15, 2.6.15, 2.7.12, 3.0.7", "HIGH", 7.5, "2023-05-26",
     "spring-boot: Spring Boot welcome page DoS vulnerability"),
)

_PY_ROWS: tuple[Row, ...] = (
    ("CVE-2023-32681", "requests", "", "2.28.1", "2.31.0", "MEDIUM", 6.1, "2023-05-26",
     "python-requests: unintended leak of Proxy-Authorization header"),
    ("CVE-2024-35195", "requests", "", "2.28.1", "2.32.0", "MEDIUM", 5.5, "2024-05-20",
     "requests: subsequent requests to the same host ignore cert verification"),
    ("CVE-2023-43804", "urllib3", "", "1.26.12", "1.26.17, 2.0.6", "MEDIUM", 8.1, "2023-10-04",
     "python-urllib3: Cookie request header isn't stripped during cross-origin redirects"),
    ("CVE-2023-45803", "urllib3", "", "1.26.12", "1.26.18, 2.0.7", "MEDIUM", 4.3, "2023-10-17",
     "urllib3: request body not stripped after redirect from 303 status changes request method to GET"),
    ("CVE-2024-34064", "Jinja2", "", "3.1.2", "3.1.4", "MEDIUM", 5.4, "2024-05-06",
     "jinja2: accepts keys containing non-attribute characters"),
    ("CVE-2024-6345", "setuptools", "", "65.5.0", "70.0.0", "HIGH", 8.8, "2024-07-15",
     "pypa/setuptools: remote code execution via download functions in the package_index module"),
    ("CVE-2022-40897", "setuptools", "", "65.5.0", "65.5.1", "MEDIUM", 5.9, "2022-12-23",
     "pypa-setuptools: regular expression denial of service (ReDoS) in package_index.py"),
    ("CVE-2023-5752", "pip", "", "23.0.1", "23.3", "LOW", 3.3, "2023-10-25",
     "pip: Mercurial configuration injectable in repo revision when installing via pip"),
    ("CVE-2024-3651", "idna", "", "3.4", "3.7", "MEDIUM", 6.2, "2024-07-07",
     "python-idna: potential DoS via resource consumption via specially crafted inputs to idna.encode()"),
    ("CVE-2024-26130", "cryptography", "", "41.0.3", "42.0.4", "HIGH", 7.5, "2024-02-21",
     "cryptography: NULL pointer dereference with pkcs12.serialize_key_and_certificates"),
    ("CVE-2023-50782", "cryptography", "", "41.0.3", "42.0.0", "HIGH", 7.5, "2024-02-05",
     "python-cryptography: Bleichenbacher timing oracle attack against RSA decryption"),
    ("CVE-2024-1135", "gunicorn", "", "20.1.0", "22.0.0", "HIGH", 7.5, "2024-04-16",
     "python-gunicorn: HTTP request smuggling due to improper validation of Transfer-Encoding headers"),
)

_NODE_ROWS: tuple[Row, ...] = (
    ("CVE-2024-29041", "express", "", "4.18.2", "4.19.2, 5.0.0-beta.3", "MEDIUM", 6.1, "2024-03-25",
     "express: cause malformed URLs to be evaluated"),
    ("CVE-2024-43796", "express", "", "4.18.2", "4.20.0, 5.0.0", "LOW", 4.3, "2024-09-10",
     "express: improper input handling in express redirects"),
    ("CVE-2024-45590", "body-parser", "", "1.20.1", "1.20.3", "HIGH", 7.5, "2024-09-10",
     "body-parser: denial of service vulnerability in body-parser"),
    ("CVE-2024-4068", "braces", "", "3.0.2", "3.0.3", "HIGH", 7.5, "2024-05-14",
     "braces: fails to limit the number of characters it can handle"),
    ("CVE-2023-26136", "tough-cookie", "", "4.1.2", "4.1.3", "MEDIUM", 6.5, "2023-07-01",
     "tough-cookie: prototype pollution in cookie memstore"),
    ("CVE-2022-25883", "semver", "", "7.3.8", "7.5.2, 6.3.1, 5.7.2", "MEDIUM", 7.5, "2023-06-21",
     "nodejs-semver: regular expression denial of service"),
    ("CVE-2024-37890", "ws", "", "8.11.0", "5.2.4, 6.2.3, 7.5.10, 8.17.1", "HIGH", 7.5, "2024-06-17",
     "nodejs-ws: denial of service when handling a request with many HTTP headers"),
    ("CVE-2024-21538", "cross-spawn", "", "7.0.3", "7.0.5, 6.0.6", "HIGH", 7.5, "2024-11-08",
     "cross-spawn: regular expression denial of service"),
    ("CVE-2024-43799", "send", "", "0.18.0", "0.19.0", "LOW", 4.7, "2024-09-10",
     "send: code execution vulnerability in send library"),
    ("CVE-2024-45296", "path-to-regexp", "", "0.1.7", "0.1.10, 8.0.0", "HIGH", 7.5, "2024-09-09",
     "path-to-regexp: backtracking regular expressions cause ReDoS"),
    ("CVE-2024-52798", "path-to-regexp", "", "0.1.7", "0.1.12", "HIGH", 7.5, "2024-12-05",
     "path-to-regexp: unpatched ReDoS in 0.1.x"),
    ("CVE-2024-47764", "cookie", "", "0.5.0", "0.7.0", "LOW", 4.3, "2024-10-04",
     "cookie: cookie accepts cookie name, path, and domain with out of bounds characters"),
    ("CVE-2022-24999", "qs", "", "6.9.6", "6.9.7, 6.10.3", "HIGH", 7.5, "2022-11-26",
     "express: \"qs\" prototype poisoning causes the hang of the node process"),
)

_K8S_ROWS: tuple[Row, ...] = (
    ("CVE-2023-5528", "k8s.io/kubelet", "", "1.28.3", "1.28.4", "HIGH", 7.2, "2023-11-14",
     "kubernetes: insufficient input sanitization in in-tree storage plugin on Windows nodes"),
    ("CVE-2024-3177", "k8s.io/apiserver", "", "1.28.3", "1.27.13, 1.28.9, 1.29.4", "LOW", 2.7, "2024-04-22",
     "kubernetes: kube-apiserver bypasses the mountable secrets policy of the ServiceAccount admission "
     "plugin"),
    ("CVE-2024-10220", "k8s.io/kubelet", "", "1.28.3", "1.28.12, 1.29.7, 1.30.3", "HIGH", 8.1, "2024-11-22",
     "kubernetes: arbitrary command execution through gitRepo volume"),
    ("CVE-2025-0426", "k8s.io/kubelet", "", "1.28.3", "1.30.10, 1.31.6, 1.32.2", "MEDIUM", 6.2, "2025-02-13",
     "kubelet: node denial of service via kubelet checkpoint API"),
)
# fmt: on

ADVISORIES: dict[str, tuple[Advisory, ...]] = {
    "debian": _table("debian", _DEB_ROWS),
    "alpine": _table("alpine", _ALPINE_ROWS),
    "ubuntu": _table("ubuntu", _UBUNTU_ROWS),
    "gobinary": _table("gobinary", _GO_ROWS),
    "jar": _table("jar", _JAR_ROWS),
    "python-pkg": _table("python-pkg", _PY_ROWS),
    "node-pkg": _table("node-pkg", _NODE_ROWS),
    "kubernetes": _table("kubernetes", _K8S_ROWS),
}

# CVSS v3.1 base score -> (vector, exploitability sub-score, impact sub-score)
# fmt: off
CVSS_VECTORS: dict[float, tuple[str, float, float]] = {
    10.0: ("AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 3.9, 6.0),
    9.8: ("AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 3.9, 5.9),
    9.1: ("AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:H", 3.9, 5.2),
    9.0: ("AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:H/A:H", 2.2, 6.0),
    8.8: ("AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 2.8, 5.9),
    8.1: ("AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H", 2.2, 5.9),
    7.8: ("AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 1.8, 5.9),
    7.5: ("AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 3.9, 3.6),
    7.4: ("AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:N", 2.2, 5.2),
    7.2: ("AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H", 1.2, 5.9),
    6.5: ("AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H", 2.8, 3.6),
    6.2: ("AV:L/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 2.5, 3.6),
    6.1: ("AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 2.8, 2.7),
    5.9: ("AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:H", 2.2, 3.6),
    5.5: ("AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:H", 1.8, 3.6),
    5.4: ("AV:N/AC:L/PR:L/UI:R/S:C/C:L/I:L/A:N", 2.3, 2.7),
    5.3: ("AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L", 3.9, 1.4),
    4.7: ("AV:L/AC:H/PR:L/UI:N/S:U/C:N/I:N/A:H", 1.0, 3.6),
    4.3: ("AV:N/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:L", 2.8, 1.4),
    3.7: ("AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:N/A:N", 2.2, 1.4),
    3.3: ("AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:L/A:N", 1.8, 1.4),
    2.7: ("AV:N/AC:L/PR:H/UI:N/S:U/C:N/I:L/A:N", 1.2, 1.4),
}
# fmt: on

IMPACT_SENTENCES = (
    "A remote attacker could exploit this flaw by sending specially crafted input, causing the process to "
    "crash and resulting in a denial of service.",
    "Successful exploitation may allow an attacker to read memory outside of the intended buffer, which "
    "could disclose sensitive information.",
    "An attacker with local access could use this flaw to escalate their privileges on the system.",
    "Applications that process untrusted data with the affected functions are at the highest risk.",
    "The issue is triggered only under specific configurations, which limits the attack surface in most deployments.",
    "Exploitation requires the attacker to control data that reaches the vulnerable code path.",
    "This may lead to excessive CPU or memory consumption and degrade the availability of the service.",
    "Upstream has released a fix; distributions are shipping patched packages.",
)

# Packages an image of each distribution carries besides the vulnerable ones: name, version, source, license.
# fmt: off
BASE_PACKAGES: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "debian": (
        ("base-files", "12.4+deb12u4", "base-files", "GPL-2.0-or-later"),
        ("bash", "5.2.15-2+b2", "bash", "GPL-3.0-or-later"),
        ("coreutils", "9.1-1", "coreutils", "GPL-3.0-or-later"),
        ("dash", "0.5.12-2", "dash", "BSD-3-Clause"),
        ("debian-archive-keyring", "2023.3+deb12u1", "debian-archive-keyring", "GPL-2.0-or-later"),
        ("debianutils", "5.7-0.5~deb12u1", "debianutils", "GPL-2.0-or-later"),
        ("diffutils", "1:3.8-4", "diffutils", "GPL-3.0-or-later"),
        ("findutils", "4.9.0-4", "findutils", "GPL-3.0-or-later"),
        ("gpgv", "2.2.40-1.1", "gnupg2", "GPL-3.0-or-later"),
        ("grep", "3.8-5", "grep", "GPL-3.0-or-later"),
        ("gzip", "1.12-1", "gzip", "GPL-3.0-or-later"),
        ("hostname", "3.23+nmu1", "hostname", "GPL-2.0-only"),
        ("libacl1", "2.3.1-3", "acl", "LGPL-2.1-or-later"),
        ("libattr1", "1:2.5.1-4", "attr", "LGPL-2.1-or-later"),
        ("libbz2-1.0", "1.0.8-5+b1", "bzip2", "bzip2-1.0.6"),
        ("libcrypt1", "1:4.4.33-2", "libxcrypt", "LGPL-2.1-or-later"),
        ("libffi8", "3.4.4-1", "libffi", "MIT"),
        ("liblzma5", "5.4.1-0.2", "xz-utils", "PD"),
        ("libpcre2-8-0", "10.42-1", "pcre2", "BSD-3-Clause"),
        ("libselinux1", "3.4-1+b6", "libselinux", "PD"),
        ("libzstd1", "1.5.4+dfsg2-5", "libzstd", "BSD-3-Clause"),
        ("mawk", "1.3.4.20200120-3.1", "mawk", "GPL-2.0-only"),
        ("sed", "4.9-1", "sed", "GPL-3.0-or-later"),
        ("sysvinit-utils", "3.06-4", "sysvinit", "GPL-2.0-or-later"),
        ("tzdata", "2024a-0+deb12u1", "tzdata", "PD"),
        ("ca-certificates", "20230311", "ca-certificates", "MPL-2.0"),
    ),
    "alpine": (
        ("alpine-baselayout", "3.4.3-r1", "alpine-baselayout", "GPL-2.0-only"),
        ("alpine-baselayout-data", "3.4.3-r1", "alpine-baselayout", "GPL-2.0-only"),
        ("alpine-keys", "2.4-r1", "alpine-keys", "MIT"),
        ("apk-tools", "2.14.0-r2", "apk-tools", "GPL-2.0-only"),
        ("ca-certificates-bundle", "20230506-r0", "ca-certificates", "MPL-2.0 AND MIT"),
        ("libc-utils", "0.7.2-r5", "libc-dev", "BSD-2-Clause AND BSD-3-Clause"),
        ("scanelf", "1.3.7-r1", "pax-utils", "GPL-2.0-only"),
        ("ssl_client", "1.36.1-r5", "busybox", "GPL-2.0-only"),
        ("tzdata", "2024a-r0", "tzdata", "Public-Domain"),
        ("zlib", "1.2.13-r1", "zlib", "Zlib"),
    ),
    "ubuntu": (
        ("base-files", "12ubuntu4.4", "base-files", "GPL-2.0-or-later"),
        ("bash", "5.1-6ubuntu1", "bash", "GPL-3.0-or-later"),
        ("ca-certificates", "20230311ubuntu0.22.04.1", "ca-certificates", "MPL-2.0"),
        ("dash", "0.5.11+git20210903+057cd650a4ed-3build1", "dash", "BSD-3-Clause"),
        ("findutils", "4.8.0-1ubuntu3", "findutils", "GPL-3.0-or-later"),
        ("gzip", "1.10-4ubuntu4.1", "gzip", "GPL-3.0-or-later"),
        ("libgcc-s1", "12.3.0-1ubuntu1~22.04", "gcc-12", "GPL-3.0-only"),
        ("libstdc++6", "12.3.0-1ubuntu1~22.04", "gcc-12", "GPL-3.0-only"),
        ("locales", "2.35-0ubuntu3.1", "glibc", "LGPL-2.1-only"),
        ("tzdata", "2024a-0ubuntu0.22.04", "tzdata", "PD"),
        ("zlib1g", "1:1.2.11.dfsg-2ubuntu9.2", "zlib", "Zlib"),
    ),
    "": (),
}
# fmt: on

OS_RELEASES: dict[str, dict[str, str]] = {
    "debian": {
        "prettyName": "Debian GNU/Linux 12 (bookworm)",
        "name": "Debian GNU/Linux",
        "id": "debian",
        "version": "12 (bookworm)",
        "versionID": "12",
        "versionCodename": "bookworm",
        "homeURL": "https://www.debian.org/",
        "supportURL": "https://www.debian.org/support",
        "bugReportURL": "https://bugs.debian.org/",
    },
    "alpine": {
        "prettyName": "Alpine Linux v3.18",
        "name": "Alpine Linux",
        "id": "alpine",
        "versionID": "3.18.5",
        "homeURL": "https://alpinelinux.org/",
        "bugReportURL": "https://gitlab.alpinelinux.org/alpine/aports/-/issues",
    },
    "ubuntu": {
        "prettyName": "Ubuntu 22.04.4 LTS",
        "name": "Ubuntu",
        "id": "ubuntu",
        "idLike": "debian",
        "version": "22.04.4 LTS (Jammy Jellyfish)",
        "versionID": "22.04",
        "versionCodename": "jammy",
        "homeURL": "https://www.ubuntu.com/",
        "supportURL": "https://help.ubuntu.com/",
        "bugReportURL": "https://bugs.launchpad.net/ubuntu/",
    },
}


@dataclass(frozen=True)
class Check:
    """A Trivy misconfiguration check: config audit, RBAC or infra assessment."""

    id: str
    title: str
    severity: str
    description: str
    remediation: str
    message: str


_C = "Container '{container}' of {kind} '{name}' should set "

# id, title, severity, description, remediation, message (formatted with the target)
# fmt: off
_CHECK_ROWS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("KSV001", "Process can elevate its own privileges", "MEDIUM",
     "A program inside the container can gain more privileges than its parent process and end up running "
     "as root, which gives it control over the container and possibly the node.",
     "Set 'containers[].securityContext.allowPrivilegeEscalation' to 'false'.",
     _C + "'securityContext.allowPrivilegeEscalation' to false"),
    ("KSV003", "Default capabilities not dropped", "LOW",
     "Containers should drop every default Linux capability and add back only the ones they need.",
     "Add 'ALL' to containers[].securityContext.capabilities.drop.",
     "Container '{container}' of {kind} '{name}' should add 'ALL' to 'securityContext.capabilities.drop'"),
    ("KSV009", "Access to host network", "HIGH",
     "A pod sharing the node's network namespace can reach the loopback interface of the node, sniff "
     "traffic and bypass network policies.",
     "Do not set 'spec.template.spec.hostNetwork' to true.",
     "{kind} '{name}' should not set 'spec.template.spec.hostNetwork' to true"),
    ("KSV010", "Access to host PID", "HIGH",
     "A pod sharing the node's process namespace can see and signal every process running on the node.",
     "Do not set 'spec.template.spec.hostPID' to true.",
     "{kind} '{name}' should not set 'spec.template.spec.hostPID' to true"),
    ("KSV011", "CPU not limited", "LOW",
     "Without a CPU limit a single container can starve its neighbours on the node.",
     "Set a limit value under 'containers[].resources.limits.cpu'.",
     _C + "'resources.limits.cpu'"),
    ("KSV012", "Runs as root user", "MEDIUM",
     "Running the image as root widens the impact of any compromise of the process.",
     "Set 'containers[].securityContext.runAsNonRoot' to true.",
     _C + "'securityContext.runAsNonRoot' to true"),
    ("KSV014", "Root file system is not read-only", "HIGH",
     "A read-only root file system stops an intruder from tampering with binaries or dropping new "
     "executables into the container.",
     "Change 'containers[].securityContext.readOnlyRootFilesystem' to 'true'.",
     _C + "'securityContext.readOnlyRootFilesystem' to true"),
    ("KSV015", "CPU requests not specified", "LOW",
     "With CPU requests the scheduler can place pods on nodes that can actually serve them.",
     "Set 'containers[].resources.requests.cpu'.",
     _C + "'resources.requests.cpu'"),
    ("KSV016", "Memory requests not specified", "LOW",
     "With memory requests the scheduler can place pods on nodes that can actually serve them.",
     "Set 'containers[].resources.requests.memory'.",
     _C + "'resources.requests.memory'"),
    ("KSV017", "Privileged container", "HIGH",
     "A privileged container shares the host's namespaces and devices and offers no isolation at all.",
     "Change 'containers[].securityContext.privileged' to 'false'.",
     _C + "'securityContext.privileged' to false"),
    ("KSV018", "Memory not limited", "LOW",
     "Without a memory limit a single container can exhaust the node's memory.",
     "Set a limit value under 'containers[].resources.limits.memory'.",
     _C + "'resources.limits.memory'"),
    ("KSV020", "Runs with UID <= 10000", "LOW",
     "A user id above 10000 avoids clashing with accounts of the host's user table.",
     "Set 'containers[].securityContext.runAsUser' to an integer > 10000.",
     _C + "'securityContext.runAsUser' > 10000"),
    ("KSV021", "Runs with GID <= 10000", "LOW",
     "A group id above 10000 avoids clashing with groups of the host's group table.",
     "Set 'containers[].securityContext.runAsGroup' to an integer > 10000.",
     _C + "'securityContext.runAsGroup' > 10000"),
    ("KSV023", "hostPath volumes mounted", "MEDIUM",
     "hostPath volumes expose the node's file system to the pod and are forbidden by the baseline Pod "
     "Security Standard.",
     "Do not set 'spec.volumes[*].hostPath'.",
     "{kind} '{name}' should not set 'spec.template.volumes.hostPath'"),
    ("KSV104", "Seccomp policies disabled", "MEDIUM",
     "Without a seccomp profile the container can use every system call the kernel offers.",
     "Specify a seccomp profile of type RuntimeDefault or Localhost for the pod or the container.",
     "container \"{container}\" of {kind_lower} \"{name}\" in \"{namespace}\" namespace should specify a "
     "seccomp profile"),
    ("KSV106", "Container capabilities must only include NET_BIND_SERVICE", "LOW",
     "Containers must drop all capabilities and may only add back NET_BIND_SERVICE.",
     "Set 'spec.containers[*].securityContext.capabilities.drop' to 'ALL' and only add "
     "'NET_BIND_SERVICE'.",
     "container should drop all"),
    ("KSV118", "Default security context configured", "HIGH",
     "Relying on the default security context leaves privilege-related settings to the runtime's "
     "defaults.",
     "Set the security parameters (runAsNonRoot, capabilities, readOnlyRootFilesystem...) explicitly in "
     "the security context.",
     "container {container} in {namespace} namespace is using the default security context"),
    ("KSV039", "LimitRange policy should be configured", "LOW",
     "A LimitRange sets default requests and limits for the containers of a namespace.",
     "Create a LimitRange with default requests and limits in the namespace.",
     "A LimitRange policy with a default request and limit for each container should be configured"),
    ("KSV040", "ResourceQuota policy should be configured", "LOW",
     "A ResourceQuota caps the total memory and CPU the workloads of a namespace may use.",
     "Create a ResourceQuota with hard memory and CPU limits in the namespace.",
     "A ResourceQuota policy with hard memory and CPU limits should be configured"),
)

_RBAC_ROWS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("KSV041", "Manage secrets", "CRITICAL",
     "Reading secrets across the cluster is close to cluster-admin, since service account tokens bound "
     "to powerful roles are among them.",
     "Remove the resource 'secrets' from the role.",
     "{kind} '{name}' shouldn't have access to manage resource 'secrets'"),
    ("KSV044", "No wildcard verb and resource roles", "CRITICAL",
     "A role granting every verb on every resource is equivalent to cluster-admin.",
     "Create a role which does not permit a wildcard verb on a wildcard resource.",
     "Role permits wildcard verb on wildcard resource"),
    ("KSV045", "No wildcard verb roles", "CRITICAL",
     "A wildcard verb grants future verbs as well as the ones needed today.",
     "Create a role which does not permit wildcard verbs.",
     "Role permits wildcard verb on specific resources"),
    ("KSV046", "Manage all resources", "CRITICAL",
     "Full control of every resource gives root on every node where workloads run.",
     "Remove the wildcard resource from the role.",
     "{kind} '{name}' shouldn't manage all resources"),
    ("KSV048", "Manage Kubernetes workloads and pods", "MEDIUM",
     "Creating workloads can be used to run privileged pods that escape to the node.",
     "Remove create, update and delete on workloads and pods from the role.",
     "Role permits management of workload(s)"),
    ("KSV049", "Manage configmaps", "MEDIUM",
     "Configmaps often hold configuration that changes runtime behaviour or sensitive parameters.",
     "Remove write verbs on configmaps from the role.",
     "Role permits management of configmap(s)"),
    ("KSV050", "Manage Kubernetes RBAC resources", "CRITICAL",
     "Whoever manages RBAC can grant themselves any permission.",
     "Remove write verbs on roles, rolebindings, clusterroles and clusterrolebindings from the role.",
     "Role permits management of RBAC resources"),
    ("KSV053", "Exec into Pods", "HIGH",
     "Executing commands in pods gives access to their service account tokens and mounted secrets.",
     "Remove 'create' on 'pods/exec' from the role.",
     "Role permits allow/create access to pods/exec"),
    ("KSV056", "Manage Kubernetes networking", "HIGH",
     "Managing services, endpoints and network policies allows traffic to be intercepted or opened up.",
     "Remove write verbs on networking resources from the role.",
     "Role permits management of networking resource(s)"),
    ("KSV113", "Manage namespace secrets", "MEDIUM",
     "Reading secrets of a namespace exposes every credential its workloads use.",
     "Remove 'get', 'list' and 'watch' on secrets from the role.",
     "Role permits management of secret(s)"),
)

_INFRA_ROWS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("KCV0001", "Ensure that the --anonymous-auth argument is set to false", "MEDIUM",
     "Anonymous requests to the API server should be disabled.",
     "Set '--anonymous-auth=false' in the kube-apiserver manifest.",
     "Ensure that the --anonymous-auth argument is set to false"),
    ("KCV0002", "Ensure that the --token-auth-file parameter is not set", "LOW",
     "Static token files keep credentials in clear text and cannot be rotated without a restart.",
     "Remove '--token-auth-file' from the kube-apiserver manifest.",
     "Ensure that the --token-auth-file parameter is not set"),
    ("KCV0007", "Ensure that the --authorization-mode argument is not set to AlwaysAllow", "LOW",
     "Every request must be authorized.",
     "Set '--authorization-mode' to a value that does not include AlwaysAllow, such as Node,RBAC.",
     "Ensure that the --authorization-mode argument is not set to AlwaysAllow"),
    ("KCV0011", "Ensure that the admission control plugin AlwaysPullImages is set", "LOW",
     "Always pulling images forces credentials to be checked for every pod that uses a private image.",
     "Add AlwaysPullImages to '--enable-admission-plugins'.",
     "Ensure that the admission control plugin AlwaysPullImages is set"),
    ("KCV0019", "Ensure that the --profiling argument is set to false", "LOW",
     "Profiling exposes detailed performance data of the component.",
     "Set '--profiling=false'.",
     "Ensure that the --profiling argument is set to false"),
    ("KCV0020", "Ensure that the --audit-log-path argument is set", "LOW",
     "Audit logs record who did what in the cluster.",
     "Set '--audit-log-path' to a file the audit log is written to.",
     "Ensure that the --audit-log-path argument is set"),
    ("KCV0021", "Ensure that the --audit-log-maxage argument is set to 30 or as appropriate", "LOW",
     "Audit logs should be kept long enough to investigate incidents.",
     "Set '--audit-log-maxage=30'.",
     "Ensure that the --audit-log-maxage argument is set to 30 or as appropriate"),
    ("KCV0042", "Ensure that the --cert-file and --key-file arguments are set as appropriate", "LOW",
     "etcd should serve its clients over TLS.",
     "Set '--cert-file' and '--key-file' in the etcd manifest.",
     "Ensure that the --cert-file and --key-file arguments are set as appropriate"),
    ("KCV0043", "Ensure that the --client-cert-auth argument is set to true", "LOW",
     "etcd should only accept clients with a valid certificate.",
     "Set '--client-cert-auth=true' in the etcd manifest.",
     "Ensure that the --client-cert-auth argument is set to true"),
    ("KCV0069", "Ensure that the kubelet service file permissions are set to 600 or more restrictive",
     "HIGH",
     "Only root should be able to change how the kubelet is started.",
     "Run 'chmod 600 /etc/systemd/system/kubelet.service.d/10-kubeadm.conf' on the node.",
     "Ensure that the kubelet service file permissions are set to 600 or more restrictive"),
    ("KCV0079", "Ensure that the kubelet --anonymous-auth argument is set to false", "CRITICAL",
     "Anonymous requests to the kubelet API should be disabled.",
     "Set 'authentication.anonymous.enabled: false' in the kubelet config file.",
     "Ensure that the --anonymous-auth argument is set to false"),
    ("KCV0080", "Ensure that the kubelet --authorization-mode argument is not set to AlwaysAllow",
     "CRITICAL",
     "Requests to the kubelet API must be authorized.",
     "Set 'authorization.mode: Webhook' in the kubelet config file.",
     "Ensure that the --authorization-mode argument is not set to AlwaysAllow"),
    ("KCV0083", "Ensure that the kubelet --read-only-port argument is set to 0", "HIGH",
     "The read-only port serves pod and node data without authentication.",
     "Set 'readOnlyPort: 0' in the kubelet config file.",
     "Ensure that the --read-only-port argument is set to 0"),
)
# fmt: on

CHECKS: dict[str, Check] = {row[0]: Check(*row) for row in _CHECK_ROWS}
RBAC_CHECKS: dict[str, Check] = {row[0]: Check(*row) for row in _RBAC_ROWS}
INFRA_CHECKS: dict[str, Check] = {row[0]: Check(*row) for row in _INFRA_ROWS}

# fmt: off
WORKLOAD_CHECK_IDS = (
    "KSV001", "KSV003", "KSV009", "KSV010", "KSV011", "KSV012", "KSV014", "KSV015", "KSV016", "KSV017",
    "KSV018", "KSV020", "KSV021", "KSV023", "KSV104", "KSV106", "KSV118",
)
# fmt: on


@dataclass(frozen=True)
class Control:
    """A Kubescape control as a WorkloadConfigurationScan records it."""

    id: str
    name: str
    severity: str
    score_factor: float
    rule: str
    fix_path: str
    fix_value: str


_SC = "containers[0].securityContext."

# id, name, severity, scoreFactor, rule, path under the pod spec, fix value ("" = the path is the failure)
# fmt: off
_CONTROL_ROWS: tuple[tuple[str, str, str, float, str, str, str], ...] = (
    ("C-0009", "Resource limits", "High", 7.0, "resource-policies", "containers[0].resources.limits.cpu",
     "YOUR_VALUE"),
    ("C-0013", "Non-root containers", "Medium", 6.0, "non-root-containers", _SC + "runAsNonRoot", "true"),
    ("C-0016", "Allow privilege escalation", "Medium", 6.0, "rule-allow-privilege-escalation",
     _SC + "allowPrivilegeEscalation", "false"),
    ("C-0017", "Immutable container filesystem", "Low", 3.0, "immutable-container-filesystem",
     _SC + "readOnlyRootFilesystem", "true"),
    ("C-0018", "Configured readiness probe", "Low", 3.0, "configured-readiness-probe",
     "containers[0].readinessProbe", ""),
    ("C-0034", "Automatic mapping of service account", "Medium", 6.0, "automount-service-account",
     "automountServiceAccountToken", "false"),
    ("C-0038", "Host PID/IPC privileges", "High", 7.0, "host-pid-ipc-privileges", "hostPID", ""),
    ("C-0041", "HostNetwork access", "High", 7.0, "host-network-access", "hostNetwork", ""),
    ("C-0044", "Container hostPort", "Medium", 4.0, "container-hostPort", "containers[0].ports[0].hostPort",
     ""),
    ("C-0046", "Insecure capabilities", "High", 7.0, "insecure-capabilities", _SC + "capabilities.add[0]",
     ""),
    ("C-0048", "HostPath mount", "High", 7.0, "alert-any-hostpath", "volumes[0].hostPath.path", ""),
    ("C-0055", "Linux hardening", "Medium", 4.0, "linux-hardening", _SC + "seccompProfile", "RuntimeDefault"),
    ("C-0057", "Privileged container", "High", 8.0, "rule-privilege-escalation", _SC + "privileged", ""),
    ("C-0260", "Missing network policy", "Medium", 5.0, "ensure_network_policy_configured_in_labels", "", ""),
    ("C-0270", "Ensure CPU limits are set", "High", 8.0, "resources-cpu-limits",
     "containers[0].resources.limits.cpu", "YOUR_VALUE"),
    ("C-0271", "Ensure memory limits are set", "High", 8.0, "resources-memory-limits",
     "containers[0].resources.limits.memory", "YOUR_VALUE"),
)
# fmt: on

CONTROLS: dict[str, Control] = {row[0]: Control(*row) for row in _CONTROL_ROWS}


@dataclass(frozen=True)
class SecretRule:
    """A Trivy secret rule and one hit of it; `match` is already masked as Trivy prints it."""

    rule_id: str
    category: str
    title: str
    severity: str
    target: str
    match: str


# fmt: off
SECRET_SETS: dict[str, tuple[SecretRule, ...]] = {
    "settlement-worker": (
        SecretRule("aws-access-key-id", "AWS", "AWS Access Key ID", "CRITICAL", "/app/config/settings.env",
                   "AWS_ACCESS_KEY_ID=********************"),
        SecretRule("aws-secret-access-key", "AWS", "AWS Secret Access Key", "CRITICAL",
                   "/app/config/settings.env", "AWS_SECRET_ACCESS_KEY=****************"),
    ),
    "shop-frontend": (
        SecretRule("github-pat", "GitHub", "GitHub Personal Access Token", "CRITICAL", "/usr/src/app/.npmrc",
                   "//npm.pkg.github.com/:_authToken=****************************************"),
        SecretRule("private-key", "AsymmetricPrivateKey", "Asymmetric Private Key", "HIGH",
                   "/usr/src/app/certs/dev-server.key",
                   "-----BEGIN RSA PRIVATE KEY-----*********************************-----END RSA PRIVATE "
                   "KEY"),
        SecretRule("jwt-token", "JWT", "JWT token", "MEDIUM", "/usr/src/app/dist/main.3f9a1c.js",
                   "const demoToken = \"eyJhbGciOi****************************************\""),
    ),
    "grafana": (
        SecretRule("slack-web-hook", "Slack", "Slack Webhook", "MEDIUM",
                   "/usr/share/grafana/conf/provisioning/notifiers/sample.yaml",
                   "url: https://hooks.slack.com/services/T0000000/B0000000/************************"),
    ),
}
# fmt: on
