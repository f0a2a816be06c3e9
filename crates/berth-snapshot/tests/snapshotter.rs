//! The snapshotters against real overlayfs and bind mounts in temp dirs.
//! Every mount is undone by a guard, even when an assertion fails.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use berth_snapshot::{Driver, ErrorKind, Kind, SnapshotError, Snapshotter, UnpackOptions};
use common::{listing, mount, sha256, Layer};

fn store(driver: Driver) -> (tempfile::TempDir, Snapshotter) {
    let tmp = tempfile::tempdir().unwrap();
    let s = Snapshotter::open(&tmp.path().join("store"), Some(driver)).unwrap();
    (tmp, s)
}

/// The chain IDs of a stack of diff IDs, as the OCI image spec defines them.
fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in diff_ids {
        let id = match out.last() {
            None => d.clone(),
            Some(prev) => sha256(format!("{prev} {d}").as_bytes()),
        };
        out.push(id);
    }
    out
}

/// Applies layers bottom-up; returns the top chain ID.
fn apply_all(s: &Snapshotter, layers: &[Vec<u8>]) -> String {
    let diffs: Vec<String> = layers.iter().map(|l| sha256(l)).collect();
    let chains = chain_ids(&diffs);
    for (i, l) in layers.iter().enumerate() {
        let mut opts = UnpackOptions::new(&diffs[i]);
        opts.expected_diff_id = Some(diffs[i].clone());
        let parent = if i == 0 {
            None
        } else {
            Some(chains[i - 1].as_str())
        };
        let applied = s.apply_layer(&chains[i], parent, &l[..], &opts).unwrap();
        assert_eq!(applied.info.diff_id.as_deref(), Some(diffs[i].as_str()));
    }
    chains.last().unwrap().clone()
}

/// Three layers exercising whiteouts and an opaque directory.
fn three_layers() -> Vec<Vec<u8>> {
    let mut l1 = Layer::new();
    l1.dir("a").file("a/f1", b"one").file("a/f2", b"two");
    l1.dir("b")
        .file("b/x", b"x")
        .dir("b/sub")
        .file("b/sub/y", b"y");
    l1.dir("c").file("c/keep", b"keep").symlink("link", "a/f2");
    let mut l2 = Layer::new();
    l2.dir("a").file("a/.wh.f1", b"");
    l2.dir("b")
        .file("b/.wh..wh..opq", b"")
        .file("b/new", b"new");
    let mut l3 = Layer::new();
    l3.file("c/added", b"added").file("a/f2", b"two, changed");
    vec![l1.finish(), l2.finish(), l3.finish()]
}

fn expected_three() -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for (k, v) in [
        ("a", "dir 755"),
        ("a/f2", "file 644 \"two, changed\""),
        ("b", "dir 755"),
        ("b/new", "file 644 \"new\""),
        ("c", "dir 755"),
        ("c/keep", "file 644 \"keep\""),
        ("c/added", "file 644 \"added\""),
        ("link", "link -> a/f2"),
    ] {
        m.insert(k.to_string(), v.to_string());
    }
    m
}

#[test]
fn overlay_whiteouts_and_opaque_dirs_give_the_merged_view() {
    let (tmp, s) = store(Driver::Overlay);
    let top = apply_all(&s, &three_layers());
    let mounts = s.prepare("c1", Some(&top)).unwrap();
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0].kind, "overlay");
    let merged = tmp.path().join("merged");
    let _guard = mount(&mounts, &merged);
    assert_eq!(listing(&merged), expected_three());

    // Writes go to the container's upper dir; deleting a lower file makes a whiteout.
    fs::write(merged.join("c/written"), b"w").unwrap();
    fs::remove_file(merged.join("c/keep")).unwrap();
    let upper = tmp.path().join("store/overlay/snapshots/c1/diff");
    assert_eq!(fs::read(upper.join("c/written")).unwrap(), b"w");
    let wh = fs::symlink_metadata(upper.join("c/keep")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    // Lower layers are untouched.
    assert!(s.usage(&top).unwrap().inodes >= 1);
    assert!(s.usage("c1").unwrap().inodes >= 3);
}

