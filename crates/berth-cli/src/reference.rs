//! Image references as docker's CLI normalises them before it calls the API
//! (`busybox` → `docker.io/library/busybox:latest`), and the registry each one lives on.

use crate::error::CliError;

/// The registry docker uses for names without a domain.
pub const DOCKER_IO: &str = "docker.io";

/// A parsed, normalised reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `docker.io`, `127.0.0.1:5000`, `localhost`...
    pub domain: String,
    /// `library/busybox`.
    pub path: String,
    pub tag: Option<String>,
    /// `sha256:...`.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses `s` as docker's `ParseNormalizedNamed` does.
    pub fn parse(s: &str) -> Result<Reference, CliError> {
        let invalid = |why: &str| CliError::Reference {
            reference: s.to_string(),
            reason: why.to_string(),
        };
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                let (algo, hex) = d
                    .split_once(':')
                    .ok_or_else(|| invalid("invalid reference format"))?;
                if algo.is_empty() || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    return Err(invalid("invalid reference format"));
                }
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[slash..].rfind(':') {
            Some(i) => (&rest[..slash + i], Some(rest[slash + i + 1..].to_string())),
            None => (rest, None),
        };
        if let Some(t) = &tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
                && !t.starts_with(['.', '-']);
            if !ok {
                return Err(invalid("invalid reference format"));
            }
        }
        if name.is_empty() {
            return Err(invalid("invalid reference format"));
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.')
                    || first.contains(':')
                    || first == "localhost"
                    || first.chars().any(|c| c.is_ascii_uppercase()) =>
            {
                (first.to_string(), rest.to_string())
            }
            Some(_) => (DOCKER_IO.to_string(), name.to_string()),
            None => (DOCKER_IO.to_string(), format!("library/{name}")),
        };
        let domain = if domain == "index.docker.io" {
            DOCKER_IO.to_string()
        } else {
            domain
        };
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(invalid(
                "invalid reference format: repository name must be lowercase",
            ));
        }
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                && c.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
        };
        if !path.split('/').all(component_ok) {
            return Err(invalid("invalid reference format"));
        }
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// With `latest` when it has neither tag nor digest (`reference.TagNameOnly`).
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some("latest".into());
        }
        self
    }

    /// `docker.io/library/busybox`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// `busybox` (`reference.FamiliarName`).
    pub fn familiar_name(&self) -> String {
        if self.domain == DOCKER_IO {
            self.path
                .strip_prefix("library/")
                .filter(|p| !p.contains('/'))
                .unwrap_or(&self.path)
                .to_string()
        } else {
            self.full_name()
        }
    }

    fn suffix(&self) -> String {
        let mut s = String::new();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// `docker.io/library/busybox:latest`, as `docker pull` prints at the end.
    pub fn full(&self) -> String {
        self.full_name() + &self.suffix()
    }

    /// `busybox:latest` (`reference.FamiliarString`).
    pub fn familiar(&self) -> String {
        self.familiar_name() + &self.suffix()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_docker() {
        let r = Reference::parse("busybox").unwrap().with_default_tag();
        assert_eq!(r.full(), "docker.io/library/busybox:latest");
        assert_eq!(r.familiar(), "busybox:latest");
        let r = Reference::parse("127.0.0.1:5000/a/b:v1").unwrap();
        assert_eq!(
            (r.domain.as_str(), r.path.as_str(), r.tag.as_deref()),
            ("127.0.0.1:5000", "a/b", Some("v1"))
        );
        assert_eq!(r.familiar_name(), "127.0.0.1:5000/a/b");
        let r = Reference::parse("localhost/x").unwrap();
        assert_eq!(r.domain, "localhost");
        let r = Reference::parse("user/app").unwrap();
        assert_eq!(r.full_name(), "docker.io/user/app");
        assert_eq!(r.familiar_name(), "user/app");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("busybox@{d}")).unwrap();
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert_eq!(r.clone().with_default_tag().tag, None);
        for bad in ["", "Busybox", "a:", "a::b", "a@sha256:zz", "a/-b", ":x"] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }
}
