//! The image operations besides pull: list (with docker's filters), inspect, history, tag,
//! remove (untag or delete, with dockerd's conflicts) and prune. Each runs on the blocking
//! pool.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use berth_image::{GcOptions, ImageConfig, ImageRecord};
use berth_oci::{Digest, Reference};

use super::{chain_ids, ImageService, Inner};
use crate::error::EngineError;
use berth_api_types::time::parse_rfc3339;

/// One line of `docker images`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    pub id: Digest,
    /// Familiar `repo:tag` names.
    pub repo_tags: Vec<String>,
    /// Familiar `repo@digest` names: the digest each name resolved to at its registry.
    pub repo_digests: Vec<String>,
    /// Unix seconds of the config's `created` (0 when it has none).
    pub created: i64,
    /// Bytes of the unpacked layers.
    pub size: u64,
    pub labels: BTreeMap<String, String>,
}

/// What `docker image inspect` shows.
#[derive(Debug, Clone)]
pub struct ImageDetails {
    pub summary: ImageSummary,
    /// The config's `created`, as written.
    pub created: Option<String>,
    pub config: ImageConfig,
    /// When a name last pointed here (unix seconds).
    pub last_tag_time: Option<i64>,
    /// `overlay2` or `vfs`.
    pub driver: &'static str,
    /// Where the layers are, as dockerd's overlay2 reports them (`LowerDir`, `UpperDir`,
    /// `MergedDir`, `WorkDir`); empty for vfs.
    pub driver_data: BTreeMap<String, String>,
}

/// One line of `docker history`, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The image id for the top entry, `<missing>` for the others (as dockerd).
    pub id: String,
    pub created: i64,
    pub created_by: String,
    pub tags: Vec<String>,
    pub size: u64,
    pub comment: String,
}

/// What a remove did, in dockerd's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteItem {
    /// A name removed (`busybox:latest`).
    Untagged(String),
    /// An image or a layer (chain id) removed.
    Deleted(String),
}

/// What a prune did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub items: Vec<DeleteItem>,
    pub space_reclaimed: u64,
}

/// docker's `images` filters.
#[derive(Debug, Clone, Default)]
pub struct ImageFilters {
    pub dangling: Option<bool>,
    /// `key` or `key=value`.
    pub labels: Vec<String>,
    /// Globs on familiar names (`busybox`, `busybox:1.*`, `127.0.0.1:5000/*`).
    pub references: Vec<String>,
    /// Images created before (since) the named image.
    pub before: Option<String>,
    pub since: Option<String>,
}

impl ImageFilters {
    /// From the API's `filters` map; unknown filters are refused in dockerd's words.
    pub fn from_map(map: &HashMap<String, Vec<String>>) -> Result<Self, EngineError> {
        let mut f = ImageFilters::default();
        for (key, values) in map {
            match key.as_str() {
                "dangling" => {
                    for v in values {
                        f.dangling = Some(match v.to_ascii_lowercase().as_str() {
                            "true" | "1" => true,
                            "false" | "0" => false,
                            _ => {
                                return Err(EngineError::InvalidParameter(format!(
                                    "Invalid filter 'dangling={v}'"
                                )))
                            }
                        });
                    }
                }
                "label" => f.labels.extend(values.iter().cloned()),
                "reference" => f.references.extend(values.iter().cloned()),
                "before" => f.before = values.first().cloned(),
                "since" => f.since = values.first().cloned(),
                other => {
                    return Err(EngineError::InvalidParameter(format!(
                        "Invalid filter '{other}'"
                    )))
                }
            }
        }
        Ok(f)
    }
}

impl ImageService {
    /// `docker images`: every image (or those the filters keep), newest first.
    pub async fn list(&self, filters: ImageFilters) -> Result<Vec<ImageSummary>, EngineError> {
        self.blocking(move |s| list(s, &filters)).await
    }

    /// `docker image inspect NAME`.
    pub async fn inspect(&self, name: &str) -> Result<ImageDetails, EngineError> {
        let name = name.to_owned();
        self.blocking(move |s| {
            let image = s.store.lookup(&name)?;
            let config = s.store.config(&image.id)?;
            let refs = s.store.metadata().refs_of(&image.id)?;
            let last_tag_time = refs.iter().map(|r| r.updated).max();
            let driver_data = driver_data(s, &chain_ids(&config.rootfs.diff_ids));
            Ok(ImageDetails {
                summary: summary(&image, &config, &refs),
                created: config.created.clone(),
                config,
                last_tag_time,
                driver: match s.snapshots.driver() {
                    berth_snapshot::Driver::Overlay => "overlay2",
                    berth_snapshot::Driver::Vfs => "vfs",
                },
                driver_data,
            })
        })
        .await
    }

