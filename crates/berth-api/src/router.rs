//! From a method and a path to a [`Route`]. Paths come with or without a `/vX.Y` prefix, as
//! dockerd routes them; the version is checked against the supported range only once a route
//! matched, so an unknown path is `page not found` whatever its version (dockerd's order).
//!
//! Routes are matched on path segments, so endpoints whose names hold slashes
//! (`/images/{name:.*}/json`) are one slice pattern each.

use hyper::Method;

use crate::error::ApiError;
use crate::{ApiVersion, API_VERSION, MIN_API_VERSION};

/// An endpoint berthd serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET`/`HEAD /_ping`
    Ping,
    /// `GET /version`
    Version,
    /// `GET /info`
    Info,
    /// `POST /images/create` (pull)
    ImageCreate,
    /// `POST /images/{name}/push`
    ImagePush(String),
    /// `POST /auth`
    Auth,
    /// `GET /images/json`
    ImageList,
    /// `POST /images/prune`
    ImagePrune,
    /// `GET /images/{name}/json`
    ImageInspect(String),
    /// `GET /images/{name}/history`
    ImageHistory(String),
    /// `POST /images/{name}/tag`
    ImageTag(String),
    /// `DELETE /images/{name}`
    ImageDelete(String),
    /// `GET /images/get?names=..` (save)
    ImageSaveAll,
    /// `GET /images/{name}/get` (save)
    ImageSave(String),
    /// `POST /images/load`
    ImageLoad,
    /// `POST /containers/create`
    ContainerCreate,
    /// `GET /containers/json`
    ContainerList,
    /// `POST /containers/prune`
    ContainerPrune,
    /// `GET /containers/{id}/json`
    ContainerInspect(String),
    /// `DELETE /containers/{id}`
    ContainerDelete(String),
    /// `POST /containers/{id}/{action}`: start, stop, restart, kill, pause, unpause, wait,
    /// attach, resize, rename, exec, update.
    ContainerPost(String, String),
    /// `GET /containers/{id}/{what}`: logs, top, stats.
    ContainerGet(String, String),
    /// `POST /exec/{id}/{action}`: start, resize.
    ExecPost(String, String),
    /// `GET /exec/{id}/json`
    ExecInspect(String),
    /// `GET /events`
    Events,
    /// `GET /system/df`
    SystemDf,
}

/// A matched request: the route and the API version the client asked for.
#[derive(Debug, Clone)]
pub struct Matched {
    pub route: Route,
    /// The `/vX.Y` prefix, or the current version when there is none.
    pub version: ApiVersion,
}

/// Matches `method` and `path` (without the query) to a route, then checks the version.
pub fn route(method: &Method, path: &str) -> Result<Matched, ApiError> {
    let (version, rest) = split_version(path).ok_or(ApiError::PageNotFound)?;
    let segments: Vec<&str> = rest.split('/').skip(1).collect();
    let route = match (method, segments.as_slice()) {
        (&Method::GET | &Method::HEAD, ["_ping"]) => Route::Ping,
        (&Method::GET, ["version"]) => Route::Version,
        (&Method::GET, ["info"]) => Route::Info,
        (&Method::POST, ["images", "create"]) => Route::ImageCreate,
        (&Method::GET, ["images", "json"]) => Route::ImageList,
        (&Method::POST, ["images", "prune"]) => Route::ImagePrune,
        (&Method::GET, ["images", "get"]) => Route::ImageSaveAll,
        (&Method::POST, ["images", "load"]) => Route::ImageLoad,
        (&Method::GET, ["images", name @ .., "get"]) if valid_name(name) => {
            Route::ImageSave(name.join("/"))
        }
        (&Method::GET, ["images", name @ .., "json"]) if valid_name(name) => {
            Route::ImageInspect(name.join("/"))
        }
        (&Method::GET, ["images", name @ .., "history"]) if valid_name(name) => {
            Route::ImageHistory(name.join("/"))
        }
        (&Method::POST, ["images", name @ .., "tag"]) if valid_name(name) => {
            Route::ImageTag(name.join("/"))
        }
        (&Method::POST, ["images", name @ .., "push"]) if valid_name(name) => {
            Route::ImagePush(name.join("/"))
        }
        (&Method::POST, ["auth"]) => Route::Auth,
        (&Method::POST, ["containers", "create"]) => Route::ContainerCreate,
        (&Method::GET, ["containers", "json"]) => Route::ContainerList,
        (&Method::POST, ["containers", "prune"]) => Route::ContainerPrune,
        (&Method::GET, ["containers", id, "json"]) if !id.is_empty() => {
            Route::ContainerInspect((*id).to_owned())
        }
        (&Method::DELETE, ["containers", id]) if !id.is_empty() => {
            Route::ContainerDelete((*id).to_owned())
        }
        (
            &Method::POST,
            ["containers", id, action @ ("start" | "stop" | "restart" | "kill" | "pause" | "unpause" | "wait"
            | "attach" | "resize" | "rename" | "exec" | "update")],
        ) if !id.is_empty() => Route::ContainerPost((*id).to_owned(), (*action).to_owned()),
        (&Method::GET, ["containers", id, what @ ("logs" | "top" | "stats")]) if !id.is_empty() => {
            Route::ContainerGet((*id).to_owned(), (*what).to_owned())
        }
        (&Method::POST, ["exec", id, action @ ("start" | "resize")]) if !id.is_empty() => {
            Route::ExecPost((*id).to_owned(), (*action).to_owned())
        }
        (&Method::GET, ["exec", id, "json"]) if !id.is_empty() => {
            Route::ExecInspect((*id).to_owned())
        }
        (&Method::GET, ["events"]) => Route::Events,
        (&Method::GET, ["system", "df"]) => Route::SystemDf,
        (&Method::DELETE, ["images", name @ ..]) if valid_name(name) => {
            Route::ImageDelete(name.join("/"))
        }
        _ => return Err(ApiError::PageNotFound),
    };
    let version = match version {
        None => ApiVersion::current(),
        Some(v) => check_version(v)?,
    };
    Ok(Matched { route, version })
}

