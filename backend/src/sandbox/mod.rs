//! The kernel-facing sandbox: forks the disposable lab host (user + mount + pid + uts + ipc + net
//! namespaces), builds its root, runs the steps in it and streams what happened back as JSON lines.
//!
//! Process tree of one experiment (docs/security.md says why each line is out of reach of the
//! programs the experiment runs):
//! `worker` -> `jail` (own session; drops privileges, unshares, enforces the wall time) -> `lab`
//! init (pid 1 of the sandbox's pid namespace; builds the lab root, orchestrates and observes)
//! -> one `actor` process for the host and one per container, each serving ops over a socket
//! -> the user's programs, born one pid namespace down (`pidns`), each in its own session.
//!
//! Module map: `jail`, `lab`, `actor` are the processes; `wire` and `channel` what crosses between
//! them; `ops` dispatches a step to the op modules (`rootfs`, `run`, `background`, `escape`,
//! `layers`, `image_root`; `commit` is the lab init's own), which
//! share `context`, `outcome` and `command`; `walk` and `snapshot` observe; `sys` is the only
//! door to the kernel.

pub mod actor;
pub mod background;
pub mod cgroup;
pub mod channel;
pub mod command;
pub mod commit;
pub mod context;
pub mod escape;
pub mod explain;
pub mod fscontext;
pub mod image_root;
pub mod jail;
pub mod lab;
pub mod layers;
pub mod netns;
pub mod ops;
pub mod outcome;
pub mod pidns;
pub mod rootfs;
pub mod run;
pub mod seccomp;
pub mod snapshot;
pub mod sys;
pub mod userns;
pub mod walk;
pub mod wire;

use std::fs::File;
use std::path::PathBuf;

use rootlab_shared::{Limits, Spec};

pub use wire::LabMessage;

/// Everything the sandbox needs, fixed before the fork.
#[derive(Clone, Debug)]
pub struct Plan {
    pub spec: Spec,
    pub limits: Limits,
    /// The lab root's image: its read-only layers (overlay lowers), bottom first.
    pub image_layers: Vec<PathBuf>,
    /// Containers the spec starts from an image, with their images' layers.
    pub container_images: Vec<image_root::ContainerImage>,
    /// Stored layers the spec's `layers` take from images, bound read-only at `/layers/<name>`.
    pub exposed_layers: Vec<image_root::ExposedLayer>,
    /// An empty directory the lab mounts its root tmpfs on (inside its own mount namespace).
    pub mount_dir: PathBuf,
    /// Host uid/gid mapped to root inside; `None` keeps the caller's own (rootless).
    pub drop_to: Option<(u32, u32)>,
    /// The uid/gid that root inside maps to.
    pub map_uid: u32,
    pub map_gid: u32,
    /// cgroup directories the sandbox joins before dropping privileges.
    pub cgroups: Vec<PathBuf>,
    /// A fresh network namespace to join (as root) instead of creating one.
    pub netns: Option<std::sync::Arc<File>>,
    /// Process limits applied with setrlimit (as backstop or instead of cgroups).
    pub rlimit_nproc: Option<u64>,
    pub rlimit_as: Option<u64>,
}

/// Exit codes of the jail process.
pub mod jail_exit {
    /// The lab finished on its own.
    pub const OK: i32 = 0;
    /// The wall-time deadline passed and the lab was killed.
    pub const DEADLINE: i32 = 10;
    /// The lab init died of a signal nobody in the engine sent (e.g. the OOM killer).
    pub const LAB_KILLED: i32 = 11;
    /// The lab init exited with an error.
    pub const LAB_FAILED: i32 = 12;
    /// The jail itself could not set up the namespaces.
    pub const SETUP_FAILED: i32 = 13;
}

/// A running sandbox, seen from the engine.
pub struct Launched {
    pub jail: sys::Pid,
    /// The lab's messages; EOF once every sandbox process is gone.
    pub messages: File,
}

/// Fork the jail process that builds and runs the sandbox.
pub fn launch(plan: &Plan) -> Result<Launched, sys::Errno> {
    let (reader, writer) = sys::pipe()?;
    match sys::fork()? {
        sys::Forked::Child => {
            drop(reader);
            sys::child(|| jail::main(plan, writer))
        }
        sys::Forked::Parent(pid) => Ok(Launched {
            jail: pid,
            messages: reader,
        }),
    }
}
