//! Test fixtures for berth-registry, against real peers: the Debian
//! `docker-registry` (distribution 2.8) on the loopback of the test's own
//! network namespace ([`isolated`]),
//! a token server signing ES256 JWTs the registry trusts, a TCP proxy that
//! injects faults into blob downloads, and images made with tar, umoci and
//! skopeo. Everything is torn down in Drop.
//!
//! Kept here rather than in berth-testutil so that this crate's fixtures
//! can change without touching a crate other helpers share.

// Test-only byte arithmetic on blobs far below 4 GiB.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::collapsible_match
)]

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use berth_registry::{Digest, RegistryOptions, RetryPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub use berth_testutil::Registry as RegistryServer;

/// A port on which nothing listens in a test's private network namespace
/// (where only what the test starts serves anything).
pub const DEAD_PORT: u16 = 9;

/// Runs `test` on a two-worker tokio runtime, all of it (the runtime's
/// threads, the registry, skopeo, the token server and proxies) in a network
/// namespace of this test's own, so that no test binds a port on the host.
/// A test that cannot make one (not root) fails under CI and skips elsewhere
/// (see `berth_testutil::require`).
pub fn isolated(test: impl std::future::Future<Output = ()>) {
    if !berth_testutil::require_root() {
        return;
    }
    berth_testutil::ns::enter_private_net().unwrap();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(test);
}

/// Client options for tests: fast retries.
pub fn options() -> RegistryOptions {
    RegistryOptions {
        retry: RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(200),
        },
        read_timeout: Duration::from_secs(20),
        upload_chunk_size: 64 << 10,
        certs_dir: None,
        ..Default::default()
    }
}

/// How the registry authenticates.
pub enum Auth {
    None,
    Htpasswd {
        user: String,
        pass: String,
    },
    Token {
        realm: String,
        service: String,
        issuer: String,
        bundle: PathBuf,
    },
}

/// Starts the shared fixture with `auth` (the token section is passed through as YAML).
pub fn start_registry(auth: Auth, relative_urls: bool) -> RegistryServer {
    let builder = RegistryServer::builder().relative_urls(relative_urls);
    let builder = match auth {
        Auth::None => builder,
        Auth::Htpasswd { user, pass } => builder.htpasswd(&user, &pass),
        Auth::Token { realm, service, issuer, bundle } => builder.auth_yaml(format!(
            "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
            bundle.display()
        )),
    };
    builder.start().unwrap()
}

// ---------------------------------------------------------------- images

/// Deterministic incompressible-ish bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A real gzipped layer made with tar and gzip, with its diff id.
pub struct Layer {
    pub gz: Vec<u8>,
    pub digest: Digest,
    pub diff_id: Digest,
}

pub fn make_layer(tmp: &Path, name: &str, content_len: usize, seed: u64) -> Layer {
    let root = tmp.join(format!("{name}-root"));
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::fs::write(root.join("data").join(name), noise(content_len, seed)).unwrap();
    let tar = tmp.join(format!("{name}.tar"));
    let st = Command::new("tar")
        .args(["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "-cf"])
        .arg(&tar)
        .arg("-C")
        .arg(&root)
        .arg("data")
        .status()
        .unwrap();
    assert!(st.success());
    let tar_bytes = std::fs::read(&tar).unwrap();
    let st = Command::new("gzip")
        .args(["-n", "-k", "-f"])
        .arg(&tar)
        .status()
        .unwrap();
    assert!(st.success());
    let gz = std::fs::read(tmp.join(format!("{name}.tar.gz"))).unwrap();
    Layer {
        digest: Digest::of(&gz),
        diff_id: Digest::of(&tar_bytes),
        gz,
    }
}

pub fn image_config(layers: &[&Layer]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.to_string()).collect();
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "berth test"}]
    }))
    .unwrap()
}

pub fn docker_manifest(config: &[u8], layers: &[&Layer]) -> Vec<u8> {
    let layers: Vec<_> = layers
        .iter()
        .map(|l| {
            serde_json::json!({
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": l.gz.len(),
                "digest": l.digest.to_string(),
            })
        })
        .collect();
    serde_json::to_vec_pretty(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": berth_registry::media_type::DOCKER_MANIFEST,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": config.len(),
            "digest": Digest::of(config).to_string(),
        },
        "layers": layers,
    }))
    .unwrap()
}

