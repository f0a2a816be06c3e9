//! Platforms (`os/arch[/variant]`), parsed, normalised and matched as
//! containerd's `platforms` package does, which is what docker uses.
//!
//! * [`Platform::parse`] reads a `--platform` value: `linux`, `arm64`,
//!   `linux/arm64`, `linux/arm/v7`; `aarch64` is `arm64`, `x86_64` is
//!   `amd64`, `armhf` is `arm/v7`, a single known OS gets the host's
//!   architecture and a single known architecture the host's OS.
//! * [`Platform::host`] is the platform of this machine (`linux/amd64` on
//!   x86-64).
//! * [`Matcher`] is containerd's `platforms.Only`: the platform and the
//!   ones that run on it, best first (`linux/amd64` also runs `linux/386`,
//!   `linux/arm64` runs `linux/arm/v8..v5`, `arm/v7` runs `arm/v6` and
//!   `arm/v5`; `arm64/v8` is `arm64`).
//! * [`Matcher::select`] picks the best entry of an index.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::descriptor::Descriptor;

/// A platform specifier or platform selection failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    #[error("{input:?}: unknown operating system or architecture: invalid argument")]
    Unknown { input: String },
    #[error("invalid platform {input:?}: {reason}")]
    Invalid { input: String, reason: &'static str },
    /// Docker's message when a single-platform image is for another platform.
    #[error(
        "image with reference {reference} was found but does not match the specified \
         platform: wanted {wanted}, actual: {actual}"
    )]
    Mismatch {
        reference: String,
        wanted: String,
        actual: String,
    },
    /// Docker's message when an index has nothing for the wanted platform.
    #[error("no matching manifest for {platform} in the manifest list entries")]
    NoMatch { platform: String },
}

impl PlatformError {
    /// True when the platform was understood but nothing matches it (a
    /// "not found", where the other variants are invalid input).
    pub fn is_no_match(&self) -> bool {
        matches!(
            self,
            PlatformError::NoMatch { .. } | PlatformError::Mismatch { .. }
        )
    }
}

/// An OCI platform, as in an index entry or an image config.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Docker's manifest-list-only CPU features (`sse4`); never matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
}

const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "windows",
    "zos",
];

