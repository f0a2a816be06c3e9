#!/usr/bin/env bash
# Dependency rules that the crate layout promises (README "Layout", docs/architecture.md):
#
# * the `berth` CLI is a Docker API client: it links nothing of the daemon (no engine, API
#   server, image or layer store, SQLite, cgroups, runtime library, registry client or HTTP
#   client library beyond hyper); berth-api-types is what it shares with berthd;
# * nothing in the daemon's tree links berth-container: no container is forked from inside
#   tokio (a container's first process starts from a single-threaded runtime or shim);
# * the shim links no async runtime and no clap, and its protocol crate no runtime library.
#
# Fails, naming the offending crate and the path to it, when a rule is broken.
# Run by `make lint` and by .ci/run before `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0

# forbid PACKAGE CRATE...: PACKAGE's normal (non-dev, non-build) dependency tree must not
# name any CRATE (exact crate names: berth-api does not match berth-api-types).
forbid() {
    local package=$1
    shift
    local tree
    tree=$(cargo tree --quiet -p "$package" -e normal --prefix none --no-dedupe | awk '{print $1}' | sort -u)
    local crate
    for crate in "$@"; do
        if grep -qx -- "$crate" <<<"$tree"; then
            echo "check-deps: $package must not depend on $crate; it does through:" >&2
            cargo tree --quiet -p "$package" -e normal -i "$crate" >&2 || true
            status=1
        fi
    done
}

forbid berth-cli \
    berth-engine berth-api berth-image berth-snapshot berth-cgroups berth-container \
    berth-registry rusqlite libsqlite3-sys reqwest

forbid berthd berth-container
forbid berth-engine berth-container
# The shim is multiplied by every container: no async runtime, no clap. What it shares with the
# daemon (berth-shim-proto) pulls in neither the runtime library nor an async runtime.
forbid berth-shim tokio clap
forbid berth-shim-proto berth-container berth-cgroups tokio

if [ "$status" -eq 0 ]; then
    echo "check-deps: berth-cli links no daemon crate; berthd links no berth-container; the shim links no async runtime"
fi
exit "$status"
