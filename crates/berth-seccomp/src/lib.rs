//! Compiles OCI seccomp profiles into BPF programs and installs them.
