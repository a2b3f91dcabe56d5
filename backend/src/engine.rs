//! The engine: validates a spec, forks the sandbox, relays its progress as [`RunEvent`]s, enforces
//! the wall time, assembles the [`RunResult`] and always tears everything down.
//!
//! Call it only from a single-threaded process (the worker, the CLI): it forks, and the sandbox
//! must create a user namespace, which a multi-threaded process cannot.

use std::io::BufReader;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rootlab_shared::events::RunEvent;
use rootlab_shared::result::{
    Enforcement, ImageInfo, LimitsReport, RunResult, RunStatus, Snapshot, StepResult,
};
use rootlab_shared::spec::ImageName;
use rootlab_shared::validate::{validate, FieldError};
use rootlab_shared::{Limits, Spec};

use crate::config::EngineConfig;
use crate::images::{self, ImageError};
use crate::sandbox::cgroup::Cgroups;
use crate::sandbox::{self, channel, jail_exit, netns, sys, LabMessage, Plan};

/// Extra time the engine grants the jail's own deadline before killing the jail itself.
const BACKSTOP_MS: u64 = 2000;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("invalid spec: {}", describe(.0))]
    Invalid(Vec<FieldError>),
    #[error("base image unavailable")]
    Image(#[from] ImageError),
    #[error("preparing {path}")]
    StateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("starting the sandbox: {0}")]
    Fork(sys::Errno),
}

fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Build (or verify) every base image this machine can provide, and the sandbox mount point.
pub fn prepare(cfg: &EngineConfig) -> Result<Vec<ImageInfo>, EngineError> {
    ensure_mount_dir(cfg)?;
    netns::refill();
    let mut infos = Vec::new();
    for name in ImageName::ALL {
        match images::ensure(cfg, name) {
            Ok(img) => infos.push(img.info),
            // busybox is optional: specs asking for it get a clear error at run time.
            Err(ImageError::Missing(..)) if name == ImageName::Busybox => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(infos)
}

fn ensure_mount_dir(cfg: &EngineConfig) -> Result<(), EngineError> {
    let dir = cfg.mount_dir();
    std::fs::create_dir_all(&dir).map_err(|source| EngineError::StateDir {
        path: dir.display().to_string(),
        source,
    })?;
    if cfg.is_root() {
        check_traversable(cfg)?;
    }
    Ok(())
}

/// The sandbox (running as `sandbox_uid`) must reach the image and mount dirs: every ancestor
/// of the state dir needs search permission for it (`/root/...` typically has none).
fn check_traversable(cfg: &EngineConfig) -> Result<(), EngineError> {
    use std::os::unix::fs::MetadataExt;
    for dir in cfg.state_dir.ancestors() {
        let Ok(meta) = std::fs::metadata(dir) else {
            continue;
        };
        let searchable = meta.mode() & 0o001 != 0
            || (meta.uid() == cfg.sandbox_uid && meta.mode() & 0o100 != 0)
            || (meta.gid() == cfg.sandbox_gid && meta.mode() & 0o010 != 0);
        if !searchable {
            return Err(EngineError::StateDir {
                path: dir.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!(
                        "not searchable by the sandbox uid {}: choose a state dir it can reach (e.g. /var/lib/rootlab)",
                        cfg.sandbox_uid
                    ),
                ),
            });
        }
    }
    Ok(())
}

/// Runs sequentially within one process, so a counter names each run's cgroups uniquely.
static RUN_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Run one experiment in a fresh sandbox.
pub fn run(
    spec: &Spec,
    limits: &Limits,
    cfg: &EngineConfig,
    on_event: &mut dyn FnMut(RunEvent),
) -> Result<RunResult, EngineError> {
    let clock = Instant::now();
    validate(spec, limits).map_err(EngineError::Invalid)?;
    let image = images::ensure(cfg, spec.host.image)?;
    ensure_mount_dir(cfg)?;
    let n = RUN_COUNTER.fetch_add(1, Ordering::Relaxed);
    let cgroups = cgroups_for(cfg, limits, n);
    let plan = plan(spec, limits, cfg, &image.dir, cgroups.as_ref());
    let launched = sandbox::launch(&plan).map_err(EngineError::Fork);
    let (followed, tearing_down) = match launched {
        Ok(l) => follow(Running::new(l, limits), spec.steps.len(), on_event),
        Err(e) => {
            if let Some(c) = cgroups {
                c.remove();
            }
            return Err(e);
        }
    };
    let limit_hit = cgroups.as_ref().and_then(|c| c.limit_hit());
    let (status, message) = verdict(&followed, limits, limit_hit);
    let result = RunResult {
        version: spec.version,
        title: spec.title.clone(),
        status,
        message,
        kernel_release: sys::kernel_release(),
        image: image.info.clone(),
        limits: LimitsReport {
            limits: limits.clone(),
            enforcement: enforcement(&plan, cfg),
        },
        steps: followed.steps,
        snapshots: followed.snapshots,
        duration_us: clock.elapsed().as_micros() as u64,
    };
    on_event(RunEvent::Finished {
        result: Box::new(result.clone()),
    });
    // Every step is reported: the namespaces' tear-down need not delay the answer, but it ends
    // before this function returns, so a worker never has two sandboxes alive.
    if let Some(sandbox) = tearing_down {
        sandbox.reap();
    }
    if let Some(c) = cgroups {
        c.remove();
    }
    // Off the critical path: the next run's network namespace is made once this one is reported.
    netns::refill();
    Ok(result)
}

fn cgroups_for(cfg: &EngineConfig, limits: &Limits, n: u64) -> Option<Cgroups> {
    if !cfg.use_cgroups || !cfg.is_root() {
        return None;
    }
    let name = format!("{}-{n}", std::process::id());
    Cgroups::create(&cfg.cgroup_root, &name, limits.pids, limits.memory_bytes)
}

fn plan(
    spec: &Spec,
    limits: &Limits,
    cfg: &EngineConfig,
    image_dir: &std::path::Path,
    cgroups: Option<&Cgroups>,
) -> Plan {
    let pids_cg = cgroups.is_some_and(|c| c.pids);
    let mem_cg = cgroups.is_some_and(|c| c.memory);
    Plan {
        spec: spec.clone(),
        limits: limits.clone(),
        image_dir: image_dir.to_path_buf(),
        mount_dir: cfg.mount_dir(),
        drop_to: cfg.is_root().then_some((cfg.sandbox_uid, cfg.sandbox_gid)),
        map_uid: cfg.sandbox_uid,
        map_gid: cfg.sandbox_gid,
        cgroups: cgroups.map(|c| c.dirs.clone()).unwrap_or_default(),
        // Counted per sandbox (set inside its user namespace). Behind a pids cgroup it is a
        // backstop one above the cgroup's limit, so the cgroup (which reports hits) acts first.
        rlimit_nproc: Some(if pids_cg {
            limits.pids + 1
        } else {
            limits.pids
        }),
        rlimit_as: (!mem_cg).then_some(limits.memory_bytes),
        netns: netns::take().map(std::sync::Arc::new),
    }
}

fn enforcement(plan: &Plan, cfg: &EngineConfig) -> Vec<Enforcement> {
    let cg = |controller: &str| {
        plan.cgroups
            .iter()
            .any(|d| d.starts_with(cfg.cgroup_root.join(controller)))
    };
    let e = |limit: &str, mechanism: &str| Enforcement {
        limit: limit.into(),
        mechanism: mechanism.into(),
    };
    vec![
        e(
            "wall_ms",
            "SIGKILL of the sandbox's pid namespace init after the deadline",
        ),
        if cg("pids") {
            e(
                "pids",
                "cgroup v1 pids.max (RLIMIT_NPROC in the sandbox's user namespace as backstop)",
            )
        } else {
            e(
                "pids",
                "RLIMIT_NPROC in the sandbox's user namespace (no writable cgroup)",
            )
        },
        if cg("memory") {
            e("memory_bytes", "cgroup v1 memory.limit_in_bytes")
        } else {
            e(
                "memory_bytes",
                "RLIMIT_AS per process (rootless: no writable cgroup)",
            )
        },
        e("disk_bytes", "tmpfs size= on every tmpfs, RLIMIT_FSIZE"),
        e("inodes", "tmpfs nr_inodes= on every tmpfs"),
        e(
            "output_bytes",
            "capped pipe reads; the program is killed past the cap",
        ),
        e("max_tree_entries", "walk stops, tree marked truncated"),
    ]
}

/// What the engine saw of one sandbox.
struct Followed {
    steps: Vec<StepResult>,
    snapshots: Vec<Snapshot>,
    done: bool,
    fatal: Option<String>,
    jail: Option<sys::Exit>,
    backstop: bool,
}

/// A launched sandbox being followed: its jail and the lab's message pipe, with the deadline.
struct Running {
    jail: sys::Pid,
    fd: std::os::fd::RawFd,
    reader: BufReader<std::fs::File>,
    deadline: Instant,
}

impl Running {
    fn new(l: sandbox::Launched, limits: &Limits) -> Self {
        Running {
            jail: l.jail,
            fd: sys::raw(&l.messages),
            reader: BufReader::new(l.messages),
            deadline: Instant::now() + Duration::from_millis(limits.wall_ms + BACKSTOP_MS),
        }
    }

    /// The next message; `Err` when the deadline passed (the jail is then killed).
    fn next(&mut self) -> Result<std::io::Result<Option<LabMessage>>, ()> {
        if self.reader.buffer().is_empty() && !wait_readable(self.fd, self.deadline) {
            let _ = sys::kill(self.jail);
            return Err(());
        }
        Ok(channel::recv::<LabMessage>(&mut self.reader))
    }

    /// Wait until every sandbox process is gone (the pipe closes), then reap the jail.
    fn reap(mut self) -> Option<sys::Exit> {
        while let Ok(Ok(Some(_))) = self.next() {}
        sys::wait(self.jail).ok()
    }
}

/// Relay the lab's messages until it reports `Done` (its tear-down is left to [`Running::reap`],
/// after the result is out), the pipe closes, or the deadline passes.
fn follow(
    mut sandbox: Running,
    steps: usize,
    on_event: &mut dyn FnMut(RunEvent),
) -> (Followed, Option<Running>) {
    let mut f = Followed {
        steps: vec![],
        snapshots: vec![],
        done: false,
        fatal: None,
        jail: None,
        backstop: false,
    };
    loop {
        match sandbox.next() {
            Err(()) => {
                f.backstop = true;
                break;
            }
            Ok(Ok(Some(msg))) => {
                relay(msg, steps, &mut f, on_event);
                if f.done {
                    return (f, Some(sandbox));
                }
            }
            Ok(Ok(None)) => break,
            Ok(Err(e)) => {
                f.fatal = Some(format!("garbled message from the sandbox: {e}"));
                let _ = sys::kill(sandbox.jail);
                break;
            }
        }
    }
    f.jail = sandbox.reap();
    (f, None)
}

fn wait_readable(fd: std::os::fd::RawFd, deadline: Instant) -> bool {
    let left = deadline.saturating_duration_since(Instant::now());
    sys::poll_readable(&[fd], Some(left.as_millis() as u64))
        .map(|r| r[0])
        .unwrap_or(false)
}

fn relay(msg: LabMessage, steps: usize, f: &mut Followed, on_event: &mut dyn FnMut(RunEvent)) {
    match msg {
        LabMessage::Ready => on_event(RunEvent::Started { steps }),
        LabMessage::StepStarted { index, op, actor } => {
            on_event(RunEvent::StepStarted { index, op, actor })
        }
        LabMessage::Snapshot { snapshot } => f.snapshots.push(*snapshot),
        LabMessage::StepFinished { result } => {
            f.steps.push((*result).clone());
            on_event(RunEvent::StepFinished { result });
        }
        LabMessage::Fatal { message } => f.fatal = Some(message),
        LabMessage::Done => f.done = true,
    }
}

/// How the run ended, and the one line that says why.
fn verdict(f: &Followed, limits: &Limits, limit_hit: Option<&str>) -> (RunStatus, Option<String>) {
    let hit = limit_hit.map(|which| match which {
        "pids" => format!("process limit reached ({} pids): cannot fork", limits.pids),
        _ => format!("memory limit reached ({} bytes)", limits.memory_bytes),
    });
    if f.backstop || f.jail == Some(sys::Exit::Code(jail_exit::DEADLINE)) {
        let mut msg = format!(
            "wall time limit reached ({} ms): the sandbox was killed",
            limits.wall_ms
        );
        if let Some(h) = &hit {
            msg.push_str(&format!("; also: {h}"));
        }
        return (RunStatus::LimitExceeded, Some(msg));
    }
    if f.done {
        return (RunStatus::Completed, None);
    }
    if let Some(msg) = hit {
        return (RunStatus::LimitExceeded, Some(msg));
    }
    let why = f.fatal.clone().unwrap_or_else(|| match f.jail {
        Some(sys::Exit::Signal(s)) => {
            format!("the sandbox was killed by {}", sys::Exit::signal_name(s))
        }
        Some(sys::Exit::Code(c)) => format!("the sandbox ended early (status {c})"),
        None => "the sandbox vanished".into(),
    });
    (RunStatus::Failed, Some(why))
}
