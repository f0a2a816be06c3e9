//! Resource usage, in the JSON shape of runc's `types/events.go` (what
//! `runc events --stats` prints under `data`). Field names and omission
//! rules follow Go's encoding there: `omitempty` numbers, lists and maps are
//! left out when zero or empty, structs never are.
//!
//! The sources are those runc reads: cpuacct/cpu/memory/pids/blkio/hugetlb
//! files on v1, cpu.stat/memory.*/pids.*/io.stat/hugetlb.* and the PSI
//! files on v2. A controller the host lacks leaves its part at zero.

use std::collections::{BTreeMap, HashMap};
use std::io::ErrorKind as IoKind;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::CgroupError;
use crate::hierarchy::Mode;
use crate::manager::{Dir, Manager};

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub cpu: Cpu,
    pub cpuset: CpuSet,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: BTreeMap<String, Hugetlb>,
    /// Intel RDT is not a cgroup: always empty here (`{}` as with runc
    /// when RDT is off).
    pub intel_rdt: BTreeMap<String, serde_json::Value>,
    /// Filled by the runtime, which knows the network namespace (`null` otherwise).
    pub network_interfaces: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cpu {
    #[serde(default)]
    pub usage: CpuUsage,
    #[serde(default)]
    pub throttling: Throttling,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi: Option<PsiStats>,
}

/// Nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuUsage {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub total: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    #[serde(default)]
    pub kernel: u64,
    #[serde(default)]
    pub user: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Throttling {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub periods: u64,
    #[serde(default, rename = "throttledPeriods", skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Nanoseconds.
    #[serde(default, rename = "throttledTime", skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuSet {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    #[serde(default)]
    pub cpu_exclusive: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    #[serde(default)]
    pub mem_hardwall: u64,
    #[serde(default)]
    pub mem_exclusive: u64,
    #[serde(default)]
    pub memory_migrate: u64,
    #[serde(default)]
    pub memory_spread_page: u64,
    #[serde(default)]
    pub memory_spread_slab: u64,
    #[serde(default)]
    pub memory_pressure: u64,
    #[serde(default)]
    pub sched_load_balance: u64,
    #[serde(default)]
    pub sched_relax_domain_level: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryEntry {
    /// u64::MAX when unlimited, as runc reports it.
    #[serde(default)]
    pub limit: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max: u64,
    #[serde(default)]
    pub failcnt: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache: u64,
    #[serde(default)]
    pub usage: MemoryEntry,
    /// Memory plus swap, as v1's memsw counts it (v2 values are added up).
    #[serde(default)]
    pub swap: MemoryEntry,
    #[serde(default)]
    pub kernel: MemoryEntry,
    #[serde(default, rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// memory.stat as it is (`rss`, `cache`, `anon`, `file`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi: Option<PsiStats>,
    #[serde(default)]
    pub event_count: MemoryEventCount,
}

/// memory.events on v2 (v1 knows only oom_kill, from memory.oom_control).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryEventCount {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub low: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub high: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub oom: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub oom_kill: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pids {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub current: u64,
    /// 0 when unlimited.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlkioEntry {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub major: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub minor: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub value: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blkio {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
    #[serde(
        default,
        rename = "ioQueueRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_queued_recursive: Vec<BlkioEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_service_time_recursive: Vec<BlkioEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_merged_recursive: Vec<BlkioEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_time_recursive: Vec<BlkioEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sectors_recursive: Vec<BlkioEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi: Option<PsiStats>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hugetlb {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max: u64,
    #[serde(default)]
    pub failcnt: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PsiData {
    pub avg10: f64,
    pub avg60: f64,
    pub avg300: f64,
    pub total: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PsiStats {
    #[serde(default)]
    pub some: PsiData,
    #[serde(default)]
    pub full: PsiData,
}

/// A cgroup file's content; None when it does not exist.
fn read_opt(dir: &Path, file: &str) -> Result<Option<String>, CgroupError> {
    let path = dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == IoKind::NotFound => Ok(None),
        // Some stat files exist but are not implemented for every device.
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(None),
        Err(e) => Err(CgroupError::io("read", path, e)),
    }
}

fn parse_u64(path: &Path, s: &str) -> Result<u64, CgroupError> {
    let t = s.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    // v1 reports "-1"-like unlimited values as huge numbers; negative ones
    // (sched_relax_domain_level aside) read as 0, as runc's ParseUint does.
    t.parse::<u64>().or_else(|_| {
        t.parse::<i64>().map(|_| 0).map_err(|_| CgroupError::Parse {
            path: path.to_path_buf(),
            content: t.to_string(),
        })
    })
}

/// A single-number file; 0 when it is missing.
fn read_u64(dir: &Path, file: &str) -> Result<u64, CgroupError> {
    match read_opt(dir, file)? {
        Some(s) => parse_u64(&dir.join(file), &s),
        None => Ok(0),
    }
}

/// `key value` lines (cpu.stat, memory.stat, memory.events, cpuacct.stat).
pub(crate) fn parse_flat_keyed(text: &str) -> HashMap<&str, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k, v.trim().parse().ok()?))
        })
        .collect()
}