/// Runs a command (skopeo, umoci) off the async runtime; panics with its
/// output when it fails.
pub async fn run(cmd: &str, args: Vec<String>) -> Vec<u8> {
    let cmd = cmd.to_owned();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(&cmd).args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "{cmd} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    })
    .await
    .unwrap()
}

pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------- tokens

/// An ES256 key pair and self-signed certificate made with openssl, and
/// the libtrust key id distribution 2.8 looks tokens' `kid` up by.
pub struct SigningKey {
    pub key_pem: Vec<u8>,
    pub cert: PathBuf,
    pub kid: String,
}

pub fn signing_key(dir: &Path) -> SigningKey {
    let key = dir.join("token.key");
    let cert = dir.join("token.crt");
    let der = dir.join("token.pub.der");
    let ok = |c: &mut Command| assert!(c.status().unwrap().success(), "{c:?}");
    ok(Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&key));
    ok(Command::new("openssl")
        .args([
            "req",
            "-new",
            "-x509",
            "-days",
            "2",
            "-subj",
            "/CN=berth-token",
            "-key",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    ok(Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&der));
    let spki = std::fs::read(&der).unwrap();
    SigningKey {
        key_pem: std::fs::read(&key).unwrap(),
        cert,
        kid: libtrust_key_id(&spki),
    }
}

/// libtrust's key id: the sha256 of the DER SubjectPublicKeyInfo,
/// truncated to 240 bits, base32 in 12 colon-separated groups of 4.
pub fn libtrust_key_id(spki: &[u8]) -> String {
    use sha2::Digest as _;
    let sum = sha2::Sha256::digest(spki);
    let b32 = base32(&sum[..30]);
    b32.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":")
}

fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut bits, mut value) = (0u32, 0u64);
    for &b in data {
        value = (value << 8) | u64::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((value >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((value << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// A token server on 127.0.0.1: GET /token?service=&scope= answers a JWT
/// granting what was asked, if the basic credentials (when required) match.
pub struct TokenServer {
    pub port: u16,
    pub requests: Arc<AtomicUsize>,
    pub scopes_seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub struct TokenConfig {
    pub service: String,
    pub issuer: String,
    pub key: SigningKey,
    /// user, pass required by the token server (anonymous refused).
    pub creds: Option<(String, String)>,
    /// An OAuth2 refresh token accepted by POST (the `identitytoken` flow).
    pub refresh_token: Option<String>,
}

impl TokenServer {
    pub async fn start(cfg: TokenConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let scopes_seen = Arc::new(Mutex::new(Vec::new()));
        let cfg = Arc::new(cfg);
        let (r, s) = (requests.clone(), scopes_seen.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (cfg, r, s) = (cfg.clone(), r.clone(), s.clone());
                tokio::spawn(async move {
                    let _ = serve_token(stream, &cfg, &r, &s).await;
                });
            }
        });
        Self {
            port,
            requests,
            scopes_seen,
            task,
        }
    }

    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }
}

async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&byte[..n]);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

async fn serve_token(
    mut stream: TcpStream,
    cfg: &TokenConfig,
    requests: &AtomicUsize,
    scopes_seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    // One request per connection (Connection: close).
    let Some(mut head) = read_head(&mut stream).await else {
        return Ok(());
    };
    requests.fetch_add(1, Ordering::SeqCst);
    let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let is_post = head.starts_with("POST ");
    // A POST's form body follows the head.
    let mut form = String::new();
    if is_post {
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        let split = head.find("\r\n\r\n").unwrap() + 4;
        let mut body = head.split_off(split).into_bytes();
        while body.len() < len {
            let mut buf = [0u8; 1024];
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
        form = String::from_utf8_lossy(&body).into_owned();
    }
    let url = reqwest::Url::parse(&format!("http://x{target}")).unwrap();
    let form_url = reqwest::Url::parse(&format!("http://x/?{form}")).unwrap();
    let mut scopes = Vec::new();
    let mut service = String::new();
    let mut refresh = None;
    for (k, v) in url.query_pairs().chain(form_url.query_pairs()) {
        match &*k {
            "scope" => scopes.extend(v.split(' ').filter(|s| !s.is_empty()).map(str::to_owned)),
            "service" => service = v.into_owned(),
            "refresh_token" => refresh = Some(v.into_owned()),
            _ => {}
        }
    }
    scopes_seen.lock().unwrap().push(scopes.join(" "));
    let auth = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("authorization")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    let authorized = match &cfg.creds {
        _ if is_post => refresh.is_some() && refresh == cfg.refresh_token,
        None => true,
        Some((u, p)) => {
            auth == format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        }
    };
    if !authorized || service != cfg.service {
        let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#;
        let resp = format!(
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        return stream.write_all(resp.as_bytes()).await;
    }
    let access: Vec<_> = scopes
        .iter()
        .filter_map(|s| {
            let mut parts = s.splitn(3, ':');
            let (t, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            Some(serde_json::json!({"type": t, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": cfg.issuer,
        "sub": cfg.creds.as_ref().map(|c| c.0.clone()).unwrap_or_default(),
        "aud": cfg.service,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("{}-{}", now, requests.load(Ordering::SeqCst)),
        "access": access,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(cfg.key.kid.clone());
    let key = jsonwebtoken::EncodingKey::from_ec_pem(&cfg.key.key_pem).unwrap();
    let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    let body = serde_json::json!({"token": token, "expires_in": 300}).to_string();
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(resp.as_bytes()).await
}

// ---------------------------------------------------------------- proxy

/// What the proxy does to blob downloads (GET .../blobs/sha256:...).
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Forward everything.
    None,
    /// Cut the first blob response after this many body bytes.
    CutOnce { after: u64 },
    /// Cut every blob response so no client gets past this blob offset.
    TruncateAt { offset: u64 },
    /// Flip the byte at this body offset of every blob response.
    Corrupt { at: u64 },
    /// Answer the first `count` blob requests 503 without forwarding them.
    Unavailable { count: usize },
}

/// A TCP proxy between the client and the registry that sees the HTTP/1.1
/// request heads and can break blob responses.
pub struct FaultProxy {
    pub port: u16,
    /// Heads of the blob GET requests that passed, in order.
    pub blob_requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Default)]
struct Conn {
    /// Set by the request direction when a blob GET goes up: its range start.
    armed: Option<u64>,
    /// Response parsing state for the armed response.
    in_body: bool,
    tail: Vec<u8>,
    body_seen: u64,
}

impl FaultProxy {
    pub async fn start(target: u16, fault: Fault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let blob_requests = Arc::new(Mutex::new(Vec::new()));
        let cut_done = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(AtomicUsize::new(0));
        let seen = blob_requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let (seen, cut_done, refused) = (seen.clone(), cut_done.clone(), refused.clone());
                tokio::spawn(async move {
                    let addr: SocketAddr = ([127, 0, 0, 1], target).into();
                    let Ok(server) = TcpStream::connect(addr).await else {
                        return;
                    };
                    proxy_conn(client, server, fault, seen, cut_done, refused).await;
                });
            }
        });
        Self {
            port,
            blob_requests,
            task,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn blob_requests(&self) -> Vec<String> {
        self.blob_requests.lock().unwrap().clone()
    }
}

fn range_start(head: &str) -> u64 {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            if !k.trim().eq_ignore_ascii_case("range") {
                return None;
            }
            v.trim()
                .strip_prefix("bytes=")?
                .split('-')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

async fn proxy_conn(
    client: TcpStream,
    server: TcpStream,
    fault: Fault,
    seen: Arc<Mutex<Vec<String>>>,
    cut_done: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
) {
    let (mut cr, cw) = client.into_split();
    let (sr, mut sw) = server.into_split();
    let cw = Arc::new(tokio::sync::Mutex::new(cw));
    let state = Arc::new(Mutex::new(Conn::default()));

    let up = {
        let (state, cw) = (state.clone(), cw.clone());
        async move {
            let mut pending = Vec::new();
            let mut buf = vec![0u8; 64 << 10];
            loop {
                let n = match cr.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                pending.extend_from_slice(&buf[..n]);
                // Only bodiless requests pass this proxy in the tests that
                // use it, so every \r\n\r\n ends a request head.
                while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head: Vec<u8> = pending.drain(..end + 4).collect();
                    let text = String::from_utf8_lossy(&head).into_owned();
                    let is_blob_get = text.starts_with("GET ") && text.contains("/blobs/sha256:");
                    if is_blob_get {
                        seen.lock().unwrap().push(text.clone());
                        if let Fault::Unavailable { count } = fault {
                            if refused.fetch_add(1, Ordering::SeqCst) < count {
                                let body =
                                    r#"{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}"#;
                                let resp = format!(
                                    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                                    body.len()
                                );
                                let _ = cw.lock().await.write_all(resp.as_bytes()).await;
                                continue;
                            }
                        }
                    }
                    {
                        let mut st = state.lock().unwrap();
                        *st = Conn {
                            armed: is_blob_get.then(|| range_start(&text)),
                            ..Conn::default()
                        };
                    }
                    if sw.write_all(&head).await.is_err() {
                        return;
                    }
                }
            }
            let _ = sw.shutdown().await;
        }
    };

    let down = {
        let (state, cw) = (state.clone(), cw.clone());
        async move {
            let mut sr = sr;
            let mut buf = vec![0u8; 16 << 10];
            loop {
                let n = match sr.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let mut chunk = buf[..n].to_vec();
                let mut cut_at: Option<usize> = None;
                {
                    let mut st = state.lock().unwrap();
                    if let Some(start) = st.armed {
                        // Find where the body starts in this chunk.
                        let mut body_from = 0usize;
                        if !st.in_body {
                            let mut joined = std::mem::take(&mut st.tail);
                            let prefix = joined.len();
                            joined.extend_from_slice(&chunk);
                            if let Some(p) = joined.windows(4).position(|w| w == b"\r\n\r\n") {
                                st.in_body = true;
                                body_from = (p + 4).saturating_sub(prefix);
                            } else {
                                let keep = joined.len().saturating_sub(3);
                                st.tail = joined[keep..].to_vec();
                                body_from = chunk.len();
                            }
                        }
                        if st.in_body {
                            let body_len = (chunk.len() - body_from) as u64;
                            let seen_before = st.body_seen;
                            match fault {
                                Fault::CutOnce { after } if !cut_done.load(Ordering::SeqCst) => {
                                    if seen_before + body_len >= after {
                                        cut_done.store(true, Ordering::SeqCst);
                                        cut_at = Some(body_from + (after - seen_before) as usize);
                                    }
                                }
                                Fault::TruncateAt { offset } => {
                                    let allowed = offset.saturating_sub(start);
                                    if seen_before + body_len >= allowed {
                                        cut_at = Some(
                                            body_from
                                                + allowed.saturating_sub(seen_before) as usize,
                                        );
                                    }
                                }
                                Fault::Corrupt { at } => {
                                    if at >= seen_before && at < seen_before + body_len {
                                        let i = body_from + (at - seen_before) as usize;
                                        chunk[i] ^= 0xff;
                                    }
                                }
                                _ => {}
                            }
                            st.body_seen += body_len;
                        }
                    }
                }
                let mut w = cw.lock().await;
                if let Some(at) = cut_at {
                    let _ = w.write_all(&chunk[..at.min(chunk.len())]).await;
                    let _ = w.flush().await;
                    let _ = w.shutdown().await;
                    return true; // cut: tear the connection down
                }
                if w.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            let _ = cw.lock().await.shutdown().await;
            false
        }
    };
    let up = tokio::spawn(up);
    let cut = down.await;
    if cut {
        up.abort();
    } else {
        let _ = up.await;
    }
}

/// A file-backed helper for tests: writes `bytes` and returns its path.
pub fn write_file(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(bytes).unwrap();
}
