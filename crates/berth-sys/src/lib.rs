//! Documented wrappers around the raw Linux syscalls berth needs; every unsafe block of the runtime lives here.
