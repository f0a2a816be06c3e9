//! The HTTP server: HTTP/1.1 (what Docker clients speak over a unix socket) from hyper 1, one
//! tokio task per connection. Shutdown stops accepting, asks every connection to finish its
//! current response (keep-alive connections close), and after [`ServeOptions::shutdown_timeout`]
//! drops whatever is still running (a `logs -f` that would never end).
//!
//! A handler that panics (a bug, on input nobody foresaw) costs its request only: the panic is
//! caught ([`catch_panic`]), logged, and answered with a 500; the connection and the daemon go
//! on. Streamed responses are produced by tasks of their own: a panic there ends the task,
//! which drops its end of the stream, and the stream ends.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use berth_engine::Engine;
use futures_util::FutureExt as _;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::body::Body;
use crate::error::ApiError;
use crate::handlers;

/// How [`serve`] behaves.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How long connections may take to finish once shutdown begins.
    pub shutdown_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves the API on `listener` until `shutdown` completes, then drains the connections.
pub async fn serve(
    listener: UnixListener,
    engine: Arc<Engine>,
    shutdown: impl Future<Output = ()>,
    options: ServeOptions,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let engine = engine.clone();
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let engine = engine.clone();
                        let what = format!("{} {}", req.method(), req.uri().path());
                        let handle = handlers::handle(engine, req);
                        async move { Ok::<_, Infallible>(catch_panic(&what, handle).await) }
                    });
                    connections.spawn(serve_connection(stream, svc, stop_rx.clone()));
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            // Reap finished connection tasks so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(options.shutdown_timeout, drain)
        .await
        .is_err()
    {
        tracing::warn!(
            "{} connection(s) still open after {:?}: closing them",
            connections.len(),
            options.shutdown_timeout
        );
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}

/// `handler`'s response, or when it panics a 500 `{"message": ...}` naming the panic, which
/// is also logged as an error with `what` (the request's method and path).
pub(crate) async fn catch_panic(
    what: &str,
    handler: impl Future<Output = Response<Body>>,
) -> Response<Body> {
    // Unwind safety: whatever the handler shared (the engine's store, its locks) is either
    // behind locks that recover from poisoning or written by commit-then-rename, so a request
    // cut short leaves nothing half-changed that another request would trust.
    match AssertUnwindSafe(handler).catch_unwind().await {
        Ok(resp) => resp,
        Err(panic) => {
            let message = panic_message(&*panic);
            tracing::error!("{what}: the handler panicked: {message}");
            let mut resp = handlers::error_response(&ApiError::Internal(format!(
                "the request handler panicked: {message}"
            )));
            handlers::add_common_headers(&mut resp);
            resp
        }
    }
}

