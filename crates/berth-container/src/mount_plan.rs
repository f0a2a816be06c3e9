//! What the init mounts, decided as plain data before anything is mounted:
//! the spec's mounts as a list of operations (sources, targets, flags,
//! propagation, recursive attributes, fallbacks) and the /dev it builds.
//! Pure code, tested without root; `rootfs.rs` performs a plan.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount};

use crate::mount_options::MountOptions;
use crate::rootfs::CgroupMount;

/// What a plan is made from: the spec's mounts and devices and the
/// container's namespaces.
#[derive(Debug)]
pub(crate) struct RootfsInputs<'a> {
    /// Relative bind sources are taken relative to the bundle.
    pub bundle: &'a Path,
    pub mounts: &'a [Mount],
    pub devices: &'a [LinuxDevice],
    pub in_userns: bool,
    pub new_netns: bool,
    pub new_cgroupns: bool,
    pub cgroup_mounts: &'a [CgroupMount],
}

/// Why a plan, or one of its operations, cannot be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MountPlanError {
    /// runc's words, which tools match on.
    #[error("filesystem {fstype:?} must be mounted on ordinary directory")]
    NotOrdinaryDirectory { fstype: String },
    #[error("device {} has type a, which cannot be created", path.display())]
    DeviceTypeAll { path: PathBuf },
}

/// Changes applied to a mount once it is in place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Finish {
    /// Propagation changes, in order (`MS_PRIVATE|MS_REC`, ...).
    pub propagation: Vec<libc::c_ulong>,
    /// mount_setattr(AT_RECURSIVE) attributes for the whole subtree.
    pub rec_attr_set: u64,
    pub rec_attr_clr: u64,
}

impl Finish {
    fn from_options(o: &MountOptions) -> Finish {
        Finish {
            propagation: o.propagation.clone(),
            rec_attr_set: o.rec_attr_set,
            rec_attr_clr: o.rec_attr_clr,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.propagation.is_empty() && self.rec_attr_set == 0 && self.rec_attr_clr == 0
    }
}

/// Flags a bind mount only takes through a remount.
const REMOUNT_FLAGS: libc::c_ulong = libc::MS_RDONLY
    | libc::MS_NOSUID
    | libc::MS_NODEV
    | libc::MS_NOEXEC
    | libc::MS_NOATIME
    | libc::MS_NODIRATIME
    | libc::MS_RELATIME
    | libc::MS_STRICTATIME;

/// A bind mount of a host path (its target is a directory or a file, as the
/// source is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BindOp {
    pub source: PathBuf,
    pub target: PathBuf,
    pub recursive: bool,
    /// Flags of the remount that applies `ro`, `nosuid`, ... (0: none).
    pub remount: libc::c_ulong,
    /// In a user namespace the remount must keep the flags the kernel locked
    /// on the source (read from the mount when it is made).
    pub keep_locked: bool,
    /// `Some(fstype)` for a sysfs mount carried out as a bind of the host's:
    /// its target is checked as [`FreshOp::ordinary_directory`]'s.
    pub ordinary_directory: Option<String>,
    pub finish: Finish,
}

/// A filesystem mounted fresh on a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FreshOp {
    pub fstype: String,
    pub source: Option<String>,
    pub target: PathBuf,
    pub flags: libc::c_ulong,
    pub data: String,
    /// proc and sysfs: the target must be reached without a symlink and be
    /// a directory (or nothing yet), else [`MountPlanError::NotOrdinaryDirectory`].
    pub ordinary_directory: bool,
    /// mqueue: a kernel that refuses a fresh one (EPERM) gets this bind instead.
    pub bind_on_eperm: Option<BindOp>,
    pub finish: Finish,
}

/// How one cgroup hierarchy appears under the cgroup mount point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CgroupSource {
    /// A fresh mount (inside a new cgroup namespace).
    Mount {
        fstype: String,
        options: String,
        flags: libc::c_ulong,
    },
    /// The container's cgroup directory on the host, bound.
    Bind(PathBuf),
}

