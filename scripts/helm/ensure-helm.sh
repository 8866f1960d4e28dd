#!/usr/bin/env bash
# Make sure the pinned helm exists, and print its path (the only line on stdout; logs go to stderr).
#
#   HELM="$(bash scripts/helm/ensure-helm.sh)"
#
# Used by the tests of playbooks/deploy_operators.yaml (kubernetes.core.helm drives this binary).
# First use builds it from the Go module proxy (~2.5 min on 2 cores from empty Go caches); later calls
# compare a stamp and return in milliseconds. `go install module@version` checks every module against
# the Go checksum database, so the pin below is all the build needs: no wrapper go.mod.
#
# Cache: ${REPORT_EXPORTER_HELM_CACHE:-${XDG_CACHE_HOME:-~/.cache}/report-exporter/helm}/<version>/helm
# Exit status 3: no Go toolchain on this machine and nothing cached.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/k8s/lib.sh
source "$here/../k8s/lib.sh"
log() { printf '[helm] %s\n' "$*" >&2; }

readonly HELM_VERSION=v3.19.0
# The Kubernetes minor helm 3.19 is built against (k8s.io/client-go v0.34): upstream's Makefile stamps it so
# `helm template` without a cluster assumes a current server, as a release binary does.
readonly K8S_MAJOR=1 K8S_MINOR=34

cache_root="${REPORT_EXPORTER_HELM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/report-exporter/helm}"
bin_dir="$cache_root/$HELM_VERSION"
key="$(sha256sum "$here/ensure-helm.sh" | cut -d' ' -f1)"

is_current() {
  [[ -x "$bin_dir/helm" && -f "$bin_dir/.stamp-helm" && "$(<"$bin_dir/.stamp-helm")" == "$key" ]]
}

if ! is_current; then
  mkdir -p "$bin_dir"
  exec 9>"$bin_dir/.lock"
  flock 9
  if ! is_current; then
    go_env_for_build
    log "building helm $HELM_VERSION into $bin_dir (from scratch ~2.5 min on 2 cores)"
    rm -f "$bin_dir/.stamp-helm"
    ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
    ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
    for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
      ldflags+=" -X $pkg.k8sVersionMajor=$K8S_MAJOR -X $pkg.k8sVersionMinor=$K8S_MINOR"
    done
    GOBIN="$bin_dir" go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
    "$bin_dir/helm" version --short >&2
    printf '%s' "$key" >"$bin_dir/.stamp-helm"
  fi
fi
printf '%s\n' "$bin_dir/helm"
