//! Logging in runc's shape: logrus text (`time="..." level=error msg="..."`)
//! or JSON lines (`{"level":"error","msg":"...","time":"..."}`). containerd
//! reads the last error line of the log file to report a runtime failure.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use crate::cli::LogFormat;

#[derive(Debug)]
pub struct Logger {
    file: Option<File>,
    format: LogFormat,
    debug: bool,
}

impl Logger {
    pub fn new(path: Option<&Path>, format: LogFormat, debug: bool) -> Logger {
        let file = path.and_then(|p| OpenOptions::new().create(true).append(true).open(p).ok());
        Logger {
            file,
            format,
            debug,
        }
    }

    fn line(&self, level: &str, msg: &str) -> String {
        let time = berth_container::time::rfc3339_secs(SystemTime::now());
        match self.format {
            LogFormat::Json => {
                let v = serde_json::json!({"level": level, "msg": msg, "time": time});
                format!("{v}\n")
            }
            LogFormat::Text => {
                let quoted = serde_json::to_string(msg).unwrap_or_default();
                format!("time=\"{time}\" level={level} msg={quoted}\n")
            }
        }
    }

    fn write(&self, level: &str, msg: &str) {
        let line = self.line(level, msg);
        match &self.file {
            Some(f) => {
                let mut f: &File = f;
                let _ = f.write_all(line.as_bytes());
            }
            None => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }

    /// A fatal error: to the log, and in plain words to stderr.
    pub fn error(&self, msg: &str) {
        self.write("error", msg);
        if self.file.is_some() {
            eprintln!("{msg}");
        }
    }

    pub fn warn(&self, msg: &str) {
        self.write("warning", msg);
    }

    pub fn debug(&self, msg: &str) {
        if self.debug {
            self.write("debug", msg);
        }
    }
}
