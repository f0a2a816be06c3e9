//! A container's streams over a hijacked connection (attach, `run`, `start -a`, `exec`), as
//! docker's CLI handles them (`hijack.go`): the output copied to stdout (a tty's raw bytes) or
//! split into stdout and stderr (docker's 8-byte stdcopy frames); stdin copied to the
//! container with the write side closed at its end; with a tty, stdin in raw mode and the
//! detach keys (Ctrl-P Ctrl-Q by default) watched for, the terminal's size forwarded at start
//! and on every SIGWINCH, and, without one, signals proxied to the container.

use std::io::{self, Read, Write};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::client::{empty, query, Client, Hijacked};
use crate::error::CliError;

/// docker's default detach keys.
pub(crate) const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// The bytes of a `--detach-keys` value: `ctrl-p,ctrl-q`, `a,ctrl-@`...
pub(crate) fn parse_detach_keys(keys: &str) -> Result<Vec<u8>, CliError> {
    let bad = || CliError::Usage(format!("Invalid detach keys ({keys}) provided"));
    let mut out = Vec::new();
    for key in keys.split(',') {
        let key = key.trim();
        if let Some(c) = key.strip_prefix("ctrl-") {
            let mut chars = c.chars();
            let (Some(ch), None) = (chars.next(), chars.next()) else {
                return Err(bad());
            };
            let code = match ch {
                'a'..='z' => u8::try_from(u32::from(ch) - u32::from('a') + 1).map_err(|_| bad())?,
                '@' => 0,
                '[' => 27,
                '\\' => 28,
                ']' => 29,
                '^' => 30,
                '_' => 31,
                _ => return Err(bad()),
            };
            out.push(code);
        } else {
            let mut chars = key.chars();
            match (chars.next(), chars.next()) {
                (Some(ch), None) if ch.is_ascii() => out.push(u8::try_from(ch).map_err(|_| bad())?),
                _ => return Err(bad()),
            }
        }
    }
    Ok(out)
}

/// Watches typed input for the detach sequence, as docker's `term.NewEscapeProxy`: bytes that
/// may begin the sequence are held back until it is clear they do not.
#[derive(Debug)]
pub(crate) struct EscapeProxy {
    keys: Vec<u8>,
    matched: usize,
}

impl EscapeProxy {
    pub(crate) fn new(keys: Vec<u8>) -> EscapeProxy {
        EscapeProxy { keys, matched: 0 }
    }

    /// What to forward of `input`, and whether the whole sequence was typed.
    pub(crate) fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return (out, false);
        }
        for &b in input {
            if self.keys.get(self.matched) == Some(&b) {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
            } else {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if self.keys.first() == Some(&b) {
                    self.matched = 1;
                } else {
                    out.push(b);
                }
            }
        }
        (out, false)
    }
}

/// Splits docker's multiplexed stream (frames of `[stream, 0, 0, 0, size as u32 BE]` then
/// `size` bytes) into stdout and stderr; the bytes of an incomplete frame are kept for the
/// next call.
#[derive(Debug, Default)]
pub(crate) struct Demux {
    buf: Vec<u8>,
}

/// The stream a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StdStream {
    Stdout,
    Stderr,
}

impl Demux {
    /// The complete frames of what came so far, with their stream (stdin frames, which
    /// docker never sends, count as stdout).
    pub(crate) fn feed(&mut self, data: &[u8]) -> Vec<(StdStream, Vec<u8>)> {
        self.buf.extend_from_slice(data);
        let mut frames = Vec::new();
        while let Some(head) = self.buf.get(..8) {
            let size = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
            let Ok(size) = usize::try_from(size) else {
                break;
            };
            let stream = if head[0] == 2 {
                StdStream::Stderr
            } else {
                StdStream::Stdout
            };
            if self.buf.len() < 8 + size {
                break;
            }
            let payload = self.buf[8..8 + size].to_vec();
            self.buf.drain(..8 + size);
            frames.push((stream, payload));
        }
        frames
    }
}

/// Writes `frames` to stdout and stderr.
pub(crate) fn write_frames(frames: Vec<(StdStream, Vec<u8>)>) -> io::Result<()> {
    for (s, data) in frames {
        match s {
            StdStream::Stdout => {
                let mut o = io::stdout().lock();
                o.write_all(&data)?;
                o.flush()?;
            }
            StdStream::Stderr => {
                let mut e = io::stderr().lock();
                e.write_all(&data)?;
                e.flush()?;
            }
        }
    }
    Ok(())
}

/// Copies a log or attach body to stdout/stderr: raw with a tty, demultiplexed without.
pub(crate) struct Output {
    tty: bool,
    demux: Demux,
}

