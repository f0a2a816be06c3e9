//! The daemon's progress stream (newline-delimited JSON messages, as `POST /images/create`,
//! `/images/{name}/push` and `/images/load` send) shown as docker shows it: on a terminal one
//! line per layer id, redrawn in place with the cursor moved up and down
//! (`abc123: Downloading [=====>     ] 1.2MB/3.4MB 2s`); elsewhere only the lines without a
//! running bar. An error message in the stream ends it with that error.

use std::collections::HashMap;
use std::io::Write;

use serde::Deserialize;

use super::units::human_size;

/// One message of the stream (moby's `jsonmessage.JSONMessage`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct JsonMessage {
    #[serde(default)]
    pub stream: String,
    #[serde(default)]
    pub status: String,
    #[serde(rename = "progressDetail")]
    pub progress_detail: Option<ProgressDetail>,
    /// The daemon's own rendering of the bar (used only when there is no `progressDetail`).
    #[serde(rename = "progress", default)]
    pub progress_message: String,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub time: i64,
    #[serde(rename = "timeNano", default)]
    pub time_nano: i64,
    #[serde(rename = "errorDetail")]
    pub error_detail: Option<ErrorDetail>,
    #[serde(rename = "error", default)]
    pub error_message: String,
    pub aux: Option<serde_json::Value>,
}

/// `progressDetail`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProgressDetail {
    #[serde(default)]
    pub current: i64,
    #[serde(default)]
    pub total: i64,
    #[serde(default)]
    pub start: i64,
    #[serde(rename = "hidecounts", default)]
    pub hide_counts: bool,
    #[serde(default)]
    pub units: String,
}

/// `errorDetail`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub message: String,
}

impl JsonMessage {
    /// The error this message carries, if it is one.
    pub fn error(&self) -> Option<String> {
        match &self.error_detail {
            Some(d) if d.code == 401 => Some("authentication is required".into()),
            Some(d) if !d.message.is_empty() => Some(d.message.clone()),
            _ if !self.error_message.is_empty() => Some(self.error_message.clone()),
            Some(_) => Some("unknown error".into()),
            None => None,
        }
    }
}

impl ProgressDetail {
    /// The bar, counts and time left, for a terminal `width` columns wide at Unix time `now`
    /// (moby's `JSONProgress.String`).
    pub fn render(&self, width: usize, now: i64) -> String {
        if self.current <= 0 && self.total <= 0 {
            return String::new();
        }
        if self.total <= 0 {
            return if self.units.is_empty() {
                format!("{:>8}", human_size(self.current))
            } else {
                format!("{} {}", self.current, self.units)
            };
        }
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        let percentage =
            (((self.current as f64 / self.total as f64) * 100.0) as i64 / 2).clamp(i64::MIN, 50);
        let mut bar = String::new();
        if width > 110 {
            let filled = usize::try_from(percentage).unwrap_or(0);
            bar = format!(
                "[{}>{}] ",
                "=".repeat(filled),
                " ".repeat(50 - filled.min(50))
            );
        }
        let numbers = if self.hide_counts {
            String::new()
        } else if self.units.is_empty() {
            if self.current > self.total {
                format!("{:>8}", human_size(self.current))
            } else {
                format!("{:>8}/{}", human_size(self.current), human_size(self.total))
            }
        } else if self.current > self.total {
            format!("{} {}", self.current, self.units)
        } else {
            format!("{}/{} {}", self.current, self.total, self.units)
        };
        let mut left = String::new();
        if self.current > 0 && self.start > 0 && percentage < 50 && width > 50 {
            // Whole seconds, as Go's Duration prints them.
            let elapsed = (now - self.start).max(0);
            let remaining = (self.total - self.current).max(0);
            #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
            let secs = (elapsed as f64 / self.current as f64 * remaining as f64) as i64;
            left = format!(" {}", go_duration(secs));
        }
        bar + &numbers + &left
    }
}

