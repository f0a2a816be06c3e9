//! Response bodies: whole ([`full`], [`json`], [`empty`]) or streamed from a channel
//! ([`ChannelBody`], and [`JsonStream`] on top of it for Docker's newline-delimited JSON
//! progress and log streams). A streamed body ends when every sender is dropped; when the client
//! goes away, hyper drops the body and the producer's next send fails with [`StreamClosed`],
//! which is its signal to stop.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Frame;
use serde::Serialize;
use tokio::sync::mpsc;

/// The body of every response berthd sends.
pub type Body = BoxBody<Bytes, Infallible>;

/// A body with no bytes.
pub fn empty() -> Body {
    Empty::<Bytes>::new().boxed()
}

/// A body of `bytes`, sent at once.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// `value` as a JSON body followed by a newline, as dockerd writes them.
pub fn json<T: Serialize>(value: &T) -> Result<Body, serde_json::Error> {
    let mut v = serde_json::to_vec(value)?;
    v.push(b'\n');
    Ok(full(v))
}

/// A body whose chunks come from a channel, each sent as soon as it is received.
#[derive(Debug)]
pub struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl ChannelBody {
    /// A body and the sender feeding it; at most `capacity` chunks wait unsent.
    pub fn channel(capacity: usize) -> (mpsc::Sender<Bytes>, ChannelBody) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (tx, ChannelBody { rx })
    }
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|c| c.map(|b| Ok(Frame::data(b))))
    }
}

/// The client went away (or the body was dropped): stop producing.
#[derive(Debug, thiserror::Error)]
#[error("the client closed the stream")]
pub struct StreamClosed;

/// The sending half of a newline-delimited JSON stream (pull progress, events, logs).
#[derive(Debug, Clone)]
pub struct JsonStream {
    tx: mpsc::Sender<Bytes>,
}

impl JsonStream {
    /// A stream and the response body it feeds.
    pub fn channel() -> (JsonStream, Body) {
        let (tx, body) = ChannelBody::channel(16);
        (JsonStream { tx }, body.boxed())
    }

    /// Sends `value` as one JSON line; waits while the client is slow.
    pub async fn send<T: Serialize>(&self, value: &T) -> Result<(), StreamClosed> {
        // Serialising a Serialize type into a Vec fails only for maps with non-string keys,
        // which none of the API's types have; such a message is dropped rather than sent broken.
        let Ok(mut line) = serde_json::to_vec(value) else {
            tracing::error!("cannot encode a stream message as JSON");
            return Ok(());
        };
        line.push(b'\n');
        self.tx
            .send(Bytes::from(line))
            .await
            .map_err(|_| StreamClosed)
    }
}
