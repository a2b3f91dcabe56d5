//! Reading a hostile tree through descriptors: every name is looked up in its parent's
//! descriptor without following a symlink, so nothing the tree's owner made (a symlink, a
//! rename mid-walk) leads a read outside it.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::fcntl::{openat, openat2, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode};

use super::SysResult;

/// What an entry is, as `fstatat(AT_SYMLINK_NOFOLLOW)` or `fstat` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// The `S_IFMT` bits.
    pub kind: u32,
    /// Permission bits (and setuid, setgid, sticky).
    pub mode: u32,
    pub rdev: u64,
    pub nlink: u64,
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: i64,
}

impl From<FileStat> for Stat {
    fn from(st: FileStat) -> Self {
        Stat {
            kind: st.st_mode & libc::S_IFMT,
            mode: st.st_mode & 0o7777,
            rdev: st.st_rdev,
            nlink: st.st_nlink,
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size.max(0) as u64,
            mtime: st.st_mtime,
        }
    }
}

/// `name` in `dir` itself (a symlink is not followed).
pub fn stat_at(dir: &impl AsFd, name: &str) -> SysResult<Stat> {
    fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).map(Stat::from)
}

pub fn stat_fd(fd: &impl AsFd) -> SysResult<Stat> {
    fstat(fd).map(Stat::from)
}

/// Open the directory `name` in `dir` for reading; a symlink there is refused (`ELOOP` or
/// `ENOTDIR`), never followed.
pub fn open_subdir(dir: &impl AsFd, name: &str) -> SysResult<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    openat(dir, name, flags, Mode::empty())
}

/// Open the file `rel` below `root` for reading: beneath it, through no symlink, on its file
/// system, without blocking (a FIFO put there meanwhile opens at once; the caller checks
/// what it opened with [`stat_fd`]).
pub fn open_file_beneath(root: &impl AsFd, rel: &str) -> SysResult<File> {
    let resolve = ResolveFlag::RESOLVE_BENEATH
        | ResolveFlag::RESOLVE_NO_SYMLINKS
        | ResolveFlag::RESOLVE_NO_MAGICLINKS
        | ResolveFlag::RESOLVE_NO_XDEV;
    let flags = OFlag::O_RDONLY
        | OFlag::O_NOFOLLOW
        | OFlag::O_NONBLOCK
        | OFlag::O_NOCTTY
        | OFlag::O_CLOEXEC;
    openat2(root, rel, OpenHow::new().flags(flags).resolve(resolve)).map(File::from)
}

/// The names in the directory `dir` (not `.` and `..`), as the kernel spells them.
pub fn list_dir(dir: &impl AsFd) -> SysResult<Vec<OsString>> {
    use std::os::unix::ffi::OsStringExt;
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let mut d = nix::dir::Dir::openat(dir, ".", flags, Mode::empty())?;
    let mut names = Vec::new();
    for entry in d.iter() {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            names.push(OsString::from_vec(name));
        }
    }
    Ok(names)
}

/// The target of the symlink `name` in `dir`.
pub fn read_link_at(dir: &impl AsFd, name: &str) -> SysResult<OsString> {
    nix::fcntl::readlinkat(dir, name)
}

/// A small extended attribute of the file behind `fd` (opened for reading); `None` when absent.
pub fn get_xattr_fd(fd: &impl AsFd, name: &str) -> Option<Vec<u8>> {
    let n = CString::new(name).ok()?;
    let mut buf = [0u8; 64];
    // SAFETY: n is NUL-terminated; buf is writable for buf.len() bytes; the fd is open.
    let rc = unsafe {
        libc::fgetxattr(
            fd.as_fd().as_raw_fd(),
            n.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (rc >= 0).then(|| buf[..rc as usize].to_vec())
}
