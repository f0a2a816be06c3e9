//! The container endpoints: each parses the request into a typed call on the engine's
//! [`berth_engine::ContainerService`] and renders docker's JSON (`ContainerJSON`, the `ps`
//! summary, the wait body).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_api_types::containers::ContainerCreateRequest;
use berth_engine::containers::{
    AttachOptions, ListFilters, LogOptions, Record, StartOutcome, StatsSample, WaitCondition,
};
use berth_engine::Engine;
use berth_shim_proto::frame::{push_frame, StreamId};
use berth_shim_proto::logs::{Entry as LogEntry, Stream};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};

use super::exec::read_json;
use super::hijack::upgrade;
use super::json_response;
use super::query::Query;
use crate::body::{empty, Body, ChannelBody};
use crate::error::ApiError;

fn status(code: StatusCode) -> Response<Body> {
    let mut r = Response::new(empty());
    *r.status_mut() = code;
    r
}

/// `POST /containers/create?name=NAME`.
pub(super) async fn create(
    engine: &Engine,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let q = Query::parse(req.uri().query());
    let name = q.get("name").map(str::to_owned);
    let body: ContainerCreateRequest = read_json(req).await?;
    let id = engine
        .containers()
        .create(berth_engine::containers::CreateRequest {
            name,
            config: body.config,
            host_config: body.host_config.unwrap_or_default(),
        })
        .await?;
    let mut resp = json_response(&json!({"Id": id, "Warnings": []}))?;
    *resp.status_mut() = StatusCode::CREATED;
    Ok(resp)
}

