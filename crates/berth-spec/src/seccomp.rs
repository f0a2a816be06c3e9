//! Seccomp: Docker's profile format (rules included or excluded by capability, architecture
//! and kernel version) and its translation to the spec's filter for one container, as dockerd
//! does it (`profiles/seccomp`), with Docker's default profile built in.

use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSyscall};
use serde::Deserialize;

use crate::error::SpecError;

/// Docker's default seccomp profile (moby's `profiles/seccomp`, Apache-2.0), as dockerd
/// 20.10.24 (Debian's docker.io 20.10.24+dfsg1) hands it to runc on x86_64. It was captured
/// from that dockerd with a wrapper runtime that copies `config.json` aside (see
/// `seccomp/derive.py`): once with the default capabilities, once with each other capability
/// added and once with each default one dropped; a rule that appears only with a capability is
/// written as included on it, one that disappears with it as excluded on it. dockerd had
/// already resolved the rules on architecture (x86_64, with x86 and x32 as sub-architectures)
/// and kernel version (`ptrace` is allowed from 4.8 on; this profile allows it), so the file
/// holds x86_64's rules for kernels from 4.8 on.
pub const DEFAULT_PROFILE: &str = include_str!("../seccomp/docker-default.json");

/// A profile in Docker's format.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(default)]
    pub default_action: Option<LinuxSeccompAction>,
    /// Not read by dockerd 20.10 (newer dockerd passes it on); passed on here.
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub architectures: Vec<Arch>,
    #[serde(default)]
    pub arch_map: Vec<ArchMap>,
    #[serde(default)]
    pub syscalls: Vec<Rule>,
}

/// An architecture and the ones it can also run.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: Arch,
    #[serde(default)]
    pub sub_architectures: Vec<Arch>,
}

/// One rule: syscalls, an action, and when it applies.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub names: Vec<String>,
    pub action: LinuxSeccompAction,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub args: Option<Vec<LinuxSeccompArg>>,
    #[serde(default)]
    pub includes: Filter,
    #[serde(default)]
    pub excludes: Filter,
}

/// Conditions on the container's bounding capabilities, the host's architecture (Go's names:
/// `amd64`, `arm64`...) and kernel version (`"4.8"`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(default)]
    pub caps: Vec<String>,
    #[serde(default)]
    pub arches: Vec<String>,
    #[serde(default)]
    pub min_kernel: Option<String>,
}

/// This build's architecture in Docker's (Go's) naming, and as a seccomp architecture.
fn native_arch() -> (&'static str, Option<Arch>) {
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", Some(Arch::ScmpArchX86_64)),
        "x86" => ("x86", Some(Arch::ScmpArchX86)),
        "aarch64" => ("arm64", Some(Arch::ScmpArchAarch64)),
        "arm" => ("arm", Some(Arch::ScmpArchArm)),
        "powerpc64" => ("ppc64le", Some(Arch::ScmpArchPpc64le)),
        "s390x" => ("s390x", Some(Arch::ScmpArchS390x)),
        "riscv64" => ("riscv64", Some(Arch::ScmpArchRiscv64)),
        other => (other, None),
    }
}

fn parse_kernel(v: &str) -> Result<(u64, u64), SpecError> {
    let bad = || {
        SpecError::Seccomp(format!(
            "invalid kernel version {v:?}, expected \"<kernel>.<major>\""
        ))
    };
    let (k, m) = v.split_once('.').ok_or_else(bad)?;
    Ok((k.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?))
}

/// Whether the running kernel is at least `min` (`None` when the caller did not say which
/// kernel runs).
fn kernel_at_least(min: &str, kernel: Option<(u64, u64)>) -> Result<bool, SpecError> {
    let min = parse_kernel(min)?;
    let kernel = kernel.ok_or_else(|| {
        SpecError::Seccomp("the profile depends on the kernel version, which is unknown".to_owned())
    })?;
    Ok(kernel >= min)
}

impl Profile {
    /// Decodes a profile in Docker's JSON format.
    pub fn parse(json: &str) -> Result<Self, SpecError> {
        serde_json::from_str(json).map_err(|e| SpecError::Seccomp(e.to_string()))
    }

