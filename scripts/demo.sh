#!/usr/bin/env bash
# Builds berth-runtime and runs a container from a busybox-static rootfs
# (no internet needed). Run as root: `make demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${BERTH_SKIP_DEPS:-}" != 1 ]; then bash scripts/install-deps.sh; fi
cargo build --release -p berth-runtime
rt=target/release/berth-runtime
bundle=$(mktemp -d /tmp/berth-demo.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/etc" "$bundle/rootfs/proc" "$bundle/rootfs/sys" "$bundle/rootfs/dev"
cp /bin/busybox "$bundle/rootfs/bin/"
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$bundle/rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$bundle/rootfs/etc/passwd"
"$rt" spec --bundle "$bundle"
# A non-interactive command instead of the default interactive shell.
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"sh", "-c", "echo hello from $(hostname): pid $$, $(id)"/' "$bundle/config.json"
"$rt" --root /run/berth-demo run --bundle "$bundle" "demo-$$"
