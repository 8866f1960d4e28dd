# shellcheck shell=bash
# Shared helpers for the scripts in scripts/k8s (sourced, not executed).

log() { printf '[k8s] %s\n' "$*" >&2; }
die() { printf '[k8s] error: %s\n' "$*" >&2; exit 1; }

# Exit status for "no usable Go toolchain": lets callers (the pytest fixture)
# tell a machine that cannot build apart from a build that broke.
readonly EXIT_NO_TOOLCHAIN=3

# The version a wrapper go.mod requires for MODULE, read with awk rather than
# `go list` so the cached fast path of ensure-binaries.sh never starts Go.
# Handles both `require M v` and the `require ( ... )` block form.
wrapper_version() {
  local module="$1" gomod="${2:-go.mod}" version
  version="$(awk -v m="$module" '
    $1 == "require" && $2 == m { print $3; exit }
    $1 == m && $2 ~ /^v[0-9]/  { print $2; exit }' "$gomod")"
  [[ -n "$version" ]] || die "$gomod does not require $module"
  printf '%s\n' "$version"
}

# Environment for a reproducible, memory-bounded build with the machine's Go.
#   GOTOOLCHAIN=local  never download another toolchain (only the proxy is reachable)
#   CGO_ENABLED=0      static binaries, as upstream builds kube-apiserver and etcd
#   -p=N               kube-apiserver's generated packages need ~1-2 GiB each to
#                      compile; N parallel compiles bound the peak (K8S_BUILD_JOBS)
# Module and build caches stay at Go's defaults (~/go/pkg/mod, ~/.cache/go-build)
# so every later build, and other Go work on the machine, reuses them.
go_env_for_build() {
  if ! command -v go >/dev/null 2>&1; then
    if [[ -x /usr/local/go/bin/go ]]; then
      PATH="/usr/local/go/bin:$PATH"
    else
      log "no Go toolchain found (need go >= 1.24 on PATH or at /usr/local/go)"
      exit "$EXIT_NO_TOOLCHAIN"
    fi
  fi
  export PATH GOTOOLCHAIN=local CGO_ENABLED=0
  export GOFLAGS="${GOFLAGS:+$GOFLAGS }-p=${K8S_BUILD_JOBS:-2}"
}