/// `0-3,5` → [0, 1, 2, 3, 5].
pub(crate) fn parse_list(s: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<u16>().ok()),
        }
    }
    out
}

/// One PSI file: `some avg10=0.00 avg60=0.00 avg300=0.00 total=0`.
pub(crate) fn parse_psi(text: &str) -> PsiStats {
    let mut psi = PsiStats::default();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let target = match it.next() {
            Some("some") => &mut psi.some,
            Some("full") => &mut psi.full,
            _ => continue,
        };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            match k {
                "avg10" => target.avg10 = v.parse().unwrap_or_default(),
                "avg60" => target.avg60 = v.parse().unwrap_or_default(),
                "avg300" => target.avg300 = v.parse().unwrap_or_default(),
                "total" => target.total = v.parse().unwrap_or_default(),
                _ => {}
            }
        }
    }
    psi
}

/// v1 blkio lines: `8:0 Read 4096`, `8:0 1234` (no op), `Total 5`.
pub(crate) fn parse_blkio_v1(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (major, minor) = it.next()?.split_once(':')?;
            let (op, value) = match (it.next()?, it.next()) {
                (op, Some(v)) => (op.to_string(), v),
                (v, None) => (String::new(), v),
            };
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op,
                value: value.parse().ok()?,
            })
        })
        .collect()
}

/// v2 io.stat: `8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0`.
pub(crate) fn parse_io_stat(text: &str, blkio: &mut Blkio) {
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let Some((Ok(major), Ok(minor))) = it
            .next()
            .and_then(|d| d.split_once(':'))
            .map(|(a, b)| (a.parse::<u64>(), b.parse::<u64>()))
        else {
            continue;
        };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse::<u64>() else {
                continue;
            };
            let (table, op) = match k {
                "rbytes" => (&mut blkio.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut blkio.io_service_bytes_recursive, "Write"),
                "rios" => (&mut blkio.io_serviced_recursive, "Read"),
                "wios" => (&mut blkio.io_serviced_recursive, "Write"),
                _ => continue,
            };
            table.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            });
        }
    }
}

/// The huge page sizes of the host, named as cgroup files name them
/// (`hugepages-2048kB` → `2MB`).
fn huge_page_sizes() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let kb: u64 = name
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some(page_size_name(kb))
        })
        .collect();
    out.sort();
    out
}

pub(crate) fn page_size_name(kb: u64) -> String {
    let units = ["KB", "MB", "GB", "TB", "PB"];
    let mut v = kb;
    let mut i = 0;
    while v >= 1024 && v % 1024 == 0 && i + 1 < units.len() {
        v /= 1024;
        i += 1;
    }
    format!("{v}{}", units[i])
}

impl Manager {
    /// Resource usage of the container's cgroup.
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        let mut s = Stats::default();
        if self.mode == Mode::V2 {
            if let Some(d) = self.dirs.iter().find(|d| d.is_v2()) {
                stats_v2(&d.path, &mut s)?;
            }
            return Ok(s);
        }
        let dir = |c: &str| self.dirs.iter().find(|d| d.has(c)).map(|d: &Dir| &d.path);
        if let Some(p) = dir("cpuacct") {
            cpuacct_v1(p, &mut s.cpu.usage)?;
        }
        if let Some(p) = dir("cpu") {
            throttling(p, &mut s.cpu.throttling, 1)?;
        }
        if let Some(p) = dir("cpuset") {
            cpuset_v1(p, &mut s.cpuset)?;
        }
        if let Some(p) = dir("memory") {
            memory_v1(p, &mut s.memory)?;
        }
        if let Some(p) = dir("pids") {
            pids(p, &mut s.pids)?;
        }
        if let Some(p) = dir("blkio") {
            blkio_v1(p, &mut s.blkio)?;
        }
        if let Some(p) = dir("hugetlb") {
            for size in huge_page_sizes() {
                let prefix = format!("hugetlb.{size}");
                let h = Hugetlb {
                    usage: read_u64(p, &format!("{prefix}.usage_in_bytes"))?,
                    max: read_u64(p, &format!("{prefix}.max_usage_in_bytes"))?,
                    failcnt: read_u64(p, &format!("{prefix}.failcnt"))?,
                };
                s.hugetlb.insert(size, h);
            }
        } else if let Some(u) = self.dirs.iter().find(|d| d.is_v2()) {
            // A hybrid host whose hugetlb controller is in the unified hierarchy.
            hugetlb_v2(&u.path, &mut s.hugetlb)?;
        }
        Ok(s)
    }
}

