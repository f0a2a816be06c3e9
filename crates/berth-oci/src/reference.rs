//! Image references with docker's grammar, normalisation and messages
//! (distribution/reference):
//!
//! ```text
//! reference       := name [ ":" tag ] [ "@" digest ]
//! name            := [domain '/'] remote-name
//! domain          := host [':' port-number]
//! host            := domain-name | '[' IPv6 ']'     domain-name := component ('.' component)*
//! component       := /[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]/
//! remote-name     := path-component ('/' path-component)*
//! path-component  := /[a-z0-9]+/ (separator /[a-z0-9]+/)*     separator := [._] | '__' | '-'+
//! tag             := /[\w][\w.-]{0,127}/
//! digest          := algorithm ':' hex{32,}  (then validated as a sha256 digest)
//! ```
//!
//! The path (remote name without the domain) is at most 255 characters.
//! Normalisation is docker's `ParseNormalizedNamed`: a first component
//! that has no `.` or `:`, is not `localhost` and is lower case is not a
//! domain, so `busybox` is `docker.io/library/busybox` and `index.docker.io`
//! is `docker.io`; the familiar form drops `docker.io/` and `library/` again.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use crate::digest::{Digest, DigestError};

/// A reference that docker would refuse, with docker's message (word for
/// word: the docker CLI shows it to users who may compare it with dockerd's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference format")]
    InvalidFormat { input: String },
    #[error("invalid reference format: repository name ({remote}) must be lowercase")]
    Uppercase { input: String, remote: String },
    /// Raised by the strict (non-normalising) parser; docker's `Parse`.
    #[error("repository name must be lowercase")]
    NameContainsUppercase { input: String },
    #[error("repository name must have at least one component")]
    NameEmpty,
    #[error("repository name must not be more than 255 characters")]
    NameTooLong { input: String },
    #[error("invalid repository name ({input}), cannot specify 64-byte hexadecimal strings")]
    HexName { input: String },
    #[error("invalid tag format")]
    InvalidTag { tag: String },
    #[error(transparent)]
    Digest(#[from] DigestError),
}

/// docker's default registry domain.
pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag a reference without tag or digest gets.
pub const DEFAULT_TAG: &str = "latest";
/// Longest allowed path (remote name without the domain).
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;

const ALPHANUMERIC: &str = r"[a-z0-9]+";
const SEPARATOR: &str = r"(?:[._]|__|[-]+)";
const DOMAIN_COMPONENT: &str = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const TAG: &str = r"[0-9A-Za-z_][0-9A-Za-z_.-]{0,127}";
const DIGEST: &str = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}";

fn domain_and_port() -> String {
    let domain_name = format!(r"{DOMAIN_COMPONENT}(?:\.{DOMAIN_COMPONENT})*");
    format!(r"(?:{domain_name}|\[(?:[a-fA-F0-9:]+)\])(?::[0-9]+)?")
}

fn remote_name() -> String {
    let path_component = format!("{ALPHANUMERIC}(?:{SEPARATOR}{ALPHANUMERIC})*");
    format!("{path_component}(?:/{path_component})*")
}

/// The patterns are constants; a failure to compile them is a bug caught by
/// every test, so it may panic.
#[allow(clippy::expect_used)]
fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("reference pattern compiles")
}

static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        "^((?:{}/)?{})(?::({TAG}))?(?:@({DIGEST}))?$",
        domain_and_port(),
        remote_name()
    ))
});
static ANCHORED_NAME: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        "^(?:({})/)?({})$",
        domain_and_port(),
        remote_name()
    ))
});
static ANCHORED_TAG: LazyLock<Regex> = LazyLock::new(|| compile(&format!("^{TAG}$")));
static IDENTIFIER: LazyLock<Regex> = LazyLock::new(|| compile("^[a-f0-9]{64}$"));

