//! The media types berth knows (Docker schema 2 and OCI), and what kind of
//! document each names.

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema 1 (unsigned), deprecated: recognised only to be refused.
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// Docker schema 1 (signed), deprecated: recognised only to be refused.
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_FOREIGN_LAYER_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const OCI_LAYER_NONDISTRIBUTABLE: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
pub const OCI_LAYER_NONDISTRIBUTABLE_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// The manifest and index types, in the order a manifest request asks for
/// them (schema 1 is never asked for).
pub const ACCEPT: &[&str] = &[
    OCI_INDEX,
    OCI_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST,
];

/// Whether `media_type` names a single-image manifest.
pub fn is_manifest(media_type: &str) -> bool {
    matches!(media_type, DOCKER_MANIFEST | OCI_MANIFEST)
}

/// Whether `media_type` names an index or manifest list.
pub fn is_index(media_type: &str) -> bool {
    matches!(media_type, DOCKER_MANIFEST_LIST | OCI_INDEX)
}

pub fn is_manifest_or_index(media_type: &str) -> bool {
    is_manifest(media_type) || is_index(media_type)
}

/// Whether `media_type` is Docker schema 1, which berth refuses as docker 20+ does.
pub fn is_schema1(media_type: &str) -> bool {
    matches!(media_type, DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert!(is_manifest(OCI_MANIFEST) && is_manifest(DOCKER_MANIFEST));
        assert!(is_index(DOCKER_MANIFEST_LIST) && !is_index(OCI_MANIFEST));
        assert!(is_schema1(DOCKER_SCHEMA1_SIGNED) && !is_manifest_or_index(DOCKER_SCHEMA1));
        assert!(ACCEPT.iter().all(|m| is_manifest_or_index(m)));
    }
}
