//! Spare network namespaces, made between runs: creating one costs milliseconds (every
//! per-namespace network subsystem initialises), so as root the worker prepares the next one
//! while idle and the sandbox joins it instead of creating its own. Each is used exactly once.

use std::fs::File;
use std::io::{Read, Write};
use std::sync::Mutex;

use super::sys::{self, CloneFlags, Forked};

/// The next fresh network namespace, if one is ready.
static SPARE: Mutex<Option<File>> = Mutex::new(None);

/// Take the spare namespace (the caller's sandbox will be its only user).
pub fn take() -> Option<File> {
    SPARE.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// Prepare a spare namespace if none is ready. Only root can later join one that belongs to
/// the initial user namespace; rootless sandboxes create their own.
pub fn refill() {
    if sys::effective_uid() != 0 {
        return;
    }
    let mut spare = SPARE.lock().unwrap_or_else(|e| e.into_inner());
    if spare.is_none() {
        *spare = create().ok();
    }
}

/// A child unshares a network namespace and holds it until we have opened it.
fn create() -> Result<File, sys::Errno> {
    let (mut ready_r, mut ready_w) = sys::pipe()?;
    let (mut hold_r, hold_w) = sys::pipe()?;
    let child = match sys::fork()? {
        Forked::Child => {
            drop((ready_r, hold_w));
            sys::child(|| {
                if sys::unshare(CloneFlags::CLONE_NEWNET).is_err() {
                    return 1;
                }
                let _ = ready_w.write_all(b"r");
                // Stay until the parent closes its end.
                let _ = hold_r.read(&mut [0u8; 1]);
                0
            })
        }
        Forked::Parent(pid) => pid,
    };
    drop((ready_w, hold_r));
    let mut byte = [0u8; 1];
    let opened = match ready_r.read(&mut byte) {
        Ok(1) => File::open(format!("/proc/{child}/ns/net")).map_err(|_| sys::Errno::EIO),
        _ => Err(sys::Errno::EPERM),
    };
    drop(hold_w);
    let _ = sys::wait(child);
    opened
}