    /// `docker history NAME`.
    pub async fn history(&self, name: &str) -> Result<Vec<HistoryEntry>, EngineError> {
        let name = name.to_owned();
        self.blocking(move |s| {
            let image = s.store.lookup(&name)?;
            let config = s.store.config(&image.id)?;
            let refs = s.store.metadata().refs_of(&image.id)?;
            let tags: Vec<String> = summary(&image, &config, &refs).repo_tags;
            let chains = chain_ids(&config.rootfs.diff_ids);
            let mut layer_sizes = chains.iter().map(|c| {
                s.snapshots
                    .stat(c.as_str())
                    .ok()
                    .and_then(|i| i.size)
                    .unwrap_or(0)
            });
            let mut out: Vec<HistoryEntry> = config
                .history
                .iter()
                .map(|h| {
                    let empty = h.empty_layer.unwrap_or(false);
                    HistoryEntry {
                        id: "<missing>".into(),
                        created: h.created.as_deref().and_then(parse_rfc3339).unwrap_or(0),
                        created_by: h.created_by.clone().unwrap_or_default(),
                        tags: Vec::new(),
                        size: if empty {
                            0
                        } else {
                            layer_sizes.next().unwrap_or(0)
                        },
                        comment: h.comment.clone().unwrap_or_default(),
                    }
                })
                .collect();
            out.reverse();
            if let Some(top) = out.first_mut() {
                top.id = image.id.to_string();
                top.tags = tags;
            }
            Ok(out)
        })
        .await
    }

    /// `docker tag SOURCE REPO[:TAG]`.
    pub async fn tag(&self, source: &str, repo: &str, tag: &str) -> Result<(), EngineError> {
        let (source, repo, tag) = (source.to_owned(), repo.to_owned(), tag.to_owned());
        self.blocking(move |s| {
            let image = s.store.lookup(&source)?;
            let target = if tag.is_empty() {
                repo.clone()
            } else {
                format!("{repo}:{tag}")
            };
            let name = Reference::parse_normalized(&target).map_err(EngineError::image)?;
            if name.digest().is_some() {
                return Err(EngineError::InvalidParameter(
                    "refusing to create a tag with a digest reference".into(),
                ));
            }
            let name = name.with_default_tag();
            s.store
                .metadata()
                .set_ref(&name, &image.id, &image.manifest, &image.media_type)?;
            Ok(())
        })
        .await
    }

    /// `docker rmi [-f] NAME`: a name untags (and deletes the image with its last name); an id
    /// deletes the image, refused without `force` when names of several repositories point
    /// at it.
    pub async fn remove(&self, name: &str, force: bool) -> Result<Vec<DeleteItem>, EngineError> {
        let name = name.to_owned();
        // A lease that holds nothing: if the daemon dies before the collection below, the
        // next one finds it and collects (recover.rs).
        let (_, _lease) = self.new_lease("remove").await?;
        self.blocking(move |s| {
            let mut items = Vec::new();
            remove(s, &name, force, &mut items)?;
            collect_garbage(s);
            Ok(items)
        })
        .await
    }

    /// Removes the name `name` only, keeping the image (for `rmi -f` of an image containers
    /// use, as dockerd).
    pub async fn untag(&self, name: &str) -> Result<Vec<DeleteItem>, EngineError> {
        let name = name.to_owned();
        self.blocking(move |s| {
            let Some(r) = named_reference(s, &name)? else {
                return Ok(Vec::new());
            };
            s.store.metadata().remove_ref(&r)?;
            Ok(vec![DeleteItem::Untagged(r.familiar())])
        })
        .await
    }

