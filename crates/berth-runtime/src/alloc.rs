//! The allocator of the static musl release build.
//!
//! musl's malloc hands small groups of memory back to the kernel as soon as they are empty,
//! so one `run` made ~100 mmap/munmap pairs and their page faults. berth-runtime lives for
//! milliseconds and allocates little: Rust's allocations go to talc, over anonymous memory
//! mapped in steps of at least 1 MiB and never unmapped (freed blocks are reused). C code
//! (libseccomp) keeps musl's malloc.
//!
//! The runtime is single-threaded when it forks (see berth-container's spawn), so the lock
//! is never held across a fork.

use std::alloc::Layout;

use talc::{OomHandler, Span, Talc, Talck};

/// The least memory mapped at a time.
const STEP: usize = 1 << 20;

/// Maps more memory for talc when it runs out.
#[derive(Debug)]
pub struct MapOnOom;

impl OomHandler for MapOnOom {
    fn handle_oom(talc: &mut Talc<Self>, layout: Layout) -> Result<(), ()> {
        // Room for the block, its alignment and talc's bookkeeping.
        let want = layout
            .size()
            .checked_add(layout.align())
            .and_then(|n| n.checked_add(4096))
            .ok_or(())?;
        let size = want.div_ceil(STEP).checked_mul(STEP).ok_or(())?;
        // SAFETY: a new private anonymous mapping, at an address of the kernel's choosing; it
        // is never unmapped and nothing else refers to it.
        let base = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                size,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::PRIVATE,
            )
        }
        .map_err(|_| ())?;
        // SAFETY: the span is readable and writable memory that only talc will use from now
        // on, and it does not overlap any span talc holds (the kernel returned it fresh).
        unsafe { talc.claim(Span::from_base_size(base.cast::<u8>(), size)) }.map(|_| ())
    }
}

/// The global allocator (musl builds only).
pub type Allocator = Talck<spin::Mutex<()>, MapOnOom>;

/// A new allocator holding no memory yet.
pub const fn new() -> Allocator {
    Talc::new(MapOnOom).lock()
}
