//! The coordinator and router with the real `rootlab-worker`: runs reach the kernel, streams end
//! with `finished`, and a dropped or killed run costs a worker that is then replaced.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use rootlab::coordinator::{CancelError, Coordinator, PoolConfig, RunError, RunUpdate};
use rootlab::server::{app, AppState, HttpSettings};
use rootlab_shared::events::RunEvent;
use rootlab_shared::{Limits, Spec};
use serde_json::{json, Value};
use tower::ServiceExt;

mod server_support;
use server_support::child_pids;

/// These tests count this process's children (the workers): one test at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn pool(size: usize) -> PoolConfig {
    PoolConfig {
        worker: PathBuf::from(env!("CARGO_BIN_EXE_rootlab-worker")),
        size,
        queue: 8,
        limits: Limits::default(),
        run_timeout: Duration::from_secs(30),
        allow_commit: false,
    }
}

fn tmpfs_spec() -> Value {
    json!({"host": {"root_propagation": "private"},
           "steps": [{"op": "container", "name": "c1"},
                     {"op": "tmpfs", "in": "c1", "target": "/tmp", "source": "none"},
                     {"op": "snapshot", "label": "after", "paths": ["/tmp"]}]})
}

fn sleeper() -> Spec {
    serde_json::from_value(json!({"steps": [{"op": "run", "argv": ["/bin/sleep", "30"]}]})).unwrap()
}

async fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn alive(coordinator: &Coordinator) -> usize {
    let stats = coordinator.stats();
    stats.alive.load(std::sync::atomic::Ordering::SeqCst)
        + stats.running.load(std::sync::atomic::Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_reaches_the_kernel_through_the_router() {
    let _serial = SERIAL.lock().await;
    let coordinator = Coordinator::start(pool(1)).await;
    let app = app(AppState::new(coordinator.clone(), HttpSettings::default()));
    let req = Request::post("/api/v1/run")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(tmpfs_spec().to_string()))
        .unwrap();
    let response = app.oneshot(req).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let result: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(result["status"], "completed");
    let views = result["snapshots"][0]["views"].as_array().unwrap();
    let c1 = views.iter().find(|v| v["actor"] == "c1").unwrap();
    let tmp = c1["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["target"] == "/tmp")
        .unwrap();
    assert_eq!(tmp["fstype"], "tmpfs");
    let host = views.iter().find(|v| v["actor"] == "host").unwrap();
    assert!(!host["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["target"] == "/tmp" && m["fstype"] == "tmpfs"));
    coordinator.shutdown(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_ends_with_finished() {
    let _serial = SERIAL.lock().await;
    let coordinator = Coordinator::start(pool(1)).await;
    let app = app(AppState::new(coordinator.clone(), HttpSettings::default()));
    let req = Request::post("/api/v1/run/stream")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT_ENCODING, "gzip, br")
        .body(Body::from(tmpfs_spec().to_string()))
        .unwrap();
    let response = app.oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("x-run-id"));
    assert!(
        response.headers().get(header::CONTENT_ENCODING).is_none(),
        "events are never held back by a compressor"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names.first(), Some(&"started"), "{names:?}");
    assert_eq!(names.last(), Some(&"finished"), "{names:?}");
    assert_eq!(names.iter().filter(|n| **n == "step_finished").count(), 3);
    coordinator.shutdown(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_a_run_kills_and_replaces_its_worker() {
    let _serial = SERIAL.lock().await;
    let coordinator = Coordinator::start(pool(1)).await;
    let before = child_pids();
    let mut handle = coordinator.submit(sleeper()).unwrap();
    match handle.updates.recv().await {
        Some(RunUpdate::Event(RunEvent::Started { .. })) => {}
        other => panic!("expected started, got {other:?}"),
    }
    drop(handle);
    wait_until("the worker is replaced", || {
        coordinator
            .stats()
            .restarts
            .load(std::sync::atomic::Ordering::SeqCst)
            == 1
            && alive(&coordinator) == 1
    })
    .await;
    let after = child_pids();
    assert!(
        before.iter().all(|p| !after.contains(p)),
        "old worker {before:?} still a child: {after:?}"
    );
    coordinator.shutdown(Duration::ZERO).await;
    assert!(
        child_pids().is_empty(),
        "workers left after shutdown: {:?}",
        child_pids()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_worker_is_reported_and_replaced() {
    let _serial = SERIAL.lock().await;
    let coordinator = Coordinator::start(pool(1)).await;
    let workers = child_pids();
    assert_eq!(workers.len(), 1);
    let mut handle = coordinator.submit(sleeper()).unwrap();
    assert!(matches!(
        handle.updates.recv().await,
        Some(RunUpdate::Event(RunEvent::Started { .. }))
    ));
    let victim = nix::unistd::Pid::from_raw(workers[0]);
    nix::sys::signal::kill(victim, nix::sys::signal::Signal::SIGKILL).expect("kill the worker");
    let last = loop {
        match handle.updates.recv().await {
            Some(RunUpdate::Event(_)) => continue,
            other => break other,
        }
    };
    assert!(
        matches!(last, Some(RunUpdate::Failed(RunError::WorkerDied))),
        "{last:?}"
    );
    wait_until("a fresh worker is up", || alive(&coordinator) == 1).await;
    let mut handle = coordinator
        .submit(serde_json::from_value(tmpfs_spec()).unwrap())
        .unwrap();
    let mut finished = false;
    while let Some(update) = handle.updates.recv().await {
        finished |= matches!(update, RunUpdate::Event(RunEvent::Finished { .. }));
    }
    assert!(finished, "the replacement worker serves runs");
    coordinator.shutdown(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_by_id_ends_the_run_as_cancelled() {
    let _serial = SERIAL.lock().await;
    let coordinator = Coordinator::start(pool(1)).await;
    let mut handle = coordinator.submit(sleeper()).unwrap();
    assert!(matches!(
        handle.updates.recv().await,
        Some(RunUpdate::Event(RunEvent::Started { .. }))
    ));
    assert_eq!(
        coordinator.cancel(&handle.id, &"0".repeat(32)),
        Err(CancelError::WrongToken),
        "another client's token cancels nothing"
    );
    assert_eq!(coordinator.cancel(&handle.id, &handle.token), Ok(()));
    let last = loop {
        match handle.updates.recv().await {
            Some(RunUpdate::Event(_)) => continue,
            other => break other,
        }
    };
    assert!(
        matches!(last, Some(RunUpdate::Failed(RunError::Cancelled))),
        "{last:?}"
    );
    assert!(handle.updates.recv().await.is_none());
    assert_eq!(
        coordinator.cancel(&handle.id, &handle.token),
        Err(CancelError::NotFound),
        "a finished run cannot be cancelled again"
    );
    coordinator.shutdown(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_requester_cancels_a_stream() {
    let _serial = SERIAL.lock().await;
    let coordinator = Coordinator::start(pool(1)).await;
    let app = app(AppState::new(coordinator.clone(), HttpSettings::default()));
    let req = Request::post("/api/v1/run/stream")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_string(&sleeper()).unwrap()))
        .unwrap();
    let response = app.clone().oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let id = response.headers()["x-run-id"].to_str().unwrap().to_string();
    let token = response.headers()["x-cancel-token"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 32, "{id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    assert_ne!(id, token);
    let delete = |token: Option<&str>| {
        let mut req = Request::delete(format!("/api/v1/runs/{id}"));
        if let Some(token) = token {
            req = req.header("x-cancel-token", token);
        }
        app.clone().oneshot(req.body(Body::empty()).unwrap())
    };
    let refused = |response: axum::response::Response, status: StatusCode, field: &'static str| async move {
        assert_eq!(response.status(), status);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let error: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(error["error"]["fields"][0]["field"], field, "{error}");
        error
    };
    let error = refused(
        delete(None).await.unwrap(),
        StatusCode::FORBIDDEN,
        "X-Cancel-Token",
    )
    .await;
    assert_eq!(error["error"]["code"], "forbidden");
    let wrong = "0".repeat(32);
    refused(
        delete(Some(&wrong)).await.unwrap(),
        StatusCode::FORBIDDEN,
        "X-Cancel-Token",
    )
    .await;
    let response = delete(Some(&token)).await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(body.is_empty());
    // The run is over once its stream says so; then the id names nothing.
    wait_until("the cancelled run is gone", || {
        coordinator.cancel(&id, &token) == Err(CancelError::NotFound)
    })
    .await;
    let error = refused(
        delete(Some(&token)).await.unwrap(),
        StatusCode::NOT_FOUND,
        "run_id",
    )
    .await;
    assert_eq!(error["error"]["code"], "not_found");
    let req = Request::delete("/api/v1/runs/42")
        .header("x-cancel-token", token.as_str())
        .body(Body::empty())
        .unwrap();
    refused(
        app.clone().oneshot(req).await.unwrap(),
        StatusCode::NOT_FOUND,
        "run_id",
    )
    .await;
    coordinator.shutdown(Duration::ZERO).await;
}
