//! [`Descriptor`]: what a manifest or index says about a blob it refers to
//! (OCI image spec, descriptor.md). Fields this crate does not know are kept
//! in `extra`, so a document re-serialised loses nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::digest::Digest;
use crate::platform::Platform;

/// A content descriptor: media type, digest and size of a blob, and what
/// else the document says about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Descriptor {
    /// A descriptor with only the required fields.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Self {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            urls: None,
            annotations: None,
            platform: None,
            artifact_type: None,
            extra: Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_unknown_fields() {
        let text = r#"{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0","size":32654,"platform":{"architecture":"amd64","os":"linux"},"vendor":{"x":1}}"#;
        let d: Descriptor = serde_json::from_str(text).unwrap();
        assert_eq!(d.size, 32654);
        assert_eq!(d.extra["vendor"]["x"], 1);
        let back: Value = serde_json::to_value(&d).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(text).unwrap());
        assert!(serde_json::from_str::<Descriptor>(
            r#"{"mediaType":"m","digest":"sha256:1","size":1}"#
        )
        .is_err());
    }
}
