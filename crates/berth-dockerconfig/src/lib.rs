//! Docker's client config file (`$DOCKER_CONFIG/config.json`, by default
//! `~/.docker/config.json`), the part of it about registry credentials:
//! what `berth login`, `logout`, `pull` and `push` read and write on the
//! client side, and what berth-registry's `login` stores after a check.
//!
//! * [`DockerConfig`] (config.rs): load, look up, store and erase the
//!   credentials of `auths`, or of the credential helper named by
//!   `credsStore` / `credHelpers`; save the file atomically keeping every
//!   other field.
//! * [`Credentials`] (credentials.rs): a user and password, or an identity
//!   token.
//! * helper.rs: the docker-credential-helpers protocol.
//!
//! Synchronous, with no async runtime and no HTTP client, so that the
//! `berth` CLI links this and not the registry client.

// Tests may unwrap: a panic there is a failed test.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod config;
mod credentials;
mod error;
mod helper;

pub use config::{auth_key, default_config_path, DockerConfig, DOCKER_HUB_AUTH_KEY};
pub use credentials::Credentials;
pub use error::ConfigError;
