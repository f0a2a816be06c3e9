//! What the host is: kernel, distribution, CPUs, memory, cgroup version and the cgroup
//! controllers containers could use, read from uname(2), sysinfo(2), /etc/os-release, /proc and
//! /sys. Probes that cannot read a file report the feature as absent rather than failing: a
//! missing /proc/sys/net/bridge means `br_netfilter` is not loaded, not that `info` is broken.

use std::fs;
use std::path::{Path, PathBuf};

use berth_cgroups::{Hierarchy, Mode};

use crate::error::EngineError;

/// Where cgroup hierarchies are mounted on every distribution berth supports.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Which resource limits the host's cgroups can enforce (Docker's `MemoryLimit`, `CPUShares`...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupFeatures {
    pub memory_limit: bool,
    pub swap_limit: bool,
    pub kernel_memory: bool,
    pub kernel_memory_tcp: bool,
    pub cpu_cfs_period: bool,
    pub cpu_cfs_quota: bool,
    pub cpu_shares: bool,
    pub cpu_set: bool,
    pub pids_limit: bool,
    pub oom_kill_disable: bool,
}

/// Facts about the machine, independent of the daemon.
#[derive(Debug, Clone)]
pub struct HostInfo {
    /// The host name (uname nodename).
    pub hostname: String,
    /// The kernel release (`uname -r`).
    pub kernel_version: String,
    /// `PRETTY_NAME` from /etc/os-release, or "Linux".
    pub operating_system: String,
    /// `VERSION_ID` from /etc/os-release.
    pub os_version: String,
    /// The machine (`uname -m`: x86_64, aarch64).
    pub architecture: String,
    /// CPUs this process may run on.
    pub ncpu: usize,
    /// Total RAM in bytes.
    pub mem_total: u64,
    /// 1 (v1 or hybrid hosts) or 2 (unified).
    pub cgroup_version: u8,
    pub cgroup_features: CgroupFeatures,
    /// /proc/sys/net/ipv4/ip_forward is 1.
    pub ipv4_forwarding: bool,
    /// /proc/sys/net/bridge/bridge-nf-call-iptables is 1.
    pub bridge_nf_iptables: bool,
    /// /proc/sys/net/bridge/bridge-nf-call-ip6tables is 1.
    pub bridge_nf_ip6tables: bool,
}

/// What `info` reports: the host, the daemon's state and its settings.
#[derive(Debug, Clone)]
pub struct SystemInfo {
    /// The daemon's persistent identity (a UUID kept in `<root>/engine-id`).
    pub id: String,
    pub host: HostInfo,
    pub server_version: &'static str,
    pub root_dir: PathBuf,
    pub exec_root: PathBuf,
    pub debug: bool,
    /// The storage driver layers are unpacked with.
    pub driver: &'static str,
    /// The cgroup driver containers are placed with (always cgroupfs).
    pub cgroup_driver: &'static str,
    /// The OCI runtime containers run with and its binary.
    pub default_runtime: (&'static str, &'static str),
    pub containers: u64,
    pub containers_running: u64,
    pub containers_paused: u64,
    pub containers_stopped: u64,
    pub images: u64,
    /// Open file descriptors of the daemon.
    pub nfd: u64,
    /// Threads of the daemon (Docker reports goroutines).
    pub nthreads: u64,
    /// When the report was made, RFC 3339.
    pub system_time: String,
    pub insecure_registries: Vec<String>,
    pub registry_mirrors: Vec<String>,
    pub http_proxy: String,
    pub https_proxy: String,
    pub no_proxy: String,
    /// Things the user should know (missing cgroup features, forwarding off), Docker's wording.
    pub warnings: Vec<String>,
}

impl HostInfo {
    /// Probes the host. Fails only when the cgroup hierarchy cannot be read at all.
    pub fn probe() -> Result<HostInfo, EngineError> {
        let uname = rustix::system::uname();
        let (operating_system, os_version) = os_release(Path::new("/etc/os-release"));
        let sysinfo = rustix::system::sysinfo();
        let mem_total = u64::from(sysinfo.mem_unit).saturating_mul(sysinfo.totalram);
        let mode = Hierarchy::detect()?.mode();
        let cgroup_version = if mode == Mode::V2 { 2 } else { 1 };
        Ok(HostInfo {
            hostname: uname.nodename().to_string_lossy().into_owned(),
            kernel_version: uname.release().to_string_lossy().into_owned(),
            operating_system,
            os_version,
            architecture: uname.machine().to_string_lossy().into_owned(),
            ncpu: std::thread::available_parallelism().map_or(1, |n| n.get()),
            mem_total,
            cgroup_version,
            cgroup_features: cgroup_features(Path::new(CGROUP_ROOT), mode),
            ipv4_forwarding: sysctl_on("/proc/sys/net/ipv4/ip_forward"),
            bridge_nf_iptables: sysctl_on("/proc/sys/net/bridge/bridge-nf-call-iptables"),
            bridge_nf_ip6tables: sysctl_on("/proc/sys/net/bridge/bridge-nf-call-ip6tables"),
        })
    }