const KNOWN_ARCH: &[&str] = &[
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "armbe",
    "arm64",
    "arm64be",
    "ppc64",
    "ppc64le",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "ppc",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
];

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        Platform {
            architecture: architecture.into(),
            os: os.into(),
            variant: variant.filter(|v| !v.is_empty()).map(Into::into),
            ..Platform::default()
        }
    }

    /// The platform of this machine, in Go's names (what images use).
    pub fn host() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "x86" => "386",
            "aarch64" => "arm64",
            "arm" => "arm",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "powerpc64" => "ppc64",
            "loongarch64" => "loong64",
            other => other,
        };
        let variant = match arch {
            "arm64" => Some("v8"),
            "arm" => Some("v7"),
            _ => None,
        };
        Platform::new("linux", arch, variant)
    }

    /// Parses a `--platform` specifier as containerd's `platforms.Parse`
    /// does (without Windows OS versions and features).
    pub fn parse(specifier: &str) -> Result<Self, PlatformError> {
        let invalid = |reason| PlatformError::Invalid {
            input: specifier.into(),
            reason,
        };
        if specifier.contains('*') {
            return Err(invalid("wildcards not yet supported"));
        }
        let parts: Vec<&str> = specifier.split('/').collect();
        if parts.len() > 3 {
            return Err(invalid("cannot parse platform specifier"));
        }
        for part in &parts {
            let ok = !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            if !ok {
                return Err(invalid("each component must match ^[A-Za-z0-9_.-]+$"));
            }
        }
        let host = Platform::host();
        let os = normalize_os(parts[0]);
        match parts.as_slice() {
            [_] if KNOWN_OS.contains(&os.as_str()) => Ok(Platform { os, ..host }),
            [arch] => {
                let (arch, mut variant) = normalize_arch(arch, "");
                if arch == "arm" && variant == "v7" {
                    variant.clear();
                }
                if KNOWN_ARCH.contains(&arch.as_str()) {
                    Ok(Platform::new(&host.os, &arch, Some(&variant)))
                } else {
                    Err(PlatformError::Unknown {
                        input: specifier.into(),
                    })
                }
            }
            [_, arch] => {
                let (arch, mut variant) = normalize_arch(arch, "");
                if arch == "arm" && variant == "v7" {
                    variant.clear();
                }
                Ok(Platform::new(&os, &arch, Some(&variant)))
            }
            [_, arch, variant] => {
                let (arch, mut variant) = normalize_arch(arch, variant);
                if arch == "arm64" && variant.is_empty() {
                    variant = "v8".into();
                }
                Ok(Platform::new(&os, &arch, Some(&variant)))
            }
            _ => Err(invalid("cannot parse platform specifier")),
        }
    }

    /// The normalised form that matching compares (`arm64/v8` is `arm64`,
    /// `arm` is `arm/v7`).
    pub fn normalize(&self) -> Self {
        let (architecture, variant) =
            normalize_arch(&self.architecture, self.variant.as_deref().unwrap_or(""));
        let os_features = self.os_features.as_ref().map(|f| {
            let mut f = f.clone();
            f.sort();
            f.dedup();
            f
        });
        Platform {
            os: normalize_os(&self.os),
            architecture,
            variant: Some(variant).filter(|v| !v.is_empty()),
            os_version: self.os_version.clone(),
            os_features,
            features: self.features.clone(),
        }
    }

    /// The containerd `Only` matcher for this platform.
    pub fn matcher(&self) -> Matcher {
        Matcher {
            wanted: self.clone(),
            vector: platform_vector(&self.normalize()),
        }
    }
}

/// `os/arch[/variant]`, containerd's `platforms.Format`.
impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.os.is_empty() {
            return f.write_str("unknown");
        }
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = self.variant.as_deref().filter(|v| !v.is_empty()) {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Platform {
    type Err = PlatformError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn normalize_os(os: &str) -> String {
    if os.is_empty() {
        return "linux".into();
    }
    match os.to_lowercase().as_str() {
        "macos" => "darwin".into(),
        other => other.into(),
    }
}

fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let arch = arch.to_lowercase();
    let variant = variant.to_lowercase();
    match arch.as_str() {
        "i386" => ("386".into(), String::new()),
        "x86_64" | "x86-64" | "amd64" => {
            let v = if variant == "v1" {
                String::new()
            } else {
                variant
            };
            ("amd64".into(), v)
        }
        "aarch64" | "arm64" => {
            let v = match variant.as_str() {
                "8" | "v8" | "v8.0" => String::new(),
                "9" | "9.0" | "v9.0" => "v9".into(),
                _ => variant,
            };
            ("arm64".into(), v)
        }
        "armhf" => ("arm".into(), "v7".into()),
        "armel" => ("arm".into(), "v6".into()),
        "arm" => {
            let v = match variant.as_str() {
                "" | "7" => "v7".into(),
                "5" | "6" | "8" => format!("v{variant}"),
                _ => variant,
            };
            ("arm".into(), v)
        }
        _ => (arch, variant),
    }
}

/// arm64 variants and the (major, highest minor) versions each runs.
fn arm64_versions(variant: &str) -> Option<&'static [(u32, u32)]> {
    Some(match variant {
        "v8" | "v8.0" => &[(8, 0)],
        "v8.1" => &[(8, 1)],
        "v8.2" => &[(8, 2)],
        "v8.3" => &[(8, 3)],
        "v8.4" => &[(8, 4)],
        "v8.5" => &[(8, 5)],
        "v8.6" => &[(8, 6)],
        "v8.7" => &[(8, 7)],
        "v8.8" => &[(8, 8)],
        "v8.9" => &[(8, 9)],
        "v9" | "v9.0" => &[(9, 0), (8, 5)],
        "v9.1" => &[(9, 1), (8, 6)],
        "v9.2" => &[(9, 2), (8, 7)],
        "v9.3" => &[(9, 3), (8, 8)],
        "v9.4" => &[(9, 4), (8, 9)],
        "v9.5" => &[(9, 5), (8, 9)],
        "v9.6" => &[(9, 6), (8, 9)],
        "v9.7" => &[(9, 7), (8, 9)],
        _ => return None,
    })
}

