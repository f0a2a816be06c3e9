//! berth's Docker Engine API: what `berthd` serves on its unix socket so that the real `docker`
//! CLI (and anything built on Docker's SDKs) works against it.
//!
//! * [`types`]: the API's JSON shapes, API versions ([`ApiVersion`], [`MIN_API_VERSION`] 1.24 to
//!   [`API_VERSION`] 1.41) and the host syntax live in the berth-api-types crate, which the
//!   `berth` CLI links without linking the daemon; re-exported here.
//! * router.rs: a path (with or without `/vX.Y`) and a method to a [`router::Route`]; unknown
//!   paths are answered 404 `page not found`, as dockerd does.
//! * handlers/: one file per group of endpoints (system.rs: `/_ping`, `/version`, `/info`;
//!   images.rs: `/images/create` (pull, streamed), `/images/json`, `/images/{name}/json`,
//!   `/history`, `/tag`, `DELETE /images/{name}`, `/images/prune`; push.rs:
//!   `/images/{name}/push` (streamed) and `/auth`; archive.rs: save `/images/get` and
//!   `/images/{name}/get` streamed as a tar, `/images/load` and import
//!   `/images/create?fromSrc=-` reading the request body); a handler parses the request
//!   into a typed call on the [`berth_engine::Engine`] and renders the result. query.rs decodes
//!   query strings, dockerd's booleans and the `filters` JSON; stream.rs runs the streamed
//!   jobs (pull, push, load) and decodes the `X-Registry-Auth` header.
//! * error.rs: [`ApiError`], mapping engine error kinds to status codes (404, 409, 400, 401,
//!   503, 500) and rendering Docker's `{"message": "..."}` body.
//! * body.rs: the response [`Body`] type, either whole or streamed from a channel
//!   ([`JsonStream`], for pull progress and logs).
//! * server.rs: [`serve`], hyper 1 over a tokio [`tokio::net::UnixListener`], with graceful
//!   shutdown.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod body;
mod error;
mod handlers;
pub mod router;
mod server;

pub use berth_api_types as types;
pub use berth_api_types::{ApiVersion, API_VERSION, MIN_API_VERSION};
pub use berth_api_types::{Host, HostError, DEFAULT_HOST, DEFAULT_SOCKET};
pub use body::{empty, full, json, Body, ChannelBody, JsonStream, StreamClosed};
pub use error::ApiError;
pub use server::{serve, ServeOptions};

/// The `Server` header berthd sends, in dockerd's `Docker/VERSION (OS)` form.
pub fn server_header() -> String {
    format!("berth/{} ({})", berth_engine::VERSION, std::env::consts::OS)
}
