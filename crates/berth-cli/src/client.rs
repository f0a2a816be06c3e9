//! A small HTTP/1.1 client for the daemon's API over its unix socket: one connection per
//! request, every path under the `/v1.41` prefix, error bodies decoded into
//! [`CliError::Daemon`]. Bodies are sent whole or streamed from a file, and answers are read
//! whole, as JSON, or chunk by chunk (progress streams, `save`).

use std::io;

use berth_api_types::ErrorResponse;
use berth_api_types::{Host, API_VERSION};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::header::{CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;
use tokio::task::JoinHandle;

use crate::error::CliError;
use crate::format::progress::{JsonMessage, ProgressPrinter, ShowError};

/// A request body.
pub type ReqBody = BoxBody<Bytes, io::Error>;

/// A client of one daemon.
#[derive(Debug, Clone)]
pub struct Client {
    host: Host,
}

/// An answer whose body is still being read; the connection lives as long as it does.
#[derive(Debug)]
pub struct Response {
    pub content_type: String,
    body: Incoming,
    driver: JoinHandle<Result<(), hyper::Error>>,
    host: Host,
}

impl Drop for Response {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Response {
    /// The next chunk of the body, `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, CliError> {
        loop {
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(source)) => {
                    return Err(CliError::Http {
                        host: self.host.clone(),
                        source,
                    })
                }
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }

    /// The whole body.
    pub async fn bytes(mut self) -> Result<Bytes, CliError> {
        let mut all = Vec::new();
        while let Some(c) = self.chunk().await? {
            all.extend_from_slice(&c);
        }
        Ok(Bytes::from(all))
    }

    /// Reads a newline-delimited JSON message stream to its end and shows it with `printer`;
    /// an error message in the stream fails with [`CliError::Stream`].
    pub async fn show_progress(
        mut self,
        printer: &mut ProgressPrinter,
        out: &mut impl io::Write,
    ) -> Result<(), CliError> {
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let chunk = self.chunk().await?;
            let done = chunk.is_none();
            if let Some(c) = chunk {
                buf.extend_from_slice(&c);
            }
            while let Some(nl) = buf
                .iter()
                .position(|&b| b == b'\n')
                .or(done.then_some(buf.len()).filter(|&n| n > 0))
            {
                let line: Vec<u8> = buf.drain(..(nl + 1).min(buf.len())).collect();
                let text = String::from_utf8_lossy(&line);
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                let msg: JsonMessage =
                    serde_json::from_str(text).map_err(|source| CliError::Decode {
                        path: "progress stream".into(),
                        source,
                    })?;
                match printer.show(&msg, berth_api_types::time::now_unix(), out) {
                    Ok(()) => {}
                    Err(ShowError::Stream(e)) => {
                        out.flush()?;
                        return Err(CliError::Stream(e));
                    }
                    Err(ShowError::Output(e)) => return Err(CliError::Output(e)),
                }
                out.flush()?;
            }
            if done {
                return Ok(());
            }
        }
    }
}

/// An empty request body.
pub fn empty() -> ReqBody {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed()
}

/// A JSON request body.
pub fn json_body(v: &impl serde::Serialize) -> ReqBody {
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    Full::new(Bytes::from(bytes))
        .map_err(|never| match never {})
        .boxed()
}

/// A body streamed from `reader` in 64 KiB chunks.
pub fn reader_body<R: tokio::io::AsyncRead + Unpin + Send + Sync + 'static>(reader: R) -> ReqBody {
    use tokio::io::AsyncReadExt;
    let stream = futures_util::stream::unfold(reader, |mut r| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match r.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Frame::data(Bytes::from(buf))), r))
            }
            Err(e) => Some((Err(e), r)),
        }
    });
    http_body_util::StreamBody::new(stream).boxed()
}

impl Client {
    /// A client of the daemon at `host` (nothing is connected yet).
    pub fn new(host: Host) -> Client {
        Client { host }
    }

