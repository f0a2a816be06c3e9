//! Building the container's filesystem view inside its mount namespace:
//! the spec's mounts and /dev as `mount_plan.rs` planned them, pivot_root,
//! then masked and read-only paths.
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

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};

use crate::mount_plan::{
    BindOp, CgroupSource, CgroupsOp, DevPlan, DeviceNode, Finish, FreshOp, MountOp, MountPlan,
    MountPlanError,
};

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
    bind_rootfs(rootfs)
}

/// Binds the rootfs onto itself: a mount of its own, to pivot into or to
/// remount read-only without touching the mount that holds it.
pub(crate) fn bind_rootfs(rootfs: &Path) -> InitResult {
    let r = rootfs.to_string_lossy();
    mount_raw(Some(&r), &r, None, libc::MS_BIND | libc::MS_REC, "")
        .ctx(|| format!("bind rootfs {r}"))
}

/// Step 2: every mount of the plan, in order.
pub(crate) fn mount_all(plan: &MountPlan, root: BorrowedFd<'_>) -> InitResult {
    for m in &plan.mounts {
        let done = match &m.op {
            MountOp::Bind(op) => bind_mount(root, op),
            MountOp::Fresh(op) => fresh_mount(root, op),
            MountOp::Cgroups(op) => mount_cgroups(root, op),
        };
        done.map_err(|e| {
            InitError(format!(
                "error mounting {:?} to rootfs at {:?}: {}",
                m.spec_source, m.spec_destination, e.0
            ))
        })?;
    }
    Ok(())
}

fn fresh_mount(root: BorrowedFd<'_>, op: &FreshOp) -> InitResult {
    // proc and sysfs must land on real directories, never through symlinks.
    let target = if op.ordinary_directory {
        ordinary_directory(root, &op.target, &op.fstype)?
    } else {
        ensure_target(root, &op.target, true, ResolveFlags::empty())
            .ctx(|| "create mount destination".into())?
    };
    let res = mount_raw(
        op.source.as_deref(),
        &procfd(target.as_fd()),
        Some(&op.fstype),
        op.flags,
        &op.data,
    );
    drop(target);
    match (res, &op.bind_on_eperm) {
        (Ok(()), _) => {}
        (Err(e), Some(bind)) if e.raw_os_error() == Some(libc::EPERM) => {
            return bind_mount(root, bind)
        }
        (Err(e), _) => return Err(InitError::new(format!("mount {}", op.fstype), e)),
    }
    finish_mount(root, &op.target, &op.finish, 0)
}

/// Applies a remount, propagation and recursive attributes to a fresh mount at `dest`.
fn finish_mount(
    root: BorrowedFd<'_>,
    dest: &Path,
    finish: &Finish,
    remount: libc::c_ulong,
) -> InitResult {
    if remount == 0 && finish.is_empty() {
        return Ok(());
    }
    // Re-resolve: the old descriptor points below the new mount, not at it.
    let fd = open_in_root(root, dest, OFlags::PATH, ResolveFlags::empty())
        .ctx(|| "reopen mount".into())?;
    let target = procfd(fd.as_fd());
    if remount != 0 {
        mount_raw(None, &target, None, remount, "").ctx(|| "remount".into())?;
    }
    for p in &finish.propagation {
        change_propagation(&target, *p).ctx(|| "change mount propagation".into())?;
    }
    if finish.rec_attr_set != 0 || finish.rec_attr_clr != 0 {
        let attr = berth_sys::mount::MountAttr {
            attr_set: finish.rec_attr_set,
            attr_clr: finish.rec_attr_clr,
            ..Default::default()
        };
        berth_sys::mount::mount_setattr(fd.as_fd(), c"", true, true, &attr)
            .ctx(|| "mount_setattr".into())?;
    }
    Ok(())
}

/// Opens the target of [`FreshOp::ordinary_directory`], creating it if it is
/// missing: a directory reached without any symlink. One openat2 where it
/// exists, as for any other target.
fn ordinary_directory(root: BorrowedFd<'_>, dest: &Path, fstype: &str) -> InitResult<OwnedFd> {
    let refused = || {
        InitError(
            MountPlanError::NotOrdinaryDirectory {
                fstype: fstype.to_string(),
            }
            .to_string(),
        )
    };
    let not_ordinary =
        |e: &io::Error| matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR));
    match open_in_root(
        root,
        dest,
        OFlags::PATH | OFlags::DIRECTORY,
        ResolveFlags::NO_SYMLINKS,
    ) {
        Ok(fd) => Ok(fd),
        Err(e) if not_ordinary(&e) => Err(refused()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            match ensure_target(root, dest, true, ResolveFlags::NO_SYMLINKS) {
                Ok(fd) => Ok(fd),
                Err(e) if not_ordinary(&e) => Err(refused()),
                Err(e) => Err(InitError::new("create mount destination", e)),
            }
        }
        Err(e) => Err(InitError::new("open mount destination", e)),
    }
}

