//! Keeping freed memory in the process instead of handing it back to the kernel on every step.
//!
//! A CPU training step allocates and frees the same few multi-megabyte buffers (activations,
//! gradients, im2col matrices) again and again. glibc's `malloc` serves blocks above its mmap
//! threshold (adaptive, from 128 KiB) with fresh `mmap`s and unmaps them on `free`, and trims the
//! heap top above its trim threshold; every such block then costs a page fault and a kernel page
//! clear per 4 KiB on the next step. Measured on the 2-core machine (seed CNN, flex, fast path,
//! batch 32, 5 interleaved runs): ~3,000 images/s with glibc's defaults against ~4,100 with
//! the thresholds below — the same effect `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=…`
//! has, and what PyTorch's and TensorFlow's caching allocators do for themselves.
//!
//! Who calls it: a process-wide setting is the process's owner's decision, so only binaries
//! do — `mnist-cnn` when its fast kernels run (fast path on, flex), the bench for every model
//! unless `--malloc-defaults`, the `step_phases` example unless `--malloc-defaults` — and never a
//! library function.

/// Raise glibc's mmap threshold to its maximum (32 MiB; this also stops its adaptation) and its
/// trim threshold to 1 GiB, so that freed activation-sized blocks are reused instead of being
/// unmapped. Returns whether both settings took (false on other C libraries: nothing is done).
/// The cost: the process keeps up to that much freed memory for reuse (its RSS does not shrink
/// after a peak).
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets allocator parameters (it takes the allocator's own locks);
        // any value is accepted or refused with a return of 0.
        #[allow(unsafe_code)]
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20) == 1 && libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