/// The container's /sys/fs/cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CgroupsOp {
    pub target: PathBuf,
    /// Flags of the tmpfs holding one directory per hierarchy; `None` on a
    /// v2-only host, where the hierarchy is mounted on the target itself.
    pub tmpfs: Option<libc::c_ulong>,
    pub hierarchies: Vec<(PathBuf, CgroupSource)>,
    /// mount_setattr(AT_RECURSIVE) attributes for the whole tree (read-only,
    /// nosuid, ...): one call instead of a remount per hierarchy.
    pub attr_set: u64,
}

/// One entry of `mounts`, planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MountOp {
    Bind(BindOp),
    Fresh(FreshOp),
    Cgroups(CgroupsOp),
}

/// A planned mount with the spec entry it came from (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlannedMount {
    pub spec_source: PathBuf,
    pub spec_destination: PathBuf,
    pub op: MountOp,
}

/// A device node under /dev.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceNode {
    pub path: PathBuf,
    /// `S_IFCHR`, `S_IFBLK` or `S_IFIFO`.
    pub kind: libc::mode_t,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The /dev the init builds when the spec does not bind the host's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DevPlan {
    pub nodes: Vec<DeviceNode>,
    /// In a user namespace mknod is refused: each node is a bind of the host's.
    pub bind_from_host: bool,
    /// `/dev/NAME -> TARGET` links; `core` only where the host has /proc/kcore.
    pub links: Vec<(&'static str, &'static str)>,
    /// With a devpts mount, /dev/ptmx is a link to `pts/ptmx`.
    pub ptmx_link: bool,
}

/// Everything the init mounts and creates, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountPlan {
    pub mounts: Vec<PlannedMount>,
    pub dev: Option<DevPlan>,
}