fn cpuacct_v1(dir: &Path, u: &mut CpuUsage) -> Result<(), CgroupError> {
    u.total = read_u64(dir, "cpuacct.usage")?;
    if let Some(t) = read_opt(dir, "cpuacct.usage_percpu")? {
        u.percpu = t
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
    }
    // cpuacct.stat counts clock ticks: convert to nanoseconds.
    if let Some(t) = read_opt(dir, "cpuacct.stat")? {
        let kv = parse_flat_keyed(&t);
        let hz = rustix::param::clock_ticks_per_second().max(1);
        let ns = |ticks: u64| ticks.saturating_mul(1_000_000_000) / hz;
        u.user = ns(kv.get("user").copied().unwrap_or(0));
        u.kernel = ns(kv.get("system").copied().unwrap_or(0));
    }
    // Per-CPU user/system time in nanoseconds: `cpu user system` header,
    // then one line per CPU.
    if let Some(t) = read_opt(dir, "cpuacct.usage_all")? {
        for line in t.lines().skip(1) {
            let v: Vec<u64> = line
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if let [_, user, system] = v[..] {
                u.percpu_user.push(user);
                u.percpu_kernel.push(system);
            }
        }
    }
    Ok(())
}

/// cpu.stat's throttling counters; `scale` turns v2's microseconds into ns.
fn throttling(dir: &Path, t: &mut Throttling, scale: u64) -> Result<(), CgroupError> {
    if let Some(text) = read_opt(dir, "cpu.stat")? {
        let kv = parse_flat_keyed(&text);
        let get = |k: &str| kv.get(k).copied().unwrap_or(0);
        t.periods = get("nr_periods");
        t.throttled_periods = get("nr_throttled");
        t.throttled_time = if scale == 1 {
            get("throttled_time")
        } else {
            get("throttled_usec").saturating_mul(scale)
        };
    }
    Ok(())
}

fn cpuset_v1(dir: &Path, c: &mut CpuSet) -> Result<(), CgroupError> {
    if let Some(t) = read_opt(dir, "cpuset.cpus")? {
        c.cpus = parse_list(&t);
    }
    if let Some(t) = read_opt(dir, "cpuset.mems")? {
        c.mems = parse_list(&t);
    }
    c.cpu_exclusive = read_u64(dir, "cpuset.cpu_exclusive")?;
    c.mem_hardwall = read_u64(dir, "cpuset.mem_hardwall")?;
    c.mem_exclusive = read_u64(dir, "cpuset.mem_exclusive")?;
    c.memory_migrate = read_u64(dir, "cpuset.memory_migrate")?;
    c.memory_spread_page = read_u64(dir, "cpuset.memory_spread_page")?;
    c.memory_spread_slab = read_u64(dir, "cpuset.memory_spread_slab")?;
    c.memory_pressure = read_u64(dir, "cpuset.memory_pressure")?;
    c.sched_load_balance = read_u64(dir, "cpuset.sched_load_balance")?;
    if let Some(t) = read_opt(dir, "cpuset.sched_relax_domain_level")? {
        c.sched_relax_domain_level = t.trim().parse().unwrap_or_default();
    }
    Ok(())
}

/// runc's `getMemoryData` for one v1 prefix (`memory`, `memory.memsw`, ...).
fn memory_entry_v1(dir: &Path, prefix: &str) -> Result<MemoryEntry, CgroupError> {
    Ok(MemoryEntry {
        usage: read_u64(dir, &format!("{prefix}.usage_in_bytes"))?,
        max: read_u64(dir, &format!("{prefix}.max_usage_in_bytes"))?,
        failcnt: read_u64(dir, &format!("{prefix}.failcnt"))?,
        limit: read_u64(dir, &format!("{prefix}.limit_in_bytes"))?,
    })
}

