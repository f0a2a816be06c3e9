//! The `-H`/`DOCKER_HOST` address syntax: `unix:///path/to/socket` (an empty path meaning the
//! default socket). berth listens on and connects to unix sockets only.

use std::fmt;
use std::path::{Path, PathBuf};

/// berthd's socket when no `-H` is given.
pub const DEFAULT_SOCKET: &str = "/run/berth/berth.sock";

/// [`DEFAULT_SOCKET`] as a host address.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// A daemon address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A unix socket.
    Unix(PathBuf),
}

/// Why a host address was refused.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(
        "invalid host {0:?}: berth speaks over unix sockets only (use unix:///path/to/socket)"
    )]
    UnsupportedScheme(String),
    #[error("invalid host {0:?}: the socket path must be absolute (unix:///path/to/socket)")]
    RelativePath(String),
}

impl Host {
    /// Parses `unix:///path` (or a bare absolute path, as dockerd also takes).
    pub fn parse(text: &str) -> Result<Host, HostError> {
        let path = if let Some(rest) = text.strip_prefix("unix://") {
            if rest.is_empty() {
                DEFAULT_SOCKET
            } else {
                rest
            }
        } else if text.contains("://") {
            return Err(HostError::UnsupportedScheme(text.into()));
        } else {
            text
        };
        if !path.starts_with('/') {
            return Err(HostError::RelativePath(text.into()));
        }
        Ok(Host::Unix(PathBuf::from(path)))
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        match self {
            Host::Unix(p) => p,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Unix(p) => write!(f, "unix://{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_unix_hosts() {
        assert_eq!(
            Host::parse("unix:///tmp/b.sock").unwrap().socket(),
            Path::new("/tmp/b.sock")
        );
        assert_eq!(
            Host::parse("unix://").unwrap().socket(),
            Path::new(DEFAULT_SOCKET)
        );
        assert_eq!(
            Host::parse("/x/y.sock").unwrap().to_string(),
            "unix:///x/y.sock"
        );
        assert!(matches!(
            Host::parse("tcp://127.0.0.1:2375"),
            Err(HostError::UnsupportedScheme(_))
        ));
        assert!(matches!(
            Host::parse("unix://rel.sock"),
            Err(HostError::RelativePath(_))
        ));
    }
}
