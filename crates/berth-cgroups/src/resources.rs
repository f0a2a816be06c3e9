//! Writing `linux.resources` into the container's cgroup, as runc's fs (v1)
//! and fs2 (v2) drivers do. Only the fields the spec sets are written (a
//! zero means "unset" where runc reads it so); a value the kernel refuses
//! fails with an error naming the spec field, the file and the value. On v2,
//! v1-shaped values are translated with runc's formulas.

use std::fs::File;
use std::io::{ErrorKind as IoKind, Write as _};
use std::path::Path;

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxHugepageLimit, LinuxMemory, LinuxResources,
    LinuxThrottleDevice,
};

use crate::error::CgroupError;
use crate::hierarchy::Mode;
use crate::manager::{read, write_field, Dir, Manager};

/// runc's conversion of cpu shares (v1, 2..=262144, default 1024) to a v2
/// cpu.weight (1..=10000, default 100): a quadratic in log2(shares) that maps
/// the minimum, the default and the maximum onto each other (runc 1.3,
/// opencontainers/cgroups `ConvertCPUSharesToCgroupV2Value`). 0 stays unset.
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    match shares {
        0 => 0,
        1..=2 => 1,
        262_144.. => 10_000,
        _ => {
            // Lossless: shares < 2^18.
            #[allow(clippy::cast_precision_loss)]
            let l = (shares as f64).log2();
            let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
            // The result lies in [1, 10000] for shares in (2, 262144).
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let w = 10f64.powf(exponent).ceil() as u64;
            w.clamp(1, 10_000)
        }
    }
}

/// runc's conversion of a blkio weight (10..=1000) to a v2 io.weight (1..=10000).
pub(crate) fn blkio_weight_to_io(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (u64::from(w).saturating_sub(10) * 9999) / 990
}

/// runc's `ConvertMemorySwapToCgroupV2Value`: the OCI swap limit counts
/// memory plus swap (v1's memsw), v2's memory.swap.max counts swap alone.
pub(crate) fn swap_to_v2(swap: i64, memory: i64) -> Result<i64, CgroupError> {
    let invalid = |reason: &str| CgroupError::InvalidValue {
        field: "linux.resources.memory.swap",
        value: swap.to_string(),
        reason: reason.to_string(),
    };
    match (swap, memory) {
        // Unlimited memory and no swap limit: both unlimited, as on v1.
        (0, -1) => Ok(-1),
        (-1 | 0, _) => Ok(swap),
        (_, 0 | -1) => Err(invalid("a swap limit needs a memory limit")),
        (_, m) if m < 0 => Err(invalid("the memory limit is negative")),
        (s, m) if s < m => Err(invalid(
            "memory+swap must be at least the memory limit (linux.resources.memory.limit)",
        )),
        (s, m) => Ok(s - m),
    }
}

/// A v2 number: -1 is "max".
fn v2_num(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

/// A device rule in the v1 `devices.allow`/`devices.deny` syntax, as runc
/// writes it: `a` for all devices, else `<type> <major|*>:<minor|*> <access>`.
pub(crate) fn device_rule(d: &LinuxDeviceCgroup) -> String {
    let typ = d.typ();
    let t = typ.as_ref().map_or("a", |t| t.as_str());
    if t == "a" {
        return "a".into();
    }
    let num = |n: Option<i64>| n.filter(|n| *n >= 0).map_or("*".into(), |n| n.to_string());
    let access = d.access().as_deref().unwrap_or("");
    format!("{t} {}:{} {access}", num(d.major()), num(d.minor()))
}

fn throttle_lines<'a>(
    devs: &'a Option<Vec<LinuxThrottleDevice>>,
    key: &'a str,
) -> impl Iterator<Item = String> + 'a {
    devs.iter().flatten().map(move |d| {
        if key.is_empty() {
            format!("{}:{} {}", d.major(), d.minor(), d.rate())
        } else {
            format!("{}:{} {key}={}", d.major(), d.minor(), d.rate())
        }
    })
}