fn memory_v1(dir: &Path, m: &mut Memory) -> Result<(), CgroupError> {
    if let Some(t) = read_opt(dir, "memory.stat")? {
        m.raw = parse_flat_keyed(&t)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    }
    m.cache = m.raw.get("cache").copied().unwrap_or(0);
    m.usage = memory_entry_v1(dir, "memory")?;
    m.swap = memory_entry_v1(dir, "memory.memsw")?;
    m.kernel = memory_entry_v1(dir, "memory.kmem")?;
    m.kernel_tcp = memory_entry_v1(dir, "memory.kmem.tcp")?;
    if let Some(t) = read_opt(dir, "memory.oom_control")? {
        m.event_count.oom_kill = parse_flat_keyed(&t).get("oom_kill").copied().unwrap_or(0);
    }
    Ok(())
}

fn pids(dir: &Path, p: &mut Pids) -> Result<(), CgroupError> {
    p.current = read_u64(dir, "pids.current")?;
    p.limit = match read_u64(dir, "pids.max")? {
        u64::MAX => 0,
        n => n,
    };
    Ok(())
}

/// runc's order: BFQ's files, then CFQ's, then the throttle counters,
/// whichever the kernel has first.
fn blkio_v1(dir: &Path, b: &mut Blkio) -> Result<(), CgroupError> {
    for prefix in ["blkio.bfq.", "blkio.", "blkio.throttle."] {
        let Some(serviced) = read_opt(dir, &format!("{prefix}io_serviced_recursive"))? else {
            continue;
        };
        b.io_serviced_recursive = parse_blkio_v1(&serviced);
        if let Some(t) = read_opt(dir, &format!("{prefix}io_service_bytes_recursive"))? {
            b.io_service_bytes_recursive = parse_blkio_v1(&t);
        }
        if prefix != "blkio.throttle." {
            let more = [
                ("io_queued_recursive", &mut b.io_queued_recursive),
                (
                    "io_service_time_recursive",
                    &mut b.io_service_time_recursive,
                ),
                ("io_wait_time_recursive", &mut b.io_wait_time_recursive),
                ("io_merged_recursive", &mut b.io_merged_recursive),
                ("time_recursive", &mut b.io_time_recursive),
                ("sectors_recursive", &mut b.sectors_recursive),
            ];
            for (file, table) in more {
                if let Some(t) = read_opt(dir, &format!("{prefix}{file}"))? {
                    *table = parse_blkio_v1(&t);
                }
            }
        }
        break;
    }
    Ok(())
}

fn hugetlb_v2(dir: &Path, out: &mut BTreeMap<String, Hugetlb>) -> Result<(), CgroupError> {
    for size in huge_page_sizes() {
        let Some(current) = read_opt(dir, &format!("hugetlb.{size}.current"))? else {
            continue;
        };
        let failcnt = read_opt(dir, &format!("hugetlb.{size}.events"))?
            .and_then(|t| parse_flat_keyed(&t).get("max").copied())
            .unwrap_or(0);
        out.insert(
            size.clone(),
            Hugetlb {
                usage: parse_u64(&dir.join(format!("hugetlb.{size}.current")), &current)?,
                max: 0,
                failcnt,
            },
        );
    }
    Ok(())
}

fn psi(dir: &Path, file: &str) -> Result<Option<PsiStats>, CgroupError> {
    Ok(read_opt(dir, file)?.map(|t| parse_psi(&t)))
}

