//! berth's Docker Engine API: what `berthd` serves on its unix socket so that the real `docker`
//! CLI (and anything built on Docker's SDKs) works against it.
//!
//! * [`types`]: the API's JSON shapes (Docker Engine API v1.41, moby's `api/swagger.yaml`), kept
//!   apart from the engine's own types; `berth`'s client decodes the same structs.
//!   [`types::images`] holds the image endpoints' shapes and the progress-stream lines,
//!   [`types::push`] the push stream's lines and the login answer.
//! * api_version.rs: [`ApiVersion`], the `/vX.Y` prefix, and the supported range
//!   ([`MIN_API_VERSION`] 1.24 to [`API_VERSION`] 1.41) with dockerd's "too old"/"too new" errors.
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
//! * host.rs: [`Host`], the `-H unix://PATH` syntax shared by `berthd` and `berth`.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod api_version;
mod body;
mod error;
mod handlers;
mod host;
pub mod router;
mod server;
pub mod types;

pub use api_version::{ApiVersion, API_VERSION, MIN_API_VERSION};
pub use body::{empty, full, json, Body, ChannelBody, JsonStream, StreamClosed};
pub use error::ApiError;
pub use host::{Host, HostError, DEFAULT_HOST, DEFAULT_SOCKET};
pub use server::{serve, ServeOptions};

/// The `Server` header berthd sends, in dockerd's `Docker/VERSION (OS)` form.
pub fn server_header() -> String {
    format!("berth/{} ({})", berth_engine::VERSION, std::env::consts::OS)
}
