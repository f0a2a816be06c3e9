//! Recovery when the stores are opened: what a daemon killed in the middle of a pull, push,
//! load, import, save or image removal left behind is removed before the first request.
//!
//! Every one of those operations holds a lease from before it writes anything to after it
//! is done (docs/layout.md). berth-image's [`ImageStore::recover`](berth_image::ImageStore)
//! ends the leases whose owner process is gone, discards the ingests they wrote and collects
//! the blobs nothing else keeps. Only when it ended a lease are the layer snapshots collected
//! here too: a snapshot named by a chain ID that no image's layers make is one an
//! interrupted pull, load or import unpacked (or an interrupted removal left), and goes.
//! Nothing runs meanwhile (the daemon holds its root, and no request is served yet), so no
//! snapshot of a live operation can be taken for garbage. With no lease to end, recovery is a
//! query and two directory listings.

use std::collections::HashSet;

use berth_image::Digest;
use berth_snapshot::Kind;

use super::{chain_ids, Inner};
use crate::error::EngineError;

/// What recovery did, for the log.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    pub(crate) leases: Vec<String>,
    pub(crate) ingests: usize,
    pub(crate) blobs: usize,
    pub(crate) snapshots: Vec<String>,
}

/// Ends the leases of dead daemons and collects what only they kept (see the module).
pub(crate) fn recover(s: &Inner) -> Result<Recovered, EngineError> {
    let report = s.store.recover()?;
    let mut out = Recovered {
        ingests: report.ingests_removed.len(),
        blobs: report.gc.as_ref().map_or(0, |g| g.removed.len()),
        leases: report.leases_expired,
        snapshots: Vec::new(),
    };
    if !out.leases.is_empty() {
        out.snapshots = collect_snapshots(s)?;
    }
    Ok(out)
}

/// Removes every committed layer snapshot (named by a chain ID) that no image's layers make
/// and no other snapshot builds on; returns their names. Only for when nothing else is using
/// the stores: a snapshot being unpacked for a live pull is not an image's yet.
pub(crate) fn collect_snapshots(s: &Inner) -> Result<Vec<String>, EngineError> {
    let mut used: HashSet<String> = HashSet::new();
    for image in s.store.metadata().images()? {
        let diff_ids: Vec<Digest> = image.layers.iter().map(|l| l.diff_id.clone()).collect();
        used.extend(chain_ids(&diff_ids).iter().map(|c| c.to_string()));
    }
    let all = s.snapshots.list()?;
    // What must stay: the layers of images, anything that is not a layer (a container's
    // snapshot), and every parent of those.
    let mut keep: HashSet<String> = HashSet::new();
    let mut stack: Vec<String> = all
        .iter()
        .filter(|i| {
            used.contains(&i.name) || i.kind != Kind::Committed || Digest::parse(&i.name).is_err()
        })
        .map(|i| i.name.clone())
        .collect();
    let parents: std::collections::HashMap<&str, Option<&str>> = all
        .iter()
        .map(|i| (i.name.as_str(), i.parent.as_deref()))
        .collect();
    while let Some(name) = stack.pop() {
        if !keep.insert(name.clone()) {
            continue;
        }
        if let Some(Some(p)) = parents.get(name.as_str()) {
            stack.push((*p).to_owned());
        }
    }
    let mut doomed: Vec<String> = all
        .iter()
        .map(|i| i.name.clone())
        .filter(|n| !keep.contains(n))
        .collect();
    // Children before their parents: remove whatever has no child left, until nothing moves.
    let mut removed = Vec::new();
    loop {
        let before = doomed.len();
        let has_child: HashSet<&str> = doomed
            .iter()
            .filter_map(|n| parents.get(n.as_str()).copied().flatten())
            .collect();
        let (leaves, rest): (Vec<String>, Vec<String>) = doomed
            .iter()
            .cloned()
            .partition(|n| !has_child.contains(n.as_str()));
        for name in leaves {
            s.snapshots.remove(&name)?;
            removed.push(name);
        }
        doomed = rest;
        if doomed.is_empty() || doomed.len() == before {
            break;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::ImageService;
    use berth_image::{ImageRecord, LayerRecord};
    use berth_snapshot::{Driver, UnpackOptions};

    /// A layer tar holding one file.
    fn layer(name: &str) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, &b"x"[..]).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn only_layers_no_image_makes_are_collected_children_first() {
        let dir = tempfile::tempdir().unwrap();
        let svc = ImageService::open(
            dir.path(),
            Some(Driver::Vfs),
            berth_registry::RegistryOptions::default(),
        )
        .unwrap();
        let s = &svc.inner;
        let diff = |n: &str| Digest::of(n.as_bytes());
        // An image of layers a, b; an interrupted pull that made a, c, d; a container's
        // snapshot on a, e; a snapshot that is not a layer.
        let image = chain_ids(&[diff("a"), diff("b")]);
        let orphan = chain_ids(&[diff("a"), diff("c"), diff("d")]);
        let under_container = chain_ids(&[diff("a"), diff("e")]);
        let apply = |chain: &[Digest]| {
            for (i, c) in chain.iter().enumerate() {
                let parent = i.checked_sub(1).map(|p| chain[p].to_string());
                s.snapshots
                    .apply_layer(
                        c.as_str(),
                        parent.as_deref(),
                        &layer(&format!("f{i}"))[..],
                        &UnpackOptions::new(c.to_string()),
                    )
                    .unwrap();
            }
        };
        apply(&image);
        apply(&orphan);
        apply(&under_container);
        s.snapshots
            .prepare("container-1", Some(under_container[1].as_str()))
            .unwrap();
        let blob = Digest::of(b"blob");
        s.store
            .metadata()
            .put_image(&ImageRecord {
                id: Digest::of(b"config"),
                manifest: Digest::of(b"manifest"),
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                created: None,
                size: 0,
                added: 0,
                layers: ["a", "b"]
                    .iter()
                    .map(|n| LayerRecord {
                        diff_id: diff(n),
                        blob: blob.clone(),
                        media_type: "application/vnd.oci.image.layer.v1.tar".into(),
                        size: 1,
                    })
                    .collect(),
            })
            .unwrap();

        let removed = collect_snapshots(s).unwrap();
        assert_eq!(
            removed,
            vec![orphan[2].to_string(), orphan[1].to_string()],
            "d before its parent c"
        );
        let mut left: Vec<String> = s
            .snapshots
            .list()
            .unwrap()
            .into_iter()
            .map(|i| i.name)
            .collect();
        left.sort();
        let mut want = vec![
            image[0].to_string(),
            image[1].to_string(),
            under_container[1].to_string(),
            "container-1".to_owned(),
        ];
        want.sort();
        assert_eq!(left, want);
        assert!(collect_snapshots(s).unwrap().is_empty());
    }
}
