//! Property tests (issue 9) of what a request brings before a handler runs: the route (method
//! and path), the query string and its `filters` JSON, and the `X-Registry-Auth` header. None
//! panics on any input; filters and auth headers as the docker CLI encodes them decode back
//! to what was encoded. And whole requests of any shape to every local route, served by the
//! real handlers and engine, are each answered. In the crate because these parsers are
//! private; case counts keep each property to a few seconds.

use std::collections::HashMap;

use base64::Engine as _;
use hyper::header::HeaderValue;
use hyper::Method;
use proptest::prelude::*;

use super::images::credentials;
use super::query::Query;
use super::stream::decode_registry_auth;
use crate::router::route;
use crate::types::images::AuthConfig;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn method() -> impl Strategy<Value = Method> {
    prop::sample::select(vec![
        Method::GET,
        Method::POST,
        Method::DELETE,
        Method::HEAD,
        Method::PUT,
    ])
}

/// Paths from the pieces of the API's routes.
fn path() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "/",
        "v1.41",
        "v1.12",
        "v9.99",
        "v",
        "v1.",
        "vé",
        "images",
        "json",
        "create",
        "get",
        "history",
        "tag",
        "push",
        "load",
        "prune",
        "_ping",
        "info",
        "version",
        "auth",
        "busybox",
        "..",
        ".",
        "sha256:abc",
        "%2F",
        "é",
        "\u{202e}",
        "",
    ]);
    prop::collection::vec(piece, 0..10).prop_map(|v| v.concat())
}

