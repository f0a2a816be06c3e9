//! berth's cgroup layer: one interface over cgroup v1, v2 and hybrid hosts
//! (v1 controllers plus a cgroup2 hierarchy), detected at run time, with the
//! semantics of runc's cgroupfs driver.
//!
//! * [`Hierarchy::detect`] reads /proc/self/mountinfo and /proc/self/cgroup
//!   once (hierarchy.rs).
//! * [`CgroupPath`] reads `linux.cgroupsPath` as runc does: absolute from the
//!   hierarchy roots, relative (and empty, meaning the container id) below
//!   the runtime's own cgroup in each hierarchy; the systemd form is refused.
//! * [`Manager`] owns one container's cgroup directories, one per hierarchy
//!   (manager.rs): create, add processes, list them, signal them, destroy. It
//!   is serialisable, so a later runtime invocation rebuilds it from the
//!   container's state without detecting again.
//! * [`Manager::apply`] writes `linux.resources` (resources.rs; v2 device
//!   rules become an eBPF program, devices_v2.rs), [`Manager::freeze`] and
//!   friends pause (freezer.rs), [`Manager::stats`] reports usage in runc's
//!   `events --stats` shape (stats.rs), and [`JoinHandles`] let a child
//!   join cheaply by itself (join.rs).
//!
//! Everything is synchronous and single-threaded: the runtime calls it
//! around fork, from a single-threaded process.

mod devices_v2;
mod error;
mod freezer;
mod hierarchy;
mod join;
mod manager;
mod oom;
mod resources;
mod stats;
mod sub;

pub use error::{CgroupError, ErrorKind};
pub use freezer::FreezerState;
pub use hierarchy::{CgroupPath, Hierarchy, Mode};
pub use join::JoinHandles;
pub use manager::{HierarchyMount, Manager};
pub use oom::{OomEvent, OomWatch};
pub use stats::{
    Blkio, BlkioEntry, Cpu, CpuSet, CpuUsage, Hugetlb, Memory, MemoryEntry, MemoryEventCount, Pids,
    PsiData, PsiStats, Stats, Throttling,
};
pub use sub::SubCgroups;
