//! Parsing of OCI mount options into mount(2) flags, propagation changes,
//! recursive attributes (mount_setattr) and filesystem data. Pure code: what to
//! mount is decided here, the mounting happens in `rootfs.rs`.

use berth_sys::mount as attr;

/// A mount entry's options, split by how the kernel takes them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for mount(2) (`MS_RDONLY`, `MS_NOSUID`, ...).
    pub flags: libc::c_ulong,
    /// Propagation changes applied after mounting, in order (`MS_PRIVATE|MS_REC`, ...).
    pub propagation: Vec<libc::c_ulong>,
    /// Attributes set/cleared on the whole subtree (`rro`, `rnosuid`, ...).
    pub rec_attr_set: u64,
    pub rec_attr_clr: u64,
    /// Comma-joined filesystem-specific data (`size=64m,mode=755`).
    pub data: String,
    /// `bind` or `rbind` was given.
    pub bind: bool,
    /// `rbind` was given.
    pub recursive: bool,
}

impl MountOptions {
    pub fn parse(options: &[String]) -> MountOptions {
        let mut o = MountOptions::default();
        let mut data: Vec<&str> = Vec::new();
        for opt in options {
            let opt = opt.as_str();
            if let Some((set, flag)) = flag_option(opt) {
                if set {
                    o.flags |= flag;
                } else {
                    o.flags &= !flag;
                }
                continue;
            }
            if let Some(p) = propagation_option(opt) {
                o.propagation.push(p);
                continue;
            }
            if let Some(atime) = recursive_atime_option(opt) {
                // The atime attributes are one value, not bits: the kernel takes a new one
                // only with the whole MOUNT_ATTR__ATIME field cleared.
                o.rec_attr_set = (o.rec_attr_set & !attr::MOUNT_ATTR__ATIME) | atime;
                o.rec_attr_clr |= attr::MOUNT_ATTR__ATIME;
                continue;
            }
            if let Some((set, a)) = recursive_attr_option(opt) {
                if set {
                    o.rec_attr_set |= a;
                    o.rec_attr_clr &= !a;
                } else {
                    o.rec_attr_clr |= a;
                    o.rec_attr_set &= !a;
                }
                continue;
            }
            match opt {
                "bind" => o.bind = true,
                "rbind" => {
                    o.bind = true;
                    o.recursive = true;
                }
                // Accepted and ignored, as runc does.
                "defaults" | "idmap" | "ridmap" | "tmpcopyup" => {}
                _ => data.push(opt),
            }
        }
        o.data = data.join(",");
        o
    }

    pub fn readonly(&self) -> bool {
        self.flags & libc::MS_RDONLY != 0
    }
}

/// Options that set (`true`) or clear (`false`) a mount(2) flag.
fn flag_option(opt: &str) -> Option<(bool, libc::c_ulong)> {
    Some(match opt {
        "ro" => (true, libc::MS_RDONLY),
        "rw" => (false, libc::MS_RDONLY),
        "nosuid" => (true, libc::MS_NOSUID),
        "suid" => (false, libc::MS_NOSUID),
        "nodev" => (true, libc::MS_NODEV),
        "dev" => (false, libc::MS_NODEV),
        "noexec" => (true, libc::MS_NOEXEC),
        "exec" => (false, libc::MS_NOEXEC),
        "sync" => (true, libc::MS_SYNCHRONOUS),
        "async" => (false, libc::MS_SYNCHRONOUS),
        "dirsync" => (true, libc::MS_DIRSYNC),
        "remount" => (true, libc::MS_REMOUNT),
        "mand" => (true, libc::MS_MANDLOCK),
        "nomand" => (false, libc::MS_MANDLOCK),
        "atime" => (false, libc::MS_NOATIME),
        "noatime" => (true, libc::MS_NOATIME),
        "diratime" => (false, libc::MS_NODIRATIME),
        "nodiratime" => (true, libc::MS_NODIRATIME),
        "relatime" => (true, libc::MS_RELATIME),
        "norelatime" => (false, libc::MS_RELATIME),
        "strictatime" => (true, libc::MS_STRICTATIME),
        "nostrictatime" => (false, libc::MS_STRICTATIME),
        "silent" => (true, libc::MS_SILENT),
        "loud" => (false, libc::MS_SILENT),
        _ => return None,
    })
}

