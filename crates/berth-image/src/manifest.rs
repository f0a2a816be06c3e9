//! Manifests and indexes: Docker schema 2 manifests and manifest lists, OCI
//! image manifests and indexes, parsed by media type.
//!
//! The media type comes from the caller (an HTTP `Content-Type` or the
//! descriptor that pointed at the document); when it is missing or generic
//! (`application/json`), it is sniffed from the document as containerd
//! does: its `mediaType` field, else `manifests` means an index, `config`
//! a manifest, `fsLayers` or `schemaVersion: 1` schema 1. Schema 1 is
//! refused with [`ManifestError::Schema1`]. Fields this crate does not know
//! are kept in `extra`, so a document re-serialised loses nothing that
//! `inspect` could show (the stored blob stays the authority, byte for
//! byte).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ManifestError;

/// The media types berth knows (berth-oci's).
pub use berth_oci::media_type as media_types;
pub use berth_oci::media_type::{is_index, is_manifest, is_manifest_or_index};
pub use berth_oci::Descriptor;

use berth_oci::media_type::is_schema1;
use media_types as mt;

/// A single-platform image manifest (OCI or Docker schema 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An OCI index or Docker manifest list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    pub schema_version: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A parsed manifest or index, with its effective media type.
// Short-lived values; boxing would only make matching on them clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Manifest {
    Image {
        media_type: String,
        manifest: ImageManifest,
    },
    Index {
        media_type: String,
        index: ImageIndex,
    },
}

impl Manifest {
    /// Parses `data`. `declared` is the media type the caller was told (a
    /// `Content-Type` header or a descriptor's `mediaType`), `what` names
    /// the document in errors (a reference or digest).
    pub fn parse(declared: Option<&str>, data: &[u8], what: &str) -> Result<Self, ManifestError> {
        let json_err = |source| ManifestError::Json {
            what: what.into(),
            source,
        };
        let doc: Value = serde_json::from_slice(data).map_err(json_err)?;
        let Some(obj) = doc.as_object() else {
            return Err(ManifestError::Unrecognised { what: what.into() });
        };
        let declared = declared
            .map(|d| d.split(';').next().unwrap_or("").trim())
            .filter(|d| {
                !matches!(
                    *d,
                    "" | "application/json" | "text/plain" | "application/octet-stream"
                )
            });
        let found = obj.get("mediaType").and_then(Value::as_str);
        if let (Some(d), Some(f)) = (declared, found) {
            if d != f {
                return Err(ManifestError::MediaTypeMismatch {
                    what: what.into(),
                    declared: d.into(),
                    found: f.into(),
                });
            }
        }
        let version = obj.get("schemaVersion").and_then(Value::as_i64);
        let media_type = match declared.or(found) {
            Some(m) => m.to_owned(),
            None => sniff(obj, version)
                .ok_or_else(|| ManifestError::Unrecognised { what: what.into() })?,
        };
        if is_schema1(&media_type) {
            return Err(ManifestError::Schema1 {
                what: what.into(),
                media_type,
            });
        }
        if !is_manifest_or_index(&media_type) {
            return Err(ManifestError::UnsupportedMediaType {
                what: what.into(),
                media_type,
            });
        }
        if version != Some(2) {
            if version == Some(1) {
                return Err(ManifestError::Schema1 {
                    what: what.into(),
                    media_type: mt::DOCKER_SCHEMA1.into(),
                });
            }
            return Err(ManifestError::SchemaVersion {
                what: what.into(),
                version: version.unwrap_or(0),
            });
        }
        if is_index(&media_type) {
            let index: ImageIndex = serde_json::from_value(doc).map_err(json_err)?;
            Ok(Manifest::Index { media_type, index })
        } else {
            let manifest: ImageManifest = serde_json::from_value(doc).map_err(json_err)?;
            Ok(Manifest::Image {
                media_type,
                manifest,
            })
        }
    }

    pub fn media_type(&self) -> &str {
        match self {
            Manifest::Image { media_type, .. } | Manifest::Index { media_type, .. } => media_type,
        }
    }