    /// `docker image prune [-a]`: dangling images, or with `all` every image no container
    /// uses.
    pub async fn prune(&self, all: bool) -> Result<PruneReport, EngineError> {
        // As in remove: a crash before the collection is finished at the next start.
        let (_, _lease) = self.new_lease("prune").await?;
        self.blocking(move |s| {
            let md = s.store.metadata();
            let ids: Vec<Digest> = if all {
                md.images()?.into_iter().map(|i| i.id).collect()
            } else {
                md.dangling_images()?
            };
            let mut report = PruneReport::default();
            for id in ids {
                let before = report.items.len();
                report.space_reclaimed += delete_image(s, &id, &mut report.items)?;
                // Untag lines first, as dockerd lists them.
                report.items[before..].sort_by_key(|i| matches!(i, DeleteItem::Deleted(_)));
            }
            collect_garbage(s);
            Ok(report)
        })
        .await
    }
}

/// dockerd's overlay2 `GraphDriver.Data` for an image whose layers are `chains`: the top
/// layer's directories and the lower layers' diff dirs, topmost first (berth-snapshot's layout,
/// docs/layout.md).
fn driver_data(s: &Inner, chains: &[Digest]) -> BTreeMap<String, String> {
    let mut data = BTreeMap::new();
    if s.snapshots.driver() != berth_snapshot::Driver::Overlay {
        return data;
    }
    let dir = |c: &Digest| {
        s.root
            .join("snapshots/overlay/snapshots")
            .join(c.as_str().replace(':', "+"))
    };
    let Some((top, lower)) = chains.split_last() else {
        return data;
    };
    let top = dir(top);
    let lower: Vec<String> = lower
        .iter()
        .rev()
        .map(|c| dir(c).join("diff").display().to_string())
        .collect();
    if !lower.is_empty() {
        data.insert("LowerDir".into(), lower.join(":"));
    }
    for (k, sub) in [
        ("MergedDir", "merged"),
        ("UpperDir", "diff"),
        ("WorkDir", "work"),
    ] {
        data.insert(k.into(), top.join(sub).display().to_string());
    }
    data
}

fn list(s: &Inner, f: &ImageFilters) -> Result<Vec<ImageSummary>, EngineError> {
    let md = s.store.metadata();
    let created_of = |name: &str| -> Result<i64, EngineError> {
        let image = s.store.lookup(name)?;
        Ok(image
            .created
            .as_deref()
            .and_then(parse_rfc3339)
            .unwrap_or(0))
    };
    let before = f.before.as_deref().map(created_of).transpose()?;
    let since = f.since.as_deref().map(created_of).transpose()?;
    let mut out = Vec::new();
    for image in md.images()? {
        let config = s.store.config(&image.id)?;
        let refs = md.refs_of(&image.id)?;
        let mut sum = summary(&image, &config, &refs);
        if let Some(d) = f.dangling {
            if sum.repo_tags.is_empty() != d {
                continue;
            }
        }
        if !f.labels.iter().all(|l| match l.split_once('=') {
            Some((k, v)) => sum.labels.get(k).is_some_and(|x| x == v),
            None => sum.labels.contains_key(l),
        }) {
            continue;
        }
        if before.is_some_and(|b| sum.created >= b) || since.is_some_and(|t| sum.created <= t) {
            continue;
        }
        if !f.references.is_empty() {
            // As dockerd: the image stays if a name matches, showing only matching names.
            let matches = |r: &&berth_image::RefRecord| {
                f.references.iter().any(|p| {
                    glob(p, &r.reference.familiar()) || glob(p, &r.reference.familiar_name())
                })
            };
            let (tags, digests): (Vec<_>, Vec<_>) = refs
                .iter()
                .filter(matches)
                .partition(|r| r.reference.tag().is_some());
            if tags.is_empty() && digests.is_empty() {
                continue;
            }
            sum.repo_tags = tags.iter().map(|r| r.reference.familiar()).collect();
            sum.repo_digests = digests.iter().map(|r| r.reference.familiar()).collect();
        }
        out.push(sum);
    }
    out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}

fn summary(
    image: &ImageRecord,
    config: &ImageConfig,
    refs: &[berth_image::RefRecord],
) -> ImageSummary {
    let repo_tags: Vec<String> = refs
        .iter()
        .filter(|r| r.reference.tag().is_some())
        .map(|r| r.reference.familiar())
        .collect();
    let repo_digests: BTreeSet<String> = refs
        .iter()
        .filter(|r| r.reference.digest().is_some())
        .map(|r| r.reference.familiar())
        .collect();
    ImageSummary {
        id: image.id.clone(),
        repo_tags,
        repo_digests: repo_digests.into_iter().collect(),
        created: image
            .created
            .as_deref()
            .and_then(parse_rfc3339)
            .unwrap_or(0),
        size: image.size,
        labels: config
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default(),
    }
}

