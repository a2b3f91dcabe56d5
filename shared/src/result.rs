//! The result document of one experiment: what each step did, and snapshots of file trees and mount tables.

use serde::{Deserialize, Serialize};

use crate::limits::Limits;

/// Everything an experiment produced.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunResult {
    /// Result format version (same as the spec's).
    pub version: u32,
    pub title: String,
    pub status: RunStatus,
    /// One line for the learner when the run did not complete (which limit, what failed), or
    /// about a completed run's end (a background program still running, killed with the sandbox).
    #[serde(default)]
    pub message: Option<String>,
    /// `uname -r` of the machine running rootlab: every container shares this kernel.
    pub kernel_release: String,
    /// The base image the lab host ran on, and the programs it holds.
    pub image: ImageInfo,
    /// The limits in force and how each was enforced.
    pub limits: LimitsReport,
    /// One per spec step, in order; steps after a fatal stop are absent.
    pub steps: Vec<StepResult>,
    /// In the order they were taken.
    pub snapshots: Vec<Snapshot>,
    /// The spec's expectations, graded against this result (absent when it had none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expectations: Vec<crate::expect::Graded>,
    /// Wall time of the experiment in microseconds, from the request to this result: validation,
    /// sandbox set-up and every step. The sandbox's tear-down follows the result.
    pub duration_us: u64,
}

