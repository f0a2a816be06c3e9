//! The archive endpoints: save (`GET /images/get?names=..`, `GET /images/{name}/get`, the tar
//! streamed as `application/x-tar`), load (`POST /images/load`, the tar in the request body,
//! dockerd's JSON lines back) and import (`POST /images/create?fromSrc=-`, a rootfs tar in the
//! body, or from a URL on this machine only). The request body reaches the engine as a
//! blocking reader fed from the connection; the archive goes out through a channel body, so
//! neither side is held in memory.

use std::io::{self, Read, Write};
use std::sync::Arc;

use berth_engine::{Engine, ImportOptions, LayerStatus, LoadEvent, PullProgress};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response};
use tokio::sync::mpsc;

use super::images::render_progress;
use super::query::Query;
use super::stream::{json_stream_response, send_failure};
use crate::body::{full, Body, ChannelBody, JsonStream};
use crate::error::ApiError;
use crate::types::archive::StreamMessage;
use crate::types::images as t;

/// Body chunks buffered between the connection and the engine.
const BODY_CHUNKS: usize = 16;

/// Bytes gathered before a chunk of a saved archive is sent.
const SAVE_BUFFER: usize = 256 << 10;

/// Every value of `key` in the query (`names=a&names=b`).
fn all_values(query: Option<&str>, key: &str) -> Vec<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .collect()
}

/// `GET /images/get?names=A&names=B`.
pub(super) async fn save_all(
    engine: Arc<Engine>,
    req: &Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let names = all_values(req.uri().query(), "names");
    save(engine, names).await
}

/// `GET /images/{name}/get` (and the query form): the names resolved first, so that an
/// unknown one is a 404 before any byte of the archive, then the tar streamed.
pub(super) async fn save(
    engine: Arc<Engine>,
    names: Vec<String>,
) -> Result<Response<Body>, ApiError> {
    let plan = engine.images().save_plan(names).await?;
    let (tx, body) = ChannelBody::channel(BODY_CHUNKS);
    let images = engine.images().clone();
    tokio::spawn(async move {
        let out = io::BufWriter::with_capacity(SAVE_BUFFER, ChannelWriter { tx });
        // An error now (the client went away, a layer changed) can only cut the stream.
        if let Err(e) = images.save(plan, out).await {
            tracing::warn!("save: {e}");
        }
    });
    let mut resp = Response::new(body.boxed());
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    Ok(resp)
}

/// Writes each buffer as one chunk of the response; fails once the client is gone.
struct ChannelWriter {
    tx: mpsc::Sender<Bytes>,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The request body as a blocking reader (for the engine's blocking threads).
fn body_reader(body: Incoming) -> Box<dyn Read + Send> {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(BODY_CHUNKS);
    tokio::spawn(async move {
        let mut body = body;
        loop {
            match body.frame().await {
                None => return,
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if tx.send(Ok(data)).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Err(e)) => {
                    let _ = tx
                        .send(Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("reading the request body: {e}"),
                        )))
                        .await;
                    return;
                }
            }
        }
    });
    Box::new(BodyReader {
        rx,
        chunk: Bytes::new(),
    })
}

struct BodyReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    chunk: Bytes,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(c)) => self.chunk = c,
                Some(Err(e)) => return Err(e),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

/// `POST /images/load?quiet=0|1`: dockerd's answer, a JSON stream (200 even when the load
/// fails: the error is its last line, as dockerd writes it).
pub(super) async fn load(
    engine: Arc<Engine>,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let q = Query::parse(req.uri().query());
    let quiet = q.bool("quiet");
    let reader = body_reader(req.into_body());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let images = engine.images().clone();
    let task = tokio::spawn(async move { images.load(reader, Some(tx)).await });
    let (stream, body) = JsonStream::channel();
    tokio::spawn(async move {
        // The load goes on when the client goes away; only the forwarding stops.
        while let Some(event) = rx.recv().await {
            let sent = match event {
                LoadEvent::Layer { .. } if quiet => Ok(()),
                LoadEvent::Layer { id, current, total } => {
                    let mut m = render_progress(&PullProgress::Layer {
                        id,
                        status: LayerStatus::Extracting { current, total },
                    });
                    m.status = Some("Loading layer".into());
                    stream.send(&m).await
                }
                LoadEvent::Message(text) => stream.send(&StreamMessage { stream: text }).await,
            };
            if sent.is_err() {
                return;
            }
        }
        send_failure(&stream, "load", task).await;
    });
    Ok(json_stream_response(body))
}

/// Whether `POST /images/create` is an import (`fromSrc`) rather than a pull.
pub(super) fn is_import(req: &Request<Incoming>) -> bool {
    Query::parse(req.uri().query()).get("fromSrc").is_some()
}