/// Whether `name` was typed as an image name (rather than an id or id prefix) that the store
/// knows.
fn named_reference(s: &Inner, name: &str) -> Result<Option<Reference>, EngineError> {
    let Ok(r) = Reference::parse_normalized(name) else {
        return Ok(None);
    };
    let r = match r.digest().cloned() {
        Some(d) => r.with_digest(d),
        None => r.with_default_tag(),
    };
    Ok(s.store.metadata().get_ref(&r)?.map(|_| r))
}

fn remove(
    s: &Inner,
    name: &str,
    force: bool,
    items: &mut Vec<DeleteItem>,
) -> Result<(), EngineError> {
    let md = s.store.metadata();
    let image = s.store.lookup(name)?;
    if let Some(r) = named_reference(s, name)? {
        md.remove_ref(&r)?;
        items.push(DeleteItem::Untagged(r.familiar()));
        let left = md.refs_of(&image.id)?;
        // Digest names of the same repository go with its last tag, as in dockerd.
        let repo = r.familiar_name();
        let others_in_repo = left
            .iter()
            .any(|x| x.reference.tag().is_some() && x.reference.familiar_name() == repo);
        if !others_in_repo {
            for x in left
                .iter()
                .filter(|x| x.reference.digest().is_some() && x.reference.familiar_name() == repo)
            {
                md.remove_ref(&x.reference)?;
                items.push(DeleteItem::Untagged(x.reference.familiar()));
            }
        }
        if md.refs_of(&image.id)?.is_empty() {
            delete_image(s, &image.id, items)?;
        }
        return Ok(());
    }
    let refs = md.refs_of(&image.id)?;
    let repos: HashSet<String> = refs.iter().map(|r| r.reference.familiar_name()).collect();
    if repos.len() > 1 && !force {
        return Err(EngineError::DeleteConflict {
            id: image.id.hex().chars().take(12).collect(),
            reason: "image is referenced in multiple repositories",
        });
    }
    delete_image(s, &image.id, items)?;
    Ok(())
}

/// Untags every name of `id`, deletes it and the snapshots no other image needs; returns the
/// bytes of the snapshots removed. No container uses an image yet, so none is refused.
fn delete_image(s: &Inner, id: &Digest, items: &mut Vec<DeleteItem>) -> Result<u64, EngineError> {
    let md = s.store.metadata();
    let config = s.store.config(id).ok();
    for r in md.delete_image(id)? {
        items.push(DeleteItem::Untagged(r.reference.familiar()));
    }
    items.push(DeleteItem::Deleted(id.to_string()));
    let Some(config) = config else {
        return Ok(0);
    };
    // Chains other images still use.
    let mut used = HashSet::new();
    for other in md.images()? {
        let diff_ids: Vec<Digest> = other.layers.iter().map(|l| l.diff_id.clone()).collect();
        used.extend(chain_ids(&diff_ids));
    }
    let mut freed = 0;
    for chain in chain_ids(&config.rootfs.diff_ids).iter().rev() {
        if used.contains(chain) {
            continue;
        }
        let Ok(info) = s.snapshots.stat(chain.as_str()) else {
            continue;
        };
        match s.snapshots.remove(chain.as_str()) {
            Ok(()) => {
                freed += info.size.unwrap_or(0);
                items.push(DeleteItem::Deleted(chain.to_string()));
            }
            // A snapshot with children (a container's layer, later) stays.
            Err(e) => tracing::warn!("keeping layer {chain}: {e}"),
        }
    }
    Ok(freed)
}

/// Removes the blobs no image, name or pull needs any more. A failure leaves garbage, never
/// a broken image, so it is logged rather than returned.
fn collect_garbage(s: &Inner) {
    if let Err(e) = s.store.gc(&GcOptions::default()) {
        tracing::warn!("image garbage collection: {e}");
    }
}

