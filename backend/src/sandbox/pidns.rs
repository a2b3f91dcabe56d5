//! The pid namespaces user programs live in, apart from the engine's.
//!
//! The lab init and every actor live in the sandbox's own pid namespace. User programs are born
//! one level down: in the lab host's pid namespace (and, for a container with `pid`, in one
//! below that), whose pid 1 is a [`Reaper`]. A process cannot name, and so cannot signal,
//! ptrace or open `/proc/<pid>` of, a process outside its own pid namespace and its
//! descendants; the only engine process a program can see is that pid 1, which the kernel
//! shields from every signal sent from inside its namespace (SIGNAL_UNKILLABLE) and which,
//! being non-dumpable, no program may ptrace or read.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use super::sys::{self, CloneFlags, Errno, Forked, MsFlags, SysResult};

/// pid 1 of a pid namespace made for user programs: it only reaps orphans.
pub struct Reaper {
    /// The namespace itself (an nsfs descriptor: joining through the reaper's pidfd would need
    /// ptrace access to it, which no one has).
    ns: OwnedFd,
    pidfd: OwnedFd,
}

impl Reaper {
    /// The lab host's pid namespace, as a child of the caller's, with a fresh `/proc` of it
    /// mounted on `proc_dir` by its pid 1 (a proc mount shows the mounter's pid namespace).
    /// Call before the host's own `/proc` is unmounted: mounting proc in a user namespace
    /// needs a fully visible proc mount in the mount namespace.
    /// It forks at once but mounts only when [`Starting::wait`] says so, which keeps the
    /// mount table's order the same on every run.
    pub fn lab_host(engine_proc: &OwnedFd, proc_dir: &Path) -> SysResult<Starting> {
        let home = sys::pidfd_self()?;
        sys::unshare(CloneFlags::CLONE_NEWPID)?;
        let forked = fork_reaper(engine_proc, || mount_proc(proc_dir));
        sys::children_in_pidns_of(&home)?;
        forked
    }

    /// A pid namespace below this one (a container's), with its own reaper as pid 1.
    pub fn nested(&self, engine_proc: &OwnedFd) -> SysResult<Reaper> {
        let (ours, theirs) = sys::socketpair()?;
        // Only a process inside this namespace can create one below it.
        let helper = Birthplace::of(self)?.fork(|| {
            let made = sys::unshare(CloneFlags::CLONE_NEWPID)
                .and_then(|_| fork_reaper(engine_proc, || Ok(())))
                .and_then(Starting::wait)
                .and_then(|reaper| {
                    sys::send_fd(&theirs, sys::raw(&reaper.ns))?;
                    sys::send_fd(&theirs, sys::raw(&reaper.pidfd))
                });
            made.map_or_else(|e| e as i32, |_| 0)
        })?;
        drop(theirs);
        let ns = sys::recv_fd(&ours);
        let pidfd = sys::recv_fd(&ours);
        match sys::wait(helper)? {
            sys::Exit::Code(0) => {}
            sys::Exit::Code(errno) => return Err(Errno::from_raw(errno)),
            sys::Exit::Signal(_) => return Err(Errno::ECHILD),
        }
        // Its parent (the helper) is gone: the reaper now belongs to this namespace's reaper.
        Ok(Reaper {
            ns: ns?,
            pidfd: pidfd?,
        })
    }

    /// A pid namespace for this process's children from now on, for good (a process in a user
    /// namespace of its own may not switch back to its parent's); its pid 1 dies with this
    /// process.
    pub fn for_children_of_this_process(engine_proc: &OwnedFd) -> SysResult<Reaper> {
        sys::unshare(CloneFlags::CLONE_NEWPID)?;
        fork_reaper(engine_proc, sys::die_with_parent).and_then(Starting::wait)
    }

    /// End the namespace: killing its pid 1 kills every process in it.
    pub fn kill(&self) {
        sys::kill_pidfd(&self.pidfd);
    }
}

/// A reaper forked but perhaps not yet set up.
pub struct Starting {
    pid: sys::Pid,
    go: File,
    ready: File,
    reaper: Reaper,
}

impl Starting {
    /// Let it set up, and wait until that is done; its errno if that failed.
    pub fn wait(self) -> SysResult<Reaper> {
        let mut buf = [0u8; 4];
        let (mut go, mut ready) = (self.go, self.ready);
        let sent = go.write_all(&[1]);
        drop(go);
        let errno = match sent.and_then(|_| ready.read_exact(&mut buf)) {
            Ok(()) => i32::from_le_bytes(buf),
            Err(_) => Errno::ECHILD as i32,
        };
        if errno != 0 {
            let _ = sys::wait(self.pid);
            return Err(Errno::from_raw(errno));
        }
        Ok(self.reaper)
    }
}

