//! The image service: pulls from registries into the content store and the snapshotter, pushes
//! stored images back to registries, checks logins, and answers docker's image queries (list,
//! inspect, history, tag, remove, prune).
//!
//! * mod.rs: [`ImageService`] (the stores under the daemon's root, the registry clients, the
//!   single flights) and the engine's image types.
//! * pull.rs: [`ImageService::pull`], registry to content store to snapshots, with progress.
//! * progress.rs: [`PullProgress`], the events a pull reports (dockerd's messages).
//! * query.rs: the read and edit operations, and docker's image filters.
//! * save.rs: [`ImageService::save_plan`] and [`ImageService::save`], images as one tar that
//!   both docker-archive (dockerd 20.10) and OCI-layout loaders read.
//! * load.rs: [`ImageService::load`], a docker-archive or OCI layout tar into the stores.
//! * import.rs: [`ImageService::import`], a rootfs tar as a one-layer image (`docker import`),
//!   with changes.rs applying `--change` Dockerfile instructions to its config.
//! * push.rs: [`ImageService::push`], content store to registry (stored manifests byte for
//!   byte), with dockerd's progress ([`PushProgress`]).
//! * login.rs: [`ImageService::login`], credentials checked against a registry's `/v2/`.
//! * recover.rs: at open, what a daemon that died mid-operation left (its leases, ingests,
//!   blobs and layer snapshots) is removed.
//!
//! The stores are synchronous; every call into them runs on tokio's blocking pool
//! (`ImageService::blocking`), so the async threads only move bytes.

mod changes;
mod import;
mod load;
mod login;
mod progress;
mod pull;
mod push;
mod query;
mod recover;
mod save;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_image::ImageStore;
use berth_oci::Digest;
use berth_registry::{Registry, RegistryOptions};

use crate::flight::SingleFlight;
use berth_snapshot::Snapshotter;

use crate::error::EngineError;

pub use import::ImportOptions;
pub use load::{LoadEvent, LoadSender, LoadedImage};
pub use login::{LoginOptions, LoginOutcome};
pub use progress::{LayerStatus, ProgressSender, PullProgress};
pub use pull::{PullOptions, PullOutcome};
pub use push::{
    PushLayerStatus, PushOptions, PushProgress, PushProgressSender, PushedTag,
    MAX_CONCURRENT_UPLOADS,
};
pub use query::{DeleteItem, HistoryEntry, ImageDetails, ImageFilters, ImageSummary, PruneReport};
pub use save::SavePlan;

/// Images under the daemon's root: `<root>/image` (content and metadata) and
/// `<root>/snapshots` (unpacked layers).
#[derive(Clone)]
pub struct ImageService {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// The daemon's root.
    root: PathBuf,
    store: Arc<ImageStore>,
    snapshots: Arc<Snapshotter>,
    registry_options: RegistryOptions,
    /// One client per registry host, so that downloads share its connection pool, tokens and
    /// download permits (`max_concurrent_downloads` per registry).
    registries: Mutex<HashMap<String, Registry>>,
    /// Concurrent pulls of the same reference share one run.
    pulls: SingleFlight<String, PullOutcome>,
    /// Concurrent downloads of the same layer blob share one run (two images with a common
    /// base layer pulled at once).
    layers: SingleFlight<Digest, ()>,
}

impl std::fmt::Debug for ImageService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageService")
            .field("store", &self.inner.store.root())
            .field("driver", &self.inner.snapshots.driver())
            .finish_non_exhaustive()
    }
}

impl ImageService {
    /// Opens (creating them if needed) the stores under `root`, the layers with `driver`
    /// (`None`: overlay where it works, else vfs), and cleans up after a daemon that died
    /// with operations in progress (recover.rs). The caller must be the stores' only user
    /// (berthd holds its root's lock).
    pub fn open(
        root: &Path,
        driver: Option<berth_snapshot::Driver>,
        registry_options: RegistryOptions,
    ) -> Result<Self, EngineError> {
        let store = ImageStore::open(root.join("image"))?;
        let snapshots = Snapshotter::open(&root.join("snapshots"), driver)?;
        let service = ImageService {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                store: Arc::new(store),
                snapshots: Arc::new(snapshots),
                registry_options,
                registries: Mutex::new(HashMap::new()),
                pulls: SingleFlight::new(),
                layers: SingleFlight::new(),
            }),
        };
        let started = std::time::Instant::now();
        let r = recover::recover(&service.inner)?;
        if !r.leases.is_empty() || r.ingests > 0 {
            tracing::info!(
                "recovered after an unclean stop in {} ms: ended leases {:?}; removed {} ingests, {} blobs, {} layer snapshots",
                started.elapsed().as_millis(),
                r.leases,
                r.ingests,
                r.blobs,
                r.snapshots.len()
            );
        }
        Ok(service)
    }

    /// The storage driver's name as docker reports it (`overlay2`, `vfs`).
    pub fn driver_name(&self) -> &'static str {
        match self.inner.snapshots.driver() {
            berth_snapshot::Driver::Overlay => "overlay2",
            berth_snapshot::Driver::Vfs => "vfs",
        }
    }

    /// How many images are stored.
    pub async fn count(&self) -> Result<usize, EngineError> {
        self.blocking(|s| Ok(s.store.metadata().images()?.len()))
            .await
    }

    /// The image store (for the container service).
    pub(crate) fn store(&self) -> &Arc<ImageStore> {
        &self.inner.store
    }

    /// The layer store (for the container service).
    pub(crate) fn snapshots(&self) -> &Arc<Snapshotter> {
        &self.inner.snapshots
    }

    /// Runs `f` on the blocking pool with the stores.
    pub(crate) async fn blocking<T, F>(&self, f: F) -> Result<T, EngineError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, EngineError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| EngineError::Task(format!("image task: {e}")))?
    }

    /// The client for `host`, made on first use.
    fn registry(
        &self,
        host: &str,
        creds: Option<berth_registry::Credentials>,
    ) -> Result<Registry, EngineError> {
        // Clients with credentials are not shared: their token caches belong to one user.
        if creds.is_some() {
            return Ok(Registry::new(host, creds, &self.inner.registry_options)?);
        }
        let mut map = self
            .inner
            .registries
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(r) = map.get(host) {
            return Ok(r.clone());
        }
        let r = Registry::new(host, None, &self.inner.registry_options)?;
        map.insert(host.to_owned(), r.clone());
        Ok(r)
    }
}

/// The snapshot name of a layer: its chain ID (`sha256:<hex>`).
pub(crate) fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(parent) => Digest::of(format!("{parent} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_oci_rule() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        assert_eq!(ids[1], Digest::of(format!("{a} {b}").as_bytes()));
    }
}
