//! What the streaming image endpoints (pull, push, load) share: the engine job runs in its
//! own task, its events go out as JSON lines, and a failure after the first line becomes a
//! last `{"errorDetail":...,"error":...}` line, as dockerd writes it once its output was
//! flushed. Also the `X-Registry-Auth` header, which pull and push both read.

use base64::Engine as _;
use berth_engine::EngineError;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::Response;
use serde::Serialize;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use crate::body::{empty, Body, JsonStream};
use crate::error::ApiError;
use crate::types::images as t;

/// What becomes of the job when the client stops reading its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ClientGone {
    /// The job goes on; only the forwarding stops (a pull: what it fetched is kept).
    Detach,
    /// The job is aborted (a push).
    Abort,
}

/// The response to a job (`name`: `pull`, `push`) spawned as `task`, which reports on `rx`:
/// each event is rendered by `render` into the lines sent for it. A job that ends before its
/// first event answers an empty stream when it succeeded and an HTTP error when it failed;
/// once the stream has started, its failure is its last line.
pub(super) async fn progress_stream<E, T, I, R>(
    name: &'static str,
    task: JoinHandle<Result<T, EngineError>>,
    mut rx: UnboundedReceiver<E>,
    when_gone: ClientGone,
    render: R,
) -> Result<Response<Body>, ApiError>
where
    E: Send + 'static,
    T: Send + 'static,
    R: Fn(&E) -> I + Send + 'static,
    I: IntoIterator,
    I::IntoIter: Send,
    I::Item: Serialize + Send + Sync,
{
    let Some(first) = rx.recv().await else {
        // The job ended without a word: it failed before it started.
        return match task.await {
            Ok(Ok(_)) => Ok(json_stream_response(empty())),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(ApiError::Internal(format!("{name} task: {e}"))),
        };
    };
    let (stream, body) = JsonStream::channel();
    tokio::spawn(async move {
        let mut event = Some(first);
        while let Some(e) = event {
            for line in render(&e) {
                if stream.send(&line).await.is_err() {
                    if when_gone == ClientGone::Abort {
                        task.abort();
                    }
                    return;
                }
            }
            event = rx.recv().await;
        }
        send_failure(&stream, name, task).await;
    });
    Ok(json_stream_response(body))
}

/// Waits for the job `name` and, when it failed, sends its error as the stream's last line.
pub(super) async fn send_failure<T>(
    stream: &JsonStream,
    name: &str,
    task: JoinHandle<Result<T, EngineError>>,
) {
    let error = match task.await {
        Ok(Ok(_)) => return,
        Ok(Err(e)) => e.to_string(),
        Err(e) => format!("{name} task: {e}"),
    };
    let _ = stream.send(&error_message(error)).await;
}

/// A stream's error line: `{"errorDetail":{"message":E},"error":E}`.
fn error_message(error: String) -> t::ProgressMessage {
    t::ProgressMessage {
        error_detail: Some(t::ErrorDetail {
            code: None,
            message: error.clone(),
        }),
        error: Some(error),
        ..Default::default()
    }
}

/// A JSON stream's response: `body` as `application/json`.
pub(super) fn json_stream_response(body: Body) -> Response<Body> {
    let mut resp = Response::new(body);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// The header's value is not base64url of an `AuthConfig`'s JSON.
#[derive(Debug)]
pub(super) struct BadRegistryAuth;

/// The `X-Registry-Auth` header `raw`: base64url (padded or not) of docker's `AuthConfig`
/// JSON. An empty value (or one that is not visible ASCII) is none.
pub(super) fn decode_registry_auth(
    raw: &HeaderValue,
) -> Result<Option<t::AuthConfig>, BadRegistryAuth> {
    let raw = raw.to_str().unwrap_or("").trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .map_err(|_| BadRegistryAuth)?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|_| BadRegistryAuth)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A job that panics once its stream has started ends the stream with an error line; the
    /// panic goes no further than its task.
    #[tokio::test]
    async fn a_job_that_panics_ends_its_stream_with_an_error() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
        let task: JoinHandle<Result<(), EngineError>> = tokio::spawn(async move {
            tx.send("working").unwrap();
            panic!("the job broke");
        });
        let resp = progress_stream("pull", task, rx, ClientGone::Detach, |status| {
            [t::ProgressMessage::<()> {
                status: Some((*status).to_owned()),
                ..Default::default()
            }]
        })
        .await
        .unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let lines: Vec<serde_json::Value> = body
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0]["status"], "working");
        let error = lines[1]["error"].as_str().unwrap();
        assert!(
            error.starts_with("pull task: ") && error.contains("the job broke"),
            "{error}"
        );
    }
}
