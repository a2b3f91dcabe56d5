//! The experiment spec: what a person asks rootlab to run, as plain data validated before anything runs.
//!
//! An experiment happens inside a disposable *lab host* (a sandbox that plays the role of the
//! machine in the lesson). The spec says how that host looks ([`HostSpec`]), which named
//! directories exist for overlays and binds ([`Layer`]), and then lists [`Step`]s executed in
//! order. Each step names the actor that performs it in its `in` field: `"host"` for the lab
//! host itself, or the name of a container created by an earlier [`Step::Container`].
//!
//! JSON shape (version 1):
//! ```json
//! { "version": 1, "title": "tmpfs on /tmp",
//!   "host": { "image": "tools", "root_propagation": "shared",
//!             "files": [ { "type": "file", "path": "/tmp/a.yaml", "content": "x" } ] },
//!   "layers": [ { "name": "A", "entries": [ { "type": "file", "path": "a" } ] } ],
//!   "steps": [ { "op": "container", "name": "c1" },
//!              { "op": "tmpfs", "in": "c1", "target": "/tmp" },
//!              { "op": "snapshot", "label": "after mount", "paths": ["/tmp"] } ] }
//! ```

pub use crate::image::ImageRef;
use serde::{Deserialize, Serialize};

/// The spec format version this build understands.
pub const SPEC_VERSION: u32 = 1;

/// The actor name that means the lab host rather than a container.
pub const HOST: &str = "host";

fn spec_version() -> u32 {
    SPEC_VERSION
}
fn host_actor() -> String {
    HOST.to_string()
}
fn default_true() -> bool {
    true
}
fn is_false(b: &bool) -> bool {
    !*b
}

/// Most background programs one actor may start (over its life).
pub const MAX_BACKGROUND: usize = 8;
fn mode_file() -> u32 {
    0o644
}
fn mode_dir() -> u32 {
    0o755
}
fn default_proc_target() -> String {
    "/proc".to_string()
}
fn default_snapshot_paths() -> Vec<String> {
    vec!["/".to_string()]
}
fn default_depth() -> u32 {
    4
}

/// One experiment.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Spec format version; must be 1.
    #[serde(default = "spec_version")]
    pub version: u32,
    /// A short title shown above the result.
    #[serde(default)]
    pub title: String,
    /// How the lab host looks before the first step.
    #[serde(default)]
    pub host: HostSpec,
    /// Named directories with declared contents, usable as overlay layers and bind sources.
    /// Each lives at `/layers/<name>` on the lab host, on a tmpfs of its own.
    #[serde(default)]
    pub layers: Vec<Layer>,
    /// What happens, in order.
    pub steps: Vec<Step>,
    /// What the learner expects the run to show; each is graded in the result's `expectations`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect: Vec<crate::expect::Expectation>,
}

/// The lab host: the disposable machine that plays "the host" in a lesson.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// The image the lab host runs on: a built-in tree (`tools`, the default; `busybox`) or an
    /// image in the store (`rootlab images ls`).
    #[serde(default)]
    pub image: ImageRef,
    /// Propagation of the lab host's `/` (recursively); `shared` is what systemd does.
    #[serde(default)]
    pub root_propagation: Propagation,
    /// Files, directories and symlinks to create on the lab host before the first step
    /// (absolute paths, e.g. the seed's `/tmp` contents).
    #[serde(default)]
    pub files: Vec<Entry>,
}

/// Mount propagation type, as set by `mount --make-*`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Propagation {
    #[default]
    Shared,
    Private,
    Slave,
    Unbindable,
}

impl Propagation {
    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::Shared => "shared",
            Propagation::Private => "private",
            Propagation::Slave => "slave",
            Propagation::Unbindable => "unbindable",
        }
    }
}

/// A named directory with declared entries, at `/layers/<name>` on the lab host.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// `[A-Za-z0-9_-]{1,32}`; unique.
    pub name: String,
    /// Entries, with paths relative to the layer's root (`a`, `etc/app.conf`).
    #[serde(default)]
    pub entries: Vec<Entry>,
    /// Take the layer from an image instead (then it has no entries of its own): the stored
    /// layer, read-only, whiteouts and opaque directories as overlayfs reads them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<LayerSource>,
}

