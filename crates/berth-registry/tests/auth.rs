//! Basic and bearer-token auth against the real docker-registry, login and
//! the docker config file with a real credential helper program.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering;

use berth_registry::{
    login, media_type, Credentials, Digest, Digester, DockerConfig, ErrorKind, Registry,
};
use bytes::Bytes;
use common::*;

async fn push_small_image(reg: &Registry, repo: &str, tmp: &std::path::Path) -> (Layer, Vec<u8>) {
    let layer = make_layer(tmp, &repo.replace('/', "-"), 20_000, 11);
    let config = image_config(&[&layer]);
    let manifest = docker_manifest(&config, &[&layer]);
    for data in [&config[..], &layer.gz[..]] {
        let digest = Digest::of(data);
        if reg.blob_exists(repo, &digest).await.unwrap().is_none() {
            let mut src = data;
            reg.upload_blob(repo, &digest, data.len() as u64, &mut src)
                .await
                .unwrap();
        }
    }
    reg.put_manifest(
        repo,
        "v1",
        Bytes::from(manifest.clone()),
        media_type::DOCKER_MANIFEST,
    )
    .await
    .unwrap();
    (layer, manifest)
}

#[test]
fn basic_auth_with_htpasswd() {
    isolated(async {
        let server = common::start_registry(
            Auth::Htpasswd {
                user: "alice".into(),
                pass: "s3cret".into(),
            },
            false,
        );
        let tmp = tempfile::tempdir().unwrap();
        let good = Registry::new(
            &server.host(),
            Some(Credentials::basic("alice", "s3cret")),
            &options(),
        )
        .unwrap();
        good.ping().await.unwrap();
        let (layer, manifest) = push_small_image(&good, "priv/app", tmp.path()).await;
        assert_eq!(
            &good.get_manifest("priv/app", "v1").await.unwrap().bytes[..],
            &manifest[..]
        );

        let wrong = Registry::new(
            &server.host(),
            Some(Credentials::basic("alice", "nope")),
            &options(),
        )
        .unwrap();
        let err = wrong.ping().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
        let err = wrong.get_manifest("priv/app", "v1").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
        let anonymous = Registry::new(&server.host(), None, &options()).unwrap();
        let err = anonymous
            .fetch_blob(
                "priv/app",
                &layer.digest,
                None,
                Digester::new(),
                &mut Vec::new(),
                |_| {},
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");

        // login checks before it stores; a failed login stores nothing.
        let cfg_path = tmp.path().join("docker/config.json");
        let mut cfg = DockerConfig::load(&cfg_path).unwrap();
        let err = login(&mut cfg, &server.host(), "alice", "nope", &options())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized);
        assert!(!cfg_path.exists());
        login(&mut cfg, &server.host(), "alice", "s3cret", &options())
            .await
            .unwrap();
        let text: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
        assert_eq!(text["auths"][server.host()]["auth"], "YWxpY2U6czNjcmV0");

        // docker's own CLI format is what skopeo reads too.
        let url = format!("docker://{}/priv/app:v1", server.host());
        let raw = run(
            "skopeo",
            strings(&[
                "inspect",
                "--tls-verify=false",
                "--raw",
                "--authfile",
                &cfg_path.display().to_string(),
                &url,
            ]),
        )
        .await;
        assert_eq!(raw, manifest);

        // And berth pulls with what it read back.
        let creds = DockerConfig::load(&cfg_path)
            .unwrap()
            .credentials(&server.host())
            .unwrap();
        let reread = Registry::new(&server.host(), creds, &options()).unwrap();
        let mut sink = Vec::new();
        reread
            .fetch_blob(
                "priv/app",
                &layer.digest,
                None,
                Digester::new(),
                &mut sink,
                |_| {},
            )
            .await
            .unwrap();
        assert_eq!(sink, layer.gz);
    });
}

