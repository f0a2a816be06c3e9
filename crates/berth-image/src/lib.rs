//! berth's image store: the image side of the daemon, synchronous (call it
//! from a blocking pool), no async runtime.
//!
//! * [`Digest`], [`DigestWriter`], [`Descriptor`], [`Reference`],
//!   [`Platform`] and [`Matcher`] are berth-oci's, re-exported here (with
//!   its `digest`, `reference`, `platform` modules) for convenience.
//! * [`ContentStore`] (content.rs): blobs by digest, written through
//!   resumable ingests, verified, then linked into place; [`ContentStore::fsck`]
//!   re-hashes everything.
//! * [`Manifest`] (manifest.rs), [`ImageConfig`] (config.rs): Docker
//!   schema 2 and OCI manifests, manifest lists and indexes by media type,
//!   schema 1 refused.
//! * [`Metadata`] (metadata.rs): images, tags, digest references and leases
//!   in SQLite.
//! * [`gc`] (gc.rs): mark and sweep of unreferenced blobs.
//! * [`Owner`] (owner.rs): the process that holds a lease (boot id, pid, start time), so
//!   that [`ImageStore::recover`] can end the leases of a daemon that died.
//! * [`ImageStore`] (store.rs): both stores under one root; resolve a target
//!   to a platform's image, register it under a name, look an image up as
//!   docker does (name, id, short id), collect, check, recover after a crash.
//!
//! # On disk
//!
//! ```text
//! ROOT/                                   e.g. /var/lib/berth/image
//!   content/blobs/sha256/<hex>            committed blobs (manifests, indexes, configs,
//!                                         layers), mode 0444, never rewritten
//!   content/ingest/<sha256 of ref>/ref    an ingest's caller-chosen reference
//!   content/ingest/<sha256 of ref>/data   the bytes received so far (resume offset = size)
//!   metadata.db (+ -wal, -shm)            SQLite: images, image_layers, refs, leases,
//!                                         schema_version
//! ```
//!
//! A blob appears under its digest only by `link(2)` of a synced ingest
//! whose size and sha256 were checked, followed by a sync of the directory:
//! after a crash a digest names the right bytes or nothing. Metadata changes
//! are SQLite transactions (WAL, `synchronous=FULL`). Garbage collection
//! marks from the metadata (tag and digest-reference targets, image
//! manifests, configs and layers, leases) and the caller's roots, and holds
//! the content store's lock so that no commit interleaves with it.
//!
//! Errors are one enum per area ([`DigestError`], [`ReferenceError`],
//! [`ContentError`], [`ManifestError`], [`PlatformError`],
//! [`MetadataError`]) gathered in [`Error`], each with an [`ErrorKind`].

// Tests may unwrap: a panic there is a failed test.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod config;
pub mod content;
mod error;
pub mod gc;
pub mod manifest;
pub mod metadata;
pub mod owner;
mod store;

pub use berth_oci::{digest, platform, reference};

pub use berth_oci::{
    Descriptor, Digest, DigestError, DigestWriter, Matcher, Platform, PlatformError, Reference,
    ReferenceError,
};
pub use config::ImageConfig;
pub use content::{Committed, ContentStore, FsckProblem, FsckReport, Info, IngestStatus, Writer};
pub use error::{ContentError, Error, ErrorKind, ManifestError, MetadataError};
pub use gc::{GcOptions, GcReport};
pub use manifest::{ImageIndex, ImageManifest, Manifest};
pub use metadata::{ImageRecord, LayerRecord, LeaseRecord, Metadata, RefRecord};
pub use owner::Owner;
pub use store::{CheckReport, ImageStore, RecoveryReport, ResolvedImage, MAX_DOCUMENT};
