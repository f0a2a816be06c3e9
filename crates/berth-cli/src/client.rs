//! A small HTTP/1.1 client for berthd's API over its unix socket: one connection per request,
//! every path under the `/v1.41` prefix, error bodies decoded into [`CliError::Daemon`].

use std::io;

use berth_api::types::ErrorResponse;
use berth_api::{Host, API_VERSION};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{HOST, USER_AGENT};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

use crate::error::CliError;

/// A client of one daemon.
#[derive(Debug, Clone)]
pub struct Client {
    host: Host,
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
        serde_json::from_slice(&body).map_err(|source| CliError::Decode {
            path: path.into(),
            source,
        })
    }

    /// `GET /v1.41{path}`, the whole body.
    pub async fn get(&self, path: &str) -> Result<Bytes, CliError> {
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
        let req = Request::get(format!("/v{API_VERSION}{path}"))
            .header(HOST, "berth")
            .header(USER_AGENT, concat!("berth-cli/", env!("CARGO_PKG_VERSION")))
            .body(Empty::<Bytes>::new())
            .map_err(|e| CliError::Output(io::Error::other(e)))?;
        let resp = sender.send_request(req).await.map_err(http)?;
        let status = resp.status();
        let body = resp.into_body().collect().await.map_err(http)?.to_bytes();
        driver.abort();
        if !status.is_success() {
            let message = serde_json::from_slice::<ErrorResponse>(&body)
                .map(|e| e.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).trim().to_string());
            return Err(CliError::Daemon {
                status: status.as_u16(),
                message,
            });
        }
        Ok(body)
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
