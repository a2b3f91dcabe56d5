//! Actors: the lab host's own shell process and one process per container. Each serves the lab
//! init's requests over a socket: performing steps in its own root and namespaces, and walking
//! its own view for snapshots. Actors live in the sandbox's pid namespace beside the lab init;
//! their programs are born in a pid namespace below it (see [`super::pidns`]).

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::Path;

use rootlab_shared::result::Running;
use rootlab_shared::spec::{Namespace, Step};
use rootlab_shared::Limits;

use super::background::Background;
use super::channel::Duplex;
use super::context::OpContext;
use super::ops;
use super::outcome::Performed;
use super::pidns::{Birthplace, Reaper};
use super::sys::{self, CloneFlags, Forked};
use super::userns;
use super::walk::{self, MountPoints};
use super::wire::{ActorReply, ActorRequest, Hello, Observed, MAX_MESSAGE, MAX_MOUNTINFO};

/// What every actor is started with.
pub struct Stage<'a> {
    pub limits: &'a Limits,
    /// A proc mount of the sandbox's pid namespace, reachable only through this descriptor.
    pub engine_proc: &'a OwnedFd,
    /// pid 1 of the lab host's pid namespace.
    pub host_reaper: &'a Reaper,
}

/// The lab init's end of an actor.
pub struct ActorHandle {
    /// Its pid in the sandbox's pid namespace (for `/proc/<pid>/mountinfo`).
    pub pid: i32,
    chan: Duplex,
    pub alive: bool,
    /// The container's own pid namespace, ended with it.
    own_pidns: Option<Reaper>,
}

impl ActorHandle {
    /// Have the actor perform `step`; a vanished actor is reported, not fatal.
    pub fn perform(&mut self, step: &Step) -> Performed {
        let request = ActorRequest::Step {
            step: Box::new(step.clone()),
        };
        match self.ask(&request) {
            Some(ActorReply::Performed { done }) => {
                if matches!(step, Step::Exit { .. }) {
                    self.end();
                }
                *done
            }
            _ => {
                let how = self.end();
                Performed::died(step.op_name(), how)
            }
        }
    }

    /// The actor's mount table and trees; `None` when it is gone.
    pub fn observe(&mut self, paths: &[String], depth: u32) -> Option<Observed> {
        let request = ActorRequest::Observe {
            paths: paths.to_vec(),
            depth,
        };
        match self.ask(&request) {
            Some(ActorReply::Observed(seen)) => Some(seen),
            _ => {
                self.end();
                None
            }
        }
    }

    /// Background programs of this actor still running (for the run's end); none when the
    /// actor is gone.
    pub fn leftovers(&mut self) -> Vec<Running> {
        match self.ask(&ActorRequest::Leftovers) {
            Some(ActorReply::Leftovers { running }) => running,
            _ => Vec::new(),
        }
    }

    fn ask(&mut self, request: &ActorRequest) -> Option<ActorReply> {
        self.chan.send(request).ok()?;
        self.chan.recv::<ActorReply>().ok().flatten()
    }

    /// Reap the actor (and end its pid namespace); says how it ended.
    fn end(&mut self) -> String {
        self.alive = false;
        if let Some(reaper) = self.own_pidns.take() {
            reaper.kill();
        }
        match sys::wait(sys::Pid::from_raw(self.pid)) {
            Ok(sys::Exit::Code(c)) => format!("exited with status {c}"),
            Ok(sys::Exit::Signal(s)) => format!("was killed by {}", sys::Exit::signal_name(s)),
            Err(e) => format!("vanished ({e})"),
        }
    }
}

/// The lab host's shell: same namespaces as the lab init, but its own process, so a chroot or
/// an escape attempt by the host never moves the observer.
pub fn spawn_host(stage: &Stage) -> Result<ActorHandle, sys::Errno> {
    spawn(stage, stage.host_reaper, || Ok(None))
}

