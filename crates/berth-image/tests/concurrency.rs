//! Pulls and garbage collection at the same time, from many threads, as the
//! daemon's blocking pool would run them: following the lease protocol, no
//! image ever loses a blob.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use berth_image::manifest::media_types as mt;
use berth_image::{Digest, GcOptions, ImageStore, Platform, Reference};

/// A "pull" of image `n` round `round`: a shared base layer, an own layer,
/// config, manifest, under the lease protocol. Returns the image id and its
/// blobs.
fn pull(store: &ImageStore, n: usize, round: usize) -> (Digest, Vec<Digest>) {
    let meta = store.metadata();
    let lease = format!("pull-{n}-{round}");
    meta.create_lease(&lease).unwrap();
    let base = b"shared base layer".to_vec();
    let own = format!("layer of image {n}").into_bytes();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [Digest::of(&base), Digest::of(&own)]},
    })
    .to_string()
    .into_bytes();
    let layers = [&base, &own];
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": mt::OCI_MANIFEST,
        "config": {"mediaType": mt::OCI_CONFIG, "digest": Digest::of(&config), "size": config.len()},
        "layers": layers.iter().map(|l| serde_json::json!(
            {"mediaType": mt::OCI_LAYER, "digest": Digest::of(l), "size": l.len()})).collect::<Vec<_>>(),
    })
    .to_string()
    .into_bytes();
    let blobs: Vec<Digest> = [&base, &own, &config, &manifest]
        .iter()
        .map(|b| Digest::of(b))
        .collect();
    for blob in [&base, &own, &config, &manifest] {
        let d = Digest::of(blob);
        // Lease first, then look, then write.
        meta.lease_add(&lease, &d).unwrap();
        if !store.content().exists(&d) {
            store.content().write_blob(blob, Some(&d)).unwrap();
        }
    }
    let name = Reference::parse_docker_ref(&format!("localhost:5000/app{n}")).unwrap();
    let target = Digest::of(&manifest);
    let rec = store
        .register(
            &name,
            &target,
            mt::OCI_MANIFEST,
            &Platform::host().matcher(),
        )
        .unwrap();
    meta.delete_lease(&lease).unwrap();
    (rec.id, blobs)
}

#[test]
fn pulls_and_gc_race_safely() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ImageStore::open(dir.path().join("image")).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let collector = {
        let store = store.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut runs = 0;
            while !stop.load(Ordering::Relaxed) || runs == 0 {
                store.gc(&GcOptions::default()).unwrap();
                runs += 1;
            }
            runs
        })
    };
    let pullers: Vec<_> = (0..4)
        .map(|n| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut lost = Vec::new();
                for round in 0..16 {
                    let (id, blobs) = pull(&store, n, round);
                    // Registered and unleased, the image now holds its blobs:
                    // whatever the collector does, all of them are still here.
                    lost.extend(
                        blobs
                            .into_iter()
                            .filter(|d| !store.content().exists(d))
                            .map(|d| format!("image {n} round {round}: {d}")),
                    );
                    // Every other round the image is removed again, so the
                    // collector has real work that races the next pull.
                    if round % 2 == 0 {
                        store.metadata().delete_image(&id).unwrap();
                    }
                }
                lost
            })
        })
        .collect();
    let lost: Vec<String> = pullers
        .into_iter()
        .flat_map(|p| p.join().unwrap())
        .collect();
    assert!(
        lost.is_empty(),
        "blobs collected under a pull:\n{}",
        lost.join("\n")
    );
    stop.store(true, Ordering::Relaxed);
    let runs = collector.join().unwrap();
    assert!(runs > 0);
    // The last round (odd) of each puller left its image registered.
    assert_eq!(store.metadata().images().unwrap().len(), 4);
    let check = store.check().unwrap();
    assert!(check.is_clean(), "{check:?}");
    store.gc(&GcOptions::default()).unwrap();
    // Shared base + 4 own layers + 4 configs + 4 manifests.
    assert_eq!(store.content().list().unwrap().len(), 13);
    assert!(store.check().unwrap().is_clean());
}

#[test]
fn the_store_is_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}
    assert_send_sync::<ImageStore>();
    assert_send_sync::<berth_image::ContentStore>();
    assert_send_sync::<berth_image::Metadata>();
    assert_send::<berth_image::Writer>();
}