    /// The filter for a container with bounding capabilities `caps` on a host running
    /// `kernel`; `None` when the profile is empty (no default action and no rules: dockerd
    /// then applies no filter).
    pub fn resolve(
        &self,
        caps: &[String],
        kernel: Option<(u64, u64)>,
    ) -> Result<Option<LinuxSeccomp>, SpecError> {
        let Some(default_action) = self.default_action else {
            if self.syscalls.is_empty() {
                return Ok(None);
            }
            return Err(SpecError::Seccomp(
                "the profile has no defaultAction".to_owned(),
            ));
        };
        if !self.architectures.is_empty() && !self.arch_map.is_empty() {
            return Err(SpecError::Seccomp(
                "'architectures' and 'archMap' were specified in the seccomp profile, use either 'architectures' or 'archMap'".to_owned(),
            ));
        }
        let (arch, seccomp_arch) = native_arch();
        let mut architectures = self.architectures.clone();
        if let Some(native) = seccomp_arch {
            if let Some(m) = self.arch_map.iter().find(|m| m.architecture == native) {
                architectures.push(m.architecture);
                architectures.extend(m.sub_architectures.iter().copied());
            }
        }
        let has_cap = |c: &String| caps.iter().any(|x| x == c);
        let mut syscalls = Vec::new();
        for rule in &self.syscalls {
            let ex = &rule.excludes;
            if ex.arches.iter().any(|a| a == arch) || ex.caps.iter().any(has_cap) {
                continue;
            }
            if let Some(min) = &ex.min_kernel {
                if kernel_at_least(min, kernel)? {
                    continue;
                }
            }
            let inc = &rule.includes;
            if (!inc.arches.is_empty() && !inc.arches.iter().any(|a| a == arch))
                || !inc.caps.iter().all(has_cap)
            {
                continue;
            }
            if let Some(min) = &inc.min_kernel {
                if !kernel_at_least(min, kernel)? {
                    continue;
                }
            }
            if !rule.name.is_empty() && !rule.names.is_empty() {
                return Err(SpecError::Seccomp(
                    "'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'".to_owned(),
                ));
            }
            let names = if rule.name.is_empty() {
                rule.names.clone()
            } else {
                vec![rule.name.clone()]
            };
            let mut call = LinuxSyscall::default();
            call.set_names(names);
            call.set_action(rule.action);
            call.set_errno_ret(rule.errno_ret);
            call.set_args(rule.args.clone());
            syscalls.push(call);
        }
        let mut seccomp = LinuxSeccomp::default();
        seccomp.set_default_action(default_action);
        seccomp.set_default_errno_ret(self.default_errno_ret);
        if !architectures.is_empty() {
            seccomp.set_architectures(Some(architectures));
        }
        seccomp.set_syscalls(Some(syscalls));
        Ok(Some(seccomp))
    }
}

/// Which profile a container asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SeccompChoice {
    /// Docker's default profile.
    #[default]
    Default,
    /// `seccomp=unconfined`: no filter.
    Unconfined,
    /// `seccomp=<profile JSON>`, as the docker CLI sends the file's contents.
    Custom(String),
}