    /// The daemon's address.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// `GET /v1.41{path}`, decoded from JSON.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        let body = self.get(path).await?;
        decode(path, &body)
    }

    /// `GET /v1.41{path}`, the whole body.
    pub async fn get(&self, path: &str) -> Result<Bytes, CliError> {
        self.send(Method::GET, path, &[], empty())
            .await?
            .bytes()
            .await
    }

    /// `method /v1.41{path}` with a JSON `body`, the answer decoded from JSON.
    pub async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: ReqBody,
    ) -> Result<T, CliError> {
        let bytes = self
            .send(
                method,
                path,
                &[("Content-Type", "application/json".into())],
                body,
            )
            .await?
            .bytes()
            .await?;
        decode(path, &bytes)
    }

    /// `POST path` with a tar archive as the body (load, import).
    pub async fn post_tar(&self, path: &str, body: ReqBody) -> Result<Response, CliError> {
        self.send(
            Method::POST,
            path,
            &[("Content-Type", "application/x-tar".into())],
            body,
        )
        .await
    }

    /// Sends a request and returns the answer once its head arrived; an error status is
    /// turned into [`CliError::Daemon`] with the daemon's message.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: ReqBody,
    ) -> Result<Response, CliError> {
        let stream = UnixStream::connect(self.host.socket())
            .await
            .map_err(|e| self.connect_error(e))?;
        let http = |source| CliError::Http {
            host: self.host.clone(),
            source,
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(http)?;
        let driver = tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(format!("/v{API_VERSION}{path}"))
            .header(HOST, "berth")
            .header(USER_AGENT, concat!("berth-cli/", env!("CARGO_PKG_VERSION")));
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let req = req
            .body(body)
            .map_err(|e| CliError::Output(io::Error::other(e)))?;
        let resp = sender.send_request(req).await.map_err(http)?;
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let resp = Response {
            content_type,
            body: resp.into_body(),
            driver,
            host: self.host.clone(),
        };
        if !status.is_success() {
            let body = resp.bytes().await?;
            return Err(daemon_error(status.as_u16(), &body));
        }
        Ok(resp)
    }

    /// `POST /v1.41{path}` upgraded to a raw stream (`Connection: Upgrade`, `Upgrade: tcp`, as
    /// docker's CLI sends for attach and exec start): the socket itself once the daemon
    /// answered `101 Switching Protocols`, with the bytes already read past the answer's head.
    pub async fn hijack(&self, path: &str, body: ReqBody) -> Result<Hijacked, CliError> {
        let stream = UnixStream::connect(self.host.socket())
            .await
            .map_err(|e| self.connect_error(e))?;
        let http = |source| CliError::Http {
            host: self.host.clone(),
            source,
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(http)?;
        let driver = tokio::spawn(conn.with_upgrades());
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("/v{API_VERSION}{path}"))
            .header(HOST, "berth")
            .header(USER_AGENT, concat!("berth-cli/", env!("CARGO_PKG_VERSION")))
            .header(CONTENT_TYPE, "application/json")
            .header(hyper::header::CONNECTION, "Upgrade")
            .header(hyper::header::UPGRADE, "tcp")
            .body(body)
            .map_err(|e| CliError::Output(io::Error::other(e)))?;
        let resp = sender.send_request(req).await.map_err(http)?;
        let status = resp.status();
        if status == hyper::StatusCode::SWITCHING_PROTOCOLS {
            let upgraded = hyper::upgrade::on(resp).await.map_err(http)?;
            let parts = upgraded.downcast::<TokioIo<UnixStream>>().map_err(|_| {
                CliError::Output(io::Error::other("upgraded stream of another type"))
            })?;
            return Ok(Hijacked {
                stream: parts.io.into_inner(),
                buffered: parts.read_buf,
            });
        }
        let body = Response {
            content_type: String::new(),
            body: resp.into_body(),
            driver,
            host: self.host.clone(),
        }
        .bytes()
        .await?;
        if status.is_success() {
            return Err(CliError::Usage(format!(
                "the daemon answered {status} instead of upgrading the connection for {path}"
            )));
        }
        Err(daemon_error(status.as_u16(), &body))
    }

    fn connect_error(&self, e: io::Error) -> CliError {
        let host = self.host.clone();
        match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                CliError::NotRunning { host }
            }
            io::ErrorKind::PermissionDenied => CliError::PermissionDenied { host },
            _ => CliError::Connect { host, source: e },
        }
    }
}

/// A raw stream taken over from an HTTP connection: the socket and what was already read
/// from it.
#[derive(Debug)]
pub struct Hijacked {
    pub stream: UnixStream,
    pub buffered: Bytes,
}

/// [`CliError::Daemon`] of an error answer's body (`{"message": ...}` or plain text).
fn daemon_error(status: u16, body: &[u8]) -> CliError {
    let message = serde_json::from_slice::<ErrorResponse>(body)
        .map(|e| e.message)
        .unwrap_or_else(|_| String::from_utf8_lossy(body).trim().to_string());
    CliError::Daemon { status, message }
}

fn decode<T: DeserializeOwned>(path: &str, body: &[u8]) -> Result<T, CliError> {
    serde_json::from_slice(body).map_err(|source| CliError::Decode {
        path: path.into(),
        source,
    })
}

/// A query string (`?a=1&b=x%2Fy`) of the pairs whose value is not empty.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut q = String::new();
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        q.push(if q.is_empty() { '?' } else { '&' });
        q.push_str(k);
        q.push('=');
        q.push_str(&percent_encode(v));
    }
    q
}

/// Percent-encoding of everything but RFC 3986's unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A path segment holding an image name (slashes kept: the API's routes take them).
pub fn name_path(name: &str) -> String {
    name.split('/')
        .map(|seg| percent_encode(seg).replace("%3A", ":").replace("%40", "@"))
        .collect::<Vec<_>>()
        .join("/")
}

/// The API's `filters` parameter (`{"key":{"value":true}}`) of `--filter key=value` flags.
pub fn filters_json(filters: &[(String, String)]) -> String {
    if filters.is_empty() {
        return String::new();
    }
    let mut map: std::collections::BTreeMap<&str, std::collections::BTreeMap<&str, bool>> =
        Default::default();
    for (k, v) in filters {
        map.entry(k.as_str()).or_default().insert(v.as_str(), true);
    }
    serde_json::to_string(&map).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        assert_eq!(
            query(&[("fromImage", "a/b"), ("tag", ""), ("x", "1 2")]),
            "?fromImage=a%2Fb&x=1%202"
        );
        assert_eq!(name_path("127.0.0.1:5000/a b"), "127.0.0.1:5000/a%20b");
        let f = filters_json(&[
            ("dangling".into(), "true".into()),
            ("label".into(), "a=b".into()),
        ]);
        assert_eq!(f, r#"{"dangling":{"true":true},"label":{"a=b":true}}"#);
    }
}
