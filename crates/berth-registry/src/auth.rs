//! Registry authentication as the distribution token spec describes it.
//!
//! A registry that wants credentials answers 401 with a `WWW-Authenticate`
//! challenge: `Basic realm="..."` (send the user and password on every
//! request) or `Bearer realm="https://auth/token",service="...",scope="..."`
//! (GET the realm with `service` and one `scope` parameter per
//! `repository:<name>:<actions>`, with basic credentials if there are any,
//! and send the `token` (or OAuth2 `access_token`) of its JSON answer as
//! `Authorization: Bearer`). An identity token from `login` is exchanged by
//! POSTing the OAuth2 `refresh_token` grant to the realm instead.
//!
//! Tokens are cached per (registry, scope set) until shortly before they
//! expire (`expires_in`, 60 s when absent as the spec says), so a pull of
//! many blobs from one repository asks the token server once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use berth_dockerconfig::Credentials;

use crate::error::{ErrorKind, RegistryError};

/// One challenge of a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic {
        realm: String,
    },
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header into its challenges (RFC 7235:
/// `scheme param=value, param="quoted", Scheme2 ...`). Schemes other than
/// Basic and Bearer are skipped; a Bearer challenge without a realm is
/// unusable and skipped too.
pub(crate) fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out = Vec::new();
    let mut scheme: Option<String> = None;
    let mut params: HashMap<String, String> = HashMap::new();
    let mut rest = header.trim();

    fn flush(
        scheme: Option<String>,
        params: &mut HashMap<String, String>,
        out: &mut Vec<Challenge>,
    ) {
        let Some(scheme) = scheme else { return };
        let realm = params.remove("realm");
        match (scheme.to_ascii_lowercase().as_str(), realm) {
            ("basic", realm) => out.push(Challenge::Basic {
                realm: realm.unwrap_or_default(),
            }),
            ("bearer", Some(realm)) => out.push(Challenge::Bearer {
                realm,
                service: params.remove("service"),
                scope: params.remove("scope"),
            }),
            _ => {}
        }
        params.clear();
    }

    while !rest.is_empty() {
        rest = rest.trim_start_matches([',', ' ', '\t']);
        if rest.is_empty() {
            break;
        }
        let token_end = rest.find(['=', ' ', '\t', ',']).unwrap_or(rest.len());
        let token = &rest[..token_end];
        let after = rest[token_end..].trim_start_matches([' ', '\t']);
        if let Some(value_part) = after.strip_prefix('=') {
            // A parameter of the current challenge.
            let value_part = value_part.trim_start_matches([' ', '\t']);
            let (value, remaining) = if let Some(quoted) = value_part.strip_prefix('"') {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let mut end = quoted.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, escaped)) = chars.next() {
                                value.push(escaped);
                            }
                        }
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        c => value.push(c),
                    }
                }
                (value, &quoted[end.min(quoted.len())..])
            } else {
                let end = value_part
                    .find([',', ' ', '\t'])
                    .unwrap_or(value_part.len());
                (value_part[..end].to_owned(), &value_part[end..])
            };
            params.insert(token.to_ascii_lowercase(), value);
            rest = remaining;
        } else {
            // A new scheme.
            flush(scheme.take(), &mut params, &mut out);
            scheme = Some(token.to_owned());
            rest = after;
        }
    }
    flush(scheme, &mut params, &mut out);
    out
}

/// The JSON answer of a token server.
#[derive(serde::Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: String,
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

struct CachedToken {
    token: String,
    valid_until: Instant,
}

/// Bearer tokens of one registry client, keyed by (endpoint host, scopes).
#[derive(Default)]
pub(crate) struct TokenCache {
    tokens: Mutex<HashMap<(String, String), CachedToken>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCache")
    }
}

/// Tokens this close to their expiry are fetched anew.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);
/// The spec's default lifetime when the answer has no `expires_in`.
const DEFAULT_EXPIRY: Duration = Duration::from_secs(60);

impl TokenCache {
    pub(crate) fn get(&self, host: &str, scopes: &str) -> Option<String> {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens
            .get(&(host.to_owned(), scopes.to_owned()))
            .filter(|t| t.valid_until > Instant::now())
            .map(|t| t.token.clone())
    }

