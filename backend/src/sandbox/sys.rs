//! The only door to the kernel: thin wrappers around every system call the sandbox makes,
//! so the rest of the engine is plain safe Rust.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub use nix::errno::Errno;
pub use nix::mount::{MntFlags, MsFlags};
pub use nix::sched::CloneFlags;
pub use nix::unistd::Pid;

/// The result of a system call: the errno when the kernel refused.
pub type SysResult<T> = Result<T, Errno>;

/// Which side of a fork we are on.
pub enum Forked {
    Child,
    Parent(Pid),
}

/// `fork()`.
pub fn fork() -> SysResult<Forked> {
    // SAFETY: every process of the engine that forks (worker, sandbox, lab init, actors) is
    // single-threaded, so the child cannot inherit a lock held by another thread.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => Ok(Forked::Child),
        nix::unistd::ForkResult::Parent { child } => Ok(Forked::Parent(child)),
    }
}

/// Run the body of a forked child; a panic ends the child instead of unwinding into the
/// parent's code that the child inherited.
pub fn child(body: impl FnOnce() -> i32) -> ! {
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(101);
    exit_now(code)
}

/// Leave the process at once, without running destructors or flushing stdio buffers that a
/// forked child shares with its parent.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(code) }
}

pub fn getpid() -> Pid {
    nix::unistd::getpid()
}

pub fn getppid() -> Pid {
    nix::unistd::getppid()
}

pub fn effective_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

pub fn effective_gid() -> u32 {
    nix::unistd::getegid().as_raw()
}

/// The kernel release, as `uname -r` prints it.
pub fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A pipe whose ends are closed on exec.
pub fn pipe() -> SysResult<(File, File)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    Ok((File::from(r), File::from(w)))
}

/// A connected pair of stream sockets, closed on exec.
pub fn socketpair() -> SysResult<(File, File)> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((File::from(a), File::from(b)))
}

/// Make `fd` the file descriptor number `target` (not closed on exec).
pub fn dup_onto(fd: RawFd, target: RawFd) -> SysResult<()> {
    // SAFETY: dup2 only manipulates the descriptor table; both numbers are plain integers.
    let rc = unsafe { libc::dup2(fd, target) };
    Errno::result(rc).map(drop)
}

/// Join the namespace behind `ns` (an open `/proc/<pid>/ns/<type>` file).
pub fn setns(ns: &impl std::os::fd::AsFd, kind: CloneFlags) -> SysResult<()> {
    nix::sched::setns(ns, kind)
}

pub fn unshare(flags: CloneFlags) -> SysResult<()> {
    nix::sched::unshare(flags)
}

pub fn mount(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> SysResult<()> {
    nix::mount::mount(source, target, fstype, flags, data)
}

pub fn umount(target: &Path, flags: MntFlags) -> SysResult<()> {
    nix::mount::umount2(target, flags)
}

pub fn pivot_root(new_root: &Path, put_old: &Path) -> SysResult<()> {
    nix::unistd::pivot_root(new_root, put_old)
}

pub fn chroot(dir: &Path) -> SysResult<()> {
    nix::unistd::chroot(dir)
}

pub fn chdir(dir: &Path) -> SysResult<()> {
    nix::unistd::chdir(dir)
}

pub fn sethostname(name: &str) -> SysResult<()> {
    nix::unistd::sethostname(name)
}

/// Drop every supplementary group and become `uid`/`gid` for real, effective and saved ids.
pub fn become_user(uid: u32, gid: u32) -> SysResult<()> {
    use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
    setgroups(&[])?;
    let g = Gid::from_raw(gid);
    setresgid(g, g, g)?;
    let u = Uid::from_raw(uid);
    setresuid(u, u, u)
}

/// Die with SIGKILL when the parent dies.
pub fn die_with_parent() -> SysResult<()> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
}

/// Keep `/proc/<pid>` of this process (and its forks) owned by its own uid, which a credential
/// change resets; the lab init reads containers' `/proc/<pid>/root` and `mountinfo`.
pub fn set_dumpable() -> SysResult<()> {
    nix::sys::prctl::set_dumpable(true)
}

/// Which limit to set with [`set_rlimit`].
#[derive(Clone, Copy, Debug)]
pub enum Rlimit {
    Processes,
    AddressSpace,
    FileSize,
    CoreSize,
}

pub fn set_rlimit(which: Rlimit, value: u64) -> SysResult<()> {
    use nix::sys::resource::{setrlimit, Resource};
    let resource = match which {
        Rlimit::Processes => Resource::RLIMIT_NPROC,
        Rlimit::AddressSpace => Resource::RLIMIT_AS,
        Rlimit::FileSize => Resource::RLIMIT_FSIZE,
        Rlimit::CoreSize => Resource::RLIMIT_CORE,
    };
    setrlimit(resource, value, value)
}

pub fn kill(pid: Pid) -> SysResult<()> {
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL)
}

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    pub fn signal_name(sig: i32) -> String {
        nix::sys::signal::Signal::try_from(sig)
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|_| format!("signal {sig}"))
    }
}

