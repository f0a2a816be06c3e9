//! The runtime's use of berth-cgroups: which cgroup a container gets, the
//! resources it is held to, and how its hierarchies appear under the
//! container's /sys/fs/cgroup.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources, Spec};

use crate::error::Result;
use crate::rootfs::CgroupMount;

/// The cgroup manager for a container (its `linux.cgroupsPath`, or runc's
/// default when empty).
pub(crate) fn manager_for(spec: &Spec, id: &str) -> Result<Option<berth_cgroups::Manager>> {
    let path = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
    let hierarchy = berth_cgroups::Hierarchy::detect()?;
    let cg_path = berth_cgroups::CgroupPath::parse(path.as_deref(), id)?;
    Ok(Some(berth_cgroups::Manager::new(&hierarchy, &cg_path)))
}

/// Whether a container may run without a cgroup when it cannot have one:
/// only a non-root caller, and only when the spec limits nothing (device
/// rules aside, which a rootless container cannot widen anyway).
pub(crate) fn can_run_without(spec: &Spec) -> bool {
    if rustix::process::geteuid().is_root() {
        return false;
    }
    let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) else {
        return true;
    };
    let mut limits = r.clone();
    limits.set_devices(None);
    limits == LinuxResources::default()
}

fn rule(
    t: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(true);
    r.set_typ(Some(t));
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.to_string()));
    r
}

/// The device rules every container gets after the spec's own, as runc
/// appends them: mknod of any node (access is what the rules guard), the
/// default devices, the pty devices, and each device the spec creates.
fn default_device_rules(spec: &Spec) -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::{B, C};
    let mut rules = vec![
        rule(C, None, None, "m"),
        rule(B, None, None, "m"),
        rule(C, Some(1), Some(3), "rwm"),
        rule(C, Some(1), Some(8), "rwm"),
        rule(C, Some(1), Some(7), "rwm"),
        rule(C, Some(5), Some(0), "rwm"),
        rule(C, Some(1), Some(5), "rwm"),
        rule(C, Some(1), Some(9), "rwm"),
        rule(C, Some(136), None, "rwm"),
        rule(C, Some(5), Some(2), "rwm"),
    ];
    for d in spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
    {
        let t = match d.typ() {
            LinuxDeviceType::B => B,
            LinuxDeviceType::P => continue,
            _ => C,
        };
        rules.push(rule(t, Some(d.major()), Some(d.minor()), "rwm"));
    }
    rules
}

/// The resources to apply: the spec's, with runc's default device rules
/// appended when the spec restricts devices.
pub(crate) fn effective_resources(spec: &Spec) -> Option<LinuxResources> {
    let mut r = spec.linux().as_ref().and_then(|l| l.resources().clone())?;
    if let Some(devs) = r.devices().clone().filter(|d| !d.is_empty()) {
        let mut all = devs;
        all.extend(default_device_rules(spec));
        r.set_devices(Some(all));
    }
    Some(r)
}

/// The hierarchies to show under /sys/fs/cgroup in the container.
pub(crate) fn mounts(m: &berth_cgroups::Manager) -> Vec<CgroupMount> {
    m.mounts()
        .into_iter()
        .map(|h| CgroupMount {
            name: h.name,
            fstype: h.fstype,
            options: h.options,
            host_path: h.host_path,
        })
        .collect()
}
