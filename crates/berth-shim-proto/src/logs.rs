//! docker's json-file log format, shared by its writer (the shim) and its
//! reader (the daemon's `logs`).
//!
//! One JSON object per line: `{"log":"text\n","stream":"stdout","time":"RFC3339Nano"}`.
//! A line longer than [`MAX_LINE`] is cut into messages of that size whose
//! `log` has no trailing newline (docker's partial messages), and so is the
//! last line of a stream that ends without one. Rotation keeps `max-file`
//! files: `ID-json.log` (the current one), then `ID-json.log.1`, `.2`, ...
//! from newest to oldest.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::message::LogConfig;

/// docker's log message size: longer lines are split (`logger.copier`'s buffer).
pub const MAX_LINE: usize = 16 * 1024;

/// The stream a log message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One log message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub stream: Stream,
    /// The text, ending with `\n` unless the message is partial.
    pub log: String,
    pub time: SystemTime,
}

impl Entry {
    /// A part of a longer line, or a last line without a newline.
    pub fn partial(&self) -> bool {
        !self.log.ends_with('\n')
    }
}

#[derive(Serialize, Deserialize)]
struct Record<'a> {
    log: std::borrow::Cow<'a, str>,
    stream: std::borrow::Cow<'a, str>,
    time: std::borrow::Cow<'a, str>,
}

/// One json-file line (with its newline) for message `msg` of `stream`.
/// Bytes that are not UTF-8 become U+FFFD, as docker's encoder does.
pub fn encode(stream: Stream, msg: &[u8], time: SystemTime) -> Vec<u8> {
    let rec = Record {
        log: String::from_utf8_lossy(msg),
        stream: stream.as_str().into(),
        time: crate::time::format(time).into(),
    };
    let mut out = serde_json::to_vec(&rec).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Parses one json-file line (without its newline); `None` if malformed.
pub fn parse(line: &[u8]) -> Option<Entry> {
    let rec: Record<'_> = serde_json::from_slice(line).ok()?;
    let stream = match rec.stream.as_ref() {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        _ => return None,
    };
    Some(Entry {
        stream,
        log: rec.log.into_owned(),
        time: crate::time::parse(&rec.time)?,
    })
}

/// Cuts a byte stream into docker's log messages: each line with its
/// newline, or [`MAX_LINE`] bytes of a longer one.
#[derive(Debug, Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
}

impl LineSplitter {
    /// Adds `data`, handing every complete message to `emit`.
    pub fn push(&mut self, data: &[u8], mut emit: impl FnMut(&[u8])) {
        self.buf.extend_from_slice(data);
        let mut start = 0;
        loop {
            let rest = &self.buf[start..];
            let window = &rest[..rest.len().min(MAX_LINE)];
            if let Some(nl) = window.iter().position(|b| *b == b'\n') {
                emit(&rest[..=nl]);
                start += nl + 1;
            } else if rest.len() >= MAX_LINE {
                emit(&rest[..MAX_LINE]);
                start += MAX_LINE;
            } else {
                break;
            }
        }
        self.buf.drain(..start);
    }

    /// The end of the stream: hands a last line without a newline to `emit`.
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.buf.is_empty() {
            emit(&self.buf);
            self.buf.clear();
        }
    }
}

/// `PATH.n`: the n-th rotated file (`n` = 0 is `path` itself).
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    if n == 0 {
        return path.to_path_buf();
    }
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Writes json-file logs with docker's rotation.
#[derive(Debug)]
pub struct LogWriter {
    cfg: LogConfig,
    file: File,
    size: u64,
}

impl LogWriter {
    /// Opens (appends to) the current file.
    pub fn open(cfg: LogConfig) -> io::Result<LogWriter> {
        let file = open_append(&cfg.path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter { cfg, file, size })
    }

