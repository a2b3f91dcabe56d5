//! `/livez`, `/readyz` and `/healthz` against real workers: a sandbox that cannot mount `/proc`
//! (as under Docker's masked `/proc`) is not ready although every worker is up; idle workers
//! killed with SIGKILL are counted out when they die, readiness fails until they are replaced,
//! and the next run does not meet a dead worker. Deadlines are generous; states are asserted.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use rootlab::coordinator::{Coordinator, PoolConfig};
use rootlab::server::{app, AppState, HttpSettings};
use rootlab_shared::Limits;
use serde_json::{json, Value};
use tower::ServiceExt;

mod server_support;
use server_support::child_pids;

/// These tests count and kill this process's children (the workers): one test at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const WORKER: &str = env!("CARGO_BIN_EXE_rootlab-worker");
const DEADLINE: Duration = Duration::from_secs(60);

fn pool(worker: PathBuf, size: usize) -> PoolConfig {
    PoolConfig {
        worker,
        size,
        queue: 8,
        limits: Limits::default(),
        run_timeout: Duration::from_secs(30),
        allow_commit: false,
    }
}

async fn start(worker: PathBuf, size: usize) -> (Coordinator, Router) {
    let coordinator = Coordinator::start(pool(worker, size)).await;
    let state = AppState::new(coordinator.clone(), HttpSettings::default());
    state.start_self_test(Duration::from_millis(200));
    (coordinator, app(state))
}