#[test]
fn vfs_gives_the_same_merged_tree_as_overlay() {
    let layers = three_layers();
    let (tmp_o, o) = store(Driver::Overlay);
    let top_o = apply_all(&o, &layers);
    let merged_o = tmp_o.path().join("merged");
    let _go = mount(&o.prepare("c", Some(&top_o)).unwrap(), &merged_o);

    let (tmp_v, v) = store(Driver::Vfs);
    let top_v = apply_all(&v, &layers);
    assert_eq!(top_o, top_v);
    let mounts = v.prepare("c", Some(&top_v)).unwrap();
    assert_eq!(mounts[0].kind, "bind");
    let merged_v = tmp_v.path().join("merged");
    let _gv = mount(&mounts, &merged_v);
    assert_eq!(listing(&merged_v), listing(&merged_o));
    assert_eq!(listing(&merged_v), expected_three());
    // A vfs container's writes do not reach the committed layer.
    fs::write(merged_v.join("a/f2"), b"mine").unwrap();
    let layer_copy = tmp_v
        .path()
        .join("store/vfs/snapshots")
        .join(top_v.replace(':', "+"))
        .join("diff/a/f2");
    assert_eq!(fs::read(layer_copy).unwrap(), b"two, changed");
}

#[test]
fn a_128_layer_stack_mounts() {
    let cwd_before = std::env::current_dir().unwrap();
    let (tmp, s) = store(Driver::Overlay);
    let mut layers = Vec::new();
    for i in 0..128 {
        let mut l = Layer::new();
        l.dir("d")
            .file(&format!("d/f{i}"), format!("{i}").as_bytes());
        if i == 127 {
            l.file("d/.wh.f0", b"");
        }
        layers.push(l.finish());
    }
    let top = apply_all(&s, &layers);
    let mounts = s.prepare("deep", Some(&top)).unwrap();
    let data_len: usize = mounts[0].options.iter().map(|o| o.len() + 1).sum();
    let lowers = mounts[0]
        .options
        .iter()
        .find(|o| o.starts_with("lowerdir="))
        .unwrap();
    assert_eq!(lowers.matches(':').count(), 127, "128 lower layers");
    // Past one page: mount_all must take the fsconfig(lowerdir+) path.
    assert!(data_len > 4096, "{data_len}");
    let merged = tmp.path().join("merged");
    let _g = mount(&mounts, &merged);
    let files = listing(&merged);
    for i in 1..128 {
        assert_eq!(
            files.get(&format!("d/f{i}")).unwrap(),
            &format!("file 644 \"{i}\"")
        );
    }
    assert!(!files.contains_key("d/f0"), "whited out in the top layer");

    // The path older kernels take: relative lowerdirs from a helper thread.
    let old_kernel = tmp.path().join("relative");
    fs::create_dir_all(&old_kernel).unwrap();
    berth_snapshot::testing::mount_overlay_relative(&mounts[0], &old_kernel).unwrap();
    let _gr = common::MountGuard(old_kernel.clone());
    assert_eq!(listing(&old_kernel), files);
    assert_eq!(
        std::env::current_dir().unwrap(),
        cwd_before,
        "the test's cwd did not move"
    );

    // A read-only view of the same stack.
    let view = s.view("deep-view", Some(&top)).unwrap();
    assert!(view[0].options.iter().any(|o| o == "ro"));
    let vdir = tmp.path().join("view");
    let _gv = mount(&view, &vdir);
    assert_eq!(listing(&vdir), files);
    let err = fs::write(vdir.join("x"), b"x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EROFS));
}

#[test]
fn overlay_layers_apply_in_parallel_in_any_order() {
    let (tmp, s) = store(Driver::Overlay);
    let layers: Vec<Vec<u8>> = (0u8..8)
        .map(|i| {
            let mut l = Layer::new();
            l.file(&format!("f{i}"), &vec![b'a' + i; 200_000]);
            l.finish()
        })
        .collect();
    let diffs: Vec<String> = layers.iter().map(|l| sha256(l)).collect();
    let chains = chain_ids(&diffs);
    let unpacked = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        // Each layer twice, top first: one of each pair unpacks, the other
        // finds it there.
        for round in 0..2 {
            for i in (0..8).rev() {
                let (s, layers, diffs, chains, unpacked) =
                    (&s, &layers, &diffs, &chains, &unpacked);
                scope.spawn(move || {
                    let mut opts = UnpackOptions::new(&diffs[i]);
                    opts.expected_diff_id = Some(diffs[i].clone());
                    let parent = (i > 0).then(|| chains[i - 1].as_str());
                    let r = s
                        .apply_layer(&chains[i], parent, &layers[i][..], &opts)
                        .unwrap();
                    if r.unpacked.is_some() {
                        unpacked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    let _ = round;
                });
            }
        }
    });
    assert_eq!(unpacked.load(std::sync::atomic::Ordering::SeqCst), 8);
    let merged = tmp.path().join("merged");
    let _g = mount(&s.prepare("c", Some(&chains[7])).unwrap(), &merged);
    // Every layer, each with its own content.
    let files = listing(&merged);
    assert_eq!(files.len(), 8, "{:?}", files.keys());
    for i in 0u8..8 {
        let content = String::from_utf8(vec![b'a' + i; 200_000]).unwrap();
        assert_eq!(
            files.get(&format!("f{i}")),
            Some(&format!("file 644 {content:?}")),
            "f{i}"
        );
    }
    assert!(fs::read_dir(tmp.path().join("store/overlay/tmp"))
        .unwrap()
        .next()
        .is_none());
}