/// A normalised image reference: always a domain and a path, a tag and/or a
/// digest when given. `Display` is the full form
/// (`docker.io/library/busybox:latest`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses what a user typed, as docker's `ParseNormalizedNamed`: adds
    /// `docker.io` and `library/` where docker would. No default tag is
    /// added (see [`Reference::with_default_tag`]).
    pub fn parse_normalized(s: &str) -> Result<Self, ReferenceError> {
        if IDENTIFIER.is_match(s) {
            return Err(ReferenceError::HexName { input: s.into() });
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = remainder
            .split_once(':')
            .map_or(remainder.as_str(), |(r, _)| r);
        if remote.to_lowercase() != remote {
            return Err(ReferenceError::Uppercase {
                input: s.into(),
                remote: remote.into(),
            });
        }
        let r = Self::parse_strict(&format!("{domain}/{remainder}"))?;
        Ok(r)
    }

    /// docker's `ParseDockerRef`: normalised, `latest` when neither tag nor
    /// digest is given, and the tag dropped when both are (the digest wins).
    pub fn parse_docker_ref(s: &str) -> Result<Self, ReferenceError> {
        let mut r = Self::parse_normalized(s)?;
        if r.digest.is_some() {
            r.tag = None;
        }
        Ok(r.with_default_tag())
    }

    /// docker's `Parse`: the grammar as it is, no normalisation. A reference
    /// without a domain component keeps an empty domain.
    pub fn parse_strict(s: &str) -> Result<Self, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::NameEmpty);
        }
        let Some(caps) = REFERENCE.captures(s) else {
            let lower = s.to_lowercase();
            if lower != s && REFERENCE.is_match(&lower) {
                return Err(ReferenceError::NameContainsUppercase { input: s.into() });
            }
            return Err(ReferenceError::InvalidFormat { input: s.into() });
        };
        let name = caps.get(1).map_or("", |m| m.as_str());
        let (domain, path) = match ANCHORED_NAME.captures(name) {
            Some(n) => (
                n.get(1).map_or("", |m| m.as_str()),
                n.get(2).map_or("", |m| m.as_str()),
            ),
            None => ("", name),
        };
        if path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong { input: s.into() });
        }
        let digest = match caps.get(3) {
            Some(d) => Some(Digest::parse(d.as_str())?),
            None => None,
        };
        if path.is_empty() {
            return Err(ReferenceError::NameEmpty);
        }
        Ok(Reference {
            domain: domain.into(),
            path: path.into(),
            tag: caps.get(2).map(|m| m.as_str().to_owned()),
            digest,
        })
    }

    /// Adds the `latest` tag when there is neither tag nor digest
    /// (docker's `TagNameOnly`).
    pub fn with_default_tag(mut self) -> Self {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.into());
        }
        self
    }

    /// The same repository with `tag` (validated) and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Self, ReferenceError> {
        validate_tag(tag)?;
        Ok(Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: Some(tag.into()),
            digest: None,
        })
    }

    /// The same repository with `digest` and no tag (a canonical reference).
    pub fn with_digest(&self, digest: Digest) -> Self {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: Some(digest),
        }
    }

    /// The repository alone, without tag or digest.
    pub fn repository(&self) -> Self {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    /// `docker.io`, `localhost:5000`, `[::1]:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The full repository name: `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        if self.domain.is_empty() {
            self.path.clone()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// The repository name as docker shows it: `busybox`, `user/app`,
    /// `localhost:5000/x`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_owned(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    /// The whole reference as docker shows it: `busybox:latest`,
    /// `localhost:5000/x@sha256:...`.
    pub fn familiar(&self) -> String {
        self.render(self.familiar_name())
    }

    fn render(&self, mut s: String) -> String {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d.as_str());
        }
        s
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(self.name()))
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;
    /// [`Reference::parse_normalized`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_normalized(s)
    }
}

/// Serialised as the full string (`docker.io/library/busybox:latest`).
impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Read with [`Reference::parse_normalized`].
impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Reference::parse_normalized(&s).map_err(serde::de::Error::custom)
    }
}

/// True for the names of Docker Hub: `docker.io`, the legacy
/// `index.docker.io`, and `registry-1.docker.io`, where its API is served.
pub fn is_docker_hub(host: &str) -> bool {
    matches!(
        host,
        DEFAULT_DOMAIN | LEGACY_DEFAULT_DOMAIN | "registry-1.docker.io"
    )
}