/// `GET /containers/json`.
pub(super) fn list(engine: &Engine, req: &Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let q = Query::parse(req.uri().query());
    let f = q.filters()?;
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let exited = get("exited")
        .iter()
        .map(|s| {
            s.parse::<i32>()
                .map_err(|_| ApiError::InvalidParameter(format!("invalid filter 'exited={s}'")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .unwrap_or(0);
    let filters = ListFilters {
        all: q.bool("all"),
        limit: usize::try_from(limit).unwrap_or(0),
        status: get("status"),
        label: get("label"),
        name: get("name"),
        id: get("id"),
        ancestor: get("ancestor"),
        exited,
        before: get("before").into_iter().next(),
        since: get("since").into_iter().next(),
    };
    let now = SystemTime::now();
    let out: Vec<Value> = engine
        .containers()
        .list(&filters)?
        .iter()
        .map(|r| {
            json!({
                "Id": r.id,
                "Names": [format!("/{}", r.name)],
                "Image": r.image_name,
                "ImageID": r.image_id,
                "Command": r.command(),
                "Created": r.created_unix(),
                "Ports": [],
                "Labels": r.config.labels.clone().unwrap_or_default(),
                "State": r.state.status.as_str(),
                "Status": r.status_line(now),
                "HostConfig": {"NetworkMode": r.host_config.network_mode},
                "NetworkSettings": {"Networks": {}},
                "Mounts": [],
            })
        })
        .collect();
    json_response(&out)
}

/// docker's `ContainerJSON` for a record.
fn render_inspect(engine: &Engine, r: &Record) -> Value {
    let (path, args) = r.path_and_args();
    let s = &r.state;
    let dir = engine.config().root.join("containers").join(&r.id);
    let p = |f: &str| dir.join(f).display().to_string();
    json!({
        "Id": r.id,
        "Created": r.created,
        "Path": path,
        "Args": args,
        "State": {
            "Status": s.status.as_str(),
            "Running": s.status.is_running() ,
            "Paused": s.status == berth_engine::containers::Status::Paused,
            "Restarting": s.status == berth_engine::containers::Status::Restarting,
            "OOMKilled": s.oom_killed,
            "Dead": s.status == berth_engine::containers::Status::Dead,
            "Pid": s.pid,
            "ExitCode": s.exit_code,
            "Error": s.error,
            "StartedAt": s.started_at,
            "FinishedAt": s.finished_at,
        },
        "Image": r.image_id,
        "ResolvConfPath": p("resolv.conf"),
        "HostnamePath": p("hostname"),
        "HostsPath": p("hosts"),
        "LogPath": engine.containers().log_path(&r.id).display().to_string(),
        "Name": format!("/{}", r.name),
        "RestartCount": r.restart_count,
        "Driver": engine.images().driver_name(),
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": null,
        "HostConfig": r.host_config,
        "GraphDriver": {"Data": null, "Name": engine.images().driver_name()},
        "Mounts": [],
        "Config": r.config,
        "NetworkSettings": {
            "Bridge": "", "SandboxID": "", "HairpinMode": false,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0, "Ports": {},
            "SandboxKey": "", "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null,
            "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "",
            "Networks": {},
        },
    })
}

/// `GET /containers/{id}/json`.
pub(super) async fn inspect(engine: &Engine, id: &str) -> Result<Response<Body>, ApiError> {
    let r = engine.containers().inspect(id).await?;
    json_response(&render_inspect(engine, &r))
}

/// `DELETE /containers/{id}?force=1&v=1`.
pub(super) async fn delete(
    engine: &Engine,
    id: &str,
    req: &Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let q = Query::parse(req.uri().query());
    if q.bool("link") {
        return Err(ApiError::InvalidParameter(
            "links are not supported by berth".into(),
        ));
    }
    engine.containers().delete(id, q.bool("force")).await?;
    Ok(status(StatusCode::NO_CONTENT))
}

/// `POST /containers/prune`.
pub(super) async fn prune(engine: &Engine) -> Result<Response<Body>, ApiError> {
    let r = engine.containers().prune().await?;
    json_response(&json!({
        "ContainersDeleted": if r.deleted.is_empty() { Value::Null } else { json!(r.deleted) },
        "SpaceReclaimed": r.space_reclaimed,
    }))
}

/// `h` and `w` of a resize.
pub(super) fn size(q: &Query) -> Result<(u16, u16), ApiError> {
    let n = |k: &str| {
        q.get(k)
            .unwrap_or("0")
            .parse::<u16>()
            .map_err(|_| ApiError::InvalidParameter(format!("invalid {k}")))
    };
    Ok((n("h")?, n("w")?))
}

fn timeout(q: &Query) -> Result<Option<i64>, ApiError> {
    q.get("t")
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<i64>()
                .map_err(|_| ApiError::InvalidParameter(format!("invalid t {t:?}")))
        })
        .transpose()
}

/// The `POST /containers/{id}/ACTION`s that answer 204 (or 304).
pub(super) async fn post(
    engine: &Engine,
    id: &str,
    action: &str,
    req: &Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let q = Query::parse(req.uri().query());
    let c = engine.containers();
    let done = |o: StartOutcome| match o {
        StartOutcome::Done => status(StatusCode::NO_CONTENT),
        StartOutcome::NotModified => status(StatusCode::NOT_MODIFIED),
    };
    Ok(match action {
        "start" => done(c.start(id).await?),
        "stop" => done(c.stop(id, timeout(&q)?).await?),
        "restart" => {
            c.restart(id, timeout(&q)?).await?;
            status(StatusCode::NO_CONTENT)
        }
        "kill" => {
            c.kill(id, q.get("signal").unwrap_or("")).await?;
            status(StatusCode::NO_CONTENT)
        }
        "pause" => {
            c.pause(id).await?;
            status(StatusCode::NO_CONTENT)
        }
        "unpause" => {
            c.unpause(id).await?;
            status(StatusCode::NO_CONTENT)
        }
        "rename" => {
            c.rename(id, q.get("name").unwrap_or("")).await?;
            status(StatusCode::NO_CONTENT)
        }
        "resize" => {
            let (h, w) = size(&q)?;
            c.resize(id, h, w).await?;
            status(StatusCode::OK)
        }
        _ => return Err(ApiError::PageNotFound),
    })
}

/// `POST /containers/{id}/wait?condition=...`: the header goes out at once, the body
/// `{"Error":null,"StatusCode":N}` when the condition holds.
pub(super) fn wait(
    engine: &Engine,
    id: &str,
    req: &Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let q = Query::parse(req.uri().query());
    let cond = q.get("condition").unwrap_or("");
    let cond = WaitCondition::parse(cond)
        .ok_or_else(|| ApiError::InvalidParameter(format!("invalid condition: {cond:?}")))?;
    let fut = engine.containers().wait(id, cond)?;
    let (tx, body) = ChannelBody::channel(1);
    tokio::spawn(async move {
        let r = fut.await;
        let err = r.error.map(|m| json!({"Message": m}));
        let mut line = serde_json::to_vec(&json!({"Error": err, "StatusCode": r.status_code}))
            .unwrap_or_default();
        line.push(b'\n');
        let _ = tx.send(Bytes::from(line)).await;
    });
    let mut resp = Response::new(body.boxed());
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}

/// One log message as the client gets it: the time first with `timestamps`, in a stdcopy
/// frame unless the container has a tty.
fn frame(out: &mut Vec<u8>, e: &LogEntry, tty: bool, timestamps: bool) {
    let mut line = Vec::with_capacity(e.log.len() + 32);
    if timestamps {
        line.extend_from_slice(berth_shim_proto::time::format(e.time).as_bytes());
        line.push(b' ');
    }
    line.extend_from_slice(e.log.as_bytes());
    if tty {
        out.extend_from_slice(&line);
    } else {
        let id = match e.stream {
            Stream::Stdout => StreamId::Stdout,
            Stream::Stderr => StreamId::Stderr,
        };
        push_frame(out, id, &line);
    }
}

/// docker's `since`/`until`: unix seconds with a fraction, or RFC 3339.
fn log_time(s: Option<&str>) -> Result<Option<SystemTime>, ApiError> {
    let Some(s) = s.filter(|s| !s.is_empty() && *s != "0") else {
        return Ok(None);
    };
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(Some(UNIX_EPOCH + Duration::from_secs_f64(secs)));
        }
    }
    berth_shim_proto::time::parse(s)
        .map(Some)
        .ok_or_else(|| ApiError::InvalidParameter(format!("invalid time {s:?}")))
}

