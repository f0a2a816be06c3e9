//! Capability sets of the calling thread: bounding-set drops, ambient raises
//! and `capset(2)` with 64-bit masks (bit N = capability N).

use std::io;

/// Removes capability `cap` from the bounding set (`PR_CAPBSET_DROP`).
pub fn drop_bounding(cap: u32) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let ret = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Raises `cap` in the ambient set (it must be permitted and inheritable).
pub fn raise_ambient(cap: u32) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let ret = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
            libc::c_ulong::from(cap),
            0,
            0,
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets `PR_SET_KEEPCAPS`, which keeps the permitted set across a uid change.
pub fn set_keep_caps(keep: bool) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let ret = unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, libc::c_ulong::from(keep), 0, 0, 0) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

fn split(mask: u64) -> (u32, u32) {
    ((mask & 0xffff_ffff) as u32, (mask >> 32) as u32)
}

/// Sets the effective, permitted and inheritable sets of the calling thread.
pub fn set_sets(effective: u64, permitted: u64, inheritable: u64) -> io::Result<()> {
    let (e0, e1) = split(effective);
    let (p0, p1) = split(permitted);
    let (i0, i1) = split(inheritable);
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: e0,
            permitted: p0,
            inheritable: i0,
        },
        CapData {
            effective: e1,
            permitted: p1,
            inheritable: i1,
        },
    ];
    // SAFETY: capset reads one header and, for version 3, two data structs;
    // both live on our stack for the duration of the call and match the
    // kernel's layout (__user_cap_header_struct / __user_cap_data_struct).
    let ret = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    crate::cvt(ret).map(|_| ())
}
