//! The image config (OCI `application/vnd.oci.image.config.v1+json` and
//! Docker's `application/vnd.docker.container.image.v1+json`, one shape).
//!
//! The fields berth acts on are typed; everything else (Docker's
//! `container_config`, `docker_version`, `container`, `parent`, `comment`,
//! unknown keys inside `config`) is kept in `extra` maps, so that
//! serialising a parsed config shows everything `docker inspect` would.
//! The image id is the digest of the config blob as stored, never of a
//! re-serialisation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::digest::Digest;
use crate::error::ManifestError;
use crate::platform::Platform;

/// An image config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// RFC 3339, as written by the builder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// What a container of this image runs by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<RunConfig>,
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The defaults of a container (`config` in the image config); Docker's
/// field names.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The uncompressed layer digests, bottom first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

/// One build step.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ImageConfig {
    /// Parses a config blob; `what` names it in errors.
    pub fn parse(data: &[u8], what: &str) -> Result<Self, ManifestError> {
        let c: ImageConfig =
            serde_json::from_slice(data).map_err(|source| ManifestError::Json {
                what: what.into(),
                source,
            })?;
        Ok(c)
    }

    /// The platform the image is built for.
    pub fn platform(&self) -> Platform {
        Platform {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            os_version: self.os_version.clone(),
            os_features: self.os_features.clone(),
            variant: self.variant.clone(),
            features: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A Docker config as `docker build` writes it (abridged).
    const DOCKER_CONFIG: &str = r##"{
      "architecture": "amd64",
      "config": {
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false,
        "Tty": false, "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": ["sh"], "Image": "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270",
        "Volumes": null, "WorkingDir": "", "Entrypoint": null, "OnBuild": null,
        "Labels": {"maintainer": "x"}
      },
      "container": "6d5fd5f6cd01fd47a6d24bb9b7ba0e8b8daa8a8d2d06e7e7e7e7e7e7e7e7e7e7",
      "container_config": { "Hostname": "6d5fd5f6cd01", "Cmd": ["/bin/sh", "-c", "#(nop) ", "CMD [\"sh\"]"] },
      "created": "2023-07-18T23:19:33.655005962Z",
      "docker_version": "20.10.23",
      "history": [
        {"created": "2023-07-18T23:19:33.538571854Z", "created_by": "/bin/sh -c #(nop) ADD file:7e9002edaafd4e4579b65c8f0aaabde1aeb7fd3f8d95579f7d4d4e7e7e7e7e7e in / "},
        {"created": "2023-07-18T23:19:33.655005962Z", "created_by": "/bin/sh -c #(nop)  CMD [\"sh\"]", "empty_layer": true}
      ],
      "os": "linux",
      "rootfs": {"type": "layers", "diff_ids": ["sha256:3d24ee258efc3bfe4066a1a9fb83febf6dc0b1548dfe896161533668281c9f4f"]}
    }"##;

    #[test]
    fn docker_config_round_trips() {
        let c = ImageConfig::parse(DOCKER_CONFIG.as_bytes(), "cfg").unwrap();
        assert_eq!(c.platform().to_string(), "linux/amd64");
        assert_eq!(c.rootfs.diff_ids.len(), 1);
        assert_eq!(c.history.len(), 2);
        assert_eq!(c.history[1].empty_layer, Some(true));
        let run = c.config.as_ref().unwrap();
        assert_eq!(run.cmd.as_deref(), Some(&["sh".to_owned()][..]));
        assert_eq!(
            run.labels
                .as_ref()
                .and_then(|l| l.get("maintainer"))
                .map(String::as_str),
            Some("x")
        );
        assert_eq!(
            run.extra.get("Hostname"),
            Some(&Value::String(String::new()))
        );
        assert_eq!(
            c.extra.get("docker_version"),
            Some(&Value::String("20.10.23".into()))
        );
        assert!(c.extra.contains_key("container_config"));
        // Every key survives; only JSON nulls of typed fields are dropped.
        let back = serde_json::to_value(&c).unwrap();
        let mut orig: Value = serde_json::from_str(DOCKER_CONFIG).unwrap();
        if let Some(cfg) = orig.get_mut("config").and_then(Value::as_object_mut) {
            cfg.retain(|_, v| !v.is_null());
        }
        assert_eq!(back, orig);
    }

    #[test]
    fn refuses_bad_configs() {
        assert!(
            ImageConfig::parse(b"{}", "c").is_err(),
            "rootfs is required"
        );
        let bad = DOCKER_CONFIG.replace("sha256:3d24ee", "sha256:3d24");
        let e = ImageConfig::parse(bad.as_bytes(), "c").unwrap_err();
        assert!(e.to_string().contains("digest"), "{e}");
    }
}
