//! Health for operators and orchestrators: `/livez` (the process answers), `/readyz` (runs would
//! succeed now: a worker is up and the cached sandbox self-test passed; 503 with the reasons when
//! not) and `/healthz` (the whole picture: workers, queue, sandbox capabilities, self-test, limits).

use std::path::Path;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rootlab_shared::Limits;
use serde::{Deserialize, Serialize};

use super::selftest::{SelfTestState, SelfTestStatus};
use super::AppState;
use crate::coordinator::WorkerPids;

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Every worker is up, the self-test passed and the sandbox has what it needs.
    Ok,
    /// Serving, but with fewer workers than configured, a capability missing, or the first
    /// self-test not run yet.
    Degraded,
    /// Runs would fail: no worker alive, the self-test failed, or shutting down.
    Down,
}

#[derive(Serialize, Deserialize, Debug, utoipa::ToSchema)]
pub struct Health {
    pub status: HealthStatus,
    pub version: String,
    pub workers: WorkerHealth,
    pub queue: QueueHealth,
    pub sandbox: SandboxCapabilities,
    pub self_test: SelfTestStatus,
    pub limits: Limits,
}

#[derive(Serialize, Deserialize, Debug, Clone, utoipa::ToSchema)]
pub struct WorkerHealth {
    pub configured: usize,
    /// Worker processes up (idle or busy); a worker that dies is counted out when it dies.
    pub alive: usize,
    pub idle: usize,
    pub busy: usize,
    /// Replacements being started.
    pub starting: usize,
    /// Workers replaced since start (after a cancel, a timeout, a death).
    pub restarts: u64,
    /// Workers that died or went silent while idle since start.
    pub lost_idle: u64,
    /// The last worker failure since start (a failed start, a worker lost while idle), if any.
    pub last_error: Option<String>,
    /// The worker processes by state.
    pub pids: WorkerProcesses,
}

/// Pids of the worker processes, by state.
#[derive(Serialize, Deserialize, Debug, Clone, utoipa::ToSchema)]
pub struct WorkerProcesses {
    pub idle: Vec<u32>,
    pub busy: Vec<u32>,
}

#[derive(Serialize, Deserialize, Debug, utoipa::ToSchema)]
pub struct QueueHealth {
    pub capacity: usize,
    pub waiting: usize,
}

/// The answer of `/readyz`.
#[derive(Serialize, Deserialize, Debug, utoipa::ToSchema)]
pub struct Readiness {
    pub ready: bool,
    /// Why not, one line each (empty when ready).
    pub reasons: Vec<String>,
    pub workers: WorkerHealth,
    pub self_test: SelfTestStatus,
}

/// The answer of `/livez`.
#[derive(Serialize, Deserialize, Debug, utoipa::ToSchema)]
pub struct Liveness {
    /// Always `alive`: the process answers.
    pub status: String,
    pub version: String,
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

/// `GET /livez`.
#[utoipa::path(get, path = "/livez", tag = "operations",
    responses((status = 200, description = "The process is up and answers", body = Liveness)))]
pub async fn livez() -> Json<Liveness> {
    Json(Liveness {
        status: "alive".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// `GET /readyz`.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready: a worker is up and the sandbox self-test passed", body = Readiness),
        (status = 503, description = "Not ready; `reasons` says why", body = Readiness),
    ))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let workers = worker_health(&state);
    let self_test = state.self_test.status();
    let reasons = not_ready_reasons(&state, &workers, &self_test);
    let code = if reasons.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let readiness = Readiness {
        ready: reasons.is_empty(),
        reasons,
        workers,
        self_test,
    };
    (code, Json(readiness))
}

fn not_ready_reasons(
    state: &AppState,
    workers: &WorkerHealth,
    self_test: &SelfTestStatus,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if state.coordinator.is_closing() {
        reasons.push("shutting down".to_string());
    }
    if workers.alive == 0 {
        let why = workers.last_error.as_deref().unwrap_or("none started yet");
        reasons.push(format!("no worker is alive (last error: {why})"));
    }
    match self_test.state {
        SelfTestState::Passed => {}
        SelfTestState::Pending => reasons.push("the sandbox self-test has not run yet".into()),
        SelfTestState::Failed => reasons.push(format!(
            "the sandbox self-test failed: {}",
            self_test.error.as_deref().unwrap_or("no message")
        )),
    }
    reasons
}

/// `GET /healthz`.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses(
        (status = 200, description = "Serving (`ok` or `degraded`)", body = Health),
        (status = 503, description = "Runs would fail (`down`)", body = Health),
    ))]
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let coordinator = &state.coordinator;
    let workers = worker_health(&state);
    let self_test = state.self_test.status();
    let mut sandbox = state.capabilities.clone();
    sandbox.images = coordinator.info().images;
    let down =
        coordinator.is_closing() || workers.alive == 0 || self_test.state == SelfTestState::Failed;
    let degraded = workers.alive < workers.configured
        || self_test.state == SelfTestState::Pending
        || !sandbox.user_namespaces
        || !sandbox.overlayfs;
    let (status, code) = match (down, degraded) {
        (true, _) => (HealthStatus::Down, StatusCode::SERVICE_UNAVAILABLE),
        (false, true) => (HealthStatus::Degraded, StatusCode::OK),
        (false, false) => (HealthStatus::Ok, StatusCode::OK),
    };
    let health = Health {
        status,
        version: env!("CARGO_PKG_VERSION").to_string(),
        workers,
        queue: QueueHealth {
            capacity: coordinator.config().queue,
            waiting: coordinator.stats().waiting.load(Ordering::SeqCst),
        },
        sandbox,
        self_test,
        limits: state.limits.as_ref().clone(),
    };
    (code, Json(health))
}

fn worker_health(state: &AppState) -> WorkerHealth {
    let coordinator = &state.coordinator;
    let stats = coordinator.stats();
    // One snapshot: a worker moving between idle and busy is counted once.
    let WorkerPids { idle, busy } = coordinator.worker_pids();
    WorkerHealth {
        configured: coordinator.config().size,
        alive: idle.len() + busy.len(),
        idle: idle.len(),
        busy: busy.len(),
        starting: stats.starting.load(Ordering::SeqCst),
        restarts: stats.restarts.load(Ordering::Relaxed),
        lost_idle: stats.lost_idle.load(Ordering::Relaxed),
        last_error: coordinator.info().last_error,
        pids: WorkerProcesses { idle, busy },
    }
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