/// One layer of a stored image.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LayerSource {
    pub image: ImageRef,
    /// Its position, 0 for the base (`rootlab images inspect` lists them bottom first).
    pub layer: usize,
}

/// A file-system entry to create. Parent directories are created as needed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Entry {
    File {
        path: String,
        #[serde(default)]
        content: String,
        /// Permission bits, e.g. 420 (0o644).
        #[serde(default = "mode_file")]
        mode: u32,
    },
    Dir {
        path: String,
        #[serde(default = "mode_dir")]
        mode: u32,
        /// In a layer: mark the directory opaque, hiding what lower layers hold at this path.
        #[serde(default)]
        opaque: bool,
    },
    Symlink {
        path: String,
        target: String,
    },
    /// In a layer: a deletion marker (overlayfs whiteout) hiding the path in lower layers.
    Whiteout {
        path: String,
    },
}

impl Entry {
    pub fn path(&self) -> &str {
        match self {
            Entry::File { path, .. }
            | Entry::Dir { path, .. }
            | Entry::Symlink { path, .. }
            | Entry::Whiteout { path } => path,
        }
    }
}

/// A namespace a container may unshare besides its mount namespace.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Namespace {
    Pid,
    Uts,
    Ipc,
    Net,
    /// A user namespace of its own (root in it is the sandbox's root): inherited mounts are
    /// locked and shared ones become slaves, as in a rootless container. Its programs get a
    /// pid namespace of their own, as with `pid`.
    User,
}

/// A flag of a new mount.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MountFlag {
    Readonly,
    Nosuid,
    Nodev,
    Noexec,
    Noatime,
}

impl MountFlag {
    /// The name `mount -o` uses.
    pub fn option_name(self) -> &'static str {
        match self {
            MountFlag::Readonly => "ro",
            MountFlag::Nosuid => "nosuid",
            MountFlag::Nodev => "nodev",
            MountFlag::Noexec => "noexec",
            MountFlag::Noatime => "noatime",
        }
    }
}

/// An overlayfs feature to ask for (`-o <option>`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OverlayOption {
    /// `volatile`: no syncs to the upper; the work directory is marked and refuses a remount.
    Volatile,
    /// `index=on`: hard links keep their identity across copy-up.
    Index,
    /// `metacopy=on`: a metadata change copies up the metadata only.
    Metacopy,
    /// `redirect_dir=on`: renaming a lower directory records a redirect instead of EXDEV.
    RedirectDir,
    /// `nfs_export=on`: file handles that survive copy-up.
    NfsExport,
}

impl OverlayOption {
    /// The option as `mount -o` takes it.
    pub fn option_text(self) -> &'static str {
        match self {
            OverlayOption::Volatile => "volatile",
            OverlayOption::Index => "index=on",
            OverlayOption::Metacopy => "metacopy=on",
            OverlayOption::RedirectDir => "redirect_dir=on",
            OverlayOption::NfsExport => "nfs_export=on",
        }
    }
}

