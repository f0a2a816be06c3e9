//! berth's layer storage (docker's graphdriver, containerd's snapshotter).
//!
//! * [`unpack_layer`] streams one layer blob (gzip, zstd or plain tar,
//!   compression.rs) into a directory, verifying its diff ID on the way and
//!   refusing anything that would write outside it (unpack.rs).
//! * [`Snapshotter`] stores unpacked layers by chain ID and the writable
//!   layers of containers by key, with the overlay driver (each layer
//!   unpacked once, stacked as lowerdirs) or the vfs driver (full copies)
//!   for hosts without overlayfs (snapshotter.rs, overlay.rs, vfs.rs).
//!   Like containerd's snapshotters it *returns* [`Mount`]s;
//!   [`mount_all`] and [`unmount`] perform them (mount.rs).
//! * [`Snapshotter::export`] / [`export_diff`] write a snapshot's own
//!   changes back as a layer tar with OCI whiteouts (export.rs).
//!
//! Everything is synchronous, except that removed snapshots are freed by a
//! background thread once the store is idle (trash.rs). With the overlay
//! driver the layers of one image can be applied on separate threads at
//! once, in any order.
//!
//! # On-disk layout
//!
//! ```text
//! <root>/overlay/snapshots/<name>/diff     a layer's files (upper dir when active)
//!                                /work     overlay work dir (active snapshots)
//!                                /meta     kind, parent, link id, diff ID, size
//! <root>/overlay/l/<link>  -> ../snapshots/<name>/diff   short names for lowerdirs
//! <root>/overlay/tmp/                       layers being unpacked
//! <root>/overlay/trash/                     removed snapshots, freed when the store is idle
//! <root>/vfs/snapshots/<name>/diff           a full copy of the tree
//!                            /meta
//! <root>/vfs/tmp/
//! <root>/vfs/trash/
//! <root>/<driver>/lock                      flock'd while a process has the store open
//! ```
//!
//! A `<name>` is a chain ID (`sha256:<hex>` stored as `sha256+<hex>`) for
//! committed layers, or the key given to [`Snapshotter::prepare`].

// Tests may unwrap (the house rule covers input, network and filesystem in
// library code).
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod compression;
mod error;
mod export;
mod mount;
mod overlay;
mod snapshotter;
mod trash;
mod unpack;
mod vfs;

pub use compression::{Compression, Decompressor};
pub use error::{ErrorKind, SnapshotError, UnpackCause, UnpackError};
/// Hooks for the integration tests; not part of the API.
#[doc(hidden)]
pub mod testing {
    /// Mounts an overlay with relative lowerdirs, the path taken on kernels
    /// without `lowerdir+` when the options pass one page.
    pub fn mount_overlay_relative(
        m: &crate::Mount,
        target: &std::path::Path,
    ) -> Result<(), crate::SnapshotError> {
        crate::mount::mount_overlay_relative(m, target)
    }
}

pub use export::{export_diff, ExportResult};
pub use mount::{mount_all, unmount, Mount};
pub use snapshotter::{Applied, Driver, Info, Kind, Snapshotter, Usage};
pub use trash::Activity;
pub use unpack::{unpack_layer, Limits, UnpackOptions, UnpackResult, WhiteoutMode};
