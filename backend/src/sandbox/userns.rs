//! A container's own user namespace, below the sandbox's: root in it is the sandbox's root
//! (`0 0 1`), but every mount it inherits is locked (it cannot be unmounted, nor its flags
//! dropped) and every shared mount turns into a slave of the host's (mount_namespaces(7):
//! a mount namespace owned by a less privileged user namespace), which is what a rootless
//! container sees.

use std::io::Write;
use std::os::fd::OwnedFd;

use super::sys::{self, CloneFlags, Errno, SysResult};

/// Unshare a user namespace and map root in it to root outside. The maps are written through
/// this process's own entry of the engine's proc: for that it is dumpable for the few system
/// calls it takes (nothing that could trace it can name it: programs live in pid namespaces
/// below, see [`super::pidns`]).
pub fn enter(engine_proc: &OwnedFd) -> SysResult<()> {
    sys::unshare(CloneFlags::CLONE_NEWUSER)?;
    sys::set_dumpable()?;
    let mapped = write(engine_proc, "self/setgroups", "deny")
        .and_then(|_| write(engine_proc, "self/uid_map", "0 0 1"))
        .and_then(|_| write(engine_proc, "self/gid_map", "0 0 1"));
    sys::set_undumpable()?;
    mapped
}

fn write(dir: &OwnedFd, rel: &str, text: &str) -> SysResult<()> {
    use nix::fcntl::{openat, OFlag};
    use nix::sys::stat::Mode;
    let fd = openat(dir, rel, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())?;
    let mut file = std::fs::File::from(fd);
    file.write_all(text.as_bytes())
        .map_err(|e| e.raw_os_error().map_or(Errno::EIO, Errno::from_raw))
}
