//! What can go wrong turning a container's configuration into a spec. Every case is the
//! caller's input: the daemon answers all of them with a 400.

/// Why no spec could be made.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A setting berth does not implement, set to something other than its default.
    #[error("{field} is not supported by berth (got {value:?})")]
    Unsupported {
        /// Docker's name for the setting (`HostConfig.Binds`, `--security-opt apparmor`...).
        field: &'static str,
        /// What it was set to.
        value: String,
    },
    /// A setting whose value makes no sense.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Docker's name for the setting.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Neither the container nor its image says what to run.
    #[error("no command specified")]
    NoCommand,
    /// A namespace mode that joins a namespace (`host`, `container:NAME`) without the path
    /// of the namespace, which the caller provides.
    #[error("{field} {mode:?} needs the path of the {kind} namespace to join")]
    MissingNamespacePath {
        /// `HostConfig.NetworkMode`, `HostConfig.IpcMode` or `HostConfig.PidMode`.
        field: &'static str,
        /// The mode asked for.
        mode: String,
        /// `network`, `ipc` or `pid`.
        kind: &'static str,
    },
    /// `--init` asked for, and the daemon found no init binary to bind-mount.
    #[error(
        "--init needs an init binary and the daemon has none: start it with --init-path PATH \
         (a static berth-init or docker-init)"
    )]
    NoInitBinary,
    /// The user or group could not be resolved to numeric ids.
    #[error("unable to find {what} {name:?}: {reason}")]
    User {
        /// `user` or `group`.
        what: &'static str,
        /// The name asked for.
        name: String,
        /// Why it failed.
        reason: String,
    },
    /// A seccomp profile given with `--security-opt seccomp=...` that does not decode or
    /// filter.
    #[error("decoding seccomp profile failed: {0}")]
    Seccomp(String),
    /// oci-spec refused a value (should not happen: the values are checked before).
    #[error("building the OCI spec: {0}")]
    Oci(#[from] oci_spec::OciSpecError),
}

impl SpecError {
    pub(crate) fn unsupported(field: &'static str, value: impl std::fmt::Debug) -> Self {
        Self::Unsupported {
            field,
            value: format!("{value:?}").trim_matches('"').to_owned(),
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }
}