/// A worker executable: a shell script in `dir` running `body` (which ends by exec'ing the
/// real worker, so the pid the pool sees is the worker's).
fn wrapper(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("worker.sh");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

async fn get(app: &Router, uri: &str) -> (StatusCode, Value) {
    let req = Request::get(uri).body(Body::empty()).unwrap();
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

/// Poll `uri` until `ok` holds for its answer; the last answer.
async fn poll(
    app: &Router,
    uri: &str,
    what: &str,
    ok: impl Fn(StatusCode, &Value) -> bool,
) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let (status, body) = get(app, uri).await;
        if ok(status, &body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn run_tmpfs(app: &Router) -> (StatusCode, Value) {
    let spec = json!({"steps": [{"op": "container", "name": "c1"},
                                {"op": "tmpfs", "in": "c1", "target": "/tmp"}]});
    let req = Request::post("/api/v1/run")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(spec.to_string()))
        .unwrap();
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_working_sandbox_is_live_and_ready() {
    let _serial = SERIAL.lock().await;
    let (coordinator, app) = start(PathBuf::from(WORKER), 1).await;
    let (status, live) = get(&app, "/livez").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(live["status"], "alive");
    let ready = poll(&app, "/readyz", "ready", |s, _| s == StatusCode::OK).await;
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["reasons"], json!([]));
    assert_eq!(ready["self_test"]["state"], "passed");
    let (status, health) = get(&app, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["self_test"]["state"], "passed");
    assert_eq!(health["workers"]["alive"], 1);
    coordinator.shutdown(Duration::ZERO).await;
    let (status, ready) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert!(
        ready["reasons"].to_string().contains("shutting down"),
        "{ready}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sandbox_that_cannot_mount_proc_is_not_ready() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: masking /proc for the worker needs root");
        return;
    }
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    // As Docker does without `systempaths=unconfined`: a file over-mounted inside /proc makes the
    // kernel refuse a fresh procfs to a user namespace (the sandbox's), while the worker is fine.
    let worker = wrapper(
        dir.path(),
        &format!(
            "exec unshare -m --propagation private sh -c \
             'mount --bind /dev/null /proc/uptime && exec \"$0\"' {WORKER}"
        ),
    );
    let (coordinator, app) = start(worker, 1).await;
    let ready = poll(&app, "/readyz", "the self-test has run", |_, b| {
        b["self_test"]["state"] != "pending"
    })
    .await;
    let (status, ready_now) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready_now}");
    assert_eq!(ready["ready"], false);
    assert_eq!(ready["self_test"]["state"], "failed", "{ready}");
    let error = ready["self_test"]["error"].as_str().unwrap();
    assert!(error.contains("/proc"), "{error}");
    assert!(
        ready["reasons"].to_string().contains("self-test failed"),
        "{ready}"
    );
    // The workers themselves are up: before, /healthz said `ok` here.
    assert_eq!(ready["workers"]["alive"], 1, "{ready}");
    let (status, health) = get(&app, "/healthz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{health}");
    assert_eq!(health["status"], "down");
    let (status, _) = get(&app, "/livez").await;
    assert_eq!(status, StatusCode::OK, "alive, though not ready");
    coordinator.shutdown(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_idle_workers_fail_readiness_until_replaced() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken");
    // While `broken` exists, no worker can start: the dead stay dead and readiness stays failed.
    let worker = wrapper(
        dir.path(),
        &format!("[ -e {} ] && exit 1\nexec {WORKER}", broken.display()),
    );
    let (coordinator, app) = start(worker, 2).await;
    poll(&app, "/readyz", "ready", |s, _| s == StatusCode::OK).await;
    let workers = child_pids();
    assert_eq!(workers.len(), 2, "{workers:?}");
    let (_, health) = get(&app, "/healthz").await;
    let mut idle: Vec<i32> =
        serde_json::from_value(health["workers"]["pids"]["idle"].clone()).unwrap();
    idle.sort_unstable();
    let mut sorted = workers.clone();
    sorted.sort_unstable();
    assert_eq!(idle, sorted, "{health}");
    std::fs::write(&broken, "").unwrap();
    for pid in &workers {
        let pid = nix::unistd::Pid::from_raw(*pid);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    }
    let killed = Instant::now();
    let ready = poll(&app, "/readyz", "not ready", |s, _| {
        s == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    eprintln!("readiness failed {:?} after the kill", killed.elapsed());
    assert_eq!(ready["ready"], false);
    let health = poll(&app, "/healthz", "both deaths counted", |_, b| {
        b["workers"]["lost_idle"] == 2
    })
    .await;
    assert_eq!(health["workers"]["alive"], 0, "{health}");
    assert_eq!(
        health["workers"]["pids"],
        json!({"idle": [], "busy": []}),
        "{health}"
    );
    assert_eq!(health["status"], "down", "{health}");
    assert!(health["workers"]["last_error"].is_string(), "{health}");
    let (_, ready) = get(&app, "/readyz").await;
    assert!(
        ready["reasons"].to_string().contains("no worker is alive"),
        "{ready}"
    );
    std::fs::remove_file(&broken).unwrap();
    let ready = poll(&app, "/readyz", "ready again, with every worker", |s, b| {
        s == StatusCode::OK && b["workers"]["alive"] == 2
    })
    .await;
    assert_eq!(ready["reasons"], json!([]));
    let (status, result) = run_tmpfs(&app).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result["status"], "completed");
    assert!(child_pids().iter().all(|p| !workers.contains(p)));
    coordinator.shutdown(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_run_after_killing_idle_workers_meets_a_live_one() {
    let _serial = SERIAL.lock().await;
    let (coordinator, app) = start(PathBuf::from(WORKER), 2).await;
    poll(&app, "/readyz", "ready", |s, _| s == StatusCode::OK).await;
    for pid in child_pids() {
        let pid = nix::unistd::Pid::from_raw(pid);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    }
    poll(&app, "/healthz", "both deaths noticed", |_, b| {
        b["workers"]["lost_idle"] == 2
    })
    .await;
    // Before, this was `502 worker_died`: the pool handed out a dead worker.
    for _ in 0..2 {
        let (status, result) = run_tmpfs(&app).await;
        assert_eq!(status, StatusCode::OK, "{result}");
    }
    let health = poll(&app, "/healthz", "the pool is whole", |_, b| {
        b["workers"]["alive"] == 2
    })
    .await;
    assert!(
        health["workers"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("while idle")),
        "{health}"
    );
    coordinator.shutdown(Duration::ZERO).await;
    assert!(child_pids().is_empty(), "workers left: {:?}", child_pids());
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_does_not_flap_while_runs_come_and_go() {
    let _serial = SERIAL.lock().await;
    let (coordinator, app) = start(PathBuf::from(WORKER), 1).await;
    poll(&app, "/readyz", "ready", |s, _| s == StatusCode::OK).await;
    let runs = {
        let app = app.clone();
        tokio::spawn(async move {
            for _ in 0..20 {
                let (status, result) = run_tmpfs(&app).await;
                assert_eq!(status, StatusCode::OK, "{result}");
            }
        })
    };
    // A worker going from idle to busy and back is counted once, never zero or twice.
    let mut probes = 0;
    while !runs.is_finished() {
        let (status, ready) = get(&app, "/readyz").await;
        assert_eq!(status, StatusCode::OK, "{ready}");
        assert_eq!(ready["workers"]["alive"], 1, "{ready}");
        probes += 1;
    }
    runs.await.unwrap();
    assert!(probes > 0);
    coordinator.shutdown(Duration::ZERO).await;
}
