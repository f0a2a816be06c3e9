//! berth's daemon core: the typed [`Engine`] that `berthd`'s API handlers call.
//!
//! The engine knows nothing of HTTP or of the Docker API's JSON: it takes typed arguments and
//! returns typed results ([`VersionInfo`], [`SystemInfo`]) or an [`EngineError`] whose
//! [`ErrorKind`] the API layer maps to a status code at the edge.
//!
//! * [`Engine`] (engine.rs): built once from an [`EngineConfig`] (config.rs); owns the daemon's
//!   identity (an ID kept in `<root>/engine-id`) and answers `version()` and `info()`; its
//!   [`ImageService`] (`engine.images()`) pulls, pushes, lists, inspects, tags, removes and
//!   prunes images, checks registry logins, and saves, loads and imports image archives.
//! * [`images`]: the image service over berth-image's store (`<root>/image`),
//!   berth-snapshot's layers (`<root>/snapshots`) and berth-registry's client.
//! * flight.rs: `SingleFlight`: concurrent callers asking for the same
//!   key (a pull of one reference, the download of one layer blob) share one run.
//! * system.rs: what the host is (kernel, OS, CPUs, memory, cgroup version and the controllers
//!   containers could use), read from /proc, /sys, /etc/os-release and uname(2).
//! * Times (image configs' `created`, the ones berthd writes) are read and written with
//!   berth-api-types' `time` module, on jiff: the engine has no calendar of its own.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod config;
pub mod containers;
mod engine;
mod error;
mod flight;
pub mod images;
mod init;
mod system;

pub use config::{EngineConfig, StorageDriver};
pub use containers::{ContainerService, CGROUP_PARENT};
pub use engine::{Engine, VersionInfo, VERSION};
pub use error::{EngineError, ErrorKind};
pub use images::{
    DeleteItem, HistoryEntry, ImageDetails, ImageFilters, ImageService, ImageSummary,
    ImportOptions, LayerStatus, LoadEvent, LoadSender, LoadedImage, PruneReport, PullOptions,
    PullOutcome, PullProgress, SavePlan,
};
pub use init::{init_path, is_static_elf};
pub use system::{CgroupFeatures, HostInfo, SystemInfo};
