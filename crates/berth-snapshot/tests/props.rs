//! Property tests (issue 9): layer tars from registries and archives are hostile until
//! unpacked. Arbitrary bytes, and tars of arbitrary entries (names with `..`, absolute and
//! non-UTF-8 names, links anywhere, devices, whiteouts, PAX records with long names, xattrs and
//! bad sizes), unpack or fail with an error: never a panic, and nothing appears outside the
//! layer directory. Case counts keep each property to a few seconds.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::PathBuf;

use berth_snapshot::{unpack_layer, Compression, UnpackOptions, WhiteoutMode};
use common::{all_paths, Layer};
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A temp dir with a sentinel beside the layer directory.
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
        let dest = root.join("a/layer");
        fs::create_dir_all(&dest).unwrap();
        let before = all_paths(&root);
        Env {
            _tmp: tmp,
            root,
            dest,
            before,
        }
    }

    fn nothing_outside(&self) -> Result<(), TestCaseError> {
        let outside = |paths: Vec<PathBuf>| -> Vec<PathBuf> {
            paths
                .into_iter()
                .filter(|p| !p.starts_with(&self.dest) || p == &self.dest)
                .collect()
        };
        prop_assert_eq!(outside(all_paths(&self.root)), outside(self.before.clone()));
        prop_assert_eq!(
            fs::read(self.root.join("outside/sentinel")).unwrap(),
            b"keep".to_vec()
        );
        Ok(())
    }
}

/// One tar entry: its type, name, link name, mode, uid, data, and PAX records before it.
#[derive(Debug, Clone)]
struct Entry {
    kind: u8,
    name: Vec<u8>,
    link: Vec<u8>,
    mode: u32,
    data: Vec<u8>,
    pax: Vec<(&'static str, Vec<u8>)>,
}

/// Path-like byte strings: components from a small set that hits the interesting cases.
fn path_bytes() -> impl Strategy<Value = Vec<u8>> {
    let component = prop::sample::select(vec![
        "a",
        "b",
        "etc",
        "..",
        ".",
        "",
        "bin",
        ".wh.a",
        ".wh..wh..opq",
        ".wh.",
        "é",
        "\u{202e}x",
        "dev",
        "proc",
        "a b",
    ]);
    (
        any::<bool>(),
        prop::collection::vec(component, 0..5),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..3),
    )
        .prop_map(|(absolute, parts, trailing, junk)| {
            let mut s = String::new();
            if absolute {
                s.push('/');
            }
            s.push_str(&parts.join("/"));
            if trailing {
                s.push('/');
            }
            let mut b = s.into_bytes();
            if junk.first().is_some_and(|j| j % 4 == 0) {
                b.extend_from_slice(&junk);
            }
            b.truncate(99);
            b
        })
}

fn entry() -> impl Strategy<Value = Entry> {
    let kind = prop::sample::select(vec![
        b'0', b'0', b'0', b'5', b'5', b'2', b'2', b'1', b'3', b'4', b'6', b'7', 0, b'S', b'x',
        b'g', b'L', b'K', b'V', b'Z',
    ]);
    let pax_key = prop::sample::select(vec![
        "path",
        "linkpath",
        "size",
        "uid",
        "gid",
        "mtime",
        "atime",
        "SCHILY.xattr.user.a",
        "SCHILY.xattr.trusted.overlay.opaque",
        "SCHILY.xattr.security.capability",
        "GNU.sparse.major",
        "comment",
        "é",
    ]);
    let pax_value = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..12),
        "-?[0-9]{0,20}(\\.[0-9]{0,12})?".prop_map(String::into_bytes),
        path_bytes(),
    ];
    (
        kind,
        path_bytes(),
        path_bytes(),
        prop_oneof![Just(0o755u32), Just(0o644), Just(0o7777), any::<u32>()],
        prop::collection::vec(any::<u8>(), 0..40),
        prop::collection::vec((pax_key, pax_value), 0..3),
    )
        .prop_map(|(kind, name, link, mode, data, pax)| Entry {
            kind,
            name,
            link,
            mode,
            data,
            pax,
        })
}

fn build(entries: &[Entry]) -> Vec<u8> {
    let mut layer = Layer::new();
    for e in entries {
        if !e.pax.is_empty() {
            let records = e.pax.iter().map(|(k, v)| (*k, v.as_slice()));
            layer.builder().append_pax_extensions(records).unwrap();
        }
        let data: &[u8] = if e.kind == b'0' || e.kind == 0 {
            &e.data
        } else {
            &[]
        };
        layer.raw(
            tar::EntryType::new(e.kind),
            &e.name,
            &e.link,
            e.mode & 0o7777,
            data,
        );
    }
    layer.finish()
}

fn options(apply: bool, devices: bool) -> UnpackOptions {
    let mut o = UnpackOptions::new("sha256:props");
    o.whiteouts = if apply {
        WhiteoutMode::Apply
    } else {
        WhiteoutMode::Overlay
    };
    o.devices = devices;
    o.compression = Some(Compression::None);
    o
}

proptest! {
    #![proptest_config(config(150))]

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..2048), detect in any::<bool>()) {
        let env = Env::new();
        let mut o = options(false, false);
        if detect {
            o.compression = None;
        }
        let _ = unpack_layer(&data[..], &env.dest, &o);
        env.nothing_outside()?;
    }
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn arbitrary_entries_stay_inside(
        entries in prop::collection::vec(entry(), 1..10),
        apply in any::<bool>(),
        devices in any::<bool>(),
        cut in any::<Option<u16>>(),
    ) {
        let env = Env::new();
        let mut tar = build(&entries);
        if let Some(cut) = cut {
            tar.truncate(usize::from(cut) % (tar.len() + 1));
        }
        let _ = unpack_layer(&tar[..], &env.dest, &options(apply, devices));
        env.nothing_outside()?;
    }
}

proptest! {
    #![proptest_config(config(200))]

    #[test]
    fn header_bytes_flipped_never_panic(
        entries in prop::collection::vec(entry(), 1..4),
        flips in prop::collection::vec((any::<u16>(), any::<u8>()), 1..12),
    ) {
        let env = Env::new();
        let mut tar = build(&entries);
        for (at, byte) in flips {
            let at = usize::from(at) % tar.len();
            tar[at] = byte;
        }
        let _ = unpack_layer(&tar[..], &env.dest, &options(false, false));
        env.nothing_outside()?;
    }
}
