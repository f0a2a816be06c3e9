//! Cgroup resources and the device rules, and the rlimits, from `HostConfig.Resources`.

use std::path::PathBuf;

use berth_api_types::containers::{DeviceMapping, Resources, Ulimit};
use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, LinuxMemory,
    LinuxPids, LinuxResources, PosixRlimit, PosixRlimitBuilder, PosixRlimitType,
};

use crate::error::SpecError;
use crate::input::DeviceLookup;

const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// Checks the resources as dockerd does before it creates a container (the checks that need
/// no host facts).
pub(crate) fn validate(r: &Resources) -> Result<(), SpecError> {
    let bad = |field, reason: &str| Err(SpecError::invalid(field, reason));
    if r.memory != 0 && r.memory < MIN_MEMORY {
        return bad("HostConfig.Memory", "Minimum memory limit allowed is 6MB");
    }
    if r.memory > 0 && r.memory_swap > 0 && r.memory_swap < r.memory {
        return bad(
            "HostConfig.MemorySwap",
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        );
    }
    if r.memory == 0 && r.memory_swap > 0 {
        return bad(
            "HostConfig.MemorySwap",
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        );
    }
    if let Some(s) = r.memory_swappiness {
        if s != -1 && !(0..=100).contains(&s) {
            return bad(
                "HostConfig.MemorySwappiness",
                &format!("Invalid value: {s}, valid memory swappiness range is 0-100"),
            );
        }
    }
    if r.memory_reservation != 0 && r.memory_reservation < MIN_MEMORY {
        return bad(
            "HostConfig.MemoryReservation",
            "Minimum memory reservation allowed is 6MB",
        );
    }
    if r.memory > 0 && r.memory_reservation > 0 && r.memory < r.memory_reservation {
        return bad(
            "HostConfig.MemoryReservation",
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        );
    }
    if r.nano_cpus > 0 && r.cpu_period > 0 {
        return bad(
            "HostConfig.NanoCpus",
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        );
    }
    if r.nano_cpus > 0 && r.cpu_quota > 0 {
        return bad(
            "HostConfig.NanoCpus",
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        );
    }
    if r.nano_cpus < 0 {
        return bad("HostConfig.NanoCpus", "Range of CPUs is from 0.01");
    }
    if r.cpu_period != 0 && !(1000..=1_000_000).contains(&r.cpu_period) {
        return bad(
            "HostConfig.CpuPeriod",
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        );
    }
    if r.cpu_quota > 0 && r.cpu_quota < 1000 {
        return bad(
            "HostConfig.CpuQuota",
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        );
    }
    if r.cpu_shares < 0 {
        return bad("HostConfig.CpuShares", "shares: invalid argument");
    }
    if r.blkio_weight != 0 && !(10..=1000).contains(&r.blkio_weight) {
        return bad(
            "HostConfig.BlkioWeight",
            "Range of blkio weight is from 10 to 1000",
        );
    }
    Ok(())
}

/// dockerd's device rules: deny everything, then allow null, zero, full, random, urandom,
/// tty, console, ptmx, and deny /dev/net/tun... as its default spec lists them. A privileged
/// container may use every device.
fn device_rules(privileged: bool) -> Vec<LinuxDeviceCgroup> {
    let rule =
        |allow: bool, typ: Option<LinuxDeviceType>, major: Option<i64>, minor: Option<i64>| {
            let mut r = LinuxDeviceCgroup::default();
            r.set_allow(allow);
            r.set_typ(typ);
            r.set_major(major);
            r.set_minor(minor);
            r.set_access(Some("rwm".to_owned()));
            r
        };
    if privileged {
        return vec![rule(true, None, None, None)];
    }
    let c = Some(LinuxDeviceType::C);
    let mut rules = vec![rule(false, None, None, None)];
    for (major, minor) in [(1, 5), (1, 3), (1, 9), (1, 8), (5, 0), (5, 1)] {
        rules.push(rule(true, c, Some(major), Some(minor)));
    }
    rules.push(rule(false, c, Some(10), Some(229)));
    rules
}

fn device_type(c: &str) -> Option<LinuxDeviceType> {
    match c {
        "a" => Some(LinuxDeviceType::A),
        "b" => Some(LinuxDeviceType::B),
        "c" => Some(LinuxDeviceType::C),
        _ => None,
    }
}

