//! Capability sets from the spec as 64-bit masks, and applying them in the
//! init: bounding set first, then (after the uid change) E/P/I and ambient.

use std::str::FromStr;

use oci_spec::runtime::{Capabilities, LinuxCapabilities};

use crate::error::{ContainerError, Result};

/// The five sets as masks (bit N = capability N).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapMasks {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

fn mask(set: &Option<Capabilities>) -> Result<u64> {
    let mut m = 0u64;
    for cap in set.iter().flatten() {
        let name = format!("CAP_{cap}");
        let c = caps::Capability::from_str(&name)
            .map_err(|_| ContainerError::InvalidConfig(format!("unknown capability {name}")))?;
        m |= 1u64 << c.index();
    }
    Ok(m)
}

impl CapMasks {
    pub fn from_spec(c: &LinuxCapabilities) -> Result<CapMasks> {
        Ok(CapMasks {
            bounding: mask(c.bounding())?,
            effective: mask(c.effective())?,
            permitted: mask(c.permitted())?,
            inheritable: mask(c.inheritable())?,
            ambient: mask(c.ambient())?,
        })
    }

    /// Keeps only capabilities the running kernel knows (up to `last_cap`), as
    /// runc does with names newer than the kernel.
    pub fn limit_to(self, last_cap: u32) -> CapMasks {
        let known = if last_cap >= 63 {
            u64::MAX
        } else {
            (1u64 << (last_cap + 1)) - 1
        };
        CapMasks {
            bounding: self.bounding & known,
            effective: self.effective & known,
            permitted: self.permitted & known,
            inheritable: self.inheritable & known,
            ambient: self.ambient & known,
        }
    }
}

/// The highest capability number the kernel knows.
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// Drops every capability not in `bounding` from the bounding set.
pub(crate) fn drop_bounding(bounding: u64, last_cap: u32) -> std::io::Result<()> {
    for cap in 0..=last_cap.min(63) {
        if bounding & (1u64 << cap) == 0 {
            berth_sys::caps::drop_bounding(cap)?;
        }
    }
    Ok(())
}

/// Sets E/P/I and raises the ambient capabilities.
pub(crate) fn apply(m: &CapMasks, last_cap: u32) -> std::io::Result<()> {
    berth_sys::caps::set_sets(m.effective, m.permitted, m.inheritable)?;
    for cap in 0..=last_cap.min(63) {
        if m.ambient & (1u64 << cap) != 0 {
            // Ambient needs the capability permitted and inheritable; runc
            // ignores the ones that are not, and so do we.
            let _ = berth_sys::caps::raise_ambient(cap);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{Capability, LinuxCapabilitiesBuilder};

    #[test]
    fn masks_from_names() {
        let set: Capabilities = [Capability::NetAdmin, Capability::Chown]
            .into_iter()
            .collect();
        let caps = LinuxCapabilitiesBuilder::default()
            .bounding(set.clone())
            .effective(set)
            .permitted(Capabilities::new())
            .build()
            .expect("caps");
        let m = CapMasks::from_spec(&caps).expect("masks");
        assert_eq!(m.bounding, (1 << 12) | 1);
        assert_eq!(m.effective, m.bounding);
        assert_eq!(m.permitted, 0);
        assert_eq!(m.limit_to(11).bounding, 1);
    }
}
