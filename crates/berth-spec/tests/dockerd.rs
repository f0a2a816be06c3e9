//! berth-spec against dockerd 20.10: a private dockerd (berth-testutil's fixture) with a
//! `capture` runtime, a script that copies `$bundle/config.json` aside on `create` and then
//! execs runc. For each set of `docker run` flags below, the container's `Config` and
//! `HostConfig` (`docker container inspect`) and its image's config (`docker image inspect`)
//! go through [`berth_spec::build_spec`], and the result is compared with the config.json
//! dockerd handed the runtime: namespaces, mounts, capabilities, masked and read-only paths,
//! seccomp (the syscall names per action, and the rules with arguments), rlimits, env, args,
//! cwd, user, hostname, terminal, no_new_privileges, oom_score_adj, resources, devices,
//! sysctls, cgroups path, root.
//!
//! The paths dockerd chose (rootfs, the container's hosts/hostname/resolv.conf, the host's
//! network namespace for `--network host`) are handed to berth-spec as its input, as berthd
//! will hand its own; the host facts are read from this host, users resolved with the
//! image's /etc/passwd and /etc/group, `--device` paths looked up by stat. A second test adds
//! (or drops) each capability on its own, which checks the built-in seccomp profile rule by
//! rule. The one difference kept is
//! dockerd's `libnetwork-setkey` prestart hook, which berth does not use (see the crate
//! docs).
//!
//! Needs root and docker.io: missing, they fail the tests under CI (which installs docker.io)
//! and skip them elsewhere (berth-testutil's `require`).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use berth_api_types::containers::{ContainerConfig, HostConfig};
use berth_spec::{
    build_spec, ContainerFiles, DeviceLookup, EtcFiles, HostDevice, HostFacts, ImageDefaults,
    JoinedNamespaces, SpecError, SpecInput,
};
use berth_testutil::{busybox_rootfs, run_command, unique_name, Dockerd};
use common::{diff, normalize};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use serde_json::Value;

mod common;

/// Set to a directory, the comparison also writes the cases of [`GOLDEN_CASES`] there, as the
/// files `tests/golden/` holds (`golden.rs` checks them without root).
const GOLDEN_ENV: &str = "BERTH_SPEC_WRITE_GOLDEN";

const GOLDEN_CASES: &[&str] = &[
    "plain",
    "env-user-workdir-hostname",
    "image-defaults",
    "cap-add-drop",
    "cap-sys-admin",
    "read-only-tmpfs",
    "resources",
    "ulimit",
    "no-new-privileges-unconfined",
    "seccomp-profile",
    "init",
    "ipc-host",
    "network-host",
    "user-name",
];

const PLAIN: &str = "berth-spec-test/busybox:plain";
const RICH: &str = "berth-spec-test/busybox:rich";
const USERS: &str = "berth-spec-test/busybox:users";

const USERS_PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
    daemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
    app:x:1000:1000::/home/app:/bin/sh\n\
    nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const USERS_GROUP: &str =
    "root:x:0:root\ndaemon:x:1:app\nusers:x:100:app,daemon\napp:x:1000:\nnogroup:x:65534:\n";

/// The wrapper runtime: copies the bundle's config.json to `$CAPTURE_DIR/<bundle name>.json`
/// on `create`, then becomes runc.
const CAPTURE_SCRIPT: &str = r#"#!/bin/sh
prev=""; bundle=""; create=""
for a in "$@"; do
  [ "$prev" = "--bundle" ] || [ "$prev" = "-b" ] && bundle="$a"
  [ "$a" = "create" ] && create=1
  prev="$a"
done
if [ -n "$create" ] && [ -n "$bundle" ]; then
  cp "$bundle/config.json" "CAPTURE_DIR/$(basename "$bundle").json.tmp" &&
    mv "CAPTURE_DIR/$(basename "$bundle").json.tmp" "CAPTURE_DIR/$(basename "$bundle").json"
fi
exec runc "$@"
"#;

