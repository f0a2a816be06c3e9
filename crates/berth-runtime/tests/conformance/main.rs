//! Conformance suite for runc-compatible runtimes: every test runs once against berth-runtime
//! and once against runc (`BERTH_TEST_RUNTIMES`, default `berth,runc`), so the tests themselves
//! are checked against the reference implementation. Needs root.
//!
//! Run: `cargo nextest run -p berth-runtime --test conformance` (add `BERTH_TEST_RUNTIMES=runc`
//! to check the suite itself against runc only).
//!
//! Modules: `lifecycle` (verbs and states), `process` (what the container process gets),
//! `filesystem` (mounts, devices, masking, escapes), `namespaces`, `hooks`, `seccomp`, `errors`
//! (invalid input leaves nothing behind), `cgroups`, `resources` (limits measured on a
//! workload: OOM, quota, freezer, update, stats), `terminal` (ptys and console sockets).

#[macro_use]
mod common;

mod cgroups;
mod errors;
mod filesystem;
mod hooks;
mod lifecycle;
mod namespaces;
mod process;
mod resources;
mod rootless;
mod seccomp;
mod terminal;
