//! Hijacked connections (attach, exec start): the response is `101 UPGRADED` with
//! `Upgrade: tcp`, after which the connection carries the container's streams both ways
//! (docker CLIs send the upgrade headers; the legacy 200-and-hijack is not served).

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::oneshot;

use crate::body::{empty, Body};

/// Answers `req` with 101 and, once hyper hands the connection over, splices it with `shim`:
/// `prefix` first (replayed logs), the client's bytes to the shim (a half-close is stdin's
/// EOF), the shim's bytes to the client until the shim ends the stream; then, if `exited` is
/// given, its end is awaited (so an exec's exit code is recorded before the client asks).
pub(super) fn upgrade(
    req: &mut Request<Incoming>,
    prefix: Vec<u8>,
    shim: Option<UnixStream>,
    exited: Option<oneshot::Receiver<i32>>,
) -> Response<Body> {
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!("hijack: {e}");
                return;
            }
        };
        let io = TokioIo::new(upgraded);
        let (mut cr, mut cw) = tokio::io::split(io);
        if !prefix.is_empty() && cw.write_all(&prefix).await.is_err() {
            return;
        }
        if let Some(shim) = shim {
            let (mut sr, mut sw) = shim.into_split();
            let input = tokio::spawn(async move {
                let mut buf = vec![0u8; 32 * 1024];
                loop {
                    match cr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if sw
                                .write_all(buf.get(..n).unwrap_or_default())
                                .await
                                .is_err()
                            {
                                break;
                            }
                        }
                    }
                }
                let _ = sw.shutdown().await;
            });
            let _ = tokio::io::copy(&mut sr, &mut cw).await;
            input.abort();
        }
        if let Some(exited) = exited {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), exited).await;
        }
        let _ = cw.flush().await;
        let _ = cw.shutdown().await;
    });
    let mut resp = Response::new(empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static("tcp"));
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.docker.raw-stream"),
    );
    resp
}
