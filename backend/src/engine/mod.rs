//! The engine: validates a spec, forks the sandbox, relays its progress as [`RunEvent`]s, enforces
//! the wall time, assembles the [`RunResult`] and always tears everything down.
//!
//! Call it only from a single-threaded process (the worker, the CLI): it forks, and the sandbox
//! must create a user namespace, which a multi-threaded process cannot.

mod commit;
mod follow;

pub use commit::NOT_KEPT;

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use rootlab_shared::events::RunEvent;
use rootlab_shared::expect::grade;
use rootlab_shared::image::ImageRef;
use rootlab_shared::result::{Enforcement, ImageInfo, LimitsReport, RunResult, RunStatus};
use rootlab_shared::spec::Step;
use rootlab_shared::validate::{validate, FieldError};
use rootlab_shared::{Limits, Spec};

use crate::config::EngineConfig;
use crate::images::{self, ImageError};
use crate::sandbox::cgroup::Cgroups;
use crate::sandbox::image_root::{ContainerImage, ExposedLayer};
use crate::sandbox::seccomp::SyscallFilter;
use crate::sandbox::{self, jail_exit, netns, sys, Plan};
use crate::store::{Store, StoreError};
use follow::{follow, interrupted_step, Ending, Followed, Running};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("invalid spec: {}", describe(.0))]
    Invalid(Vec<FieldError>),
    #[error("base image unavailable")]
    Image(#[from] ImageError),
    #[error("image unavailable")]
    Store(#[from] StoreError),
    #[error("preparing {path}")]
    StateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("starting the sandbox: {0}")]
    Fork(sys::Errno),
    #[error("compiling the programs' system call filter: {0}")]
    Filter(String),
    #[error("nobody waits for the run any more (the coordinator hung up); it was stopped")]
    Abandoned,
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
    SyscallFilter::global().map_err(EngineError::Filter)?;
    netns::refill();
    let mut infos = Vec::new();
    for name in images::Builtin::ALL {
        match images::ensure(cfg, name) {
            Ok(img) => infos.push(img.info),
            // busybox is optional: specs asking for it get a clear error at run time.
            Err(ImageError::Missing(..)) if name == images::Builtin::Busybox => {}
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

/// What the result says of an image, and its layers (bottom first): a built-in from this
/// process's cache, any other image from the store.
fn layers_of(
    cfg: &EngineConfig,
    image: &ImageRef,
) -> Result<(ImageInfo, Vec<std::path::PathBuf>), EngineError> {
    if let Some(builtin) = images::Builtin::named(image) {
        let ready = images::ensure(cfg, builtin)?;
        return Ok((ready.info, vec![ready.dir]));
    }
    let resolved = store_of(cfg, |store| store.resolve(image))?;
    let info = ImageInfo {
        name: resolved.summary.name,
        programs: vec![],
    };
    Ok((info, resolved.layers))
}

/// `f` on this process's store of `cfg`'s state dir, opened once (opening cleans leftovers).
fn store_of<T>(
    cfg: &EngineConfig,
    f: impl FnOnce(&Store) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    static STORES: Mutex<Vec<Store>> = Mutex::new(Vec::new());
    let mut stores = STORES.lock().unwrap_or_else(|e| e.into_inner());
    let at = match stores
        .iter()
        .position(|s| s.config().state_dir == cfg.state_dir)
    {
        Some(i) => i,
        None => {
            stores.push(Store::open(cfg)?);
            stores.len() - 1
        }
    };
    f(&stores[at])
}

/// The layers of every container the spec starts from an image.
fn container_images(cfg: &EngineConfig, spec: &Spec) -> Result<Vec<ContainerImage>, EngineError> {
    let mut found = Vec::new();
    for step in &spec.steps {
        if let Step::Container {
            name,
            image: Some(image),
            ..
        } = step
        {
            let (_, layers) = layers_of(cfg, image)?;
            found.push(ContainerImage {
                name: name.clone(),
                layers,
            });
        }
    }
    Ok(found)
}

/// The stored layers the spec's `layers` take from images (`from`), by name.
fn exposed_layers(cfg: &EngineConfig, spec: &Spec) -> Result<Vec<ExposedLayer>, EngineError> {
    let mut found = Vec::new();
    for (i, layer) in spec.layers.iter().enumerate() {
        let Some(from) = &layer.from else { continue };
        let (_, layers) = layers_of(cfg, &from.image)?;
        let dir = layers.get(from.layer).cloned().ok_or_else(|| {
            EngineError::Invalid(vec![FieldError {
                field: format!("layers[{i}].from.layer"),
                message: format!(
                    "`{}` has {} layer{} (0 to {})",
                    from.image,
                    layers.len(),
                    if layers.len() == 1 { "" } else { "s" },
                    layers.len().saturating_sub(1)
                ),
            }])
        })?;
        found.push(ExposedLayer {
            name: layer.name.clone(),
            dir,
        });
    }
    Ok(found)
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
    run_watched(spec, limits, cfg, None, on_event)
}

/// [`run`], stopping the sandbox at once if `hangup` reports a hang-up or an error (the
/// worker's stdout, once its reader is gone).
pub fn run_watched(
    spec: &Spec,
    limits: &Limits,
    cfg: &EngineConfig,
    hangup: Option<RawFd>,
    on_event: &mut dyn FnMut(RunEvent),
) -> Result<RunResult, EngineError> {
    let clock = Instant::now();
    validate(spec, limits).map_err(EngineError::Invalid)?;
    let (image, image_layers) = layers_of(cfg, &spec.host.image)?;
    let container_images = container_images(cfg, spec)?;
    let exposed_layers = exposed_layers(cfg, spec)?;
    ensure_mount_dir(cfg)?;
    let n = RUN_COUNTER.fetch_add(1, Ordering::Relaxed);
    let cgroups = cgroups_for(cfg, limits, n);
    let mut plan = plan(spec, limits, cfg, image_layers, cgroups.as_ref());
    plan.container_images = container_images;
    plan.exposed_layers = exposed_layers;
    let launched = match sandbox::launch(&plan) {
        Ok(l) => l,
        Err(e) => {
            if let Some(c) = cgroups {
                c.remove();
            }
            return Err(EngineError::Fork(e));
        }
    };
    let running = Running::new(launched, limits, hangup);
    let mut on_commit =
        |index, layer, result: &mut _| commit::finish(cfg, spec, index, layer, result);
    let (mut followed, jail, tearing_down) =
        follow(running, spec, cgroups.as_ref(), &mut on_commit, on_event);
    if followed.ending == Ending::Abandoned {
        if let Some(c) = cgroups {
            c.remove();
        }
        return Err(EngineError::Abandoned);
    }
    let (status, message) = verdict(&followed, jail, limits, spec);
    if let Some(step) = interrupted_step(spec, limits, &followed, message.as_deref().unwrap_or(""))
    {
        followed.current = None;
        on_event(RunEvent::StepFinished {
            result: Box::new(step.clone()),
        });
        followed.steps.push(step);
    }
    let mut result = RunResult {
        version: spec.version,
        title: spec.title.clone(),
        status,
        message,
        kernel_release: sys::kernel_release(),
        image,
        limits: LimitsReport {
            limits: limits.clone(),
            enforcement: enforcement(&plan, cfg),
        },
        steps: followed.steps,
        snapshots: followed.snapshots,
        expectations: Vec::new(),
        duration_us: clock.elapsed().as_micros() as u64,
    };
    result.expectations = grade(&spec.expect, &result);
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
    image_layers: Vec<std::path::PathBuf>,
    cgroups: Option<&Cgroups>,
) -> Plan {
    let pids_cg = cgroups.is_some_and(|c| c.pids);
    let mem_cg = cgroups.is_some_and(|c| c.memory);
    Plan {
        spec: spec.clone(),
        limits: limits.clone(),
        image_layers,
        container_images: Vec::new(),
        exposed_layers: Vec::new(),
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

/// How the run ended, and the one line that says why (naming every limit that was hit, and
/// the step during which it first was).
fn verdict(
    f: &Followed,
    jail: Option<sys::Exit>,
    limits: &Limits,
    spec: &Spec,
) -> (RunStatus, Option<String>) {
    let hits: Vec<String> = f
        .hits
        .iter()
        .map(|(w, s)| hit(w, *s, spec, limits))
        .collect();
    let hits = (!hits.is_empty()).then(|| hits.join("; "));
    let deadline = jail == Some(sys::Exit::Code(jail_exit::DEADLINE));
    match &f.ending {
        Ending::Backstop => {}
        _ if deadline => {}
        Ending::Done => {
            return match hits {
                Some(h) => (
                    RunStatus::LimitExceeded,
                    Some(format!("{h}; the run went on")),
                ),
                None => (
                    RunStatus::Completed,
                    (!f.notes.is_empty()).then(|| f.notes.join("; ")),
                ),
            }
        }
        Ending::Violation(why) => {
            let msg = format!("the sandbox broke the protocol ({why}), so it was stopped");
            return (RunStatus::Failed, Some(msg));
        }
        Ending::Closed | Ending::Abandoned => {
            if let Some(h) = hits {
                return (
                    RunStatus::LimitExceeded,
                    Some(format!("{h}; the sandbox ended early")),
                );
            }
            return (RunStatus::Failed, Some(ended_early(f, jail)));
        }
    }
    let at = match f.current {
        Some((i, _)) => format!(" during step {i} ({})", step_op(spec, i)),
        None => String::new(),
    };
    let mut msg = format!(
        "wall time limit reached ({} ms){at}: the sandbox was killed",
        limits.wall_ms
    );
    if let Some(h) = hits {
        msg.push_str(&format!("; also: {h}"));
    }
    (RunStatus::LimitExceeded, Some(msg))
}

fn hit(which: &str, step: Option<usize>, spec: &Spec, limits: &Limits) -> String {
    let at = match step {
        Some(i) => format!(" during step {i} ({})", step_op(spec, i)),
        None => String::new(),
    };
    match which {
        "pids" => format!(
            "process limit reached ({} pids){at}: a fork failed (cannot fork)",
            limits.pids
        ),
        _ => format!("memory limit reached ({} bytes){at}", limits.memory_bytes),
    }
}

fn step_op(spec: &Spec, index: usize) -> &str {
    spec.steps.get(index).map_or("?", |s| s.op_name())
}

fn ended_early(f: &Followed, jail: Option<sys::Exit>) -> String {
    f.fatal.clone().unwrap_or_else(|| match jail {
        Some(sys::Exit::Signal(s)) => {
            format!("the sandbox was killed by {}", sys::Exit::signal_name(s))
        }
        Some(sys::Exit::Code(c)) => format!("the sandbox ended early (status {c})"),
        None => "the sandbox vanished".into(),
    })
}
