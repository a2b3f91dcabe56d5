//! `/healthz`: is the pool up, what can the sandbox do on this kernel, and which limits are in force.

use std::path::Path;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rootlab_shared::Limits;
use serde::{Deserialize, Serialize};

use super::AppState;

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Every worker is up and the sandbox has what it needs.
    Ok,
    /// Serving, but with fewer workers than configured or a sandbox capability missing.
    Degraded,
    /// No worker is alive: runs cannot be served.
    Down,
}

#[derive(Serialize, Deserialize, Debug, utoipa::ToSchema)]
pub struct Health {
    pub status: HealthStatus,
    pub version: String,
    pub workers: WorkerHealth,
    pub queue: QueueHealth,
    pub sandbox: SandboxCapabilities,
    pub limits: Limits,
}

#[derive(Serialize, Deserialize, Debug, utoipa::ToSchema)]
pub struct WorkerHealth {
    pub configured: usize,
    /// Worker processes up (idle or busy).
    pub alive: usize,
    pub busy: usize,
    /// Why the last worker failed to start, if it did.
    pub last_error: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, utoipa::ToSchema)]
pub struct QueueHealth {
    pub capacity: usize,
    pub waiting: usize,
}

/// What this kernel offers the sandbox (read from /proc and /sys, not by trying it).
#[derive(Serialize, Deserialize, Clone, Debug, utoipa::ToSchema)]
pub struct SandboxCapabilities {
    pub user_namespaces: bool,
    pub overlayfs: bool,
    /// The cgroup controllers the sandbox can use, e.g. `v1 pids,memory`; empty when none.
    pub cgroups: String,
    /// Base images the workers reported when they came up.
    pub images: Vec<String>,
}

impl SandboxCapabilities {
    pub fn probe() -> Self {
        SandboxCapabilities {
            user_namespaces: user_namespaces_enabled(),
            overlayfs: read("/proc/filesystems")
                .lines()
                .any(|l| l.ends_with("\toverlay")),
            cgroups: cgroup_controllers(),
            images: Vec::new(),
        }
    }
}

/// `GET /healthz`.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses(
        (status = 200, description = "Serving (`ok` or `degraded`)", body = Health),
        (status = 503, description = "No worker alive", body = Health),
    ))]
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let coordinator = &state.coordinator;
    let stats = coordinator.stats();
    let info = coordinator.info();
    let busy = stats.running.load(Ordering::SeqCst);
    let alive = stats.alive.load(Ordering::SeqCst) + busy;
    let configured = coordinator.config().size;
    let mut sandbox = state.capabilities.clone();
    sandbox.images = info.images;
    let status = if alive == 0 || coordinator.is_closing() {
        HealthStatus::Down
    } else if alive < configured || !sandbox.user_namespaces || !sandbox.overlayfs {
        HealthStatus::Degraded
    } else {
        HealthStatus::Ok
    };
    let code = match status {
        HealthStatus::Down => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::OK,
    };
    let health = Health {
        status,
        version: env!("CARGO_PKG_VERSION").to_string(),
        workers: WorkerHealth {
            configured,
            alive,
            busy,
            last_error: info.last_error,
        },
        queue: QueueHealth {
            capacity: coordinator.config().queue,
            waiting: stats.waiting.load(Ordering::SeqCst),
        },
        sandbox,
        limits: state.limits.as_ref().clone(),
    };
    (code, Json(health))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn user_namespaces_enabled() -> bool {
    let max: u64 = read("/proc/sys/user/max_user_namespaces")
        .trim()
        .parse()
        .unwrap_or(0);
    // Debian's switch; absent on kernels without the patch.
    let debian_off = read("/proc/sys/kernel/unprivileged_userns_clone").trim() == "0";
    max > 0 && !debian_off
}

fn cgroup_controllers() -> String {
    let v1: Vec<&str> = ["pids", "memory"]
        .into_iter()
        .filter(|c| Path::new("/sys/fs/cgroup").join(c).join("tasks").exists())
        .collect();
    if !v1.is_empty() {
        return format!("v1 {}", v1.join(","));
    }
    let v2 = read("/sys/fs/cgroup/cgroup.controllers");
    if v2.trim().is_empty() {
        String::new()
    } else {
        format!("v2 {}", v2.split_whitespace().collect::<Vec<_>>().join(","))
    }
}
