#!/usr/bin/env bash
# Build kube-apiserver and kubectl from the Go module proxy into OUT_DIR.
#
#   build-kube.sh OUT_DIR [TOOL...]        default tools: kube-apiserver kubectl
#
# The pinned module graph lives in scripts/k8s/kube-build/{go.mod,go.sum}; the
# Kubernetes version is whatever that go.mod requires for k8s.io/kubernetes,
# so go.mod is the only place a version is written (bump it with `pin.sh kubernetes vX.Y.Z`).
#
# Why a wrapper module and not `go install k8s.io/kubernetes/cmd/...@v1.x.y`:
# k8s.io/kubernetes requires every staging module (k8s.io/api, ...) at the
# non-existent v0.0.0 and maps them to ./staging with replace directives, which
# `go install pkg@version` refuses. In our own main module we replace each of
# them with the published k8s.io/<m> v0.<minor>.<patch> instead.
#
# The build runs with -mod=readonly (overriding any -mod in GOFLAGS), so every
# module is verified against the committed go.sum; a missing entry is an error,
# never a silent re-resolve.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/k8s/lib.sh
source "$here/lib.sh"

out_dir="${1:?usage: build-kube.sh OUT_DIR [TOOL...]}"
shift
if [[ $# -gt 0 ]]; then tools=("$@"); else tools=(kube-apiserver kubectl); fi

go_env_for_build
mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"
cd "$here/kube-build"

version="$(wrapper_version k8s.io/kubernetes)"
[[ "$version" =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || die "unexpected k8s.io/kubernetes version '$version' in kube-build/go.mod"
minor="${BASH_REMATCH[1]}"
# The module's tag time, not "now": the same pin always yields the same binary.
build_date="$(go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)"

# Both packages are what upstream's hack/lib/version.sh stamps: component-base
# answers /version and --version, client-go answers `kubectl version --client`.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

for tool in "${tools[@]}"; do
  log "building $tool $version (GOFLAGS=$GOFLAGS)"
  start=$SECONDS
  go build -mod=readonly -trimpath -ldflags "$ldflags" -o "$out_dir/$tool.tmp" "k8s.io/kubernetes/cmd/$tool"
  mv -f "$out_dir/$tool.tmp" "$out_dir/$tool"
  log "built $tool in $((SECONDS - start))s: $(du -h "$out_dir/$tool" | cut -f1)"
done

if [[ -x "$out_dir/kube-apiserver" ]]; then
  got="$("$out_dir/kube-apiserver" --version)"
  [[ "$got" == "Kubernetes $version" ]] || die "kube-apiserver --version says '$got', want 'Kubernetes $version'"
fi
