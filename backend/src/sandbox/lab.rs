//! The lab init: pid 1 of the sandbox's pid namespace. It builds the lab host's root (a
//! tmpfs-backed overlay over the cached image), then orchestrates the actors step by step and
//! assembles what they observed. No user program can see it (see [`super::pidns`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rootlab_shared::result::{Snapshot, StepResult};
use rootlab_shared::spec::{Step, HOST};

use super::actor::{self, ActorHandle, Stage};
use super::command::command_of;
use super::ops::propagation_flag;
use super::outcome::{sys_error, Performed};
use super::pidns::Reaper;
use super::snapshot::{self, Observer};
use super::sys::{self, MntFlags, MsFlags};
use super::wire::{LabMessage, MAX_MESSAGE, MAX_RUN};
use super::{commit, image_root, layers, Plan};
use base64::Engine as _;

/// Runs as pid 1 of the new pid namespace; never returns.
pub fn main(plan: &Plan, mut out: File) -> ! {
    let world = match build_host(plan) {
        Ok(world) => world,
        Err(message) => {
            let _ = super::channel::send(&mut out, &LabMessage::Fatal { message });
            sys::exit_now(1);
        }
    };
    let code = match Lab::new(plan, out, world) {
        Ok(mut lab) => lab.run_steps(),
        Err(_) => 1,
    };
    sys::exit_now(code)
}

/// What the lab init keeps of the host it built.
struct World {
    /// A proc mount of the sandbox's pid namespace, detached from every tree: the actors read
    /// their mount tables through it, and no program can reach it.
    engine_proc: OwnedFd,
    /// pid 1 of the lab host's pid namespace, where programs are born.
    host_reaper: Reaper,
    /// The writable layer of each container started from an image (`/layers/<name>.upper`),
    /// opened before any program ran.
    uppers: BTreeMap<String, OwnedFd>,
}

/// The lab host's file system: everything here happens in the sandbox's own mount namespace.
fn build_host(plan: &Plan) -> Result<World, String> {
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
    for d in ["upper", "work", "root", "engine-proc"] {
        std::fs::create_dir(m.join(d)).map_err(|e| format!("mkdir {d}: {e}"))?;
    }
    // The kernel shows overlay paths as given: relative ones, from inside the lab tmpfs, keep the
    // host's directory layout out of every mount table the learner sees.
    let lowers = image_root::link_lowers(m, "image", &plan.image_layers)?;
    step("entering the lab tmpfs", sys::chdir(m))?;
    let root = m.join("root");
    step(
        "mounting the lab root overlay",
        sys::mount(
            Some("overlay"),
            &root,
            Some("overlay"),
            MsFlags::empty(),
            Some(&format!(
                "lowerdir={lowers},upperdir=upper,workdir=work,userxattr"
            )),
        ),
    )?;
    // An image need not have the mount points the lab host uses (a `FROM scratch` one has none).
    for d in ["proc", "dev", "layers"] {
        if !root.join(d).is_dir() {
            std::fs::create_dir(root.join(d)).map_err(|e| format!("mkdir /{d}: {e}"))?;
        }
    }
    // Both proc mounts need the machine's /proc still visible here (a user namespace may only
    // mount proc where a full one is), so they come before the pivot.
    let engine_proc = engine_proc(&m.join("engine-proc"))?;
    let why = |e| format!("starting the lab host's pid namespace and /proc: {e}");
    let host_reaper = Reaper::lab_host(&engine_proc, &root.join("proc")).map_err(why)?;
    build_dev(&root.join("dev")).map_err(|e| format!("building /dev: {e}"))?;
    let host_reaper = host_reaper.wait().map_err(why)?;
    step(
        "mounting /layers",
        mount_tmpfs("layers", &root.join("layers"), &sized),
    )?;
    let uppers = image_root::mount_container_roots(m, &root, &plan.container_images)?;
    image_root::bind_exposed(&root, &plan.exposed_layers)?;
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
    layers::create_host_files(&plan.spec.host.files)?;
    layers::create_layers(&plan.spec.layers)?;
    Ok(World {
        engine_proc,
        host_reaper,
        uppers,
    })
}

/// A proc of the sandbox's pid namespace, held by a descriptor; the pivot detaches its mount.
fn engine_proc(dir: &Path) -> Result<OwnedFd, String> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    sys::mount(Some("proc"), dir, Some("proc"), flags, None)
        .and_then(|_| sys::open_dir(dir))
        .map_err(|e| format!("mounting the engine's /proc: {e}"))
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

/// The orchestrator's state: live actors, the observer, and what was sent so far.
struct Lab<'a> {
    plan: &'a Plan,
    out: File,
    world: World,
    /// `host` and every container ever created (dead ones stay, marked exited).
    actors: BTreeMap<String, ActorHandle>,
    observer: Observer,
    /// Bytes sent to the engine, against [`MAX_RUN`].
    sent: usize,
}

impl<'a> Lab<'a> {
    fn new(plan: &'a Plan, out: File, world: World) -> Result<Self, sys::Errno> {
        let mut lab = Lab {
            plan,
            out,
            world,
            actors: BTreeMap::new(),
            observer: Observer::new(&plan.limits, &plan.spec.layers),
            sent: 0,
        };
        let host = actor::spawn_host(&lab.stage())?;
        lab.actors.insert(HOST.to_string(), host);
        Ok(lab)
    }