/// One `--device-cgroup-rule`: `TYPE MAJOR:MINOR ACCESS`, with `*` for any number.
fn cgroup_rule(rule: &str) -> Result<LinuxDeviceCgroup, SpecError> {
    let bad = || {
        SpecError::invalid(
            "HostConfig.DeviceCgroupRules",
            format!("invalid device cgroup rule format: '{rule}'"),
        )
    };
    let mut parts = rule.split(' ');
    let (Some(typ), Some(numbers), Some(access), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let typ = device_type(typ).ok_or_else(bad)?;
    let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
    let number = |n: &str| -> Result<i64, SpecError> {
        if n == "*" {
            Ok(-1)
        } else if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
            n.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    if access.is_empty() || access.len() > 3 || !access.chars().all(|c| "rwm".contains(c)) {
        return Err(bad());
    }
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(true);
    r.set_typ(Some(typ));
    r.set_major(Some(number(major)?));
    r.set_minor(Some(number(minor)?));
    r.set_access(Some(access.to_owned()));
    Ok(r)
}

/// The device nodes of `--device` mappings, and the rules allowing them.
pub(crate) fn mapped_devices(
    mappings: &[DeviceMapping],
    lookup: &dyn DeviceLookup,
    privileged: bool,
) -> Result<(Vec<LinuxDevice>, Vec<LinuxDeviceCgroup>), SpecError> {
    let mut devices = Vec::new();
    let mut rules = Vec::new();
    for m in mappings {
        // A privileged container has every host device at its host path already, and may
        // use them all.
        if privileged && m.path_on_host == m.path_in_container {
            continue;
        }
        let access = if privileged {
            "rwm"
        } else {
            m.cgroup_permissions.as_str()
        };
        if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
            return Err(SpecError::invalid(
                "HostConfig.Devices",
                format!(
                    "invalid device permissions {access:?} for {}",
                    m.path_on_host
                ),
            ));
        }
        let found = lookup.devices(&m.path_on_host)?;
        if found.is_empty() {
            return Err(SpecError::invalid(
                "HostConfig.Devices",
                format!(
                    "error gathering device information while adding custom device {:?}: not a device node",
                    m.path_on_host
                ),
            ));
        }
        for d in found {
            let path = if d.relative.is_empty() {
                m.path_in_container.clone()
            } else {
                format!(
                    "{}/{}",
                    m.path_in_container.trim_end_matches('/'),
                    d.relative
                )
            };
            let mut dev = LinuxDevice::default();
            dev.set_path(PathBuf::from(path));
            dev.set_typ(d.typ);
            dev.set_major(d.major);
            dev.set_minor(d.minor);
            dev.set_file_mode(Some(d.file_mode));
            dev.set_uid(Some(d.uid));
            dev.set_gid(Some(d.gid));
            devices.push(dev);
            let mut rule = LinuxDeviceCgroup::default();
            rule.set_allow(true);
            rule.set_typ(Some(d.typ));
            rule.set_major(Some(d.major));
            rule.set_minor(Some(d.minor));
            rule.set_access(Some(access.to_owned()));
            rules.push(rule);
        }
    }
    Ok((devices, rules))
}

/// The cgroup settings (after dockerd's defaults: `MemorySwap` twice `Memory`,
/// `OomKillDisable` false), with the rules for the mapped devices (`extra_rules`).
pub(crate) fn resources(
    r: &Resources,
    privileged: bool,
    extra_rules: Vec<LinuxDeviceCgroup>,
) -> Result<LinuxResources, SpecError> {
    let mut memory = LinuxMemory::default();
    if r.memory > 0 {
        memory.set_limit(Some(r.memory));
    }
    if r.memory_reservation > 0 {
        memory.set_reservation(Some(r.memory_reservation));
    }
    if r.memory_swap > 0 {
        memory.set_swap(Some(r.memory_swap));
    }
    if let Some(s) = r.memory_swappiness {
        // dockerd stores -1 as "unset" (nil) before this point.
        if s >= 0 {
            memory.set_swappiness(u64::try_from(s).ok());
        }
    }
    memory.set_disable_oom_killer(Some(r.oom_kill_disable.unwrap_or(false)));

    let mut cpu = LinuxCpu::default();
    cpu.set_shares(Some(u64::try_from(r.cpu_shares).map_err(|_| {
        SpecError::invalid("HostConfig.CpuShares", "shares: invalid argument")
    })?));
    if !r.cpuset_cpus.is_empty() {
        cpu.set_cpus(Some(r.cpuset_cpus.clone()));
    }
    if !r.cpuset_mems.is_empty() {
        cpu.set_mems(Some(r.cpuset_mems.clone()));
    }
    if r.nano_cpus > 0 {
        // A 100 ms period and the quota that gives NanoCpus / 1e9 CPUs.
        let period: u64 = 100_000;
        cpu.set_period(Some(period));
        cpu.set_quota(Some(r.nano_cpus / 10_000));
    }
    if r.cpu_period != 0 {
        cpu.set_period(u64::try_from(r.cpu_period).ok());
    }
    if r.cpu_quota != 0 {
        cpu.set_quota(Some(r.cpu_quota));
    }

    let mut block_io = LinuxBlockIo::default();
    block_io.set_weight(Some(r.blkio_weight));

    let mut res = LinuxResources::default();
    let mut rules = device_rules(privileged);
    if !privileged {
        rules.extend(extra_rules);
        for rule in r.device_cgroup_rules.iter().flatten() {
            rules.push(cgroup_rule(rule)?);
        }
    }
    res.set_devices(Some(rules));
    res.set_memory(Some(memory));
    res.set_cpu(Some(cpu));
    res.set_block_io(Some(block_io));
    if let Some(limit) = r.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(if limit <= 0 { -1 } else { limit });
        res.set_pids(Some(pids));
    }
    Ok(res)
}

