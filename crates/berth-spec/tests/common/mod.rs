//! What the dockerd comparison and the golden files share: making two specs comparable, and
//! listing where they differ.

// Each test binary uses part of this module.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

/// Makes two specs comparable: capabilities as sorted sets, `--tmpfs` mounts of one depth in
/// order of destination, seccomp as its default action,
/// architectures, the names per action of its unconditional rules and the set of its rules
/// with arguments; dockerd's hooks removed.
pub fn normalize(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("hooks");
    }
    if let Some(caps) = v
        .pointer_mut("/process/capabilities")
        .and_then(Value::as_object_mut)
    {
        for set in caps.values_mut() {
            if let Some(a) = set.as_array_mut() {
                a.sort_by_key(|x| x.as_str().unwrap_or_default().to_owned());
            }
        }
    }
    // dockerd adds `--tmpfs` mounts in Go's map order, which is random: tmpfs mounts of the
    // same depth next to each other are put in order of destination (berth's order).
    if let Some(mounts) = v.pointer_mut("/mounts").and_then(Value::as_array_mut) {
        let depth = |m: &Value| {
            m["destination"]
                .as_str()
                .unwrap_or_default()
                .matches('/')
                .count()
        };
        let is_tmpfs = |m: &Value| m["source"] == "tmpfs" && m["destination"] != "/dev";
        let mut i = 0;
        while i < mounts.len() {
            let mut j = i;
            while j < mounts.len()
                && is_tmpfs(&mounts[j])
                && is_tmpfs(&mounts[i])
                && depth(&mounts[j]) == depth(&mounts[i])
            {
                j += 1;
            }
            if j > i + 1 {
                mounts[i..j]
                    .sort_by_key(|m| m["destination"].as_str().unwrap_or_default().to_owned());
            }
            i = j.max(i + 1);
        }
    }
    if let Some(seccomp) = v.pointer_mut("/linux/seccomp") {
        let mut by_action: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut with_args: BTreeSet<String> = BTreeSet::new();
        for rule in seccomp["syscalls"].as_array().into_iter().flatten() {
            let action = format!(
                "{}/{}",
                rule["action"].as_str().unwrap_or_default(),
                rule["errnoRet"]
            );
            if rule["args"].as_array().is_some_and(|a| !a.is_empty()) {
                with_args.insert(rule.to_string());
            } else {
                for n in rule["names"].as_array().into_iter().flatten() {
                    by_action
                        .entry(action.clone())
                        .or_default()
                        .insert(n.as_str().unwrap_or_default().to_owned());
                }
            }
        }
        *seccomp = json!({
            "defaultAction": seccomp["defaultAction"],
            "defaultErrnoRet": seccomp["defaultErrnoRet"],
            "architectures": seccomp["architectures"],
            // One sorted, space-separated line per action: small golden files.
            "names by action": by_action
                .into_iter()
                .map(|(action, names)| (action, names.into_iter().collect::<Vec<_>>().join(" ")))
                .collect::<BTreeMap<_, _>>(),
            "rules with args": with_args,
        });
    }
    v
}

/// Every path where `a` and `b` differ.
pub fn diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                diff(
                    &format!("{path}/{k}"),
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        _ if a != b => out.push(format!("{path}:\n    dockerd: {a}\n    berth:   {b}")),
        _ => {}
    }
}

/// One golden case: the inputs berth-spec got in a comparison with dockerd, and dockerd's
/// spec (normalised), so that `golden.rs` checks the translation without root or dockerd.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Golden {
    pub id: String,
    pub config: berth_api_types::containers::ContainerConfig,
    pub host_config: berth_api_types::containers::HostConfig,
    pub rootfs: String,
    pub hosts: String,
    pub hostname: String,
    pub resolv_conf: String,
    pub shm: Option<String>,
    pub joined_network: Option<String>,
    pub joined_pid: Option<String>,
    pub joined_ipc: Option<String>,
    pub cgroup_v2: bool,
    pub cgroup_parent: String,
    pub ping_group_range: bool,
    pub ip_unprivileged_port_start: bool,
    pub init_binary: Option<String>,
    pub host_hostname: String,
    pub passwd: Option<String>,
    pub group: Option<String>,
    /// dockerd's spec, normalised.
    pub spec: Value,
}
