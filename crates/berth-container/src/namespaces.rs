//! Which namespaces a container gets, which it joins, and how the init process
//! must be created for that (one `clone` or two stages). Pure code.

use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

use crate::error::{ContainerError, Result};

pub(crate) const CLONE_NEWTIME: libc::c_int = 0x80;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespacePlan {
    /// Namespaces created anew.
    pub new: Vec<LinuxNamespaceType>,
    /// Existing namespaces joined by path, user namespace first.
    pub join: Vec<(LinuxNamespaceType, PathBuf)>,
}

pub fn clone_flag(t: LinuxNamespaceType) -> libc::c_int {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => CLONE_NEWTIME,
    }
}

/// The name of a namespace under /proc/PID/ns/.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// The order in which joined namespaces are entered: user first (it grants the
/// capabilities to enter the others), mount last (after it, host paths vanish).
fn join_rank(t: LinuxNamespaceType) -> u8 {
    match t {
        LinuxNamespaceType::User => 0,
        LinuxNamespaceType::Ipc => 1,
        LinuxNamespaceType::Uts => 2,
        LinuxNamespaceType::Network => 3,
        LinuxNamespaceType::Pid => 4,
        LinuxNamespaceType::Cgroup => 5,
        LinuxNamespaceType::Time => 6,
        LinuxNamespaceType::Mount => 7,
    }
}

impl NamespacePlan {
    pub fn from_spec(namespaces: &[LinuxNamespace]) -> Result<NamespacePlan> {
        let mut plan = NamespacePlan::default();
        for ns in namespaces {
            let t = ns.typ();
            if plan.new.contains(&t) || plan.join.iter().any(|(j, _)| *j == t) {
                return Err(ContainerError::InvalidConfig(format!(
                    "namespace {} is listed twice",
                    proc_name(t)
                )));
            }
            match ns.path() {
                Some(p) if !p.as_os_str().is_empty() => {
                    if !p.is_absolute() {
                        return Err(ContainerError::InvalidConfig(format!(
                            "path {} of the {} namespace must be absolute",
                            p.display(),
                            proc_name(t)
                        )));
                    }
                    plan.join.push((t, p.clone()));
                }
                _ => plan.new.push(t),
            }
        }
        plan.join.sort_by_key(|(t, _)| join_rank(*t));
        Ok(plan)
    }

    pub fn creates(&self, t: LinuxNamespaceType) -> bool {
        self.new.contains(&t)
    }

    pub fn joins(&self, t: LinuxNamespaceType) -> bool {
        self.join.iter().any(|(j, _)| *j == t)
    }

    /// Whether the container has its own namespace of type `t` (new or joined).
    pub fn isolates(&self, t: LinuxNamespaceType) -> bool {
        self.creates(t) || self.joins(t)
    }

    /// Flags for creating the new namespaces at clone time. The cgroup namespace
    /// is left out: it must be created after the init joined its cgroup, so that
    /// the container's cgroup becomes the namespace's root.
    pub fn clone_flags(&self) -> libc::c_int {
        self.new
            .iter()
            .filter(|t| **t != LinuxNamespaceType::Cgroup)
            .fold(0, |acc, t| acc | clone_flag(*t))
    }

    /// A single `clone` with all flags is enough unless namespaces must be
    /// joined first (a new user namespace would otherwise own the wrong ones,
    /// and a joined pid namespace only applies to children) or a time namespace
    /// needs its offsets written before any process enters it.
    pub fn needs_two_stages(&self) -> bool {
        !self.join.is_empty() || self.creates(LinuxNamespaceType::Time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxNamespaceBuilder;

    fn ns(t: LinuxNamespaceType, path: Option<&str>) -> LinuxNamespace {
        let mut b = LinuxNamespaceBuilder::default().typ(t);
        if let Some(p) = path {
            b = b.path(p);
        }
        b.build().expect("namespace")
    }

    #[test]
    fn all_new_is_one_stage() {
        let plan = NamespacePlan::from_spec(&[
            ns(LinuxNamespaceType::Pid, None),
            ns(LinuxNamespaceType::Mount, None),
            ns(LinuxNamespaceType::Cgroup, None),
        ])
        .expect("plan");
        assert!(!plan.needs_two_stages());
        assert_eq!(plan.clone_flags(), libc::CLONE_NEWPID | libc::CLONE_NEWNS);
    }

    #[test]
    fn joins_are_ordered_user_first_mount_last() {
        let plan = NamespacePlan::from_spec(&[
            ns(LinuxNamespaceType::Mount, Some("/proc/1/ns/mnt")),
            ns(LinuxNamespaceType::Network, Some("/proc/1/ns/net")),
            ns(LinuxNamespaceType::User, Some("/proc/1/ns/user")),
        ])
        .expect("plan");
        let order: Vec<_> = plan.join.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            order,
            vec![
                LinuxNamespaceType::User,
                LinuxNamespaceType::Network,
                LinuxNamespaceType::Mount
            ]
        );
        assert!(plan.needs_two_stages());
    }

    #[test]
    fn duplicates_and_relative_paths_are_refused() {
        assert!(NamespacePlan::from_spec(&[
            ns(LinuxNamespaceType::Pid, None),
            ns(LinuxNamespaceType::Pid, Some("/proc/1/ns/pid")),
        ])
        .is_err());
        assert!(NamespacePlan::from_spec(&[ns(LinuxNamespaceType::Network, Some("x"))]).is_err());
    }
}