/// The rlimits: the container's ulimits, then the daemon's defaults for the names the
/// container does not set.
pub(crate) fn rlimits(
    ulimits: &[Ulimit],
    defaults: &[Ulimit],
) -> Result<Vec<PosixRlimit>, SpecError> {
    let field = "HostConfig.Ulimits";
    let mut all: Vec<&Ulimit> = ulimits.iter().collect();
    all.extend(
        defaults
            .iter()
            .filter(|d| !ulimits.iter().any(|u| u.name == d.name)),
    );
    all.into_iter()
        .map(|u| {
            let typ: PosixRlimitType = format!("RLIMIT_{}", u.name.to_ascii_uppercase())
                .parse()
                .map_err(|_| {
                    SpecError::invalid(field, format!("invalid ulimit type: {}", u.name))
                })?;
            if u.soft > u.hard {
                return Err(SpecError::invalid(
                    field,
                    format!(
                        "invalid ulimit argument: soft limit {} is larger than hard limit {}",
                        u.soft, u.hard
                    ),
                ));
            }
            // Go converts with uint64(): -1 (unlimited) becomes the all-ones value.
            let as_go_uint64 = |n: i64| u64::from_ne_bytes(n.to_ne_bytes());
            Ok(PosixRlimitBuilder::default()
                .typ(typ)
                .hard(as_go_uint64(u.hard))
                .soft(as_go_uint64(u.soft))
                .build()?)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus_memory_pids() {
        let r = Resources {
            memory: 64 << 20,
            memory_swap: 128 << 20,
            nano_cpus: 1_500_000_000,
            cpu_shares: 512,
            cpuset_cpus: "0".into(),
            pids_limit: Some(0),
            ..Resources::default()
        };
        validate(&r).unwrap();
        let res = resources(&r, false, Vec::new()).unwrap();
        let cpu = res.cpu().as_ref().unwrap();
        assert_eq!(
            (cpu.quota(), cpu.period(), cpu.shares()),
            (Some(150_000), Some(100_000), Some(512))
        );
        assert_eq!(cpu.cpus().as_deref(), Some("0"));
        let mem = res.memory().as_ref().unwrap();
        assert_eq!((mem.limit(), mem.swap()), (Some(64 << 20), Some(128 << 20)));
        assert_eq!(mem.disable_oom_killer(), Some(false));
        assert_eq!(res.pids().as_ref().unwrap().limit(), -1);
        assert_eq!(res.devices().as_ref().unwrap().len(), 8);
        assert_eq!(
            resources(&r, true, Vec::new())
                .unwrap()
                .devices()
                .as_ref()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn dockerd_refusals() {
        let bad = |r: Resources| validate(&r).is_err();
        assert!(bad(Resources {
            memory: 1 << 20,
            ..Default::default()
        }));
        assert!(bad(Resources {
            memory: 64 << 20,
            memory_swap: 32 << 20,
            ..Default::default()
        }));
        assert!(bad(Resources {
            nano_cpus: 1,
            cpu_quota: 5000,
            ..Default::default()
        }));
        assert!(bad(Resources {
            cpu_period: 10,
            ..Default::default()
        }));
        assert!(bad(Resources {
            memory_swappiness: Some(101),
            ..Default::default()
        }));
        assert!(!bad(Resources::default()));
    }

    #[test]
    fn device_cgroup_rules() {
        let r = Resources {
            device_cgroup_rules: Some(vec!["c 42:* rmw".into(), "b 8:0 r".into()]),
            ..Resources::default()
        };
        let res = resources(&r, false, Vec::new()).unwrap();
        let v = serde_json::to_value(res.devices()).unwrap();
        assert_eq!(
            v[8],
            serde_json::json!({"allow": true, "type": "c", "major": 42, "minor": -1, "access": "rmw"})
        );
        assert_eq!(
            v[9],
            serde_json::json!({"allow": true, "type": "b", "major": 8, "minor": 0, "access": "r"})
        );
        for bad in [
            "c 42 rwm",
            "x 1:2 r",
            "c 1:2 rwx",
            "c 1:2",
            "c a:2 r",
            "c 1:2 r extra",
            "",
        ] {
            let r = Resources {
                device_cgroup_rules: Some(vec![bad.into()]),
                ..Resources::default()
            };
            assert!(resources(&r, false, Vec::new()).is_err(), "{bad:?}");
        }
    }

    struct FakeDevices;
    impl DeviceLookup for FakeDevices {
        fn devices(&self, path: &str) -> Result<Vec<crate::input::HostDevice>, SpecError> {
            let dev = |relative: &str, minor| crate::input::HostDevice {
                relative: relative.into(),
                typ: LinuxDeviceType::C,
                major: 1,
                minor,
                file_mode: 0o20666,
                uid: 0,
                gid: 0,
            };
            match path {
                "/dev/null" => Ok(vec![dev("", 3)]),
                "/dev/dir" => Ok(vec![dev("a", 10), dev("sub/b", 11)]),
                _ => Ok(vec![]),
            }
        }
    }

    #[test]
    fn mapped_devices_and_their_rules() {
        let m = |host: &str, ctr: &str, perms: &str| DeviceMapping {
            path_on_host: host.into(),
            path_in_container: ctr.into(),
            cgroup_permissions: perms.into(),
        };
        let (devs, rules) = mapped_devices(
            &[
                m("/dev/null", "/dev/mynull", "rw"),
                m("/dev/dir", "/d/", "rwm"),
            ],
            &FakeDevices,
            false,
        )
        .unwrap();
        let paths: Vec<_> = devs
            .iter()
            .map(|d| d.path().display().to_string())
            .collect();
        assert_eq!(paths, ["/dev/mynull", "/d/a", "/d/sub/b"]);
        assert_eq!(rules[0].access().as_deref(), Some("rw"));
        assert_eq!(rules[2].minor(), Some(11));
        assert!(mapped_devices(&[m("/etc/passwd", "/x", "rwm")], &FakeDevices, false).is_err());
        assert!(mapped_devices(&[m("/dev/null", "/x", "rwx")], &FakeDevices, false).is_err());
        // Privileged: same-path mappings are there already; others get rwm.
        let (devs, rules) = mapped_devices(
            &[m("/dev/null", "/dev/null", "r"), m("/dev/null", "/n", "r")],
            &FakeDevices,
            true,
        )
        .unwrap();
        assert_eq!(devs.len(), 1);
        assert_eq!(rules[0].access().as_deref(), Some("rwm"));
    }

    #[test]
    fn ulimits() {
        let u = |name: &str, soft, hard| Ulimit {
            name: name.into(),
            soft,
            hard,
        };
        let l = rlimits(
            &[u("nofile", 1024, 2048)],
            &[u("nofile", 1, 1), u("nproc", -1, -1)],
        )
        .unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(
            (l[0].typ(), l[0].soft(), l[0].hard()),
            (PosixRlimitType::RlimitNofile, 1024, 2048)
        );
        assert_eq!(
            (l[1].typ(), l[1].hard()),
            (PosixRlimitType::RlimitNproc, u64::MAX)
        );
        assert!(rlimits(&[u("bogus", 1, 1)], &[]).is_err());
        assert!(rlimits(&[u("core", 2, 1)], &[]).is_err());
    }
}
