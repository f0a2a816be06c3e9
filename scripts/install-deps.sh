#!/usr/bin/env bash
# Installs what berth's build, lint, tests and benchmarks need on Debian (run as root): the Debian
# packages the tests drive (runc, dockerd, skopeo, umoci, docker-registry, podman...), a Rust
# toolchain with rustfmt and clippy, and cargo-nextest. Each step is skipped when already done.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \
    build-essential busybox-static libseccomp-dev pkg-config runc docker.io iproute2 hyperfine \
    ca-certificates umoci skopeo gzip tar zstd curl docker-registry apache2-utils openssl podman \
    debootstrap nftables

# Rust: rustup's stable toolchain (Debian's rustc is older than the workspace's rust-version).
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if command -v rustup >/dev/null 2>&1; then
    installed=$(rustup component list --installed)
    for component in rustfmt clippy; do
        grep -q "^$component" <<<"$installed" || rustup component add "$component"
    done
fi
# `make test` runs the suite with cargo-nextest (one process per test).
cargo nextest --version >/dev/null 2>&1 || cargo install --locked cargo-nextest
