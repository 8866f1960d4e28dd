#!/usr/bin/env bash
# Build the etcd server from the Go module proxy into OUT_DIR.
#
#   build-etcd.sh OUT_DIR
#
# The pinned module graph lives in scripts/k8s/etcd-build/{go.mod,go.sum}; the
# etcd version is whatever that go.mod requires for go.etcd.io/etcd/server/v3
# (bump it with `pin.sh etcd vX.Y.Z`).
#
# Why a wrapper module: go.etcd.io/etcd/server/v3 has `package main` at its
# root, but its go.mod replaces its sibling modules with ../api etc., so
# `go install go.etcd.io/etcd/server/v3@vX` is refused. As a dependency of our
# module those replaces are ignored and the published siblings are used.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/k8s/lib.sh
source "$here/lib.sh"

out_dir="${1:?usage: build-etcd.sh OUT_DIR}"
go_env_for_build
mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"
cd "$here/etcd-build"

version="$(wrapper_version go.etcd.io/etcd/server/v3)"
log "building etcd $version (GOFLAGS=$GOFLAGS)"
start=$SECONDS
# etcd's version number is a constant in its source; GitSHA is only a label,
# and a module zip carries no commit, so it names the module version instead.
go build -mod=readonly -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$version" \
  -o "$out_dir/etcd.tmp" go.etcd.io/etcd/server/v3
mv -f "$out_dir/etcd.tmp" "$out_dir/etcd"
log "built etcd in $((SECONDS - start))s: $(du -h "$out_dir/etcd" | cut -f1)"

got="$("$out_dir/etcd" --version | awk '/^etcd Version:/ {print "v" $3}')"
[[ "$got" == "$version" ]] || die "etcd --version says '$got', want '$version'"
