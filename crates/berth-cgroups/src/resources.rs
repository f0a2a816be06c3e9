//! Writing `linux.resources` into the container's cgroup. Only the fields the
//! spec sets are written; a value the kernel refuses fails with an error that
//! names the file and the value. v1 values are translated for v2 as runc does.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources, LinuxThrottleDevice};

use crate::error::CgroupError;
use crate::hierarchy::Mode;
use crate::manager::{write, Dir, Manager};

/// runc's conversion of cpu shares (2..262144) to a v2 cpu.weight (1..10000).
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}

/// runc's conversion of a blkio weight (10..1000) to a v2 io.weight (1..10000).
pub(crate) fn blkio_weight_to_io(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (u64::from(w).saturating_sub(10) * 9999) / 990
}

fn device_rule(d: &LinuxDeviceCgroup) -> String {
    let t = d
        .typ()
        .map(|t| t.as_str().to_string())
        .unwrap_or_else(|| "a".into());
    let num = |n: Option<i64>| {
        n.filter(|n| *n >= 0)
            .map_or("*".to_string(), |n| n.to_string())
    };
    let access = d.access().clone().unwrap_or_else(|| "rwm".into());
    if t == "a" {
        return "a".into();
    }
    format!("{t} {}:{} {access}", num(d.major()), num(d.minor()))
}

fn throttle_lines(devs: &Option<Vec<LinuxThrottleDevice>>) -> Vec<String> {
    devs.iter()
        .flatten()
        .map(|d| format!("{}:{} {}", d.major(), d.minor(), d.rate()))
        .collect()
}

impl Manager {
    fn v1(&self, controller: &str) -> Option<&Dir> {
        self.dirs.iter().find(|d| d.has(controller))
    }

    fn v1_or_missing(&self, controller: &str, field: &str) -> Result<&Dir, CgroupError> {
        self.v1(controller).ok_or_else(|| {
            CgroupError::Unsupported(format!(
                "{field} is set but the host has no {controller} cgroup controller"
            ))
        })
    }

    fn unified(&self) -> Option<&Dir> {
        self.dirs.iter().find(|d| d.fstype == "cgroup2")
    }

    /// Applies the resource limits to the container's cgroup.
    pub fn apply(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        match self.mode {
            Mode::V2 => self.apply_v2(r),
            Mode::V1 | Mode::Hybrid => self.apply_v1(r),
        }
    }

