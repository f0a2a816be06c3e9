//! berth's cgroup layer: one interface over cgroup v1, v2 and hybrid hosts.