/// The devices every container gets (runtime spec "Default Devices").
const DEFAULT_DEVICES: [(&str, u64, u64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// The standard /dev links (runtime spec "Dev symbolic links").
pub(crate) const DEV_LINKS: [(&str, &str); 5] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("core", "/proc/kcore"),
];

/// Plans the spec's mounts and /dev.
pub(crate) fn plan(inputs: &RootfsInputs<'_>) -> Result<MountPlan, MountPlanError> {
    let mounts = inputs
        .mounts
        .iter()
        .map(|m| PlannedMount {
            spec_source: m.source().clone().unwrap_or_default(),
            spec_destination: m.destination().clone(),
            op: plan_mount(inputs, m),
        })
        .collect();
    let dev_from_host = inputs.mounts.iter().any(|m| {
        m.destination() == Path::new("/dev")
            && (m.typ().as_deref() == Some("bind")
                || m.options()
                    .iter()
                    .flatten()
                    .any(|o| o == "bind" || o == "rbind"))
    });
    let dev = if dev_from_host {
        None
    } else {
        Some(plan_dev(inputs)?)
    };
    Ok(MountPlan { mounts, dev })
}

fn plan_bind(
    inputs: &RootfsInputs<'_>,
    source: PathBuf,
    target: &Path,
    o: &MountOptions,
) -> BindOp {
    let wanted = o.flags & REMOUNT_FLAGS;
    let remount = if wanted == 0 {
        0
    } else {
        libc::MS_BIND | libc::MS_REMOUNT | wanted | if o.recursive { libc::MS_REC } else { 0 }
    };
    BindOp {
        source,
        target: target.to_path_buf(),
        recursive: o.recursive,
        remount,
        keep_locked: remount != 0 && inputs.in_userns,
        ordinary_directory: None,
        finish: Finish::from_options(o),
    }
}

fn plan_mount(inputs: &RootfsInputs<'_>, m: &Mount) -> MountOp {
    let opts = MountOptions::parse(m.options().as_deref().unwrap_or_default());
    let dest = m.destination();
    let fstype = m.typ().as_deref().unwrap_or("");
    if opts.bind || fstype == "bind" {
        let src = m.source().clone().unwrap_or_default();
        let src = if src.is_absolute() {
            src
        } else {
            inputs.bundle.join(src)
        };
        return MountOp::Bind(plan_bind(inputs, src, dest, &opts));
    }
    match fstype {
        "cgroup" | "cgroup2" => return MountOp::Cgroups(plan_cgroups(inputs, dest, &opts)),
        "sysfs" if !inputs.new_netns || inputs.in_userns => {
            // A sysfs of the host's network namespace cannot (and must not) be
            // mounted fresh here: bind the host's /sys as runc does.
            let mut o = opts.clone();
            o.recursive = true;
            o.bind = true;
            let mut bind = plan_bind(inputs, PathBuf::from("/sys"), dest, &o);
            bind.ordinary_directory = Some(fstype.to_string());
            return MountOp::Bind(bind);
        }
        _ => {}
    }
    let bind_on_eperm = (fstype == "mqueue").then(|| {
        let mut o = opts.clone();
        o.bind = true;
        plan_bind(inputs, PathBuf::from("/dev/mqueue"), dest, &o)
    });
    MountOp::Fresh(FreshOp {
        fstype: fstype.to_string(),
        source: m
            .source()
            .as_ref()
            .map(|s| s.to_string_lossy().into_owned()),
        target: dest.to_path_buf(),
        flags: opts.flags & !libc::MS_REMOUNT,
        data: opts.data.clone(),
        ordinary_directory: matches!(fstype, "proc" | "sysfs"),
        bind_on_eperm,
        finish: Finish::from_options(&opts),
    })
}

fn plan_cgroups(inputs: &RootfsInputs<'_>, dest: &Path, opts: &MountOptions) -> CgroupsOp {
    let ro = if opts.readonly() { libc::MS_RDONLY } else { 0 };
    let base =
        opts.flags & (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RELATIME);
    let single_v2 = matches!(inputs.cgroup_mounts, [only] if only.name.is_empty());
    let hierarchies = inputs
        .cgroup_mounts
        .iter()
        .map(|cg| {
            let target = if cg.name.is_empty() {
                dest.to_path_buf()
            } else {
                dest.join(&cg.name)
            };
            let source = if inputs.new_cgroupns {
                CgroupSource::Mount {
                    fstype: cg.fstype.clone(),
                    options: cg.options.clone(),
                    flags: base | ro,
                }
            } else {
                CgroupSource::Bind(cg.host_path.clone())
            };
            (target, source)
        })
        .collect();
    let mut attr_set = 0;
    for (flag, a) in [
        (libc::MS_RDONLY, berth_sys::mount::MOUNT_ATTR_RDONLY),
        (libc::MS_NOSUID, berth_sys::mount::MOUNT_ATTR_NOSUID),
        (libc::MS_NODEV, berth_sys::mount::MOUNT_ATTR_NODEV),
        (libc::MS_NOEXEC, berth_sys::mount::MOUNT_ATTR_NOEXEC),
    ] {
        if (base | ro) & flag != 0 {
            attr_set |= a;
        }
    }
    CgroupsOp {
        target: dest.to_path_buf(),
        tmpfs: (!single_v2).then_some(base),
        hierarchies,
        attr_set,
    }
}

fn plan_dev(inputs: &RootfsInputs<'_>) -> Result<DevPlan, MountPlanError> {
    let mut nodes = Vec::new();
    for (path, major, minor) in DEFAULT_DEVICES {
        if inputs.devices.iter().any(|d| d.path() == Path::new(path)) {
            continue;
        }
        nodes.push(DeviceNode {
            path: PathBuf::from(path),
            kind: libc::S_IFCHR,
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        });
    }
    for d in inputs.devices {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(MountPlanError::DeviceTypeAll {
                    path: d.path().clone(),
                })
            }
        };
        nodes.push(DeviceNode {
            path: d.path().clone(),
            kind,
            major: u64::try_from(d.major()).unwrap_or(0),
            minor: u64::try_from(d.minor()).unwrap_or(0),
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    Ok(DevPlan {
        nodes,
        bind_from_host: inputs.in_userns,
        links: DEV_LINKS.to_vec(),
        ptmx_link: inputs
            .mounts
            .iter()
            .any(|m| m.destination() == Path::new("/dev/pts")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_sys::mount as attr;

    fn mounts(v: serde_json::Value) -> Vec<Mount> {
        serde_json::from_value(v).expect("mounts parse")
    }

    fn inputs<'a>(mounts: &'a [Mount], devices: &'a [LinuxDevice]) -> RootfsInputs<'a> {
        RootfsInputs {
            bundle: Path::new("/bundle"),
            mounts,
            devices,
            in_userns: false,
            new_netns: true,
            new_cgroupns: false,
            cgroup_mounts: &[],
        }
    }

    fn default_mounts() -> Vec<Mount> {
        let spec = crate::config::default_spec(false);
        mounts(spec["mounts"].clone())
    }

    fn ops(plan: &MountPlan) -> Vec<&MountOp> {
        plan.mounts.iter().map(|m| &m.op).collect()
    }

    #[test]
    fn the_default_spec() {
        let m = default_mounts();
        let plan = super::plan(&inputs(&m, &[])).expect("plan");
        let ops = ops(&plan);
        let MountOp::Fresh(proc) = ops[0] else {
            panic!("proc: {:?}", ops[0])
        };
        assert_eq!(proc.fstype, "proc");
        assert!(proc.ordinary_directory);
        let MountOp::Fresh(dev) = ops[1] else {
            panic!("/dev: {:?}", ops[1])
        };
        assert_eq!(
            (dev.flags, dev.data.as_str(), dev.ordinary_directory),
            (
                libc::MS_NOSUID | libc::MS_STRICTATIME,
                "mode=755,size=65536k",
                false
            )
        );
        let MountOp::Fresh(mqueue) = ops[4] else {
            panic!("mqueue: {:?}", ops[4])
        };
        let fallback = mqueue.bind_on_eperm.as_ref().expect("mqueue falls back");
        assert_eq!(fallback.source, Path::new("/dev/mqueue"));
        assert_eq!(
            fallback.remount,
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV
        );
        let MountOp::Fresh(sys) = ops[5] else {
            panic!("sysfs in a new netns is fresh: {:?}", ops[5])
        };
        assert!(sys.ordinary_directory);
        assert!(sys.flags & libc::MS_RDONLY != 0);
        let dev = plan.dev.expect("a /dev is built");
        let paths: Vec<_> = dev.nodes.iter().map(|n| n.path.clone()).collect();
        assert_eq!(paths.len(), 6);
        assert!(dev.ptmx_link && !dev.bind_from_host);
    }

    #[test]
    fn sysfs_of_a_shared_network_namespace_is_the_hosts_bound() {
        let m = mounts(serde_json::json!([
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "ro"]}
        ]));
        let mut i = inputs(&m, &[]);
        i.new_netns = false;
        let plan = super::plan(&i).expect("plan");
        assert_eq!(
            ops(&plan),
            [&MountOp::Bind(BindOp {
                source: PathBuf::from("/sys"),
                target: PathBuf::from("/sys"),
                recursive: true,
                remount: libc::MS_BIND
                    | libc::MS_REMOUNT
                    | libc::MS_NOSUID
                    | libc::MS_RDONLY
                    | libc::MS_REC,
                keep_locked: false,
                ordinary_directory: Some("sysfs".into()),
                finish: Finish::default(),
            })]
        );
    }

    #[test]
    fn binds_relative_sources_read_only_and_recursive_attributes() {
        let m = mounts(serde_json::json!([
            {"destination": "/data", "type": "none", "source": "data", "options": ["rbind", "ro", "rprivate"]},
            {"destination": "/n", "type": "bind", "source": "/srv", "options": ["rbind", "rnoatime", "rnosuid"]}
        ]));
        let mut i = inputs(&m, &[]);
        i.in_userns = true;
        let plan = super::plan(&i).expect("plan");
        let [MountOp::Bind(data), MountOp::Bind(n)] = ops(&plan)[..] else {
            panic!("{plan:?}")
        };
        assert_eq!(data.source, Path::new("/bundle/data"));
        assert_eq!(
            data.remount,
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_REC
        );
        assert!(
            data.keep_locked,
            "a user namespace locks the source's flags"
        );
        assert_eq!(data.finish.propagation, [libc::MS_PRIVATE | libc::MS_REC]);
        assert_eq!((n.remount, n.keep_locked), (0, false));
        assert_eq!(
            (n.finish.rec_attr_set, n.finish.rec_attr_clr),
            (
                attr::MOUNT_ATTR_NOATIME | attr::MOUNT_ATTR_NOSUID,
                attr::MOUNT_ATTR__ATIME
            )
        );
    }

    #[test]
    fn cgroups_hybrid_and_v2() {
        let m = mounts(serde_json::json!([
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ]));
        let v1 = [
            CgroupMount {
                name: "cpu".into(),
                fstype: "cgroup".into(),
                options: "cpu".into(),
                host_path: PathBuf::from("/sys/fs/cgroup/cpu/c"),
            },
            CgroupMount {
                name: "pids".into(),
                fstype: "cgroup".into(),
                options: "pids".into(),
                host_path: PathBuf::from("/sys/fs/cgroup/pids/c"),
            },
        ];
        let mut i = inputs(&m, &[]);
        i.cgroup_mounts = &v1;
        let plan = super::plan(&i).expect("plan");
        let [MountOp::Cgroups(cg)] = ops(&plan)[..] else {
            panic!("{plan:?}")
        };
        let base = libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV | libc::MS_RELATIME;
        assert_eq!(cg.tmpfs, Some(base));
        assert_eq!(
            cg.hierarchies,
            [
                (
                    PathBuf::from("/sys/fs/cgroup/cpu"),
                    CgroupSource::Bind(PathBuf::from("/sys/fs/cgroup/cpu/c"))
                ),
                (
                    PathBuf::from("/sys/fs/cgroup/pids"),
                    CgroupSource::Bind(PathBuf::from("/sys/fs/cgroup/pids/c"))
                ),
            ]
        );
        assert_eq!(
            cg.attr_set,
            attr::MOUNT_ATTR_RDONLY
                | attr::MOUNT_ATTR_NOSUID
                | attr::MOUNT_ATTR_NODEV
                | attr::MOUNT_ATTR_NOEXEC
        );

        let v2 = [CgroupMount {
            name: String::new(),
            fstype: "cgroup2".into(),
            options: String::new(),
            host_path: PathBuf::from("/sys/fs/cgroup/c"),
        }];
        i.cgroup_mounts = &v2;
        i.new_cgroupns = true;
        let plan = super::plan(&i).expect("plan");
        let [MountOp::Cgroups(cg)] = ops(&plan)[..] else {
            panic!("{plan:?}")
        };
        assert_eq!(cg.tmpfs, None, "v2 alone is mounted on the target itself");
        assert_eq!(
            cg.hierarchies,
            [(
                PathBuf::from("/sys/fs/cgroup"),
                CgroupSource::Mount {
                    fstype: "cgroup2".into(),
                    options: String::new(),
                    flags: base | libc::MS_RDONLY
                }
            )]
        );
    }

    #[test]
    fn devices() {
        let devices: Vec<LinuxDevice> = serde_json::from_value(serde_json::json!([
            {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 432},
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}
        ]))
        .expect("devices parse");
        let m = mounts(serde_json::json!([]));
        let mut i = inputs(&m, &devices);
        i.in_userns = true;
        let dev = super::plan(&i).expect("plan").dev.expect("a /dev");
        let null: Vec<_> = dev
            .nodes
            .iter()
            .filter(|n| n.path == Path::new("/dev/null"))
            .collect();
        assert_eq!(null.len(), 1, "the spec's /dev/null replaces the default");
        assert_eq!(null[0].mode, 0o660);
        assert!(dev.nodes.iter().any(|n| n.path == Path::new("/dev/fuse")));
        assert!(dev.bind_from_host && !dev.ptmx_link);

        let all: Vec<LinuxDevice> = serde_json::from_value(serde_json::json!([
            {"path": "/dev/x", "type": "a", "major": 1, "minor": 1}
        ]))
        .expect("devices parse");
        assert_eq!(
            super::plan(&inputs(&m, &all)),
            Err(MountPlanError::DeviceTypeAll {
                path: PathBuf::from("/dev/x")
            })
        );
    }

    #[test]
    fn a_dev_bound_from_the_host_is_not_built() {
        let m = mounts(serde_json::json!([
            {"destination": "/dev", "type": "bind", "source": "/dev", "options": ["rbind"]}
        ]));
        assert_eq!(super::plan(&inputs(&m, &[])).expect("plan").dev, None);
    }

    #[test]
    fn the_symlink_refusal_uses_runcs_words() {
        let e = MountPlanError::NotOrdinaryDirectory {
            fstype: "proc".into(),
        };
        assert_eq!(
            e.to_string(),
            "filesystem \"proc\" must be mounted on ordinary directory"
        );
    }
}
