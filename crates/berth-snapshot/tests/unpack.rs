//! Unpack of real and hostile layers into a temporary directory. Every
//! hostile case checks that nothing appeared outside the layer directory.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_snapshot::{
    unpack_layer, Limits, UnpackCause, UnpackError, UnpackOptions, UnpackResult, WhiteoutMode,
};
use common::{all_paths, sha256, Layer};

struct Env {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    dest: PathBuf,
    before: Vec<PathBuf>,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        fs::create_dir_all(root.join("outside")).unwrap();
        fs::write(root.join("outside/sentinel"), b"keep").unwrap();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("etc/passwd"), b"root:x:0:0::/root:/bin/sh\n").unwrap();
        let dest = root.join("a/b/layer");
        fs::create_dir_all(&dest).unwrap();
        let before = all_paths(&root);
        Env {
            _tmp: tmp,
            root,
            dest,
            before,
        }
    }

    fn unpack(&self, tar: &[u8]) -> Result<UnpackResult, UnpackError> {
        self.unpack_with(tar, &UnpackOptions::new("sha256:testlayer"))
    }

    fn unpack_with(&self, tar: &[u8], opts: &UnpackOptions) -> Result<UnpackResult, UnpackError> {
        unpack_layer(tar, &self.dest, opts)
    }

    /// Asserts that nothing outside the layer directory changed.
    fn nothing_outside(&self) {
        let now: Vec<PathBuf> = all_paths(&self.root)
            .into_iter()
            .filter(|p| !p.starts_with(&self.dest) || p == &self.dest)
            .collect();
        let before: Vec<PathBuf> = self
            .before
            .iter()
            .filter(|p| !p.starts_with(&self.dest) || *p == &self.dest)
            .cloned()
            .collect();
        assert_eq!(now, before, "something was written outside the layer");
        assert_eq!(
            fs::read(self.root.join("outside/sentinel")).unwrap(),
            b"keep"
        );
        assert_eq!(
            fs::read(self.root.join("etc/passwd")).unwrap(),
            b"root:x:0:0::/root:/bin/sh\n"
        );
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dest.join(rel)
    }
}

fn breakout(err: &UnpackError) -> bool {
    matches!(err.cause, UnpackCause::Breakout { .. })
}

