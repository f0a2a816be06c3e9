//! The OCI image and distribution types berth shares, each defined once:
//! the image store (berth-image), the registry client (berth-registry), the
//! engine and the `berth` CLI all use these. Plain data and parsers: serde,
//! sha2 and regex, no I/O beyond hashing what a caller hands in.
//!
//! * [`Digest`] (digest.rs): `sha256:<hex>` validated as go-digest does;
//!   [`Digester`], the running hash of a blob being received, and
//!   [`DigestWriter`], a writer that hashes as it writes.
//! * [`Descriptor`] (descriptor.rs): media type, digest and size of a blob.
//! * [`media_type`]: the Docker schema 2 and OCI media types and what kind
//!   of document each names.
//! * [`Platform`] and [`Matcher`] (platform.rs): containerd's platform
//!   parsing, matching and index selection.
//! * [`Reference`] (reference.rs): docker's reference grammar,
//!   normalisation (`busybox` is `docker.io/library/busybox`), familiar
//!   form and error messages.
//!
//! Errors are one enum per area ([`DigestError`], [`ReferenceError`],
//! [`PlatformError`]), with docker's and go-digest's messages word for word.

// Tests may unwrap: a panic there is a failed test.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod descriptor;
pub mod digest;
pub mod media_type;
pub mod platform;
pub mod reference;

pub use descriptor::Descriptor;
pub use digest::{Digest, DigestError, DigestWriter, Digester};
pub use platform::{Matcher, Platform, PlatformError};
pub use reference::{Reference, ReferenceError};
