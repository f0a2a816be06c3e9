//! berth's client for the OCI distribution spec (the Docker Registry HTTP
//! API v2): what `berth pull`, `push` and `login` speak to registries.
//!
//! * [`Registry`] (client.rs, one file per concern under client/) is the
//!   client for one host: endpoint resolution (Docker Hub behind its mirrors, plain HTTP only for
//!   loopback and insecure registries), manifests by tag or digest with
//!   their media type and verified digest, blob downloads into a sink the
//!   caller gives that resume with `Range` after a cut and verify the
//!   digest, bounded parallel downloads, retries with backoff, and pushes
//!   (blob-exists checks, cross-repository mounts, chunked uploads,
//!   manifests). [`Digest`], [`Digester`] and [`Descriptor`] are berth-oci's.
//! * auth.rs answers the registry's `WWW-Authenticate` challenges (Basic,
//!   Bearer with a token server) and caches tokens per scope;
//!   [`login`] checks credentials before storing them in a
//!   [`DockerConfig`] (berth-dockerconfig's: `~/.docker/config.json` and its
//!   credential helpers, re-exported here with [`Credentials`]).
//!
//! The crate moves bytes and verifies them; it keeps nothing on disk but
//! the docker config that [`login`] writes. The content store and layer
//! unpacking live in berth-image and berth-snapshot, which hand [`Registry::fetch_blob`] the
//! ingest file to write (and the [`Digester`] of what it already holds), or use
//! [`Registry::fetch_blob_unverified`] when the ingest hashes the bytes itself.
//!
//! HTTP is reqwest (on hyper) with rustls and the system's root
//! certificates: one pooled, HTTP/2-capable client per registry, streaming
//! bodies, no OpenSSL to link. A protocol crate (oci-client) was not used:
//! berth needs Range resume into a caller's partial ingest, its own
//! progress and error kinds, and the engine's single-flight downloads, which
//! would sit beside such a crate rather than in it; the protocol itself is small.

// Tests may unwrap: a panic there is a failed test, not a crash on input.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod auth;
mod client;
mod error;
mod login;
pub mod media_type;

pub use auth::Credentials;
pub use berth_dockerconfig::{default_config_path, DockerConfig, DOCKER_HUB_AUTH_KEY};
pub use berth_oci::{Descriptor, Digest, Digester};
pub use client::{Manifest, Registry, RegistryOptions, RetryPolicy, DOCKER_HUB};
pub use error::{ErrorCode, ErrorKind, RegistryError, Remote};
pub use login::login;