/// Block until `pid` ends (retrying on EINTR).
pub fn wait(pid: Pid) -> SysResult<Exit> {
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(Exit::Code(code)),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(Exit::Signal(sig as i32)),
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Reap `pid` if it has ended, without blocking.
pub fn try_wait(pid: Pid) -> SysResult<Option<Exit>> {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    match waitpid(pid, Some(WaitPidFlag::WNOHANG))? {
        WaitStatus::Exited(_, code) => Ok(Some(Exit::Code(code))),
        WaitStatus::Signaled(_, sig, _) => Ok(Some(Exit::Signal(sig as i32))),
        _ => Ok(None),
    }
}

/// A file descriptor that becomes readable when process `pid` ends.
pub fn pidfd_open(pid: Pid) -> SysResult<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    let fd = Errno::result(fd)? as RawFd;
    // SAFETY: the kernel just handed us this descriptor; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Wait until one of `fds` is readable (or hung up), or `timeout_ms` passes (`None`: forever).
/// Returns, per descriptor, whether it is ready.
pub fn poll_readable(fds: &[RawFd], timeout_ms: Option<u64>) -> SysResult<Vec<bool>> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::BorrowedFd;
    // SAFETY: the caller owns every descriptor in `fds` for the duration of this call.
    let borrowed: Vec<BorrowedFd> = fds
        .iter()
        .map(|fd| unsafe { BorrowedFd::borrow_raw(*fd) })
        .collect();
    let mut pfds: Vec<PollFd> = borrowed
        .iter()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    let timeout = match timeout_ms {
        None => PollTimeout::NONE,
        Some(ms) => {
            PollTimeout::try_from(ms.min(i32::MAX as u64) as i32).unwrap_or(PollTimeout::MAX)
        }
    };
    loop {
        match poll(&mut pfds, timeout) {
            Ok(_) => break,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(pfds
        .iter()
        .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
        .collect())
}

/// Restore the default SIGPIPE disposition, which the Rust runtime sets to "ignore" and an
/// exec'd program would otherwise inherit (a shell pipeline would then print EPIPE errors).
pub fn default_sigpipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: installs the default disposition, no handler code runs; called in a
    // single-threaded child just before exec.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// Replace the process image; returns only on failure.
pub fn execve(path: &Path, argv: &[String], env: &[String]) -> Errno {
    let Ok(path) = CString::new(path.as_os_str().as_bytes()) else {
        return Errno::EINVAL;
    };
    let to_c = |v: &[String]| -> Option<Vec<CString>> {
        v.iter().map(|s| CString::new(s.as_bytes()).ok()).collect()
    };
    let (Some(argv), Some(env)) = (to_c(argv), to_c(env)) else {
        return Errno::EINVAL;
    };
    match nix::unistd::execve(&path, &argv, &env) {
        Err(e) => e,
        Ok(never) => match never {},
    }
}

/// `mknod(path, S_IFCHR, 0:0)`: an overlayfs whiteout.
pub fn make_whiteout(path: &Path) -> SysResult<()> {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    mknod(path, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))
}

fn c_path(path: &Path) -> SysResult<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

/// Set an extended attribute on `path` itself (never a symlink's target).
pub fn set_xattr(path: &Path, name: &str, value: &[u8]) -> SysResult<()> {
    let p = c_path(path)?;
    let n = CString::new(name).map_err(|_| Errno::EINVAL)?;
    // SAFETY: p and n are NUL-terminated and live across the call; value is a valid slice.
    let rc = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    Errno::result(rc).map(drop)
}

/// Read a small extended attribute of `path` itself; `None` when absent.
pub fn get_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = c_path(path).ok()?;
    let n = CString::new(name).ok()?;
    let mut buf = [0u8; 64];
    // SAFETY: p and n are NUL-terminated; buf is writable for buf.len() bytes.
    let rc = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (rc >= 0).then(|| buf[..rc as usize].to_vec())
}

/// Mount flags of the mount holding `path` that a bind remount must keep (the kernel refuses to
/// drop flags locked by a more privileged namespace).
pub fn mount_flags_of(path: &Path) -> SysResult<MsFlags> {
    use nix::sys::statvfs::{statvfs, FsFlags};
    let f = statvfs(path)?.flags();
    let mut out = MsFlags::empty();
    let pairs = [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ];
    for (st, ms) in pairs {
        if f.contains(st) {
            out |= ms;
        }
    }
    Ok(out)
}

/// `lchown`, used when building images as root for an unprivileged sandbox uid.
pub fn lchown(path: &Path, uid: u32, gid: u32) -> SysResult<()> {
    nix::unistd::fchownat(
        nix::fcntl::AT_FDCWD,
        path,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
}

/// Is process `pid` alive (a zombie counts as alive)?
pub fn process_exists(pid: i32) -> bool {
    pid > 0 && nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok()
}

pub fn kill_raw(pid: i32) {
    if pid > 0 {
        let _ = kill(Pid::from_raw(pid));
    }
}

/// The raw descriptor number of a file (for poll and dup).
pub fn raw(f: &impl AsRawFd) -> RawFd {
    f.as_raw_fd()
}