    fn apply_v1(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        if let Some(devices) = r.devices().as_ref().filter(|d| !d.is_empty()) {
            let d = self.v1_or_missing("devices", "linux.resources.devices")?;
            for rule in devices {
                let file = if rule.allow() {
                    "devices.allow"
                } else {
                    "devices.deny"
                };
                write(&d.path, file, &device_rule(rule))?;
            }
        }
        if let Some(m) = r.memory() {
            let set = [m.limit(), m.reservation(), m.swap()]
                .iter()
                .any(|v| v.is_some_and(|v| v != 0))
                || m.swappiness().is_some()
                || m.disable_oom_killer() == Some(true);
            if set {
                let d = self.v1_or_missing("memory", "linux.resources.memory")?;
                let limit = m.limit().filter(|v| *v != 0);
                let swap = m.swap().filter(|v| *v != 0);
                // The kernel keeps memsw >= memory at every step: write the
                // swap limit first when it is above the current memory limit.
                let current: i64 = std::fs::read_to_string(d.path.join("memory.limit_in_bytes"))
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .map_or(i64::MAX, |v| i64::try_from(v).unwrap_or(i64::MAX));
                let swap_first = swap.is_some_and(|s| s == -1 || current < s);
                if swap_first {
                    if let Some(s) = swap {
                        write_optional(&d.path, "memory.memsw.limit_in_bytes", &s.to_string())?;
                    }
                }
                if let Some(l) = limit {
                    write(&d.path, "memory.limit_in_bytes", &l.to_string())?;
                }
                if !swap_first {
                    if let Some(s) = swap {
                        write_optional(&d.path, "memory.memsw.limit_in_bytes", &s.to_string())?;
                    }
                }
                if let Some(v) = m.reservation().filter(|v| *v != 0) {
                    write(&d.path, "memory.soft_limit_in_bytes", &v.to_string())?;
                }
                if let Some(v) = m.swappiness().filter(|v| *v <= 100) {
                    write(&d.path, "memory.swappiness", &v.to_string())?;
                }
                if m.disable_oom_killer() == Some(true) {
                    write(&d.path, "memory.oom_control", "1")?;
                }
            }
        }
        if let Some(c) = r.cpu() {
            if c.shares().is_some_and(|v| v != 0)
                || c.quota().is_some_and(|v| v != 0)
                || c.period().is_some_and(|v| v != 0)
                || c.realtime_runtime().is_some_and(|v| v != 0)
                || c.realtime_period().is_some_and(|v| v != 0)
            {
                let d = self.v1_or_missing("cpu", "linux.resources.cpu")?;
                if let Some(v) = c.shares().filter(|v| *v != 0) {
                    write(&d.path, "cpu.shares", &v.to_string())?;
                }
                if let Some(v) = c.period().filter(|v| *v != 0) {
                    write(&d.path, "cpu.cfs_period_us", &v.to_string())?;
                }
                if let Some(v) = c.quota().filter(|v| *v != 0) {
                    write(&d.path, "cpu.cfs_quota_us", &v.to_string())?;
                }
                if let Some(v) = c.realtime_period().filter(|v| *v != 0) {
                    write(&d.path, "cpu.rt_period_us", &v.to_string())?;
                }
                if let Some(v) = c.realtime_runtime().filter(|v| *v != 0) {
                    write(&d.path, "cpu.rt_runtime_us", &v.to_string())?;
                }
            }
            if let Some(v) = c.cpus().as_ref().filter(|v| !v.is_empty()) {
                write(
                    &self
                        .v1_or_missing("cpuset", "linux.resources.cpu.cpus")?
                        .path,
                    "cpuset.cpus",
                    v,
                )?;
            }
            if let Some(v) = c.mems().as_ref().filter(|v| !v.is_empty()) {
                write(
                    &self
                        .v1_or_missing("cpuset", "linux.resources.cpu.mems")?
                        .path,
                    "cpuset.mems",
                    v,
                )?;
            }
        }
        if let Some(p) = r.pids() {
            let limit = p.limit();
            if limit != 0 {
                let d = self.v1_or_missing("pids", "linux.resources.pids")?;
                write(
                    &d.path,
                    "pids.max",
                    &if limit < 0 {
                        "max".to_string()
                    } else {
                        limit.to_string()
                    },
                )?;
            }
        }
        if let Some(b) = r.block_io() {
            let lines = [
                (
                    "blkio.throttle.read_bps_device",
                    throttle_lines(b.throttle_read_bps_device()),
                ),
                (
                    "blkio.throttle.write_bps_device",
                    throttle_lines(b.throttle_write_bps_device()),
                ),
                (
                    "blkio.throttle.read_iops_device",
                    throttle_lines(b.throttle_read_iops_device()),
                ),
                (
                    "blkio.throttle.write_iops_device",
                    throttle_lines(b.throttle_write_iops_device()),
                ),
            ];
            let weight = b.weight().filter(|w| *w != 0);
            if weight.is_some() || lines.iter().any(|(_, l)| !l.is_empty()) {
                let d = self.v1_or_missing("blkio", "linux.resources.blockIO")?;
                if let Some(w) = weight {
                    write(&d.path, "blkio.weight", &w.to_string())
                        .or_else(|_| write(&d.path, "blkio.bfq.weight", &w.to_string()))?;
                }
                for (file, ls) in &lines {
                    for l in ls {
                        write(&d.path, file, l)?;
                    }
                }
            }
        }
        for h in r.hugepage_limits().iter().flatten() {
            let d = self.v1_or_missing("hugetlb", "linux.resources.hugepageLimits")?;
            write(
                &d.path,
                &format!("hugetlb.{}.limit_in_bytes", h.page_size()),
                &h.limit().to_string(),
            )?;
        }
        if let Some(n) = r.network() {
            if let Some(id) = n.class_id() {
                write(
                    &self
                        .v1_or_missing("net_cls", "linux.resources.network.classID")?
                        .path,
                    "net_cls.classid",
                    &id.to_string(),
                )?;
            }
            for p in n.priorities().iter().flatten() {
                let d = self.v1_or_missing("net_prio", "linux.resources.network.priorities")?;
                write(
                    &d.path,
                    "net_prio.ifpriomap",
                    &format!("{} {}", p.name(), p.priority()),
                )?;
            }
        }
        if let Some(u) = r.unified().as_ref().filter(|u| !u.is_empty()) {
            let d = self.unified().ok_or_else(|| {
                CgroupError::Unsupported(
                    "linux.resources.unified needs a cgroup v2 hierarchy".into(),
                )
            })?;
            for (k, v) in u {
                write(&d.path, k, v)?;
            }
        }
        Ok(())
    }

