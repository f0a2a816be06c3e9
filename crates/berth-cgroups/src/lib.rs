//! berth's cgroup layer: one interface over cgroup v1, v2 and hybrid hosts
//! (v1 controllers plus a cgroup2 hierarchy), detected at run time.
//!
//! [`Hierarchy::detect`] reads /proc/self/mountinfo and /proc/self/cgroup once;
//! [`Manager`] owns one container's cgroup directories (one per hierarchy) and
//! is serialisable, so a later runtime invocation rebuilds it from the
//! container's state without detecting again.

mod devices_v2;
mod error;
mod freezer;
mod hierarchy;
mod join;
mod manager;
mod resources;
mod stats;

pub use error::{CgroupError, ErrorKind};
pub use freezer::FreezerState;
pub use hierarchy::{CgroupPath, Hierarchy, Mode};
pub use join::JoinHandles;
pub use manager::{HierarchyMount, Manager};
pub use stats::{
    Blkio, BlkioEntry, Cpu, CpuSet, CpuUsage, Hugetlb, Memory, MemoryEntry, MemoryEventCount, Pids,
    PsiData, PsiStats, Stats, Throttling,
};
