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

mod beneath;
mod read_at;
pub use beneath::*;
pub use read_at::*;

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

pub fn fchdir(dir: &OwnedFd) -> SysResult<()> {
    nix::unistd::fchdir(dir)
}

/// `unlinkat(dir, name, AT_REMOVEDIR)`.
pub fn rmdir_at(dir: &OwnedFd, name: &str) -> SysResult<()> {
    nix::unistd::unlinkat(dir, name, nix::unistd::UnlinkatFlags::RemoveDir)
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

/// Keep `/proc/self` of this process owned by its own uid, which a credential change resets
/// (the jail writes its own id maps through it).
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
    let ready = poll_events(fds, timeout_ms)?;
    Ok(ready.iter().map(|r| r.readable || r.hung_up).collect())
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

fn c_path(path: &Path) -> SysResult<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
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

// ---- isolation: sessions, dumpability, descriptors, pid namespaces, signals ----

/// Start a new session and process group led by this process, so that `kill(0, ...)` from
/// anything in it reaches nothing outside.
pub fn setsid() -> SysResult<()> {
    nix::unistd::setsid().map(drop)
}

/// Non-dumpable processes can be ptrace-accessed (`/proc/<pid>/mem`, `environ`, `fd/`, `root`,
/// `PTRACE_ATTACH`) only by a caller with CAP_SYS_PTRACE in the user namespace their memory
/// belongs to (the initial one, for processes forked from the worker); forks inherit it, exec
/// resets it.
pub fn set_undumpable() -> SysResult<()> {
    nix::sys::prctl::set_dumpable(false)
}

/// Close every descriptor from `first` up, whatever its close-on-exec flag.
pub fn close_from(first: RawFd) -> SysResult<()> {
    // SAFETY: close_range only manipulates the descriptor table; nothing in this process uses a
    // descriptor above `first` after the call (callers run right before exec or _exit paths).
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first as u32, u32::MAX, 0u32) };
    Errno::result(rc).map(drop)
}

/// Make `fd` the descriptor number `target`, closed on exec.
pub fn dup_cloexec_onto(fd: RawFd, target: RawFd) -> SysResult<()> {
    // SAFETY: dup3 only manipulates the descriptor table.
    let rc = unsafe { libc::dup3(fd, target, libc::O_CLOEXEC) };
    Errno::result(rc).map(drop)
}

/// A pidfd of this very process.
pub fn pidfd_self() -> SysResult<OwnedFd> {
    pidfd_open(getpid())
}

/// The pid namespace behind `ns` (an nsfs descriptor, or a pidfd of this very process)
/// becomes the one this process's next children are born in (it must be this process's own or
/// a descendant of it).
pub fn children_in_pidns_of(ns: &OwnedFd) -> SysResult<()> {
    nix::sched::setns(ns, CloneFlags::CLONE_NEWPID)
}

/// Open a namespace file (`self/ns/...`) below a proc mount: a process may always open its
/// own, dumpable or not.
pub fn open_ns_below(proc_dir: &OwnedFd, rel: &str) -> SysResult<OwnedFd> {
    use nix::fcntl::{openat, OFlag};
    use nix::sys::stat::Mode;
    openat(
        proc_dir,
        rel,
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Block every signal that can be blocked (SIGKILL and SIGSTOP cannot).
pub fn block_all_signals() -> SysResult<()> {
    use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::all()), None)
}

/// Unblock every signal (a program must not inherit a mask from the engine).
pub fn unblock_all_signals() -> SysResult<()> {
    use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
}

/// Wait for a (blocked) SIGCHLD.
pub fn wait_for_sigchld() -> SysResult<()> {
    use nix::sys::signal::{SigSet, Signal};
    SigSet::from(Signal::SIGCHLD).wait().map(drop)
}

