//! The kernel-facing sandbox: forks the disposable lab host (user + mount + pid + uts + ipc + net
//! namespaces), builds its root, runs the steps in it and streams what happened back as JSON lines.
//!
//! Process tree of one experiment:
//! `worker` -> `jail` (drops privileges, unshares, enforces the wall time) -> `lab` init (pid 1 of
//! the new pid namespace; builds the lab root, orchestrates and observes) -> one `actor` process for
//! the host and one per container, each serving ops over a socket.

pub mod actor;
pub mod cgroup;
pub mod channel;
pub mod escape;
pub mod explain;
pub mod jail;
pub mod lab;
pub mod layers;
pub mod netns;
pub mod ops;
pub mod rootfs;
pub mod run;
pub mod snapshot;
pub mod sys;

use std::fs::File;
use std::path::PathBuf;

use rootlab_shared::result::{Snapshot, StepResult};
use rootlab_shared::{Limits, Spec};
use serde::{Deserialize, Serialize};

/// Everything the sandbox needs, fixed before the fork.
#[derive(Clone, Debug)]
pub struct Plan {
    pub spec: Spec,
    pub limits: Limits,
    /// The cached read-only base image (overlay lower of the lab root).
    pub image_dir: PathBuf,
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

/// What the lab init tells the engine, one JSON line each.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(tag = "m", rename_all = "snake_case")]
pub enum LabMessage {
    /// The lab host is built; steps start.
    Ready,
    StepStarted {
        index: usize,
        op: String,
        actor: String,
    },
    Snapshot {
        snapshot: Box<Snapshot>,
    },
    StepFinished {
        result: Box<StepResult>,
    },
    /// The lab could not be built or went wrong; the message says what.
    Fatal {
        message: String,
    },
    /// Every step ran.
    Done,
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
