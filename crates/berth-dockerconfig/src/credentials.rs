//! [`Credentials`] for one registry, as docker's config stores them.

use base64::Engine as _;

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A user name and password (or personal access token).
    Basic { username: String, password: String },
    /// An OAuth2 refresh token that `docker login` stored as `identitytoken`.
    IdentityToken { token: String },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Self::IdentityToken { .. } => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

impl Credentials {
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    /// base64 of `user:password` (the config's `auth` field, and what an
    /// `Authorization: Basic` header carries), for basic credentials.
    pub fn basic_token(&self) -> Option<String> {
        match self {
            Self::Basic { username, password } => Some(
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}")),
            ),
            Self::IdentityToken { .. } => None,
        }
    }

    /// The `Authorization: Basic` value, for basic credentials.
    pub fn basic_header(&self) -> Option<String> {
        self.basic_token().map(|t| format!("Basic {t}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_and_redaction() {
        let c = Credentials::basic("user", "pass");
        assert_eq!(c.basic_header().as_deref(), Some("Basic dXNlcjpwYXNz"));
        assert!(!format!("{c:?}").contains("pass\""));
        let t = Credentials::IdentityToken { token: "t".into() };
        assert_eq!(t.basic_header(), None);
        assert_eq!(format!("{t:?}"), "IdentityToken(<redacted>)");
    }
}
