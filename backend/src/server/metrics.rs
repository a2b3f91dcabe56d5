//! `/metrics` in the Prometheus text format: runs by outcome, run durations, runs in flight (and
//! the most ever in flight), queue length, rejections, workers, HTTP answers by status.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::coordinator::PoolStats;

/// Counters kept by the HTTP layer (the pool keeps its own in `PoolStats`).
#[derive(Default)]
pub struct HttpMetrics {
    responses: Mutex<BTreeMap<u16, u64>>,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
}

impl HttpMetrics {
    pub fn count_response(&self, status: u16) {
        *self.responses.lock().unwrap().entry(status).or_default() += 1;
    }

    pub fn count_rejected(&self, reason: &'static str) {
        *self.rejected.lock().unwrap().entry(reason).or_default() += 1;
    }

    pub fn rejected(&self, reason: &str) -> u64 {
        self.rejected
            .lock()
            .unwrap()
            .get(reason)
            .copied()
            .unwrap_or(0)
    }
}

/// Middleware: count every answer by status, and 4xx rejections by their reason.
pub async fn count(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status().as_u16();
    state.metrics.count_response(status);
    match status {
        400 => state.metrics.count_rejected("bad_request"),
        413 => state.metrics.count_rejected("payload_too_large"),
        415 => state.metrics.count_rejected("unsupported_media_type"),
        422 => state.metrics.count_rejected("invalid_spec"),
        _ => {}
    }
    response
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let text = render(state.coordinator.stats(), &state.metrics);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}

pub fn render(pool: &PoolStats, http: &HttpMetrics) -> String {
    let mut out = String::new();
    render_runs(&mut out, pool);
    render_pool(&mut out, pool);
    render_http(&mut out, pool, http);
    out
}

fn render_runs(out: &mut String, pool: &PoolStats) {
    header_line(
        out,
        "rootlab_runs_total",
        "counter",
        "Runs by how they ended.",
    );
    for (outcome, n) in pool.outcomes.snapshot() {
        let _ = writeln!(out, "rootlab_runs_total{{outcome=\"{outcome}\"}} {n}");
    }
    let name = "rootlab_run_duration_seconds";
    header_line(
        out,
        name,
        "histogram",
        "Time from accepting a run to its result (queueing included).",
    );
    let (buckets, count, sum) = pool.durations.snapshot();
    for (bound, n) in buckets {
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
    let _ = writeln!(out, "{name}_sum {sum}");
    let _ = writeln!(out, "{name}_count {count}");
}

fn render_pool(out: &mut String, pool: &PoolStats) {
    let gauges = [
        (
            "rootlab_runs_in_flight",
            "Experiments running now.",
            pool.running.load(Ordering::SeqCst),
        ),
        (
            "rootlab_runs_in_flight_max",
            "Most experiments ever running at once since start.",
            pool.running_max.load(Ordering::SeqCst),
        ),
        (
            "rootlab_runs_queued",
            "Runs waiting for a worker.",
            pool.waiting.load(Ordering::SeqCst),
        ),
        (
            "rootlab_workers_alive",
            "Idle or busy worker processes.",
            pool.alive.load(Ordering::SeqCst) + pool.running.load(Ordering::SeqCst),
        ),
        (
            "rootlab_workers_starting",
            "Replacement workers being started.",
            pool.starting.load(Ordering::SeqCst),
        ),
    ];
    for (name, help, value) in gauges {
        header_line(out, name, "gauge", help);
        let _ = writeln!(out, "{name} {value}");
    }
    let name = "rootlab_worker_restarts_total";
    header_line(
        out,
        name,
        "counter",
        "Workers replaced after a cancel, a timeout or a death.",
    );
    let _ = writeln!(out, "{name} {}", pool.restarts.load(Ordering::Relaxed));
    let name = "rootlab_workers_lost_idle_total";
    header_line(
        out,
        name,
        "counter",
        "Workers that died or went silent while idle (each replaced at once).",
    );
    let _ = writeln!(out, "{name} {}", pool.lost_idle.load(Ordering::Relaxed));
}

fn render_http(out: &mut String, pool: &PoolStats, http: &HttpMetrics) {
    let name = "rootlab_rejected_total";
    header_line(
        out,
        name,
        "counter",
        "Requests refused before running, by reason.",
    );
    let busy = pool.rejected_busy.load(Ordering::Relaxed);
    let _ = writeln!(out, "{name}{{reason=\"busy\"}} {busy}");
    for (reason, n) in http.rejected.lock().unwrap().iter() {
        let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {n}");
    }
    let name = "rootlab_http_responses_total";
    header_line(out, name, "counter", "HTTP answers by status.");
    for (status, n) in http.responses.lock().unwrap().iter() {
        let _ = writeln!(out, "{name}{{status=\"{status}\"}} {n}");
    }
}

fn header_line(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}
