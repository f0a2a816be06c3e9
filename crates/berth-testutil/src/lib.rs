//! Test fixtures for berth: busybox rootfs, OCI bundles, runtime drivers, private dockerd and registry.
//!
//! Everything here is meant for integration tests that run as root and must clean up even when they
//! fail: every fixture that creates something outside the process (a temp dir, a container, a
//! cgroup, a daemon) undoes it in `Drop`, and every external command runs with a timeout so a
//! broken runtime fails a test instead of hanging it.
//!
//! - [`busybox_rootfs`] / [`shared_busybox_rootfs`]: a one-binary rootfs from Debian's busybox-static.
//! - [`Bundle`]: a temp OCI bundle whose `config.json` starts as `runc spec` (with `terminal: false`)
//!   and is edited with builder methods.
//! - [`Runtime`]: drives a runc-compatible binary (`berth-runtime` or runc) with its own `--root`.
//! - [`Dockerd`]: a private dockerd in its own network and mount namespaces.
//! - [`Registry`]: a private docker-registry on the loopback of a network namespace of the test's
//!   own ([`ns::enter_private_net`] or a given one; with htpasswd or any `auth:` section), killed
//!   in `Drop`.
//! - [`Umoci`]: OCI image layouts built with umoci (layers made by editing a rootfs).
//! - [`pty`] and [`ConsoleSocket`]: terminals for `terminal: true` containers.
//! - [`cgroup`], [`ns`]: small host-side probes used by the assertions.
//! - [`selected_runtimes`]: which runtimes the suite runs against (`BERTH_TEST_RUNTIMES`).
//! - [`require`] / [`skip_host`] ([`prereq`]): a missing prerequisite fails the test under CI
//!   and skips (visibly, in `make test`'s summary) on a developer's machine.

mod bundle;
pub mod cgroup;
mod command;
mod console_socket;
mod dockerd;
mod ids;
mod init;
pub mod ns;
pub mod prereq;
pub mod pty;
mod registry;
mod rootfs;
mod runtime;
mod selection;
mod spec;
mod umoci;

pub use bundle::Bundle;
pub use command::{run_command, Output, DEFAULT_TIMEOUT};
pub use console_socket::{ConsoleSocket, ReceivedConsole};
pub use dockerd::Dockerd;
pub use ids::{unique_id, unique_name};
pub use init::static_berth_init;
pub use prereq::{require, require_files, require_root, skip_host};
pub use registry::{Registry, RegistryBuilder, REGISTRY_BIN};
pub use rootfs::{busybox_rootfs, shared_busybox_rootfs, BUSYBOX};
pub use runtime::{Runtime, RUNC};
pub use selection::{runtime_selected, selected_runtimes, RUNTIMES_ENV};
pub use spec::base_spec;
pub use umoci::{add_busybox, Umoci};
