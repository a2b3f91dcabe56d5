//! Engine configuration: where state lives, whom the sandbox runs as, whether to use cgroups.

use std::path::PathBuf;

use crate::sandbox::sys;

/// How the engine runs sandboxes on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Cached base images (`images/`) and the empty mount point of lab roots (`mnt/`).
    pub state_dir: PathBuf,
    /// Host uid/gid that root inside the sandbox maps to (and that the sandbox runs as).
    pub sandbox_uid: u32,
    pub sandbox_gid: u32,
    /// Enforce pids and memory with cgroup v1 when running as root and the hierarchy is writable.
    pub use_cgroups: bool,
    /// Where the cgroup v1 controllers are mounted.
    pub cgroup_root: PathBuf,
    /// More host programs for the `tools` image (absolute paths; their libraries come along).
    pub extra_tools: Vec<PathBuf>,
    /// Keep what `commit` steps make as images in the store (`rootlab run`: yes; `rootlab
    /// serve`: only with `--allow-commit`, since strangers could fill the disk or replace
    /// images others use). Without it a commit is read and listed, then dropped.
    pub allow_commit: bool,
}

/// Command-line overrides (`#[command(flatten)]` them into a clap parser); each falls back to
/// its environment variable, then to the default of [`EngineConfig::from_env`].
#[derive(clap::Args, Clone, Debug, Default)]
pub struct EngineArgs {
    /// Directory for cached images and the sandbox mount point.
    #[arg(long, env = "ROOTLAB_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Host uid the sandbox runs as (root only; default 65534).
    #[arg(long, env = "ROOTLAB_SANDBOX_UID")]
    pub sandbox_uid: Option<u32>,
    /// Host gid the sandbox runs as (root only; default: the uid).
    #[arg(long, env = "ROOTLAB_SANDBOX_GID")]
    pub sandbox_gid: Option<u32>,
    /// Do not use cgroups even when running as root (rlimits only).
    #[arg(long, env = "ROOTLAB_NO_CGROUPS")]
    pub no_cgroups: bool,
    /// More host programs to put in the `tools` image's /bin, as absolute paths separated
    /// by `:` (each with the libraries `ldd` names).
    #[arg(long, env = "ROOTLAB_EXTRA_TOOLS", value_delimiter = ':')]
    pub extra_tools: Vec<PathBuf>,
}

impl EngineConfig {
    /// Defaults, overridden by `ROOTLAB_STATE_DIR`, `ROOTLAB_SANDBOX_UID`, `ROOTLAB_SANDBOX_GID`,
    /// `ROOTLAB_NO_CGROUPS`, `ROOTLAB_EXTRA_TOOLS`, `ROOTLAB_ALLOW_COMMIT` (off unless `1` or
    /// `true`).
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let args = EngineArgs {
            state_dir: var("ROOTLAB_STATE_DIR").map(PathBuf::from),
            sandbox_uid: var("ROOTLAB_SANDBOX_UID").and_then(|v| v.parse().ok()),
            sandbox_gid: var("ROOTLAB_SANDBOX_GID").and_then(|v| v.parse().ok()),
            no_cgroups: var("ROOTLAB_NO_CGROUPS").is_some_and(|v| v != "0" && v != "false"),
            extra_tools: var("ROOTLAB_EXTRA_TOOLS")
                .map(|v| {
                    v.split(':')
                        .filter(|p| !p.is_empty())
                        .map(PathBuf::from)
                        .collect()
                })
                .unwrap_or_default(),
        };
        let allow = var("ROOTLAB_ALLOW_COMMIT").is_some_and(|v| v == "1" || v == "true");
        EngineConfig {
            allow_commit: allow,
            ..Self::from_args(&args)
        }
    }

    pub fn from_args(args: &EngineArgs) -> Self {
        let root = sys::effective_uid() == 0;
        let state_dir = args
            .state_dir
            .clone()
            .unwrap_or_else(|| default_state_dir(root));
        let (uid, gid) = if root {
            // Root inside the sandbox must never be root outside.
            let uid = args.sandbox_uid.filter(|u| *u != 0).unwrap_or(65534);
            (uid, args.sandbox_gid.filter(|g| *g != 0).unwrap_or(uid))
        } else {
            // Rootless: the sandbox can only map the caller's own ids.
            (sys::effective_uid(), sys::effective_gid())
        };
        EngineConfig {
            state_dir,
            sandbox_uid: uid,
            sandbox_gid: gid,
            use_cgroups: root && !args.no_cgroups,
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
            extra_tools: args.extra_tools.clone(),
            allow_commit: false,
        }
    }

    /// Running as root: the sandbox drops to `sandbox_uid` before unsharing.
    pub fn is_root(&self) -> bool {
        sys::effective_uid() == 0
    }

    pub fn images_dir(&self) -> PathBuf {
        self.state_dir.join("images")
    }

    pub fn mount_dir(&self) -> PathBuf {
        self.state_dir.join("mnt")
    }
}

fn default_state_dir(root: bool) -> PathBuf {
    if root {
        return PathBuf::from("/var/lib/rootlab");
    }
    let xdg = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty());
    match (xdg, std::env::var_os("HOME")) {
        (Some(x), _) => PathBuf::from(x).join("rootlab"),
        (None, Some(home)) => PathBuf::from(home).join(".local/state/rootlab"),
        (None, None) => std::env::temp_dir().join(format!("rootlab-{}", sys::effective_uid())),
    }
}
