//! `POST /images/{name}/push` (a progress stream) and `POST /auth` (a login check). Each
//! parses the request, calls the engine's [`berth_engine::ImageService`] and renders its
//! answer in Docker's shapes ([`crate::types::push`]).

use std::sync::Arc;

use berth_engine::images::{LoginOptions, PushOptions, PushProgress};
use berth_engine::Engine;
use berth_registry::Credentials;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};

use super::images::{credentials, layer_message};
use super::json_response;
use super::query::Query;
use super::stream::{decode_registry_auth, progress_stream, ClientGone};
use crate::body::Body;
use crate::error::ApiError;
use crate::types::images as t;
use crate::types::push as p;

/// The largest request body read whole (an `AuthConfig`).
const MAX_BODY: usize = 1 << 20;

/// `POST /images/{name}/push?tag=TAG`: pushes, streaming docker's progress lines. An error
/// before the first line (a bad name) is an HTTP error; after it (an image that is not here,
/// a registry that refuses), a last `{"errorDetail":...,"error":...}` line, as dockerd.
/// `platform` (sent by newer clients) is ignored: the stored manifest is pushed.
pub(super) async fn push(
    engine: Arc<Engine>,
    name: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let q = Query::parse(req.uri().query());
    let tag = q.get("tag").filter(|t| !t.is_empty()).map(str::to_owned);
    let credentials = push_auth(req).await?;
    let options = PushOptions {
        name: name.to_owned(),
        tag,
        credentials,
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let images = engine.images().clone();
    let push = tokio::spawn(async move { images.push(options, Some(tx)).await });
    // A push whose client went away stops with it: the task is aborted.
    progress_stream("push", push, rx, ClientGone::Abort, render).await
}

/// A push's credentials as dockerd reads them: the `X-Registry-Auth` header (base64url of an
/// `AuthConfig`; one that does not decode means none), or without the header the body's
/// `AuthConfig` JSON (the API's old form), which must then be there.
async fn push_auth(req: Request<Incoming>) -> Result<Option<Credentials>, ApiError> {
    if let Some(raw) = req.headers().get("x-registry-auth") {
        let auth = decode_registry_auth(raw).ok().flatten();
        return Ok(auth.and_then(credentials));
    }
    let bad = |e: String| {
        ApiError::InvalidParameter(format!("Bad parameters and missing X-Registry-Auth: {e}"))
    };
    let body = read_body(req).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(bad("EOF".into()));
    }
    let auth: t::AuthConfig = serde_json::from_slice(&body).map_err(|e| bad(e.to_string()))?;
    Ok(credentials(auth))
}

/// The lines dockerd writes for one push event.
fn render(event: &PushProgress) -> Vec<p::PushMessage> {
    match event {
        PushProgress::Status(status) => vec![p::PushMessage {
            status: Some(status.clone()),
            ..Default::default()
        }],
        PushProgress::Layer { id, status } => {
            vec![layer_message(id, status.text(), status.progress())]
        }
        PushProgress::Tagged(tagged) => vec![
            p::PushMessage {
                status: Some(format!(
                    "{}: digest: {} size: {}",
                    tagged.tag, tagged.digest, tagged.size
                )),
                ..Default::default()
            },
            p::PushMessage {
                progress_detail: Some(t::ProgressDetail::default()),
                aux: Some(p::PushResult {
                    tag: tagged.tag.clone(),
                    digest: tagged.digest.to_string(),
                    size: tagged.size,
                }),
                ..Default::default()
            },
        ],
    }
}

/// `POST /auth` with an `AuthConfig` body: the credentials checked against the registry.
/// 200 `{"IdentityToken":"","Status":"Login Succeeded"}`; refused credentials: 401 with
/// dockerd's `login attempt to ... failed with status: 401 Unauthorized`.
pub(super) async fn auth(
    engine: &Engine,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let body = read_body(req).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        // Go's decoder on an empty body.
        return Err(ApiError::InvalidParameter("EOF".into()));
    }
    let auth: t::AuthConfig =
        serde_json::from_slice(&body).map_err(|e| ApiError::InvalidParameter(e.to_string()))?;
    // The CLI sends username and password; `auth` (base64 `user:password`) is the
    // config.json form.
    let (username, password) = if auth.username.is_empty() && auth.password.is_empty() {
        match credentials(auth.clone()) {
            Some(Credentials::Basic { username, password }) => (username, password),
            _ => (String::new(), String::new()),
        }
    } else {
        (auth.username, auth.password)
    };
    let outcome = engine
        .images()
        .login(LoginOptions {
            server: auth.serveraddress,
            username,
            password,
        })
        .await?;
    json_response(&p::AuthResponse {
        identity_token: outcome.identity_token,
        status: outcome.status,
    })
}

/// A request's whole body, at most [`MAX_BODY`] bytes.
async fn read_body(req: Request<Incoming>) -> Result<bytes::Bytes, ApiError> {
    Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ApiError::InvalidParameter(format!("cannot read the request body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_engine::images::{PushLayerStatus, PushedTag};

    fn json(event: &PushProgress) -> Vec<String> {
        render(event)
            .iter()
            .map(|m| serde_json::to_string(m).unwrap())
            .collect()
    }

    #[test]
    fn push_lines_are_dockerds() {
        assert_eq!(
            json(&PushProgress::Status(
                "The push refers to repository [127.0.0.1:5000/library/bb]".into()
            )),
            [r#"{"status":"The push refers to repository [127.0.0.1:5000/library/bb]"}"#]
        );
        assert_eq!(
            json(&PushProgress::Layer {
                id: "4070a7c7c3ae".into(),
                status: PushLayerStatus::Preparing
            }),
            [r#"{"status":"Preparing","progressDetail":{},"id":"4070a7c7c3ae"}"#]
        );
        assert_eq!(
            json(&PushProgress::Layer {
                id: "4070a7c7c3ae".into(),
                status: PushLayerStatus::Pushing {
                    current: 1_148_928,
                    total: 1_982_263
                }
            }),
            [format!(
                r#"{{"status":"Pushing","progressDetail":{{"current":1148928,"total":1982263}},"progress":"[{}>{}]  1.149MB/1.982MB","id":"4070a7c7c3ae"}}"#,
                "=".repeat(28),
                " ".repeat(21)
            )]
        );
        let digest = berth_image::Digest::of(b"manifest");
        assert_eq!(
            json(&PushProgress::Tagged(PushedTag {
                tag: "latest".into(),
                digest: digest.clone(),
                size: 527
            })),
            [
                format!(r#"{{"status":"latest: digest: {digest} size: 527"}}"#),
                format!(
                    r#"{{"progressDetail":{{}},"aux":{{"Tag":"latest","Digest":"{digest}","Size":527}}}}"#
                )
            ]
        );
    }

    #[test]
    fn auth_response_shape() {
        let r = p::AuthResponse {
            identity_token: String::new(),
            status: "Login Succeeded".into(),
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"IdentityToken":"","Status":"Login Succeeded"}"#
        );
    }
}
