//! Creating entries through descriptors, never outside a base directory: every path below the
//! base is resolved with `openat2` (beneath it, through no symlink), one component at a time.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};

use super::{Errno, SysResult};

/// How a path below a base directory may resolve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolve {
    /// Beneath the base, through no symlink, on the base's file system.
    Beneath,
    /// Symlinks resolved as if the base were `/` (a chroot for one lookup), on the base's
    /// file system (not into `/proc` or `/dev`).
    InRoot,
}

fn open_dir_at(base: &OwnedFd, rel: &str, how: Resolve) -> SysResult<OwnedFd> {
    use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
    let resolve = match how {
        Resolve::Beneath => {
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_SYMLINKS
                | ResolveFlag::RESOLVE_NO_MAGICLINKS
                | ResolveFlag::RESOLVE_NO_XDEV
        }
        Resolve::InRoot => {
            ResolveFlag::RESOLVE_IN_ROOT
                | ResolveFlag::RESOLVE_NO_MAGICLINKS
                | ResolveFlag::RESOLVE_NO_XDEV
        }
    };
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let rel = if rel.is_empty() { "." } else { rel };
    openat2(base, rel, OpenHow::new().flags(flags).resolve(resolve))
}

/// `mkdir -p` of `rel` below `base` (mode 755 for what it creates); the last directory, open.
pub fn mkdir_all_at(base: &OwnedFd, rel: &str, how: Resolve) -> SysResult<OwnedFd> {
    use nix::sys::stat::{mkdirat, Mode};
    let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
    let mut dir = open_dir_at(base, "", how)?;
    for k in 0..parts.len() {
        let prefix = parts[..=k].join("/");
        dir = match open_dir_at(base, &prefix, how) {
            Err(Errno::ENOENT) => {
                match mkdirat(&dir, parts[k], Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(e),
                }
                open_dir_at(base, &prefix, how)?
            }
            other => other?,
        };
    }
    Ok(dir)
}

/// Create (or truncate) `name` in `dir` without following a symlink there, write `bytes`, set
/// `mode` exactly.
pub fn write_file_at(dir: &OwnedFd, name: &str, bytes: &[u8], mode: u32) -> SysResult<()> {
    use nix::fcntl::{openat, OFlag};
    use nix::sys::stat::Mode;
    use std::io::Write;
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_NOFOLLOW;
    let fd = openat(
        dir,
        name,
        flags | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )?;
    chmod_fd(&fd, mode)?;
    File::from(fd)
        .write_all(bytes)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
}

pub fn chmod_fd(fd: &OwnedFd, mode: u32) -> SysResult<()> {
    nix::sys::stat::fchmod(fd, nix::sys::stat::Mode::from_bits_truncate(mode))
}

pub fn symlink_at(target: &str, dir: &OwnedFd, name: &str) -> SysResult<()> {
    nix::unistd::symlinkat(target, dir, name)
}

/// An overlayfs whiteout (char 0:0) named `name` in `dir`.
pub fn whiteout_at(dir: &OwnedFd, name: &str) -> SysResult<()> {
    use nix::sys::stat::{makedev, mknodat, Mode, SFlag};
    mknodat(dir, name, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))
}

/// Set an extended attribute of the file behind `fd`.
pub fn set_xattr_fd(fd: &OwnedFd, name: &str, value: &[u8]) -> SysResult<()> {
    let n = CString::new(name).map_err(|_| Errno::EINVAL)?;
    // SAFETY: n is NUL-terminated and lives across the call; value is a valid slice.
    let rc = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    Errno::result(rc).map(drop)
}

// ---- the image store: unpacking hostile layers beneath a directory, locking ----

/// Open the directory `rel` below `base` (beneath it, through no symlink).
pub fn open_dir_beneath(base: &OwnedFd, rel: &str) -> SysResult<OwnedFd> {
    open_dir_at(base, rel, Resolve::Beneath)
}

/// Create the new regular file `name` in `dir` (never through a symlink, never an existing
/// one), with `mode`, open for writing.
pub fn create_file_at(dir: &OwnedFd, name: &str, mode: u32) -> SysResult<File> {
    use nix::fcntl::{openat, OFlag};
    use nix::sys::stat::Mode;
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW;
    let fd = openat(
        dir,
        name,
        flags | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(mode),
    )?;
    Ok(File::from(fd))
}

/// `mkdirat`.
pub fn mkdir_at(dir: &OwnedFd, name: &str, mode: u32) -> SysResult<()> {
    nix::sys::stat::mkdirat(dir, name, nix::sys::stat::Mode::from_bits_truncate(mode))
}

/// What `name` in `dir` is (not following a symlink): `None` when absent.
pub fn kind_at(dir: &OwnedFd, name: &str) -> SysResult<Option<u32>> {
    use nix::fcntl::AtFlags;
    match nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st.st_mode & libc::S_IFMT)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Remove the non-directory `name` in `dir`.
pub fn unlink_at(dir: &OwnedFd, name: &str) -> SysResult<()> {
    nix::unistd::unlinkat(dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir)
}

/// A hard link `new_dir/new_name` to `old_dir/old_name` (a symlink there is linked, not
/// followed).
pub fn hardlink_at(
    old_dir: &OwnedFd,
    old_name: &str,
    new_dir: &OwnedFd,
    new_name: &str,
) -> SysResult<()> {
    nix::unistd::linkat(
        old_dir,
        old_name,
        new_dir,
        new_name,
        nix::fcntl::AtFlags::empty(),
    )
}

/// `fchownat(dir, name, AT_SYMLINK_NOFOLLOW)`: owner of an entry, a symlink itself included.
pub fn chown_at(dir: &OwnedFd, name: &str, uid: u32, gid: u32) -> SysResult<()> {
    nix::unistd::fchownat(
        dir,
        name,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
}

/// Flush the whole file system holding `fd` (one call instead of an fsync per unpacked file).
pub fn syncfs(fd: &OwnedFd) -> SysResult<()> {
    nix::unistd::syncfs(fd)
}

/// An exclusive `flock` on a file, held until the returned guard is dropped; with `wait`
/// false, `Err(EWOULDBLOCK)` when another process holds it.
pub fn lock_exclusive(file: File, wait: bool) -> SysResult<nix::fcntl::Flock<File>> {
    use nix::fcntl::{Flock, FlockArg};
    let arg = if wait {
        FlockArg::LockExclusive
    } else {
        FlockArg::LockExclusiveNonblock
    };
    Flock::lock(file, arg).map_err(|(_, e)| e)
}
