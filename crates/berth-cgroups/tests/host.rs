//! Tests against the host's real cgroups. They need root (a missing one fails
//! them under CI, see `berth_testutil::require`). Each works below its own parent cgroup
//! `berth-test-<pid>-<n>`, which a guard removes, with everything below it,
//! even when the test fails.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};

use berth_cgroups::{CgroupPath, FreezerState, Hierarchy, Manager, Mode};

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn host() -> Option<Hierarchy> {
    if !berth_testutil::require_root() {
        return None;
    }
    Some(Hierarchy::detect().expect("detect"))
}

/// A uniquely named parent cgroup, destroyed (with its children) on drop.
struct Scope {
    hierarchy: Hierarchy,
    name: String,
    relative: bool,
    parent: Manager,
}

impl Scope {
    fn new(h: &Hierarchy, relative: bool) -> Scope {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("berth-test-{}-{n}", std::process::id());
        let path = if relative {
            name.clone()
        } else {
            format!("/{name}")
        };
        let parent = Manager::new(
            h,
            &CgroupPath::parse(Some(Path::new(&path)), "x").expect("path"),
        );
        Scope {
            hierarchy: h.clone(),
            name,
            relative,
            parent,
        }
    }

    fn child(&self, leaf: &str) -> Manager {
        let p = if self.relative {
            format!("{}/{leaf}", self.name)
        } else {
            format!("/{}/{leaf}", self.name)
        };
        Manager::new(
            &self.hierarchy,
            &CgroupPath::parse(Some(Path::new(&p)), "x").expect("path"),
        )
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        if let Err(e) = self.parent.destroy() {
            eprintln!("cleanup of {}: {e}", self.name);
        }
    }
}

/// A `sleep` child, killed and reaped on drop.
struct Sleeper(Child);

impl Sleeper {
    fn spawn() -> Sleeper {
        Sleeper(
            Command::new("sleep")
                .arg("60")
                .spawn()
                .expect("spawn sleep"),
        )
    }
    fn pid(&self) -> i32 {
        i32::try_from(self.0.id()).expect("pid")
    }
    /// The signal that ended it.
    fn wait_signal(&mut self) -> Option<i32> {
        self.0.wait().expect("wait").signal()
    }
}

impl Sleeper {
    /// A shell that spins on the CPU until killed.
    fn spinner() -> Sleeper {
        Sleeper(
            Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .spawn()
                .expect("spawn spinner"),
        )
    }

    /// User plus system CPU time so far, in clock ticks (/proc/PID/stat fields 14 and 15).
    fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("stat");
        // The command name (field 2) may hold spaces: count from the last ')'.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        // `after` starts at field 3 (state): utime is field 14, stime field 15.
        let utime: u64 = fields[11].parse().expect("utime");
        let stime: u64 = fields[12].parse().expect("stime");
        utime + stime
    }
}

/// Whether `spinner` gets CPU time within two seconds.
fn runs(spinner: &Sleeper) -> bool {
    let before = spinner.cpu_ticks();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if spinner.cpu_ticks() > before {
            return true;
        }
    }
    false
}

/// Whether `spinner` gets no CPU time for half a second.
fn stands_still(spinner: &Sleeper) -> bool {
    let before = spinner.cpu_ticks();
    std::thread::sleep(std::time::Duration::from_millis(500));
    spinner.cpu_ticks() == before
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn all_gone(m: &Manager) {
    for (ctrl, p) in m.paths() {
        assert!(!p.exists(), "{ctrl}: {} left behind", p.display());
    }
}

/// This process's cgroup for one v1 controller, from /proc/self/cgroup.
fn own_cgroup(controller: &str) -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
        ctrls
            .split(',')
            .any(|c| c == controller)
            .then(|| PathBuf::from(path))
    })
}

