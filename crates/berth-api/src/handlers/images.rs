//! The image endpoints: pull (`POST /images/create`, a progress stream), list, inspect,
//! history, tag, delete and prune. Each handler parses the request, calls the engine's
//! [`berth_engine::ImageService`] and renders its answer in Docker's shapes.

use std::sync::Arc;

use base64::Engine as _;
use berth_engine::{
    DeleteItem, Engine, HistoryEntry, ImageDetails, ImageFilters, ImageSummary, PullOptions,
    PullProgress,
};
use berth_registry::Credentials;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::json_response;
use super::query::Query;
use super::stream::{decode_registry_auth, progress_stream, ClientGone};
use crate::body::{empty, Body};
use crate::error::ApiError;
use crate::types::images as t;

/// `POST /images/create?fromImage=NAME&tag=TAG&platform=OS/ARCH`: pulls, streaming docker's
/// progress lines. An error before the first line (a bad reference, an unknown tag, a registry
/// that is down) is an HTTP error; after it, a last `{"errorDetail":...,"error":...}` line, as
/// dockerd does once its output was flushed.
pub(super) async fn create(
    engine: Arc<Engine>,
    req: &Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    // An import (`fromSrc`) is routed to archive.rs before this.
    let q = Query::parse(req.uri().query());
    let from = q.string("fromImage");
    if from.is_empty() {
        return Err(ApiError::InvalidParameter("fromImage is required".into()));
    }
    let tag = q.string("tag");
    // As dockerd: a tag that is a digest makes a digest reference.
    let reference = if tag.is_empty() {
        from
    } else if tag.contains(':') {
        format!("{from}@{tag}")
    } else {
        format!("{from}:{tag}")
    };
    let credentials = registry_auth(req)?;
    let options = PullOptions {
        reference,
        platform: q.get("platform").map(str::to_owned),
        credentials,
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let images = engine.images().clone();
    let pull = tokio::spawn(async move { images.pull(options, Some(tx)).await });
    // The pull goes on when the client goes away; only the forwarding stops.
    progress_stream("pull", pull, rx, ClientGone::Detach, |event| {
        [render_progress(event)]
    })
    .await
}

/// The pull's credentials: the `X-Registry-Auth` header, which must decode when it is there.
fn registry_auth(req: &Request<Incoming>) -> Result<Option<Credentials>, ApiError> {
    let Some(raw) = req.headers().get("x-registry-auth") else {
        return Ok(None);
    };
    let auth = decode_registry_auth(raw)
        .map_err(|_| ApiError::InvalidParameter("invalid X-Registry-Auth header".into()))?;
    Ok(auth.and_then(credentials))
}

pub(super) fn credentials(auth: t::AuthConfig) -> Option<Credentials> {
    if !auth.identitytoken.is_empty() {
        return Some(Credentials::IdentityToken {
            token: auth.identitytoken,
        });
    }
    if !auth.username.is_empty() {
        return Some(Credentials::basic(auth.username, auth.password));
    }
    // `auth` is base64 of `user:password`, as in config.json.
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.auth.as_bytes())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some(Credentials::basic(user, pass))
}

pub(crate) fn render_progress(event: &PullProgress) -> t::ProgressMessage {
    match event {
        PullProgress::Status { id, status } => t::ProgressMessage {
            status: Some(status.clone()),
            id: id.clone(),
            ..Default::default()
        },
        PullProgress::Layer { id, status } => {
            layer_message(id, status.text().to_owned(), status.progress())
        }
    }
}

