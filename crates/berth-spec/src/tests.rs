//! The whole translation, rule by rule, without root.

use std::collections::BTreeMap;
use std::path::Path;

use berth_api_types::containers::{ContainerConfig, HostConfig};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde_json::{json, Value};

use super::*;

const ID: &str = "3a01e268ea3ce19db31b9e83afb79d831756b7f3c781598ed4b3920a6d531366";

struct Fixture {
    config: ContainerConfig,
    hc: HostConfig,
    image: ImageDefaults,
    /// Whether `config` is the stored (merged) one: the image is then not merged again.
    merged: bool,
    files: ContainerFiles,
    joined: JoinedNamespaces,
    host: HostFacts,
}

impl Fixture {
    fn new() -> Self {
        Self {
            config: ContainerConfig::default(),
            hc: HostConfig {
                network_mode: "none".into(),
                ..HostConfig::default()
            },
            image: ImageDefaults {
                cmd: Some(vec!["sh".into()]),
                ..ImageDefaults::default()
            },
            merged: false,
            files: ContainerFiles {
                hosts: "/c/hosts".into(),
                hostname: "/c/hostname".into(),
                resolv_conf: "/c/resolv.conf".into(),
                shm: None,
            },
            joined: JoinedNamespaces::default(),
            host: HostFacts {
                cgroup_parent: "/docker".into(),
                ..HostFacts::default()
            },
        }
    }

    fn build(&self) -> Result<Spec, SpecError> {
        build_spec(&SpecInput {
            id: ID,
            config: &self.config,
            host_config: &self.hc,
            image: (!self.merged).then_some(&self.image),
            rootfs: Path::new("/rootfs"),
            files: &self.files,
            joined: &self.joined,
            host: &self.host,
            users: &NumericIds,
            devices: &NoDevices,
        })
    }

    fn json(&self) -> Value {
        serde_json::to_value(self.build().unwrap()).unwrap()
    }
}

fn namespaces(spec: &Spec) -> Vec<(LinuxNamespaceType, Option<String>)> {
    spec.linux()
        .as_ref()
        .unwrap()
        .namespaces()
        .iter()
        .flatten()
        .map(|n| (n.typ(), n.path().as_ref().map(|p| p.display().to_string())))
        .collect()
}

fn sorted_caps(v: &Value) -> Vec<String> {
    let mut caps: Vec<String> = serde_json::from_value(v.clone()).unwrap();
    caps.sort();
    caps
}