/// A small profile in Docker's format, passed inline as the docker CLI does with a file.
const CUSTOM_SECCOMP: &str = r#"{
  "defaultAction": "SCMP_ACT_ALLOW",
  "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
  "syscalls": [
    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "args": []},
    {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
    {"names": ["chown"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
    {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
  ]
}"#;

/// The flag sets compared: name, image, `docker create` options, command.
/// `cgroup_parent` is the dockerd's own, under which `--cgroup-parent` may point (the
/// fixture removes it).
/// `other` is a running container to share namespaces with.
fn cases(
    seccomp_file: &str,
    cgroup_parent: &str,
    other: &str,
) -> Vec<(&'static str, &'static str, Vec<String>, Vec<&'static str>)> {
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    let none = || s(&["--network", "none"]);
    let with = |extra: &[&str]| {
        let mut v = none();
        v.extend(s(extra));
        v
    };
    vec![
        ("plain", PLAIN, none(), vec!["true"]),
        ("tty", PLAIN, with(&["-t"]), vec!["true"]),
        (
            "tty-term",
            PLAIN,
            with(&["-t", "-e", "TERM=vt100"]),
            vec!["true"],
        ),
        (
            "cgroupns-private",
            PLAIN,
            with(&["--cgroupns", "private"]),
            vec!["true"],
        ),
        (
            "cgroup-parent",
            PLAIN,
            with(&["--cgroup-parent", &format!("{cgroup_parent}/sub")]),
            vec!["true"],
        ),
        (
            "memory-swap-unlimited",
            PLAIN,
            with(&["--memory", "16m", "--memory-swap", "-1"]),
            vec!["true"],
        ),
        (
            "no-new-privileges-false",
            PLAIN,
            with(&["--security-opt", "no-new-privileges=false"]),
            vec!["true"],
        ),
        (
            "env-user-workdir-hostname",
            PLAIN,
            with(&[
                "-e",
                "A=1",
                "-e",
                "PATH=/x:/y",
                "-e",
                "HOSTNAME",
                "-u",
                "1000:1000",
                "-w",
                "/tmp",
                "-h",
                "myhost",
                "--domainname",
                "example.org",
                "--group-add",
                "20",
            ]),
            vec!["true"],
        ),
        (
            "entrypoint",
            PLAIN,
            with(&["--entrypoint", "/bin/echo"]),
            vec!["hi"],
        ),
        ("image-defaults", RICH, none(), vec![]),
        (
            "image-overrides",
            RICH,
            with(&["-e", "GREETING=bye", "-w", "/", "-u", "0"]),
            vec!["echo", "x"],
        ),
        (
            "entrypoint-cleared",
            RICH,
            with(&["--entrypoint", ""]),
            vec!["true"],
        ),
        (
            "cap-add-drop",
            PLAIN,
            with(&[
                "--cap-add",
                "NET_ADMIN",
                "--cap-add",
                "sys_time",
                "--cap-drop",
                "CAP_CHOWN",
            ]),
            vec!["true"],
        ),
        (
            "cap-sys-admin",
            PLAIN,
            with(&["--cap-add", "SYS_ADMIN", "--cap-add", "SYS_PTRACE"]),
            vec!["true"],
        ),
        (
            "cap-drop-all",
            PLAIN,
            with(&["--cap-drop", "ALL", "--cap-add", "CHOWN"]),
            vec!["true"],
        ),
        (
            "cap-add-all",
            PLAIN,
            with(&["--cap-add", "ALL", "--cap-drop", "MKNOD"]),
            vec!["true"],
        ),
        ("privileged", PLAIN, with(&["--privileged"]), vec!["true"]),
        (
            "read-only-tmpfs",
            PLAIN,
            with(&[
                "--read-only",
                "--tmpfs",
                "/run",
                "--tmpfs",
                "/tmp:size=1m,exec,mode=1700",
            ]),
            vec!["true"],
        ),
        (
            "resources",
            PLAIN,
            with(&[
                "--memory",
                "64m",
                "--cpus",
                "1.5",
                "--pids-limit",
                "100",
                "--cpuset-cpus",
                "0",
                "--cpu-shares",
                "512",
            ]),
            vec!["true"],
        ),
        (
            "memory-swap-reservation",
            PLAIN,
            with(&[
                "--memory",
                "32m",
                "--memory-swap",
                "96m",
                "--memory-reservation",
                "16m",
                "--oom-kill-disable",
                "--memory-swappiness",
                "10",
            ]),
            vec!["true"],
        ),
        (
            "cpu-period-quota",
            PLAIN,
            with(&[
                "--cpu-period",
                "50000",
                "--cpu-quota",
                "25000",
                "--pids-limit",
                "-1",
            ]),
            vec!["true"],
        ),
        (
            "ulimit",
            PLAIN,
            with(&["--ulimit", "nofile=1024:2048", "--ulimit", "nproc=512"]),
            vec!["true"],
        ),
        ("shm-size", PLAIN, with(&["--shm-size", "1m"]), vec!["true"]),
        (
            "sysctl",
            PLAIN,
            with(&[
                "--sysctl",
                "net.ipv4.ip_forward=1",
                "--sysctl",
                "kernel.shmmax=100000",
            ]),
            vec!["true"],
        ),
        (
            "no-new-privileges-unconfined",
            PLAIN,
            with(&[
                "--security-opt",
                "no-new-privileges",
                "--security-opt",
                "seccomp=unconfined",
            ]),
            vec!["true"],
        ),
        (
            "seccomp-profile",
            PLAIN,
            with(&["--security-opt", &format!("seccomp={seccomp_file}")]),
            vec!["true"],
        ),
        (
            "oom-score-adj",
            PLAIN,
            with(&["--oom-score-adj", "500"]),
            vec!["true"],
        ),
        ("init", PLAIN, with(&["--init"]), vec!["true"]),
        ("ipc-host", PLAIN, with(&["--ipc", "host"]), vec!["true"]),
        ("ipc-none", PLAIN, with(&["--ipc", "none"]), vec!["true"]),
        (
            "pid-host",
            PLAIN,
            with(&["--pid", "host", "--init"]),
            vec!["true"],
        ),
        ("uts-host", PLAIN, with(&["--uts", "host"]), vec!["true"]),
        (
            "network-host",
            PLAIN,
            s(&["--network", "host"]),
            vec!["true"],
        ),
        (
            "devices",
            PLAIN,
            with(&[
                "--device",
                "/dev/null:/dev/mynull:rw",
                "--device",
                "/dev/zero",
                "--device-cgroup-rule",
                "c 42:* rmw",
                "--device-cgroup-rule",
                "b 7:0 r",
            ]),
            vec!["true"],
        ),
        // A directory of devices (/dev/net holds tun on any Linux with the tun driver).
        (
            "device-directory",
            PLAIN,
            with(&["--device", "/dev/net:/dev/net"]),
            vec!["true"],
        ),
        (
            "ipc-shareable",
            PLAIN,
            with(&["--ipc", "shareable", "--shm-size", "2m"]),
            vec!["true"],
        ),
        (
            "share-another-container",
            PLAIN,
            s(&[
                "--network",
                &format!("container:{other}"),
                "--ipc",
                &format!("container:{other}"),
                "--pid",
                &format!("container:{other}"),
            ]),
            vec!["true"],
        ),
        ("user-default", USERS, none(), vec!["true"]),
        ("user-name", USERS, with(&["-u", "app"]), vec!["true"]),
        (
            "user-uid-with-entry",
            USERS,
            with(&["-u", "1"]),
            vec!["true"],
        ),
        (
            "user-and-group-names",
            USERS,
            with(&["-u", "app:nogroup"]),
            vec!["true"],
        ),
        (
            "user-unknown-uid",
            USERS,
            with(&["-u", "4242"]),
            vec!["true"],
        ),
        (
            "group-add-names",
            USERS,
            with(&["-u", "daemon", "--group-add", "users", "--group-add", "100"]),
            vec!["true"],
        ),
        (
            "privileged-device",
            PLAIN,
            with(&["--privileged", "--device", "/dev/null:/dev/xnull:r"]),
            vec!["true"],
        ),
    ]
}

/// Device nodes found by stat, as berthd will look them up.
struct HostDevices;

impl HostDevices {
    fn node(path: &Path, relative: String) -> Option<HostDevice> {
        let meta = fs::symlink_metadata(path).ok()?;
        let ft = meta.file_type();
        let typ = if ft.is_char_device() {
            LinuxDeviceType::C
        } else if ft.is_block_device() {
            LinuxDeviceType::B
        } else if ft.is_fifo() {
            LinuxDeviceType::P
        } else {
            return None;
        };
        let rdev = meta.rdev();
        let major = ((rdev >> 32) & 0xffff_f000) | ((rdev >> 8) & 0xfff);
        let minor = ((rdev >> 12) & 0xffff_ff00) | (rdev & 0xff);
        Some(HostDevice {
            relative,
            typ,
            major: i64::try_from(major).ok()?,
            minor: i64::try_from(minor).ok()?,
            file_mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
        })
    }

    fn walk(root: &Path, dir: &Path, out: &mut Vec<HostDevice>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            let rel = p
                .strip_prefix(root)
                .map(|r| r.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Some(d) = Self::node(&p, rel) {
                out.push(d);
            } else if fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                Self::walk(root, &p, out);
            }
        }
    }
}

impl DeviceLookup for HostDevices {
    fn devices(&self, path_on_host: &str) -> Result<Vec<HostDevice>, SpecError> {
        let path = fs::canonicalize(path_on_host).unwrap_or_else(|_| PathBuf::from(path_on_host));
        if let Some(d) = Self::node(&path, String::new()) {
            return Ok(vec![d]);
        }
        let mut out = Vec::new();
        if path.is_dir() {
            Self::walk(&path, &path, &mut out);
        }
        Ok(out)
    }
}

/// Imports a busybox rootfs as `tag` with `changes` (Dockerfile instructions).
/// The image's /etc/passwd and /etc/group are returned, as berthd will read them from the
/// container's rootfs; `etc` replaces files in the rootfs's /etc.
fn import(
    dockerd: &Dockerd,
    dir: &Path,
    tag: &str,
    changes: &[&str],
    etc: &[(&str, &str)],
) -> EtcFiles {
    let rootfs = dir.join(unique_name("rootfs"));
    busybox_rootfs(&rootfs).unwrap_or_else(|e| panic!("busybox rootfs: {e}"));
    for (name, text) in etc {
        fs::write(rootfs.join("etc").join(name), text)
            .unwrap_or_else(|e| panic!("write {name}: {e}"));
    }
    let users = EtcFiles {
        passwd: fs::read_to_string(rootfs.join("etc/passwd")).ok(),
        group: fs::read_to_string(rootfs.join("etc/group")).ok(),
    };
    let tar = dir.join(unique_name("rootfs.tar"));
    let out = run_command(
        Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
        None,
        Duration::from_secs(60),
    )
    .unwrap_or_else(|e| panic!("tar: {e}"));
    out.assert_success();
    let tar = tar.to_string_lossy().into_owned();
    let mut args = vec!["import"];
    for c in changes {
        args.extend(["--change", c]);
    }
    args.extend([tar.as_str(), tag]);
    dockerd.docker(&args).assert_success();
    users
}

/// The image's defaults from `docker image inspect`.
fn image_defaults(dockerd: &Dockerd, image: &str) -> ImageDefaults {
    let out = dockerd.docker(&["image", "inspect", image]);
    out.assert_success();
    let inspect: Vec<berth_api_types::images::ImageInspect> =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("image inspect: {e}"));
    let first = inspect
        .first()
        .unwrap_or_else(|| panic!("image inspect of {image}: empty"));
    ImageDefaults::from(&first.config)
}