/// containerd's `platformVector`: the platform, then what it also runs,
/// best first.
fn platform_vector(p: &Platform) -> Vec<Platform> {
    let with = |arch: &str, variant: &str| Platform {
        architecture: arch.into(),
        variant: Some(variant.to_owned()).filter(|v| !v.is_empty()),
        ..p.clone()
    };
    let variant = p.variant.clone().unwrap_or_default();
    let mut vector = vec![p.clone()];
    match p.architecture.as_str() {
        "amd64" => {
            if let Ok(n) = variant.trim_start_matches('v').parse::<u32>() {
                for v in (1..n).rev() {
                    vector.push(with("amd64", &format!("v{v}")));
                }
            }
            vector.push(with("386", ""));
        }
        "arm" => {
            if let Ok(n) = variant.trim_start_matches('v').parse::<u32>() {
                for v in (5..n).rev() {
                    vector.push(with("arm", &format!("v{v}")));
                }
            }
        }
        "arm64" => {
            let variant = if variant.is_empty() {
                "v8".to_owned()
            } else {
                variant
            };
            vector.clear();
            if let Some(versions) = arm64_versions(&variant) {
                for &(major, minor) in versions {
                    for m in (0..=minor).rev() {
                        let v = if m == 0 {
                            format!("v{major}")
                        } else {
                            format!("v{major}.{m}")
                        };
                        vector.push(with("arm64", &v));
                    }
                }
            }
            let arm_variant = if variant.starts_with("v8") || variant.starts_with("v9") {
                "v8".to_owned()
            } else {
                variant
            };
            vector.extend(platform_vector(&with("arm", &arm_variant)));
        }
        _ => {}
    }
    vector
}

fn matches_one(want: &Platform, candidate: &Platform) -> bool {
    let want = want.normalize();
    let c = candidate.normalize();
    if want.os != c.os || want.architecture != c.architecture || want.variant != c.variant {
        return false;
    }
    // Every OS feature the candidate needs must be one the wanted has.
    match &c.os_features {
        None => true,
        Some(need) => {
            let have = want.os_features.unwrap_or_default();
            need.iter().all(|f| have.contains(f))
        }
    }
}

/// Matches platforms that run on a wanted platform, and ranks them.
#[derive(Debug, Clone)]
pub struct Matcher {
    wanted: Platform,
    vector: Vec<Platform>,
}

impl Matcher {
    /// The platform asked for.
    pub fn wanted(&self) -> &Platform {
        &self.wanted
    }

    /// Whether `candidate` runs on the wanted platform.
    pub fn matches(&self, candidate: &Platform) -> bool {
        self.rank(candidate).is_some()
    }

    /// How good a match `candidate` is: 0 is the platform itself, higher is
    /// worse, `None` does not run.
    pub fn rank(&self, candidate: &Platform) -> Option<usize> {
        self.vector.iter().position(|p| matches_one(p, candidate))
    }