/// A container: a process with a new mount namespace (a copy of the host's table) and the
/// chosen other namespaces; with `pid`, its programs are born in a pid namespace of its own
/// below the lab host's (as a container's processes are visible from its host).
pub fn spawn_container(
    name: &str,
    namespaces: &[Namespace],
    stage: &Stage,
) -> Result<ActorHandle, sys::Errno> {
    let flags = clone_flags(namespaces);
    let uts = namespaces.contains(&Namespace::Uts);
    let user = namespaces.contains(&Namespace::User);
    let engine_proc = stage.engine_proc;
    // A container with a user namespace makes its programs' pid namespace itself.
    let own_pidns = if namespaces.contains(&Namespace::Pid) && !user {
        Some(stage.host_reaper.nested(stage.engine_proc)?)
    } else {
        None
    };
    let programs = own_pidns.as_ref().unwrap_or(stage.host_reaper);
    let setup = move || {
        let own = if user {
            userns::enter(engine_proc)?;
            Some(Reaper::for_children_of_this_process(engine_proc)?)
        } else {
            None
        };
        sys::unshare(flags)?;
        if uts {
            sys::sethostname(name)?;
        }
        Ok(own)
    };
    let mut handle = spawn(stage, programs, setup);
    if let Ok(h) = &mut handle {
        h.own_pidns = own_pidns;
    } else if let Some(reaper) = own_pidns {
        reaper.kill();
    }
    handle
}

fn clone_flags(namespaces: &[Namespace]) -> CloneFlags {
    let mut flags = CloneFlags::CLONE_NEWNS;
    for ns in namespaces {
        flags |= match ns {
            // Not the actor's own: its programs' (see `spawn_container`).
            Namespace::Pid | Namespace::User => CloneFlags::empty(),
            Namespace::Uts => CloneFlags::CLONE_NEWUTS,
            Namespace::Ipc => CloneFlags::CLONE_NEWIPC,
            Namespace::Net => CloneFlags::CLONE_NEWNET,
        };
    }
    flags
}

/// `unshare --mount [--pid --fork --uts ...]` and the system calls it makes.
pub fn container_command(namespaces: &[Namespace]) -> (String, Vec<String>) {
    let user = namespaces.contains(&Namespace::User);
    let mut opts = vec!["--mount".to_string()];
    let mut names = vec!["CLONE_NEWNS".to_string()];
    let mut syscalls = vec!["fork()".to_string()];
    if user {
        opts.insert(0, "--user --map-root-user".into());
        syscalls.extend([
            "unshare(CLONE_NEWUSER)".to_string(),
            "write(\"/proc/self/uid_map\", \"0 0 1\")".to_string(),
            "unshare(CLONE_NEWPID)".to_string(),
            "fork() = 1 in the programs' pid namespace".to_string(),
        ]);
    }
    for ns in namespaces {
        let (opt, flag) = match ns {
            Namespace::User => continue,
            Namespace::Pid if user => continue,
            Namespace::Pid => ("--pid --fork", "CLONE_NEWPID"),
            Namespace::Uts => ("--uts", "CLONE_NEWUTS"),
            Namespace::Ipc => ("--ipc", "CLONE_NEWIPC"),
            Namespace::Net => ("--net", "CLONE_NEWNET"),
        };
        opts.push(opt.to_string());
        names.push(flag.to_string());
    }
    syscalls.push(format!("unshare({})", names.join("|")));
    if namespaces.contains(&Namespace::Pid) && !user {
        syscalls.push("fork()".to_string());
    }
    (
        format!("unshare {} --propagation unchanged bash", opts.join(" ")),
        syscalls,
    )
}

