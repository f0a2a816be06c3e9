//! Building the container's filesystem view inside its mount namespace:
//! the spec's mounts, /dev, pivot_root, then masked and read-only paths.
//!
//! Every mount destination is resolved *inside* the rootfs (openat2 with
//! RESOLVE_IN_ROOT) and mounted through the resulting descriptor
//! (`/proc/self/fd/N`), so a symlink in the image can never send a mount
//! outside the rootfs, nor can it be swapped between check and use
//! (CVE-2021-30465).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};

use crate::mount_options::MountOptions;

/// An error inside the init, with what was being done.
#[derive(Debug)]
pub(crate) struct InitError(pub String);

impl InitError {
    pub(crate) fn new(what: impl std::fmt::Display, e: impl std::fmt::Display) -> InitError {
        InitError(format!("{what}: {e}"))
    }
}

pub(crate) type InitResult<T = ()> = Result<T, InitError>;

trait Context<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> InitResult<T>;
}

impl<T, E: std::fmt::Display> Context<T> for Result<T, E> {
    fn ctx(self, what: impl FnOnce() -> String) -> InitResult<T> {
        self.map_err(|e| InitError(format!("{}: {e}", what())))
    }
}

/// A cgroup hierarchy as it appears under the container's /sys/fs/cgroup.
#[derive(Debug, Clone)]
pub struct CgroupMount {
    /// Directory name under the cgroup mount (`cpu`, `systemd`, `unified`); empty
    /// on a pure v2 host, where the hierarchy is the mount itself.
    pub name: String,
    /// `cgroup` or `cgroup2`.
    pub fstype: String,
    /// Mount data for a fresh mount (`cpu`, `name=systemd`).
    pub options: String,
    /// The container's cgroup directory on the host, for bind mounts.
    pub host_path: PathBuf,
}

/// What the init needs to build the rootfs.
#[derive(Debug)]
pub(crate) struct RootfsPlan<'a> {
    pub bundle: &'a Path,
    pub mounts: &'a [Mount],
    pub devices: &'a [LinuxDevice],
    pub propagation: libc::c_ulong,
    pub in_userns: bool,
    pub new_netns: bool,
    pub new_cgroupns: bool,
    pub cgroup_mounts: &'a [CgroupMount],
}

pub(crate) fn procfd(fd: BorrowedFd<'_>) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap_or_default()
}

fn relative(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}

const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// Opens `path` (taken as absolute inside the root) with resolution confined to `root`.
pub(crate) fn open_in_root(
    root: BorrowedFd<'_>,
    path: &Path,
    flags: OFlags,
    resolve: ResolveFlags,
) -> io::Result<OwnedFd> {
    let rel = relative(path);
    let rel = if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    };
    loop {
        match rustix::fs::openat2(
            root,
            &rel,
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            IN_ROOT | resolve,
        ) {
            Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => continue,
            r => return r.map_err(io::Error::from),
        }
    }
}