fn propagation_option(opt: &str) -> Option<libc::c_ulong> {
    Some(match opt {
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => return None,
    })
}

fn recursive_attr_option(opt: &str) -> Option<(bool, u64)> {
    Some(match opt {
        "rro" => (true, attr::MOUNT_ATTR_RDONLY),
        "rrw" => (false, attr::MOUNT_ATTR_RDONLY),
        "rnosuid" => (true, attr::MOUNT_ATTR_NOSUID),
        "rsuid" => (false, attr::MOUNT_ATTR_NOSUID),
        "rnodev" => (true, attr::MOUNT_ATTR_NODEV),
        "rdev" => (false, attr::MOUNT_ATTR_NODEV),
        "rnoexec" => (true, attr::MOUNT_ATTR_NOEXEC),
        "rexec" => (false, attr::MOUNT_ATTR_NOEXEC),
        "rnodiratime" => (true, attr::MOUNT_ATTR_NODIRATIME),
        "rdiratime" => (false, attr::MOUNT_ATTR_NODIRATIME),
        "rnosymfollow" => (true, attr::MOUNT_ATTR_NOSYMFOLLOW),
        "rsymfollow" => (false, attr::MOUNT_ATTR_NOSYMFOLLOW),
        _ => return None,
    })
}

/// The recursive access-time options (runc's names) and the atime value each
/// selects. The negations pick the kernel's default (relatime) or, for
/// `rnorelatime`, strict atime: the kernel has no "clear only this one".
fn recursive_atime_option(opt: &str) -> Option<u64> {
    Some(match opt {
        "rrelatime" | "ratime" | "rnostrictatime" => attr::MOUNT_ATTR_RELATIME,
        "rnoatime" => attr::MOUNT_ATTR_NOATIME,
        "rstrictatime" | "rnorelatime" => attr::MOUNT_ATTR_STRICTATIME,
        _ => return None,
    })
}

/// Parses a root propagation value (`linux.rootfsPropagation`).
pub fn root_propagation(value: &str) -> Option<libc::c_ulong> {
    propagation_option(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(opts: &[&str]) -> MountOptions {
        MountOptions::parse(&opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn docker_tmpfs_dev() {
        let o = parse(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert!(!o.bind);
    }

    #[test]
    fn bind_ro_private() {
        let o = parse(&["rbind", "ro", "rprivate"]);
        assert!(o.bind && o.recursive && o.readonly());
        assert_eq!(o.propagation, vec![libc::MS_PRIVATE | libc::MS_REC]);
    }

    #[test]
    fn later_options_win() {
        let o = parse(&["ro", "rw", "rro", "rrw", "rnosuid"]);
        assert!(!o.readonly());
        assert_eq!(o.rec_attr_set, attr::MOUNT_ATTR_NOSUID);
        assert_eq!(o.rec_attr_clr, attr::MOUNT_ATTR_RDONLY);
    }

    #[test]
    fn recursive_atime_is_one_value() {
        let o = parse(&["rbind", "rnoatime", "rnosuid"]);
        assert_eq!(
            o.rec_attr_set,
            attr::MOUNT_ATTR_NOATIME | attr::MOUNT_ATTR_NOSUID
        );
        assert_eq!(o.rec_attr_clr, attr::MOUNT_ATTR__ATIME);
        assert_eq!(o.data, "");
        // The last atime option wins.
        let o = parse(&["rnoatime", "rstrictatime"]);
        assert_eq!(o.rec_attr_set, attr::MOUNT_ATTR_STRICTATIME);
        assert_eq!(o.rec_attr_clr, attr::MOUNT_ATTR__ATIME);
        let o = parse(&["rnoatime", "rrelatime"]);
        assert_eq!(o.rec_attr_set, attr::MOUNT_ATTR_RELATIME);
        assert_eq!(o.rec_attr_clr, attr::MOUNT_ATTR__ATIME);
    }

    #[test]
    fn devpts_data() {
        let o = parse(&[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ]);
        assert_eq!(o.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_NOEXEC);
    }
}