/// A layer's line (a pull's or a push's): `{"status","progressDetail","progress","id"}`, with
/// a bar when `progress` gives its `(current, total)`, else `"progressDetail":{}`.
pub(super) fn layer_message<A: Default>(
    id: &str,
    status: String,
    progress: Option<(u64, u64)>,
) -> t::ProgressMessage<A> {
    let (detail, bar) = match progress {
        Some((current, total)) => (
            t::ProgressDetail {
                current: Some(current),
                total: Some(total),
            },
            Some(progress_bar(current, total)),
        ),
        None => (t::ProgressDetail::default(), None),
    };
    t::ProgressMessage {
        status: Some(status),
        progress_detail: Some(detail),
        progress: bar,
        id: Some(id.to_owned()),
        ..Default::default()
    }
}

/// docker's `JSONProgress.String()`: a 50-column bar and `current/total` in decimal units.
pub(super) fn progress_bar(current: u64, total: u64) -> String {
    if total == 0 {
        return format!("{:>8}", human_size(current));
    }
    let pct = usize::try_from((current.min(total) * 50) / total).unwrap_or(50);
    let bar = if pct >= 50 {
        format!("[{}>]", "=".repeat(50))
    } else {
        format!("[{}>{}]", "=".repeat(pct), " ".repeat(50 - pct - 1))
    };
    format!("{bar} {:>8}/{}", human_size(current), human_size(total))
}

/// go-units' `HumanSize`: four significant digits, decimal units.
fn human_size(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    #[allow(clippy::cast_precision_loss)]
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    let int_digits = if v >= 100.0 {
        3
    } else if v >= 10.0 {
        2
    } else {
        1
    };
    let s = format!("{v:.prec$}", prec = 4 - int_digits);
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    format!("{s}{}", units[i])
}

/// `GET /images/json?filters=...`.
pub(super) async fn list(
    engine: &Engine,
    req: &Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let q = Query::parse(req.uri().query());
    let mut map = q.filters()?;
    // The old `filter=NAME` parameter is a reference filter.
    if let Some(f) = q.get("filter").filter(|f| !f.is_empty()) {
        map.entry("reference".into())
            .or_default()
            .push(f.to_owned());
    }
    let filters = ImageFilters::from_map(&map)?;
    let images = engine.images().list(filters).await?;
    let out: Vec<t::ImageSummary> = images.into_iter().map(render_summary).collect();
    json_response(&out)
}

/// `GET /system/df`: images (with the number of containers using each), containers, no
/// volumes or build cache yet.
pub(super) async fn system_df(engine: &Engine) -> Result<Response<Body>, ApiError> {
    let images = engine.images().list(ImageFilters::default()).await?;
    let users = engine.containers().image_users();
    let layers: u64 = images.iter().map(|i| i.size).sum();
    let images: Vec<t::ImageSummary> = images
        .into_iter()
        .map(|s| {
            let n = users.get(&s.id.to_string()).map_or(0, Vec::len);
            let mut out = render_summary(s);
            out.containers = i64::try_from(n).unwrap_or(i64::MAX);
            out.shared_size = 0;
            out
        })
        .collect();
    let all = engine
        .containers()
        .list(&berth_engine::containers::ListFilters {
            all: true,
            ..Default::default()
        })?;
    let now = std::time::SystemTime::now();
    let containers: Vec<serde_json::Value> = all
        .iter()
        .map(|r| {
            serde_json::json!({
                "Id": r.id,
                "Names": [format!("/{}", r.name)],
                "Image": r.image_name,
                "ImageID": r.image_id,
                "Command": r.command(),
                "Created": r.created_unix(),
                "Ports": [],
                "SizeRw": 0,
                "SizeRootFs": 0,
                "Labels": r.config.labels.clone().unwrap_or_default(),
                "State": r.state.status.as_str(),
                "Status": r.status_line(now),
                "HostConfig": {"NetworkMode": r.host_config.network_mode},
                "NetworkSettings": {"Networks": {}},
                "Mounts": [],
            })
        })
        .collect();
    json_response(&serde_json::json!({
        "LayersSize": layers,
        "Images": images,
        "Containers": containers,
        "Volumes": [],
        "BuildCache": [],
    }))
}