    fn stage(&self) -> Stage<'_> {
        Stage {
            limits: &self.plan.limits,
            engine_proc: &self.world.engine_proc,
            host_reaper: &self.world.host_reaper,
        }
    }

    fn emit(&mut self, msg: &LabMessage) -> bool {
        let Ok(mut line) = serde_json::to_vec(msg) else {
            return false;
        };
        line.push(b'\n');
        self.sent += line.len();
        std::io::Write::write_all(&mut self.out, &line).is_ok()
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
        let notes = self.leftover_notes();
        if self.emit(&LabMessage::Done { notes }) {
            0
        } else {
            1
        }
    }

    /// One line per background program still running now, which the sandbox's end kills.
    fn leftover_notes(&mut self) -> Vec<String> {
        let mut notes = Vec::new();
        for (name, actor) in self.actors.iter_mut().filter(|(_, a)| a.alive) {
            for p in actor.leftovers() {
                let pid = p.pid.map_or(String::new(), |pid| format!(" (pid {pid})"));
                notes.push(format!(
                    "the background program `{}` of {name}{pid} was still running at the end of the run; it was killed with the sandbox",
                    p.argv.join(" ")
                ));
            }
        }
        notes
    }

    /// One step; returns what was done and, for snapshots, the snapshot's index.
    fn perform(&mut self, index: usize, step: &Step) -> (Performed, Option<usize>) {
        match step {
            Step::Container {
                name,
                namespaces,
                image,
            } => (
                self.create_container(name, namespaces, image.is_some()),
                None,
            ),
            Step::Snapshot {
                label,
                views,
                paths,
                depth,
                layers,
            } => {
                let mut snap = Snapshot {
                    label: label.clone(),
                    step: index,
                    views: self.observe(views, paths, *depth),
                    layers: if *layers {
                        self.observer.layer_trees(*depth)
                    } else {
                        vec![]
                    },
                };
                snapshot::fit(&mut snap, self.snapshot_budget(index));
                self.observer.taken += 1;
                let number = self.observer.taken - 1;
                self.emit(&LabMessage::Snapshot {
                    snapshot: Box::new(snap),
                });
                (Performed::ok("(snapshot)".into(), vec![]), Some(number))
            }
            Step::Commit { container, .. } => (self.commit(index, container, step), None),
            other => (self.delegate(other), None),
        }
    }

    /// The container's writable layer as a tar, sent to the engine before the step's result.
    fn commit(&mut self, index: usize, container: &str, step: &Step) -> Performed {
        let command = command_of(step, &self.plan.limits);
        let Some(upper) = self.world.uppers.get(container) else {
            let why =
                format!("{container} was not started from an image: it has no writable layer");
            return Performed::skipped(why);
        };
        let cap = commit::MAX_LAYER.min(self.snapshot_budget(index) * 3 / 4);
        let layer = match commit::build(upper, container, cap) {
            Ok(layer) => layer,
            Err(e) => return Performed::failed(command, vec![], e),
        };
        let msg = LabMessage::Layer {
            step: index,
            tar: base64::engine::general_purpose::STANDARD.encode(&layer.tar),
            skipped: layer.skipped,
        };
        self.emit(&msg);
        Performed::ok(command, layer.syscalls)
    }

    /// What a snapshot may weigh: one message, and what is left of the run's allowance once
    /// every later step has room for its output.
    fn snapshot_budget(&self, index: usize) -> usize {
        let later = self.plan.spec.steps.len().saturating_sub(index + 1);
        let per_step = 6 * self.plan.limits.output_bytes as usize + (64 << 10);
        let left = MAX_RUN.saturating_sub(self.sent + later * per_step);
        left.min(MAX_MESSAGE - (64 << 10))
    }

    fn create_container(
        &mut self,
        name: &str,
        namespaces: &[rootlab_shared::spec::Namespace],
        from_image: bool,
    ) -> Performed {
        let (command, syscalls) = actor::container_command(namespaces);
        let mut handle = match actor::spawn_container(name, namespaces, &self.stage()) {
            Ok(handle) => handle,
            Err(e) => {
                return Performed::failed(command, syscalls, sys_error("container", "unshare", e))
            }
        };
        let mut done = Performed::ok(command, syscalls);
        if from_image {
            for step in image_root::enter_steps(name) {
                if !done.absorb(handle.perform(&step)) {
                    break;
                }
            }
        }
        self.actors.insert(name.to_string(), handle);
        done
    }

    /// Each view as its actor sees it: the named ones, or the host and every live container
    /// (the host first, then containers by name).
    fn observe(
        &mut self,
        wanted: &[String],
        paths: &[String],
        depth: u32,
    ) -> Vec<rootlab_shared::result::View> {
        let mut names: Vec<String> = if wanted.is_empty() {
            self.actors
                .iter()
                .filter(|(_, a)| a.alive)
                .map(|(n, _)| n.clone())
                .collect()
        } else {
            wanted.to_vec()
        };
        names.sort_by_key(|n| (n != HOST, n.clone()));
        names
            .into_iter()
            .map(|name| {
                let seen = self
                    .actors
                    .get_mut(&name)
                    .filter(|a| a.alive)
                    .and_then(|a| a.observe(paths, depth));
                self.observer.view(&name, seen, paths)
            })
            .collect()
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