/// Fork pid 1 of a pid namespace just unshared; once told to go it runs `setup`, reports, then
/// reaps forever. The namespace can be opened only once it has its pid 1.
fn fork_reaper(
    engine_proc: &OwnedFd,
    setup: impl FnOnce() -> SysResult<()>,
) -> SysResult<Starting> {
    let (ready, ready_w) = sys::pipe()?;
    let (go_r, go) = sys::pipe()?;
    let pid = match sys::fork()? {
        Forked::Child => {
            drop((ready, go));
            sys::child(|| {
                let mut told = [0u8; 1];
                let told = (&go_r).read_exact(&mut told).map_err(|_| Errno::ECANCELED);
                drop(go_r);
                let errno = told.and_then(|_| setup()).err().map_or(0, |e| e as i32);
                let mut w = ready_w;
                let _ = w.write_all(&errno.to_le_bytes());
                drop(w);
                if errno != 0 {
                    return 1;
                }
                // Off the critical path: `ps` in the lab shows no host path or argument.
                let _ = sys::set_process_title(engine_proc, "rootlab-init");
                reap_forever()
            })
        }
        Forked::Parent(pid) => pid,
    };
    drop((ready_w, go_r));
    let reaper = Reaper {
        ns: sys::open_ns_below(engine_proc, "self/ns/pid_for_children")?,
        pidfd: sys::pidfd_open(pid)?,
    };
    Ok(Starting {
        pid,
        go,
        ready,
        reaper,
    })
}

fn mount_proc(dir: &Path) -> SysResult<()> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    sys::mount(Some("proc"), dir, Some("proc"), flags, None)
}

/// The reaper's life: hold nothing, take no signal, reap whatever is re-parented to it. Every
/// signal is blocked, so those sent from inside the namespace stay pending, never acted on;
/// SIGKILL and SIGSTOP from inside are dropped by the kernel for a namespace's init.
fn reap_forever() -> i32 {
    let _ = sys::close_from(0);
    if sys::block_all_signals().is_err() {
        return 1;
    }
    loop {
        if sys::wait_for_sigchld().is_err() {
            return 1;
        }
        sys::reap_ended();
    }
}

/// Where an actor's programs are born: the pid namespace of a reaper. The actor itself stays
/// in the sandbox's pid namespace, out of its programs' sight.
pub struct Birthplace {
    /// The namespace to fork into and the caller's own, to switch back to; `None` when the
    /// caller's children are born in the right one anyway.
    switch: Option<(OwnedFd, OwnedFd)>,
}

impl Birthplace {
    pub fn of(reaper: &Reaper) -> SysResult<Birthplace> {
        let target = reaper.ns.try_clone().map_err(|_| Errno::EMFILE)?;
        Ok(Birthplace {
            switch: Some((target, sys::pidfd_self()?)),
        })
    }

    /// Where this process's children are born already (see
    /// [`Reaper::for_children_of_this_process`]).
    pub fn here() -> Birthplace {
        Birthplace { switch: None }
    }

    /// Fork a child into the target namespace that runs `body`; returns its pid (in the
    /// caller's namespace).
    pub fn fork(&self, body: impl FnOnce() -> i32) -> SysResult<sys::Pid> {
        let Some((target, home)) = &self.switch else {
            return match sys::fork()? {
                Forked::Child => sys::child(body),
                Forked::Parent(pid) => Ok(pid),
            };
        };
        sys::children_in_pidns_of(target)?;
        let forked = sys::fork();
        let back = sys::children_in_pidns_of(home);
        match forked? {
            Forked::Child => sys::child(body),
            Forked::Parent(pid) => back.map(|_| pid),
        }
    }

    /// Make one system call from inside the target namespace (e.g. mounting its `/proc`),
    /// in a short-lived child that shares the caller's other namespaces and root.
    pub fn call_inside(&self, f: impl FnOnce() -> SysResult<()>) -> SysResult<()> {
        let pid = self.fork(|| f().err().map_or(0, |e| e as i32))?;
        match sys::wait(pid)? {
            sys::Exit::Code(0) => Ok(()),
            sys::Exit::Code(errno) => Err(Errno::from_raw(errno)),
            sys::Exit::Signal(_) => Err(Errno::EINTR),
        }
    }
}