    /// Writes one message (docker rotates before a write once the file has
    /// reached `max-size`, so a file exceeds it by at most one message).
    pub fn write(&mut self, stream: Stream, msg: &[u8], time: SystemTime) -> io::Result<()> {
        if let Some(max) = self.cfg.max_size {
            if self.size > 0 && self.size >= max {
                self.rotate()?;
            }
        }
        let line = encode(stream, msg, time);
        self.file.write_all(&line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let keep = self.cfg.max_file.max(1);
        if keep == 1 {
            self.file.set_len(0)?;
            self.file.seek(SeekFrom::Start(0))?;
            self.size = 0;
            return Ok(());
        }
        match fs::remove_file(rotated(&self.cfg.path, keep - 1)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        for n in (0..keep - 1).rev() {
            match fs::rename(rotated(&self.cfg.path, n), rotated(&self.cfg.path, n + 1)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        self.file = open_append(&self.cfg.path)?;
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

/// What `logs` asks for.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub stdout: bool,
    pub stderr: bool,
    /// Only messages at or after this time.
    pub since: Option<SystemTime>,
    /// Only messages at or before this time.
    pub until: Option<SystemTime>,
    /// Only the last `n` messages (of those selected).
    pub tail: Option<usize>,
}

impl ReadOptions {
    fn wants(&self, e: &Entry) -> bool {
        let stream = match e.stream {
            Stream::Stdout => self.stdout,
            Stream::Stderr => self.stderr,
        };
        stream && self.since.is_none_or(|s| e.time >= s) && self.until.is_none_or(|u| e.time <= u)
    }
}

/// The log files of `path` that exist, oldest first.
pub fn files(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut n = 1;
    while rotated(path, n).exists() {
        out.push(rotated(path, n));
        n += 1;
    }
    out.reverse();
    if path.exists() {
        out.push(path.to_path_buf());
    }
    out
}

/// Reads the messages of `path` and its rotated files that `opts` selects,
/// and returns a [`Follower`] that picks up where the reading ended.
pub fn read(path: &Path, opts: &ReadOptions) -> io::Result<(Vec<Entry>, Follower)> {
    let mut follower = Follower {
        path: path.to_path_buf(),
        opts: ReadOptions {
            tail: None,
            ..opts.clone()
        },
        file: None,
        ino: 0,
        carry: Vec::new(),
    };
    let mut entries = follower.poll()?;
    if let Some(n) = opts.tail {
        let skip = entries.len().saturating_sub(n);
        entries.drain(..skip);
    }
    Ok((entries, follower))
}

/// Follows a log across rotations: each [`Follower::poll`] returns the
/// messages written since the last one.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    opts: ReadOptions,
    /// The file read last, and its inode.
    file: Option<BufReader<File>>,
    ino: u64,
    /// The start of a line not yet complete.
    carry: Vec<u8>,
}

impl Follower {
    /// A follower that starts at the current end of the log.
    pub fn at_end(path: &Path, opts: &ReadOptions) -> io::Result<Follower> {
        let mut f = Follower {
            path: path.to_path_buf(),
            opts: opts.clone(),
            file: None,
            ino: 0,
            carry: Vec::new(),
        };
        if let Ok(mut file) = File::open(path) {
            f.ino = file.metadata()?.ino();
            file.seek(SeekFrom::End(0))?;
            f.file = Some(BufReader::new(file));
        }
        Ok(f)
    }

    /// The messages written since the last call (non-blocking; poll again
    /// later for more).
    pub fn poll(&mut self) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        if let Some(f) = self.file.as_mut() {
            drain(f, &mut self.carry, &self.opts, &mut out)?;
        }
        // Files newer than the one read last (all of them the first time, or when
        // ours was rotated away entirely).
        let all = files(&self.path);
        let newer: Vec<PathBuf> = match self.file {
            None => all,
            Some(_) => {
                let inos: Vec<u64> = all
                    .iter()
                    .map(|p| fs::metadata(p).map(|m| m.ino()).unwrap_or(0))
                    .collect();
                match inos.iter().position(|i| *i == self.ino) {
                    Some(k) => all.into_iter().skip(k + 1).collect(),
                    None => all,
                }
            }
        };
        for p in newer {
            let Ok(file) = File::open(&p) else { continue };
            self.ino = file.metadata()?.ino();
            // A file is read to its end before the next; a torn line does not span files.
            self.carry.clear();
            let mut r = BufReader::new(file);
            drain(&mut r, &mut self.carry, &self.opts, &mut out)?;
            self.file = Some(r);
        }
        Ok(out)
    }
}

fn drain(
    r: &mut BufReader<File>,
    carry: &mut Vec<u8>,
    opts: &ReadOptions,
    out: &mut Vec<Entry>,
) -> io::Result<()> {
    loop {
        let n = r.read_until(b'\n', carry)?;
        if n == 0 || carry.last() != Some(&b'\n') {
            // The end for now; an incomplete line stays in `carry`.
            return Ok(());
        }
        carry.pop();
        if let Some(e) = parse(carry) {
            if opts.wants(&e) {
                out.push(e);
            }
        }
        carry.clear();
    }
}

/// Reads a whole file (tests and small tools).
pub fn read_all(path: &Path) -> io::Result<Vec<Entry>> {
    let mut text = Vec::new();
    File::open(path)?.read_to_end(&mut text)?;
    Ok(text.split(|b| *b == b'\n').filter_map(parse).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn all() -> ReadOptions {
        ReadOptions {
            stdout: true,
            stderr: true,
            ..ReadOptions::default()
        }
    }

    #[test]
    fn docker_line_format() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 5);
        let line = encode(Stream::Stdout, b"hi \"there\"\n", t);
        assert_eq!(
            String::from_utf8_lossy(&line),
            "{\"log\":\"hi \\\"there\\\"\\n\",\"stream\":\"stdout\",\"time\":\"2023-11-14T22:13:20.000000005Z\"}\n"
        );
        let e = parse(&line[..line.len() - 1]);
        assert_eq!(
            e,
            Some(Entry {
                stream: Stream::Stdout,
                log: "hi \"there\"\n".into(),
                time: t
            })
        );
        assert!(parse(b"{\"log\":1}").is_none());
        assert!(parse(b"not json").is_none());
        assert!(
            parse(b"{\"log\":\"x\",\"stream\":\"stdin\",\"time\":\"2023-11-14T22:13:20Z\"}")
                .is_none()
        );
    }

    #[test]
    fn splits_lines_as_docker() {
        let mut s = LineSplitter::default();
        let mut got: Vec<Vec<u8>> = Vec::new();
        s.push(b"a\nbc", |m| got.push(m.to_vec()));
        s.push(b"d\n\n", |m| got.push(m.to_vec()));
        let long = vec![b'x'; MAX_LINE * 2 + 10];
        s.push(&long, |m| got.push(m.to_vec()));
        s.push(b"\nend", |m| got.push(m.to_vec()));
        s.finish(|m| got.push(m.to_vec()));
        let lens: Vec<usize> = got.iter().map(Vec::len).collect();
        assert_eq!(lens, vec![2, 4, 1, MAX_LINE, MAX_LINE, 11, 3]);
        assert_eq!(got[1], b"bcd\n");
        assert_eq!(got[6], b"end");
    }

    #[test]
    fn rotates_and_follows() {
        let dir = tempfile::tempdir().ok();
        let Some(dir) = dir else { return };
        let path = dir.path().join("c-json.log");
        let cfg = LogConfig {
            path: path.clone(),
            max_size: Some(200),
            max_file: 3,
        };
        let mut w = match LogWriter::open(cfg) {
            Ok(w) => w,
            Err(e) => panic!("open: {e}"),
        };
        let (first, mut follower) = match read(&path, &all()) {
            Ok(r) => r,
            Err(e) => panic!("read: {e}"),
        };
        assert!(first.is_empty());
        let mut seen = Vec::new();
        for i in 0..100 {
            let msg = format!("line {i}\n");
            let t = UNIX_EPOCH + Duration::from_secs(1000 + i);
            if let Err(e) = w.write(Stream::Stdout, msg.as_bytes(), t) {
                panic!("write: {e}");
            }
            if i % 7 == 0 {
                seen.extend(follower.poll().unwrap_or_default());
            }
        }
        seen.extend(follower.poll().unwrap_or_default());
        // Following every few writes misses nothing even across rotations.
        let texts: Vec<String> = seen.iter().map(|e| e.log.clone()).collect();
        let want: Vec<String> = (0..100).map(|i| format!("line {i}\n")).collect();
        assert_eq!(texts, want);
        assert_eq!(files(&path).len(), 3);
        assert!(!rotated(&path, 3).exists());
        // Reading afresh: what the three files hold, in order, the newest last.
        let (kept, _) = read(&path, &all()).unwrap_or_default_pair();
        assert!(!kept.is_empty() && kept.len() < 100);
        assert_eq!(kept.last().map(|e| e.log.as_str()), Some("line 99\n"));
        let first_kept: usize = kept[0].log[5..kept[0].log.len() - 1].parse().unwrap_or(0);
        let texts: Vec<String> = kept.iter().map(|e| e.log.clone()).collect();
        let want: Vec<String> = (first_kept..100).map(|i| format!("line {i}\n")).collect();
        assert_eq!(texts, want);
        // tail, since, until.
        let tail = ReadOptions {
            tail: Some(2),
            ..all()
        };
        let (t, _) = read(&path, &tail).unwrap_or_default_pair();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].log, "line 98\n");
        let window = ReadOptions {
            since: Some(UNIX_EPOCH + Duration::from_secs(1097)),
            until: Some(UNIX_EPOCH + Duration::from_secs(1098)),
            ..all()
        };
        let (t, _) = read(&path, &window).unwrap_or_default_pair();
        let texts: Vec<&str> = t.iter().map(|e| e.log.as_str()).collect();
        assert_eq!(texts, ["line 97\n", "line 98\n"]);
        let none = ReadOptions {
            stdout: false,
            ..all()
        };
        assert!(read(&path, &none).unwrap_or_default_pair().0.is_empty());
    }

    trait OrDefault {
        fn unwrap_or_default_pair(self) -> (Vec<Entry>, Option<Follower>);
    }

    impl OrDefault for io::Result<(Vec<Entry>, Follower)> {
        fn unwrap_or_default_pair(self) -> (Vec<Entry>, Option<Follower>) {
            match self {
                Ok((e, f)) => (e, Some(f)),
                Err(e) => panic!("read: {e}"),
            }
        }
    }
}
