//! Test fixtures for berth: busybox rootfs, OCI bundles, runtime drivers, private dockerd.