    pub(crate) fn forget(&self, host: &str, scopes: &str) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.remove(&(host.to_owned(), scopes.to_owned()));
    }

    fn put(&self, host: &str, scopes: &str, token: String, lifetime: Duration) {
        let valid_until = Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN);
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.retain(|_, t| t.valid_until > Instant::now());
        tokens.insert(
            (host.to_owned(), scopes.to_owned()),
            CachedToken { token, valid_until },
        );
    }

    /// Fetches a token for `scopes` (space-separated, may be empty) from a
    /// bearer challenge's realm and caches it.
    #[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
    pub(crate) async fn fetch(
        &self,
        http: &reqwest::Client,
        registry: &str,
        host: &str,
        realm: &str,
        service: Option<&str>,
        scopes: &str,
        creds: Option<&Credentials>,
    ) -> Result<String, RegistryError> {
        let fail = |reason: String, kind: ErrorKind| RegistryError::Token {
            registry: registry.to_owned(),
            realm: realm.to_owned(),
            scope: if scopes.is_empty() {
                "/v2/".to_owned()
            } else {
                scopes.to_owned()
            },
            reason,
            kind,
        };
        let url = reqwest::Url::parse(realm)
            .map_err(|e| fail(format!("bad realm URL: {e}"), ErrorKind::InvalidInput))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(fail(
                "realm is not an http(s) URL".into(),
                ErrorKind::InvalidInput,
            ));
        }
        let request = match creds {
            Some(Credentials::IdentityToken { token }) => {
                let mut form: Vec<(&str, &str)> = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token),
                    ("client_id", "berth"),
                ];
                if let Some(service) = service {
                    form.push(("service", service));
                }
                let joined;
                if !scopes.is_empty() {
                    joined = scopes.to_owned();
                    form.push(("scope", &joined));
                }
                let body = form
                    .iter()
                    .map(|(k, v)| format!("{}={}", form_escape(k), form_escape(v)))
                    .collect::<Vec<_>>()
                    .join("&");
                http.post(url)
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(body)
            }
            other => {
                let mut url = url;
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(service) = service {
                        q.append_pair("service", service);
                    }
                    for scope in scopes.split(' ').filter(|s| !s.is_empty()) {
                        q.append_pair("scope", scope);
                    }
                }
                let mut request = http.get(url);
                if let Some(basic) = other.and_then(Credentials::basic_header) {
                    request = request.header(reqwest::header::AUTHORIZATION, basic);
                }
                request
            }
        };
        let response = request
            .send()
            .await
            .map_err(|e| fail(format!("request failed: {e}"), ErrorKind::Unavailable))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| fail(format!("reading the answer: {e}"), ErrorKind::Unavailable))?;
        if !status.is_success() {
            let kind = match status.as_u16() {
                401 | 403 => ErrorKind::Unauthorized,
                429 | 500..=599 => ErrorKind::Unavailable,
                _ => ErrorKind::InvalidInput,
            };
            let remote = crate::error::parse_remote(status.as_u16(), &body);
            return Err(fail(format!("{remote}"), kind));
        }
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| fail(format!("bad JSON answer: {e}"), ErrorKind::Unavailable))?;
        let token = if parsed.token.is_empty() {
            parsed.access_token
        } else {
            parsed.token
        };
        if token.is_empty() {
            return Err(fail(
                "the answer has no token".into(),
                ErrorKind::Unavailable,
            ));
        }
        let lifetime = parsed
            .expires_in
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_EXPIRY)
            .max(DEFAULT_EXPIRY);
        self.put(host, scopes, token.clone(), lifetime);
        Ok(token)
    }
}

/// `application/x-www-form-urlencoded` escaping of one key or value.
fn form_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The scope string a request needs: `repository:<repo>:<actions>`.
pub(crate) fn repo_scope(repo: &str, actions: &str) -> String {
    format!("repository:{repo}:{actions}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenge() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(
            c,
            vec![Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull".into()),
            }]
        );
    }

    #[test]
    fn parses_basic_and_several_challenges() {
        assert_eq!(
            parse_challenges(r#"Basic realm="basic-realm""#),
            vec![Challenge::Basic {
                realm: "basic-realm".into()
            }]
        );
        let c = parse_challenges(
            r#"Negotiate, Basic realm="r\"q", Bearer realm=https://t/token , service=reg"#,
        );
        assert_eq!(
            c,
            vec![
                Challenge::Basic {
                    realm: "r\"q".into()
                },
                Challenge::Bearer {
                    realm: "https://t/token".into(),
                    service: Some("reg".into()),
                    scope: None
                }
            ]
        );
        assert!(parse_challenges("Bearer service=x").is_empty());
        assert!(parse_challenges("").is_empty());
    }

    #[test]
    fn scopes_with_commas_stay_whole() {
        let c = parse_challenges(r#"Bearer realm="http://t",scope="repository:a/b:pull,push""#);
        assert_eq!(
            c,
            vec![Challenge::Bearer {
                realm: "http://t".into(),
                service: None,
                scope: Some("repository:a/b:pull,push".into())
            }]
        );
    }

    #[test]
    fn token_cache_expires() {
        let cache = TokenCache::default();
        cache.put("h", "s", "t".into(), Duration::from_secs(60));
        assert_eq!(cache.get("h", "s").as_deref(), Some("t"));
        assert_eq!(cache.get("h", "other"), None);
        cache.put("h", "short", "t".into(), Duration::from_secs(5));
        assert_eq!(cache.get("h", "short"), None, "inside the expiry margin");
        cache.forget("h", "s");
        assert_eq!(cache.get("h", "s"), None);
    }

    #[test]
    fn form_escapes() {
        assert_eq!(form_escape("a b/c"), "a+b%2Fc");
    }
}