#[test]
fn lifecycle_with_an_absolute_path() {
    let Some(h) = host() else { return };
    let scope = Scope::new(&h, false);
    let m = scope.child("c1");
    m.create().expect("create");
    m.create().expect("create is idempotent");
    for (ctrl, p) in m.paths() {
        assert!(p.is_dir(), "{ctrl}: {} missing", p.display());
        assert!(
            p.to_string_lossy().contains(&format!("/{}/c1", scope.name)),
            "{}",
            p.display()
        );
    }
    if let Some(cpuset) = m.paths().get("cpuset") {
        let cpus = std::fs::read_to_string(cpuset.join("cpuset.cpus")).expect("cpus");
        assert!(!cpus.trim().is_empty(), "cpuset.cpus not inherited");
    }
    let mut child = Sleeper::spawn();
    m.add_process(child.pid()).expect("add");
    assert_eq!(m.pids().expect("pids"), vec![child.pid()]);
    let membership =
        std::fs::read_to_string(format!("/proc/{}/cgroup", child.pid())).expect("proc cgroup");
    let expect = format!("/{}/c1", scope.name);
    for line in membership.lines() {
        assert!(line.ends_with(&expect), "{line:?} is not in {expect}");
    }
    m.destroy().expect("destroy kills and removes");
    assert_eq!(child.wait_signal(), Some(libc::SIGKILL));
    all_gone(&m);
    m.destroy().expect("destroy again is fine");
}

#[test]
fn relative_path_is_below_our_own_cgroup() {
    let Some(h) = host() else { return };
    let scope = Scope::new(&h, true);
    let m = scope.child("c2");
    let paths = m.paths();
    assert!(!paths.is_empty());
    // In every hierarchy: the mount point, our own cgroup there, then the relative path
    // (berth-testutil computes that from /proc/self/mountinfo and /proc/self/cgroup).
    let want = berth_testutil::cgroup::paths_in_all(&format!("{}/c2", scope.name))
        .expect("expected paths");
    for (ctrl, dir) in &paths {
        assert!(
            want.contains(dir),
            "{ctrl}: {} not in {want:?}",
            dir.display()
        );
    }
    if let (Some(own), Some(dir)) = (own_cgroup("memory"), paths.get("memory")) {
        // This host's memory cgroup is not the root: the relative path must go below it.
        let own_rel = own.strip_prefix("/").unwrap_or(&own);
        assert!(
            dir.starts_with(Path::new("/sys/fs/cgroup/memory").join(own_rel)),
            "{}",
            dir.display()
        );
    }
    m.create().expect("create");
    let child = Sleeper::spawn();
    m.add_process(child.pid()).expect("add");
    assert_eq!(m.pids().expect("pids"), vec![child.pid()]);
    m.destroy().expect("destroy");
    all_gone(&m);
}

#[test]
fn processes_that_escaped_into_sub_cgroups_are_killed() {
    let Some(h) = host() else { return };
    let scope = Scope::new(&h, false);
    let m = scope.child("c3");
    m.create().expect("create");
    let mut a = Sleeper::spawn();
    let mut b = Sleeper::spawn();
    m.add_process(a.pid()).expect("add a");
    m.add_process(b.pid()).expect("add b");
    // b moves itself one level down, in every hierarchy, as a container's
    // process could with a writable /sys/fs/cgroup.
    for p in m.paths().values() {
        let sub = p.join("escaped");
        std::fs::create_dir_all(&sub).expect("mkdir sub-cgroup");
        if let Ok(cpus) = std::fs::read_to_string(p.join("cpuset.cpus")) {
            std::fs::write(sub.join("cpuset.cpus"), cpus.trim()).expect("cpus");
            let mems = std::fs::read_to_string(p.join("cpuset.mems")).expect("mems");
            std::fs::write(sub.join("cpuset.mems"), mems.trim()).expect("mems");
        }
        std::fs::write(sub.join("cgroup.procs"), b.pid().to_string()).expect("move");
    }
    let mut want = vec![a.pid(), b.pid()];
    want.sort_unstable();
    assert_eq!(m.pids().expect("pids"), want);
    m.destroy().expect("destroy");
    assert_eq!(a.wait_signal(), Some(libc::SIGKILL));
    assert_eq!(b.wait_signal(), Some(libc::SIGKILL));
    all_gone(&m);
}