/// Go's `time.Duration.String` for whole seconds: `0s`, `42s`, `3m2s`, `1h0m5s`.
fn go_duration(secs: i64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// Renders a stream message by message (moby's `DisplayJSONMessagesStream`).
#[derive(Debug)]
pub struct ProgressPrinter {
    tty: bool,
    width: usize,
    /// The line of each id that has a bar, counted from the first one.
    lines: HashMap<String, usize>,
}

impl ProgressPrinter {
    /// A printer for a terminal of `width` columns (`tty`), or for a pipe or file.
    pub fn new(tty: bool, width: usize) -> ProgressPrinter {
        ProgressPrinter {
            tty,
            width,
            lines: HashMap::new(),
        }
    }

    /// Shows one message; an error message is returned as `Err` with its text, after which
    /// the stream should not be read further.
    pub fn show(
        &mut self,
        m: &JsonMessage,
        now: i64,
        out: &mut impl Write,
    ) -> Result<(), ShowError> {
        if m.aux.is_some() {
            return Ok(());
        }
        let mut diff = 0;
        let has_bar = m.progress_detail.is_some() || !m.progress_message.is_empty();
        if !m.id.is_empty() && has_bar {
            let line = match self.lines.get(&m.id) {
                Some(&line) => line,
                None => {
                    let line = self.lines.len();
                    self.lines.insert(m.id.clone(), line);
                    if self.tty {
                        writeln!(out)?;
                    }
                    line
                }
            };
            diff = self.lines.len() - line;
            if self.tty && diff > 0 {
                write!(out, "\x1b[{diff}A")?;
            }
        } else {
            // Output without an id ends the block of bars (e.g. between two tags of pull -a).
            self.lines.clear();
        }
        let r = self.display(m, now, out);
        if !m.id.is_empty() && self.tty && diff > 0 {
            write!(out, "\x1b[{diff}B")?;
        }
        r
    }

    fn display(&self, m: &JsonMessage, now: i64, out: &mut impl Write) -> Result<(), ShowError> {
        if let Some(e) = m.error() {
            return Err(ShowError::Stream(e));
        }
        let mut endl = "";
        if self.tty && m.stream.is_empty() && m.progress_detail.is_some() {
            write!(out, "\x1b[2K\r")?;
            endl = "\r";
        } else if let Some(p) = &m.progress_detail {
            if !p.render(self.width, now).is_empty() {
                // No bars off a terminal.
                return Ok(());
            }
        }
        if m.time_nano != 0 || m.time != 0 {
            let secs = if m.time_nano != 0 {
                m.time_nano / 1_000_000_000
            } else {
                m.time
            };
            write!(out, "{} ", berth_api_types::time::rfc3339_secs(secs))?;
        }
        if !m.id.is_empty() {
            write!(out, "{}: ", m.id)?;
        }
        if !m.from.is_empty() {
            write!(out, "(from {}) ", m.from)?;
        }
        match &m.progress_detail {
            Some(p) if self.tty => write!(out, "{} {}{endl}", m.status, p.render(self.width, now))?,
            _ if !m.progress_message.is_empty() => {
                write!(out, "{} {}{endl}", m.status, m.progress_message)?;
            }
            _ if !m.stream.is_empty() => write!(out, "{}{endl}", m.stream)?,
            _ => writeln!(out, "{}{endl}", m.status)?,
        }
        Ok(())
    }
}

/// Why a message could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum ShowError {
    /// The stream reported an error (its text, as docker prints it).
    #[error("{0}")]
    Stream(String),
    #[error("cannot write the progress: {0}")]
    Output(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(s: &str) -> JsonMessage {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn bar_like_moby() {
        let p = ProgressDetail {
            current: 1_200_000,
            total: 3_400_000,
            ..Default::default()
        };
        assert_eq!(
            p.render(200, 0),
            format!("[{}>{}]    1.2MB/3.4MB", "=".repeat(17), " ".repeat(33))
        );
        assert_eq!(p.render(80, 0), "   1.2MB/3.4MB");
        let timed = ProgressDetail {
            start: 100,
            ..p.clone()
        };
        // 10 s for 1.2 MB, 2.2 MB left: 18 s.
        assert!(timed.render(200, 110).ends_with("1.2MB/3.4MB 18s"));
        let over = ProgressDetail {
            current: 5,
            total: 3,
            ..Default::default()
        };
        assert_eq!(over.render(80, 0), "      5B");
        assert_eq!(ProgressDetail::default().render(200, 0), "");
    }

    #[test]
    fn plain_lines_off_a_terminal() {
        let stream = [
            r#"{"status":"Pulling from library/busybox","id":"latest"}"#,
            r#"{"status":"Pulling fs layer","progressDetail":{},"id":"abc"}"#,
            r#"{"status":"Downloading","progressDetail":{"current":10,"total":20},"progress":"[=>] 10B/20B","id":"abc"}"#,
            r#"{"status":"Pull complete","progressDetail":{},"id":"abc"}"#,
            r#"{"status":"Digest: sha256:1"}"#,
        ];
        let mut p = ProgressPrinter::new(false, 200);
        let mut out = Vec::new();
        for s in stream {
            p.show(&msg(s), 0, &mut out).unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "latest: Pulling from library/busybox\nabc: Pulling fs layer\nabc: Pull complete\nDigest: sha256:1\n"
        );
    }

    #[test]
    fn redrawn_in_place_on_a_terminal() {
        let mut p = ProgressPrinter::new(true, 80);
        let mut out = Vec::new();
        for s in [
            r#"{"status":"Pulling fs layer","progressDetail":{},"id":"a"}"#,
            r#"{"status":"Pulling fs layer","progressDetail":{},"id":"b"}"#,
            r#"{"status":"Downloading","progressDetail":{"current":1000,"total":2000},"id":"a"}"#,
        ] {
            p.show(&msg(s), 0, &mut out).unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\n\x1b[1A\x1b[2K\ra: Pulling fs layer \r\x1b[1B\
             \n\x1b[1A\x1b[2K\rb: Pulling fs layer \r\x1b[1B\
             \x1b[2A\x1b[2K\ra: Downloading      1kB/2kB\r\x1b[2B"
        );
    }

    /// A pull of a one-layer image from a docker-registry, as dockerd 20.10 streamed it.
    const RECORDED_PULL: &str = include_str!("testdata/pull-progress.ndjson");

    #[test]
    fn recorded_pull_stream() {
        let msgs: Vec<JsonMessage> = RECORDED_PULL.lines().map(msg).collect();
        // dockerd renders the bar at 200 columns into "progress": ours is the same text.
        let mut bars = 0;
        for m in &msgs {
            if let (Some(p), false) = (&m.progress_detail, m.progress_message.is_empty()) {
                assert_eq!(p.render(200, 0), m.progress_message);
                bars += 1;
            }
        }
        assert_eq!(bars, 6);
        let render = |tty| {
            let mut p = ProgressPrinter::new(tty, 80);
            let mut out = Vec::new();
            for m in &msgs {
                p.show(m, 0, &mut out).unwrap();
            }
            String::from_utf8(out).unwrap()
        };
        let plain = render(false);
        assert_eq!(
            plain,
            "latest: Pulling from team/bb\n679330060321: Pulling fs layer\n\
             679330060321: Download complete\n679330060321: Pull complete\n\
             Digest: sha256:f4d11d474602943e4d257d64c68acd1be01befd8f60d15dbb6a2e6358a58d497\n\
             Status: Downloaded newer image for 127.0.0.1:5000/team/bb:latest\n"
        );
        let tty = render(true);
        let redraw = "\x1b[1A\x1b[2K\r679330060321: ";
        assert!(tty.starts_with(&format!(
            "latest: Pulling from team/bb\n\n{redraw}Pulling fs layer \r\x1b[1B"
        )));
        assert!(tty.contains(&format!("{redraw}Downloading  32.77kB/1.069MB\r\x1b[1B")));
        assert!(tty.contains(&format!("{redraw}Extracting  1.069MB/1.069MB\r\x1b[1B")));
        assert!(tty.contains(&format!("{redraw}Pull complete \r\x1b[1BDigest: sha256:")));
        assert_eq!(tty.matches("\x1b[2K").count(), 9);
    }

    #[test]
    fn errors_end_the_stream() {
        let mut p = ProgressPrinter::new(false, 80);
        let e = p
            .show(
                &msg(
                    r#"{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}"#,
                ),
                0,
                &mut Vec::new(),
            )
            .unwrap_err();
        assert_eq!(e.to_string(), "manifest unknown");
        let e = p
            .show(
                &msg(r#"{"errorDetail":{"code":401,"message":"x"}}"#),
                0,
                &mut Vec::new(),
            )
            .unwrap_err();
        assert_eq!(e.to_string(), "authentication is required");
    }
}
