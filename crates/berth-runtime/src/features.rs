//! `features`: what this runtime supports, in the runtime spec's
//! features.json shape (as `runc features` prints it).

use serde_json::{json, Value};

pub fn features() -> Value {
    let caps: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    let mut caps = caps;
    caps.sort_by_key(|c| {
        c.parse::<caps::Capability>()
            .map(|c| c.index())
            .unwrap_or(u8::MAX)
    });
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": berth_container::state::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": [
            "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "loud", "mand",
            "noatime", "nodev", "nodiratime", "noexec", "nomand", "norelatime", "nostrictatime", "nosuid",
            "private", "rbind", "rdev", "rdiratime", "relatime", "remount", "rexec", "rnodev", "rnodiratime",
            "rnoexec", "rnosuid", "rnosymfollow", "ro", "rprivate", "rro", "rrw", "rshared", "rslave",
            "rsuid", "rsymfollow", "runbindable", "rw", "shared", "silent", "slave", "strictatime", "suid",
            "sync", "unbindable"
        ],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false}
        },
        "annotations": {
            "org.berth.runtime.version": env!("CARGO_PKG_VERSION")
        }
    })
}
