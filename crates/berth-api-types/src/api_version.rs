//! API versions as Docker numbers them ("1.41"), compared part by part, and the range berthd
//! supports.

use std::cmp::Ordering;
use std::fmt;

/// The version berthd implements and advertises in `Api-Version`.
pub const API_VERSION: &str = "1.41";

/// The oldest version berthd accepts in a `/vX.Y` prefix.
pub const MIN_API_VERSION: &str = "1.24";

/// A version from a `/vX.Y` path prefix. Compared as moby compares them: numerically, part by
/// part, a missing or unparsable part counting as 0.
#[derive(Debug, Clone)]
pub struct ApiVersion {
    text: String,
}

impl ApiVersion {
    /// The version in a path segment's text (after the `v`): digits and dots only.
    pub fn parse(text: &str) -> Option<ApiVersion> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return None;
        }
        Some(ApiVersion { text: text.into() })
    }

    /// The version berthd speaks when the client names none.
    pub fn current() -> ApiVersion {
        ApiVersion {
            text: API_VERSION.into(),
        }
    }

    /// The version as the client wrote it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn parts(&self) -> impl Iterator<Item = u64> + '_ {
        self.text.split('.').map(|p| p.parse().unwrap_or(0))
    }

    /// Whether this version is at least `other` (e.g. to gate a field added in 1.40).
    pub fn at_least(&self, other: &str) -> bool {
        ApiVersion::parse(other).is_some_and(|o| self.cmp(&o) != Ordering::Less)
    }
}

impl PartialEq for ApiVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for ApiVersion {}

impl PartialOrd for ApiVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ApiVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let (mut a, mut b) = (self.parts(), other.parts());
        loop {
            match (a.next(), b.next()) {
                (None, None) => return Ordering::Equal,
                (x, y) => match x.unwrap_or(0).cmp(&y.unwrap_or(0)) {
                    Ordering::Equal => {}
                    o => return o,
                },
            }
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> ApiVersion {
        ApiVersion::parse(s).unwrap()
    }

    #[test]
    fn compares_numerically() {
        assert!(v("1.9") < v("1.10"));
        assert!(v("1.41") > v("1.24"));
        assert_eq!(v("1.41"), v("1.41.0"));
        assert!(v("2") > v("1.99"));
        assert!(v("1.41").at_least("1.40"));
        assert!(!v("1.24").at_least("1.25"));
    }

    #[test]
    fn rejects_non_versions() {
        assert!(ApiVersion::parse("").is_none());
        assert!(ApiVersion::parse("1.a").is_none());
        assert!(ApiVersion::parse("foo").is_none());
    }
}