/// Checks a tag on its own (`docker tag IMAGE repo:TAG`).
pub fn validate_tag(tag: &str) -> Result<(), ReferenceError> {
    if ANCHORED_TAG.is_match(tag) {
        Ok(())
    } else {
        Err(ReferenceError::InvalidTag { tag: tag.into() })
    }
}

/// docker's `splitDockerDomain`: the domain (explicit or `docker.io`) and
/// the rest, with `library/` added to official images.
fn split_docker_domain(name: &str) -> (String, String) {
    let (domain, mut remainder) = match name.split_once('/') {
        None => (DEFAULT_DOMAIN.to_owned(), name.to_owned()),
        Some((first, rest)) => {
            if first == "localhost" || first.contains(['.', ':']) || first.to_lowercase() != first {
                (first.to_owned(), rest.to_owned())
            } else {
                (DEFAULT_DOMAIN.to_owned(), name.to_owned())
            }
        }
    };
    let domain = if domain == LEGACY_DEFAULT_DOMAIN {
        DEFAULT_DOMAIN.to_owned()
    } else {
        domain
    };
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("{OFFICIAL_REPO_PREFIX}{remainder}");
    }
    (domain, remainder)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

    fn norm(s: &str) -> Result<String, String> {
        Reference::parse_normalized(s)
            .map(|r| r.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn normalises_as_docker() {
        let cases = [
            ("busybox", "docker.io/library/busybox"),
            ("busybox:latest", "docker.io/library/busybox:latest"),
            ("library/busybox:1.36", "docker.io/library/busybox:1.36"),
            ("docker.io/busybox", "docker.io/library/busybox"),
            ("index.docker.io/busybox", "docker.io/library/busybox"),
            ("index.docker.io/user/app", "docker.io/user/app"),
            ("user/app:v1", "docker.io/user/app:v1"),
            ("localhost/app", "localhost/app"),
            ("localhost:5000/x", "localhost:5000/x"),
            ("localhost:5000/x:tag", "localhost:5000/x:tag"),
            ("127.0.0.1:5000/docker/docker", "127.0.0.1:5000/docker/docker"),
            ("192.168.0.1", "docker.io/library/192.168.0.1"),
            ("192.168.0.1:80", "docker.io/library/192.168.0.1:80"),
            ("192.168.0.1:8/debian", "192.168.0.1:8/debian"),
            ("[fc00::1]:5000/docker", "[fc00::1]:5000/docker"),
            ("[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000/library/debian"),
            ("LOCALDOMAIN/debian", "LOCALDOMAIN/debian"),
            ("Docker/docker", "Docker/docker"),
            ("docker-rules/docker", "docker.io/docker-rules/docker"),
            ("docker---rules/docker", "docker.io/docker---rules/docker"),
            ("dock__er/docker", "docker.io/dock__er/docker"),
            ("d/docker", "docker.io/d/docker"),
            ("lowercase:Uppercase", "docker.io/library/lowercase:Uppercase"),
            (
                "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
                "docker.io/library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
            ),
            ("thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev"),
        ];
        for (input, want) in cases {
            assert_eq!(norm(input).as_deref(), Ok(want), "{input}");
        }
        let with_digest = format!("busybox@{D}");
        assert_eq!(
            norm(&with_digest).unwrap(),
            format!("docker.io/library/busybox@{D}")
        );
        let both = format!("localhost:5000/a/b:tag@{D}");
        let r = Reference::parse_normalized(&both).unwrap();
        assert_eq!(r.domain(), "localhost:5000");
        assert_eq!(r.path(), "a/b");
        assert_eq!(r.tag(), Some("tag"));
        assert_eq!(r.digest().map(Digest::as_str), Some(D));
    }

    #[test]
    fn refuses_as_docker_with_its_messages() {
        let invalid = "invalid reference format";
        let cases: &[(&str, &str)] = &[
            ("https://github.com/docker/docker", invalid),
            ("-docker", invalid),
            ("-docker/docker", invalid),
            ("-docker.io/docker/docker", invalid),
            ("docker///docker", invalid),
            ("docker.io/docker///docker", invalid),
            ("[fc00::1]", invalid),
            ("[fc00::1]:5000", invalid),
            ("fc00::1:5000/debian", invalid),
            ("[fe80::1%eth0]:5000/debian", invalid),
            ("[2001:db8:3:4::192.0.2.33]:5000/debian", invalid),
            ("docker-/docker", invalid),
            ("-docker-/docker", invalid),
            ("____/____", invalid),
            ("_docker/_docker", invalid),
            ("dock..er/docker", invalid),
            ("dock_.er/docker", invalid),
            ("dock-.er/docker", invalid),
            ("docker/", invalid),
            (":justtag", invalid),
            ("aa/asdf$$^/aa", invalid),
            ("busybox:", invalid),
            ("busybox:-tag", invalid),
            ("busybox@", invalid),
            ("", invalid),
            (
                "docker/Docker",
                "invalid reference format: repository name (docker/Docker) must be lowercase",
            ),
            (
                "Busybox",
                "invalid reference format: repository name (library/Busybox) must be lowercase",
            ),
            (
                "Busybox:Tag",
                "invalid reference format: repository name (library/Busybox) must be lowercase",
            ),
            (
                "docker.io/docker/Docker",
                "invalid reference format: repository name (docker/Docker) must be lowercase",
            ),
            ("test:5000/Uppercase/lowercase:tag", "invalid reference format: repository name (Uppercase/lowercase) must be lowercase"),
            (
                "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
                "invalid repository name (1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a), cannot specify 64-byte hexadecimal strings",
            ),
            ("repo@sha256:ffffffffffffffffffffffffffffffffff", "invalid checksum digest length"),
            (
                "validname@invaliddigest:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                "unsupported digest algorithm",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                norm(input).map_err(|e| e == *want),
                Err(true),
                "{input:?}: {:?}",
                norm(input)
            );
        }
        let long = format!("this_is_{}/docker", "x".repeat(250));
        assert_eq!(
            norm(&long).unwrap_err(),
            "repository name must not be more than 255 characters"
        );
        let sha512 = format!("validname@sha512:{}", "f".repeat(128));
        assert_eq!(norm(&sha512).unwrap_err(), "unsupported digest algorithm");
        // An empty string is normalised to "docker.io/library/", which is a bad format.
        assert!(matches!(
            Reference::parse_normalized(""),
            Err(ReferenceError::InvalidFormat { .. })
        ));
    }

    #[test]
    fn strict_parse_table() {
        // (input, domain, path, tag) from distribution/reference's own table.
        let ok = [
            ("test_com", "", "test_com", None),
            ("test.com:tag", "", "test.com", Some("tag")),
            ("test.com:5000", "", "test.com", Some("5000")),
            ("test.com/repo:tag", "test.com", "repo", Some("tag")),
            ("test:5000/repo", "test:5000", "repo", None),
            ("test:5000/repo:tag", "test:5000", "repo", Some("tag")),
            ("lowercase:Uppercase", "", "lowercase", Some("Uppercase")),
            (
                "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
                "sub-dom1.foo.com",
                "bar/baz/quux",
                Some("some-long-tag"),
            ),
            (
                "b.gcr.io/test.example.com/my-app:test.example.com",
                "b.gcr.io",
                "test.example.com/my-app",
                Some("test.example.com"),
            ),
            (
                "xn--n3h.com/myimage:xn--n3h.com",
                "xn--n3h.com",
                "myimage",
                Some("xn--n3h.com"),
            ),
            ("foo_bar.com:8080", "", "foo_bar.com", Some("8080")),
            ("foo/foo_bar.com:8080", "foo", "foo_bar.com", Some("8080")),
            ("192.168.1.1", "", "192.168.1.1", None),
            (
                "192.168.1.1:5000/repo:5050",
                "192.168.1.1:5000",
                "repo",
                Some("5050"),
            ),
            ("[2001:db8::1]/repo", "[2001:db8::1]", "repo", None),
            ("[2001:db8::]:5000/repo", "[2001:db8::]:5000", "repo", None),
            ("[::1]:5000/repo", "[::1]:5000", "repo", None),
        ];
        for (input, domain, path, tag) in ok {
            let r = Reference::parse_strict(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(
                (r.domain(), r.path(), r.tag()),
                (domain, path, tag),
                "{input}"
            );
        }
        let with_digest = format!("[2001:db8::1]:5000/repo:tag@{D}");
        let r = Reference::parse_strict(&with_digest).unwrap();
        assert_eq!(r.domain(), "[2001:db8::1]:5000");
        assert_eq!(r.digest().map(Digest::as_str), Some(D));

        let max = format!("example.com/{}:tag", "a".repeat(255));
        assert!(Reference::parse_strict(&max).is_ok());
        let over = format!("domain/{}:tag", "a".repeat(256));
        assert!(matches!(
            Reference::parse_strict(&over),
            Err(ReferenceError::NameTooLong { .. })
        ));
        let many = format!("{}a:tag-puts-this-over-max", "a/".repeat(127));
        let r = Reference::parse_strict(&many).unwrap();
        assert_eq!(r.domain(), "a");

        assert!(matches!(
            Reference::parse_strict(""),
            Err(ReferenceError::NameEmpty)
        ));
        assert_eq!(
            Reference::parse_strict("Uppercase:tag")
                .unwrap_err()
                .to_string(),
            "repository name must be lowercase"
        );
        for bad in [
            "[2001:db8::1]",
            "[2001:db8::1]:5000",
            "[fe80::1%@invalidzone]:5000/repo",
            &format!("@{D}"),
        ] {
            assert!(
                matches!(
                    Reference::parse_strict(bad),
                    Err(ReferenceError::InvalidFormat { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn familiar_forms() {
        let f = |s: &str| Reference::parse_normalized(s).unwrap().familiar();
        assert_eq!(f("docker.io/library/busybox:latest"), "busybox:latest");
        assert_eq!(f("busybox"), "busybox");
        assert_eq!(f("docker.io/user/app:1"), "user/app:1");
        assert_eq!(f("docker.io/library/a/b"), "library/a/b");
        assert_eq!(f("localhost:5000/x:tag"), "localhost:5000/x:tag");
        assert_eq!(f("index.docker.io/library/busybox"), "busybox");
        assert_eq!(f(&format!("busybox@{D}")), format!("busybox@{D}"));
        let r = Reference::parse_normalized("busybox").unwrap();
        assert_eq!(r.name(), "docker.io/library/busybox");
        assert_eq!(r.familiar_name(), "busybox");
        // Normalised strings parse to themselves.
        let full = r.clone().with_default_tag().to_string();
        assert_eq!(full, "docker.io/library/busybox:latest");
        assert_eq!(
            Reference::parse_normalized(&full).unwrap().to_string(),
            full
        );
    }

    #[test]
    fn docker_ref_and_tags() {
        let r = Reference::parse_docker_ref("busybox").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        let r = Reference::parse_docker_ref(&format!("busybox:1.36@{D}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.to_string(), format!("docker.io/library/busybox@{D}"));

        let base = Reference::parse_normalized("localhost:5000/x").unwrap();
        assert_eq!(
            base.with_tag("v1.2_b-3").unwrap().familiar(),
            "localhost:5000/x:v1.2_b-3"
        );
        assert_eq!(
            base.with_tag(".x").unwrap_err().to_string(),
            "invalid tag format"
        );
        assert!(base.with_tag(&"a".repeat(128)).is_ok());
        assert!(base.with_tag(&"a".repeat(129)).is_err());
        assert!(validate_tag("Tag_1").is_ok());
        assert!(validate_tag("").is_err());
        assert!(validate_tag("a/b").is_err());
        let canonical = base.with_digest(Digest::parse(D).unwrap());
        assert_eq!(canonical.to_string(), format!("localhost:5000/x@{D}"));
        assert_eq!(canonical.repository().to_string(), "localhost:5000/x");
        let t: Reference = "busybox:1".parse().unwrap();
        assert_eq!(t.tag(), Some("1"));
        let j = serde_json::to_string(&t).unwrap();
        assert_eq!(j, "\"docker.io/library/busybox:1\"");
        assert_eq!(serde_json::from_str::<Reference>(&j).unwrap(), t);
        let e = serde_json::from_str::<Reference>("\"Busybox\"").unwrap_err();
        assert!(e.to_string().contains("must be lowercase"), "{e}");
    }
}
