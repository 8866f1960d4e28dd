#!/usr/bin/env bash
# Make sure kube-apiserver, kubectl and etcd for the pinned versions exist, and
# print the directory that holds them (the only line on stdout; logs go to stderr).
#
#   BIN_DIR="$(bash scripts/k8s/ensure-binaries.sh)"
#
# First use builds them from the Go module proxy (~6 min on 2 cores from empty Go caches);
# every later call only compares stamps and returns in milliseconds.
#
# Cache: ${REPORT_EXPORTER_K8S_CACHE:-${XDG_CACHE_HOME:-~/.cache}/report-exporter/k8s}/<k8s version>/
# outside the repository, so clones, worktrees and CI checkouts on one machine
# share it and `git clean` never throws it away. Each tool has a stamp holding a
# hash of the inputs that shape it (wrapper go.mod/go.sum and build scripts), so
# editing a pin or a build flag rebuilds exactly the affected tools.
#
# Exit status 3: no Go toolchain on this machine and nothing cached.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/k8s/lib.sh
source "$here/lib.sh"

k8s_version="$(wrapper_version k8s.io/kubernetes "$here/kube-build/go.mod")"
cache_root="${REPORT_EXPORTER_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/report-exporter/k8s}"
bin_dir="$cache_root/$k8s_version"

inputs_hash() {  # FILE... -> one hash over their contents
  cat "$@" | sha256sum | cut -d' ' -f1
}
kube_key="$(inputs_hash "$here"/kube-build/go.{mod,sum} "$here/build-kube.sh" "$here/lib.sh")"
etcd_key="$(inputs_hash "$here"/etcd-build/go.{mod,sum} "$here/build-etcd.sh" "$here/lib.sh")"

is_current() {  # TOOL KEY
  [[ -x "$bin_dir/$1" && -f "$bin_dir/.stamp-$1" && "$(<"$bin_dir/.stamp-$1")" == "$2" ]]
}
all_current() {
  is_current kube-apiserver "$kube_key" && is_current kubectl "$kube_key" && is_current etcd "$etcd_key"
}

if ! all_current; then
  mkdir -p "$bin_dir"
  # One builder at a time (parallel CI jobs, pytest-xdist workers); the others
  # wait here and then find the stamps current.
  exec 9>"$bin_dir/.lock"
  flock 9
  if ! is_current kube-apiserver "$kube_key" || ! is_current kubectl "$kube_key"; then
    log "building Kubernetes $k8s_version into $bin_dir (from scratch ~6 min on 2 cores, ~1.7 GiB RSS; seconds with a warm Go build cache)"
    rm -f "$bin_dir/.stamp-kube-apiserver" "$bin_dir/.stamp-kubectl"
    "$here/build-kube.sh" "$bin_dir" kube-apiserver kubectl
    printf '%s' "$kube_key" >"$bin_dir/.stamp-kube-apiserver"
    printf '%s' "$kube_key" >"$bin_dir/.stamp-kubectl"
  fi
  if ! is_current etcd "$etcd_key"; then
    log "building etcd into $bin_dir"
    rm -f "$bin_dir/.stamp-etcd"
    "$here/build-etcd.sh" "$bin_dir"
    printf '%s' "$etcd_key" >"$bin_dir/.stamp-etcd"
  fi
fi

printf '%s\n' "$bin_dir"