/// The container's filter; none for `unconfined` and for privileged containers.
pub(crate) fn filter(
    choice: &SeccompChoice,
    privileged: bool,
    caps: &[String],
    kernel: Option<(u64, u64)>,
) -> Result<Option<LinuxSeccomp>, SpecError> {
    match choice {
        SeccompChoice::Unconfined => Ok(None),
        _ if privileged => Ok(None),
        SeccompChoice::Default => Profile::parse(DEFAULT_PROFILE)?.resolve(caps, kernel),
        SeccompChoice::Custom(json) => Profile::parse(json)?.resolve(caps, kernel),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::{capabilities, DEFAULT_CAPABILITIES};

    fn allowed(s: &LinuxSeccomp) -> Vec<String> {
        s.syscalls()
            .iter()
            .flatten()
            .filter(|c| c.action() == LinuxSeccompAction::ScmpActAllow && c.args().is_none())
            .flat_map(|c| c.names().clone())
            .collect()
    }

    fn default_caps() -> Vec<String> {
        DEFAULT_CAPABILITIES
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    }

    #[test]
    fn default_profile_for_default_caps() {
        let s = filter(&SeccompChoice::Default, false, &default_caps(), None)
            .unwrap()
            .unwrap();
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
        let allowed = allowed(&s);
        assert!(allowed.iter().any(|n| n == "read"));
        assert!(
            allowed.iter().any(|n| n == "chroot"),
            "CAP_SYS_CHROOT is a default"
        );
        assert!(!allowed
            .iter()
            .any(|n| n == "mount" || n == "reboot" || n == "bpf"));
        // clone3 fails with ENOSYS so that libcs fall back to clone, which is filtered.
        let clone3 = s
            .syscalls()
            .iter()
            .flatten()
            .find(|c| c.names() == &["clone3"])
            .unwrap();
        assert_eq!(clone3.errno_ret(), Some(38));
    }

    #[test]
    fn capabilities_open_their_syscalls() {
        let caps = capabilities(
            &["SYS_ADMIN".into(), "SYS_BOOT".into()],
            &["SYS_CHROOT".into()],
            false,
        )
        .unwrap();
        let s = filter(&SeccompChoice::Default, false, &caps, None)
            .unwrap()
            .unwrap();
        let allowed = allowed(&s);
        for name in ["mount", "umount2", "setns", "unshare", "clone", "reboot"] {
            assert!(allowed.iter().any(|n| n == name), "{name}");
        }
        assert!(!allowed.iter().any(|n| n == "chroot"));
        // The masked clone and the ENOSYS clone3 are excluded with CAP_SYS_ADMIN.
        assert!(!s
            .syscalls()
            .iter()
            .flatten()
            .any(|c| c.names() == &["clone3"] && c.action() == LinuxSeccompAction::ScmpActErrno));
    }

    #[test]
    fn unconfined_and_privileged_have_none() {
        let caps = default_caps();
        assert!(filter(&SeccompChoice::Unconfined, false, &caps, None)
            .unwrap()
            .is_none());
        assert!(filter(&SeccompChoice::Default, true, &caps, None)
            .unwrap()
            .is_none());
    }

    #[test]
    fn custom_profiles_in_dockers_format() {
        let arch = native_arch().0;
        let json = format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW",
                "archMap":[{{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]}}],
                "syscalls":[
                  {{"name":"mkdir","action":"SCMP_ACT_ERRNO","errnoRet":1}},
                  {{"names":["chmod"],"action":"SCMP_ACT_ERRNO","includes":{{"arches":["{arch}"]}}}},
                  {{"names":["kill"],"action":"SCMP_ACT_ERRNO","excludes":{{"caps":["CAP_KILL"]}}}},
                  {{"names":["uname"],"action":"SCMP_ACT_ERRNO","includes":{{"minKernel":"99.0"}}}}
                ]}}"#
        );
        let s = filter(
            &SeccompChoice::Custom(json.clone()),
            false,
            &default_caps(),
            Some((6, 1)),
        )
        .unwrap()
        .unwrap();
        let names: Vec<_> = s
            .syscalls()
            .iter()
            .flatten()
            .flat_map(|c| c.names().clone())
            .collect();
        assert_eq!(names, ["mkdir", "chmod"]);
        if arch == "amd64" {
            assert_eq!(
                s.architectures().as_deref(),
                Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86][..])
            );
        }
        // minKernel needs the kernel's version.
        assert!(filter(&SeccompChoice::Custom(json), false, &default_caps(), None).is_err());
        assert!(filter(
            &SeccompChoice::Custom("{".into()),
            false,
            &default_caps(),
            None
        )
        .is_err());
        // An empty profile is no filter.
        assert!(filter(
            &SeccompChoice::Custom("{}".into()),
            false,
            &default_caps(),
            None
        )
        .unwrap()
        .is_none());
    }
}
