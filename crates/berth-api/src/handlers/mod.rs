//! The request handlers, one file per group of endpoints. [`handle`] matches the route, calls
//! the handler, and turns its error into Docker's error response; every response gets the
//! headers dockerd's middleware adds (`Api-Version`, `Ostype`, `Server`, `Docker-Experimental`).

mod archive;
mod containers;
mod events;
mod exec;
mod hijack;
mod images;
mod push;
mod query;
mod stream;
mod system;

#[cfg(test)]
mod props;

use std::sync::Arc;

use berth_engine::Engine;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, SERVER};
use hyper::{Request, Response};

use crate::body::{full, Body};
use crate::error::ApiError;
use crate::router::{route, Route};
use crate::API_VERSION;

/// Answers one request. Never fails: errors become Docker error responses.
pub(crate) async fn handle(engine: Arc<Engine>, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let result = match route(&method, &path) {
        Ok(m) => match m.route {
            Route::Ping => Ok(system::ping(&method)),
            Route::Version => system::version(&engine),
            Route::Info => system::info(engine).await,
            Route::ImageCreate if archive::is_import(&req) => archive::import(engine, req).await,
            Route::ImageCreate => images::create(engine, &req).await,
            Route::ImagePush(name) => push::push(engine, &name, req).await,
            Route::Auth => push::auth(&engine, req).await,
            Route::ImageList => images::list(&engine, &req).await,
            Route::ImagePrune => images::prune(&engine, &req).await,
            Route::ImageInspect(name) => images::inspect(&engine, &name).await,
            Route::ImageHistory(name) => images::history(&engine, &name).await,
            Route::ImageTag(name) => images::tag(&engine, &name, &req).await,
            Route::ImageDelete(name) => images::delete(&engine, &name, &req).await,
            Route::ImageSaveAll => archive::save_all(engine, &req).await,
            Route::ImageSave(name) => archive::save(engine, vec![name]).await,
            Route::ImageLoad => archive::load(engine, req).await,
            Route::ContainerCreate => containers::create(&engine, req).await,
            Route::ContainerList => containers::list(&engine, &req),
            Route::ContainerPrune => containers::prune(&engine).await,
            Route::ContainerInspect(id) => containers::inspect(&engine, &id).await,
            Route::ContainerDelete(id) => containers::delete(&engine, &id, &req).await,
            Route::ContainerPost(id, action) => match action.as_str() {
                "attach" => containers::attach(&engine, &id, req).await,
                "exec" => exec::create(&engine, &id, req).await,
                "wait" => containers::wait(&engine, &id, &req),
                "update" => containers::update(&engine, &id, req).await,
                _ => containers::post(&engine, &id, &action, &req).await,
            },
            Route::ContainerGet(id, what) => match what.as_str() {
                "logs" => containers::logs(&engine, &id, &req).await,
                "stats" => containers::stats(engine.clone(), &id, &req).await,
                _ => containers::top(&engine, &id, &req).await,
            },
            Route::ExecPost(id, action) => match action.as_str() {
                "start" => exec::start(&engine, &id, req).await,
                _ => exec::resize(&engine, &id, &req).await,
            },
            Route::ExecInspect(id) => exec::inspect(&engine, &id),
            Route::Events => events::events(&engine, &req),
            Route::SystemDf => images::system_df(&engine).await,
        },
        Err(e) => Err(e),
    };
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => {
            let status = e.status();
            if status.is_server_error() {
                tracing::error!(%method, %path, "{e}");
            } else {
                tracing::debug!(%method, %path, status = status.as_u16(), "{e}");
            }
            error_response(&e)
        }
    };
    tracing::debug!(%method, %path, status = resp.status().as_u16(), "request");
    add_common_headers(&mut resp);
    resp
}

/// Docker's `{"message": ...}` response for `e`.
pub(crate) fn error_response(e: &ApiError) -> Response<Body> {
    let mut body = serde_json::to_vec(&e.body()).unwrap_or_else(|_| b"{}".to_vec());
    body.push(b'\n');
    let mut resp = Response::new(full(body));
    *resp.status_mut() = e.status();
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// A JSON response of `value`.
pub(crate) fn json_response<T: serde::Serialize>(value: &T) -> Result<Response<Body>, ApiError> {
    let body =
        crate::body::json(value).map_err(|e| ApiError::Internal(format!("encode JSON: {e}")))?;
    let mut resp = Response::new(body);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}

pub(crate) fn add_common_headers(resp: &mut Response<Body>) {
    let h = resp.headers_mut();
    h.insert("api-version", HeaderValue::from_static(API_VERSION));
    h.insert("ostype", HeaderValue::from_static(std::env::consts::OS));
    h.insert("docker-experimental", HeaderValue::from_static("false"));
    if let Ok(v) = HeaderValue::from_str(&crate::server_header()) {
        h.insert(SERVER, v);
    }
}