    /// The best entry of an index's `manifests` for this platform, as
    /// containerd chooses: matching entries by rank, then entries without
    /// a platform (which match anything); the first in document order among
    /// equals. Entries that are neither manifests nor indexes are ignored.
    pub fn select<'a>(&self, manifests: &'a [Descriptor]) -> Result<&'a Descriptor, PlatformError> {
        manifests
            .iter()
            .filter(|d| crate::media_type::is_manifest_or_index(&d.media_type))
            .filter_map(|d| match &d.platform {
                None => Some((usize::MAX, d)),
                Some(p) => self.rank(p).map(|r| (r, d)),
            })
            .min_by_key(|(rank, _)| *rank)
            .map(|(_, d)| d)
            .ok_or_else(|| PlatformError::NoMatch {
                platform: self.wanted.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::media_type as media_types;

    fn p(s: &str) -> Platform {
        Platform::parse(s).unwrap()
    }

    #[test]
    fn parses_as_containerd() {
        let host = Platform::host();
        assert_eq!(
            host.to_string(),
            "linux/amd64",
            "these tests assume an x86-64 host"
        );
        assert_eq!(p("linux/amd64"), Platform::new("linux", "amd64", None));
        assert_eq!(p("linux/x86_64").to_string(), "linux/amd64");
        assert_eq!(p("Linux/AMD64").to_string(), "linux/amd64");
        assert_eq!(p("linux/aarch64").to_string(), "linux/arm64");
        assert_eq!(p("linux/arm64/v8").to_string(), "linux/arm64/v8");
        assert_eq!(p("linux/arm64/8").to_string(), "linux/arm64/v8");
        assert_eq!(p("linux/arm").to_string(), "linux/arm");
        assert_eq!(p("linux/arm/7").to_string(), "linux/arm/v7");
        assert_eq!(p("linux/armhf").to_string(), "linux/arm");
        assert_eq!(p("linux/armel").to_string(), "linux/arm/v6");
        assert_eq!(p("linux/i386").to_string(), "linux/386");
        assert_eq!(p("macos/arm64").to_string(), "darwin/arm64");
        assert_eq!(p("linux"), host);
        assert_eq!(p("windows").to_string(), "windows/amd64");
        assert_eq!(p("arm64").to_string(), "linux/arm64");
        assert_eq!(p("s390x").to_string(), "linux/s390x");
        assert_eq!(p("linux/riscv64"), Platform::new("linux", "riscv64", None));

        assert_eq!(
            Platform::parse("foo").unwrap_err().to_string(),
            "\"foo\": unknown operating system or architecture: invalid argument"
        );
        for bad in [
            "",
            "linux/",
            "linux//v7",
            "a/b/c/d",
            "linux/*",
            "linux/am d64",
        ] {
            assert!(Platform::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn matches_as_containerd() {
        let amd64 = p("linux/amd64").matcher();
        assert!(amd64.matches(&Platform::new("linux", "amd64", None)));
        assert!(amd64.matches(&Platform::new("linux", "amd64", Some("v1"))));
        assert!(amd64.matches(&Platform::new("linux", "386", None)));
        assert!(!amd64.matches(&Platform::new("linux", "amd64", Some("v3"))));
        assert!(!amd64.matches(&Platform::new("linux", "arm64", None)));
        assert!(!amd64.matches(&Platform::new("windows", "amd64", None)));
        assert!(!amd64.matches(&Platform::new("unknown", "unknown", None)));
        assert!(
            amd64.rank(&Platform::new("linux", "amd64", None))
                < amd64.rank(&Platform::new("linux", "386", None))
        );

        let v3 = p("linux/amd64/v3").matcher();
        assert!(v3.matches(&Platform::new("linux", "amd64", Some("v2"))));
        assert!(v3.matches(&Platform::new("linux", "amd64", None)));

        let arm64 = p("linux/arm64").matcher();
        assert!(arm64.matches(&Platform::new("linux", "arm64", None)));
        assert!(arm64.matches(&Platform::new("linux", "arm64", Some("v8"))));
        assert!(arm64.matches(&Platform::new("linux", "arm", Some("v7"))));
        assert!(arm64.matches(&Platform::new("linux", "arm", Some("v5"))));
        assert!(!arm64.matches(&Platform::new("linux", "arm64", Some("v9"))));
        let v9 = p("linux/arm64/v9").matcher();
        assert!(v9.matches(&Platform::new("linux", "arm64", Some("v8.5"))));
        assert!(!v9.matches(&Platform::new("linux", "arm64", Some("v8.6"))));

        let armv7 = p("linux/arm/v7").matcher();
        assert!(
            armv7.matches(&Platform::new("linux", "arm", None)),
            "arm means arm/v7"
        );
        assert!(armv7.matches(&Platform::new("linux", "arm", Some("v6"))));
        assert!(!armv7.matches(&Platform::new("linux", "arm", Some("v8"))));
        let armv6 = p("linux/arm/v6").matcher();
        assert!(!armv6.matches(&Platform::new("linux", "arm", Some("v7"))));
        assert!(armv6.matches(&Platform::new("linux", "arm", Some("v5"))));

        let mut needs = Platform::new("linux", "amd64", None);
        needs.os_features = Some(vec!["win32k".into()]);
        assert!(!amd64.matches(&needs));
    }

    fn entry(platform: Option<&str>, data: &str) -> Descriptor {
        let mut d = Descriptor::new(media_types::OCI_MANIFEST, Digest::of(data.as_bytes()), 1);
        d.platform = platform.map(|s| {
            let parts: Vec<&str> = s.split('/').collect();
            Platform::new(parts[0], parts[1], parts.get(2).copied())
        });
        d
    }

    #[test]
    fn selects_the_best_index_entry() {
        let index = vec![
            entry(Some("linux/386"), "386"),
            entry(Some("linux/arm/v6"), "armv6"),
            entry(Some("linux/arm/v7"), "armv7"),
            entry(Some("linux/amd64"), "amd64"),
            entry(Some("linux/arm64/v8"), "arm64"),
            entry(Some("unknown/unknown"), "attestation"),
        ];
        let pick = |spec: &str| p(spec).matcher().select(&index).map(|d| d.digest.clone());
        assert_eq!(pick("linux/amd64"), Ok(index[3].digest.clone()));
        assert_eq!(pick("linux/386"), Ok(index[0].digest.clone()));
        assert_eq!(pick("linux/arm64"), Ok(index[4].digest.clone()));
        assert_eq!(pick("linux/arm/v7"), Ok(index[2].digest.clone()));
        assert_eq!(pick("linux/arm"), Ok(index[2].digest.clone()));
        assert_eq!(pick("linux/arm/v6"), Ok(index[1].digest.clone()));
        assert_eq!(
            pick("linux/s390x").unwrap_err().to_string(),
            "no matching manifest for linux/s390x in the manifest list entries"
        );
        // Without amd64 itself, amd64 falls back to 386.
        assert_eq!(
            p("linux/amd64")
                .matcher()
                .select(&index[..3])
                .map(|d| d.digest.clone()),
            Ok(index[0].digest.clone())
        );
        // arm64 runs arm/v7 when there is no arm64 image.
        assert_eq!(
            p("linux/arm64")
                .matcher()
                .select(&index[..3])
                .map(|d| d.digest.clone()),
            Ok(index[2].digest.clone())
        );
        // An entry without platform matches, after every real match.
        let loose = vec![entry(None, "any"), entry(Some("linux/386"), "386")];
        assert_eq!(
            p("linux/amd64")
                .matcher()
                .select(&loose)
                .map(|d| d.digest.clone()),
            Ok(loose[1].digest.clone())
        );
        assert_eq!(
            p("linux/s390x")
                .matcher()
                .select(&loose)
                .map(|d| d.digest.clone()),
            Ok(loose[0].digest.clone())
        );
        // Non-manifest entries are never chosen.
        let mut layer = entry(Some("linux/amd64"), "layer");
        layer.media_type = media_types::OCI_LAYER_GZIP.into();
        assert!(p("linux/amd64").matcher().select(&[layer]).is_err());
    }
}