/// `POST /images/create?fromSrc=-&repo=R&tag=T&message=M&changes=C`: the body is the tar
/// (`fromSrc=http://127.0.0.1:PORT/x.tar`: fetched, loopback only).
/// Answers `{"status":"sha256:..."}` once the image is stored; errors are HTTP errors, as
/// dockerd's, since nothing was written before them.
pub(super) async fn import(
    engine: Arc<Engine>,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let query = req.uri().query().map(str::to_owned);
    let q = Query::parse(query.as_deref());
    let source = q.string("fromSrc");
    let tar = if source == "-" {
        body_reader(req.into_body())
    } else {
        body_reader(fetch_loopback(&source).await?)
    };
    let repo = q.string("repo");
    let tag = q.string("tag");
    let reference = match (repo.is_empty(), tag.is_empty()) {
        (true, _) => None,
        (false, true) => Some(repo),
        (false, false) => Some(format!("{repo}:{tag}")),
    };
    let options = ImportOptions {
        reference,
        message: q.string("message"),
        changes: all_values(query.as_deref(), "changes"),
        source,
    };
    let id = engine.images().import(tar, options).await?;
    let mut line = serde_json::to_vec(&t::ProgressMessage::<()> {
        status: Some(id.to_string()),
        ..Default::default()
    })
    .map_err(|e| ApiError::Internal(format!("encode JSON: {e}")))?;
    line.push(b'\n');
    Ok(json_stream_response(full(line)))
}

/// The body of `GET url`, for an import from a URL. berthd sends traffic to no other host
/// than this machine's: only `http://` URLs whose host is a loopback address (127.0.0.0/8,
/// `::1`) or `localhost` are fetched, without following redirects; anything else is refused
/// before any connection.
async fn fetch_loopback(url: &str) -> Result<Incoming, ApiError> {
    let refuse = |why: &str| {
        ApiError::InvalidParameter(format!(
            "importing from {url} is refused: {why}; berthd fetches only http:// URLs on this \
             machine (127.0.0.1, ::1, localhost), else download it and import it from \
             standard input (-)"
        ))
    };
    let uri: hyper::Uri = url.parse().map_err(|_| refuse("not a URL"))?;
    if uri.scheme_str() != Some("http") {
        return Err(refuse("not an http:// URL"));
    }
    let host = uri.host().ok_or_else(|| refuse("no host"))?;
    let ip: std::net::IpAddr = if host.eq_ignore_ascii_case("localhost") {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| refuse("the host is not a loopback address"))?
    };
    if !ip.is_loopback() {
        return Err(refuse("the host is not a loopback address"));
    }
    let port = uri.port_u16().unwrap_or(80);
    let failed = |e: String| ApiError::InvalidParameter(format!("Get \"{url}\": {e}"));
    let stream = tokio::net::TcpStream::connect((ip, port))
        .await
        .map_err(|e| failed(e.to_string()))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| failed(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("import download: {e}");
        }
    });
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let authority = uri.authority().map_or(host, |a| a.as_str());
    let req = Request::get(path)
        .header(hyper::header::HOST, authority)
        .body(http_body_util::Empty::<Bytes>::new())
        .map_err(|e| failed(e.to_string()))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| failed(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(failed(format!("status {}", resp.status())));
    }
    Ok(resp.into_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_loopback_urls_are_fetched() {
        for url in [
            "http://192.0.2.1/x.tar",
            "https://127.0.0.1/x.tar",
            "http://example.com/x.tar",
            "ftp://127.0.0.1/x",
            "not a url",
        ] {
            let e = fetch_loopback(url).await.unwrap_err();
            assert!(e.to_string().contains("is refused"), "{url}: {e}");
        }
        // A loopback port where nothing listens: refused by the kernel, not by the rule.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = fetch_loopback(&format!("http://127.0.0.1:{port}/x.tar"))
            .await
            .unwrap_err();
        assert!(e.to_string().starts_with("Get \""), "{e}");
    }

    #[test]
    fn repeated_query_values() {
        assert_eq!(
            all_values(Some("names=a&names=b%3A1&quiet=1"), "names"),
            ["a", "b:1"]
        );
        assert!(all_values(None, "names").is_empty());
    }

    #[test]
    fn body_reader_yields_the_chunks_in_order() {
        let (tx, rx) = mpsc::channel(4);
        let mut r = BodyReader {
            rx,
            chunk: Bytes::new(),
        };
        let t = std::thread::spawn(move || {
            tx.blocking_send(Ok(Bytes::from_static(b"hello "))).unwrap();
            tx.blocking_send(Ok(Bytes::from_static(b"world"))).unwrap();
        });
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        t.join().unwrap();
        assert_eq!(s, "hello world");
    }
}