#[test]
fn plain_run_is_dockerds_default() {
    let f = Fixture::new();
    let v = f.json();
    assert_eq!(v["ociVersion"], "1.0.2-dev");
    assert_eq!(v["root"], json!({"path": "/rootfs"}));
    assert_eq!(v["hostname"], "3a01e268ea3c");
    let p = &v["process"];
    assert_eq!(p["args"], json!(["sh"]));
    assert_eq!(p["cwd"], "/");
    assert_eq!(
        p["env"],
        json!([format!("PATH={DEFAULT_PATH}"), "HOSTNAME=3a01e268ea3c"])
    );
    assert_eq!(
        p["user"],
        json!({"uid": 0, "gid": 0, "additionalGids": [0]})
    );
    assert_eq!(p["oomScoreAdj"], 0);
    assert!(p.get("terminal").is_none() && p.get("rlimits").is_none());
    assert!(p.get("noNewPrivileges").is_none());
    let mut default_caps: Vec<String> = DEFAULT_CAPABILITIES
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    default_caps.sort();
    for set in ["bounding", "effective", "permitted"] {
        assert_eq!(sorted_caps(&p["capabilities"][set]), default_caps, "{set}");
    }
    assert!(p["capabilities"].get("inheritable").is_none());
    let l = &v["linux"];
    assert_eq!(
        l["namespaces"],
        json!([{"type": "mount"}, {"type": "network"}, {"type": "uts"}, {"type": "pid"}, {"type": "ipc"}])
    );
    assert_eq!(l["cgroupsPath"], format!("/docker/{ID}"));
    assert_eq!(
        l["sysctl"],
        json!({"net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647"})
    );
    assert_eq!(l["maskedPaths"], json!(DEFAULT_MASKED_PATHS));
    assert_eq!(l["readonlyPaths"], json!(DEFAULT_READONLY_PATHS));
    assert_eq!(l["resources"]["memory"], json!({"disableOOMKiller": false}));
    assert_eq!(l["resources"]["cpu"], json!({"shares": 0}));
    assert_eq!(l["resources"]["blockIO"], json!({"weight": 0}));
    assert_eq!(l["resources"]["devices"].as_array().unwrap().len(), 8);
    assert_eq!(l["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    assert!(v.get("hooks").is_none());
    assert_eq!(v["mounts"].as_array().unwrap().len(), 10);
}

#[test]
fn terminal_user_workdir_hostname_env() {
    let mut f = Fixture::new();
    f.config.tty = true;
    f.config.user = "1000:1000".into();
    f.config.working_dir = "/tmp".into();
    f.config.hostname = "web".into();
    f.config.domainname = "example.org".into();
    f.config.env = Some(vec!["A=1".into()]);
    f.hc.group_add = Some(vec!["20".into()]);
    let v = f.json();
    let p = &v["process"];
    assert_eq!(p["terminal"], true);
    assert_eq!(
        p["user"],
        json!({"uid": 1000, "gid": 1000, "additionalGids": [1000, 20]})
    );
    assert_eq!(p["cwd"], "/tmp");
    assert_eq!(
        p["env"],
        json!([
            format!("PATH={DEFAULT_PATH}"),
            "HOSTNAME=web",
            "TERM=xterm",
            "A=1"
        ])
    );
    assert_eq!(v["hostname"], "web");
    assert_eq!(v["linux"]["sysctl"]["kernel.domainname"], "example.org");
    f.config.user = "nobody".into();
    assert!(matches!(f.build(), Err(SpecError::User { .. })));
}

#[test]
fn entrypoint_and_init() {
    let mut f = Fixture::new();
    f.config.entrypoint = Some(vec!["/bin/echo".into()]);
    f.config.cmd = Some(vec!["hi".into()]);
    assert_eq!(f.json()["process"]["args"], json!(["/bin/echo", "hi"]));
    f.hc.init = Some(true);
    assert!(matches!(f.build(), Err(SpecError::NoInitBinary)));
    f.host.init_binary = Some("/usr/libexec/berth-init".into());
    let v = f.json();
    assert_eq!(
        v["process"]["args"],
        json!([INIT_PATH, "--", "/bin/echo", "hi"])
    );
    // After the default mounts, before the /etc files.
    let init = v["mounts"][7].clone();
    assert_eq!(
        init,
        json!({"destination": INIT_PATH, "type": "bind", "source": "/usr/libexec/berth-init", "options": ["bind", "ro"]})
    );
    // No init in the host's pid namespace.
    f.hc.pid_mode = "host".into();
    assert_eq!(f.json()["process"]["args"], json!(["/bin/echo", "hi"]));
}

#[test]
fn namespace_modes() {
    let mut f = Fixture::new();
    f.hc.pid_mode = "host".into();
    f.hc.ipc_mode = "host".into();
    f.hc.uts_mode = "host".into();
    let spec = f.build().unwrap();
    assert_eq!(
        namespaces(&spec),
        [
            (LinuxNamespaceType::Mount, None),
            (LinuxNamespaceType::Network, None)
        ]
    );
    assert!(spec.hostname().is_none());
    let v = serde_json::to_value(&spec).unwrap();
    let shm: Vec<&Value> = v["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["destination"] == "/dev/shm")
        .collect();
    assert_eq!(
        shm,
        [
            &json!({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": ["rbind", "rprivate"]})
        ]
    );

    let mut f = Fixture::new();
    f.hc.network_mode = "host".into();
    f.host.hostname = "vm".into();
    let spec = f.build().unwrap();
    assert!(!namespaces(&spec)
        .iter()
        .any(|(t, _)| *t == LinuxNamespaceType::Network));
    assert_eq!(spec.hostname().as_deref(), Some("vm"));
    // No network sysctls outside a namespace of the container's own.
    assert!(spec.linux().as_ref().unwrap().sysctl().is_none());
    f.joined.network = Some("/run/netns/host".into());
    assert!(namespaces(&f.build().unwrap())
        .contains(&(LinuxNamespaceType::Network, Some("/run/netns/host".into()))));
    f.hc.sysctls = Some(BTreeMap::from([("net.ipv4.ip_forward".into(), "1".into())]));
    assert!(matches!(f.build(), Err(SpecError::Invalid { .. })));

    let mut f = Fixture::new();
    f.hc.network_mode = "container:web".into();
    assert!(matches!(
        f.build(),
        Err(SpecError::MissingNamespacePath { .. })
    ));
    f.joined.network = Some("/proc/42/ns/net".into());
    assert!(namespaces(&f.build().unwrap())
        .contains(&(LinuxNamespaceType::Network, Some("/proc/42/ns/net".into()))));

    for bad in ["", "default", "bridge", "mynet"] {
        let mut f = Fixture::new();
        f.hc.network_mode = bad.into();
        let err = f.build().unwrap_err();
        assert!(err.to_string().contains("--network none, host"), "{err}");
    }

    let mut f = Fixture::new();
    f.host.cgroup_v2 = true;
    assert!(namespaces(&f.build().unwrap()).contains(&(LinuxNamespaceType::Cgroup, None)));
    f.hc.cgroupns_mode = "host".into();
    assert!(!namespaces(&f.build().unwrap()).contains(&(LinuxNamespaceType::Cgroup, None)));
}

#[test]
fn shared_ipc() {
    let mut f = Fixture::new();
    f.hc.ipc_mode = "shareable".into();
    assert!(matches!(f.build(), Err(SpecError::Invalid { .. })));
    f.files.shm = Some("/c/shm".into());
    let spec = f.build().unwrap();
    assert!(namespaces(&spec).contains(&(LinuxNamespaceType::Ipc, None)));
    let v = serde_json::to_value(&spec).unwrap();
    let shm: Vec<&Value> = v["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["destination"] == "/dev/shm")
        .collect();
    assert_eq!(
        shm,
        [
            &json!({"destination": "/dev/shm", "type": "bind", "source": "/c/shm", "options": ["rbind", "rprivate"]})
        ]
    );
    f.hc.ipc_mode = "container:db".into();
    assert!(matches!(
        f.build(),
        Err(SpecError::MissingNamespacePath { .. })
    ));
    f.joined.ipc = Some("/proc/7/ns/ipc".into());
    assert!(namespaces(&f.build().unwrap())
        .contains(&(LinuxNamespaceType::Ipc, Some("/proc/7/ns/ipc".into()))));
    f.hc.ipc_mode = "container:".into();
    f.hc.pid_mode = "container:db".into();
    assert!(matches!(
        f.build(),
        Err(SpecError::MissingNamespacePath { .. })
    ));
}

#[test]
fn privileged() {
    let mut f = Fixture::new();
    f.hc.privileged = true;
    let v = f.json();
    assert_eq!(
        v["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap()
            .len(),
        38
    );
    assert!(v["linux"].get("maskedPaths").is_none());
    assert!(v["linux"].get("readonlyPaths").is_none());
    assert!(v["linux"].get("seccomp").is_none());
    assert_eq!(
        v["linux"]["resources"]["devices"],
        json!([{"allow": true, "access": "rwm"}])
    );
}

#[test]
fn security_options_and_read_only() {
    let mut f = Fixture::new();
    f.hc.security_opt = Some(vec![
        "no-new-privileges".into(),
        "seccomp=unconfined".into(),
    ]);
    f.hc.readonly_rootfs = true;
    let v = f.json();
    assert_eq!(v["process"]["noNewPrivileges"], true);
    assert!(v["linux"].get("seccomp").is_none());
    assert_eq!(v["root"]["readonly"], true);
}

#[test]
fn resources_and_limits() {
    let mut f = Fixture::new();
    f.hc.resources.memory = 64 << 20;
    f.hc.resources.nano_cpus = 500_000_000;
    f.hc.resources.pids_limit = Some(100);
    f.hc.resources.cpu_shares = 512;
    f.hc.resources.cpuset_cpus = "0".into();
    f.hc.resources.ulimits = Some(vec![berth_api_types::containers::Ulimit {
        name: "nofile".into(),
        soft: 1024,
        hard: 2048,
    }]);
    f.hc.shm_size = 1 << 20;
    f.hc.oom_score_adj = 500;
    f.hc.tmpfs = Some(BTreeMap::from([("/run".into(), "size=1m".into())]));
    f.hc.sysctls = Some(BTreeMap::from([("kernel.shmmax".into(), "1000".into())]));
    let v = f.json();
    let r = &v["linux"]["resources"];
    assert_eq!(
        r["memory"],
        json!({"limit": 64 << 20, "swap": 128 << 20, "disableOOMKiller": false})
    );
    assert_eq!(
        r["cpu"],
        json!({"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"})
    );
    assert_eq!(r["pids"], json!({"limit": 100}));
    assert_eq!(
        v["process"]["rlimits"],
        json!([{"type": "RLIMIT_NOFILE", "hard": 2048, "soft": 1024}])
    );
    assert_eq!(v["process"]["oomScoreAdj"], 500);
    assert_eq!(v["linux"]["sysctl"]["kernel.shmmax"], "1000");
    let mounts = v["mounts"].as_array().unwrap();
    let shm = mounts
        .iter()
        .find(|m| m["destination"] == "/dev/shm")
        .unwrap();
    assert_eq!(
        shm["options"].as_array().unwrap().last().unwrap(),
        "size=1048576"
    );
    let run = mounts.iter().find(|m| m["destination"] == "/run").unwrap();
    assert_eq!(
        run["options"],
        json!(["noexec", "nosuid", "nodev", "rprivate", "size=1m"])
    );

    f.hc.sysctls = Some(BTreeMap::from([("kernel.hostname".into(), "x".into())]));
    assert!(matches!(f.build(), Err(SpecError::Invalid { .. })));
    f.hc.sysctls = None;
    f.hc.oom_score_adj = 2000;
    assert!(matches!(f.build(), Err(SpecError::Invalid { .. })));
}

#[test]
fn unsupported_settings_name_the_field() {
    type Setter = Box<dyn Fn(&mut Fixture)>;
    let cases: Vec<(&str, Setter)> = vec![
        (
            "HostConfig.Binds",
            Box::new(|f| f.hc.binds = Some(vec!["/a:/b".into()])),
        ),
        (
            "HostConfig.UsernsMode",
            Box::new(|f| f.hc.userns_mode = "private".into()),
        ),
        (
            "HostConfig.Devices",
            Box::new(|f| {
                f.hc.resources.devices = Some(vec![berth_api_types::containers::DeviceMapping {
                    path_on_host: "/dev/fuse".into(),
                    path_in_container: "/dev/fuse".into(),
                    cgroup_permissions: "rwm".into(),
                }]);
            }),
        ),
        (
            "HostConfig.PublishAllPorts",
            Box::new(|f| f.hc.publish_all_ports = true),
        ),
        (
            "--security-opt",
            Box::new(|f| f.hc.security_opt = Some(vec!["apparmor=x".into()])),
        ),
    ];
    for (field, set) in cases {
        let mut f = Fixture::new();
        set(&mut f);
        match f.build() {
            Err(e @ SpecError::Unsupported { .. }) => {
                assert!(e.to_string().contains(field), "{e}")
            }
            other => panic!("{field}: {other:?}"),
        }
    }
    // Defaults are fine, even spelt out as dockerd stores them.
    let mut f = Fixture::new();
    f.hc.binds = Some(vec![]);
    f.hc.port_bindings = Some(BTreeMap::new());
    f.hc.isolation = "default".into();
    f.hc.ipc_mode = "private".into();
    f.build().unwrap();
}

#[test]
fn create_body_and_stored_config_give_the_same_spec() {
    // What the CLI sends, and what dockerd stores after create (image merged, defaults set).
    let mut sent = Fixture::new();
    sent.image.env = vec!["PATH=/usr/bin:/bin".into(), "LANG=C".into()];
    sent.config.env = Some(vec!["LANG=fr".into()]);
    sent.hc.resources.memory = 32 << 20;
    let mut stored = Fixture::new();
    stored.image = sent.image.clone();
    stored.merged = true;
    stored.config = merge_image_defaults(&sent.config, &sent.image).unwrap();
    stored.hc = sent.hc.clone();
    apply_create_defaults(ID, &mut stored.config, &mut stored.hc, &stored.host);
    assert_eq!(stored.hc.shm_size, DEFAULT_SHM_SIZE);
    assert_eq!(stored.hc.ipc_mode, "private");
    assert_eq!(stored.hc.cgroupns_mode, "host");
    assert_eq!(stored.hc.resources.memory_swap, 64 << 20);
    assert_eq!(stored.hc.resources.oom_kill_disable, Some(false));
    assert_eq!(stored.hc.masked_paths.as_ref().unwrap().len(), 10);
    // A second time changes nothing.
    let (mut c2, mut h2) = (stored.config.clone(), stored.hc.clone());
    apply_create_defaults(ID, &mut c2, &mut h2, &stored.host);
    assert_eq!((c2, h2), (stored.config.clone(), stored.hc.clone()));
    // Compared as specs: capabilities are sets, whose JSON order varies.
    assert_eq!(sent.build().unwrap(), stored.build().unwrap());
    assert_eq!(sent.json()["process"]["env"][2], "LANG=fr");
    assert_eq!(sent.json()["process"]["env"][0], "PATH=/usr/bin:/bin");
}

#[test]
fn a_stored_config_is_not_merged_again() {
    // `--entrypoint ""` with an image that has an entrypoint: dockerd stores Entrypoint null.
    let mut f = Fixture::new();
    f.image.entrypoint = Some(vec!["/bin/sh".into(), "-c".into()]);
    f.config.entrypoint = Some(vec![String::new()]);
    f.config.cmd = Some(vec!["true".into()]);
    assert_eq!(f.json()["process"]["args"], json!(["true"]));
    f.config = merge_image_defaults(&f.config, &f.image).unwrap();
    assert_eq!(f.config.entrypoint, None);
    f.merged = true;
    assert_eq!(f.json()["process"]["args"], json!(["true"]));
}

#[test]
fn other_users_get_only_the_bounding_set() {
    let mut f = Fixture::new();
    f.config.user = "1000".into();
    let v = f.json();
    let caps = v["process"]["capabilities"].as_object().unwrap();
    assert_eq!(caps.keys().collect::<Vec<_>>(), ["bounding"]);
    assert_eq!(
        v["process"]["user"],
        json!({"uid": 1000, "gid": 0, "additionalGids": [0]})
    );
}

/// A small deterministic generator (xorshift), to throw hostile strings at every field that
/// comes from the API without a fuzzing dependency.
struct Hostile(u64);

impl Hostile {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        let n = u64::try_from(from.len()).unwrap();
        from[usize::try_from(self.next() % n).unwrap()]
    }

    fn string(&mut self) -> String {
        const PIECES: &[&str] = &[
            "",
            ":",
            "=",
            ",",
            "/",
            "*",
            " ",
            "0",
            "1",
            "-1",
            "99999999999999999999",
            "a",
            "é",
            "\u{0}",
            "ALL",
            "CAP_",
            "size=",
            "mode=",
            "rw",
            "net.",
            "kernel.shm",
            "c",
            "1:2",
            "rwm",
            "unconfined",
            "seccomp",
            "{",
            "}",
            "\"",
            "container:",
            "host",
            "none",
            "..",
        ];
        let len = self.next() % 6;
        (0..len).map(|_| self.pick(PIECES)).collect()
    }

    fn strings(&mut self) -> Option<Vec<String>> {
        match self.next() % 3 {
            0 => None,
            n => Some((0..n).map(|_| self.string()).collect()),
        }
    }
}

#[test]
fn hostile_input_never_panics() {
    let mut h = Hostile(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let mut f = Fixture::new();
        f.config.user = h.string();
        f.config.hostname = h.string();
        f.config.domainname = h.string();
        f.config.working_dir = h.string();
        f.config.env = h.strings();
        f.config.cmd = h.strings();
        f.config.entrypoint = h.strings();
        f.hc.cap_add = h.strings();
        f.hc.cap_drop = h.strings();
        f.hc.security_opt = h.strings();
        f.hc.group_add = h.strings();
        f.hc.network_mode = h
            .pick(&["none", "host", "container:x", "bridge", ""])
            .to_owned();
        f.hc.ipc_mode = h.string();
        f.hc.pid_mode = h.string();
        f.hc.uts_mode = h.string();
        f.hc.cgroupns_mode = h.string();
        f.hc.tmpfs = h
            .strings()
            .map(|v| v.into_iter().map(|k| (k.clone(), k)).collect());
        f.hc.sysctls = h
            .strings()
            .map(|v| v.into_iter().map(|k| (k.clone(), k)).collect());
        f.hc.resources.device_cgroup_rules = h.strings();
        f.hc.resources.ulimits = h.strings().map(|v| {
            v.into_iter()
                .map(|name| berth_api_types::containers::Ulimit {
                    name,
                    soft: i64::from_ne_bytes(h.next().to_ne_bytes()),
                    hard: i64::from_ne_bytes(h.next().to_ne_bytes()),
                })
                .collect()
        });
        f.hc.resources.memory = i64::from_ne_bytes(h.next().to_ne_bytes()) >> (h.next() % 64);
        f.hc.resources.nano_cpus = i64::from_ne_bytes(h.next().to_ne_bytes()) >> (h.next() % 64);
        f.hc.resources.cpu_shares = i64::from_ne_bytes(h.next().to_ne_bytes()) >> (h.next() % 64);
        f.hc.oom_score_adj = i64::from_ne_bytes(h.next().to_ne_bytes()) >> (h.next() % 64);
        f.hc.shm_size = i64::from_ne_bytes(h.next().to_ne_bytes()) >> (h.next() % 64);
        f.joined.network = Some("/proc/1/ns/net".into());
        // Ok or a typed error; never a panic.
        let _ = f.build();
    }
}

#[test]
fn masked_and_readonly_paths_as_given() {
    let mut f = Fixture::new();
    f.hc.masked_paths = Some(vec![]);
    f.hc.readonly_paths = Some(vec!["/proc/sys".into()]);
    let v = f.json();
    assert!(v["linux"].get("maskedPaths").is_none());
    assert_eq!(v["linux"]["readonlyPaths"], json!(["/proc/sys"]));
    // Given explicitly, they apply to a privileged container too (dockerd applies them last).
    f.hc.privileged = true;
    assert_eq!(f.json()["linux"]["readonlyPaths"], json!(["/proc/sys"]));
}
