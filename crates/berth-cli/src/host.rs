//! Which daemon to talk to.

use berth_api_types::{Host, DEFAULT_HOST};

use crate::error::CliError;

/// berth's own variable, taking precedence over Docker's.
pub const BERTH_HOST_ENV: &str = "BERTH_HOST";

/// Docker's variable, honoured so that a shell set up for `docker` works with `berth`.
pub const DOCKER_HOST_ENV: &str = "DOCKER_HOST";

/// The daemon address: `flag`, then `$BERTH_HOST`, then `$DOCKER_HOST`, then the default socket.
/// Empty variables count as unset.
pub fn resolve_host(flag: Option<&str>) -> Result<Host, CliError> {
    resolve_with(flag, |k| std::env::var(k).ok())
}

fn resolve_with(
    flag: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Host, CliError> {
    let chosen = flag
        .map(str::to_string)
        .or_else(|| env(BERTH_HOST_ENV).filter(|s| !s.is_empty()))
        .or_else(|| env(DOCKER_HOST_ENV).filter(|s| !s.is_empty()))
        .unwrap_or_else(|| DEFAULT_HOST.to_string());
    Ok(Host::parse(&chosen)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn precedence() {
        let both = [
            ("BERTH_HOST", "unix:///b.sock"),
            ("DOCKER_HOST", "unix:///d.sock"),
        ];
        let h = resolve_with(Some("unix:///f.sock"), env(&both)).unwrap();
        assert_eq!(h.socket(), Path::new("/f.sock"));
        assert_eq!(
            resolve_with(None, env(&both)).unwrap().socket(),
            Path::new("/b.sock")
        );
        let docker = [("BERTH_HOST", ""), ("DOCKER_HOST", "unix:///d.sock")];
        assert_eq!(
            resolve_with(None, env(&docker)).unwrap().socket(),
            Path::new("/d.sock")
        );
        assert_eq!(
            resolve_with(None, env(&[])).unwrap().socket(),
            Path::new("/run/berth/berth.sock")
        );
        assert!(resolve_with(Some("tcp://127.0.0.1:1"), env(&[])).is_err());
    }
}
