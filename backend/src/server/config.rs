//! `rootlab serve`'s settings: every one a flag and an environment variable (see docs/api.md).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use rootlab_shared::Limits;

use super::logging::LogFormat;

/// Settings of `rootlab serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Listen address (port 0 picks a free port; the chosen address is printed).
    #[arg(long, env = "ROOTLAB_ADDR", default_value = "127.0.0.1:7878")]
    pub addr: SocketAddr,
    /// Worker processes = experiments running at once [default: number of cores].
    #[arg(long, env = "ROOTLAB_WORKERS")]
    pub workers: Option<usize>,
    /// Requests that may wait for a worker; past that, 429 `busy`.
    #[arg(long, env = "ROOTLAB_QUEUE", default_value_t = 64)]
    pub queue: usize,
    /// Requests per second per client IP on the run/validate endpoints (0 = off).
    #[arg(long, env = "ROOTLAB_RATE_LIMIT", default_value_t = 20.0)]
    pub rate_limit: f64,
    /// Burst allowed above the rate.
    #[arg(long, env = "ROOTLAB_RATE_BURST", default_value_t = 40)]
    pub rate_burst: u32,
    /// Behind a reverse proxy: rate-limit by the last address of X-Forwarded-For (which the
    /// proxy appends) instead of the proxy's own address.
    #[arg(long, env = "ROOTLAB_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
    /// Server-side deadline of one run, queueing included, in ms.
    #[arg(
        long = "run-timeout",
        env = "ROOTLAB_RUN_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    pub run_timeout_ms: u64,
    /// Largest request body, in bytes.
    #[arg(long, env = "ROOTLAB_BODY_LIMIT", default_value_t = 256 * 1024)]
    pub body_limit: usize,
    /// Allow this browser origin (`*` for any); off by default.
    #[arg(long, env = "ROOTLAB_CORS_ORIGIN")]
    pub cors_origin: Option<String>,
    /// The built frontend [default: frontend/dist in the current directory, else dist/ next to the binary].
    #[arg(long, env = "ROOTLAB_STATIC_DIR")]
    pub static_dir: Option<PathBuf>,
    /// The worker executable [default: rootlab-worker next to this binary].
    #[arg(long, env = "ROOTLAB_WORKER")]
    pub worker: Option<PathBuf>,
    /// On SIGTERM/Ctrl-C, time running experiments get before they are cancelled, in ms.
    #[arg(
        long = "shutdown-grace",
        env = "ROOTLAB_SHUTDOWN_GRACE_MS",
        default_value_t = 5_000
    )]
    pub shutdown_grace_ms: u64,
    /// How often the sandbox self-test behind `/readyz` runs while it passes, in ms (every
    /// second while it fails).
    #[arg(
        long = "self-test-interval",
        env = "ROOTLAB_SELF_TEST_INTERVAL_MS",
        default_value_t = 30_000
    )]
    pub self_test_interval_ms: u64,
    /// Keep what `commit` steps make as images in the store. Off by default: on a public
    /// server strangers could fill its disk or take names others use. Without it a commit is
    /// read and listed, then dropped.
    #[arg(long, env = "ROOTLAB_ALLOW_COMMIT")]
    pub allow_commit: bool,
    /// Log format on stderr.
    #[arg(long, env = "ROOTLAB_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Let `POST /api/v1/images/pull` reach this registry, `host[:port]` (repeatable; `*.domain`
    /// allowed). Also binds where it may redirect and its token service. Default: no pulls.
    #[arg(
        long = "allow-registry",
        env = "ROOTLAB_ALLOW_REGISTRY",
        value_delimiter = ',',
        value_name = "HOST[:PORT]"
    )]
    pub allow_registry: Vec<String>,
    /// Of the allowed registries, reach these over plain http (a registry on this host or
    /// network, e.g. 127.0.0.1:5000).
    #[arg(
        long = "insecure-registry",
        env = "ROOTLAB_INSECURE_REGISTRY",
        value_delimiter = ',',
        value_name = "HOST[:PORT]"
    )]
    pub insecure_registry: Vec<String>,
    /// Let `POST /api/v1/images/import` take uploaded archives up to this many bytes (held in
    /// memory while unpacked). Default: no imports.
    #[arg(
        long = "allow-import",
        env = "ROOTLAB_ALLOW_IMPORT",
        value_name = "BYTES"
    )]
    pub allow_import: Option<usize>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// The per-experiment limits; defaults are `Limits::default()`.