/// Writes several lines to one cgroup file, one write(2) each (the kernel
/// takes one rule per write), opening it once.
fn write_lines(
    dir: &Path,
    file: &str,
    lines: impl IntoIterator<Item = String>,
    field: &'static str,
) -> Result<(), CgroupError> {
    let mut handle: Option<File> = None;
    for line in lines {
        let err = |e| CgroupError::Write {
            field,
            file: file.to_string(),
            value: line.clone(),
            dir: dir.to_path_buf(),
            error: e,
        };
        let f = match &mut handle {
            Some(f) => f,
            None => handle.insert(
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(dir.join(file))
                    .map_err(err)?,
            ),
        };
        f.write_all(line.as_bytes()).map_err(err)?;
    }
    Ok(())
}

/// Writes a file that only some kernels have; false when it is missing.
fn write_if_present(
    dir: &Path,
    file: &str,
    value: &str,
    field: &'static str,
) -> Result<bool, CgroupError> {
    match write_field(dir, file, value, field) {
        Ok(()) => Ok(true),
        Err(CgroupError::Write { error: source, .. }) if source.kind() == IoKind::NotFound => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

fn is_errno(e: &CgroupError, errno: i32) -> bool {
    matches!(e, CgroupError::Write { error: source, .. } if source.raw_os_error() == Some(errno))
}

/// Checks a `linux.resources.unified` key: a file name, nothing more.
fn check_unified_key(k: &str) -> Result<(), CgroupError> {
    if k.is_empty() || k.contains('/') || k.starts_with('.') || !k.contains('.') {
        return Err(CgroupError::InvalidValue {
            field: "linux.resources.unified",
            value: k.to_string(),
            reason: "keys must be cgroup file names such as memory.high".into(),
        });
    }
    Ok(())
}

impl Manager {
    fn v1(&self, controller: &'static str, field: &'static str) -> Result<&Dir, CgroupError> {
        self.dirs
            .iter()
            .find(|d| d.has(controller))
            .ok_or(CgroupError::MissingController { field, controller })
    }

    fn unified(&self) -> Option<&Dir> {
        self.dirs.iter().find(|d| d.is_v2())
    }

    /// Applies the resource limits to the container's cgroup (created
    /// before). Call it before adding processes, so that they start limited.
    pub fn apply(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        match self.mode {
            Mode::V2 => {
                let d = self.unified().ok_or(CgroupError::NoHierarchy)?;
                apply_v2(&d.path, r)
            }
            Mode::V1 | Mode::Hybrid => self.apply_v1(r),
        }
    }

    fn apply_v1(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        if let Some(c) = r.cpu() {
            if let Some(cpus) = c.cpus().as_deref().filter(|v| !v.is_empty()) {
                let f = "linux.resources.cpu.cpus";
                write_field(&self.v1("cpuset", f)?.path, "cpuset.cpus", cpus, f)?;
            }
            if let Some(mems) = c.mems().as_deref().filter(|v| !v.is_empty()) {
                let f = "linux.resources.cpu.mems";
                write_field(&self.v1("cpuset", f)?.path, "cpuset.mems", mems, f)?;
            }
        }
        if let Some(devices) = r.devices().as_ref().filter(|d| !d.is_empty()) {
            let d = self.v1("devices", "linux.resources.devices")?;
            set_devices_v1(&d.path, devices)?;
        }
        if let Some(m) = r.memory() {
            let wanted = [m.limit(), m.reservation(), m.swap()]
                .iter()
                .any(|v| v.is_some_and(|v| v != 0))
                || m.swappiness().is_some()
                || m.disable_oom_killer() == Some(true);
            if wanted {
                let d = self.v1("memory", "linux.resources.memory")?;
                set_memory_v1(&d.path, m)?;
            }
        }
        if let Some(c) = r.cpu() {
            let wanted = c.shares().is_some_and(|v| v != 0)
                || c.quota().is_some_and(|v| v != 0)
                || c.period().is_some_and(|v| v != 0)
                || c.burst().is_some()
                || c.idle().is_some()
                || c.realtime_runtime().is_some_and(|v| v != 0)
                || c.realtime_period().is_some_and(|v| v != 0);
            if wanted {
                let d = self.v1("cpu", "linux.resources.cpu")?;
                set_cpu_v1(&d.path, c)?;
            }
        }
        if let Some(p) = r.pids().as_ref().filter(|p| p.limit() != 0) {
            let f = "linux.resources.pids.limit";
            let d = self.v1("pids", f)?;
            write_field(&d.path, "pids.max", &v2_num(p.limit()), f)?;
        }
        if let Some(b) = r.block_io() {
            let wanted = b.weight().is_some_and(|w| w != 0)
                || b.leaf_weight().is_some_and(|w| w != 0)
                || [
                    b.throttle_read_bps_device(),
                    b.throttle_write_bps_device(),
                    b.throttle_read_iops_device(),
                    b.throttle_write_iops_device(),
                ]
                .iter()
                .any(|t| t.as_ref().is_some_and(|t| !t.is_empty()))
                || b.weight_device().as_ref().is_some_and(|w| !w.is_empty());
            if wanted {
                let d = self.v1("blkio", "linux.resources.blockIO")?;
                set_blkio_v1(&d.path, b)?;
            }
        }
        if let Some(limits) = r.hugepage_limits().as_ref().filter(|h| !h.is_empty()) {
            self.set_hugetlb_v1(limits)?;
        }
        if let Some(n) = r.network() {
            if let Some(id) = n.class_id() {
                let f = "linux.resources.network.classID";
                write_field(
                    &self.v1("net_cls", f)?.path,
                    "net_cls.classid",
                    &id.to_string(),
                    f,
                )?;
            }
            if let Some(prios) = n.priorities().as_ref().filter(|p| !p.is_empty()) {
                let f = "linux.resources.network.priorities";
                let d = self.v1("net_prio", f)?;
                let lines = prios
                    .iter()
                    .map(|p| format!("{} {}", p.name(), p.priority()));
                write_lines(&d.path, "net_prio.ifpriomap", lines, f)?;
            }
        }
        if let Some(rdma) = r.rdma().as_ref().filter(|r| !r.is_empty()) {
            let d = self.v1("rdma", "linux.resources.rdma")?;
            set_rdma(&d.path, rdma)?;
        }
        if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
            // As runc: unified keys address v2 files of the container's one
            // cgroup, which a v1 or hybrid host does not have.
            return Err(CgroupError::Unsupported {
                field: "linux.resources.unified",
                reason: "needs a host in cgroup v2 (unified) mode",
            });
        }
        Ok(())
    }

    /// v1 hugetlb, or on a hybrid host whose hugetlb controller sits in the
    /// unified hierarchy, that one (enabled down to the container's cgroup).
    fn set_hugetlb_v1(&self, limits: &[LinuxHugepageLimit]) -> Result<(), CgroupError> {
        let f = "linux.resources.hugepageLimits";
        if let Ok(d) = self.v1("hugetlb", f) {
            let mut rsvd = true;
            for h in limits {
                let prefix = format!("hugetlb.{}", h.page_size());
                let v = h.limit().to_string();
                write_field(&d.path, &format!("{prefix}.limit_in_bytes"), &v, f)?;
                if rsvd {
                    rsvd =
                        write_if_present(&d.path, &format!("{prefix}.rsvd.limit_in_bytes"), &v, f)?;
                }
            }
            return Ok(());
        }
        let Some(u) = self.unified().filter(|u| {
            read(&u.mountpoint.join("cgroup.controllers"))
                .is_ok_and(|c| c.split_whitespace().any(|c| c == "hugetlb"))
        }) else {
            return Err(CgroupError::MissingController {
                field: f,
                controller: "hugetlb",
            });
        };
        enable_v2_controller(&u.mountpoint, &u.path, "hugetlb", f)?;
        set_hugetlb_v2(&u.path, limits)
    }
}

fn set_devices_v1(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<(), CgroupError> {
    let f = "linux.resources.devices";
    let mut allow: Option<File> = None;
    let mut deny: Option<File> = None;
    for rule in rules {
        let (slot, file) = if rule.allow() {
            (&mut allow, "devices.allow")
        } else {
            (&mut deny, "devices.deny")
        };
        let line = device_rule(rule);
        let err = |e| CgroupError::Write {
            field: f,
            file: file.to_string(),
            value: line.clone(),
            dir: dir.to_path_buf(),
            error: e,
        };
        let handle = match slot {
            Some(h) => h,
            None => slot.insert(
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(dir.join(file))
                    .map_err(err)?,
            ),
        };
        handle.write_all(line.as_bytes()).map_err(err)?;
    }
    Ok(())
}

/// runc's `setMemoryAndSwap` and the rest of its v1 memory `Set`.
fn set_memory_v1(dir: &Path, m: &LinuxMemory) -> Result<(), CgroupError> {
    const LIMIT: &str = "memory.limit_in_bytes";
    const MEMSW: &str = "memory.memsw.limit_in_bytes";
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    // Unlimited memory with no swap limit given: swap unlimited too (when
    // the kernel accounts swap at all).
    if limit == -1 && swap == 0 && dir.join(MEMSW).exists() {
        swap = -1;
    }
    let set_limit = || {
        if limit != 0 {
            write_field(
                dir,
                LIMIT,
                &limit.to_string(),
                "linux.resources.memory.limit",
            )?;
        }
        Ok::<(), CgroupError>(())
    };
    let set_swap = || {
        if swap != 0 {
            write_field(dir, MEMSW, &swap.to_string(), "linux.resources.memory.swap")?;
        }
        Ok::<(), CgroupError>(())
    };
    // The kernel keeps memsw >= memory at every step: raising both means
    // swap first, lowering both means memory first.
    let swap_first = limit != 0
        && swap != 0
        && (swap == -1
            || read(&dir.join(LIMIT))?
                .trim()
                .parse::<u64>()
                .is_ok_and(|cur| u64::try_from(swap).is_ok_and(|s| cur < s)));
    if swap_first {
        set_swap()?;
        set_limit()?;
    } else {
        set_limit()?;
        set_swap()?;
    }
    // memory.kernel and memory.kernelTCP are deprecated and ignored, as by runc.
    if let Some(v) = m.reservation().filter(|v| *v != 0) {
        write_field(
            dir,
            "memory.soft_limit_in_bytes",
            &v.to_string(),
            "linux.resources.memory.reservation",
        )?;
    }
    if m.disable_oom_killer() == Some(true) {
        write_field(
            dir,
            "memory.oom_control",
            "1",
            "linux.resources.memory.disableOOMKiller",
        )?;
    }
    match m.swappiness() {
        // u64::MAX is -1 read as unsigned, which runc takes as "unset".
        None | Some(u64::MAX) => {}
        Some(v @ 0..=100) => write_field(
            dir,
            "memory.swappiness",
            &v.to_string(),
            "linux.resources.memory.swappiness",
        )?,
        Some(v) => {
            return Err(CgroupError::InvalidValue {
                field: "linux.resources.memory.swappiness",
                value: v.to_string(),
                reason: "the valid range is 0-100".into(),
            })
        }
    }
    Ok(())
}

/// runc's v1 cpu `Set`: shares (read back, since the kernel clamps them
/// silently), period, burst and quota (a period or burst the kernel refuses
/// before the new quota is in place is retried after it), idle, realtime.
fn set_cpu_v1(dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    if let Some(shares) = c.shares().filter(|v| *v != 0) {
        let f = "linux.resources.cpu.shares";
        write_field(dir, "cpu.shares", &shares.to_string(), f)?;
        let got = read(&dir.join("cpu.shares"))?;
        if let Ok(got) = got.trim().parse::<u64>() {
            if got != shares {
                return Err(CgroupError::InvalidValue {
                    field: f,
                    value: shares.to_string(),
                    reason: format!(
                        "the kernel's {} allowed cpu.shares is {got}",
                        if shares > got { "maximum" } else { "minimum" }
                    ),
                });
            }
        }
    }
    let quota = c.quota().filter(|v| *v != 0);
    let mut period_again = None;
    if let Some(p) = c.period().filter(|v| *v != 0) {
        let v = p.to_string();
        match write_field(dir, "cpu.cfs_period_us", &v, "linux.resources.cpu.period") {
            Ok(()) => {}
            Err(e) if quota.is_some() && is_errno(&e, libc::EINVAL) => period_again = Some(v),
            Err(e) => return Err(e),
        }
    }
    let mut burst_again = None;
    if let Some(b) = c.burst() {
        let v = b.to_string();
        match write_field(dir, "cpu.cfs_burst_us", &v, "linux.resources.cpu.burst") {
            Ok(()) => {}
            Err(e) if quota.is_some() && is_errno(&e, libc::EINVAL) => burst_again = Some(v),
            Err(e) => return Err(e),
        }
    }
    if let Some(q) = quota {
        write_field(
            dir,
            "cpu.cfs_quota_us",
            &q.to_string(),
            "linux.resources.cpu.quota",
        )?;
        if let Some(v) = period_again {
            write_field(dir, "cpu.cfs_period_us", &v, "linux.resources.cpu.period")?;
        }
        if let Some(v) = burst_again {
            write_field(dir, "cpu.cfs_burst_us", &v, "linux.resources.cpu.burst")?;
        }
    }
    if let Some(i) = c.idle() {
        write_field(dir, "cpu.idle", &i.to_string(), "linux.resources.cpu.idle")?;
    }
    if let Some(p) = c.realtime_period().filter(|v| *v != 0) {
        write_field(
            dir,
            "cpu.rt_period_us",
            &p.to_string(),
            "linux.resources.cpu.realtimePeriod",
        )?;
    }
    if let Some(r) = c.realtime_runtime().filter(|v| *v != 0) {
        write_field(
            dir,
            "cpu.rt_runtime_us",
            &r.to_string(),
            "linux.resources.cpu.realtimeRuntime",
        )?;
    }
    Ok(())
}

/// v1 blkio. The BFQ scheduler's weight files are preferred when the kernel
/// has them (`blkio.bfq.weight`), as runc does; CFQ's otherwise.
fn set_blkio_v1(dir: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    let bfq = dir.join("blkio.bfq.weight").exists();
    let (weight, weight_device) = if bfq {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    } else {
        ("blkio.weight", "blkio.weight_device")
    };
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        write_field(
            dir,
            weight,
            &w.to_string(),
            "linux.resources.blockIO.weight",
        )?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        write_field(
            dir,
            "blkio.leaf_weight",
            &w.to_string(),
            "linux.resources.blockIO.leafWeight",
        )?;
    }
    for wd in b.weight_device().iter().flatten() {
        let f = "linux.resources.blockIO.weightDevice";
        if let Some(w) = wd.weight().filter(|w| *w != 0) {
            let line = format!("{}:{} {w}", wd.major(), wd.minor());
            write_field(dir, weight_device, &line, f)?;
        }
        if let Some(w) = wd.leaf_weight().filter(|w| *w != 0) {
            let line = format!("{}:{} {w}", wd.major(), wd.minor());
            write_field(dir, "blkio.leaf_weight_device", &line, f)?;
        }
    }
    for (file, devs, f) in [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
            "linux.resources.blockIO.throttleReadBpsDevice",
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
            "linux.resources.blockIO.throttleWriteBpsDevice",
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
            "linux.resources.blockIO.throttleReadIOPSDevice",
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
            "linux.resources.blockIO.throttleWriteIOPSDevice",
        ),
    ] {
        write_lines(dir, file, throttle_lines(devs, ""), f)?;
    }
    Ok(())
}