/// Whether /sys/fs/cgroup is cgroup v2 (dockerd's "unified" mode).
fn cgroup_v2() -> bool {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines().any(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        let sep = f.iter().position(|x| *x == "-");
        f.get(4) == Some(&"/sys/fs/cgroup") && sep.and_then(|i| f.get(i + 1)) == Some(&"cgroup2")
    })
}

/// The host as berthd would describe it; `devices` is dockerd's list of host devices (walking
/// /dev is the caller's job, not berth-spec's).
fn host_facts(dockerd: &Dockerd, devices: Vec<LinuxDevice>) -> HostFacts {
    HostFacts {
        cgroup_v2: cgroup_v2(),
        cgroup_parent: dockerd.cgroup_parent().to_owned(),
        devices,
        ping_group_range: Path::new("/proc/sys/net/ipv4/ping_group_range").exists(),
        ip_unprivileged_port_start: Path::new("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            .exists(),
        default_ulimits: Vec::new(),
        // dockerd looks docker-init up in its PATH, which is the test's.
        init_binary: std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("docker-init"))
                .find(|p| p.is_file())
        }),
        init_by_default: false,
        no_new_privileges: false,
        hostname: fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap_or_default()
            .trim()
            .to_owned(),
        kernel: None,
    }
}

fn wait_for(path: &Path) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(s) = fs::read_to_string(path) {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// A private dockerd with the capture runtime and the two images.
struct Harness {
    dockerd: Dockerd,
    capture_dir: PathBuf,
    images: BTreeMap<&'static str, ImageDefaults>,
    /// Each image's /etc/passwd and /etc/group.
    users: BTreeMap<&'static str, EtcFiles>,
    work: tempfile::TempDir,
}

impl Harness {
    /// `None` (a skip, printed) when root or dockerd is missing outside CI; under CI that
    /// fails the test.
    fn start() -> Option<Self> {
        if !berth_testutil::require_root()
            || !berth_testutil::require(Dockerd::available(), "dockerd (apt-get install docker.io)")
        {
            return None;
        }
        let work = tempfile::Builder::new()
            .prefix("berth-spec-test-")
            .tempdir()
            .unwrap_or_else(|e| panic!("tempdir: {e}"));
        let capture_dir = work.path().join("captured");
        fs::create_dir(&capture_dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
        let script = work.path().join("capture-runtime");
        fs::write(
            &script,
            CAPTURE_SCRIPT.replace("CAPTURE_DIR", &capture_dir.to_string_lossy()),
        )
        .unwrap_or_else(|e| panic!("write script: {e}"));
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod: {e}"));
        let dockerd = Dockerd::start(&[("capture", &script)])
            .unwrap_or_else(|e| panic!("start dockerd: {e}"));
        let mut users = BTreeMap::new();
        users.insert(
            PLAIN,
            import(&dockerd, work.path(), PLAIN, &[r#"CMD ["sh"]"#], &[]),
        );
        users.insert(
            RICH,
            import(
                &dockerd,
                work.path(),
                RICH,
                &[
                    "ENV PATH=/usr/local/bin:/bin GREETING=hello",
                    "WORKDIR /srv",
                    r#"ENTRYPOINT ["/bin/sh", "-c"]"#,
                    r#"CMD ["echo $GREETING"]"#,
                    "USER 1:1",
                ],
                &[],
            ),
        );
        users.insert(
            USERS,
            import(
                &dockerd,
                work.path(),
                USERS,
                &[r#"CMD ["sh"]"#],
                &[("passwd", USERS_PASSWD), ("group", USERS_GROUP)],
            ),
        );
        let images = [PLAIN, RICH, USERS]
            .into_iter()
            .map(|i| (i, image_defaults(&dockerd, i)))
            .collect();
        Some(Self {
            dockerd,
            capture_dir,
            images,
            users,
            work,
        })
    }

    /// Creates and starts a container with `docker create --runtime capture OPTIONS IMAGE
    /// CMD`, and compares dockerd's spec with berth-spec's; returns the differences, or why
    /// there was nothing to compare.
    fn compare(
        &self,
        name: &str,
        image: &str,
        options: &[String],
        cmd: &[&str],
    ) -> Result<(), String> {
        let dockerd = &self.dockerd;
        let mut args: Vec<&str> = vec!["create", "--runtime", "capture"];
        args.extend(options.iter().map(String::as_str));
        args.push(image);
        args.extend(cmd);
        let created = dockerd.docker(&args);
        created.assert_success();
        let id = created.stdout_trimmed().to_owned();
        // Start; some cases cannot run on this host (every capability, for one: the test's
        // own bounding set may lack some), but dockerd has handed over its spec by then.
        let started = dockerd.docker(&["start", &id]);
        // After start: dockerd then gives a `--network container:` container the other's
        // hostname, as berthd will before it makes the spec.
        let inspect = dockerd.docker(&["container", "inspect", &id]);
        inspect.assert_success();
        let captured = wait_for(&self.capture_dir.join(format!("{id}.json")));
        let _ = dockerd.docker(&["rm", "-f", &id]);
        let Some(captured) = captured else {
            return Err(format!(
                "{name}: dockerd handed no spec to the runtime:\n{started}"
            ));
        };
        let theirs: Value = serde_json::from_str(&captured)
            .unwrap_or_else(|e| panic!("{name}: captured spec: {e}"));
        let container: Value = serde_json::from_str(&inspect.stdout)
            .unwrap_or_else(|e| panic!("{name}: inspect: {e}"));
        let config: ContainerConfig = serde_json::from_value(container[0]["Config"].clone())
            .unwrap_or_else(|e| panic!("{name}: Config: {e}"));
        let host_config: HostConfig = serde_json::from_value(container[0]["HostConfig"].clone())
            .unwrap_or_else(|e| panic!("{name}: HostConfig: {e}"));

        // The paths dockerd chose, as berthd will hand berth-spec its own.
        let mount_source = |dest: &str| -> PathBuf {
            theirs["mounts"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|m| m["destination"] == dest)
                .and_then(|m| m["source"].as_str())
                .map(PathBuf::from)
                .unwrap_or_else(|| panic!("{name}: no {dest} mount in dockerd's spec"))
        };
        let shared_ipc =
            host_config.ipc_mode == "shareable" || host_config.ipc_mode.starts_with("container:");
        let files = ContainerFiles {
            hosts: mount_source("/etc/hosts"),
            hostname: mount_source("/etc/hostname"),
            resolv_conf: mount_source("/etc/resolv.conf"),
            shm: shared_ipc.then(|| mount_source("/dev/shm")),
        };
        let ns_path = |kind: &str| -> Option<PathBuf> {
            theirs["linux"]["namespaces"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|n| n["type"] == kind)
                .and_then(|n| n["path"].as_str())
                .map(PathBuf::from)
        };
        let rootfs = PathBuf::from(theirs["root"]["path"].as_str().unwrap_or_default());
        // The namespaces dockerd joined (the host's network, another container's).
        let joined = JoinedNamespaces {
            network: ns_path("network"),
            pid: ns_path("pid"),
            ipc: ns_path("ipc"),
        };
        let mut problems = Vec::new();
        // berth-api-types writes Config and HostConfig as dockerd's inspect does.
        for (field, ours) in [
            ("Config", serde_json::to_value(&config)),
            ("HostConfig", serde_json::to_value(&host_config)),
        ] {
            let ours = ours.unwrap_or_else(|e| panic!("{name}: serialise {field}: {e}"));
            diff(
                &format!("inspect {field}"),
                &container[0][field],
                &ours,
                &mut problems,
            );
        }
        // dockerd's merge at create is a fixpoint: merging the image in again changes
        // nothing, except that a cleared entrypoint would come back.
        if name != "entrypoint-cleared" {
            match berth_spec::merge_image_defaults(&config, &self.images[image]) {
                Ok(merged) if merged == config => {}
                other => problems.push(format!("merging the image again gave {other:?}")),
            }
        }
        // A privileged container's host devices: dockerd's list without the `--device`
        // mappings it appended.
        let mapped: Vec<&str> = host_config
            .resources
            .devices
            .iter()
            .flatten()
            .map(|d| d.path_in_container.as_str())
            .collect();
        let mut devices: Vec<LinuxDevice> = if host_config.privileged {
            serde_json::from_value(theirs["linux"]["devices"].clone())
                .ok()
                .flatten()
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        devices.retain(|d| !mapped.iter().any(|m| d.path() == Path::new(m)));
        let host = host_facts(dockerd, devices);
        // dockerd's create-time defaults are in what it stored: applying berth's changes
        // nothing.
        let (mut c2, mut h2) = (config.clone(), host_config.clone());
        berth_spec::apply_create_defaults(&id, &mut c2, &mut h2, &host);
        diff(
            "create defaults Config",
            &serde_json::to_value(&config).unwrap_or_default(),
            &serde_json::to_value(&c2).unwrap_or_default(),
            &mut problems,
        );
        diff(
            "create defaults HostConfig",
            &serde_json::to_value(&host_config).unwrap_or_default(),
            &serde_json::to_value(&h2).unwrap_or_default(),
            &mut problems,
        );
        let ours = build_spec(&SpecInput {
            id: &id,
            config: &config,
            host_config: &host_config,
            // Stored after create: the image's defaults are merged in already.
            image: None,
            rootfs: &rootfs,
            files: &files,
            joined: &joined,
            host: &host,
            users: &self.users[image],
            devices: &HostDevices,
        })
        .map_err(|e| format!("{name}: berth-spec refused it: {e}"))?;
        let ours = serde_json::to_value(ours).unwrap_or_else(|e| panic!("{name}: serialise: {e}"));
        if let Some(dir) = std::env::var_os(GOLDEN_ENV) {
            if GOLDEN_CASES.contains(&name) {
                let path_string = |p: &Path| p.to_string_lossy().into_owned();
                let golden = common::Golden {
                    id: id.clone(),
                    config: config.clone(),
                    host_config: host_config.clone(),
                    rootfs: path_string(&rootfs),
                    hosts: path_string(&files.hosts),
                    hostname: path_string(&files.hostname),
                    resolv_conf: path_string(&files.resolv_conf),
                    shm: files.shm.as_deref().map(path_string),
                    joined_network: joined.network.as_deref().map(path_string),
                    joined_pid: joined.pid.as_deref().map(path_string),
                    joined_ipc: joined.ipc.as_deref().map(path_string),
                    cgroup_v2: host.cgroup_v2,
                    cgroup_parent: host.cgroup_parent.clone(),
                    ping_group_range: host.ping_group_range,
                    ip_unprivileged_port_start: host.ip_unprivileged_port_start,
                    init_binary: host.init_binary.as_deref().map(path_string),
                    host_hostname: host.hostname.clone(),
                    passwd: self.users[image].passwd.clone(),
                    group: self.users[image].group.clone(),
                    spec: normalize(theirs.clone()),
                };
                let text = serde_json::to_string_pretty(&golden)
                    .unwrap_or_else(|e| panic!("{name}: golden: {e}"));
                fs::write(Path::new(&dir).join(format!("{name}.json")), text + "\n")
                    .unwrap_or_else(|e| panic!("{name}: write golden: {e}"));
            }
        }
        diff("", &normalize(theirs), &normalize(ours), &mut problems);
        if problems.is_empty() {
            eprintln!("{name}: same spec");
            Ok(())
        } else {
            Err(format!(
                "{name} ({}):\n  {}",
                options.join(" "),
                problems.join("\n  ")
            ))
        }
    }
}

#[test]
fn specs_match_dockerd() {
    let Some(h) = Harness::start() else {
        return;
    };
    let seccomp_file = h.work.path().join("profile.json");
    fs::write(&seccomp_file, CUSTOM_SECCOMP).unwrap_or_else(|e| panic!("write profile: {e}"));
    let seccomp_path = seccomp_file.to_string_lossy().into_owned();
    // A running container whose namespaces others join; its ipc is shareable.
    let other = h.dockerd.docker(&[
        "run",
        "-d",
        "--network",
        "none",
        "--ipc",
        "shareable",
        PLAIN,
        "sleep",
        "600",
    ]);
    other.assert_success();
    let other = other.stdout_trimmed().to_owned();
    let failures: Vec<String> = cases(&seccomp_path, h.dockerd.cgroup_parent(), &other)
        .into_iter()
        .filter_map(|(name, image, options, cmd)| h.compare(name, image, &options, &cmd).err())
        .collect();
    assert!(
        failures.is_empty(),
        "specs differ from dockerd's:\n{}",
        failures.join("\n")
    );
}

/// Each capability dockerd knows, added (or dropped, for the default ones) on its own: the
/// seccomp rules that depend on it, and the rest of the spec, are dockerd's. This checks the
/// built-in profile rule by rule.
#[test]
fn each_capability_matches_dockerd() {
    let Some(h) = Harness::start() else {
        return;
    };
    let failures: Vec<String> = berth_spec::ALL_CAPABILITIES
        .iter()
        .filter_map(|cap| {
            let flag = if berth_spec::DEFAULT_CAPABILITIES.contains(cap) {
                "--cap-drop"
            } else {
                "--cap-add"
            };
            let options = vec![
                "--network".into(),
                "none".into(),
                flag.into(),
                (*cap).into(),
            ];
            h.compare(&format!("{flag} {cap}"), PLAIN, &options, &["true"])
                .err()
        })
        .collect();
    assert!(
        failures.is_empty(),
        "specs differ from dockerd's:\n{}",
        failures.join("\n")
    );
}