impl Output {
    pub(crate) fn new(tty: bool) -> Output {
        Output {
            tty,
            demux: Demux::default(),
        }
    }

    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<()> {
        if self.tty {
            let mut o = io::stdout().lock();
            o.write_all(data)?;
            o.flush()
        } else {
            write_frames(self.demux.feed(data))
        }
    }
}

/// Stdin in raw mode until dropped (docker's `SetRawTerminal`).
pub(crate) struct RawTerminal {
    saved: Option<rustix::termios::Termios>,
}

impl RawTerminal {
    /// Puts stdin in raw mode when it is a terminal.
    pub(crate) fn enter() -> RawTerminal {
        let stdin = io::stdin();
        let saved = rustix::termios::tcgetattr(&stdin).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            raw.make_raw();
            let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &raw);
        }
        RawTerminal { saved }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ =
                rustix::termios::tcsetattr(io::stdin(), rustix::termios::OptionalActions::Now, t);
        }
    }
}

/// How the streams of one hijacked connection are handled.
#[derive(Debug, Clone)]
pub(crate) struct StreamOptions {
    /// The container (or exec) has a tty: output is raw.
    pub tty: bool,
    /// Copy stdin to the container.
    pub stdin: bool,
    /// The detach sequence (with a tty and stdin only).
    pub detach_keys: Vec<u8>,
}

/// How the streaming ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamEnd {
    /// The container closed its output.
    Closed,
    /// The user typed the detach keys.
    Detached,
}

/// Streams until the container's output ends or the user detaches. Stdin is read on a thread
/// of its own (a blocked read never holds the process back from exiting).
pub(crate) async fn stream(h: Hijacked, opts: &StreamOptions) -> Result<StreamEnd, CliError> {
    let (mut rd, mut wr) = h.stream.into_split();
    let tty = opts.tty;
    let first: Bytes = h.buffered;
    let output = async move {
        let mut out = Output::new(tty);
        out.write(&first)?;
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = rd.read(&mut buf).await?;
            if n == 0 {
                return Ok::<(), io::Error>(());
            }
            out.write(&buf[..n])?;
        }
    };
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(16);
    if opts.stdin {
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 32 * 1024];
            let mut stdin = io::stdin();
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.blocking_send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    } else {
        drop(tx);
    }
    let escape = (opts.tty && opts.stdin && !opts.detach_keys.is_empty())
        .then(|| EscapeProxy::new(opts.detach_keys.clone()));
    let with_stdin = opts.stdin;
    let input = async move {
        let mut escape = escape;
        while let Some(chunk) = rx.recv().await {
            let (data, detached) = match escape.as_mut() {
                Some(e) => e.feed(&chunk),
                None => (chunk, false),
            };
            if !data.is_empty() {
                wr.write_all(&data).await?;
            }
            if detached {
                return Ok::<StreamEnd, io::Error>(StreamEnd::Detached);
            }
        }
        if with_stdin {
            // docker's CloseWrite: the container sees the end of its stdin.
            let _ = wr.shutdown().await;
        }
        // Keep the write side open (dropping it would half-close) until output ends.
        std::future::pending::<()>().await;
        Ok(StreamEnd::Closed)
    };
    tokio::pin!(output);
    tokio::select! {
        r = &mut output => {
            r?;
            Ok(StreamEnd::Closed)
        }
        r = input => {
            match r {
                Ok(StreamEnd::Detached) => Ok(StreamEnd::Detached),
                // A write to a container that is gone: its output tells the rest.
                _ => {
                    output.await?;
                    Ok(StreamEnd::Closed)
                }
            }
        }
    }
}