/// Go's `path.Match` without character classes: `*` is any run of non-`/` characters, `?`
/// one non-`/` character.
fn glob(pattern: &str, name: &str) -> bool {
    enum Token {
        Star,
        Any,
        Byte(u8),
    }
    let mut tokens = Vec::new();
    let mut p = pattern.bytes();
    while let Some(c) = p.next() {
        tokens.push(match c {
            b'*' => Token::Star,
            b'?' => Token::Any,
            b'\\' => Token::Byte(p.next().unwrap_or(b'\\')),
            c => Token::Byte(c),
        });
    }
    // Dynamic programming from the pattern's end: `rest[j]` tells whether the tokens after the
    // current one match `name[j..]`. O(pattern * name), where backtracking over stars would be
    // exponential in their number (a hostile `filters` query).
    let n = name.as_bytes();
    let mut rest = vec![false; n.len() + 1];
    rest[n.len()] = true;
    for token in tokens.iter().rev() {
        let mut here = vec![false; n.len() + 1];
        for j in (0..=n.len()).rev() {
            let c = n.get(j).copied();
            here[j] = match token {
                // Matches nothing, or one byte other than `/` and then again.
                Token::Star => rest[j] || (c.is_some_and(|c| c != b'/') && here[j + 1]),
                Token::Any => c.is_some_and(|c| c != b'/') && rest[j + 1],
                Token::Byte(b) => c == Some(*b) && rest[j + 1],
            };
        }
        rest = here;
    }
    rest[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_as_go_path_match() {
        assert!(glob("busybox", "busybox"));
        assert!(glob("busy*", "busybox"));
        assert!(glob("busybox:*", "busybox:latest"));
        assert!(glob("127.0.0.1:5000/*", "127.0.0.1:5000/x"));
        assert!(!glob("127.0.0.1:5000/*", "127.0.0.1:5000/x/y"));
        assert!(glob("b?sybox", "busybox"));
        assert!(!glob("busybox", "busybox:latest"));
        assert!(glob("a\\*b", "a*b"));
        assert!(!glob("a\\*b", "axb"));
        assert!(glob("a\\", "a\\"));
        assert!(glob("*", ""));
        assert!(!glob("?", ""));
        assert!(glob("é*", "ébusybox"));
    }

    /// Issue 9: a `reference` filter of many stars took time exponential in their number
    /// (minutes of a blocking thread for this one); now it is linear in the pattern.
    #[test]
    fn many_stars_do_not_backtrack() {
        let pattern = format!("{}c", "*a".repeat(16));
        let name = "a".repeat(200);
        let start = std::time::Instant::now();
        assert!(!glob(&pattern, &name));
        assert!(glob(&pattern, &format!("{name}c")));
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }

    /// The backtracking matcher this replaced, to check the new one against on short inputs.
    fn backtracking_glob(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => {
                let mut i = 0;
                loop {
                    if backtracking_glob(rest, &n[i..]) {
                        return true;
                    }
                    if i == n.len() || n[i] == b'/' {
                        return false;
                    }
                    i += 1;
                }
            }
            Some((b'?', rest)) => {
                n.first().is_some_and(|&c| c != b'/') && backtracking_glob(rest, &n[1..])
            }
            Some((b'\\', rest)) if !rest.is_empty() => {
                n.first() == Some(&rest[0]) && backtracking_glob(&rest[1..], &n[1..])
            }
            Some((&c, rest)) => n.first() == Some(&c) && backtracking_glob(rest, &n[1..]),
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 5000,
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]

        #[test]
        fn glob_agrees_with_backtracking(p in "[ab*?/\\\\é]{0,8}", n in "[ab/*é]{0,10}") {
            proptest::prop_assert_eq!(glob(&p, &n), backtracking_glob(p.as_bytes(), n.as_bytes()));
        }
    }

    #[test]
    fn filters_from_the_api_map() {
        let mut m = HashMap::new();
        m.insert("dangling".to_string(), vec!["true".to_string()]);
        m.insert("reference".to_string(), vec!["busy*".to_string()]);
        let f = ImageFilters::from_map(&m).unwrap();
        assert_eq!(f.dangling, Some(true));
        assert_eq!(f.references, ["busy*"]);
        m.insert("nosuch".into(), vec![]);
        let e = ImageFilters::from_map(&m).unwrap_err();
        assert_eq!(e.to_string(), "Invalid filter 'nosuch'");
        let mut m = HashMap::new();
        m.insert("dangling".to_string(), vec!["maybe".to_string()]);
        assert_eq!(
            ImageFilters::from_map(&m).unwrap_err().to_string(),
            "Invalid filter 'dangling=maybe'"
        );
    }
}
