//! The Authorization a request carries, as the registry's last challenge
//! asked (see auth.rs for the challenges and the token server), and what a
//! 401 answer's challenge teaches the client.

use reqwest::header;

use super::endpoint::Endpoint;
use super::Registry;
use crate::auth::{parse_challenges, Challenge, Credentials};
use crate::error::RegistryError;

impl Registry {
    /// The Authorization value for `scopes` at `ep`, as its last challenge
    /// asked (none before the first challenge).
    pub(super) async fn authorization(
        &self,
        ep: &Endpoint,
        scopes: &str,
    ) -> Result<Option<String>, RegistryError> {
        let challenge = {
            let challenges = self
                .inner
                .challenges
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            challenges.get(&ep.key()).cloned()
        };
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic { .. }) => Ok(self
                .inner
                .creds
                .as_ref()
                .and_then(Credentials::basic_header)),
            Some(Challenge::Bearer { realm, service, .. }) => {
                let key = ep.key();
                if let Some(token) = self.inner.tokens.get(&key, scopes) {
                    return Ok(Some(format!("Bearer {token}")));
                }
                let token = self
                    .inner
                    .tokens
                    .fetch(
                        &self.inner.http,
                        &self.inner.name,
                        &key,
                        &realm,
                        service.as_deref(),
                        scopes,
                        self.inner.creds.as_ref(),
                    )
                    .await?;
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    /// Learns from a 401 answer's `WWW-Authenticate`: remembers its
    /// challenge for `ep` (forgetting the token cached for the scopes) and
    /// adds to `scopes` what a Bearer challenge names. False when the
    /// answer is final: no usable challenge, or Basic without credentials.
    pub(super) fn learn_challenge(
        &self,
        ep: &Endpoint,
        resp: &reqwest::Response,
        scopes: &mut Vec<String>,
        scope_key: &mut String,
    ) -> bool {
        let header = resp
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ");
        let challenge = parse_challenges(&header)
            .into_iter()
            .min_by_key(|c| matches!(c, Challenge::Basic { .. }));
        let Some(challenge) = challenge else {
            return false;
        };
        if let Challenge::Bearer {
            scope: Some(extra), ..
        } = &challenge
        {
            // Add what the challenge names for resources we did not
            // ask about (our own actions win for those we did), so
            // the cache key of the next request stays the same.
            let resource = |s: &str| s.rsplit_once(':').map(|(r, _)| r.to_owned());
            for s in extra.split(' ').filter(|s| !s.is_empty()) {
                if !scopes.iter().any(|have| resource(have) == resource(s)) {
                    scopes.push(s.to_owned());
                }
            }
            scopes.sort();
            *scope_key = scopes.join(" ");
        }
        if matches!(challenge, Challenge::Basic { .. }) && self.inner.creds.is_none() {
            return false;
        }
        self.inner.tokens.forget(&ep.key(), scope_key);
        self.inner
            .challenges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(ep.key(), challenge);
        true
    }
}
