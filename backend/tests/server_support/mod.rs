//! Shared helpers of the server tests: a router with no worker behind it, one request through
//! it, and the worker processes (this test process's children).
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use http_body_util::BodyExt;
use rootlab::coordinator::{Coordinator, PoolConfig};
use rootlab::server::{app, AppState, HttpSettings};
use rootlab_shared::Limits;
use tower::ServiceExt;

/// Send one request through the router; its status, headers and whole body.
pub async fn send(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let response = app.clone().oneshot(req).await.expect("the router answers");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, headers, body)
}

/// Worker processes: this test process's children (of any of its threads).
pub fn child_pids() -> Vec<i32> {
    let mut pids = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        pids.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    pids
}

/// A pool whose worker cannot start: nothing runs, so runs are refused with `busy` (queue 0).
pub async fn app_without_workers(settings: HttpSettings) -> Router {
    app(AppState::new(workerless().await, settings))
}

/// A coordinator whose worker cannot start.
async fn workerless() -> Coordinator {
    let pool = PoolConfig {
        worker: PathBuf::from("/nonexistent/rootlab-worker"),
        size: 1,
        queue: 0,
        limits: Limits::default(),
        run_timeout: Duration::from_secs(5),
        allow_commit: false,
    };
    Coordinator::start(pool).await
}

/// [`app_without_workers`] with an image store in `state_dir`, allowing what `service` says.
pub async fn app_with_images(
    state_dir: &std::path::Path,
    allow_registries: &[&str],
    import_limit: Option<usize>,
) -> Router {
    let coordinator = workerless().await;
    let cfg = rootlab::config::EngineConfig::from_args(&rootlab::config::EngineArgs {
        state_dir: Some(state_dir.to_path_buf()),
        ..Default::default()
    });
    let store = rootlab::store::Store::open(&cfg).expect("the store");
    let images = rootlab::server::images::ImageService {
        store: std::sync::Arc::new(store),
        allow_registries: allow_registries.iter().map(|s| s.to_string()).collect(),
        insecure_registries: vec![],
        import_limit,
    };
    app(AppState::new(coordinator, HttpSettings::default()).with_images(images))
}