fn lifecycle(driver: Driver) {
    let (tmp, s) = store(driver);
    let mut base = Layer::new();
    base.file("etc/os-release", b"berth");
    let base = base.finish();
    let base_id = apply_all(&s, std::slice::from_ref(&base));
    assert_eq!(s.stat(&base_id).unwrap().kind, Kind::Committed);

    // A container layer, committed as an image layer (docker commit).
    let mounts = s.prepare("ctr", Some(&base_id)).unwrap();
    {
        let m = tmp.path().join("m1");
        let _g = mount(&mounts, &m);
        fs::write(m.join("etc/added"), b"by the container").unwrap();
        assert_eq!(s.mounts("ctr").unwrap(), mounts);
    }
    s.commit("sha256:committed", "ctr").unwrap();
    assert!(matches!(s.stat("ctr"), Err(SnapshotError::NotFound { .. })));
    let info = s.stat("sha256:committed").unwrap();
    assert_eq!(
        (info.kind, info.parent.as_deref()),
        (Kind::Committed, Some(base_id.as_str()))
    );
    let m2 = tmp.path().join("m2");
    {
        let _g = mount(&s.prepare("ctr2", Some("sha256:committed")).unwrap(), &m2);
        assert_eq!(fs::read(m2.join("etc/added")).unwrap(), b"by the container");
        assert_eq!(fs::read(m2.join("etc/os-release")).unwrap(), b"berth");
    }

    // Errors with their kinds.
    let e = s.prepare("ctr2", Some(&base_id)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    let e = s.prepare("x", Some("sha256:nope")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = s.prepare("y", Some("ctr2")).unwrap_err();
    assert!(matches!(e, SnapshotError::WrongState { .. }), "{e}");
    let e = s.commit("z", &base_id).unwrap_err();
    assert!(matches!(e, SnapshotError::WrongState { .. }), "{e}");
    let e = s.remove(&base_id).unwrap_err();
    assert!(matches!(e, SnapshotError::HasChildren { .. }), "{e}");
    let e = s.prepare("../evil", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");

    let mut names: Vec<String> = s.list().unwrap().into_iter().map(|i| i.name).collect();
    names.sort();
    let mut want = vec![
        base_id.clone(),
        "ctr2".to_string(),
        "sha256:committed".to_string(),
    ];
    want.sort();
    assert_eq!(names, want);
    assert!(s.usage("sha256:committed").unwrap().size > 0);

    // Applying an existing layer again reads nothing.
    let again = s
        .apply_layer(
            &base_id,
            None,
            &b"not even a tar"[..],
            &UnpackOptions::new("x"),
        )
        .unwrap();
    assert!(again.unpacked.is_none());

    s.remove("ctr2").unwrap();
    s.remove("sha256:committed").unwrap();
    s.remove(&base_id).unwrap();
    assert!(s.list().unwrap().is_empty());
    let home = tmp.path().join("store").join(if driver == Driver::Overlay {
        "overlay"
    } else {
        "vfs"
    });
    assert!(fs::read_dir(home.join("tmp")).unwrap().next().is_none());
    // Removed snapshots wait in the trash until the store is idle, or until asked.
    s.empty_trash().unwrap();
    assert!(s.trash_is_empty());
    assert!(fs::read_dir(home.join("trash")).unwrap().next().is_none());
    if driver == Driver::Overlay {
        assert!(
            fs::read_dir(home.join("l")).unwrap().next().is_none(),
            "links removed"
        );
    }
}

#[test]
fn overlay_lifecycle() {
    lifecycle(Driver::Overlay);
}

#[test]
fn vfs_lifecycle() {
    lifecycle(Driver::Vfs);
}

#[test]
fn a_refused_layer_leaves_nothing_behind() {
    for driver in [Driver::Overlay, Driver::Vfs] {
        let (tmp, s) = store(driver);
        let mut l = Layer::new();
        l.file("ok", b"fine").file("../../escape", b"evil");
        let err = s
            .apply_layer(
                "sha256:bad",
                None,
                &l.finish()[..],
                &UnpackOptions::new("sha256:bad"),
            )
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("../../escape"), "{err}");
        assert!(matches!(
            s.stat("sha256:bad"),
            Err(SnapshotError::NotFound { .. })
        ));
        let home = tmp.path().join("store").join(if driver == Driver::Overlay {
            "overlay"
        } else {
            "vfs"
        });
        assert!(fs::read_dir(home.join("tmp")).unwrap().next().is_none());
        assert!(fs::read_dir(home.join("snapshots"))
            .unwrap()
            .next()
            .is_none());
    }
}

#[test]
fn auto_detection_picks_overlay_here_and_keeps_an_existing_vfs_store() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("auto");
    let s = Snapshotter::open(&root, None).unwrap();
    // This host (and CI) has overlayfs on ext4.
    assert!(fs::read_to_string("/proc/filesystems")
        .unwrap()
        .contains("overlay"));
    assert_eq!(s.driver(), Driver::Overlay);
    assert!(
        fs::read_dir(root.join("overlay/tmp"))
            .unwrap()
            .next()
            .is_none(),
        "check mount cleaned up"
    );

    let root2 = tmp.path().join("was-vfs");
    let v = Snapshotter::open(&root2, Some(Driver::Vfs)).unwrap();
    v.prepare("x", None).unwrap();
    // One owner at a time.
    let e = Snapshotter::open(&root2, Some(Driver::Vfs)).unwrap_err();
    assert!(matches!(e, SnapshotError::InUse { .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::Conflict);
    drop(v);
    assert_eq!(
        Snapshotter::open(&root2, None).unwrap().driver(),
        Driver::Vfs
    );
    assert!(Snapshotter::open(Path::new("relative"), None).is_err());
}

#[test]
fn export_round_trips_a_container_diff_through_overlay_and_vfs() {
    let layers = three_layers();
    let (tmp, s) = store(Driver::Overlay);
    let top = apply_all(&s, &layers);
    let merged = tmp.path().join("merged");
    let want = {
        let _g = mount(&s.prepare("c1", Some(&top)).unwrap(), &merged);
        fs::write(merged.join("c/new"), b"new").unwrap();
        fs::hard_link(merged.join("c/new"), merged.join("c/new2")).unwrap();
        fs::remove_file(merged.join("c/keep")).unwrap();
        // Recreating a directory makes it opaque in the upper dir.
        fs::remove_dir_all(merged.join("b")).unwrap();
        fs::create_dir(merged.join("b")).unwrap();
        fs::write(merged.join("b/fresh"), b"f").unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(merged.join("a/f2"), fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink("c/new", merged.join("l2")).unwrap();
        listing(&merged)
    };
    let mut tar = Vec::new();
    let r = s.export("c1", &mut tar).unwrap();
    assert_eq!(r.diff_id, sha256(&tar));
    assert_eq!(r.tar_size, tar.len() as u64);

    // GNU tar reads it and sees OCI whiteouts, not devices.
    let file = tmp.path().join("diff.tar");
    fs::write(&file, &tar).unwrap();
    let out = std::process::Command::new("tar")
        .arg("-tvf")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let names = String::from_utf8_lossy(&out.stdout);
    assert!(names.contains("c/.wh.keep"), "{names}");
    assert!(names.contains("b/.wh..wh..opq"), "{names}");
    assert!(names.contains("c/new2 link to c/new"), "{names}");

    // Applied as a fourth layer, on both drivers, it gives the container's view.
    for driver in [Driver::Overlay, Driver::Vfs] {
        let (t2, s2) = store(driver);
        let mut all = layers.clone();
        all.push(tar.clone());
        let top2 = apply_all(&s2, &all);
        let m2 = t2.path().join("m");
        let _g = mount(&s2.prepare("c", Some(&top2)).unwrap(), &m2);
        assert_eq!(listing(&m2), want, "{driver:?}");
        if driver == Driver::Vfs {
            let e = s2.export("c", std::io::sink()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unsupported);
        }
    }
}