/// Reap every child that has ended, without blocking; returns how many.
pub fn reap_ended() -> usize {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let mut n = 0;
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
        if status == WaitStatus::StillAlive {
            break;
        }
        n += 1;
    }
    n
}

/// Send one descriptor over a unix socket (SCM_RIGHTS).
pub fn send_fd(socket: &impl AsRawFd, fd: RawFd) -> SysResult<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
    let iov = [std::io::IoSlice::new(b"f")];
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<UnixAddr>(socket.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None).map(drop)
}

/// Receive one descriptor sent with [`send_fd`] (closed on exec).
pub fn recv_fd(socket: &impl AsRawFd) -> SysResult<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
    let mut byte = [0u8; 1];
    let mut iov = [std::io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<UnixAddr>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel installed this descriptor for us just now.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(Errno::EBADMSG)
}

/// A directory to resolve relative paths against, even once it is unreachable by path.
pub fn open_dir(path: &Path) -> SysResult<OwnedFd> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Read a small text file below `dir` (e.g. `<pid>/mountinfo` below a proc mount), at most
/// `max` bytes.
pub fn read_below(dir: &OwnedFd, rel: &str, max: usize) -> std::io::Result<Vec<u8>> {
    use nix::fcntl::{openat, OFlag};
    use nix::sys::stat::Mode;
    use std::io::Read;
    let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
    let fd = openat(dir, rel, flags, Mode::empty())?;
    let mut bytes = Vec::new();
    File::from(fd).take(max as u64).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Which of a poll's descriptors are readable and which hung up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    pub readable: bool,
    pub hung_up: bool,
}

/// Like [`poll_readable`], telling a hang-up (the writer closed) apart from data.
pub fn poll_events(fds: &[RawFd], timeout_ms: Option<u64>) -> SysResult<Vec<Ready>> {
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
        .map(|p| {
            let r = p.revents().unwrap_or(PollFlags::empty());
            Ready {
                readable: r.contains(PollFlags::POLLIN),
                hung_up: r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR),
            }
        })
        .collect())
}

/// SIGKILL the process behind a pidfd (no pid to be reused in between).
pub fn kill_pidfd(pidfd: &OwnedFd) {
    // SAFETY: pidfd_send_signal takes a descriptor, a signal number, a null siginfo and flags.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        );
    }
}

/// Write `bytes` to a raw descriptor (best effort: used on a failing child's way out).
pub fn write_raw(fd: RawFd, bytes: &[u8]) {
    // SAFETY: writes from a valid slice; a bad descriptor only makes the call fail.
    let _ = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
}

/// Rename this process as `ps` shows it (`/proc/self/cmdline` and `comm`) by overwriting its
/// own argument block in place, so a visible engine process shows no host path or arguments.
pub fn set_process_title(proc_dir: &OwnedFd, title: &str) -> SysResult<()> {
    let stat = read_below(proc_dir, "self/stat", 4096).map_err(|_| Errno::EIO)?;
    let stat = String::from_utf8_lossy(&stat);
    let after_comm = stat.rsplit_once(')').ok_or(Errno::EIO)?.1;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // Fields 48 and 49 of stat (arg_start, arg_end); `fields[0]` is field 3.
    let num = |i: usize| fields.get(i).and_then(|f| f.parse::<usize>().ok());
    let (start, end) = (num(45).ok_or(Errno::EIO)?, num(46).ok_or(Errno::EIO)?);
    if end <= start {
        return Err(Errno::EIO);
    }
    let len = end - start;
    let mut bytes = title.as_bytes()[..title.len().min(len - 1)].to_vec();
    bytes.resize(len, 0);
    // SAFETY: [arg_start, arg_end) is this process's own argument block on its stack, mapped
    // writable; the caller (a forked reaper) never reads its arguments again.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), start as *mut u8, len) };
    let name = CString::new(&title.as_bytes()[..title.len().min(15)]).map_err(|_| Errno::EINVAL)?;
    nix::sys::prctl::set_name(&name)
}
