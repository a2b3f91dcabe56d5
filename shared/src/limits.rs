//! Limits on what one experiment may ask for (checked before it runs) and use (enforced by the kernel while it runs).

use serde::{Deserialize, Serialize};

/// Every limit of one experiment. The server fixes these from its configuration; a spec
/// cannot raise them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Wall-clock time for the whole experiment, in milliseconds.
    pub wall_ms: u64,
    /// Processes and threads alive at once in the sandbox (fork bombs end here).
    pub pids: u64,
    /// Memory of the whole sandbox, in bytes.
    pub memory_bytes: u64,
    /// Size of each tmpfs the sandbox mounts (lab root, layers, tmpfs steps), in bytes.
    pub disk_bytes: u64,
    /// Inodes of each such tmpfs.
    pub inodes: u64,
    /// Bytes of stdout plus stderr kept per command; the rest is dropped and marked truncated.
    pub output_bytes: u64,
    /// Steps in a spec.
    pub max_steps: usize,
    /// Host files plus layer entries in a spec.
    pub max_files: usize,
    /// Layers in a spec.
    pub max_layers: usize,
    /// Mounting steps (tmpfs, bind, overlay, proc) in a spec.
    pub max_mounts: usize,
    /// Containers in a spec.
    pub max_containers: usize,
    /// Bytes of content of one declared file or write step.
    pub max_file_bytes: usize,
    /// Entries recorded per snapshot tree; the rest is marked truncated.
    pub max_tree_entries: usize,
    /// Bytes of a small text file shown as a preview in a tree.
    pub preview_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            wall_ms: 10_000,
            pids: 64,
            memory_bytes: 128 << 20,
            disk_bytes: 16 << 20,
            inodes: 4096,
            output_bytes: 64 << 10,
            max_steps: 64,
            max_files: 256,
            max_layers: 8,
            max_mounts: 32,
            max_containers: 4,
            max_file_bytes: 64 << 10,
            max_tree_entries: 2000,
            preview_bytes: 256,
        }
    }
}

/// Longest path accepted anywhere in a spec, in bytes.
pub const MAX_PATH_BYTES: usize = 256;
/// Longest name (layer, container, snapshot label), in bytes.
pub const MAX_NAME_BYTES: usize = 32;
/// Most arguments of a `run` step.
pub const MAX_ARGV: usize = 32;
/// Longest single argument of a `run` step, in bytes.
pub const MAX_ARG_BYTES: usize = 1024;
/// Deepest a snapshot may walk.
pub const MAX_DEPTH: u32 = 16;
/// Most programs in one `build_rootfs` step.
pub const MAX_PROGRAMS: usize = 16;
