//! Actors: the lab host's own shell process and one process per container. Each serves steps
//! sent by the lab init over a socket, performing them in its own root and mount namespace.

use std::fs::File;

use rootlab_shared::spec::{Namespace, Step};
use rootlab_shared::Limits;
use serde::{Deserialize, Serialize};

use super::channel::Duplex;
use super::ops::{self, Performed};
use super::sys::{self, CloneFlags, Forked};

/// The first line an actor sends: its pid in the lab's pid namespace (for `/proc/<pid>`).
/// A failed set-up sends the errno instead.
#[derive(Serialize, Deserialize)]
struct Hello {
    pid: i32,
    #[serde(default)]
    errno: Option<i32>,
}

/// The lab init's end of an actor.
pub struct ActorHandle {
    /// Where to look at this actor: `/proc/<pid>/root`, `/proc/<pid>/mountinfo`.
    pub pid: i32,
    /// The process the lab init forked and must reap.
    child: sys::Pid,
    chan: Duplex,
    pub alive: bool,
}

impl ActorHandle {
    /// Have the actor perform `step`; a vanished actor is reported, not fatal.
    pub fn perform(&mut self, step: &Step) -> Performed {
        let reply = self
            .chan
            .send(step)
            .and_then(|_| self.chan.recv::<Performed>());
        match reply {
            Ok(Some(done)) => {
                if matches!(step, Step::Exit { .. }) {
                    self.reap();
                }
                done
            }
            Ok(None) | Err(_) => {
                let how = self.reap();
                Performed::died(step.op_name(), how)
            }
        }
    }

    fn reap(&mut self) -> String {
        self.alive = false;
        match sys::wait(self.child) {
            Ok(sys::Exit::Code(c)) => format!("exited with status {c}"),
            Ok(sys::Exit::Signal(s)) => format!("was killed by {}", sys::Exit::signal_name(s)),
            Err(e) => format!("vanished ({e})"),
        }
    }
}

/// The lab host's shell: same namespaces as the lab init, but its own process, so a chroot or
/// an escape attempt by the host never moves the observer.
pub fn spawn_host(limits: &Limits) -> Result<ActorHandle, sys::Errno> {
    spawn(limits, false, || Ok(()))
}

/// A container: a process with a new mount namespace (a copy of the host's table) and the
/// chosen other namespaces; with a pid namespace it forks once more to be pid 1 there.
pub fn spawn_container(
    name: &str,
    namespaces: &[Namespace],
    limits: &Limits,
) -> Result<ActorHandle, sys::Errno> {
    let flags = clone_flags(namespaces);
    let uts = namespaces.contains(&Namespace::Uts);
    let pid_ns = namespaces.contains(&Namespace::Pid);
    spawn(limits, pid_ns, move || {
        sys::unshare(flags)?;
        if uts {
            sys::sethostname(name)?;
        }
        Ok(())
    })
}

fn clone_flags(namespaces: &[Namespace]) -> CloneFlags {
    let mut flags = CloneFlags::CLONE_NEWNS;
    for ns in namespaces {
        flags |= match ns {
            Namespace::Pid => CloneFlags::CLONE_NEWPID,
            Namespace::Uts => CloneFlags::CLONE_NEWUTS,
            Namespace::Ipc => CloneFlags::CLONE_NEWIPC,
            Namespace::Net => CloneFlags::CLONE_NEWNET,
        };
    }
    flags
}

/// `unshare --mount [--pid --fork --uts ...]` and the `unshare(...)` call it makes.
pub fn container_command(namespaces: &[Namespace]) -> (String, Vec<String>) {
    let mut opts = vec!["--mount".to_string()];
    let mut names = vec!["CLONE_NEWNS".to_string()];
    for ns in namespaces {
        let (opt, flag) = match ns {
            Namespace::Pid => ("--pid --fork", "CLONE_NEWPID"),
            Namespace::Uts => ("--uts", "CLONE_NEWUTS"),
            Namespace::Ipc => ("--ipc", "CLONE_NEWIPC"),
            Namespace::Net => ("--net", "CLONE_NEWNET"),
        };
        opts.push(opt.to_string());
        names.push(flag.to_string());
    }
    let mut syscalls = vec![
        "fork()".to_string(),
        format!("unshare({})", names.join("|")),
    ];
    if namespaces.contains(&Namespace::Pid) {
        syscalls.push("fork()".to_string());
    }
    (
        format!("unshare {} --propagation unchanged bash", opts.join(" ")),
        syscalls,
    )
}

/// Fork an actor that runs `setup` and then serves steps.
fn spawn(
    limits: &Limits,
    pid_ns: bool,
    setup: impl FnOnce() -> Result<(), sys::Errno>,
) -> Result<ActorHandle, sys::Errno> {
    let (ours, theirs) = sys::socketpair()?;
    match sys::fork()? {
        Forked::Child => {
            drop(ours);
            sys::child(|| actor_main(theirs, limits, pid_ns, setup))
        }
        Forked::Parent(child) => {
            drop(theirs);
            let mut chan = Duplex::new(ours).map_err(|_| sys::Errno::EIO)?;
            match chan.recv::<Hello>() {
                Ok(Some(Hello { pid, errno: None })) => Ok(ActorHandle {
                    pid,
                    child,
                    chan,
                    alive: true,
                }),
                other => {
                    let _ = sys::wait(child);
                    let errno = other.ok().flatten().and_then(|h| h.errno);
                    Err(errno.map_or(sys::Errno::EIO, sys::Errno::from_raw))
                }
            }
        }
    }
}

fn actor_main(
    socket: File,
    limits: &Limits,
    pid_ns: bool,
    setup: impl FnOnce() -> Result<(), sys::Errno>,
) -> ! {
    let Ok(mut chan) = Duplex::new(socket) else {
        sys::exit_now(1)
    };
    if let Err(e) = setup() {
        let _ = chan.send(&Hello {
            pid: 0,
            errno: Some(e as i32),
        });
        sys::exit_now(2);
    }
    if pid_ns {
        become_pid1(chan, limits)
    } else {
        serve(chan, sys::getpid().as_raw(), limits)
    }
}

/// After unshare(CLONE_NEWPID) only children enter the new pid namespace: fork the real actor
/// and wait for it.
fn become_pid1(chan: Duplex, limits: &Limits) -> ! {
    match sys::fork() {
        Ok(Forked::Child) => sys::child(|| serve(chan, 0, limits)),
        Ok(Forked::Parent(pid)) => {
            let mut chan = chan;
            let _ = chan.send(&Hello {
                pid: pid.as_raw(),
                errno: None,
            });
            drop(chan);
            let code = match sys::wait(pid) {
                Ok(sys::Exit::Code(c)) => c,
                _ => 1,
            };
            sys::exit_now(code)
        }
        Err(_) => sys::exit_now(3),
    }
}

/// The command loop: perform each step until `exit` or the lab init goes away.
fn serve(mut chan: Duplex, announce: i32, limits: &Limits) -> ! {
    let hello = Hello {
        pid: announce,
        errno: None,
    };
    if announce != 0 && chan.send(&hello).is_err() {
        sys::exit_now(1);
    }
    let mut state = ops::ActorState::default();
    while let Ok(Some(step)) = chan.recv::<Step>() {
        let done = ops::perform(&step, limits, &mut state);
        if chan.send(&done).is_err() {
            break;
        }
        if matches!(step, Step::Exit { .. }) {
            break;
        }
    }
    sys::exit_now(0)
}
