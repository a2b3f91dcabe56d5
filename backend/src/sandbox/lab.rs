//! The lab init: pid 1 of the sandbox's pid namespace. It builds the lab host's root (a tmpfs-backed
//! overlay over the cached image), then orchestrates the actors step by step and observes them.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rootlab_shared::result::StepResult;
use rootlab_shared::spec::{Propagation, Step, HOST};

use super::actor::{self, ActorHandle};
use super::ops::{self, Performed};
use super::snapshot::Observer;
use super::sys::{self, MntFlags, MsFlags};
use super::{channel, layers, LabMessage, Plan};

/// Runs as pid 1 of the new pid namespace; never returns.
pub fn main(plan: &Plan, mut out: File) -> ! {
    match build_host(plan) {
        Ok(()) => {}
        Err(message) => {
            let _ = channel::send(&mut out, &LabMessage::Fatal { message });
            sys::exit_now(1);
        }
    }
    let code = match Lab::new(plan, out) {
        Ok(mut lab) => lab.run_steps(),
        Err(_) => 1,
    };
    sys::exit_now(code)
}

/// The lab host's file system: everything here happens in the sandbox's own mount namespace.
fn build_host(plan: &Plan) -> Result<(), String> {
    let limits = &plan.limits;
    let m = &plan.mount_dir;
    let step = |what: &str, r: Result<(), sys::Errno>| r.map_err(|e| format!("{what}: {e}"));
    // Belt and braces: nothing we mount may travel back to the host's mount table.
    step(
        "making / private",
        sys::mount(
            None,
            Path::new("/"),
            None,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None,
        ),
    )?;
    let sized = format!(
        "size={},nr_inodes={},mode=755",
        limits.disk_bytes, limits.inodes
    );
    step("mounting the lab tmpfs", mount_tmpfs("rootlab", m, &sized))?;
    for d in ["upper", "work", "root"] {
        std::fs::create_dir(m.join(d)).map_err(|e| format!("mkdir {d}: {e}"))?;
    }
    // The kernel shows overlay paths as given: relative ones, from inside the lab tmpfs, keep the
    // host's directory layout out of every mount table the learner sees.
    std::os::unix::fs::symlink(&plan.image_dir, m.join("image"))
        .map_err(|e| format!("linking the image: {e}"))?;
    step("entering the lab tmpfs", sys::chdir(m))?;
    let root = m.join("root");
    step(
        "mounting the lab root overlay",
        sys::mount(
            Some("overlay"),
            &root,
            Some("overlay"),
            MsFlags::empty(),
            Some("lowerdir=image,upperdir=upper,workdir=work,userxattr"),
        ),
    )?;
    let pflags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    step(
        "mounting /proc",
        sys::mount(Some("proc"), &root.join("proc"), Some("proc"), pflags, None),
    )?;
    build_dev(&root.join("dev")).map_err(|e| format!("building /dev: {e}"))?;
    step(
        "mounting /layers",
        mount_tmpfs("layers", &root.join("layers"), &sized),
    )?;
    step("pivot_root into the lab root", enter_root(&root))?;
    let _ = sys::sethostname("lab-host");
    step(
        "setting the propagation of /",
        sys::mount(
            None,
            Path::new("/"),
            None,
            MsFlags::MS_REC | propagation_flag(plan.spec.host.root_propagation),
            None,
        ),
    )?;
    layers::create_host_files(&plan.spec.host.files).map_err(|e| format!("host files: {e}"))?;
    layers::create_layers(&plan.spec.layers).map_err(|e| format!("layers: {e}"))
}

fn mount_tmpfs(source: &str, target: &Path, data: &str) -> Result<(), sys::Errno> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    sys::mount(Some(source), target, Some("tmpfs"), flags, Some(data))
}

/// A minimal /dev: a small tmpfs with the host's null, zero and urandom bound in.
fn build_dev(dev: &Path) -> Result<(), String> {
    mount_tmpfs("dev", dev, "size=64k,nr_inodes=64,mode=755").map_err(|e| e.to_string())?;
    for node in ["null", "zero", "urandom"] {
        let target = dev.join(node);
        File::create(&target).map_err(|e| format!("{node}: {e}"))?;
        let source = PathBuf::from("/dev").join(node);
        sys::mount(source.to_str(), &target, None, MsFlags::MS_BIND, None)
            .map_err(|e| format!("binding {node}: {e}"))?;
    }
    Ok(())
}

/// The careful pivot: chdir into the new root, stack the old root under it, detach it.
fn enter_root(root: &Path) -> Result<(), sys::Errno> {
    sys::chdir(root)?;
    sys::pivot_root(Path::new("."), Path::new("."))?;
    // The old root now sits on top of the new one; detach it so nothing outside stays reachable.
    sys::umount(Path::new("."), MntFlags::MNT_DETACH)?;
    sys::chdir(Path::new("/"))
}

