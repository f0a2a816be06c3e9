//! What can go wrong in a `berth` command, each printed as one `berth: ...` line.

use std::io;
use std::path::PathBuf;

use berth_api_types::{Host, DEFAULT_HOST};

use crate::format::template::TemplateError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Host(#[from] berth_api_types::HostError),
    /// Nothing answers on the socket.
    #[error(
        "cannot connect to berthd at {host}: is berthd running? start it with: berthd{}",
        start_hint(host)
    )]
    NotRunning { host: Host },
    #[error("permission denied connecting to berthd at {host}: run as root or as a member of the socket's group")]
    PermissionDenied { host: Host },
    #[error("cannot connect to berthd at {host}: {source}")]
    Connect { host: Host, source: io::Error },
    /// The daemon answered with an error; docker's wording.
    #[error("Error response from daemon: {message}")]
    Daemon { status: u16, message: String },
    /// A progress stream ended with an error message (printed as the daemon wrote it).
    #[error("{0}")]
    Stream(String),
    #[error("HTTP exchange with berthd at {host} failed: {source}")]
    Http { host: Host, source: hyper::Error },
    #[error("cannot decode berthd's answer to {path}: {source}")]
    Decode {
        path: String,
        source: serde_json::Error,
    },
    #[error("unsupported --format {0:?}: only \"json\" is supported for now")]
    Format(String),
    /// A `--format`/`-f` template that does not parse or run.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// An image reference docker's grammar refuses.
    #[error("{source}: {reference:?}")]
    Reference {
        reference: String,
        source: berth_oci::ReferenceError,
    },
    /// A command line that parses but makes no sense (`save` to a terminal, a bad filter).
    #[error("{0}")]
    Usage(String),
    /// The credentials file or its credential helper.
    #[error(transparent)]
    DockerConfig(#[from] berth_dockerconfig::ConfigError),
    #[error("cannot {action} {}: {source}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// Several names failed (`rmi a b`, `inspect a b`): one message per line.
    #[error("{}", .0.join("\n"))]
    Several(Vec<String>),
    #[error("cannot write the output: {0}")]
    Output(#[from] io::Error),
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
    /// A verb that ends with a given exit status (`run` passes on the container's, 125 when
    /// the daemon failed, 126 or 127 when the command could not be run); the message, if
    /// any, is printed first.
    #[error("{message}")]
    Status { code: u8, message: String },
}

impl CliError {
    /// The exit status of a command that failed with this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Status { code, .. } => *code,
            _ => 1,
        }
    }
}

impl CliError {
    /// `s` parsed as docker's CLI parses an image name (`ParseNormalizedNamed`).
    pub fn parse_reference(s: &str) -> Result<berth_oci::Reference, CliError> {
        berth_oci::Reference::parse_normalized(s).map_err(|source| CliError::Reference {
            reference: s.to_owned(),
            source,
        })
    }
}

/// `-H ...` when berthd must be told where to listen.
fn start_hint(host: &Host) -> String {
    if host.to_string() == DEFAULT_HOST {
        String::new()
    } else {
        format!(" -H {host}")
    }
}