/// The terminal size on stdout as (height, width), when stdout is a terminal with a size.
pub(crate) fn terminal_size() -> Option<(u16, u16)> {
    let ws = rustix::termios::tcgetwinsize(io::stdout()).ok()?;
    (ws.ws_row > 0 || ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Sends the terminal's size to `resize_path` (`/containers/ID/resize` or
/// `/exec/ID/resize`) now and after every SIGWINCH, until the returned task is aborted.
pub(crate) fn monitor_size(client: &Client, resize_path: String) -> tokio::task::JoinHandle<()> {
    // Registered before anything else: a SIGWINCH from now on is kept for the loop below
    // (its default action would drop it).
    let winch = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change());
    let client = client.clone();
    tokio::spawn(async move {
        let resize = |client: Client, path: String| async move {
            if let Some((h, w)) = terminal_size() {
                let q = query(&[("h", &h.to_string()), ("w", &w.to_string())]);
                let _ = client
                    .send(hyper::Method::POST, &format!("{path}{q}"), &[], empty())
                    .await;
            }
        };
        resize(client.clone(), resize_path.clone()).await;
        let Ok(mut winch) = winch else {
            return;
        };
        while winch.recv().await.is_some() {
            resize(client.clone(), resize_path.clone()).await;
        }
    })
}

/// Forwards the signals a user sends to the CLI (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1,
/// SIGUSR2) to the container, until the returned task is aborted (docker's `--sig-proxy`).
pub(crate) fn proxy_signals(client: &Client, id: String) -> tokio::task::JoinHandle<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let client = client.clone();
    tokio::spawn(async move {
        let kinds = [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
            (SignalKind::quit(), "SIGQUIT"),
            (SignalKind::user_defined1(), "SIGUSR1"),
            (SignalKind::user_defined2(), "SIGUSR2"),
        ];
        let (tx, mut rx) = mpsc::channel::<&'static str>(8);
        for (kind, name) in kinds {
            let Ok(mut s) = signal(kind) else { continue };
            let tx = tx.clone();
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    if tx.send(name).await.is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        while let Some(name) = rx.recv().await {
            let path = format!("/containers/{id}/kill{}", query(&[("signal", name)]));
            let _ = client.send(hyper::Method::POST, &path, &[], empty()).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(
            parse_detach_keys("a,ctrl-@,ctrl-_").unwrap(),
            vec![b'a', 0, 31]
        );
        assert!(parse_detach_keys("ctrl-pp").is_err());
        assert!(parse_detach_keys("ab").is_err());
        assert!(parse_detach_keys("ctrl-é").is_err());
    }

    #[test]
    fn escape_proxy_holds_a_prefix_back() {
        let mut e = EscapeProxy::new(vec![16, 17]);
        assert_eq!(e.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(e.feed(b"c"), (b"\x10c".to_vec(), false));
        assert_eq!(e.feed(b"\x10\x10"), (b"\x10".to_vec(), false));
        assert_eq!(e.feed(b"\x11rest"), (Vec::new(), true));
    }

    #[test]
    fn demux_frames_across_reads() {
        let mut d = Demux::default();
        let mut data = vec![1, 0, 0, 0, 0, 0, 0, 3];
        data.extend_from_slice(b"out");
        data.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 2, b'e']);
        let f = d.feed(&data);
        assert_eq!(f, vec![(StdStream::Stdout, b"out".to_vec())]);
        let f = d.feed(b"r");
        assert_eq!(f, vec![(StdStream::Stderr, b"er".to_vec())]);
        assert!(d.feed(&[1, 0, 0]).is_empty());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Frames cut anywhere come out whole, in order, on their stream.
        #[test]
        fn demux_frames_cut_anywhere(
            frames in proptest::collection::vec((proptest::bool::ANY, proptest::collection::vec(proptest::num::u8::ANY, 0..64)), 0..8),
            cut in 1usize..17,
        ) {
            let mut wire = Vec::new();
            for (err, data) in &frames {
                wire.push(if *err { 2 } else { 1 });
                wire.extend_from_slice(&[0, 0, 0]);
                wire.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
                wire.extend_from_slice(data);
            }
            let mut d = Demux::default();
            let mut got = Vec::new();
            for chunk in wire.chunks(cut) {
                got.extend(d.feed(chunk));
            }
            let want: Vec<(StdStream, Vec<u8>)> = frames
                .into_iter()
                .map(|(err, data)| (if err { StdStream::Stderr } else { StdStream::Stdout }, data))
                .collect();
            proptest::prop_assert_eq!(got, want);
        }

        /// Any bytes from a daemon: no panic.
        #[test]
        fn demux_takes_anything(data in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = Demux::default().feed(&data);
        }

        /// Typed input without the sequence is forwarded whole (what is held back is a prefix
        /// of the sequence), whatever the chunks.
        #[test]
        fn escape_proxy_forwards_the_rest(
            input in proptest::collection::vec(proptest::sample::select(vec![16u8, 17, b'a', b'x']), 0..64),
            cut in 1usize..9,
        ) {
            proptest::prop_assume!(!input.windows(2).any(|w| w == [16, 17]));
            let mut e = EscapeProxy::new(vec![16, 17]);
            let mut out = Vec::new();
            for chunk in input.chunks(cut) {
                let (fwd, detached) = e.feed(chunk);
                proptest::prop_assert!(!detached);
                out.extend(fwd);
            }
            out.extend_from_slice(&e.keys[..e.matched]);
            proptest::prop_assert_eq!(out, input);
        }
    }
}
