#!/usr/bin/env bash
# Installs what berth's build, tests and benchmarks need on Debian (run as root).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \
    busybox-static libseccomp-dev pkg-config runc docker.io iproute2 hyperfine ca-certificates \
    umoci skopeo gzip tar zstd curl docker-registry apache2-utils openssl podman debootstrap