#[test]
fn kill_all_signals_every_process() {
    let Some(h) = host() else { return };
    let scope = Scope::new(&h, false);
    let m = scope.child("c4");
    m.create().expect("create");
    let mut a = Sleeper::spawn();
    let mut b = Sleeper::spawn();
    m.add_process(a.pid()).expect("add a");
    m.add_process(b.pid()).expect("add b");
    m.kill_all(libc::SIGTERM).expect("kill_all");
    assert_eq!(a.wait_signal(), Some(libc::SIGTERM));
    assert_eq!(b.wait_signal(), Some(libc::SIGTERM));
    assert_eq!(m.state().expect("state"), FreezerState::Thawed);
    assert!(m.kill_all(12345).is_err(), "not a signal");
    m.destroy().expect("destroy");
    all_gone(&m);
}

#[test]
fn freeze_thaw_and_destroy_while_frozen() {
    let Some(h) = host() else { return };
    let scope = Scope::new(&h, false);
    let m = scope.child("c5");
    assert_eq!(
        m.state().expect("state of a missing cgroup"),
        FreezerState::Thawed
    );
    m.create().expect("create");
    let mut child = Sleeper::spinner();
    m.add_process(child.pid()).expect("add");
    assert!(runs(&child), "the spinner does not run before the freeze");
    m.freeze().expect("freeze");
    assert_eq!(m.state().expect("state"), FreezerState::Frozen);
    // What the kernel says, and what the process does.
    if let Some(freezer) = m.paths().get("freezer") {
        assert_eq!(read(freezer, "freezer.state"), "FROZEN");
    }
    assert!(stands_still(&child), "a frozen process got CPU time");
    m.freeze().expect("freeze twice");
    m.thaw().expect("thaw");
    assert_eq!(m.state().expect("state"), FreezerState::Thawed);
    if let Some(freezer) = m.paths().get("freezer") {
        assert_eq!(read(freezer, "freezer.state"), "THAWED");
    }
    assert!(runs(&child), "a thawed process got no CPU time");
    m.freeze().expect("freeze again");
    m.destroy().expect("destroy a frozen cgroup");
    assert_eq!(child.wait_signal(), Some(libc::SIGKILL));
    all_gone(&m);
}

#[test]
fn a_manager_rebuilt_from_json_controls_the_same_cgroup() {
    let Some(h) = host() else { return };
    let scope = Scope::new(&h, false);
    let m = scope.child("c6");
    m.create().expect("create");
    let child = Sleeper::spawn();
    m.add_process(child.pid()).expect("add");
    let json = serde_json::to_string(&m).expect("serialize");
    let again: Manager = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(again.mode(), h.mode());
    assert_eq!(again.pids().expect("pids"), vec![child.pid()]);
    again.destroy().expect("destroy");
    all_gone(&m);
}

#[test]
fn destroy_of_a_cgroup_never_created_is_fine() {
    let Some(h) = host() else { return };
    let scope = Scope::new(&h, false);
    let m = scope.child("never");
    m.destroy().expect("destroy");
    assert_eq!(m.pids().expect("pids"), Vec::<i32>::new());
}

#[test]
fn mode_matches_the_mounts() {
    let Some(h) = host() else { return };
    let unified = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let v1 = Path::new("/sys/fs/cgroup/memory/memory.stat").exists()
        || Path::new("/sys/fs/cgroup/pids/cgroup.procs").exists();
    let want = match (v1, unified) {
        (true, _) if Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists() => {
            Mode::Hybrid
        }
        (true, _) => Mode::V1,
        (false, _) => Mode::V2,
    };
    assert_eq!(h.mode(), want);
}

fn resources(json: &str) -> oci_spec::runtime::LinuxResources {
    serde_json::from_str(json).expect("resources json")
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("read {}/{file}: {e}", dir.display()))
        .trim()
        .to_string()
}

