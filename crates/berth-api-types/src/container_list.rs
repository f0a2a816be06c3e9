//! The answer of `GET /containers/json` (`docker ps`): one `ContainerSummary` per container,
//! as dockerd v1.41 writes it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::containers::EndpointSettings;

/// One container in a list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerSummary {
    #[serde(rename = "Id")]
    pub id: String,
    /// `/name`, and `/other/alias` for links.
    pub names: Vec<String>,
    /// The image as the user named it (or its id).
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    /// The command line, joined with spaces.
    pub command: String,
    /// Unix seconds.
    pub created: i64,
    pub ports: Vec<PortSummary>,
    /// Bytes written in the container's layer (with `size=1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    /// Bytes of the whole root filesystem (with `size=1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
    pub labels: BTreeMap<String, String>,
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited` or `dead`.
    pub state: String,
    /// `Up 2 seconds`, `Exited (0) 3 seconds ago`...
    pub status: String,
    pub host_config: SummaryHostConfig,
    pub network_settings: SummaryNetworkSettings,
    pub mounts: Vec<MountPoint>,
}

/// A port of a container, published or not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortSummary {
    #[serde(rename = "IP", skip_serializing_if = "String::is_empty")]
    pub ip: String,
    pub private_port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_port: Option<u16>,
    /// `tcp`, `udp` or `sctp`.
    #[serde(rename = "Type")]
    pub kind: String,
}

/// The part of the host config a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SummaryHostConfig {
    pub network_mode: String,
}

/// The networks a container is on, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SummaryNetworkSettings {
    pub networks: BTreeMap<String, EndpointSettings>,
}

/// A mount of a container, as lists and inspect show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountPoint {
    /// `bind`, `volume`, `tmpfs`...
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub source: String,
    pub destination: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub driver: String,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerd_list_entry() {
        let c: ContainerSummary = serde_json::from_str(
            r#"{"Id":"abc","Names":["/web"],"Image":"busybox","ImageID":"sha256:1",
            "Command":"sh","Created":5,"Ports":[{"PrivatePort":80,"Type":"tcp"}],
            "Labels":{"a":"b"},"State":"running","Status":"Up 1 second",
            "HostConfig":{"NetworkMode":"none"},"NetworkSettings":{"Networks":{"none":{
            "IPAMConfig":null,"Links":null,"Aliases":null,"NetworkID":"n","EndpointID":"",
            "Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"",
            "GlobalIPv6PrefixLen":0,"MacAddress":"","DriverOpts":null}}},"Mounts":[]}"#,
        )
        .unwrap();
        assert_eq!(c.names, ["/web"]);
        assert_eq!(c.ports[0].public_port, None);
        assert_eq!(c.size_rw, None);
        assert_eq!(c.network_settings.networks["none"].network_id, "n");
        let v = serde_json::to_value(&c).unwrap();
        assert!(v.get("SizeRw").is_none() && v["Ports"][0].get("IP").is_none());
    }
}