/// runc's fs2 `GetStats`.
fn stats_v2(dir: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    if let Some(t) = read_opt(dir, "cpu.stat")? {
        let kv = parse_flat_keyed(&t);
        let us = |k: &str| kv.get(k).copied().unwrap_or(0).saturating_mul(1000);
        s.cpu.usage.total = us("usage_usec");
        s.cpu.usage.user = us("user_usec");
        s.cpu.usage.kernel = us("system_usec");
    }
    throttling(dir, &mut s.cpu.throttling, 1000)?;
    s.cpu.psi = psi(dir, "cpu.pressure")?;

    let m = &mut s.memory;
    if let Some(t) = read_opt(dir, "memory.stat")? {
        m.raw = parse_flat_keyed(&t)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    }
    m.cache = m.raw.get("file").copied().unwrap_or(0);
    if let Some(t) = read_opt(dir, "memory.events")? {
        let kv = parse_flat_keyed(&t);
        let get = |k: &str| kv.get(k).copied().unwrap_or(0);
        m.event_count = MemoryEventCount {
            low: get("low"),
            high: get("high"),
            max: get("max"),
            oom: get("oom"),
            oom_kill: get("oom_kill"),
        };
    }
    m.usage = MemoryEntry {
        usage: read_u64(dir, "memory.current")?,
        max: read_u64(dir, "memory.peak")?,
        limit: read_u64(dir, "memory.max")?,
        // The v2 counterpart of v1's failcnt: times the limit was hit.
        failcnt: m.event_count.max,
    };
    // v1 compatibility, as runc: swap is reported as memory plus swap.
    let swap_limit = read_u64(dir, "memory.swap.max")?;
    m.swap = MemoryEntry {
        usage: read_u64(dir, "memory.swap.current")?.saturating_add(m.usage.usage),
        max: 0,
        limit: if swap_limit == u64::MAX {
            u64::MAX
        } else {
            swap_limit.saturating_add(m.usage.limit)
        },
        failcnt: 0,
    };
    m.psi = psi(dir, "memory.pressure")?;

    pids(dir, &mut s.pids)?;
    if s.pids.current == 0 {
        // Without the pids controller: count the processes.
        if let Some(t) = read_opt(dir, "cgroup.procs")? {
            s.pids.current = u64::try_from(t.lines().count()).unwrap_or(u64::MAX);
        }
    }
    if let Some(t) = read_opt(dir, "io.stat")? {
        parse_io_stat(&t, &mut s.blkio);
    }
    s.blkio.psi = psi(dir, "io.pressure")?;
    hugetlb_v2(dir, &mut s.hugetlb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        assert_eq!(parse_list("0-3,5\n"), vec![0, 1, 2, 3, 5]);
        assert_eq!(parse_list(""), Vec::<u16>::new());
        let psi = parse_psi(
            "some avg10=1.50 avg60=0.00 avg300=0.00 total=42\nfull avg10=0.00 avg60=0.25 avg300=0.00 total=7\n",
        );
        assert_eq!((psi.some.avg10, psi.some.total), (1.5, 42));
        assert_eq!((psi.full.avg60, psi.full.total), (0.25, 7));
        let e = parse_blkio_v1("8:0 Read 4096\n8:0 Write 0\n8:16 77\nTotal 4096\n");
        assert_eq!(e.len(), 3);
        assert_eq!(
            (e[0].major, e[0].op.as_str(), e[0].value),
            (8, "Read", 4096)
        );
        assert_eq!((e[2].minor, e[2].op.as_str(), e[2].value), (16, "", 77));
        let mut b = Blkio::default();
        parse_io_stat(
            "254:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
            &mut b,
        );
        assert_eq!(b.io_service_bytes_recursive.len(), 2);
        assert_eq!(b.io_serviced_recursive[1].op, "Write");
        assert_eq!(page_size_name(2048), "2MB");
        assert_eq!(page_size_name(1_048_576), "1GB");
        assert_eq!(page_size_name(64), "64KB");
        assert_eq!(parse_u64(Path::new("x"), "max\n").expect("max"), u64::MAX);
        assert_eq!(parse_u64(Path::new("x"), "-1").expect("negative"), 0);
        assert!(parse_u64(Path::new("x"), "junk").is_err());
    }

    #[test]
    fn json_shape_matches_runc() {
        let mut s = Stats::default();
        s.cpu.usage.total = 5;
        s.memory.raw.insert("rss".into(), 1);
        s.blkio.io_queued_recursive.push(BlkioEntry {
            major: 8,
            minor: 0,
            op: "Read".into(),
            value: 1,
        });
        let v = serde_json::to_value(&s).expect("json");
        let keys: Vec<&str> = v
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        for k in [
            "cpu",
            "cpuset",
            "memory",
            "pids",
            "blkio",
            "hugetlb",
            "intel_rdt",
            "network_interfaces",
        ] {
            assert!(keys.contains(&k), "{k} missing from {keys:?}");
        }
        assert_eq!(v["cpu"]["usage"]["total"], 5);
        assert_eq!(v["cpu"]["usage"]["kernel"], 0);
        assert!(v["cpu"]["usage"].get("percpu").is_none());
        assert!(v["cpu"]["throttling"].is_object());
        assert_eq!(v["memory"]["raw"]["rss"], 1);
        assert_eq!(v["memory"]["usage"]["failcnt"], 0);
        assert!(v["memory"].get("kernelTCP").is_some());
        assert!(v["memory"].get("event_count").is_some());
        assert!(v["blkio"].get("ioQueueRecursive").is_some());
        assert!(v["pids"].as_object().expect("pids").is_empty());
        assert_eq!(v["network_interfaces"], serde_json::Value::Null);
        let back: Stats = serde_json::from_value(v).expect("parse back");
        assert_eq!(back, s);
    }
}
