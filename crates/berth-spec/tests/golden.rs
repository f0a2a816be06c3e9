//! berth-spec against specs dockerd 20.10 made, without root or dockerd: each file in
//! `tests/golden/` holds the inputs of one `docker run` case of `dockerd.rs` (the container's
//! stored `Config` and `HostConfig`, the paths, the host's facts, the image's passwd and group)
//! and the spec dockerd handed runc, normalised as `dockerd.rs` compares them. They were
//! written by `BERTH_SPEC_WRITE_GOLDEN=DIR cargo nextest run -p berth-spec --test dockerd` on
//! the development VM (a hybrid cgroup host, kernel 6.x); that test regenerates them.

use std::fs;
use std::path::{Path, PathBuf};

use berth_spec::{
    build_spec, ContainerFiles, EtcFiles, HostFacts, JoinedNamespaces, NoDevices, SpecInput,
};
use common::{diff, normalize, Golden};

mod common;

fn check(path: &Path) -> Result<(), String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let g: Golden = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let files = ContainerFiles {
        hosts: PathBuf::from(&g.hosts),
        hostname: PathBuf::from(&g.hostname),
        resolv_conf: PathBuf::from(&g.resolv_conf),
        shm: g.shm.as_ref().map(PathBuf::from),
    };
    let joined = JoinedNamespaces {
        network: g.joined_network.as_ref().map(PathBuf::from),
        pid: g.joined_pid.as_ref().map(PathBuf::from),
        ipc: g.joined_ipc.as_ref().map(PathBuf::from),
    };
    let host = HostFacts {
        cgroup_v2: g.cgroup_v2,
        cgroup_parent: g.cgroup_parent.clone(),
        ping_group_range: g.ping_group_range,
        ip_unprivileged_port_start: g.ip_unprivileged_port_start,
        init_binary: g.init_binary.as_ref().map(PathBuf::from),
        hostname: g.host_hostname.clone(),
        ..HostFacts::default()
    };
    let users = EtcFiles {
        passwd: g.passwd.clone(),
        group: g.group.clone(),
    };
    let spec = build_spec(&SpecInput {
        id: &g.id,
        config: &g.config,
        host_config: &g.host_config,
        image: None,
        rootfs: Path::new(&g.rootfs),
        files: &files,
        joined: &joined,
        host: &host,
        users: &users,
        devices: &NoDevices,
    })
    .map_err(|e| format!("{}: berth-spec refused it: {e}", path.display()))?;
    let ours = serde_json::to_value(spec).map_err(|e| e.to_string())?;
    let mut problems = Vec::new();
    diff("", &g.spec, &normalize(ours), &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}:\n  {}", path.display(), problems.join("\n  ")))
    }
}

#[test]
fn golden_specs_from_dockerd() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 10,
        "the golden files are missing from {}",
        dir.display()
    );
    let failures: Vec<String> = paths.iter().filter_map(|p| check(p).err()).collect();
    assert!(
        failures.is_empty(),
        "specs differ from dockerd's:\n{}",
        failures.join("\n")
    );
}
