//! Manifest media types, the Accept header that asks for all of them, and
//! detection of a fetched manifest's type when the registry's Content-Type
//! does not say it.

/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (multi-platform), schema 2.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema 1 (signed), deprecated: fetched only to be detected and refused.
pub const DOCKER_MANIFEST_V1_SIGNED: &str =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";
/// Docker schema 1 (unsigned).
pub const DOCKER_MANIFEST_V1: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The Accept header of manifest requests: every type berth reads, and
/// schema 1 last (a registry sends it only when it has nothing else).
pub(crate) const ACCEPT_MANIFESTS: &str = "application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.v1+prettyjws;q=0.5, \
application/vnd.docker.distribution.manifest.v1+json;q=0.5";

/// True for the schema 1 types, which berth refuses as docker 20+ does.
pub fn is_schema1(media_type: &str) -> bool {
    matches!(media_type, DOCKER_MANIFEST_V1 | DOCKER_MANIFEST_V1_SIGNED)
}

/// True for manifest lists and OCI indexes.
pub fn is_index(media_type: &str) -> bool {
    matches!(media_type, DOCKER_MANIFEST_LIST | OCI_INDEX)
}

/// The media type of a manifest: its Content-Type when that names a
/// manifest type, else its `mediaType` field, else what its shape says
/// (`schemaVersion` 1, `manifests`, `layers`).
pub(crate) fn detect(content_type: Option<&str>, body: &[u8]) -> String {
    let declared = content_type
        .map(|t| t.split(';').next().unwrap_or("").trim())
        .unwrap_or("");
    if declared.starts_with("application/vnd.") {
        return declared.to_owned();
    }
    #[derive(serde::Deserialize)]
    struct Shape {
        #[serde(rename = "schemaVersion", default)]
        schema_version: u32,
        #[serde(rename = "mediaType", default)]
        media_type: String,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
        #[serde(default)]
        signatures: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Shape>(body) {
        Ok(s) if !s.media_type.is_empty() => s.media_type,
        Ok(s) if s.schema_version == 1 && s.signatures.is_some() => {
            DOCKER_MANIFEST_V1_SIGNED.to_owned()
        }
        Ok(s) if s.schema_version == 1 => DOCKER_MANIFEST_V1.to_owned(),
        Ok(s) if s.manifests.is_some() => OCI_INDEX.to_owned(),
        Ok(_) => OCI_MANIFEST.to_owned(),
        Err(_) => declared.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_types() {
        assert_eq!(
            detect(
                Some("application/vnd.oci.image.index.v1+json; charset=utf-8"),
                b"{}"
            ),
            OCI_INDEX
        );
        assert_eq!(
            detect(
                Some("application/json"),
                br#"{"schemaVersion":1,"signatures":[]}"#
            ),
            DOCKER_MANIFEST_V1_SIGNED
        );
        assert_eq!(detect(None, br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#), DOCKER_MANIFEST_V2);
        assert_eq!(
            detect(Some("text/plain"), br#"{"schemaVersion":2,"manifests":[]}"#),
            OCI_INDEX
        );
        assert_eq!(
            detect(None, br#"{"schemaVersion":2,"layers":[]}"#),
            OCI_MANIFEST
        );
        assert!(is_schema1(DOCKER_MANIFEST_V1));
        assert!(is_index(DOCKER_MANIFEST_LIST) && !is_index(OCI_MANIFEST));
    }
}
