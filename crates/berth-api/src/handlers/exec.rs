//! The exec endpoints: create (`POST /containers/{id}/exec`), start (hijacked unless
//! detached), resize and inspect.

use berth_engine::containers::ExecConfig;
use berth_engine::Engine;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::hijack::upgrade;
use super::json_response;
use super::query::Query;
use crate::body::{empty, Body};
use crate::error::ApiError;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ExecCreateBody {
    attach_stdin: bool,
    attach_stdout: bool,
    attach_stderr: bool,
    tty: bool,
    env: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    privileged: bool,
    user: Option<String>,
    working_dir: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ExecStartBody {
    detach: bool,
}

pub(super) async fn read_json<T: serde::de::DeserializeOwned + Default>(
    req: Request<Incoming>,
) -> Result<T, ApiError> {
    let bytes = http_body_util::Limited::new(req.into_body(), 4 << 20)
        .collect()
        .await
        .map_err(|e| ApiError::InvalidParameter(format!("read the body: {e}")))?
        .to_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::InvalidParameter(e.to_string()))
}

pub(super) async fn create(
    engine: &Engine,
    id: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let b: ExecCreateBody = read_json(req).await?;
    let cfg = ExecConfig {
        cmd: b.cmd.unwrap_or_default(),
        env: b.env.unwrap_or_default(),
        user: b.user.unwrap_or_default(),
        working_dir: b.working_dir.unwrap_or_default(),
        tty: b.tty,
        attach_stdin: b.attach_stdin,
        attach_stdout: b.attach_stdout,
        attach_stderr: b.attach_stderr,
        privileged: b.privileged,
    };
    let exec_id = engine.containers().exec_create(id, cfg).await?;
    let mut resp = json_response(&json!({ "Id": exec_id }))?;
    *resp.status_mut() = StatusCode::CREATED;
    Ok(resp)
}

pub(super) async fn start(
    engine: &Engine,
    id: &str,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    // The body comes before the upgrade; take it without consuming the request.
    let mut bytes = Vec::new();
    while let Some(f) = req.body_mut().frame().await {
        let f = f.map_err(|e| ApiError::InvalidParameter(format!("read the body: {e}")))?;
        if let Some(d) = f.data_ref() {
            bytes.extend_from_slice(d);
        }
        if bytes.len() > 1 << 20 {
            return Err(ApiError::InvalidParameter("body too large".into()));
        }
    }
    let b: ExecStartBody = if bytes.iter().all(u8::is_ascii_whitespace) {
        ExecStartBody::default()
    } else {
        serde_json::from_slice(&bytes).map_err(|e| ApiError::InvalidParameter(e.to_string()))?
    };
    let started = engine.containers().exec_start(id, b.detach).await?;
    if b.detach {
        let mut resp = Response::new(empty());
        *resp.status_mut() = StatusCode::OK;
        return Ok(resp);
    }
    Ok(upgrade(
        &mut req,
        Vec::new(),
        started.stream,
        Some(started.exited),
    ))
}

pub(super) async fn resize(
    engine: &Engine,
    id: &str,
    req: &Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let q = Query::parse(req.uri().query());
    let (h, w) = super::containers::size(&q)?;
    engine.containers().exec_resize(id, h, w).await?;
    Ok(Response::new(empty()))
}

pub(super) fn inspect(engine: &Engine, id: &str) -> Result<Response<Body>, ApiError> {
    let e = engine.containers().exec_inspect(id)?;
    let c = &e.config;
    let (entrypoint, args) = c
        .cmd
        .split_first()
        .map_or((String::new(), Vec::new()), |(a, b)| {
            (a.clone(), b.to_vec())
        });
    json_response(&json!({
        "ID": e.id,
        "Running": e.running,
        "ExitCode": e.exit_code,
        "ProcessConfig": {
            "tty": c.tty,
            "entrypoint": entrypoint,
            "arguments": args,
            "privileged": c.privileged,
            "user": c.user,
        },
        "OpenStdin": c.attach_stdin,
        "OpenStderr": c.attach_stderr,
        "OpenStdout": c.attach_stdout,
        "CanRemove": false,
        "ContainerID": e.container_id,
        "DetachKeys": "",
        "Pid": e.pid,
    }))
}