/// How the experiment as a whole ended. A step the kernel refused is not a failure of the run:
/// it is recorded in that step's outcome and the run goes on.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every step ran (some may have been refused by the kernel).
    Completed,
    /// A limit stopped the experiment (see `message`); the sandbox was torn down.
    LimitExceeded,
    /// Cancelled by the client.
    Cancelled,
    /// The sandbox itself failed (see `message`).
    Failed,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImageInfo {
    pub name: String,
    /// Programs in `/bin` of the image.
    pub programs: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LimitsReport {
    pub limits: Limits,
    /// For each runtime limit, the kernel mechanism that enforced it.
    pub enforcement: Vec<Enforcement>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Enforcement {
    /// `wall_ms`, `pids`, `memory_bytes`, `disk_bytes`, `inodes`, `output_bytes`.
    pub limit: String,
    /// E.g. `cgroup v1 pids.max`, `RLIMIT_NPROC`, `tmpfs size=`, `SIGKILL after deadline`.
    pub mechanism: String,
}

/// What one step did.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepResult {
    /// Index in the spec's `steps`.
    pub index: usize,
    /// `op` of the step.
    pub op: String,
    /// Who performed it: `host`, a container name, or `engine` for snapshots.
    pub actor: String,
    /// The equivalent shell command, e.g. `mount -t tmpfs none /tmp`.
    pub command: String,
    /// The system calls made, e.g. `mount("none", "/tmp", "tmpfs", 0, "")`.
    pub syscalls: Vec<String>,
    pub outcome: StepOutcome,
    /// For `run` steps (and `build_rootfs`'s ldd runs): what the program printed.
    #[serde(default)]
    pub output: Option<CommandOutput>,
    /// Step-specific details: what `build_rootfs` copied and why, what `escape` saw.
    #[serde(default)]
    pub details: Option<StepDetails>,
    /// For `snapshot` steps: index into `snapshots`.
    #[serde(default)]
    pub snapshot: Option<usize>,
    pub duration_us: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StepOutcome {
    Ok,
    /// The kernel (or the program) refused: a result to show, not a server error.
    Error(StepError),
    /// Not run, e.g. because its container had already exited.
    Skipped {
        reason: String,
    },
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepError {
    /// Symbolic errno, e.g. `EINVAL`; absent for errors that are not a failed system call.
    #[serde(default)]
    pub errno: Option<String>,
    #[serde(default)]
    pub code: Option<i32>,
    /// What failed, e.g. `mount: Invalid argument`.
    pub message: String,
    /// One line on why, for a learner.
    pub explanation: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommandOutput {
    pub argv: Vec<String>,
    pub stdout: String,
    pub stderr: String,
    /// Exit status when the program exited normally.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Signal name when it was killed, e.g. `SIGKILL`.
    #[serde(default)]
    pub signal: Option<String>,
    /// True when output beyond the limit was dropped.
    #[serde(default)]
    pub truncated: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepDetails {
    BuildRootfs {
        /// Every program and library copied, with why.
        copied: Vec<CopiedFile>,
        /// `ldd <program>` as it printed, per program.
        ldd: Vec<CommandOutput>,
    },
    Escape {
        /// Did the attempt reach a root other than the one the actor started in?
        escaped: bool,
        /// `ls /` after the attempt.
        root_listing: Vec<String>,
        /// What was done, step by step.
        trace: Vec<String>,
    },
    /// A background `run`: the program started and the step went on at once.
    Started {
        /// Its pid as the programs of its actor see it (absent if it could not be read).
        #[serde(default)]
        pid: Option<i32>,
    },
    /// `wait` (or an `exit` that ended background programs): what each program did.
    Waited {
        /// One per program that ended, in start order.
        ended: Vec<CommandOutput>,
        /// Programs still running when the wait gave up (they go on).
        #[serde(default)]
        still_running: Vec<Running>,
    },
    /// `commit`: the layer made of the container's writable layer, and the image stored.
    Committed(Committed),
}

/// A `commit`: the container's writable layer as an OCI layer, as the worker's store read it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Committed {
    /// The image the container was started from: the layers this one goes on top of.
    pub parent: crate::image::ImageRef,
    /// The sha256 of the uncompressed layer tar (`rootfs.diff_ids`).
    pub diff_id: String,
    /// Bytes of the layer tar as it crossed from the sandbox.
    pub tar_bytes: u64,
    /// Bytes of the regular files it holds.
    pub size: u64,
    /// Its entries as the store lists a layer: a whiteout at `<name>`, an opaque flag on a
    /// directory (the top row of the new image's layer view).
    pub entries: Vec<crate::image::LayerEntry>,
    /// What the layer does not carry, one sentence each (FIFOs, sockets, device nodes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    /// The new image, when the server keeps commits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<crate::image::ImageSummary>,
    /// Why no image was stored, and how a server keeps commits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A background program that had not ended.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Running {
    pub argv: Vec<String>,
    /// Its pid as the programs of its actor see it.
    #[serde(default)]
    pub pid: Option<i32>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CopiedFile {
    /// Where it came from (in the actor's view before the copy).
    pub source: String,
    /// Where it went, relative to the new rootfs (e.g. `/lib64/ld-linux-x86-64.so.2`).
    pub dest: String,
    /// `program`, or the program whose `ldd` listed it.
    pub reason: String,
}

/// File trees and mount tables at one moment, from several points of view.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Snapshot {
    pub label: String,
    /// Index of the snapshot step in the spec.
    pub step: usize,
    pub views: Vec<View>,
    /// Each layer's own tree, when asked for.
    #[serde(default)]
    pub layers: Vec<LayerTree>,
}

/// What one actor sees.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct View {
    /// `host` or a container name.
    pub actor: String,
    /// The actor's mount table, from `/proc/<pid>/mountinfo`, in mount order.
    pub mounts: Vec<MountEntry>,
    /// The mount table was longer than the observer reads (about 4 MiB); `mounts` is its start.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mounts_truncated: bool,
    /// One per requested path.
    pub trees: Vec<Tree>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LayerTree {
    pub name: String,
    pub tree: Tree,
}

/// A walk of one path.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tree {
    /// The walked path.
    pub root: String,
    /// Set when the path could not be walked (e.g. `ENOENT`).
    #[serde(default)]
    pub error: Option<String>,
    /// Every entry below `root` (not `root` itself), depth first, sorted by name.
    pub entries: Vec<TreeEntry>,
    /// True when entries beyond the limit or the depth were left out.
    #[serde(default)]
    pub truncated: bool,
    /// Every directory down to this many levels below `root` was listed in full (the walk's
    /// depth), so a path that shallow and not in `entries` does not exist; absent when the entry
    /// limit cut the walk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_to: Option<u32>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TreeEntry {
    /// Absolute path in the actor's view (or relative to the layer root, for layer trees).
    pub path: String,
    pub kind: FileKind,
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// User name as the actor's `/etc/passwd` would show it (`root`, `nobody`).
    pub owner: String,
    #[serde(default)]
    pub link_target: Option<String>,
    /// First bytes of a small text file.
    #[serde(default)]
    pub preview: Option<String>,
    /// Under an overlay mount: the layer the entry comes from (`upper` layer name, or a lower's).
    #[serde(default)]
    pub layer: Option<String>,
    /// An overlayfs whiteout (a 0:0 character device) in a layer's own tree.
    #[serde(default)]
    pub whiteout: bool,
    /// An opaque directory (`user.overlay.opaque=y`) in a layer's own tree.
    #[serde(default)]
    pub opaque: bool,
    /// The entry is a mount point in this view.
    #[serde(default)]
    pub mount_point: bool,
}

impl TreeEntry {
    /// An entry owned by root, mode 0644, with nothing else set: the start of fixtures and
    /// synthetic trees (`TreeEntry { size: 3, ..TreeEntry::new(path, kind) }`).
    pub fn new(path: impl Into<String>, kind: FileKind) -> Self {
        TreeEntry {
            path: path.into(),
            kind,
            size: 0,
            mode: 0o644,
            uid: 0,
            gid: 0,
            owner: "root".into(),
            link_target: None,
            preview: None,
            layer: None,
            whiteout: false,
            opaque: false,
            mount_point: false,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

/// One row of a mount table, named as `findmnt --json` names its columns.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MountEntry {
    /// Mount id (as the kernel numbers it: differs between runs).
    pub id: u32,
    /// Parent mount id.
    pub parent: u32,
    /// Mount point, relative to the actor's root.
    pub target: String,
    /// Mount source, e.g. `none`, `overlay`, or `/layers/A` for a bind (findmnt shows binds as `source[/root]`).
    pub source: String,
    /// The directory of the file system mounted here (`/` unless a bind of a subdirectory).
    pub root: String,
    pub fstype: String,
    /// Per-mount and per-superblock options together, as findmnt's OPTIONS column.
    pub options: String,
    /// findmnt's PROPAGATION column: `shared`, `private`, `private,slave`, `shared,slave`, `unbindable`...
    pub propagation: String,
    /// Peer group this mount shares events with (`shared:N`), renumbered 1, 2, ... per run.
    #[serde(default)]
    pub shared: Option<u32>,
    /// Peer group this mount receives events from (`master:N`), renumbered likewise.
    #[serde(default)]
    pub master: Option<u32>,
    /// Those of `options` that are the sandbox's, not the lesson's: a tmpfs's `size=` and
    /// `nr_inodes=` (the disk limits), `uid=`/`gid=` (its user namespace), an overlay's
    /// `userxattr`. Leave them out to read the textbook line (`rw,relatime`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added_options: Vec<String>,
}

impl MountEntry {
    /// A private `rw` mount of a file system's `/`, in no peer group: the start of fixtures
    /// (`MountEntry { shared: Some(1), ..MountEntry::new(1, 0, "/tmp", "none", "tmpfs") }`).
    pub fn new(id: u32, parent: u32, target: &str, source: &str, fstype: &str) -> Self {
        MountEntry {
            id,
            parent,
            target: target.into(),
            source: source.into(),
            root: "/".into(),
            fstype: fstype.into(),
            options: "rw".into(),
            propagation: "private".into(),
            shared: None,
            master: None,
            added_options: Vec::new(),
        }
    }

    /// `options` without the sandbox's own: the line a textbook (or the course) shows.
    pub fn textbook_options(&self) -> String {
        let lesson = |o: &&str| !self.added_options.iter().any(|a| a == o);
        self.options
            .split(',')
            .filter(lesson)
            .collect::<Vec<_>>()
            .join(",")
    }
}