fn render_summary(s: ImageSummary) -> t::ImageSummary {
    let size = i64::try_from(s.size).unwrap_or(i64::MAX);
    // dockerd's placeholders for an image without any name.
    let (tags, digests) = if s.repo_tags.is_empty() && s.repo_digests.is_empty() {
        (vec!["<none>:<none>".into()], vec!["<none>@<none>".into()])
    } else {
        (s.repo_tags, s.repo_digests)
    };
    t::ImageSummary {
        containers: -1,
        created: s.created,
        id: s.id.to_string(),
        labels: if s.labels.is_empty() {
            None
        } else {
            Some(s.labels)
        },
        parent_id: String::new(),
        repo_digests: Some(digests),
        repo_tags: Some(tags),
        shared_size: -1,
        size,
        virtual_size: size,
    }
}

/// `GET /images/{name}/json`.
pub(super) async fn inspect(engine: &Engine, name: &str) -> Result<Response<Body>, ApiError> {
    let d = engine.images().inspect(name).await?;
    json_response(&render_inspect(d))
}

fn render_inspect(d: ImageDetails) -> t::ImageInspect {
    let size = i64::try_from(d.summary.size).unwrap_or(i64::MAX);
    // String fields of the config that berth-image keeps untyped.
    let config_string = |key: &str| {
        d.config
            .extra
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let run = d.config.config.clone().unwrap_or_default();
    let config = t::ContainerConfig {
        user: run.user.unwrap_or_default(),
        exposed_ports: run.exposed_ports,
        env: run.env,
        cmd: run.cmd,
        healthcheck: run.healthcheck,
        args_escaped: run.args_escaped,
        volumes: run.volumes,
        working_dir: run.working_dir.unwrap_or_default(),
        entrypoint: run.entrypoint,
        on_build: run.on_build,
        labels: run.labels,
        stop_signal: run.stop_signal,
        shell: run.shell,
        ..Default::default()
    };
    t::ImageInspect {
        id: d.summary.id.to_string(),
        repo_tags: d.summary.repo_tags,
        repo_digests: d.summary.repo_digests,
        created: d.created.unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        container_config: t::ContainerConfig::default(),
        author: d.config.author.clone().unwrap_or_default(),
        // Docker's own config fields (an import's message, the builder's version).
        comment: config_string("comment"),
        docker_version: config_string("docker_version"),
        config,
        architecture: d.config.architecture.clone(),
        variant: d.config.variant.clone().unwrap_or_default(),
        os: d.config.os.clone(),
        os_version: d.config.os_version.clone().unwrap_or_default(),
        size,
        virtual_size: size,
        graph_driver: t::GraphDriver {
            data: if d.driver_data.is_empty() {
                None
            } else {
                Some(d.driver_data)
            },
            name: d.driver.into(),
        },
        root_fs: t::RootFs {
            kind: d.config.rootfs.kind.clone(),
            layers: d
                .config
                .rootfs
                .diff_ids
                .iter()
                .map(|x| x.to_string())
                .collect(),
        },
        metadata: t::ImageMetadata {
            last_tag_time: d
                .last_tag_time
                .and_then(|s| u64::try_from(s).ok())
                .map(|s| {
                    berth_api_types::time::rfc3339_nano_fixed(
                        std::time::UNIX_EPOCH + std::time::Duration::from_secs(s),
                    )
                })
                .unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        },
        ..Default::default()
    }
}

/// `GET /images/{name}/history`.
pub(super) async fn history(engine: &Engine, name: &str) -> Result<Response<Body>, ApiError> {
    let entries = engine.images().history(name).await?;
    let out: Vec<t::HistoryItem> = entries.into_iter().map(render_history).collect();
    json_response(&out)
}

fn render_history(h: HistoryEntry) -> t::HistoryItem {
    t::HistoryItem {
        id: h.id,
        created: h.created,
        created_by: h.created_by,
        tags: if h.tags.is_empty() {
            None
        } else {
            Some(h.tags)
        },
        size: i64::try_from(h.size).unwrap_or(i64::MAX),
        comment: h.comment,
    }
}

/// `POST /images/{name}/tag?repo=REPO&tag=TAG`: 201 with no body, as dockerd.
pub(super) async fn tag(
    engine: &Engine,
    name: &str,
    req: &Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let q = Query::parse(req.uri().query());
    engine
        .images()
        .tag(name, &q.string("repo"), &q.string("tag"))
        .await?;
    let mut resp = Response::new(empty());
    *resp.status_mut() = StatusCode::CREATED;
    Ok(resp)
}

/// `DELETE /images/{name}?force=1`.
pub(super) async fn delete(
    engine: &Engine,
    name: &str,
    req: &Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let q = Query::parse(req.uri().query());
    let items = engine.remove_image(name, q.bool("force")).await?;
    let out: Vec<t::DeleteResponseItem> = items.into_iter().map(render_delete).collect();
    json_response(&out)
}

fn render_delete(i: DeleteItem) -> t::DeleteResponseItem {
    match i {
        DeleteItem::Untagged(n) => t::DeleteResponseItem {
            untagged: Some(n),
            deleted: None,
        },
        DeleteItem::Deleted(n) => t::DeleteResponseItem {
            untagged: None,
            deleted: Some(n),
        },
    }
}

/// `POST /images/prune?filters={"dangling":["false"]}`.
pub(super) async fn prune(
    engine: &Engine,
    req: &Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let q = Query::parse(req.uri().query());
    let mut all = false;
    for (k, values) in q.filters()? {
        match k.as_str() {
            "dangling" => {
                all = values
                    .iter()
                    .any(|v| matches!(v.to_ascii_lowercase().as_str(), "false" | "0"))
            }
            other => {
                return Err(ApiError::InvalidParameter(format!(
                    "Invalid filter '{other}'"
                )))
            }
        }
    }
    let report = engine.images().prune(all).await?;
    let deleted: Vec<t::DeleteResponseItem> = report.items.into_iter().map(render_delete).collect();
    json_response(&t::PruneResponse {
        images_deleted: if deleted.is_empty() {
            None
        } else {
            Some(deleted)
        },
        space_reclaimed: report.space_reclaimed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_engine::LayerStatus;

    #[test]
    fn progress_lines_are_dockerds() {
        let m = render_progress(&PullProgress::Layer {
            id: "abc".into(),
            status: LayerStatus::PullingFsLayer,
        });
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"status":"Pulling fs layer","progressDetail":{},"id":"abc"}"#
        );
        let m = render_progress(&PullProgress::Layer {
            id: "abc".into(),
            status: LayerStatus::Downloading {
                current: 386_000,
                total: 772_800,
            },
        });
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["progressDetail"]["current"], 386_000);
        assert_eq!(v["progressDetail"]["total"], 772_800);
        assert_eq!(
            v["progress"],
            format!("[{}>{}]    386kB/772.8kB", "=".repeat(24), " ".repeat(25))
        );
        let m = render_progress(&PullProgress::Status {
            id: None,
            status: "Digest: sha256:x".into(),
        });
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"status":"Digest: sha256:x"}"#
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(772_800), "772.8kB");
        assert_eq!(human_size(2_345_678), "2.346MB");
    }

    #[test]
    fn auth_header_forms() {
        let basic = credentials(t::AuthConfig {
            username: "u".into(),
            password: "p".into(),
            ..Default::default()
        });
        assert_eq!(basic, Some(Credentials::basic("u", "p")));
        let from_auth = credentials(t::AuthConfig {
            auth: base64::engine::general_purpose::STANDARD.encode("a:b"),
            ..Default::default()
        });
        assert_eq!(from_auth, Some(Credentials::basic("a", "b")));
        assert_eq!(credentials(t::AuthConfig::default()), None);
    }
}
