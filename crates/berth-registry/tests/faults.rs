//! Blob downloads through a TCP proxy that breaks them: cut connections
//! (resumed with Range), wrong bytes, truncation, 503s; single-flight and
//! the download bound.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use berth_registry::{media_type, Digest, Digester, ErrorKind, Registry, RegistryError};
use bytes::Bytes;
use common::*;

/// A registry holding one image with a ~1 MiB layer, and the layer.
async fn registry_with_layer(tmp: &std::path::Path) -> (RegistryServer, Layer) {
    let server = common::start_registry(Auth::None, false);
    let reg = Registry::new(&server.host(), None, &options()).unwrap();
    let layer = make_layer(tmp, "big", 1 << 20, 5);
    let mut src = &layer.gz[..];
    reg.upload_blob("fault/app", &layer.digest, layer.gz.len() as u64, &mut src)
        .await
        .unwrap();
    let config = image_config(&[&layer]);
    let mut src = &config[..];
    reg.upload_blob(
        "fault/app",
        &Digest::of(&config),
        config.len() as u64,
        &mut src,
    )
    .await
    .unwrap();
    let manifest = docker_manifest(&config, &[&layer]);
    reg.put_manifest(
        "fault/app",
        "v1",
        Bytes::from(manifest),
        media_type::DOCKER_MANIFEST,
    )
    .await
    .unwrap();
    (server, layer)
}

async fn fetch(
    reg: &Registry,
    layer: &Layer,
    size: Option<u64>,
) -> (Result<u64, RegistryError>, Vec<u8>) {
    let mut sink = Vec::new();
    let r = reg
        .fetch_blob(
            "fault/app",
            &layer.digest,
            size,
            Digester::new(),
            &mut sink,
            |_| {},
        )
        .await;
    (r, sink)
}

fn range_of(head: &str) -> Option<String> {
    head.lines()
        .find(|l| l.to_ascii_lowercase().starts_with("range:"))
        .map(|l| l.split_once(':').unwrap().1.trim().to_owned())
}

#[test]
fn a_cut_download_resumes_with_range() {
    isolated(async {
        let tmp = tempfile::tempdir().unwrap();
        let (server, layer) = registry_with_layer(tmp.path()).await;
        let proxy = FaultProxy::start(server.port(), Fault::CutOnce { after: 300_000 }).await;
        let reg = Registry::new(&proxy.host(), None, &options()).unwrap();
        for size in [Some(layer.gz.len() as u64), None] {
            let (r, sink) = fetch(&reg, &layer, size).await;
            assert_eq!(r.unwrap(), layer.gz.len() as u64);
            assert_eq!(Digest::of(&sink), layer.digest);
        }
        let reqs = proxy.blob_requests();
        assert_eq!(reqs.len(), 3, "cut, resumed, then the second clean fetch");
        assert_eq!(range_of(&reqs[0]), None);
        assert_eq!(
            range_of(&reqs[1]).as_deref(),
            Some("bytes=300000-"),
            "{}",
            reqs[1]
        );
        assert_eq!(range_of(&reqs[2]), None);
    });
}

#[test]
fn wrong_bytes_are_a_digest_mismatch() {
    isolated(async {
        let tmp = tempfile::tempdir().unwrap();
        let (server, layer) = registry_with_layer(tmp.path()).await;
        let proxy = FaultProxy::start(server.port(), Fault::Corrupt { at: 123_456 }).await;
        let reg = Registry::new(&proxy.host(), None, &options()).unwrap();
        let (r, sink) = fetch(&reg, &layer, Some(layer.gz.len() as u64)).await;
        let err = r.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt);
        assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
        assert!(err.to_string().contains(layer.digest.as_str()), "{err}");
        assert_eq!(sink.len(), layer.gz.len(), "the bytes arrived, wrong");
    });
}

#[test]
fn a_truncated_blob_fails_after_bounded_tries() {
    isolated(async {
        let tmp = tempfile::tempdir().unwrap();
        let (server, layer) = registry_with_layer(tmp.path()).await;
        let proxy = FaultProxy::start(server.port(), Fault::TruncateAt { offset: 400_000 }).await;
        let reg = Registry::new(&proxy.host(), None, &options()).unwrap();
        let (r, sink) = fetch(&reg, &layer, Some(layer.gz.len() as u64)).await;
        let err = r.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        match &err {
            RegistryError::Truncated {
                got,
                expected,
                tries,
                ..
            } => {
                assert_eq!(*got, 400_000);
                assert_eq!(*expected, Some(layer.gz.len() as u64));
                assert_eq!(*tries, 3);
            }
            other => panic!("expected Truncated, got {other}"),
        }
        assert_eq!(sink.len(), 400_000);
        // One request that got bytes, then attempts-1 = 2 that got none.
        let reqs = proxy.blob_requests();
        assert_eq!(reqs.len(), 3, "{reqs:?}");
        assert!(reqs[1..]
            .iter()
            .all(|h| range_of(h).as_deref() == Some("bytes=400000-")));
    });
}

#[test]
fn unavailable_answers_are_retried_with_a_bound() {
    isolated(async {
        let tmp = tempfile::tempdir().unwrap();
        let (server, layer) = registry_with_layer(tmp.path()).await;
        // Two 503s, then the registry's answer: within the 3 attempts.
        let proxy = FaultProxy::start(server.port(), Fault::Unavailable { count: 2 }).await;
        let reg = Registry::new(&proxy.host(), None, &options()).unwrap();
        let (r, sink) = fetch(&reg, &layer, None).await;
        assert_eq!(r.unwrap(), layer.gz.len() as u64);
        assert_eq!(sink, layer.gz);
        assert_eq!(proxy.blob_requests().len(), 3);
        // More 503s than attempts: Unavailable, after exactly 3 requests.
        let proxy = FaultProxy::start(server.port(), Fault::Unavailable { count: 10 }).await;
        let reg = Registry::new(&proxy.host(), None, &options()).unwrap();
        let (r, _) = fetch(&reg, &layer, None).await;
        let err = r.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        assert_eq!(proxy.blob_requests().len(), 3);
    });
}

#[test]
fn downloads_are_bounded_per_registry() {
    isolated(async {
        let tmp = tempfile::tempdir().unwrap();
        let (server, layer) = registry_with_layer(tmp.path()).await;
        let mut opts = options();
        opts.max_concurrent_downloads = 2;
        let reg = Registry::new(&server.host(), None, &opts).unwrap();
        let active = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let layer = Arc::new(layer);
        let mut tasks = Vec::new();
        for _ in 0..5 {
            let (reg, active, peak, layer) =
                (reg.clone(), active.clone(), peak.clone(), layer.clone());
            tasks.push(tokio::spawn(async move {
                // A sink that counts the downloads writing at once, slowly.
                let mut sink = Vec::new();
                let mut started = false;
                let total = layer.gz.len() as u64;
                let r = reg
                    .fetch_blob(
                        "fault/app",
                        &layer.digest,
                        None,
                        Digester::new(),
                        &mut sink,
                        |p| {
                            if !started {
                                started = true;
                                let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                                peak.fetch_max(now, Ordering::SeqCst);
                            }
                            // The last chunk is written while the permit is still held.
                            if p == total {
                                active.fetch_sub(1, Ordering::SeqCst);
                            } else {
                                std::thread::sleep(std::time::Duration::from_millis(2));
                            }
                        },
                    )
                    .await;
                r.unwrap()
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            peak.load(Ordering::SeqCst),
            2,
            "never more than 2 at once, and 2 did overlap"
        );
    });
}