/// A `{name:.*}` path parameter: at least one segment, none empty.
fn valid_name(segments: &[&str]) -> bool {
    !segments.is_empty() && segments.iter().all(|s| !s.is_empty())
}

/// Splits `/v1.41/info` into `(Some("1.41"), "/info")` and `/info` into `(None, "/info")`;
/// `None` when the path does not start with `/`.
fn split_version(path: &str) -> Option<(Option<&str>, &str)> {
    let rest = path.strip_prefix('/')?;
    if let Some(after_v) = rest.strip_prefix('v') {
        let (seg, tail) = match after_v.find('/') {
            Some(i) => (&after_v[..i], &after_v[i..]),
            None => (after_v, ""),
        };
        if ApiVersion::parse(seg).is_some() {
            return Some((Some(seg), tail));
        }
    }
    Some((None, path))
}

fn check_version(text: &str) -> Result<ApiVersion, ApiError> {
    let v = ApiVersion::parse(text).ok_or(ApiError::PageNotFound)?;
    let (min, max) = match (
        ApiVersion::parse(MIN_API_VERSION),
        ApiVersion::parse(API_VERSION),
    ) {
        (Some(min), Some(max)) => (min, max),
        _ => return Err(ApiError::Internal("bad API version constants".into())),
    };
    if v < min {
        return Err(ApiError::VersionTooOld {
            version: text.into(),
        });
    }
    if v > max {
        return Err(ApiError::VersionTooNew {
            version: text.into(),
        });
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_and_plain_paths() {
        let m = route(&Method::GET, "/v1.41/info").unwrap();
        assert_eq!(m.route, Route::Info);
        assert_eq!(m.version.as_str(), "1.41");
        let m = route(&Method::GET, "/info").unwrap();
        assert_eq!(m.version.as_str(), API_VERSION);
        assert_eq!(
            route(&Method::HEAD, "/v1.24/_ping").unwrap().route,
            Route::Ping
        );
    }

    #[test]
    fn image_routes_take_names_with_slashes() {
        let r = |m: Method, p: &str| route(&m, p).map(|m| m.route).ok();
        assert_eq!(r(Method::GET, "/v1.41/images/json"), Some(Route::ImageList));
        assert_eq!(
            r(Method::POST, "/v1.41/images/127.0.0.1:5000/team/app/push"),
            Some(Route::ImagePush("127.0.0.1:5000/team/app".into()))
        );
        assert_eq!(r(Method::POST, "/v1.41/auth"), Some(Route::Auth));
        assert_eq!(r(Method::GET, "/auth"), None);
        assert_eq!(r(Method::POST, "/images/create"), Some(Route::ImageCreate));
        assert_eq!(
            r(Method::GET, "/images/127.0.0.1:5000/a/b:v1/json"),
            Some(Route::ImageInspect("127.0.0.1:5000/a/b:v1".into()))
        );
        assert_eq!(
            r(Method::GET, "/images/busybox/history"),
            Some(Route::ImageHistory("busybox".into()))
        );
        assert_eq!(
            r(Method::POST, "/images/sha256:abc/tag"),
            Some(Route::ImageTag("sha256:abc".into()))
        );
        assert_eq!(
            r(Method::DELETE, "/images/a/b"),
            Some(Route::ImageDelete("a/b".into()))
        );
        assert_eq!(r(Method::GET, "/images/get"), Some(Route::ImageSaveAll));
        assert_eq!(
            r(Method::GET, "/v1.41/images/127.0.0.1:5000/x:v1/get"),
            Some(Route::ImageSave("127.0.0.1:5000/x:v1".into()))
        );
        assert_eq!(r(Method::POST, "/images/load"), Some(Route::ImageLoad));
        assert_eq!(r(Method::GET, "/images//json"), None);
        assert_eq!(r(Method::DELETE, "/images"), None);
    }

    #[test]
    fn unknown_paths_and_methods_are_page_not_found() {
        for (m, p) in [
            (Method::GET, "/nosuch"),
            (Method::POST, "/version"),
            (Method::GET, "/vfoo/version"),
            (Method::GET, "/v1.99/nosuch"),
            (Method::GET, "/version/"),
            (Method::GET, "/v1.41"),
        ] {
            assert!(
                matches!(route(&m, p), Err(ApiError::PageNotFound)),
                "{m} {p}"
            );
        }
    }

    #[test]
    fn versions_out_of_range() {
        assert!(matches!(
            route(&Method::GET, "/v1.99/version"),
            Err(ApiError::VersionTooNew { .. })
        ));
        assert!(matches!(
            route(&Method::GET, "/v1.12/version"),
            Err(ApiError::VersionTooOld { .. })
        ));
    }
}