/// Docker's encoding of a query string value.
fn encode(key: &str, value: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair(key, value)
        .finish()
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn routes_never_panic(m in method(), p in prop_oneof![path(), ".*"]) {
        let _ = route(&m, &p);
    }

    #[test]
    fn queries_never_panic(q in prop_oneof![".*", "[a-z=&%0-9A-F+{}\\[\\]\":,é]{0,40}"]) {
        let query = Query::parse(Some(&q));
        for key in ["filters", "all", "tag", "fromImage", "platform", "é"] {
            let _ = (query.get(key), query.bool(key), query.string(key));
        }
        let _ = query.filters();
    }

    #[test]
    fn filters_decode_what_docker_encodes(
        map in prop::collection::hash_map(".{0,8}", prop::collection::vec(".{0,8}", 1..4), 0..4),
        as_map in any::<bool>(),
    ) {
        // Docker's two forms: `{"k":["v"]}` and the older `{"k":{"v":true}}`.
        let json = if as_map {
            let m: HashMap<&String, HashMap<&String, bool>> = map
                .iter()
                .map(|(k, vs)| (k, vs.iter().map(|v| (v, true)).collect()))
                .collect();
            serde_json::to_string(&m).unwrap()
        } else {
            serde_json::to_string(&map).unwrap()
        };
        let decoded = Query::parse(Some(&encode("filters", &json))).filters().unwrap();
        prop_assert_eq!(decoded.len(), map.len());
        for (k, vs) in &map {
            let mut want = vs.clone();
            let mut got = decoded.get(k).cloned().unwrap_or_default();
            want.sort();
            want.dedup();
            got.sort();
            got.dedup();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn registry_auth_headers_never_panic(raw in prop::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(value) = HeaderValue::from_bytes(&raw) {
            if let Ok(Some(auth)) = decode_registry_auth(&value) {
                let _ = credentials(auth);
            }
        }
    }

    #[test]
    fn registry_auth_decodes_what_docker_encodes(
        username in ".{0,12}",
        password in ".{0,12}",
        identitytoken in prop_oneof![Just(String::new()), ".{0,12}"],
        padded in any::<bool>(),
    ) {
        let auth = AuthConfig {
            username,
            password,
            identitytoken,
            ..AuthConfig::default()
        };
        let json = serde_json::to_vec(&auth).unwrap();
        let encoded = if padded {
            base64::engine::general_purpose::URL_SAFE.encode(&json)
        } else {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&json)
        };
        let value = HeaderValue::from_str(&encoded).unwrap();
        prop_assert_eq!(decode_registry_auth(&value).ok().flatten(), Some(auth));
    }
}

/// Requests to every route that stays on this machine (no pull, import, push or login: those
/// would reach out to registries named by the random input), with arbitrary names, queries
/// and bodies, served by `handle` itself (no panic catching) over a real HTTP connection to a
/// real engine that holds one image. Each gets an answer; a panic would cut the connection.
#[test]
fn local_requests_of_any_shape_are_answered() {
    use http_body_util::{BodyExt, Full};
    use hyper::client::conn::http1 as client;
    use hyper::Request;
    use hyper_util::rt::TokioIo;
    use proptest::test_runner::TestRunner;
    use std::convert::Infallible;
    use std::sync::Arc;
    use tokio::net::UnixStream;

    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let engine = Arc::new(
        berth_engine::Engine::open(berth_engine::EngineConfig::new(
            &root,
            tmp.path().join("run"),
        ))
        .unwrap(),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(load_one_image(&engine));

    let name = prop_oneof![
        Just("fuzz:1".to_owned()),
        Just("fuzz".to_owned()),
        Just("sha256:".to_owned()),
        "[a-z0-9:/@._-]{0,20}",
        ".{0,12}",
    ];
    let route = (
        prop::sample::select(vec![
            (Method::GET, "/images/json"),
            (Method::POST, "/images/prune"),
            (Method::GET, "/images/get"),
            (Method::POST, "/images/load"),
            (Method::GET, "/images/{}/json"),
            (Method::GET, "/images/{}/history"),
            (Method::GET, "/images/{}/get"),
            (Method::POST, "/images/{}/tag"),
            (Method::DELETE, "/images/{}"),
            (Method::GET, "/_ping"),
            (Method::HEAD, "/_ping"),
            (Method::GET, "/version"),
            (Method::GET, "/info"),
            (Method::PUT, "/images/{}/json"),
        ]),
        name,
        prop_oneof![
            Just(""),
            Just("/v1.41"),
            Just("/v1.24"),
            Just("/v1.99"),
            Just("/vx")
        ],
    );
    let pair = (
        prop::sample::select(vec![
            "all", "filters", "digests", "force", "noprune", "repo", "tag", "names", "quiet", "é",
        ]),
        prop_oneof![
            ".{0,10}",
            Just("1".to_owned()),
            Just("fuzz:1".to_owned()),
            "\\{\"(dangling|label|reference|before|since|é)\":\\[\"[a-z0-9*?:=é]{0,8}\"\\]\\}",
            "\\{\"(dangling|reference)\":\\{\"[a-z*é]{0,6}\":(true|false|1)\\}\\}",
        ],
    );
    let body = prop::collection::vec(any::<u8>(), 0..64);
    let request = (route, prop::collection::vec(pair, 0..4), body);

    let statuses = std::cell::RefCell::new(std::collections::BTreeMap::<u16, u32>::new());
    let mut runner = TestRunner::new(config(500));
    runner
        .run(
            &request,
            |(((method, template), name, version), pairs, body)| {
                let mut path = format!("{version}{}", template.replace("{}", &name));
                let query: String = pairs
                    .iter()
                    .map(|(k, v)| encode(k, v))
                    .collect::<Vec<_>>()
                    .join("&");
                if !query.is_empty() {
                    path = format!("{path}?{query}");
                }
                let Ok(uri) = path.parse::<hyper::Uri>() else {
                    return Ok(());
                };
                // A `DELETE` or a prune may have removed the image: the next request sees it.
                rt.block_on(async {
                    if engine.images().inspect("fuzz:1").await.is_err() {
                        load_one_image(&engine).await;
                    }
                });
                let engine = engine.clone();
                let answered = rt.block_on(async move {
                    let (server_io, client_io) = UnixStream::pair().unwrap();
                    let svc = hyper::service::service_fn(move |req| {
                        let engine = engine.clone();
                        async move { Ok::<_, Infallible>(super::handle(engine, req).await) }
                    });
                    let server = tokio::spawn(
                        hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(server_io), svc),
                    );
                    let (mut sender, conn) =
                        client::handshake(TokioIo::new(client_io)).await.unwrap();
                    tokio::spawn(conn);
                    let req = Request::builder()
                        .method(method)
                        .uri(uri)
                        .header("host", "berth")
                        .body(Full::new(bytes::Bytes::from(body)))
                        .unwrap();
                    let result = match sender.send_request(req).await {
                        Ok(resp) => {
                            let status = resp.status();
                            resp.into_body()
                                .collect()
                                .await
                                .map(|_| status)
                                .map_err(|e| e.to_string())
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    drop(sender);
                    let served = server.await;
                    (result, served.map_err(|e| e.to_string()))
                });
                let (response, server) = answered;
                prop_assert!(response.is_ok(), "{path}: no answer: {response:?}");
                if let Ok(status) = response {
                    *statuses.borrow_mut().entry(status.as_u16()).or_default() += 1;
                }
                prop_assert!(
                    server.is_ok(),
                    "{path}: the connection's task failed: {server:?}"
                );
                Ok(())
            },
        )
        .unwrap();
    // The strategy reaches the handlers: some requests succeed, some are refused.
    let statuses = statuses.into_inner();
    eprintln!("statuses: {statuses:?}");
    assert!(
        statuses.contains_key(&200) && statuses.contains_key(&404),
        "{statuses:?}"
    );
    // The engine still answers.
    let images = rt.block_on(engine.images().list(berth_engine::ImageFilters::default()));
    assert!(images.is_ok(), "{images:?}");
}

/// Loads a one-layer image tagged `fuzz:1` into `engine`.
async fn load_one_image(engine: &berth_engine::Engine) {
    use berth_image::Digest;
    let tar_of = |files: &[(&str, &[u8])]| {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_ustar();
            h.set_path(name).unwrap();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    };
    let layer = tar_of(&[("etc/note", b"note\n")]);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [Digest::of(&layer).to_string()]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "COPY note /etc/"}],
    }))
    .unwrap();
    let config_name = format!("{}.json", Digest::of(&config).hex());
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": config_name, "RepoTags": ["fuzz:1"], "Layers": ["l/layer.tar"],
    }]))
    .unwrap();
    let archive = tar_of(&[
        ("manifest.json", &manifest),
        (&config_name, &config),
        ("l/layer.tar", &layer),
    ]);
    engine
        .images()
        .load(Box::new(std::io::Cursor::new(archive)), None)
        .await
        .unwrap();
}