#[test]
fn apply_writes_v1_limits() {
    let Some(h) = host() else { return };
    if h.mode() == Mode::V2 {
        berth_testutil::skip_host("cgroup v1 test on a cgroup2-only host");
        return;
    }
    let scope = Scope::new(&h, false);
    let m = scope.child("c7");
    m.create().expect("create");
    let (maj, min) = {
        let st = rustix::fs::stat("/").expect("stat /");
        (rustix::fs::major(st.st_dev), rustix::fs::minor(st.st_dev))
    };
    let r = resources(&format!(
        r#"{{
        "devices": [
            {{"allow": false, "access": "rwm"}},
            {{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}},
            {{"allow": true, "type": "c", "major": 136, "access": "rw"}}
        ],
        "memory": {{"limit": 67108864, "reservation": 33554432, "swap": 134217728, "swappiness": 10, "kernel": 1}},
        "cpu": {{"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"}},
        "pids": {{"limit": 64}},
        "blockIO": {{"throttleReadBpsDevice": [{{"major": {maj}, "minor": {min}, "rate": 1048576}}]}}
    }}"#
    ));
    m.apply(&r).expect("apply");
    let p = m.paths();
    assert_eq!(read(&p["memory"], "memory.limit_in_bytes"), "67108864");
    assert_eq!(read(&p["memory"], "memory.soft_limit_in_bytes"), "33554432");
    if p["memory"].join("memory.memsw.limit_in_bytes").exists() {
        assert_eq!(
            read(&p["memory"], "memory.memsw.limit_in_bytes"),
            "134217728"
        );
    }
    assert_eq!(read(&p["memory"], "memory.swappiness"), "10");
    assert_eq!(read(&p["cpu"], "cpu.shares"), "512");
    assert_eq!(read(&p["cpu"], "cpu.cfs_quota_us"), "50000");
    assert_eq!(read(&p["cpu"], "cpu.cfs_period_us"), "100000");
    assert_eq!(read(&p["cpuset"], "cpuset.cpus"), "0");
    assert_eq!(read(&p["pids"], "pids.max"), "64");
    assert!(read(&p["blkio"], "blkio.throttle.read_bps_device")
        .contains(&format!("{maj}:{min} 1048576")),);
    let devices = read(&p["devices"], "devices.list");
    let rules: Vec<&str> = devices.lines().collect();
    assert!(rules.contains(&"c 1:3 rwm"), "{rules:?}");
    assert!(rules.contains(&"c 136:* rw"), "{rules:?}");
    assert!(!rules.contains(&"a *:* rwm"), "{rules:?}");

    // Lower both limits, then raise both: the memory/swap write order must
    // follow, or the kernel refuses.
    m.apply(&resources(
        r#"{"memory": {"limit": 33554432, "swap": 67108864}}"#,
    ))
    .expect("lower");
    assert_eq!(read(&p["memory"], "memory.limit_in_bytes"), "33554432");
    m.apply(&resources(
        r#"{"memory": {"limit": 268435456, "swap": 536870912}}"#,
    ))
    .expect("raise");
    assert_eq!(read(&p["memory"], "memory.limit_in_bytes"), "268435456");
    // Unset fields are not written.
    m.apply(&resources(
        r#"{"memory": {}, "cpu": {}, "pids": {"limit": 0}}"#,
    ))
    .expect("nothing");
    assert_eq!(read(&p["cpu"], "cpu.shares"), "512");
    assert_eq!(read(&p["pids"], "pids.max"), "64");
    m.apply(&resources(r#"{"pids": {"limit": -1}}"#))
        .expect("unlimited");
    assert_eq!(read(&p["pids"], "pids.max"), "max");

    let child = Sleeper::spawn();
    m.add_process(child.pid()).expect("add");
    let s = m.stats().expect("stats");
    assert_eq!(s.pids.current, 1);
    assert_eq!(s.pids.limit, 0);
    assert_eq!(s.memory.usage.limit, 268_435_456);
    assert!(s.memory.raw.contains_key("rss"), "{:?}", s.memory.raw);
    assert_eq!(s.cpuset.cpus, vec![0]);
    let json = serde_json::to_value(&s).expect("json");
    assert!(json["cpu"]["usage"].get("kernel").is_some());
    m.destroy().expect("destroy");
    all_gone(&m);
}

#[test]
fn apply_names_the_field_the_kernel_refuses() {
    let Some(h) = host() else { return };
    if h.mode() == Mode::V2 {
        berth_testutil::skip_host("cgroup v1 test on a cgroup2-only host");
        return;
    }
    let scope = Scope::new(&h, false);
    let m = scope.child("c8");
    m.create().expect("create");
    let cases = [
        (r#"{"cpu": {"cpus": "4096"}}"#, "linux.resources.cpu.cpus"),
        (r#"{"cpu": {"shares": 1}}"#, "linux.resources.cpu.shares"),
        (
            r#"{"memory": {"swappiness": 200}}"#,
            "linux.resources.memory.swappiness",
        ),
        (
            r#"{"memory": {"limit": 67108864, "swap": 1048576}}"#,
            "linux.resources.memory.swap",
        ),
        (
            r#"{"unified": {"memory.high": "1"}}"#,
            "linux.resources.unified",
        ),
    ];
    for (json, field) in cases {
        let e = m.apply(&resources(json)).expect_err(json);
        assert!(e.to_string().contains(field), "{json}: {e}");
        eprintln!("{json}: {e} ({:?})", e.kind());
    }
    m.destroy().expect("destroy");
    all_gone(&m);
}

/// The v2 code paths (device eBPF program, cgroup.freeze, cgroup.kill),
/// exercised on a hybrid host's unified hierarchy through a manager that
/// treats it as a v2 host. The directory is made by hand so that nothing
/// is enabled in the host's root cgroup.subtree_control.
#[test]
fn v2_paths_on_the_unified_hierarchy() {
    let Some(h) = host() else { return };
    let mount = match h.mode() {
        Mode::Hybrid => PathBuf::from("/sys/fs/cgroup/unified"),
        Mode::V2 => PathBuf::from("/sys/fs/cgroup"),
        Mode::V1 => {
            berth_testutil::skip_host("no cgroup2 hierarchy on this cgroup v1 host");
            return;
        }
    };
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = mount.join(format!("berth-test-{}-{n}", std::process::id()));
    let m: Manager = serde_json::from_value(serde_json::json!({
        "mode": "v2",
        "dirs": [{"fstype": "cgroup2", "controllers": [], "mountpoint": mount, "path": dir}],
    }))
    .expect("manager");
    struct Guard(Manager);
    impl Drop for Guard {
        fn drop(&mut self) {
            if let Err(e) = self.0.destroy() {
                eprintln!("cleanup: {e}");
            }
        }
    }
    let _guard = Guard(m.clone());
    std::fs::create_dir(&dir).expect("mkdir");

    // A shell that waits for a line, then tries /dev/null and /dev/zero.
    let probe = |m: &Manager| -> String {
        use std::io::{Read, Write};
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("read x; cat /dev/null && echo null-ok; head -c1 /dev/zero | wc -c")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn sh");
        let pid = i32::try_from(child.id()).expect("pid");
        m.add_process(pid).expect("add");
        assert_eq!(m.pids().expect("pids"), vec![pid]);
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"go\n")
            .expect("write");
        let mut out = String::new();
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut out)
            .expect("read");
        let _ = child.wait();
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    m.apply(&resources(
        r#"{"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
        ]}"#,
    ))
    .expect("devices");
    assert_eq!(probe(&m), "null-ok 0", "/dev/zero must be denied");
    // An update replaces the program (programs attached together must all allow).
    m.apply(&resources(
        r#"{"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "r"},
            {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "r"}
        ]}"#,
    ))
    .expect("update devices");
    assert_eq!(probe(&m), "null-ok 1", "/dev/zero must now be allowed");

    let mut child = Sleeper::spinner();
    m.add_process(child.pid()).expect("add spinner");
    m.freeze().expect("freeze");
    assert_eq!(m.state().expect("state"), FreezerState::Frozen);
    assert!(read(&dir, "cgroup.events").lines().any(|l| l == "frozen 1"));
    assert!(stands_still(&child), "a frozen process got CPU time");
    m.thaw().expect("thaw");
    assert_eq!(m.state().expect("state"), FreezerState::Thawed);
    assert!(read(&dir, "cgroup.events").lines().any(|l| l == "frozen 0"));
    assert!(runs(&child), "a thawed process got no CPU time");
    let s = m.stats().expect("stats");
    assert!(s.cpu.psi.is_some() || !dir.join("cpu.pressure").exists());
    m.destroy().expect("destroy kills through cgroup.kill");
    assert_eq!(child.wait_signal(), Some(libc::SIGKILL));
    assert!(!dir.exists());
}