pub fn propagation_flag(p: Propagation) -> MsFlags {
    match p {
        Propagation::Shared => MsFlags::MS_SHARED,
        Propagation::Private => MsFlags::MS_PRIVATE,
        Propagation::Slave => MsFlags::MS_SLAVE,
        Propagation::Unbindable => MsFlags::MS_UNBINDABLE,
    }
}

/// The orchestrator's state: live actors and the observer.
struct Lab<'a> {
    plan: &'a Plan,
    out: File,
    /// `host` and every container ever created (dead ones stay, marked exited).
    actors: BTreeMap<String, ActorHandle>,
    observer: Observer,
}

impl<'a> Lab<'a> {
    fn new(plan: &'a Plan, out: File) -> Result<Self, sys::Errno> {
        let host = actor::spawn_host(&plan.limits)?;
        let mut actors = BTreeMap::new();
        actors.insert(HOST.to_string(), host);
        Ok(Lab {
            plan,
            out,
            actors,
            observer: Observer::new(&plan.limits, &plan.spec.layers),
        })
    }

    fn emit(&mut self, msg: &LabMessage) -> bool {
        channel::send(&mut self.out, msg).is_ok()
    }

    fn run_steps(&mut self) -> i32 {
        if !self.emit(&LabMessage::Ready) {
            return 1;
        }
        let steps = self.plan.spec.steps.clone();
        for (index, step) in steps.iter().enumerate() {
            let actor = step.actor().unwrap_or("engine").to_string();
            let started = LabMessage::StepStarted {
                index,
                op: step.op_name().to_string(),
                actor: actor.clone(),
            };
            if !self.emit(&started) {
                return 1;
            }
            let clock = Instant::now();
            let (done, snapshot) = self.perform(index, step);
            let result = StepResult {
                index,
                op: step.op_name().to_string(),
                actor,
                command: done.command,
                syscalls: done.syscalls,
                outcome: done.outcome,
                output: done.output,
                details: done.details,
                snapshot,
                duration_us: clock.elapsed().as_micros() as u64,
            };
            let finished = LabMessage::StepFinished {
                result: Box::new(result),
            };
            if !self.emit(&finished) {
                return 1;
            }
        }
        if self.emit(&LabMessage::Done) {
            0
        } else {
            1
        }
    }

    /// One step; returns what was done and, for snapshots, the snapshot's index.
    fn perform(&mut self, index: usize, step: &Step) -> (Performed, Option<usize>) {
        match step {
            Step::Container { name, namespaces } => (self.create_container(name, namespaces), None),
            Step::Snapshot {
                label,
                views,
                paths,
                depth,
                layers,
            } => {
                let views = self.views(views);
                let snap = self
                    .observer
                    .take(label, index, &views, paths, *depth, *layers);
                let number = self.observer.taken - 1;
                self.emit(&LabMessage::Snapshot {
                    snapshot: Box::new(snap),
                });
                (Performed::ok("(snapshot)".into(), vec![]), Some(number))
            }
            other => (self.delegate(other), None),
        }
    }

    fn create_container(
        &mut self,
        name: &str,
        namespaces: &[rootlab_shared::spec::Namespace],
    ) -> Performed {
        let (command, syscalls) = actor::container_command(namespaces);
        match actor::spawn_container(name, namespaces, &self.plan.limits) {
            Ok(handle) => {
                self.actors.insert(name.to_string(), handle);
                Performed::ok(command, syscalls)
            }
            Err(e) => {
                Performed::failed(command, syscalls, ops::sys_error("container", "unshare", e))
            }
        }
    }

    /// Views to observe: the named ones, or the host and every live container.
    fn views(&self, wanted: &[String]) -> Vec<(String, Option<i32>)> {
        let names: Vec<String> = if wanted.is_empty() {
            self.actors
                .iter()
                .filter(|(_, a)| a.alive)
                .map(|(n, _)| n.clone())
                .collect()
        } else {
            wanted.to_vec()
        };
        let mut ordered: Vec<(String, Option<i32>)> = names
            .into_iter()
            .map(|n| {
                let pid = self.actors.get(&n).filter(|a| a.alive).map(|a| a.pid);
                (n, pid)
            })
            .collect();
        // The host first, then containers by name.
        ordered.sort_by_key(|(n, _)| (n != HOST, n.clone()));
        ordered
    }

    /// Send a step to the actor that performs it and wait for its answer.
    fn delegate(&mut self, step: &Step) -> Performed {
        let name = step.actor().unwrap_or(HOST).to_string();
        let Some(handle) = self.actors.get_mut(&name) else {
            return Performed::skipped(format!("no actor named {name}"));
        };
        if !handle.alive {
            return Performed::skipped(format!("{name} has already exited"));
        }
        handle.perform(step)
    }
}