    fn apply_v2(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        let d = self.unified().ok_or(CgroupError::NoHierarchy)?;
        if let Some(devices) = r.devices().as_ref() {
            // The only rule set v2 can honour without an eBPF device program is
            // "deny nothing": refuse anything else rather than ignore it.
            let allow_all = devices
                .last()
                .is_some_and(|x| x.allow() && device_rule(x) == "a");
            if !devices.is_empty() && !allow_all {
                return Err(CgroupError::Unsupported(
                    "device rules on cgroup v2 need an eBPF device program, which berth does not load yet".into(),
                ));
            }
        }
        if let Some(m) = r.memory() {
            if let Some(l) = m.limit().filter(|v| *v != 0) {
                write(
                    &d.path,
                    "memory.max",
                    &if l < 0 { "max".into() } else { l.to_string() },
                )?;
            }
            if let Some(v) = m.reservation().filter(|v| *v != 0) {
                write(&d.path, "memory.low", &v.to_string())?;
            }
            if let Some(s) = m.swap().filter(|v| *v != 0) {
                // v1's swap limit counts memory plus swap; v2's counts swap alone.
                let v = match (s, m.limit()) {
                    (-1, _) => "max".to_string(),
                    (s, Some(l)) if l > 0 => (s - l).max(0).to_string(),
                    (s, _) => s.to_string(),
                };
                write(&d.path, "memory.swap.max", &v)?;
            }
        }
        if let Some(c) = r.cpu() {
            if let Some(w) = c.shares().map(shares_to_weight).filter(|w| *w != 0) {
                write(&d.path, "cpu.weight", &w.to_string())?;
            }
            if c.quota().is_some_and(|q| q != 0) || c.period().is_some_and(|p| p != 0) {
                let quota = c
                    .quota()
                    .filter(|q| *q > 0)
                    .map_or("max".to_string(), |q| q.to_string());
                let period = c.period().filter(|p| *p != 0).unwrap_or(100_000);
                write(&d.path, "cpu.max", &format!("{quota} {period}"))?;
            }
            if let Some(v) = c.cpus().as_ref().filter(|v| !v.is_empty()) {
                write(&d.path, "cpuset.cpus", v)?;
            }
            if let Some(v) = c.mems().as_ref().filter(|v| !v.is_empty()) {
                write(&d.path, "cpuset.mems", v)?;
            }
        }
        if let Some(p) = r.pids() {
            if p.limit() != 0 {
                write(
                    &d.path,
                    "pids.max",
                    &if p.limit() < 0 {
                        "max".to_string()
                    } else {
                        p.limit().to_string()
                    },
                )?;
            }
        }
        if let Some(w) = r
            .block_io()
            .as_ref()
            .and_then(|b| b.weight())
            .map(blkio_weight_to_io)
            .filter(|w| *w != 0)
        {
            write(&d.path, "io.weight", &format!("default {w}"))?;
        }
        if let Some(u) = r.unified() {
            for (k, v) in u {
                write(&d.path, k, v)?;
            }
        }
        Ok(())
    }
}

/// Writes a file that only exists with some kernel options (swap accounting).
fn write_optional(dir: &std::path::Path, file: &str, value: &str) -> Result<(), CgroupError> {
    if !dir.join(file).exists() {
        return Ok(());
    }
    write(dir, file, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_match_runc() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_weight_to_io(10), 1);
        assert_eq!(blkio_weight_to_io(1000), 10_000);
    }

    #[test]
    fn device_rules() {
        let all: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":false,"access":"rwm"}"#).expect("rule");
        assert_eq!(device_rule(&all), "a");
        let null: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}"#)
                .expect("rule");
        assert_eq!(device_rule(&null), "c 1:3 rwm");
        let any: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":true,"type":"c","major":136,"access":"rwm"}"#)
                .expect("rule");
        assert_eq!(device_rule(&any), "c 136:* rwm");
    }
}