#[test]
fn credential_helper_stores_and_returns() {
    isolated(async {
        let server = common::start_registry(
            Auth::Htpasswd {
                user: "bob".into(),
                pass: "hunter2".into(),
            },
            false,
        );
        let tmp = tempfile::tempdir().unwrap();
        // A real helper program speaking the docker-credential-helpers protocol,
        // keeping its secrets in a file.
        let bin = tmp.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let store = tmp.path().join("helper-store.json");
        let script = format!(
            r#"#!/bin/sh
store={store}
case "$1" in
store) cat > "$store" ;;
get) read server; if [ -s "$store" ]; then cat "$store"; else echo "credentials not found in native keychain"; exit 1; fi ;;
erase) read server; rm -f "$store" ;;
esac
"#,
            store = store.display()
        );
        let helper = bin.join("docker-credential-berthtest");
        std::fs::write(&helper, script).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        // nextest runs each test in its own process: changing PATH is local to it.
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        std::env::set_var("PATH", path);

        let cfg_path = tmp.path().join("config.json");
        std::fs::write(&cfg_path, r#"{"credsStore":"berthtest"}"#).unwrap();
        let mut cfg = DockerConfig::load(&cfg_path).unwrap();
        assert_eq!(cfg.credentials(&server.host()).unwrap(), None);
        login(&mut cfg, &server.host(), "bob", "hunter2", &options())
            .await
            .unwrap();
        let stored: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&store).unwrap()).unwrap();
        assert_eq!(stored["ServerURL"], server.host());
        assert_eq!(stored["Username"], "bob");
        let file: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
        assert!(
            file["auths"][server.host()].get("auth").is_none(),
            "no secret in the file"
        );
        let creds = DockerConfig::load(&cfg_path)
            .unwrap()
            .credentials(&server.host())
            .unwrap();
        assert_eq!(creds, Some(Credentials::basic("bob", "hunter2")));
        Registry::new(&server.host(), creds, &options())
            .unwrap()
            .ping()
            .await
            .unwrap();
        cfg.erase(&server.host()).unwrap();
        assert!(!store.exists());
        assert_eq!(cfg.credentials(&server.host()).unwrap(), None);
    });
}

#[test]
fn bearer_tokens_are_fetched_once_per_scope() {
    isolated(async {
        let tmp = tempfile::tempdir().unwrap();
        let key = signing_key(tmp.path());
        let bundle = key.cert.clone();
        let tokens = TokenServer::start(TokenConfig {
            service: "berth-registry-test".into(),
            issuer: "berth-test-issuer".into(),
            key,
            creds: Some(("carol".into(), "pw".into())),
            refresh_token: Some("refresh-42".into()),
        })
        .await;
        let server = common::start_registry(
            Auth::Token {
                realm: tokens.realm(),
                service: "berth-registry-test".into(),
                issuer: "berth-test-issuer".into(),
                bundle,
            },
            false,
        );
        let reg = Registry::new(
            &server.host(),
            Some(Credentials::basic("carol", "pw")),
            &options(),
        )
        .unwrap();
        let (layer, manifest) = push_small_image(&reg, "team/app", tmp.path()).await;
        let after_push = tokens.requests.load(Ordering::SeqCst);
        assert_eq!(
            after_push,
            1,
            "one token for pull,push on team/app: {:?}",
            tokens.scopes_seen.lock().unwrap()
        );

        // Pulls need another scope (pull only): one more token, then cached.
        for _ in 0..3 {
            let m = reg.get_manifest("team/app", "v1").await.unwrap();
            assert_eq!(&m.bytes[..], &manifest[..]);
            let mut sink = Vec::new();
            reg.fetch_blob(
                "team/app",
                &layer.digest,
                None,
                Digester::new(),
                &mut sink,
                |_| {},
            )
            .await
            .unwrap();
            assert_eq!(sink, layer.gz);
        }
        assert_eq!(
            tokens.requests.load(Ordering::SeqCst),
            2,
            "{:?}",
            tokens.scopes_seen.lock().unwrap()
        );
        let seen = tokens.scopes_seen.lock().unwrap().clone();
        assert_eq!(seen[1], "repository:team/app:pull");
        // Another repository is another scope.
        let err = reg.get_manifest("team/other", "v1").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert_eq!(tokens.requests.load(Ordering::SeqCst), 3);

        // Login with the token server: right and wrong passwords.
        let mut cfg = DockerConfig::load(tmp.path().join("cfg/config.json")).unwrap();
        login(&mut cfg, &server.host(), "carol", "pw", &options())
            .await
            .unwrap();
        let err = login(&mut cfg, &server.host(), "carol", "bad", &options())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
        let wrong = Registry::new(
            &server.host(),
            Some(Credentials::basic("carol", "bad")),
            &options(),
        )
        .unwrap();
        let err = wrong.get_manifest("team/app", "v1").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
        // An identity token (OAuth2 refresh token) from the config file is
        // exchanged by POST; a wrong one is refused.
        let id = Credentials::IdentityToken {
            token: "refresh-42".into(),
        };
        let with_id = Registry::new(&server.host(), Some(id), &options()).unwrap();
        assert_eq!(
            &with_id.get_manifest("team/app", "v1").await.unwrap().bytes[..],
            &manifest[..]
        );
        let id = Credentials::IdentityToken {
            token: "stale".into(),
        };
        let stale = Registry::new(&server.host(), Some(id), &options()).unwrap();
        assert_eq!(
            stale
                .get_manifest("team/app", "v1")
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::Unauthorized
        );
        // Anonymous clients get no token either.
        let anon = Registry::new(&server.host(), None, &options()).unwrap();
        assert_eq!(
            anon.get_manifest("team/app", "v1")
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::Unauthorized
        );
    });
}