    /// Docker's warnings for what this host lacks, in dockerd's words.
    pub fn warnings(&self) -> Vec<String> {
        let f = &self.cgroup_features;
        let mut w = Vec::new();
        let mut missing = |ok: bool, what: &str| {
            if !ok {
                w.push(format!("WARNING: No {what} support"));
            }
        };
        missing(f.memory_limit, "memory limit");
        missing(f.swap_limit, "swap limit");
        missing(f.cpu_cfs_quota, "cpu cfs quota");
        missing(f.cpu_cfs_period, "cpu cfs period");
        missing(f.cpu_shares, "cpu shares");
        missing(f.cpu_set, "cpuset");
        missing(f.pids_limit, "pids limit");
        if !self.ipv4_forwarding {
            w.push("WARNING: IPv4 forwarding is disabled".into());
        }
        if !self.bridge_nf_iptables {
            w.push("WARNING: bridge-nf-call-iptables is disabled".into());
        }
        if !self.bridge_nf_ip6tables {
            w.push("WARNING: bridge-nf-call-ip6tables is disabled".into());
        }
        w
    }
}

/// `PRETTY_NAME` and `VERSION_ID` of an os-release file ("Linux" and "" when absent).
fn os_release(path: &Path) -> (String, String) {
    let text = fs::read_to_string(path).unwrap_or_default();
    parse_os_release(&text)
}

fn parse_os_release(text: &str) -> (String, String) {
    let mut pretty = None;
    let mut version = String::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value
            .trim()
            .trim_matches('"')
            .trim_matches('\'')
            .to_string();
        match key.trim() {
            "PRETTY_NAME" => pretty = Some(value),
            "VERSION_ID" => version = value,
            _ => {}
        }
    }
    (pretty.unwrap_or_else(|| "Linux".into()), version)
}

fn sysctl_on(path: &str) -> bool {
    fs::read_to_string(path).is_ok_and(|s| s.trim() == "1")
}

/// The features of the cgroup hierarchy mounted at `root` in `mode`: on v2 the controllers
/// listed in the root's `cgroup.controllers`, on v1 (and hybrid) the interface files of each
/// controller's hierarchy, as dockerd checks them.
pub(crate) fn cgroup_features(root: &Path, mode: Mode) -> CgroupFeatures {
    if mode == Mode::V2 {
        let controllers = fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
        let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
        let memory = has("memory");
        return CgroupFeatures {
            memory_limit: memory,
            // memory.swap.max exists in non-root cgroups only when the kernel accounts swap.
            swap_limit: memory && swap_accounted_v2(root),
            kernel_memory: false,
            kernel_memory_tcp: false,
            cpu_cfs_period: has("cpu"),
            cpu_cfs_quota: has("cpu"),
            cpu_shares: has("cpu"),
            cpu_set: has("cpuset"),
            pids_limit: has("pids"),
            oom_kill_disable: false,
        };
    }
    let file = |controller: &str, name: &str| root.join(controller).join(name).exists();
    CgroupFeatures {
        memory_limit: file("memory", "memory.limit_in_bytes"),
        swap_limit: file("memory", "memory.memsw.limit_in_bytes"),
        kernel_memory: file("memory", "memory.kmem.limit_in_bytes"),
        kernel_memory_tcp: file("memory", "memory.kmem.tcp.limit_in_bytes"),
        cpu_cfs_period: file("cpu", "cpu.cfs_period_us"),
        cpu_cfs_quota: file("cpu", "cpu.cfs_quota_us"),
        cpu_shares: file("cpu", "cpu.shares"),
        cpu_set: file("cpuset", "cpuset.cpus"),
        // The root cgroup has no pids.max: the mounted controller is what counts.
        pids_limit: file("pids", "cgroup.procs"),
        oom_kill_disable: file("memory", "memory.oom_control"),
    }
}

/// Whether any first-level cgroup under `root` has `memory.swap.max`.
fn swap_accounted_v2(root: &Path) -> bool {
    let Ok(entries) = fs::read_dir(root) else {
        return false;
    };
    entries
        .flatten()
        .any(|e| e.path().join("memory.swap.max").exists())
}

/// Open descriptors and threads of this process.
pub(crate) fn process_counts() -> (u64, u64) {
    let nfd = fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    let threads = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0);
    (nfd, threads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_fields() {
        let text = "NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n# c\n";
        assert_eq!(
            parse_os_release(text),
            ("Debian GNU/Linux 12 (bookworm)".into(), "12".into())
        );
        assert_eq!(parse_os_release(""), ("Linux".into(), String::new()));
    }

    #[test]
    fn v2_features_from_controllers() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("cgroup.controllers"), "cpuset cpu pids\n").unwrap();
        let f = cgroup_features(dir.path(), Mode::V2);
        assert!(f.cpu_set && f.cpu_shares && f.pids_limit);
        assert!(!f.memory_limit && !f.swap_limit);
    }

    #[test]
    fn v1_features_from_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("memory")).unwrap();
        fs::write(dir.path().join("memory/memory.limit_in_bytes"), "").unwrap();
        fs::create_dir_all(dir.path().join("pids")).unwrap();
        fs::write(dir.path().join("pids/cgroup.procs"), "").unwrap();
        let f = cgroup_features(dir.path(), Mode::V1);
        assert!(f.memory_limit && f.pids_limit);
        assert!(!f.swap_limit && !f.cpu_shares);
    }

    #[test]
    fn probe_agrees_with_uname_and_nproc() {
        let host = HostInfo::probe().unwrap();
        let release = std::process::Command::new("uname")
            .arg("-r")
            .output()
            .unwrap();
        assert_eq!(
            host.kernel_version,
            String::from_utf8_lossy(&release.stdout).trim()
        );
        let nproc = std::process::Command::new("nproc").output().unwrap();
        assert_eq!(
            host.ncpu.to_string(),
            String::from_utf8_lossy(&nproc.stdout).trim()
        );
        let meminfo = fs::read_to_string("/proc/meminfo").unwrap();
        let kb: u64 = meminfo
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(host.mem_total / 1024, kb);
    }
}
