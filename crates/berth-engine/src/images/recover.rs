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
