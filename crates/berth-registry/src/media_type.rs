//! Manifest media types (berth-oci's, re-exported), the Accept header that
//! asks for all of them, and detection of a fetched manifest's type when the
//! registry's Content-Type does not say it.

pub use berth_oci::media_type::*;

/// The Accept header of manifest requests: every type berth reads, and
/// schema 1 last (a registry sends it only when it has nothing else).
pub(crate) const ACCEPT_MANIFESTS: &str = "application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.v1+prettyjws;q=0.5, \
application/vnd.docker.distribution.manifest.v1+json;q=0.5";

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
            DOCKER_SCHEMA1_SIGNED.to_owned()
        }
        Ok(s) if s.schema_version == 1 => DOCKER_SCHEMA1.to_owned(),
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
            DOCKER_SCHEMA1_SIGNED
        );
        assert_eq!(detect(None, br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#), DOCKER_MANIFEST);
        assert_eq!(
            detect(Some("text/plain"), br#"{"schemaVersion":2,"manifests":[]}"#),
            OCI_INDEX
        );
        assert_eq!(
            detect(None, br#"{"schemaVersion":2,"layers":[]}"#),
            OCI_MANIFEST
        );
        assert!(is_schema1(DOCKER_SCHEMA1));
        assert!(is_index(DOCKER_MANIFEST_LIST) && !is_index(OCI_MANIFEST));
    }
}