    /// The blobs this document refers to: config and layers of a manifest,
    /// the entries of an index (plus a subject, if any).
    pub fn children(&self) -> Vec<&Descriptor> {
        match self {
            Manifest::Image { manifest, .. } => std::iter::once(&manifest.config)
                .chain(manifest.layers.iter())
                .chain(manifest.subject.iter())
                .collect(),
            Manifest::Index { index, .. } => {
                index.manifests.iter().chain(index.subject.iter()).collect()
            }
        }
    }
}

/// containerd's guess of a document's type when no media type is given.
fn sniff(obj: &Map<String, Value>, version: Option<i64>) -> Option<String> {
    if obj.contains_key("fsLayers") || version == Some(1) {
        return Some(mt::DOCKER_SCHEMA1.into());
    }
    if obj.contains_key("manifests") {
        return Some(mt::OCI_INDEX.into());
    }
    let config = obj.get("config")?;
    // A Docker schema 2 manifest always has its mediaType; a config typed as
    // Docker's still says which family the manifest belongs to.
    let docker = config.get("mediaType").and_then(Value::as_str) == Some(mt::DOCKER_CONFIG);
    Some(
        if docker {
            mt::DOCKER_MANIFEST
        } else {
            mt::OCI_MANIFEST
        }
        .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use berth_oci::Platform;

    // From the OCI image spec (manifest.md), sizes and digests as given there.
    const OCI_MANIFEST_DOC: &str = r#"{
      "schemaVersion": 2,
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "config": {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "digest": "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7",
        "size": 7023
      },
      "layers": [
        {
          "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
          "digest": "sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0",
          "size": 32654
        },
        {
          "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
          "digest": "sha256:3c3a4604a545cdc127456d94e421cd355bca5b528f4a9c1905b15da2eb4a4c6b",
          "size": 16724
        }
      ],
      "annotations": { "com.example.key1": "value1" },
      "vendorThing": {"kept": true}
    }"#;

    // From the OCI image spec (image-index.md).
    const OCI_INDEX_DOC: &str = r#"{
      "schemaVersion": 2,
      "manifests": [
        {
          "mediaType": "application/vnd.oci.image.manifest.v1+json",
          "size": 7143,
          "digest": "sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f",
          "platform": { "architecture": "ppc64le", "os": "linux" }
        },
        {
          "mediaType": "application/vnd.oci.image.manifest.v1+json",
          "size": 7682,
          "digest": "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270",
          "platform": { "architecture": "amd64", "os": "linux" }
        }
      ],
      "annotations": { "com.example.key1": "value1" }
    }"#;

    // Docker's schema 2 manifest list, from distribution's spec.
    const DOCKER_LIST_DOC: &str = r#"{
      "schemaVersion": 2,
      "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
      "manifests": [
        {
          "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
          "digest": "sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f",
          "size": 7143,
          "platform": { "architecture": "ppc64le", "os": "linux" }
        },
        {
          "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
          "digest": "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270",
          "size": 7682,
          "platform": { "architecture": "amd64", "os": "linux", "features": ["sse4"] }
        }
      ]
    }"#;

    const SCHEMA1_DOC: &str = r#"{
      "name": "hello-world", "tag": "latest", "architecture": "amd64",
      "fsLayers": [{"blobSum": "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"}],
      "history": [{"v1Compatibility": "{}"}],
      "schemaVersion": 1
    }"#;

    #[test]
    fn oci_manifest_keeps_unknown_fields() {
        let m = Manifest::parse(Some(mt::OCI_MANIFEST), OCI_MANIFEST_DOC.as_bytes(), "x").unwrap();
        let Manifest::Image {
            media_type,
            manifest,
        } = &m
        else {
            panic!("{m:?}")
        };
        assert_eq!(media_type, mt::OCI_MANIFEST);
        assert_eq!(manifest.config.size, 7023);
        assert_eq!(manifest.layers.len(), 2);
        assert_eq!(m.children().len(), 3);
        let back = serde_json::to_value(manifest).unwrap();
        let orig: Value = serde_json::from_str(OCI_MANIFEST_DOC).unwrap();
        assert_eq!(back, orig, "re-serialised without loss");
    }

    #[test]
    fn sniffs_without_media_type() {
        let i = Manifest::parse(None, OCI_INDEX_DOC.as_bytes(), "x").unwrap();
        assert_eq!(i.media_type(), mt::OCI_INDEX);
        let i = Manifest::parse(
            Some("application/json; charset=utf-8"),
            OCI_INDEX_DOC.as_bytes(),
            "x",
        )
        .unwrap();
        assert_eq!(i.media_type(), mt::OCI_INDEX);
        let no_type = OCI_MANIFEST_DOC.replace(
            r#""mediaType": "application/vnd.oci.image.manifest.v1+json","#,
            "",
        );
        let m = Manifest::parse(None, no_type.as_bytes(), "x").unwrap();
        assert_eq!(m.media_type(), mt::OCI_MANIFEST);
        let docker_cfg = no_type.replace(mt::OCI_CONFIG, mt::DOCKER_CONFIG);
        let m = Manifest::parse(None, docker_cfg.as_bytes(), "x").unwrap();
        assert_eq!(m.media_type(), mt::DOCKER_MANIFEST);
        // Told it is an index by the descriptor, with no mediaType inside.
        let i = Manifest::parse(Some(mt::OCI_INDEX), OCI_INDEX_DOC.as_bytes(), "x").unwrap();
        let Manifest::Index { index, .. } = i else {
            panic!()
        };
        assert_eq!(
            index.manifests[1]
                .platform
                .as_ref()
                .map(|p| p.architecture.as_str()),
            Some("amd64")
        );
    }

    #[test]
    fn docker_manifest_list() {
        let l = Manifest::parse(None, DOCKER_LIST_DOC.as_bytes(), "x").unwrap();
        assert_eq!(l.media_type(), mt::DOCKER_MANIFEST_LIST);
        let Manifest::Index { index, .. } = &l else {
            panic!()
        };
        // "features" in a platform is not an OCI field: parse still works.
        let chosen = Platform::parse("linux/amd64")
            .unwrap()
            .matcher()
            .select(&index.manifests)
            .unwrap();
        assert_eq!(chosen.size, 7682);
    }

    #[test]
    fn refuses_schema1_and_oddities() {
        for declared in [None, Some(mt::DOCKER_SCHEMA1_SIGNED)] {
            let e = Manifest::parse(declared, SCHEMA1_DOC.as_bytes(), "docker.io/library/old:1")
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unsupported);
            let msg = e.to_string();
            assert!(
                msg.contains("schema 1") && msg.contains("not supported") && msg.contains("push"),
                "{msg}"
            );
            assert!(msg.contains("docker.io/library/old:1"), "{msg}");
        }
        let e = Manifest::parse(Some(mt::DOCKER_MANIFEST), OCI_MANIFEST_DOC.as_bytes(), "x")
            .unwrap_err();
        assert!(matches!(e, ManifestError::MediaTypeMismatch { .. }), "{e}");
        let e = Manifest::parse(Some("application/vnd.example+json"), b"{}", "x").unwrap_err();
        assert!(
            matches!(e, ManifestError::UnsupportedMediaType { .. }),
            "{e}"
        );
        let e = Manifest::parse(None, b"{\"schemaVersion\": 2}", "x").unwrap_err();
        assert!(matches!(e, ManifestError::Unrecognised { .. }), "{e}");
        let e = Manifest::parse(None, b"[1]", "x").unwrap_err();
        assert!(matches!(e, ManifestError::Unrecognised { .. }), "{e}");
        let e = Manifest::parse(None, b"{not json", "x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let v3 = OCI_MANIFEST_DOC.replace("\"schemaVersion\": 2", "\"schemaVersion\": 3");
        let e = Manifest::parse(None, v3.as_bytes(), "x").unwrap_err();
        assert!(
            matches!(e, ManifestError::SchemaVersion { version: 3, .. }),
            "{e}"
        );
        let bad_digest = OCI_MANIFEST_DOC.replace("sha256:b5b2b2c5", "sha256:zz");
        let e = Manifest::parse(None, bad_digest.as_bytes(), "x").unwrap_err();
        assert!(e.to_string().contains("digest"), "{e}");
        let negative = OCI_MANIFEST_DOC.replace("7023", "-1");
        assert!(Manifest::parse(None, negative.as_bytes(), "x").is_err());
    }
}