/// Fork an actor that runs `setup`, says hello, and serves requests; its programs are born in
/// the pid namespace of `programs`.
fn spawn(
    stage: &Stage,
    programs: &Reaper,
    setup: impl FnOnce() -> Result<Option<Reaper>, sys::Errno>,
) -> Result<ActorHandle, sys::Errno> {
    let (ours, theirs) = sys::socketpair()?;
    match sys::fork()? {
        Forked::Child => {
            drop(ours);
            sys::child(|| actor_main(theirs, stage, programs, setup))
        }
        Forked::Parent(child) => {
            drop(theirs);
            let mut chan = Duplex::new(ours, MAX_MESSAGE).map_err(|_| sys::Errno::EIO)?;
            match chan.recv::<Hello>() {
                Ok(Some(Hello { errno: None })) => Ok(ActorHandle {
                    pid: child.as_raw(),
                    chan,
                    alive: true,
                    own_pidns: None,
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
    stage: &Stage,
    programs: &Reaper,
    setup: impl FnOnce() -> Result<Option<Reaper>, sys::Errno>,
) -> i32 {
    let Ok(mut chan) = Duplex::new(socket, MAX_MESSAGE) else {
        return 1;
    };
    // A container that made its programs' pid namespace itself keeps its reaper's descriptors
    // for its life.
    let ready = setup().and_then(|own| match own {
        Some(reaper) => Ok((Birthplace::here(), Some(reaper))),
        None => Birthplace::of(programs).map(|b| (b, None)),
    });
    let (programs, _own_reaper) = match ready {
        Ok(b) => b,
        Err(e) => {
            let _ = chan.send(&Hello {
                errno: Some(e as i32),
            });
            return 2;
        }
    };
    if chan.send(&Hello { errno: None }).is_err() {
        return 1;
    }
    let mut ctx = OpContext {
        limits: stage.limits.clone(),
        roots: Vec::new(),
        programs,
        background: Background::new(
            stage.engine_proc.try_clone().ok(),
            stage.limits.output_bytes as usize,
        ),
    };
    serve(chan, &mut ctx, stage.engine_proc)
}

/// The request loop: until `exit` or the lab init goes away. While waiting for a request, the
/// actor drains its background programs' output (see [`super::background`]).
fn serve(mut chan: Duplex, ctx: &mut OpContext, engine_proc: &OwnedFd) -> i32 {
    loop {
        if chan.reader.buffer().is_empty() {
            ctx.background.idle_until(sys::raw(chan.reader.get_ref()));
        }
        let Ok(Some(request)) = chan.recv::<ActorRequest>() else {
            break;
        };
        let (reply, last) = match request {
            ActorRequest::Step { step } => {
                let done = ops::perform(&step, ctx);
                let last = matches!(*step, Step::Exit { .. });
                (
                    ActorReply::Performed {
                        done: Box::new(done),
                    },
                    last,
                )
            }
            ActorRequest::Observe { paths, depth } => {
                let seen = observe(&paths, depth, &ctx.limits, engine_proc);
                (ActorReply::Observed(seen), false)
            }
            ActorRequest::Leftovers => {
                let running = ctx.background.running();
                (ActorReply::Leftovers { running }, false)
            }
        };
        if chan.send(&reply).is_err() || last {
            break;
        }
    }
    0
}

/// This actor's view: its mount table, read through the engine's proc mount (its own root may
/// have none), and its trees, walked from its own root.
fn observe(paths: &[String], depth: u32, limits: &Limits, engine_proc: &OwnedFd) -> Observed {
    let mut bytes =
        sys::read_below(engine_proc, "self/mountinfo", MAX_MOUNTINFO + 1).unwrap_or_default();
    let cut = bytes.len() > MAX_MOUNTINFO;
    if cut {
        let end = bytes[..MAX_MOUNTINFO]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        bytes.truncate(end);
    }
    let mountinfo = String::from_utf8_lossy(&bytes).into_owned();
    let points = MountPoints::from_mountinfo(&mountinfo);
    let mut trees: Vec<_> = paths
        .iter()
        .map(|p| walk::tree(Path::new("/"), p, depth, limits, Some(&points)))
        .collect();
    // The reply must fit one message, with room for the mount table.
    let budget = MAX_MESSAGE / 2;
    while serde_json::to_vec(&trees).map_or(usize::MAX, |v| v.len()) > budget {
        if !walk::halve_biggest(trees.iter_mut()) {
            break;
        }
    }
    Observed {
        mountinfo,
        mountinfo_cut: cut,
        trees,
    }
}