/// A busybox-static root filesystem (`/bin/busybox` plus links), tarred by
/// GNU tar as docker's builders do.
fn busybox_rootfs_tar(dir: &Path) -> Vec<u8> {
    let rootfs = dir.join("rootfs");
    fs::create_dir_all(rootfs.join("bin")).unwrap();
    fs::create_dir_all(rootfs.join("etc")).unwrap();
    fs::create_dir_all(rootfs.join("tmp")).unwrap();
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::copy("/usr/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for applet in ["sh", "ls", "cat", "echo"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    fs::hard_link(rootfs.join("bin/busybox"), rootfs.join("bin/busybox.hard")).unwrap();
    fs::write(rootfs.join("etc/hello"), b"hello from the layer\n").unwrap();
    fs::write(rootfs.join("bin/suid"), b"#!/bin/sh\n").unwrap();
    fs::set_permissions(rootfs.join("bin/suid"), fs::Permissions::from_mode(0o4755)).unwrap();
    let out = dir.join("layer.tar");
    let status = Command::new("tar")
        .args(["--xattrs", "--numeric-owner", "-C"])
        .arg(&rootfs)
        .arg("-cf")
        .arg(&out)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    fs::read(out).unwrap()
}

#[test]
fn busybox_layer_plain_gzip_zstd_with_verified_diff_id() {
    let work = tempfile::tempdir().unwrap();
    let tar = busybox_rootfs_tar(work.path());
    // The diff ID as sha256sum(1) computes it over the uncompressed tar.
    let out = Command::new("sha256sum")
        .arg(work.path().join("layer.tar"))
        .output()
        .unwrap();
    let expected = format!(
        "sha256:{}",
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
    );
    for tool in [None, Some("gzip"), Some("zstd")] {
        let blob = match tool {
            None => tar.clone(),
            Some(t) => {
                let out = Command::new(t)
                    .args(["-c", "-q"])
                    .arg(work.path().join("layer.tar"))
                    .output()
                    .unwrap();
                assert!(out.status.success());
                out.stdout
            }
        };
        let env = Env::new();
        let mut opts = UnpackOptions::new("busybox");
        opts.expected_diff_id = Some(expected.clone());
        let r = env.unpack_with(&blob, &opts).unwrap();
        assert_eq!(r.diff_id, expected);
        assert_eq!(r.tar_size, tar.len() as u64);
        let bb = fs::symlink_metadata(env.path("bin/busybox")).unwrap();
        assert_eq!(
            fs::read(env.path("bin/busybox")).unwrap(),
            fs::read("/usr/bin/busybox").unwrap()
        );
        assert_eq!(
            bb.mode() & 0o7777,
            fs::metadata("/usr/bin/busybox").unwrap().mode() & 0o7777
        );
        assert_eq!(
            fs::read_link(env.path("bin/sh")).unwrap(),
            Path::new("busybox")
        );
        let hard = fs::metadata(env.path("bin/busybox.hard")).unwrap();
        assert_eq!(hard.ino(), bb.ino(), "hardlink must share the inode");
        assert_eq!(
            fs::metadata(env.path("bin/suid")).unwrap().mode() & 0o7777,
            0o4755
        );
        assert_eq!(
            fs::metadata(env.path("tmp")).unwrap().mode() & 0o7777,
            0o1777
        );
        // Directory times are set after their contents.
        let src_mtime = fs::metadata(work.path().join("rootfs/etc"))
            .unwrap()
            .mtime();
        assert_eq!(fs::metadata(env.path("etc")).unwrap().mtime(), src_mtime);
        // The unpacked busybox runs.
        let out = Command::new("chroot")
            .arg(&env.dest)
            .args(["/bin/sh", "-c", "cat /etc/hello"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "hello from the layer\n"
        );
        env.nothing_outside();
    }
}

#[test]
fn wrong_diff_id_is_refused() {
    let env = Env::new();
    let mut l = Layer::new();
    l.file("f", b"data");
    let tar = l.finish();
    let mut opts = UnpackOptions::new("sha256:layer1");
    opts.expected_diff_id = Some(sha256(b"something else"));
    let err = env.unpack_with(&tar, &opts).unwrap_err();
    assert!(
        matches!(err.cause, UnpackCause::DiffIdMismatch { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("sha256:layer1"), "{err}");
    opts.expected_diff_id = Some(sha256(&tar));
    let env = Env::new();
    assert_eq!(env.unpack_with(&tar, &opts).unwrap().diff_id, sha256(&tar));
}

#[test]
fn dotdot_name_is_a_breakout_error() {
    let env = Env::new();
    let mut l = Layer::new();
    l.file("../../etc/x", b"pwned");
    let err = env.unpack(&l.finish()).unwrap_err();
    assert!(breakout(&err), "{err}");
    assert!(err.to_string().contains("../../etc/x"), "{err}");
    let mut l = Layer::new();
    l.file("ok/../../../outside/x", b"pwned");
    assert!(breakout(&env.unpack(&l.finish()).unwrap_err()));
    env.nothing_outside();
}

#[test]
fn absolute_names_are_relative_to_the_layer_root() {
    let env = Env::new();
    let mut l = Layer::new();
    l.file("/abs/x", b"inside")
        .file("/../../etc/y", b"inside too");
    env.unpack(&l.finish()).unwrap();
    assert_eq!(fs::read(env.path("abs/x")).unwrap(), b"inside");
    assert_eq!(fs::read(env.path("etc/y")).unwrap(), b"inside too");
    env.nothing_outside();
}

#[test]
fn write_through_symlink_to_root_stays_inside() {
    let env = Env::new();
    let mut l = Layer::new();
    l.symlink("a", "/").file("a/etc/passwd", b"evil");
    env.unpack(&l.finish()).unwrap();
    assert_eq!(fs::read(env.path("etc/passwd")).unwrap(), b"evil");
    assert!(fs::symlink_metadata(env.path("a"))
        .unwrap()
        .file_type()
        .is_symlink());
    env.nothing_outside();
}

#[test]
fn write_through_absolute_symlink_to_host_dir_stays_inside() {
    let env = Env::new();
    let outside = env.root.join("outside");
    let mut l = Layer::new();
    l.dir(&format!("{}", outside.display()))
        .symlink("s", &outside.display().to_string())
        .file("s/pwned", b"evil")
        .symlink("up", "/../../../..")
        .file("up/x", b"clamped");
    env.unpack(&l.finish()).unwrap();
    let inside = env.dest.join(outside.strip_prefix("/").unwrap());
    assert_eq!(fs::read(inside.join("pwned")).unwrap(), b"evil");
    assert_eq!(fs::read(env.path("x")).unwrap(), b"clamped");
    env.nothing_outside();
}

#[test]
fn relative_symlink_climbing_out_is_a_breakout_error() {
    let env = Env::new();
    let mut l = Layer::new();
    l.symlink("a", "../../..").file("a/x", b"evil");
    let err = env.unpack(&l.finish()).unwrap_err();
    assert!(breakout(&err), "{err}");
    let mut l = Layer::new();
    l.dir("d").symlink("d/in", "../ok");
    Env::new().unpack(&l.finish()).unwrap();
    env.nothing_outside();
}

#[test]
fn hardlink_to_outside_is_refused() {
    let env = Env::new();
    let mut l = Layer::new();
    l.hardlink("l", "../../../outside/sentinel");
    let err = env.unpack(&l.finish()).unwrap_err();
    assert!(breakout(&err), "{err}");
    // An absolute target is inside the layer: there is no /etc/passwd there.
    let mut l = Layer::new();
    l.hardlink("l", "/etc/passwd");
    let err = env.unpack(&l.finish()).unwrap_err();
    assert!(matches!(err.cause, UnpackCause::Io { .. }), "{err}");
    assert!(err.to_string().contains("\"l\""), "{err}");
    // Through a planted symlink: still resolved inside.
    let mut l = Layer::new();
    l.symlink("up", "/").hardlink("l2", "up/etc/passwd");
    assert!(env.unpack(&l.finish()).is_err());
    assert_eq!(
        fs::metadata(env.root.join("etc/passwd")).unwrap().nlink(),
        1
    );
    env.nothing_outside();
}

#[test]
fn hardlink_inside_the_layer_and_to_a_symlink() {
    let env = Env::new();
    let mut l = Layer::new();
    l.file("f", b"x")
        .hardlink("g", "f")
        .symlink("s", "/etc/passwd")
        .hardlink("h", "s");
    env.unpack(&l.finish()).unwrap();
    assert_eq!(
        fs::metadata(env.path("g")).unwrap().ino(),
        fs::metadata(env.path("f")).unwrap().ino()
    );
    // Linking a symlink links the symlink itself, never what it points to.
    assert!(fs::symlink_metadata(env.path("h"))
        .unwrap()
        .file_type()
        .is_symlink());
    env.nothing_outside();
}

#[test]
fn device_nodes_created_as_root_or_skipped() {
    let env = Env::new();
    let mut l = Layer::new();
    {
        let b = l.builder();
        for (name, kind) in [
            ("dev/null", tar::EntryType::Char),
            ("dev/loop9", tar::EntryType::Block),
            ("fifo", tar::EntryType::Fifo),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(0o666);
            h.set_size(0);
            h.set_device_major(if kind == tar::EntryType::Block { 7 } else { 1 })
                .unwrap();
            h.set_device_minor(if kind == tar::EntryType::Block { 9 } else { 3 })
                .unwrap();
            b.append_data(&mut h, name, &[][..]).unwrap();
        }
    }
    let tar = l.finish();
    let mut opts = UnpackOptions::new("dev");
    opts.devices = true;
    env.unpack_with(&tar, &opts).unwrap();
    let md = fs::symlink_metadata(env.path("dev/null")).unwrap();
    assert!(md.file_type().is_char_device());
    assert_eq!(md.rdev(), rustix::fs::makedev(1, 3));
    assert_eq!(md.mode() & 0o7777, 0o666);
    assert!(fs::symlink_metadata(env.path("dev/loop9"))
        .unwrap()
        .file_type()
        .is_block_device());
    assert!(fs::symlink_metadata(env.path("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());

    let env2 = Env::new();
    opts.devices = false;
    env2.unpack_with(&tar, &opts).unwrap();
    assert!(!env2.path("dev/null").exists());
    assert!(fs::symlink_metadata(env2.path("fifo")).is_err());
    env.nothing_outside();
}

#[test]
fn gzip_bomb_hits_the_byte_cap() {
    let env = Env::new();
    // 256 MiB of zeros in a few hundred KiB: one compressed MiB of zeros
    // repeated as gzip members (a valid multi-member gzip stream).
    let gz = |data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let mut h = tar::Header::new_gnu();
    h.set_path("zeros").unwrap();
    h.set_size(256 << 20);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut blob = gz(h.as_bytes());
    let mib = gz(&vec![0u8; 1 << 20]);
    for _ in 0..256 {
        blob.extend_from_slice(&mib);
    }
    blob.extend_from_slice(&gz(&[0u8; 1024]));
    assert!(blob.len() < 1 << 20, "the bomb is small: {}", blob.len());
    let mut opts = UnpackOptions::new("bomb");
    opts.limits = Limits {
        max_bytes: 16 << 20,
        ..Limits::default()
    };
    let err = env.unpack_with(&blob, &opts).unwrap_err();
    assert!(
        matches!(
            err.cause,
            UnpackCause::LimitExceeded {
                what: "uncompressed bytes",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("bomb") && err.to_string().contains("zeros"),
        "{err}"
    );
    assert!(
        fs::metadata(env.path("zeros"))
            .map(|m| m.len())
            .unwrap_or(0)
            <= 16 << 20
    );
    env.nothing_outside();
}

#[test]
fn huge_pax_and_long_name_headers_are_refused_unread() {
    let env = Env::new();
    // A PAX header claiming 64 MiB, with only its first bytes present: the
    // size alone must make the unpack fail, before any of it is read.
    let mut l = Layer::new();
    l.raw(
        tar::EntryType::XHeader,
        b"PaxHeaders/x",
        b"",
        0o644,
        &vec![b'a'; 4096],
    );
    let mut tar = l.finish();
    // Patch the size field (offset 124, 12 octal bytes) and the checksum.
    let mut h = tar::Header::new_old();
    h.as_mut_bytes().copy_from_slice(&tar[..512]);
    h.set_size(64 << 20);
    h.set_cksum();
    tar[..512].copy_from_slice(h.as_bytes());
    let err = env.unpack(&tar).unwrap_err();
    assert!(
        matches!(err.cause, UnpackCause::HeaderTooLarge { what: "PAX", .. }),
        "{err}"
    );

    let mut l = Layer::new();
    l.raw(
        tar::EntryType::GNULongName,
        b"././@LongLink",
        b"",
        0o644,
        &vec![b'n'; 2 << 20],
    );
    l.file("x", b"");
    let err = env.unpack(&l.finish()).unwrap_err();
    assert!(
        matches!(
            err.cause,
            UnpackCause::HeaderTooLarge {
                what: "GNU long name",
                ..
            }
        ),
        "{err}"
    );
    env.nothing_outside();
}

#[test]
fn entry_count_is_capped() {
    let env = Env::new();
    let mut l = Layer::new();
    for i in 0..50 {
        l.file(&format!("f{i}"), b"");
    }
    let mut opts = UnpackOptions::new("many");
    opts.limits.max_entries = 10;
    let err = env.unpack_with(&l.finish(), &opts).unwrap_err();
    assert!(
        matches!(
            err.cause,
            UnpackCause::LimitExceeded {
                what: "entries",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn file_over_dir_and_dir_over_symlink_replace_as_docker() {
    let env = Env::new();
    let mut l = Layer::new();
    l.dir("d").file("d/inner", b"x").file("d", b"now a file");
    l.symlink("s", "/outside")
        .dir("s")
        .file("s/f", b"in a real dir");
    // A V7 directory: type NUL with a trailing slash.
    l.v7_dir("v7dir/", 0o750);
    // A dir over an existing dir keeps its contents.
    l.dir("keep").file("keep/a", b"a").dir("keep");
    env.unpack(&l.finish()).unwrap();
    assert_eq!(fs::read(env.path("d")).unwrap(), b"now a file");
    let s = fs::symlink_metadata(env.path("s")).unwrap();
    assert!(s.is_dir());
    assert_eq!(fs::read(env.path("s/f")).unwrap(), b"in a real dir");
    assert_eq!(fs::read(env.path("keep/a")).unwrap(), b"a");
    let v7 = fs::symlink_metadata(env.path("v7dir")).unwrap();
    assert!(
        v7.is_dir() && v7.mode() & 0o7777 == 0o750,
        "{:?} {:o}",
        v7.file_type(),
        v7.mode()
    );
    env.nothing_outside();
}

#[test]
fn long_names_pax_xattrs_and_ownership() {
    let env = Env::new();
    let mut l = Layer::new();
    let long = format!("{}/file", "d".repeat(150));
    {
        let b = l.builder();
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o2750);
        h.set_uid(1234);
        h.set_gid(5678);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, &long, &b"abc"[..]).unwrap();
        // PAX xattrs: user.* kept, trusted.overlay.* injected by the image dropped.
        let pax: Vec<(&str, &[u8])> = vec![
            ("SCHILY.xattr.user.note", b"hi"),
            ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
            ("mtime", b"1500000000.25"),
        ];
        b.append_pax_extensions(pax).unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(0);
        h.set_mode(0o755);
        h.set_entry_type(tar::EntryType::Directory);
        b.append_data(&mut h, "x", &[][..]).unwrap();
    }
    let r = env.unpack(&l.finish()).unwrap();
    assert_eq!(r.size, 3);
    let md = fs::metadata(env.path(&long)).unwrap();
    assert_eq!(
        (md.uid(), md.gid(), md.mode() & 0o7777),
        (1234, 5678, 0o2750)
    );
    let x = env.path("x");
    let mut buf = [0u8; 16];
    let n = rustix::fs::getxattr(&x, "user.note", &mut buf[..]).unwrap();
    assert_eq!(&buf[..n], b"hi");
    assert!(rustix::fs::getxattr(&x, "trusted.overlay.opaque", &mut buf[..]).is_err());
    let md = fs::metadata(&x).unwrap();
    assert_eq!((md.mtime(), md.mtime_nsec()), (1_500_000_000, 250_000_000));
}

#[test]
fn whiteouts_in_overlay_and_apply_modes() {
    let mut l = Layer::new();
    l.dir("d")
        .file("d/.wh.gone", b"")
        .file("o/.wh..wh..opq", b"")
        .file("o/new", b"n");
    let tar = l.finish();

    let env = Env::new();
    env.unpack(&tar).unwrap();
    let wh = fs::symlink_metadata(env.path("d/gone")).unwrap();
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "whiteout is a 0:0 char device"
    );
    let mut buf = [0u8; 4];
    let n = rustix::fs::getxattr(env.path("o"), "trusted.overlay.opaque", &mut buf[..]).unwrap();
    assert_eq!(&buf[..n], b"y");
    assert!(!env.path("o/.wh..wh..opq").exists());

    let env = Env::new();
    fs::create_dir_all(env.path("d")).unwrap();
    fs::write(env.path("d/gone"), b"old").unwrap();
    fs::write(env.path("d/stays"), b"old").unwrap();
    fs::create_dir_all(env.path("o/sub")).unwrap();
    fs::write(env.path("o/old"), b"old").unwrap();
    let mut opts = UnpackOptions::new("apply");
    opts.whiteouts = WhiteoutMode::Apply;
    env.unpack_with(&tar, &opts).unwrap();
    assert!(!env.path("d/gone").exists());
    assert!(env.path("d/stays").exists());
    assert!(!env.path("o/old").exists() && !env.path("o/sub").exists());
    assert_eq!(fs::read(env.path("o/new")).unwrap(), b"n");
    env.nothing_outside();
}

#[test]
fn corrupt_and_truncated_streams_fail_clearly() {
    let env = Env::new();
    let mut l = Layer::new();
    l.file("f", &vec![7u8; 10_000]);
    let tar = l.finish();
    let err = env.unpack(&tar[..3000]).unwrap_err();
    assert!(
        matches!(err.cause, UnpackCause::Tar(_) | UnpackCause::Io { .. }),
        "{err}"
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let err = env.unpack(&gz[..gz.len() / 2]).unwrap_err();
    assert!(matches!(err.cause, UnpackCause::Read(_)), "{err}");
    let mut bad = tar.clone();
    bad[10] ^= 0xff; // breaks the header checksum
    let err = env.unpack(&bad).unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
}