/// `GET /containers/{id}/logs`.
pub(super) async fn logs(
    engine: &Engine,
    id: &str,
    req: &Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let q = Query::parse(req.uri().query());
    let (stdout, stderr) = (q.bool("stdout"), q.bool("stderr"));
    if !stdout && !stderr {
        return Err(ApiError::InvalidParameter(
            "Bad parameters: you must choose at least one stream".into(),
        ));
    }
    let tail = match q.get("tail").unwrap_or("all") {
        "all" | "" => None,
        n => Some(
            n.parse::<usize>()
                .map_err(|_| ApiError::InvalidParameter(format!("invalid tail {n:?}")))?,
        ),
    };
    let opts = LogOptions {
        follow: q.bool("follow"),
        stdout,
        stderr,
        since: log_time(q.get("since"))?,
        until: log_time(q.get("until"))?,
        tail,
    };
    let timestamps = q.bool("timestamps");
    let (tty, mut rx) = engine.containers().logs(id, opts).await?;
    let (tx, body) = ChannelBody::channel(16);
    tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            let mut out = Vec::new();
            frame(&mut out, &e, tty, timestamps);
            if tx.send(Bytes::from(out)).await.is_err() {
                return;
            }
        }
    });
    let mut resp = Response::new(body.boxed());
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.docker.raw-stream"),
    );
    Ok(resp)
}

/// `POST /containers/{id}/attach?stream=1&stdin=1&stdout=1&stderr=1&logs=1` (hijacked).
pub(super) async fn attach(
    engine: &Engine,
    id: &str,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let q = Query::parse(req.uri().query());
    let opts = AttachOptions {
        stdin: q.bool("stdin"),
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
        logs: q.bool("logs"),
        stream: q.bool("stream"),
    };
    if !opts.logs && !opts.stream {
        return Err(ApiError::InvalidParameter(
            "Bad parameters: you must choose at least one stream".into(),
        ));
    }
    let a = engine.containers().attach(id, opts).await?;
    let mut prefix = Vec::new();
    for e in &a.logs {
        frame(&mut prefix, e, a.tty, false);
    }
    Ok(upgrade(&mut req, prefix, a.stream, None))
}

/// `GET /containers/{id}/top?ps_args=...`.
pub(super) async fn top(
    engine: &Engine,
    id: &str,
    req: &Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let q = Query::parse(req.uri().query());
    let t = engine
        .containers()
        .top(id, q.get("ps_args").unwrap_or(""))
        .await?;
    json_response(&json!({"Titles": t.titles, "Processes": t.processes}))
}