#[derive(clap::Args, Debug, Clone)]
pub struct LimitArgs {
    /// Limit: wall-clock time of one experiment, ms.
    #[arg(long, env = "ROOTLAB_WALL_MS", default_value_t = Limits::default().wall_ms)]
    pub wall_ms: u64,
    /// Limit: processes alive at once in a sandbox.
    #[arg(long, env = "ROOTLAB_PIDS", default_value_t = Limits::default().pids)]
    pub pids: u64,
    /// Limit: memory of a sandbox, bytes.
    #[arg(long, env = "ROOTLAB_MEMORY_BYTES", default_value_t = Limits::default().memory_bytes)]
    pub memory_bytes: u64,
    /// Limit: size of each tmpfs in a sandbox, bytes.
    #[arg(long, env = "ROOTLAB_DISK_BYTES", default_value_t = Limits::default().disk_bytes)]
    pub disk_bytes: u64,
    /// Limit: inodes of each tmpfs.
    #[arg(long, env = "ROOTLAB_INODES", default_value_t = Limits::default().inodes)]
    pub inodes: u64,
    /// Limit: stdout+stderr bytes kept per command.
    #[arg(long, env = "ROOTLAB_OUTPUT_BYTES", default_value_t = Limits::default().output_bytes)]
    pub output_bytes: u64,
    /// Limit: steps per spec.
    #[arg(long, env = "ROOTLAB_MAX_STEPS", default_value_t = Limits::default().max_steps)]
    pub max_steps: usize,
    /// Limit: declared files per spec.
    #[arg(long, env = "ROOTLAB_MAX_FILES", default_value_t = Limits::default().max_files)]
    pub max_files: usize,
    /// Limit: layers per spec.
    #[arg(long, env = "ROOTLAB_MAX_LAYERS", default_value_t = Limits::default().max_layers)]
    pub max_layers: usize,
    /// Limit: mounting steps per spec.
    #[arg(long, env = "ROOTLAB_MAX_MOUNTS", default_value_t = Limits::default().max_mounts)]
    pub max_mounts: usize,
    /// Limit: containers per spec.
    #[arg(long, env = "ROOTLAB_MAX_CONTAINERS", default_value_t = Limits::default().max_containers)]
    pub max_containers: usize,
    /// Limit: content bytes of one declared file or write step.
    #[arg(long, env = "ROOTLAB_MAX_FILE_BYTES", default_value_t = Limits::default().max_file_bytes)]
    pub max_file_bytes: usize,
    /// Limit: entries recorded per snapshot tree.
    #[arg(long, env = "ROOTLAB_MAX_TREE_ENTRIES", default_value_t = Limits::default().max_tree_entries)]
    pub max_tree_entries: usize,
    /// Limit: preview bytes of a small text file.
    #[arg(long, env = "ROOTLAB_PREVIEW_BYTES", default_value_t = Limits::default().preview_bytes)]
    pub preview_bytes: usize,
}

impl LimitArgs {
    pub fn to_limits(&self) -> Limits {
        Limits {
            wall_ms: self.wall_ms,
            pids: self.pids,
            memory_bytes: self.memory_bytes,
            disk_bytes: self.disk_bytes,
            inodes: self.inodes,
            output_bytes: self.output_bytes,
            max_steps: self.max_steps,
            max_files: self.max_files,
            max_layers: self.max_layers,
            max_mounts: self.max_mounts,
            max_containers: self.max_containers,
            max_file_bytes: self.max_file_bytes,
            max_tree_entries: self.max_tree_entries,
            preview_bytes: self.preview_bytes,
        }
    }
}

/// Settings the router needs (the pool has its own `PoolConfig`).
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub rate_limit: f64,
    pub rate_burst: u32,
    pub trust_forwarded_for: bool,
    pub body_limit: usize,
    pub cors_origin: Option<String>,
    pub static_dir: PathBuf,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            rate_limit: 0.0,
            rate_burst: 1,
            trust_forwarded_for: false,
            body_limit: 256 * 1024,
            cors_origin: None,
            static_dir: PathBuf::from("frontend/dist"),
        }
    }
}

impl ServeArgs {
    pub fn workers(&self) -> usize {
        self.workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
            .max(1)
    }

    pub fn run_timeout(&self) -> Duration {
        Duration::from_millis(self.run_timeout_ms)
    }

    pub fn self_test_interval(&self) -> Duration {
        Duration::from_millis(self.self_test_interval_ms.max(1))
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }

    pub fn worker_path(&self) -> PathBuf {
        self.worker
            .clone()
            .unwrap_or_else(|| next_to_exe("rootlab-worker"))
    }

    pub fn http(&self) -> HttpSettings {
        HttpSettings {
            rate_limit: self.rate_limit,
            rate_burst: self.rate_burst,
            trust_forwarded_for: self.trust_forwarded_for,
            body_limit: self.body_limit,
            cors_origin: self.cors_origin.clone(),
            static_dir: self.static_dir.clone().unwrap_or_else(default_static_dir),
        }
    }
}

fn next_to_exe(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.parent()
        .map(|dir| dir.join(name))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// `frontend/dist` when run from a checkout; `dist/` next to the binary when installed.
fn default_static_dir() -> PathBuf {
    let in_checkout = PathBuf::from("frontend/dist");
    if in_checkout.is_dir() {
        return in_checkout;
    }
    let installed = next_to_exe("dist");
    if installed.is_dir() {
        installed
    } else {
        in_checkout
    }
}
