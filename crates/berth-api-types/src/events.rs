//! The lines of `GET /events` (`docker events`): one JSON `EventMessage` per event.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One event, as dockerd v1.41 writes it (the legacy `status`, `id` and `from` fields of
/// container events included).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventMessage {
    /// Legacy: the action of a container or image event.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// Legacy: the actor's id.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Legacy: the image of a container event.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub from: String,
    /// `container`, `image`, `network`, `volume`, `daemon`...
    #[serde(rename = "Type")]
    pub kind: String,
    /// `create`, `start`, `die`, `exec_start: sh`...
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: EventActor,
    /// `local` or `swarm`.
    pub scope: String,
    /// Unix seconds.
    pub time: i64,
    /// Unix nanoseconds.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

/// What an event is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EventActor {
    #[serde(rename = "ID")]
    pub id: String,
    /// `name`, `image`, `exitCode`, labels...
    pub attributes: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerd_container_event() {
        let line = r#"{"status":"start","id":"abc","from":"busybox","Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"image":"busybox","name":"x"}},"scope":"local","time":1,"timeNano":1000000005}"#;
        let e: EventMessage = serde_json::from_str(line).unwrap();
        assert_eq!(e.actor.attributes["name"], "x");
        assert_eq!(e.time_nano, 1_000_000_005);
        assert_eq!(serde_json::to_string(&e).unwrap(), line);
    }
}
