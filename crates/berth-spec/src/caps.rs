//! Capabilities: Docker's default 14, `CapAdd`/`CapDrop` (names with or without `CAP_`, any
//! case, and `ALL`), everything for `--privileged`.

use oci_spec::runtime::Capability;

use crate::error::SpecError;

/// Docker's default capabilities, in dockerd's order.
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability dockerd 20.10 knows, in kernel order. It stops at `CAP_AUDIT_READ`: 20.10
/// leaves out `CAP_PERFMON`, `CAP_BPF` and `CAP_CHECKPOINT_RESTORE` (the runc it shipped with
/// did not know them), so `--privileged` and `--cap-add ALL` do not grant them, and naming
/// them is an error, as with dockerd.
pub const ALL_CAPABILITIES: [&str; 38] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
];

const ALL: &str = "ALL";

/// Upper-cases and prefixes `CAP_`; keeps `ALL`; refuses names dockerd does not know.
fn normalize(field: &'static str, names: &[String]) -> Result<Vec<String>, SpecError> {
    names
        .iter()
        .map(|n| {
            let up = n.to_ascii_uppercase();
            if up == ALL {
                return Ok(up);
            }
            let cap = if up.starts_with("CAP_") {
                up
            } else {
                format!("CAP_{up}")
            };
            if ALL_CAPABILITIES.contains(&cap.as_str()) {
                Ok(cap)
            } else {
                Err(SpecError::invalid(
                    field,
                    format!("unknown capability: {cap:?}"),
                ))
            }
        })
        .collect()
}

/// The container's capability names, in dockerd's order.
pub(crate) fn capabilities(
    add: &[String],
    drop: &[String],
    privileged: bool,
) -> Result<Vec<String>, SpecError> {
    let owned = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    if privileged {
        return Ok(owned(&ALL_CAPABILITIES));
    }
    if add.is_empty() && drop.is_empty() {
        return Ok(owned(&DEFAULT_CAPABILITIES));
    }
    let drop = normalize("HostConfig.CapDrop", drop)?;
    let add = normalize("HostConfig.CapAdd", add)?;
    let has = |list: &[String], c: &str| list.iter().any(|x| x == c);
    Ok(if has(&add, ALL) {
        ALL_CAPABILITIES
            .iter()
            .filter(|c| !has(&drop, c))
            .map(|c| (*c).to_owned())
            .collect()
    } else if has(&drop, ALL) {
        add
    } else {
        let mut caps: Vec<String> = DEFAULT_CAPABILITIES
            .iter()
            .filter(|c| !has(&drop, c))
            .map(|c| (*c).to_owned())
            .collect();
        caps.extend(add);
        caps
    })
}

/// The names as oci-spec's capabilities.
pub(crate) fn to_oci(names: &[String]) -> Result<oci_spec::runtime::Capabilities, SpecError> {
    names
        .iter()
        .map(|n| {
            let bare = n.strip_prefix("CAP_").unwrap_or(n);
            bare.parse::<Capability>().map_err(|_| {
                SpecError::invalid("HostConfig.CapAdd", format!("unknown capability: {n:?}"))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn defaults_add_drop() {
        assert_eq!(capabilities(&[], &[], false).unwrap(), DEFAULT_CAPABILITIES);
        let caps = capabilities(
            &s(&["net_admin", "CAP_SYS_TIME"]),
            &s(&["chown", "Kill"]),
            false,
        )
        .unwrap();
        assert_eq!(caps.len(), 14);
        assert!(!caps.iter().any(|c| c == "CAP_CHOWN" || c == "CAP_KILL"));
        assert_eq!(caps[12..], ["CAP_NET_ADMIN", "CAP_SYS_TIME"]);
    }

    #[test]
    fn all_and_privileged() {
        assert_eq!(capabilities(&[], &[], true).unwrap(), ALL_CAPABILITIES);
        let caps = capabilities(&s(&["all"]), &s(&["SYS_ADMIN"]), false).unwrap();
        assert_eq!(caps.len(), 37);
        assert!(!caps.iter().any(|c| c == "CAP_SYS_ADMIN"));
        assert_eq!(
            capabilities(&s(&["CHOWN"]), &s(&["ALL"]), false).unwrap(),
            ["CAP_CHOWN"]
        );
    }

    #[test]
    fn unknown_names_are_refused() {
        let err = capabilities(&s(&["FLY"]), &[], false).unwrap_err();
        assert!(err.to_string().contains("CAP_FLY"), "{err}");
        assert!(capabilities(&s(&["BPF"]), &[], false).is_err());
        assert_eq!(to_oci(&s(&ALL_CAPABILITIES)).unwrap().len(), 38);
    }
}