fn bind_mount(root: BorrowedFd<'_>, op: &BindOp) -> InitResult {
    let src = &op.source;
    let meta = std::fs::metadata(src).ctx(|| format!("stat bind source {}", src.display()))?;
    let target = match &op.ordinary_directory {
        Some(fstype) => ordinary_directory(root, &op.target, fstype)?,
        None => ensure_target(root, &op.target, meta.is_dir(), ResolveFlags::empty())
            .ctx(|| "create mount destination".into())?,
    };
    let flags = libc::MS_BIND | if op.recursive { libc::MS_REC } else { 0 };
    mount_raw(
        Some(&src.to_string_lossy()),
        &procfd(target.as_fd()),
        None,
        flags,
        "",
    )
    .ctx(|| "bind mount".into())?;
    drop(target);
    let remount = if op.keep_locked {
        let fd = open_in_root(root, &op.target, OFlags::PATH, ResolveFlags::empty())
            .ctx(|| "reopen mount".into())?;
        op.remount | locked_flags(fd.as_fd())
    } else {
        op.remount
    };
    finish_mount(root, &op.target, &op.finish, remount)
}

fn mount_cgroups(root: BorrowedFd<'_>, op: &CgroupsOp) -> InitResult {
    if let Some(flags) = op.tmpfs {
        let t = ensure_target(root, &op.target, true, ResolveFlags::NO_SYMLINKS)
            .ctx(|| "create cgroup mount point".into())?;
        mount_raw(
            Some("tmpfs"),
            &procfd(t.as_fd()),
            Some("tmpfs"),
            flags,
            "mode=755",
        )
        .ctx(|| "mount cgroup tmpfs".into())?;
    }
    for (dir, source) in &op.hierarchies {
        let t = ensure_target(root, dir, true, ResolveFlags::NO_SYMLINKS)
            .ctx(|| format!("create {}", dir.display()))?;
        let target = procfd(t.as_fd());
        match source {
            CgroupSource::Mount {
                fstype,
                options,
                flags,
            } => mount_raw(Some(fstype), &target, Some(fstype), *flags, options)
                .ctx(|| format!("mount {fstype} ({options})"))?,
            CgroupSource::Bind(host) => {
                let src = host.to_string_lossy();
                mount_raw(Some(&src), &target, None, libc::MS_BIND, "")
                    .ctx(|| format!("bind {src}"))?
            }
        }
    }
    if op.attr_set != 0 {
        let fd = open_in_root(root, &op.target, OFlags::PATH, ResolveFlags::NO_SYMLINKS)
            .ctx(|| "reopen cgroup mount".into())?;
        let attr = berth_sys::mount::MountAttr {
            attr_set: op.attr_set,
            ..Default::default()
        };
        berth_sys::mount::mount_setattr(fd.as_fd(), c"", true, true, &attr)
            .ctx(|| "make the cgroup mounts read-only".into())?;
    }
    Ok(())
}

/// Step 3: device nodes (or, in a user namespace, bind mounts of the host's),
/// the standard /dev symlinks and /dev/ptmx.
pub(crate) fn setup_dev(dev: &DevPlan, root: BorrowedFd<'_>) -> InitResult {
    let old = rustix::process::umask(Mode::empty());
    let res = (|| {
        for node in &dev.nodes {
            make_device(dev.bind_from_host, root, node)?;
        }
        let dir = mkdir_all_in_root(root, Path::new("/dev")).ctx(|| "open /dev".into())?;
        for (name, target) in &dev.links {
            if *name == "core" && !Path::new(target).exists() {
                continue;
            }
            match rustix::fs::symlinkat(*target, &dir, *name) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(InitError::new(format!("symlink /dev/{name}"), e)),
            }
        }
        if dev.ptmx_link {
            match rustix::fs::unlinkat(&dir, "ptmx", rustix::fs::AtFlags::empty()) {
                Ok(()) | Err(rustix::io::Errno::NOENT) => {}
                Err(e) => return Err(InitError::new("remove /dev/ptmx", e)),
            }
            rustix::fs::symlinkat("pts/ptmx", &dir, "ptmx").ctx(|| "symlink /dev/ptmx".into())?;
        }
        Ok(())
    })();
    rustix::process::umask(old);
    res
}

fn make_device(bind_from_host: bool, root: BorrowedFd<'_>, node: &DeviceNode) -> InitResult {
    let path = node.path.as_path();
    let parent = path.parent().unwrap_or(Path::new("/dev"));
    let name = path
        .file_name()
        .ok_or_else(|| InitError(format!("bad device path {}", path.display())))?;
    let pfd = mkdir_all_in_root(root, parent).ctx(|| format!("create {}", parent.display()))?;
    if bind_from_host {
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
    let file_type = rustix::fs::FileType::from_raw_mode(node.kind);
    let dev = rustix::fs::makedev(
        u32::try_from(node.major).unwrap_or(0),
        u32::try_from(node.minor).unwrap_or(0),
    );
    match rustix::fs::mknodat(&pfd, name, file_type, Mode::from_raw_mode(node.mode), dev) {
        Ok(()) => {}
        Err(rustix::io::Errno::EXIST) => return Ok(()),
        Err(e) => return Err(InitError::new(format!("mknod {}", path.display()), e)),
    }
    rustix::fs::chownat(
        &pfd,
        name,
        Some(rustix::fs::Uid::from_raw(node.uid)),
        Some(rustix::fs::Gid::from_raw(node.gid)),
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
