//! `exec --cgroup [CONTROLLERS:]PATH` (runc's flag): an exec'd process placed
//! in an existing sub-cgroup of its container's cgroup instead of the cgroup
//! itself. Parsing and the path arithmetic are pure; nothing is created.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::error::CgroupError;
use crate::manager::Manager;

const FIELD: &str = "exec --cgroup";

/// Sub-cgroup paths, relative to the container's cgroup, keyed by v1
/// controller, or under `""` for every hierarchy (runc's `GetPaths` keys).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubCgroups(BTreeMap<String, String>);

impl SubCgroups {
    /// Parses `--cgroup` arguments as runc does: `PATH` (alone: for every
    /// hierarchy) or `CONTROLLER[,CONTROLLER...]:PATH`, repeatable.
    pub fn parse(args: &[String]) -> Result<SubCgroups, CgroupError> {
        let mut paths = BTreeMap::new();
        let invalid = |arg: &str, reason: &str| CgroupError::InvalidValue {
            field: FIELD,
            value: arg.to_string(),
            reason: reason.to_string(),
        };
        for arg in args {
            let parts: Vec<&str> = arg.splitn(3, ':').collect();
            match parts.as_slice() {
                [path] => {
                    if args.len() != 1 {
                        return Err(invalid(arg, "missing <controller>: prefix"));
                    }
                    paths.insert(String::new(), (*path).to_string());
                }
                [controllers, path] => {
                    for c in controllers.split(',') {
                        paths.insert(c.to_string(), (*path).to_string());
                    }
                }
                _ => return Err(invalid(arg, "expected [<controller>:]<cgroup>")),
            }
        }
        Ok(SubCgroups(paths))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `base` joined with `sub`, lexically cleaned; an error if it leaves `base`.
fn below(base: &Path, sub: &str) -> Result<PathBuf, CgroupError> {
    let mut rel = PathBuf::new();
    for c in Path::new(sub).components() {
        match c {
            Component::Normal(n) => rel.push(n),
            Component::ParentDir if rel.pop() => {}
            Component::ParentDir => {
                return Err(CgroupError::InvalidValue {
                    field: FIELD,
                    value: sub.to_string(),
                    reason: "is not a sub cgroup path".into(),
                })
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(base.join(rel))
}

impl Manager {
    /// The cgroup an exec'd process joins: this one, with the directories
    /// `sub` names replaced by their (existing) sub-cgroups.
    pub fn sub_cgroup(&self, sub: &SubCgroups) -> Result<Manager, CgroupError> {
        let mut out = self.clone();
        if let Some(path) = sub.0.get("") {
            for d in &mut out.dirs {
                d.path = below(&d.path, path)?;
            }
            return Ok(out);
        }
        for (controller, path) in &sub.0 {
            let unknown = || CgroupError::InvalidValue {
                field: FIELD,
                value: controller.clone(),
                reason: "unknown controller".into(),
            };
            let (base, d) = self
                .dirs
                .iter()
                .zip(out.dirs.iter_mut())
                .find(|(d, _)| d.has(controller))
                .ok_or_else(unknown)?;
            d.path = below(&base.path, path)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::Dir;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn manager() -> Manager {
        let dir = |fstype: &str, controllers: &[&str], path: &str| Dir {
            fstype: fstype.into(),
            controllers: controllers.iter().map(|c| c.to_string()).collect(),
            mountpoint: PathBuf::from("/sys/fs/cgroup"),
            path: PathBuf::from(path),
        };
        Manager {
            mode: crate::hierarchy::Mode::Hybrid,
            dirs: vec![
                dir(
                    "cgroup",
                    &["cpu", "cpuacct"],
                    "/sys/fs/cgroup/cpu,cpuacct/c",
                ),
                dir("cgroup", &["pids"], "/sys/fs/cgroup/pids/c"),
                dir("cgroup2", &[], "/sys/fs/cgroup/unified/c"),
            ],
        }
    }

    fn paths(m: &Manager) -> Vec<String> {
        m.dirs
            .iter()
            .map(|d| d.path.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn one_path_for_every_hierarchy() {
        let sub = SubCgroups::parse(&args(&["x/y"])).expect("parse");
        let m = manager().sub_cgroup(&sub).expect("sub");
        assert_eq!(
            paths(&m),
            [
                "/sys/fs/cgroup/cpu,cpuacct/c/x/y",
                "/sys/fs/cgroup/pids/c/x/y",
                "/sys/fs/cgroup/unified/c/x/y"
            ]
        );
    }

    #[test]
    fn per_controller_paths() {
        let sub = SubCgroups::parse(&args(&["pids:a", "cpu,cpuacct:/b/../c"])).expect("parse");
        let m = manager().sub_cgroup(&sub).expect("sub");
        assert_eq!(
            paths(&m),
            [
                "/sys/fs/cgroup/cpu,cpuacct/c/c",
                "/sys/fs/cgroup/pids/c/a",
                "/sys/fs/cgroup/unified/c"
            ]
        );
    }

    #[test]
    fn refusals() {
        assert!(SubCgroups::parse(&args(&["a", "pids:b"])).is_err());
        assert!(SubCgroups::parse(&args(&["a:b:c"])).is_err());
        let escape = SubCgroups::parse(&args(&["pids:../x"])).expect("parse");
        assert!(manager().sub_cgroup(&escape).is_err());
        let unknown = SubCgroups::parse(&args(&["memory:x"])).expect("parse");
        assert!(manager().sub_cgroup(&unknown).is_err());
    }
}