/// Lexically normalises `path` as seen from the root: `..` never climbs above it.
fn normalize_in_root(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Where a walk through the root ended: at a directory, or at a dangling
/// symlink whose target (a path in the root) must be created instead.
enum Walk {
    Done(OwnedFd),
    Redirect(PathBuf),
}

fn walk_and_create(root: BorrowedFd<'_>, rel: &Path) -> io::Result<Walk> {
    let comps: Vec<Component<'_>> = rel.components().collect();
    // Usually only the last component is missing: start at the parent when it opens
    // (resolved in the root exactly as the walk would), else at the root.
    let parent_dir = match comps.len() {
        0 | 1 => None,
        n => {
            let parent: PathBuf = comps[..n - 1].iter().collect();
            open_in_root(
                root,
                &parent,
                OFlags::PATH | OFlags::DIRECTORY,
                ResolveFlags::empty(),
            )
            .ok()
            .map(|fd| (parent, fd, n - 1))
        }
    };
    let (mut prefix, mut dir, first) = match parent_dir {
        Some(found) => found,
        None => (
            PathBuf::new(),
            open_in_root(
                root,
                Path::new("/"),
                OFlags::PATH | OFlags::DIRECTORY,
                ResolveFlags::empty(),
            )?,
            0,
        ),
    };
    for (i, comp) in comps.iter().enumerate().skip(first) {
        prefix.push(comp);
        match open_in_root(
            root,
            &prefix,
            OFlags::PATH | OFlags::DIRECTORY,
            ResolveFlags::empty(),
        ) {
            Ok(fd) => {
                dir = fd;
                continue;
            }
            Err(e) if e.raw_os_error() != Some(libc::ENOENT) => return Err(e),
            Err(_) => {}
        }
        match rustix::fs::mkdirat(&dir, comp.as_os_str(), Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        match open_in_root(
            root,
            &prefix,
            OFlags::PATH | OFlags::DIRECTORY,
            ResolveFlags::empty(),
        ) {
            Ok(fd) => dir = fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                // A dangling symlink: create its target, read as a path inside the root.
                let target = rustix::fs::readlinkat(&dir, comp.as_os_str(), Vec::new())?;
                let target = PathBuf::from(std::ffi::OsStr::from_bytes(target.as_bytes()));
                let mut next = if target.is_absolute() {
                    PathBuf::new()
                } else {
                    prefix.parent().map(Path::to_path_buf).unwrap_or_default()
                };
                next.push(target);
                for rest in &comps[i + 1..] {
                    next.push(rest);
                }
                return Ok(Walk::Redirect(normalize_in_root(&next)));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Walk::Done(dir))
}

/// Creates every missing directory of `path` inside the root (following
/// symlinks as the root sees them, dangling ones included) and returns an
/// `O_PATH` descriptor of the last one.
pub(crate) fn mkdir_all_in_root(root: BorrowedFd<'_>, path: &Path) -> io::Result<OwnedFd> {
    let mut rel = normalize_in_root(path);
    // As the kernel, give up after 40 symlinks.
    for _ in 0..40 {
        match walk_and_create(root, &rel)? {
            Walk::Done(fd) => return Ok(fd),
            Walk::Redirect(next) => rel = next,
        }
    }
    Err(io::Error::from_raw_os_error(libc::ELOOP))
}

/// Creates an empty file `name` in `dir` unless something is there already
/// (a bind-mount target for a file).
fn create_empty_file(dir: BorrowedFd<'_>, name: &std::ffi::OsStr) -> io::Result<()> {
    match rustix::fs::openat(
        dir,
        name,
        OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    ) {
        Ok(_) | Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Returns an `O_PATH` descriptor of the mount target `dest`, creating it (a
/// directory, or an empty file for file bind mounts) if it does not exist.
pub(crate) fn ensure_target(
    root: BorrowedFd<'_>,
    dest: &Path,
    dir: bool,
    resolve: ResolveFlags,
) -> io::Result<OwnedFd> {
    if dir {
        if let Ok(fd) = open_in_root(root, dest, OFlags::PATH, resolve) {
            return Ok(fd);
        }
        mkdir_all_in_root(root, dest)?;
        return open_in_root(root, dest, OFlags::PATH, resolve);
    }
    match open_in_root(root, dest, OFlags::PATH, resolve) {
        Ok(fd) => Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            let parent = dest.parent().unwrap_or(Path::new("/"));
            let name = dest
                .file_name()
                .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
            let pfd = mkdir_all_in_root(root, parent)?;
            create_empty_file(pfd.as_fd(), name)?;
            open_in_root(root, dest, OFlags::PATH, resolve)
        }
        Err(e) => Err(e),
    }
}

fn mount_raw(
    source: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: &str,
) -> io::Result<()> {
    let flags = MountFlags::from_bits_retain(u32::try_from(flags).unwrap_or(0) as _);
    let data_c = CString::new(data).unwrap_or_default();
    let r = rustix::mount::mount(
        source.unwrap_or(""),
        target,
        fstype.unwrap_or(""),
        flags,
        if data.is_empty() {
            None
        } else {
            Some(data_c.as_c_str())
        },
    );
    r.map_err(io::Error::from)
}

fn change_propagation(target: &str, flags: libc::c_ulong) -> io::Result<()> {
    let p = MountPropagationFlags::from_bits_retain(u32::try_from(flags).unwrap_or(0) as _);
    rustix::mount::mount_change(target, p).map_err(io::Error::from)
}

/// Flags of the mount at `fd` that a remount must keep (locked in a user namespace).
fn locked_flags(fd: BorrowedFd<'_>) -> libc::c_ulong {
    let Ok(st) = rustix::fs::fstatvfs(fd) else {
        return 0;
    };
    use rustix::fs::StatVfsMountFlags as St;
    let mut out = 0;
    for (st_flag, ms) in [
        (St::RDONLY, libc::MS_RDONLY),
        (St::NOSUID, libc::MS_NOSUID),
        (St::NODEV, libc::MS_NODEV),
        (St::NOEXEC, libc::MS_NOEXEC),
        (St::NOATIME, libc::MS_NOATIME),
        (St::NODIRATIME, libc::MS_NODIRATIME),
        (St::RELATIME, libc::MS_RELATIME),
    ] {
        if st.f_flag.contains(st_flag) {
            out |= ms;
        }
    }
    out
}

const REMOUNT_FLAGS: libc::c_ulong = libc::MS_RDONLY
    | libc::MS_NOSUID
    | libc::MS_NODEV
    | libc::MS_NOEXEC
    | libc::MS_NOATIME
    | libc::MS_NODIRATIME
    | libc::MS_RELATIME
    | libc::MS_STRICTATIME;

/// The mount point under which `path` lives, from /proc/self/mountinfo.
fn mount_point_of(path: &Path) -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|mp| PathBuf::from(mp.replace("\\040", " ")))
        .filter(|mp| path.starts_with(mp))
        .max_by_key(|mp| mp.components().count())
}

/// Step 1: set the propagation of the namespace's mounts (slave by default,
/// so nothing the container mounts reaches the host) and bind the rootfs onto
/// itself so that it is a mount point (pivot_root needs one).
pub(crate) fn prepare_root(rootfs: &Path, propagation: libc::c_ulong) -> InitResult {
    change_propagation("/", propagation).ctx(|| "set the propagation of /".into())?;
    if propagation & libc::MS_SHARED != 0 {
        // With shared propagation, the mount holding the rootfs must be
        // private: the rootfs bind then is too, and pivot_root accepts it
        // (and mounts inside the container stay inside).
        if let Some(mp) = mount_point_of(rootfs) {
            change_propagation(&mp.to_string_lossy(), libc::MS_PRIVATE)
                .ctx(|| format!("make {} private", mp.display()))?;
        }
    }
    let r = rootfs.to_string_lossy();
    mount_raw(Some(&r), &r, None, libc::MS_BIND | libc::MS_REC, "")
        .ctx(|| format!("bind rootfs {r}"))
}

/// Step 2: every mount of the spec, in order.
pub(crate) fn mount_all(plan: &RootfsPlan<'_>, root: BorrowedFd<'_>) -> InitResult {
    for m in plan.mounts {
        mount_one(plan, root, m).map_err(|e| {
            InitError(format!(
                "error mounting {:?} to rootfs at {:?}: {}",
                m.source().as_deref().unwrap_or(Path::new("")),
                m.destination(),
                e.0
            ))
        })?;
    }
    Ok(())
}

fn mount_one(plan: &RootfsPlan<'_>, root: BorrowedFd<'_>, m: &Mount) -> InitResult {
    let opts = MountOptions::parse(m.options().as_deref().unwrap_or_default());
    let dest = m.destination();
    let fstype = m.typ().as_deref().unwrap_or("");
    if opts.bind || fstype == "bind" {
        let src = m.source().clone().unwrap_or_default();
        let src = if src.is_absolute() {
            src
        } else {
            plan.bundle.join(src)
        };
        return bind_mount(plan, root, &src, dest, &opts);
    }
    if matches!(fstype, "proc" | "sysfs") {
        ordinary_directory(root, dest, fstype)?;
    }
    match fstype {
        "cgroup" | "cgroup2" => return mount_cgroups(plan, root, dest, &opts),
        "sysfs" if !plan.new_netns || plan.in_userns => {
            // A sysfs of the host's network namespace cannot (and must not) be
            // mounted fresh here: bind the host's /sys as runc does.
            let mut o = opts.clone();
            o.recursive = true;
            o.bind = true;
            return bind_mount(plan, root, Path::new("/sys"), dest, &o);
        }
        _ => {}
    }
    // proc and sysfs must land on real directories, never through symlinks.
    let resolve = if matches!(fstype, "proc" | "sysfs") {
        ResolveFlags::NO_SYMLINKS
    } else {
        ResolveFlags::empty()
    };
    let target =
        ensure_target(root, dest, true, resolve).ctx(|| "create mount destination".into())?;
    let source = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned());
    let res = mount_raw(
        source.as_deref(),
        &procfd(target.as_fd()),
        Some(fstype),
        opts.flags & !libc::MS_REMOUNT,
        &opts.data,
    );
    match res {
        Ok(()) => {}
        Err(e) if fstype == "mqueue" && e.raw_os_error() == Some(libc::EPERM) => {
            drop(target);
            let mut o = opts.clone();
            o.bind = true;
            return bind_mount(plan, root, Path::new("/dev/mqueue"), dest, &o);
        }
        Err(e) => return Err(InitError::new(format!("mount {fstype}"), e)),
    }
    drop(target);
    finish_mount(root, dest, &opts, 0)
}

/// Applies propagation and recursive attributes to a fresh mount at `dest`.
fn finish_mount(
    root: BorrowedFd<'_>,
    dest: &Path,
    opts: &MountOptions,
    remount: libc::c_ulong,
) -> InitResult {
    if remount == 0
        && opts.propagation.is_empty()
        && opts.rec_attr_set == 0
        && opts.rec_attr_clr == 0
    {
        return Ok(());
    }
    // Re-resolve: the old descriptor points below the new mount, not at it.
    let fd = open_in_root(root, dest, OFlags::PATH, ResolveFlags::empty())
        .ctx(|| "reopen mount".into())?;
    let target = procfd(fd.as_fd());
    if remount != 0 {
        mount_raw(None, &target, None, remount, "").ctx(|| "remount".into())?;
    }
    for p in &opts.propagation {
        change_propagation(&target, *p).ctx(|| "change mount propagation".into())?;
    }
    if opts.rec_attr_set != 0 || opts.rec_attr_clr != 0 {
        let attr = berth_sys::mount::MountAttr {
            attr_set: opts.rec_attr_set,
            attr_clr: opts.rec_attr_clr,
            ..Default::default()
        };
        berth_sys::mount::mount_setattr(fd.as_fd(), c"", true, true, &attr)
            .ctx(|| "mount_setattr".into())?;
    }
    Ok(())
}

/// proc and sysfs land on a directory reached without any symlink, or on
/// nothing yet (it is created): never through a symlink to somewhere else
/// (runc's check, with its words, which tools match on).
fn ordinary_directory(root: BorrowedFd<'_>, dest: &Path, fstype: &str) -> InitResult {
    let refused = || {
        InitError(format!(
            "filesystem {fstype:?} must be mounted on ordinary directory"
        ))
    };
    match open_in_root(root, dest, OFlags::PATH, ResolveFlags::NO_SYMLINKS) {
        Ok(fd) => match rustix::fs::fstat(&fd) {
            Ok(st) if rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir() => Ok(()),
            Ok(_) => Err(refused()),
            Err(e) => Err(InitError::new("stat mount destination", e)),
        },
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Err(refused()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(e) => Err(InitError::new("open mount destination", e)),
    }
}

fn bind_mount(
    plan: &RootfsPlan<'_>,
    root: BorrowedFd<'_>,
    src: &Path,
    dest: &Path,
    opts: &MountOptions,
) -> InitResult {
    let meta = std::fs::metadata(src).ctx(|| format!("stat bind source {}", src.display()))?;
    let target = ensure_target(root, dest, meta.is_dir(), ResolveFlags::empty())
        .ctx(|| "create mount destination".into())?;
    let mut flags = libc::MS_BIND;
    if opts.recursive {
        flags |= libc::MS_REC;
    }
    mount_raw(
        Some(&src.to_string_lossy()),
        &procfd(target.as_fd()),
        None,
        flags,
        "",
    )
    .ctx(|| "bind mount".into())?;
    drop(target);
    let wanted = opts.flags & REMOUNT_FLAGS;
    let remount = if wanted != 0 {
        let fd = open_in_root(root, dest, OFlags::PATH, ResolveFlags::empty())
            .ctx(|| "reopen mount".into())?;
        let keep = if plan.in_userns {
            locked_flags(fd.as_fd())
        } else {
            0
        };
        libc::MS_BIND | libc::MS_REMOUNT | wanted | keep | (flags & libc::MS_REC)
    } else {
        0
    };
    finish_mount(root, dest, opts, remount)
}

fn mount_cgroups(
    plan: &RootfsPlan<'_>,
    root: BorrowedFd<'_>,
    dest: &Path,
    opts: &MountOptions,
) -> InitResult {
    let ro = opts.readonly();
    let base =
        opts.flags & (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RELATIME);
    let single_v2 = plan.cgroup_mounts.len() == 1 && plan.cgroup_mounts[0].name.is_empty();
    if !single_v2 {
        let t = ensure_target(root, dest, true, ResolveFlags::NO_SYMLINKS)
            .ctx(|| "create cgroup mount point".into())?;
        mount_raw(
            Some("tmpfs"),
            &procfd(t.as_fd()),
            Some("tmpfs"),
            base,
            "mode=755",
        )
        .ctx(|| "mount cgroup tmpfs".into())?;
    }
    for cg in plan.cgroup_mounts {
        let d = if cg.name.is_empty() {
            dest.to_path_buf()
        } else {
            dest.join(&cg.name)
        };
        let t = ensure_target(root, &d, true, ResolveFlags::NO_SYMLINKS)
            .ctx(|| format!("create {}", d.display()))?;
        let target = procfd(t.as_fd());
        if plan.new_cgroupns {
            let flags = base | if ro { libc::MS_RDONLY } else { 0 };
            mount_raw(
                Some(&cg.fstype),
                &target,
                Some(&cg.fstype),
                flags,
                &cg.options,
            )
            .ctx(|| format!("mount {} ({})", cg.fstype, cg.options))?;
        } else {
            let src = cg.host_path.to_string_lossy();
            mount_raw(Some(&src), &target, None, libc::MS_BIND, "")
                .ctx(|| format!("bind {src}"))?;
        }
    }
    // One recursive mount_setattr makes the whole cgroup tree read-only (and
    // nosuid/nodev/noexec): cheaper than a remount per hierarchy.
    let mut attr_set = 0;
    for (flag, a) in [
        (libc::MS_RDONLY, berth_sys::mount::MOUNT_ATTR_RDONLY),
        (libc::MS_NOSUID, berth_sys::mount::MOUNT_ATTR_NOSUID),
        (libc::MS_NODEV, berth_sys::mount::MOUNT_ATTR_NODEV),
        (libc::MS_NOEXEC, berth_sys::mount::MOUNT_ATTR_NOEXEC),
    ] {
        if (base | if ro { libc::MS_RDONLY } else { 0 }) & flag != 0 {
            attr_set |= a;
        }
    }
    if attr_set != 0 {
        let fd = open_in_root(root, dest, OFlags::PATH, ResolveFlags::NO_SYMLINKS)
            .ctx(|| "reopen cgroup mount".into())?;
        let attr = berth_sys::mount::MountAttr {
            attr_set,
            ..Default::default()
        };
        berth_sys::mount::mount_setattr(fd.as_fd(), c"", true, true, &attr)
            .ctx(|| "make the cgroup mounts read-only".into())?;
    }
    Ok(())
}

/// The devices every container gets (runtime spec "Default Devices").
fn default_devices() -> [(&'static str, u64, u64); 6] {
    [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
}

/// Step 3: device nodes (or, in a user namespace, bind mounts of the host's),
/// the standard /dev symlinks and /dev/ptmx.
pub(crate) fn setup_dev(
    plan: &RootfsPlan<'_>,
    root: BorrowedFd<'_>,
    has_devpts: bool,
) -> InitResult {
    let old = rustix::process::umask(Mode::empty());
    let res = (|| {
        for (path, major, minor) in default_devices() {
            if plan.devices.iter().any(|d| d.path() == Path::new(path)) {
                continue;
            }
            make_device(
                plan,
                root,
                Path::new(path),
                libc::S_IFCHR,
                major,
                minor,
                0o666,
                0,
                0,
            )?;
        }
        for d in plan.devices {
            let kind = match d.typ() {
                LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
                LinuxDeviceType::B => libc::S_IFBLK,
                LinuxDeviceType::P => libc::S_IFIFO,
                LinuxDeviceType::A => {
                    return Err(InitError(format!(
                        "device {} has type a, which cannot be created",
                        d.path().display()
                    )))
                }
            };
            let major = u64::try_from(d.major()).unwrap_or(0);
            let minor = u64::try_from(d.minor()).unwrap_or(0);
            make_device(
                plan,
                root,
                d.path(),
                kind,
                major,
                minor,
                d.file_mode().unwrap_or(0o666) & 0o7777,
                d.uid().unwrap_or(0),
                d.gid().unwrap_or(0),
            )?;
        }
        let dev = mkdir_all_in_root(root, Path::new("/dev")).ctx(|| "open /dev".into())?;
        let mut links = vec![
            ("/proc/self/fd", "fd"),
            ("/proc/self/fd/0", "stdin"),
            ("/proc/self/fd/1", "stdout"),
            ("/proc/self/fd/2", "stderr"),
        ];
        if Path::new("/proc/kcore").exists() {
            links.push(("/proc/kcore", "core"));
        }
        for (target, name) in links {
            match rustix::fs::symlinkat(target, &dev, name) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(InitError::new(format!("symlink /dev/{name}"), e)),
            }
        }
        if has_devpts {
            match rustix::fs::unlinkat(&dev, "ptmx", rustix::fs::AtFlags::empty()) {
                Ok(()) | Err(rustix::io::Errno::NOENT) => {}
                Err(e) => return Err(InitError::new("remove /dev/ptmx", e)),
            }
            rustix::fs::symlinkat("pts/ptmx", &dev, "ptmx").ctx(|| "symlink /dev/ptmx".into())?;
        }
        Ok(())
    })();
    rustix::process::umask(old);
    res
}

#[allow(clippy::too_many_arguments)]
fn make_device(
    plan: &RootfsPlan<'_>,
    root: BorrowedFd<'_>,
    path: &Path,
    kind: libc::mode_t,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
) -> InitResult {
    let parent = path.parent().unwrap_or(Path::new("/dev"));
    let name = path
        .file_name()
        .ok_or_else(|| InitError(format!("bad device path {}", path.display())))?;
    let pfd = mkdir_all_in_root(root, parent).ctx(|| format!("create {}", parent.display()))?;
    if plan.in_userns {
        // mknod is not allowed in a user namespace: bind the host's node.
        create_empty_file(pfd.as_fd(), name).ctx(|| format!("create {}", path.display()))?;
        let t = open_in_root(root, path, OFlags::PATH, ResolveFlags::NO_SYMLINKS)
            .ctx(|| format!("open {}", path.display()))?;
        return mount_raw(
            Some(&path.to_string_lossy()),
            &procfd(t.as_fd()),
            None,
            libc::MS_BIND,
            "",
        )
        .ctx(|| format!("bind device {}", path.display()));
    }
    let file_type = rustix::fs::FileType::from_raw_mode(kind);
    let dev = rustix::fs::makedev(
        u32::try_from(major).unwrap_or(0),
        u32::try_from(minor).unwrap_or(0),
    );
    match rustix::fs::mknodat(&pfd, name, file_type, Mode::from_raw_mode(mode), dev) {
        Ok(()) => {}
        Err(rustix::io::Errno::EXIST) => return Ok(()),
        Err(e) => return Err(InitError::new(format!("mknod {}", path.display()), e)),
    }
    rustix::fs::chownat(
        &pfd,
        name,
        Some(rustix::fs::Uid::from_raw(uid)),
        Some(rustix::fs::Gid::from_raw(gid)),
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .ctx(|| format!("chown {}", path.display()))
}

/// Step 4: make the rootfs the root: pivot_root, or with `no_pivot` move it
/// onto / and chroot; without a mount namespace of its own (`mount_ns`
/// false) a plain chroot, which changes nothing for the caller's namespace.
pub(crate) fn enter_root(rootfs: &Path, no_pivot: bool, mount_ns: bool) -> InitResult {
    if !mount_ns {
        rustix::process::chdir(rootfs).ctx(|| "chdir to rootfs".into())?;
        rustix::process::chroot(".").ctx(|| "chroot".into())?;
        return rustix::process::chdir("/").ctx(|| "chdir /".into());
    }
    if no_pivot {
        rustix::process::chdir(rootfs).ctx(|| "chdir to rootfs".into())?;
        mount_raw(
            Some(&rootfs.to_string_lossy()),
            "/",
            None,
            libc::MS_MOVE,
            "",
        )
        .ctx(|| "move rootfs to /".into())?;
        rustix::process::chroot(".").ctx(|| "chroot".into())?;
        return rustix::process::chdir("/").ctx(|| "chdir /".into());
    }
    let old = rustix::fs::open(
        "/",
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "open /".into())?;
    let new = rustix::fs::open(
        rootfs,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "open rootfs".into())?;
    rustix::process::fchdir(&new).ctx(|| "chdir to rootfs".into())?;
    rustix::process::pivot_root(".", ".").ctx(|| "pivot_root".into())?;
    // The old root now sits on top of the new one: detach it.
    rustix::process::fchdir(&old).ctx(|| "chdir to old root".into())?;
    change_propagation(".", libc::MS_SLAVE | libc::MS_REC).ctx(|| "make old root slave".into())?;
    rustix::mount::unmount(".", UnmountFlags::DETACH).ctx(|| "unmount old root".into())?;
    rustix::process::chdir("/").ctx(|| "chdir /".into())
}

/// Bind-mounts the terminal's slave onto /dev/console (after pivot_root).
pub(crate) fn setup_console(slave_path: &str) -> InitResult {
    match rustix::fs::open(
        "/dev/console",
        OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::from_raw_mode(0o600),
    ) {
        Ok(_) => {}
        Err(e) => return Err(InitError::new("create /dev/console", e)),
    }
    mount_raw(Some(slave_path), "/dev/console", None, libc::MS_BIND, "")
        .ctx(|| "bind /dev/console".into())
}

/// Writes sysctls through /proc/sys (after pivot_root, in the container's namespaces).
pub(crate) fn write_sysctls<'a>(
    sysctls: impl Iterator<Item = (&'a String, &'a String)>,
) -> InitResult {
    for (k, v) in sysctls {
        let path = format!("/proc/sys/{}", k.replace('.', "/"));
        std::fs::write(&path, v.as_bytes()).ctx(|| format!("write sysctl {k}={v}"))?;
    }
    Ok(())
}

/// Bind-mounts each path read-only onto itself; missing paths are skipped.
pub(crate) fn readonly_paths(paths: &[String]) -> InitResult {
    for p in paths {
        match mount_raw(Some(p), p, None, libc::MS_BIND | libc::MS_REC, "") {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(InitError::new(format!("bind readonly path {p}"), e)),
        }
        let fd = rustix::fs::open(p.as_str(), OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
            .ctx(|| format!("open {p}"))?;
        let flags = libc::MS_BIND
            | libc::MS_REMOUNT
            | libc::MS_RDONLY
            | libc::MS_REC
            | locked_flags(fd.as_fd());
        mount_raw(None, p, None, flags, "").ctx(|| format!("remount {p} read-only"))?;
    }
    Ok(())
}

/// Hides each path: /dev/null over files, an empty read-only tmpfs over directories.
pub(crate) fn mask_paths(paths: &[String]) -> InitResult {
    for p in paths {
        let meta = match std::fs::metadata(p) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(InitError::new(format!("stat masked path {p}"), e)),
        };
        let r = if meta.is_dir() {
            mount_raw(Some("tmpfs"), p, Some("tmpfs"), libc::MS_RDONLY, "")
        } else {
            mount_raw(Some("/dev/null"), p, None, libc::MS_BIND, "")
        };
        r.ctx(|| format!("mask {p}"))?;
    }
    Ok(())
}

/// Remounts / read-only (`root.readonly`).
pub(crate) fn readonly_root() -> InitResult {
    let fd = rustix::fs::open("/", OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
        .ctx(|| "open /".into())?;
    let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | locked_flags(fd.as_fd());
    mount_raw(None, "/", None, flags, "").ctx(|| "remount / read-only".into())
}

pub(crate) fn open_root(rootfs: &Path) -> InitResult<OwnedFd> {
    rustix::fs::open(
        cstr(rootfs).as_c_str(),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("open rootfs {}", rootfs.display()))
}
