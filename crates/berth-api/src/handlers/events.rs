//! `GET /events`: the engine's events as docker's JSON lines, with `since`, `until` and
//! the `type`, `container`, `event`, `image` and `label` filters.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_engine::containers::Event;
use berth_engine::Engine;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response};
use serde_json::json;

use super::query::Query;
use crate::body::{Body, JsonStream};
use crate::error::ApiError;

/// docker's `since`/`until`: unix seconds with an optional fraction.
fn parse_time(s: &str) -> Result<Option<SystemTime>, ApiError> {
    if s.is_empty() {
        return Ok(None);
    }
    let secs: f64 = s
        .parse()
        .map_err(|_| ApiError::InvalidParameter(format!("invalid timestamp {s:?}")))?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(ApiError::InvalidParameter(format!(
            "invalid timestamp {s:?}"
        )));
    }
    Ok(Some(UNIX_EPOCH + Duration::from_secs_f64(secs)))
}

fn matches(e: &Event, f: &HashMap<String, Vec<String>>) -> bool {
    let any = |key: &str, ok: &dyn Fn(&str) -> bool| {
        f.get(key)
            .is_none_or(|v| v.is_empty() || v.iter().any(|x| ok(x)))
    };
    let base_action = e.action.split(':').next().unwrap_or("");
    any("type", &|t| t == e.kind)
        && any("event", &|a| a == e.action || a == base_action)
        && any("container", &|c| {
            e.id.starts_with(c) || e.attributes.get("name").is_some_and(|n| n == c)
        })
        && any("image", &|i| {
            e.attributes.get("image").is_some_and(|x| x == i)
        })
        && any("label", &|l| match l.split_once('=') {
            Some((k, v)) => e.attributes.get(k).is_some_and(|x| x == v),
            None => e.attributes.contains_key(l),
        })
}

pub(crate) fn render(e: &Event) -> serde_json::Value {
    let d = e.time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let image = e.attributes.get("image").cloned().unwrap_or_default();
    json!({
        "status": e.action,
        "id": e.id,
        "from": image,
        "Type": e.kind,
        "Action": e.action,
        "Actor": {"ID": e.id, "Attributes": e.attributes},
        "scope": "local",
        "time": d.as_secs(),
        "timeNano": d.as_nanos(),
    })
}

pub(super) fn events(engine: &Engine, req: &Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let q = Query::parse(req.uri().query());
    let since = parse_time(q.get("since").unwrap_or(""))?;
    let until = parse_time(q.get("until").unwrap_or(""))?;
    let filters = q.filters()?;
    let (past, mut rx) = engine.containers().subscribe();
    let (stream, body) = JsonStream::channel();
    tokio::spawn(async move {
        if let Some(since) = since {
            for e in past.iter().filter(|e| e.time >= since) {
                if until.is_some_and(|u| e.time > u) {
                    return;
                }
                if matches(e, &filters) && stream.send(&render(e)).await.is_err() {
                    return;
                }
            }
        }
        loop {
            let next = match until {
                Some(u) => {
                    let left = u.duration_since(SystemTime::now()).unwrap_or_default();
                    match tokio::time::timeout(left, rx.recv()).await {
                        Ok(r) => r,
                        Err(_) => return,
                    }
                }
                None => rx.recv().await,
            };
            match next {
                Ok(e) => {
                    if until.is_some_and(|u| e.time > u) {
                        return;
                    }
                    if matches(&e, &filters) && stream.send(&render(&e)).await.is_err() {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            }
        }
    });
    let mut resp = Response::new(body);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}