/// One operation, performed by the actor named in `in` (`"host"` when omitted).
/// Paths are as the actor sees them at that moment (after a chroot, inside the new root).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Create a container: a process forked from the lab host into a new mount namespace
    /// (a copy of the host's mount table) and, optionally, other new namespaces.
    Container {
        /// `[A-Za-z0-9_-]{1,32}`, not `host`; unique among live containers.
        name: String,
        #[serde(default)]
        namespaces: Vec<Namespace>,
        /// Start it from an image, the `docker run` way: the image's layers (read-only) under a
        /// fresh writable layer `/layers/<name>.upper`, mounted by the lab host at
        /// `/containers/<name>` before the first step; the container mounts its own `/proc`,
        /// binds the host's `/dev` and pivots into it. Without it the container shares the
        /// host's root.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        image: Option<ImageRef>,
    },
    /// `mount -t tmpfs <source> <target>`.
    Tmpfs {
        #[serde(rename = "in", default = "host_actor")]
        actor: String,
        target: String,
        /// Mount source shown in the table (the seed uses `none`).
        #[serde(default)]
        source: Option<String>,
        /// Size in bytes; capped by the disk limit.
        #[serde(default)]
        size: Option<u64>,
        /// Permission bits of the tmpfs root.
        #[serde(default)]
        mode: Option<u32>,
        #[serde(default)]
        flags: Vec<MountFlag>,
    },
    /// `mount --bind <source> <target>` (`--rbind` when recursive); the source must be inside the lab.
    Bind {
        #[serde(rename = "in", default = "host_actor")]
        actor: String,
        source: String,
        target: String,
        #[serde(default)]
        readonly: bool,
        #[serde(default = "default_true")]
        recursive: bool,
        /// Then make the new mount `shared`, `private`, `slave` or `unbindable` (recursively
        /// when `recursive`), as `mount --rbind --make-rslave` does in one command.
        #[serde(default)]
        propagation: Option<Propagation>,
    },
    /// `mount --move <source> <target>`: the mount on `source` moves to `target`. The kernel
    /// refuses to move a mount whose parent is shared (EINVAL).
    Move {
        #[serde(rename = "in", default = "host_actor")]
        actor: String,
        source: String,
        target: String,
    },
    /// `mount -t overlay overlay -o lowerdir=...,upperdir=... <target>`; `lowers` and `upper`
    /// name layers (leftmost lower on top). Without `upper` the overlay is read-only.
    Overlay {
        #[serde(rename = "in", default = "host_actor")]
        actor: String,
        target: String,
        lowers: Vec<String>,
        #[serde(default)]
        upper: Option<String>,
        /// overlayfs features to ask for; an unprivileged overlay (as every lab's is) may not
        /// use `metacopy` or `redirect_dir`, and the kernel says so.
        #[serde(default)]
        options: Vec<OverlayOption>,
    },
    /// `mount -t proc proc <target>`.
    Proc {
        #[serde(rename = "in", default = "host_actor")]
        actor: String,
        #[serde(default = "default_proc_target")]
        target: String,
    },
    /// `mount -o remount,bind,ro <target>`.
    RemountReadonly {
        #[serde(rename = "in", default = "host_actor")]
        actor: String,
        target: String,
    },
    /// `umount <target>` (`-l` when detach).
    Umount {
        #[serde(rename = "in", default = "host_actor")]
        actor: String,
        target: String,
        #[serde(default)]
        detach: bool,
    },
    /// `mount --make-[r]{shared,private,slave,unbindable} <target>`.
    MakePropagation {
        #[serde(rename = "in", default = "host_actor")]
        actor: String,
        target: String,
        propagation: Propagation,
        #[serde(default = "default_true")]
        recursive: bool,
    },
    /// Build a rootfs the seed's way: create `dir/{bin,lib,lib64}`, copy each program and
    /// every library `ldd` reports for it (all of them unless `skip_libraries`).
    BuildRootfs {
        #[serde(rename = "in", default = "host_actor")]
        actor: String,
        dir: String,
        programs: Vec<String>,
        /// Leave libraries out (to see a program fail without its loader).
        #[serde(default)]
        skip_libraries: bool,
    },
    /// `chroot <dir>`: the actor's root becomes `dir`.
    Chroot {
        #[serde(rename = "in", default = "host_actor")]
        actor: String,
        dir: String,
    },
    /// `pivot_root`: bind `new_root` onto itself, pivot, and detach the old root.
    PivotRoot {
        #[serde(rename = "in", default = "host_actor")]
        actor: String,
        new_root: String,
    },
    /// Write a file (created or replaced).
    Write {
        #[serde(rename = "in", default = "host_actor")]
        actor: String,
        path: String,
        #[serde(default)]
        content: String,
        #[serde(default = "mode_file")]
        mode: u32,
    },
    /// `rm -rf <path>`.
    Delete {
        #[serde(rename = "in", default = "host_actor")]
        actor: String,
        path: String,
    },
    /// `mkdir -p <path>`.
    Mkdir {
        #[serde(rename = "in", default = "host_actor")]
        actor: String,
        path: String,
        #[serde(default = "mode_dir")]
        mode: u32,
    },
    /// Run a program from the actor's root; stdout, stderr and exit status are captured.
    Run {
        #[serde(rename = "in", default = "host_actor")]
        actor: String,
        argv: Vec<String>,
        /// `cmd &`: start the program and go on at once; its output keeps being captured and a
        /// later `wait` in the same actor reports it. At most [`MAX_BACKGROUND`] per actor.
        #[serde(default, skip_serializing_if = "is_false")]
        background: bool,
    },
    /// `wait`: wait for the actor's background programs to end and report each one's output
    /// and status, in start order. Needs a background `run` in the same actor before it.
    Wait {
        #[serde(rename = "in", default = "host_actor")]
        actor: String,
        /// Give up after this many milliseconds (the programs keep running; a later `wait`
        /// reports them). Without it, waits as long as the run's wall time allows.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// Try to climb out of the actor's root with the classic double-chroot-and-`..` trick,
    /// and report what `/` looks like afterwards.
    Escape {
        #[serde(rename = "in", default = "host_actor")]
        actor: String,
    },
    /// The container's process exits; its mount namespace goes away with it.
    Exit {
        #[serde(rename = "in")]
        actor: String,
    },
    /// `docker commit`: the writable layer of a container started from an image (an earlier
    /// `container` step with `image`), as one more OCI layer on top of that image, stored as the
    /// image `name` when the server keeps commits. Performed by the engine itself.
    Commit {
        /// The container (alive or exited: its writable layer stays until the end of the run).
        container: String,
        /// The new image's name (`my-app:v2`); not a built-in, not a digest, not taken.
        name: ImageRef,
        /// The history entry's `created_by` (default `rootlab commit <container>`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Record file trees and mount tables.
    Snapshot {
        /// Shown in the result; unique.
        label: String,
        /// Whose point of view; default: the host and every live container.
        #[serde(default)]
        views: Vec<String>,
        /// Paths to walk in each view (default `/`).
        #[serde(default = "default_snapshot_paths")]
        paths: Vec<String>,
        /// How deep to walk below each path.
        #[serde(default = "default_depth")]
        depth: u32,
        /// Also record each layer's own tree (whiteouts and opaque directories as stored).
        #[serde(default)]
        layers: bool,
    },
}

/// A commit's history entry (`created_by`): its message, else `rootlab commit <container>`.
pub fn commit_created_by(container: &str, message: Option<&str>) -> String {
    match message {
        Some(m) => m.to_string(),
        None => format!("rootlab commit {container}"),
    }
}

impl Step {
    /// The step's `op` tag, as in JSON.
    pub fn op_name(&self) -> &'static str {
        match self {
            Step::Container { .. } => "container",
            Step::Tmpfs { .. } => "tmpfs",
            Step::Bind { .. } => "bind",
            Step::Move { .. } => "move",
            Step::Overlay { .. } => "overlay",
            Step::Proc { .. } => "proc",
            Step::RemountReadonly { .. } => "remount_readonly",
            Step::Umount { .. } => "umount",
            Step::MakePropagation { .. } => "make_propagation",
            Step::BuildRootfs { .. } => "build_rootfs",
            Step::Chroot { .. } => "chroot",
            Step::PivotRoot { .. } => "pivot_root",
            Step::Write { .. } => "write",
            Step::Delete { .. } => "delete",
            Step::Mkdir { .. } => "mkdir",
            Step::Run { .. } => "run",
            Step::Wait { .. } => "wait",
            Step::Escape { .. } => "escape",
            Step::Exit { .. } => "exit",
            Step::Commit { .. } => "commit",
            Step::Snapshot { .. } => "snapshot",
        }
    }

    /// Who performs the step: the host or a container name. `Container` is performed by the
    /// host (it forks the container); `Snapshot` and `Commit` by the engine itself (`None`).
    pub fn actor(&self) -> Option<&str> {
        match self {
            Step::Container { .. } => Some(HOST),
            Step::Snapshot { .. } | Step::Commit { .. } => None,
            Step::Tmpfs { actor, .. }
            | Step::Bind { actor, .. }
            | Step::Move { actor, .. }
            | Step::Overlay { actor, .. }
            | Step::Proc { actor, .. }
            | Step::RemountReadonly { actor, .. }
            | Step::Umount { actor, .. }
            | Step::MakePropagation { actor, .. }
            | Step::BuildRootfs { actor, .. }
            | Step::Chroot { actor, .. }
            | Step::PivotRoot { actor, .. }
            | Step::Write { actor, .. }
            | Step::Delete { actor, .. }
            | Step::Mkdir { actor, .. }
            | Step::Run { actor, .. }
            | Step::Wait { actor, .. }
            | Step::Escape { actor, .. }
            | Step::Exit { actor } => Some(actor),
        }
    }
}