/// The text a panic was raised with (`panic!("...")`'s payload), when it has one.
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Serves one connection with `svc` until the client closes it or `stop` turns true.
pub(crate) async fn serve_connection<S>(stream: UnixStream, svc: S, mut stop: watch::Receiver<bool>)
where
    S: Service<Request<Incoming>, Response = Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    let conn = http1::Builder::new()
        // Docker's Go clients canonicalise header names anyway; title case matches dockerd's
        // bytes on the wire (`Api-Version`, `Ostype`).
        .title_case_headers(true)
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades();
    tokio::pin!(conn);
    let stopping = async {
        // Returns when stop turns true or its sender is gone.
        while !*stop.borrow_and_update() {
            if stop.changed().await.is_err() {
                break;
            }
        }
    };
    tokio::pin!(stopping);
    let mut stopped = false;
    loop {
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!("connection: {e}");
                }
                return;
            }
            () = &mut stopping, if !stopped => {
                stopped = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::JsonStream;
    use http_body_util::{BodyExt, Empty};
    use hyper::client::conn::http1 as client;
    use tokio::sync::oneshot;

    /// A streamed body reaches the client chunk by chunk: the client reads the first line
    /// before the handler has produced the second.
    #[tokio::test]
    async fn json_stream_is_delivered_incrementally() {
        let (server_io, client_io) = UnixStream::pair().unwrap();
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let go_rx = std::sync::Mutex::new(Some(go_rx));
        let svc = hyper::service::service_fn(move |_req: Request<Incoming>| {
            let go = go_rx.lock().unwrap().take();
            async move {
                let (stream, body) = JsonStream::channel();
                tokio::spawn(async move {
                    stream
                        .send(&serde_json::json!({"status": "one"}))
                        .await
                        .unwrap();
                    if let Some(go) = go {
                        let _ = go.await;
                    }
                    stream
                        .send(&serde_json::json!({"status": "two"}))
                        .await
                        .unwrap();
                });
                Ok::<_, Infallible>(Response::new(body))
            }
        });
        let (_stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(serve_connection(server_io, svc, stop_rx));

        let (mut sender, conn) = client::handshake(TokioIo::new(client_io)).await.unwrap();
        tokio::spawn(conn);
        let req = Request::get("/stream")
            .header("host", "berth")
            .body(Empty::<bytes::Bytes>::new())
            .unwrap();
        let resp = sender.send_request(req).await.unwrap();
        assert_eq!(resp.headers()["transfer-encoding"], "chunked");
        let mut body = resp.into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&first[..], b"{\"status\":\"one\"}\n");
        go_tx.send(()).unwrap();
        let second = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&second[..], b"{\"status\":\"two\"}\n");
        assert!(
            body.frame().await.is_none(),
            "the stream ends with its senders"
        );
    }

    /// A handler that panics answers 500 with Docker's error body, and the same connection
    /// goes on serving the next request.
    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_connection_goes_on() {
        let (server_io, client_io) = UnixStream::pair().unwrap();
        let svc = hyper::service::service_fn(|req: Request<Incoming>| {
            let what = format!("{} {}", req.method(), req.uri().path());
            let boom = req.uri().path() == "/boom";
            let handler = async move {
                assert!(!boom, "boom at {}", 42);
                Response::new(crate::body::full("fine"))
            };
            async move { Ok::<_, Infallible>(catch_panic(&what, handler).await) }
        });
        let (_stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(serve_connection(server_io, svc, stop_rx));
        let (mut sender, conn) = client::handshake(TokioIo::new(client_io)).await.unwrap();
        tokio::spawn(conn);
        let get = |path: &str| {
            Request::get(path)
                .header("host", "berth")
                .body(Empty::<bytes::Bytes>::new())
                .unwrap()
        };

        let resp = sender.send_request(get("/boom")).await.unwrap();
        assert_eq!(resp.status(), 500);
        assert_eq!(resp.headers()["content-type"], "application/json");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"message": "internal error: the request handler panicked: boom at 42"})
        );

        sender.ready().await.unwrap();
        let resp = sender.send_request(get("/fine")).await.unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"fine");
    }

    /// A streamed response whose producer task panics ends; the server does not.
    #[tokio::test]
    async fn a_panicking_producer_ends_its_stream() {
        let (server_io, client_io) = UnixStream::pair().unwrap();
        let svc = hyper::service::service_fn(|_req: Request<Incoming>| async move {
            let (stream, body) = JsonStream::channel();
            tokio::spawn(async move {
                stream
                    .send(&serde_json::json!({"status": "one"}))
                    .await
                    .unwrap();
                panic!("the producer broke");
            });
            Ok::<_, Infallible>(Response::new(body))
        });
        let (_stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(serve_connection(server_io, svc, stop_rx));
        let (mut sender, conn) = client::handshake(TokioIo::new(client_io)).await.unwrap();
        tokio::spawn(conn);
        for _ in 0..2 {
            sender.ready().await.unwrap();
            let req = Request::get("/stream")
                .header("host", "berth")
                .body(Empty::<bytes::Bytes>::new())
                .unwrap();
            let resp = sender.send_request(req).await.unwrap();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"{\"status\":\"one\"}\n");
        }
    }

    /// A producer learns that the client went away from its next send.
    #[tokio::test]
    async fn dropped_body_closes_the_stream() {
        let (stream, body) = JsonStream::channel();
        drop(body);
        assert!(stream.send(&1).await.is_err());
    }
}