fn set_rdma(
    dir: &Path,
    rdma: &std::collections::HashMap<String, oci_spec::runtime::LinuxRdma>,
) -> Result<(), CgroupError> {
    let lines = rdma.iter().map(|(dev, l)| {
        let mut line = dev.clone();
        if let Some(h) = l.hca_handles() {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = l.hca_objects() {
            line.push_str(&format!(" hca_object={o}"));
        }
        line
    });
    write_lines(dir, "rdma.max", lines, "linux.resources.rdma")
}

fn set_hugetlb_v2(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<(), CgroupError> {
    let f = "linux.resources.hugepageLimits";
    let mut rsvd = true;
    for h in limits {
        let prefix = format!("hugetlb.{}", h.page_size());
        let v = v2_num(h.limit());
        write_field(dir, &format!("{prefix}.max"), &v, f)?;
        if rsvd {
            rsvd = write_if_present(dir, &format!("{prefix}.rsvd.max"), &v, f)?;
        }
    }
    Ok(())
}

/// Enables one controller in `cgroup.subtree_control` from the hierarchy's
/// root down to the parent of `path`.
fn enable_v2_controller(
    mountpoint: &Path,
    path: &Path,
    controller: &str,
    field: &'static str,
) -> Result<(), CgroupError> {
    let rel = path.strip_prefix(mountpoint).unwrap_or(Path::new(""));
    let mut cur = mountpoint.to_path_buf();
    let value = format!("+{controller}");
    for c in rel.components() {
        write_field(&cur, "cgroup.subtree_control", &value, field)?;
        cur.push(c);
    }
    Ok(())
}

/// runc's fs2 `Set`: devices (an eBPF program), pids, memory, io, cpu,
/// hugetlb, cpuset, rdma, then the raw `unified` keys, which override.
fn apply_v2(dir: &Path, r: &LinuxResources) -> Result<(), CgroupError> {
    if let Some(devices) = r.devices().as_ref().filter(|d| !d.is_empty()) {
        crate::devices_v2::set_devices_v2(dir, devices)?;
    }
    if let Some(p) = r.pids().as_ref().filter(|p| p.limit() != 0) {
        write_field(
            dir,
            "pids.max",
            &v2_num(p.limit()),
            "linux.resources.pids.limit",
        )?;
    }
    if let Some(m) = r.memory() {
        set_memory_v2(dir, m)?;
    }
    if let Some(b) = r.block_io() {
        set_io_v2(dir, b)?;
    }
    if let Some(c) = r.cpu() {
        set_cpu_v2(dir, c)?;
    }
    if let Some(h) = r.hugepage_limits().as_ref().filter(|h| !h.is_empty()) {
        set_hugetlb_v2(dir, h)?;
    }
    if let Some(c) = r.cpu() {
        if let Some(cpus) = c.cpus().as_deref().filter(|v| !v.is_empty()) {
            write_field(dir, "cpuset.cpus", cpus, "linux.resources.cpu.cpus")?;
        }
        if let Some(mems) = c.mems().as_deref().filter(|v| !v.is_empty()) {
            write_field(dir, "cpuset.mems", mems, "linux.resources.cpu.mems")?;
        }
    }
    if let Some(rdma) = r.rdma().as_ref().filter(|r| !r.is_empty()) {
        set_rdma(dir, rdma)?;
    }
    if let Some(n) = r.network() {
        if n.class_id().is_some() || n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(CgroupError::Unsupported {
                field: "linux.resources.network",
                reason: "net_cls and net_prio exist only in cgroup v1",
            });
        }
    }
    if let Some(u) = r.unified() {
        // Sorted, so that the outcome does not depend on hash order.
        let mut keys: Vec<_> = u.iter().collect();
        keys.sort();
        for (k, v) in keys {
            check_unified_key(k)?;
            write_field(dir, k, v, "linux.resources.unified")?;
        }
    }
    Ok(())
}

/// runc's fs2 `setMemory`: swap (converted) first, then memory.max and
/// memory.low. swappiness and disableOOMKiller have no v2 file and are
/// ignored, as by runc.
fn set_memory_v2(dir: &Path, m: &LinuxMemory) -> Result<(), CgroupError> {
    let limit = m.limit().unwrap_or(0);
    let swap_spec = m.swap().unwrap_or(0);
    let reservation = m.reservation().unwrap_or(0);
    if limit == 0 && swap_spec == 0 && reservation == 0 {
        return Ok(());
    }
    let swap = swap_to_v2(swap_spec, limit)?;
    // memory == memory+swap: no swap at all.
    let swap_value = match swap {
        0 if swap_spec > 0 => Some("0".to_string()),
        0 => None,
        s => Some(v2_num(s)),
    };
    if let Some(v) = swap_value {
        let f = "linux.resources.memory.swap";
        // Without swap accounting there is no file: "max" and "0" are then
        // what the host does anyway.
        if !write_if_present(dir, "memory.swap.max", &v, f)? && v != "max" && v != "0" {
            return Err(CgroupError::Unsupported {
                field: f,
                reason: "the kernel does not account swap (no memory.swap.max)",
            });
        }
    }
    if limit != 0 {
        write_field(
            dir,
            "memory.max",
            &v2_num(limit),
            "linux.resources.memory.limit",
        )?;
    }
    if reservation != 0 {
        write_field(
            dir,
            "memory.low",
            &v2_num(reservation),
            "linux.resources.memory.reservation",
        )?;
    }
    Ok(())
}

/// runc's fs2 `setIo`: BFQ's io.bfq.weight when the kernel has it (it takes
/// the v1 value as is, and per-device weights), else io.weight converted;
/// throttles as io.max lines.
fn set_io_v2(dir: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    let weight = b.weight().filter(|w| *w != 0);
    let devices = b.weight_device().as_deref().unwrap_or(&[]);
    if weight.is_some() || !devices.is_empty() {
        let bfq = dir.join("io.bfq.weight").exists();
        if let Some(w) = weight {
            if bfq {
                write_field(
                    dir,
                    "io.bfq.weight",
                    &w.to_string(),
                    "linux.resources.blockIO.weight",
                )?;
            } else {
                write_field(
                    dir,
                    "io.weight",
                    &blkio_weight_to_io(w).to_string(),
                    "linux.resources.blockIO.weight",
                )?;
            }
        }
        let f = "linux.resources.blockIO.weightDevice";
        let lines: Vec<String> = devices
            .iter()
            .filter_map(|d| {
                d.weight()
                    .map(|w| format!("{}:{} {w}", d.major(), d.minor()))
            })
            .collect();
        if !lines.is_empty() {
            if !bfq {
                return Err(CgroupError::Unsupported {
                    field: f,
                    reason: "per-device weights on cgroup v2 need the BFQ I/O scheduler",
                });
            }
            write_lines(dir, "io.bfq.weight", lines, f)?;
        }
    }
    for (devs, key, f) in [
        (
            b.throttle_read_bps_device(),
            "rbps",
            "linux.resources.blockIO.throttleReadBpsDevice",
        ),
        (
            b.throttle_write_bps_device(),
            "wbps",
            "linux.resources.blockIO.throttleWriteBpsDevice",
        ),
        (
            b.throttle_read_iops_device(),
            "riops",
            "linux.resources.blockIO.throttleReadIOPSDevice",
        ),
        (
            b.throttle_write_iops_device(),
            "wiops",
            "linux.resources.blockIO.throttleWriteIOPSDevice",
        ),
    ] {
        write_lines(dir, "io.max", throttle_lines(devs, key), f)?;
    }
    Ok(())
}

/// runc's fs2 `setCpu`: cpu.weight from the shares, cpu.idle, cpu.max.burst,
/// cpu.max ("max" when there is no quota; the period only when given).
fn set_cpu_v2(dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    if c.realtime_runtime().is_some_and(|v| v != 0) || c.realtime_period().is_some_and(|v| v != 0) {
        return Err(CgroupError::Unsupported {
            field: "linux.resources.cpu.realtimeRuntime",
            reason: "cgroup v2 has no realtime scheduling settings",
        });
    }
    if let Some(w) = c.shares().map(shares_to_weight).filter(|w| *w != 0) {
        write_field(
            dir,
            "cpu.weight",
            &w.to_string(),
            "linux.resources.cpu.shares",
        )?;
    }
    if let Some(i) = c.idle() {
        write_field(dir, "cpu.idle", &i.to_string(), "linux.resources.cpu.idle")?;
    }
    if let Some(b) = c.burst() {
        write_field(
            dir,
            "cpu.max.burst",
            &b.to_string(),
            "linux.resources.cpu.burst",
        )?;
    }
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    if quota != 0 || period != 0 {
        let mut v = if quota > 0 {
            quota.to_string()
        } else {
            "max".to_string()
        };
        if period != 0 {
            v.push_str(&format!(" {period}"));
        }
        write_field(dir, "cpu.max", &v, "linux.resources.cpu.quota")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_match_runc() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 100);
        assert_eq!(shares_to_weight(512), 59);
        assert_eq!(shares_to_weight(2048), 174);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1 << 30), 10_000);
        assert_eq!(blkio_weight_to_io(0), 0);
        assert_eq!(blkio_weight_to_io(10), 1);
        assert_eq!(blkio_weight_to_io(500), 4950);
        assert_eq!(blkio_weight_to_io(1000), 10_000);
    }

    #[test]
    fn swap_conversion_matches_runc() {
        assert_eq!(swap_to_v2(0, -1).expect("unlimited"), -1);
        assert_eq!(swap_to_v2(-1, 100).expect("max"), -1);
        assert_eq!(swap_to_v2(0, 100).expect("unset"), 0);
        assert_eq!(swap_to_v2(300, 100).expect("sub"), 200);
        assert_eq!(swap_to_v2(100, 100).expect("no swap"), 0);
        assert!(swap_to_v2(50, 100).is_err());
        assert!(swap_to_v2(50, 0).is_err());
        assert!(swap_to_v2(50, -1).is_err());
    }

    #[test]
    fn device_rules() {
        let rule = |json: &str| -> LinuxDeviceCgroup { serde_json::from_str(json).expect("rule") };
        assert_eq!(device_rule(&rule(r#"{"allow":false,"access":"rwm"}"#)), "a");
        assert_eq!(
            device_rule(&rule(
                r#"{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}"#
            )),
            "c 1:3 rwm"
        );
        assert_eq!(
            device_rule(&rule(
                r#"{"allow":true,"type":"c","major":136,"access":"rw"}"#
            )),
            "c 136:* rw"
        );
        assert_eq!(
            device_rule(&rule(
                r#"{"allow":true,"type":"b","major":-1,"minor":-1,"access":"m"}"#
            )),
            "b *:* m"
        );
    }

    #[test]
    fn unified_keys_are_file_names() {
        assert!(check_unified_key("memory.high").is_ok());
        for bad in ["", "../memory.max", "a/b.c", ".hidden", "nodot"] {
            assert!(check_unified_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn v2_device_errors_name_the_field() {
        let r: LinuxResources = serde_json::from_str(
            r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwx"}]}"#,
        )
        .expect("resources");
        let e = apply_v2(Path::new("/nonexistent-berth-test"), &r).expect_err("invalid access");
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("linux.resources.devices"), "{e}");
        let ok: LinuxResources = serde_json::from_str(r#"{"devices":[]}"#).expect("resources");
        assert!(apply_v2(Path::new("/nonexistent-berth-test"), &ok).is_ok());
    }
}