/// docker's stats JSON for `s`, with `pre` as `precpu_stats` (a real earlier sample).
fn render_stats(s: &StatsSample, pre: Option<&StatsSample>) -> Value {
    let cpu = |x: Option<&StatsSample>| -> Value {
        let Some(x) = x else {
            return json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0,
                "usage_in_usermode": 0}, "throttling_data": {"periods": 0,
                "throttled_periods": 0, "throttled_time": 0}});
        };
        let Some(c) = &x.cgroup else {
            return json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0,
                "usage_in_usermode": 0}, "throttling_data": {"periods": 0,
                "throttled_periods": 0, "throttled_time": 0}});
        };
        let u = &c.cpu.usage;
        let t = &c.cpu.throttling;
        json!({
            "cpu_usage": {
                "total_usage": u.total,
                "percpu_usage": if u.percpu.is_empty() { Value::Null } else { json!(u.percpu) },
                "usage_in_kernelmode": u.kernel,
                "usage_in_usermode": u.user,
            },
            "system_cpu_usage": x.system_cpu,
            "online_cpus": x.online_cpus,
            "throttling_data": {
                "periods": t.periods,
                "throttled_periods": t.throttled_periods,
                "throttled_time": t.throttled_time,
            },
        })
    };
    let time = |x: Option<&StatsSample>| {
        x.filter(|x| x.cgroup.is_some()).map_or_else(
            || "0001-01-01T00:00:00Z".to_owned(),
            |x| berth_shim_proto::time::format(x.read),
        )
    };
    let (memory, pids, blkio) = match &s.cgroup {
        Some(c) => {
            let m = &c.memory;
            (
                json!({
                    "usage": m.usage.usage,
                    "max_usage": m.usage.max,
                    "stats": m.raw,
                    "failcnt": m.usage.failcnt,
                    "limit": m.usage.limit.min(s.host_memory),
                }),
                json!({"current": c.pids.current, "limit": c.pids.limit}),
                serde_json::to_value(&c.blkio).unwrap_or_else(|_| json!({})),
            )
        }
        None => (json!({}), json!({}), json!({})),
    };
    json!({
        "read": time(Some(s)),
        "preread": time(pre),
        "pids_stats": pids,
        "blkio_stats": blkio,
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu(Some(s)),
        "precpu_stats": cpu(pre),
        "memory_stats": memory,
        "name": format!("/{}", s.name),
        "id": s.id,
    })
}

/// `GET /containers/{id}/stats?stream=1&one-shot=0`: a sample a second; without `stream`,
/// one line whose `precpu_stats` is a sample taken half a second before (so the CLI's CPU %
/// is right); with `one-shot`, a single sample.
pub(super) async fn stats(
    engine: std::sync::Arc<Engine>,
    id: &str,
    req: &Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let q = Query::parse(req.uri().query());
    let stream = q.get("stream").is_none_or(|_| q.bool("stream"));
    let one_shot = q.bool("one-shot");
    let first = engine.containers().stats(id).await?;
    let id = first.id.clone();
    let (tx, body) = ChannelBody::channel(4);
    tokio::spawn(async move {
        let line = |v: Value| {
            let mut b = serde_json::to_vec(&v).unwrap_or_default();
            b.push(b'\n');
            Bytes::from(b)
        };
        if !stream && one_shot {
            let _ = tx.send(line(render_stats(&first, None))).await;
            return;
        }
        let mut pre = first;
        let tick = if stream {
            Duration::from_secs(1)
        } else {
            Duration::from_millis(500)
        };
        loop {
            tokio::time::sleep(tick).await;
            let Ok(now) = engine.containers().stats(&id).await else {
                return;
            };
            if tx.send(line(render_stats(&now, Some(&pre)))).await.is_err() || !stream {
                return;
            }
            pre = now;
        }
    });
    let mut resp = Response::new(body.boxed());
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}

/// `POST /containers/{id}/update`: docker's `UpdateConfig` (the resources and the restart
/// policy; the fields left at zero keep their values).
pub(super) async fn update(
    engine: &Engine,
    id: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let body: Value = read_json(req).await?;
    let warnings = engine.containers().update(id, body).await?;
    json_response(&json!({ "Warnings": warnings }))
}
