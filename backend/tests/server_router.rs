//! Router tests (no socket): every error class answers JSON with the right status and code, and
//! the operational endpoints answer. Runs that need a sandbox are in the live tests (e2e/api/).

use std::path::PathBuf;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use rootlab::server::HttpSettings;
use rootlab_shared::Limits;
use serde_json::{json, Value};

mod server_support;
use server_support::{app_without_workers, send};

async fn default_app() -> Router {
    app_without_workers(HttpSettings {
        static_dir: PathBuf::from("/nonexistent/dist"),
        ..HttpSettings::default()
    })
    .await
}

fn post_json(uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap()
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

/// Assert an error answer: status, JSON content type, `error.code`; return the error object.
async fn expect_error(app: &Router, req: Request<Body>, status: StatusCode, code: &str) -> Value {
    let (got, headers, body) = send(app, req).await;
    let text = String::from_utf8_lossy(&body).to_string();
    assert_eq!(got, status, "body: {text}");
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "application/json",
        "body: {text}"
    );
    let json: Value = serde_json::from_slice(&body).expect("error bodies are JSON");
    assert_eq!(json["error"]["code"], code, "body: {text}");
    if matches!(
        code,
        "bad_json" | "unsupported_media_type" | "payload_too_large" | "invalid_spec"
    ) {
        assert!(
            json["error"]["fields"][0]["field"].is_string(),
            "a bad input names its field: {text}"
        );
    }
    assert!(json["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    assert!(json["error"]["fields"].is_array());
    json["error"].clone()
}

fn tmpfs_spec(target: &str) -> String {
    json!({"steps": [{"op": "container", "name": "c1"},
                     {"op": "tmpfs", "in": "c1", "target": target}]})
    .to_string()
}

#[tokio::test]
async fn body_that_is_not_json_is_bad_json() {
    let app = default_app().await;
    expect_error(
        &app,
        post_json("/api/v1/run", "{\"steps\": ["),
        StatusCode::BAD_REQUEST,
        "bad_json",
    )
    .await;
    expect_error(
        &app,
        post_json("/api/v1/validate", "not json"),
        StatusCode::BAD_REQUEST,
        "bad_json",
    )
    .await;
    expect_error(
        &app,
        post_json("/api/v1/run", vec![0xffu8, 0xfe]),
        StatusCode::BAD_REQUEST,
        "bad_json",
    )
    .await;
}

#[tokio::test]
async fn body_without_json_content_type_is_415() {
    let app = default_app().await;
    let req = Request::post("/api/v1/run")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(tmpfs_spec("/tmp")))
        .unwrap();
    expect_error(
        &app,
        req,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let req = Request::post("/api/v1/run/stream")
        .body(Body::from(tmpfs_spec("/tmp")))
        .unwrap();
    expect_error(
        &app,
        req,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let app = app_without_workers(HttpSettings {
        body_limit: 1024,
        ..HttpSettings::default()
    })
    .await;
    let title = "x".repeat(4096);
    let body = json!({"title": title, "steps": []}).to_string();
    expect_error(
        &app,
        post_json("/api/v1/run", body),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
}

#[tokio::test]
async fn invalid_spec_names_the_field() {
    let app = default_app().await;
    let error = expect_error(
        &app,
        post_json("/api/v1/run", tmpfs_spec("relative/path")),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_spec",
    )
    .await;
    assert_eq!(error["fields"][0]["field"], "steps[1].target", "{error}");
    let error = expect_error(
        &app,
        post_json("/api/v1/run/stream", r#"{"steps": [{"op": "explode"}]}"#),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_spec",
    )
    .await;
    assert!(
        error["fields"][0]["field"]
            .as_str()
            .unwrap()
            .starts_with("steps[0]"),
        "{error}"
    );
    // Valid JSON, wrong shape altogether.
    expect_error(
        &app,
        post_json("/api/v1/run", "[1, 2]"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_spec",
    )
    .await;
}

#[tokio::test]
async fn validate_reports_without_running() {
    let app = default_app().await;
    let (status, _, body) = send(&app, post_json("/api/v1/validate", tmpfs_spec("/tmp"))).await;
    assert_eq!(status, StatusCode::OK);
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json, json!({"valid": true, "fields": []}));
    let (status, _, body) = send(&app, post_json("/api/v1/validate", tmpfs_spec("/../etc"))).await;
    assert_eq!(status, StatusCode::OK);
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["valid"], false);
    assert_eq!(json["fields"][0]["field"], "steps[1].target");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json() {
    let app = default_app().await;
    expect_error(
        &app,
        get("/api/v1/nope"),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        &app,
        get("/api/v2/presets"),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(&app, get("/api"), StatusCode::NOT_FOUND, "not_found").await;
    let error = expect_error(
        &app,
        get("/api/v1/presets/no-such-preset"),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(error["fields"][0]["field"], "id");
    let req = Request::post("/api/v1/presets/no-such-preset/run")
        .body(Body::empty())
        .unwrap();
    let error = expect_error(&app, req, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(error["fields"][0]["field"], "id");
    let req = Request::delete("/api/v1/runs/123456")
        .body(Body::empty())
        .unwrap();
    let error = expect_error(&app, req, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(error["fields"][0]["field"], "run_id");
    let req = Request::delete("/api/v1/runs/not-a-number")
        .body(Body::empty())
        .unwrap();
    expect_error(&app, req, StatusCode::NOT_FOUND, "not_found").await;
    // A well-formed id without its token: refused as such, naming the header.
    let req = Request::delete(format!("/api/v1/runs/{}", "a".repeat(32)))
        .body(Body::empty())
        .unwrap();
    let error = expect_error(&app, req, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(error["fields"][0]["field"], "X-Cancel-Token");
    let req = Request::delete(format!("/api/v1/runs/{}", "a".repeat(32)))
        .header("x-cancel-token", "b".repeat(32))
        .body(Body::empty())
        .unwrap();
    let error = expect_error(&app, req, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(error["fields"][0]["field"], "run_id");
    let error = expect_error(
        &app,
        get("/api/v1/run"),
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    assert!(
        error["message"].as_str().unwrap().contains("/api/v1/run"),
        "{error}"
    );
}

#[tokio::test]
async fn full_pool_and_queue_is_429_busy_with_retry_after() {
    let app = default_app().await;
    let req = post_json("/api/v1/run", tmpfs_spec("/tmp"));
    let (status, headers, body) = send(&app, req).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["error"]["code"], "busy");
    let retry: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let (_, _, metrics) = send(&app, get("/metrics")).await;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("rootlab_rejected_total{reason=\"busy\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn rate_limit_is_429_rate_limited_with_retry_after() {
    let app = app_without_workers(HttpSettings {
        rate_limit: 0.5,
        rate_burst: 2,
        ..HttpSettings::default()
    })
    .await;
    for _ in 0..2 {
        let (status, _, _) = send(&app, post_json("/api/v1/validate", tmpfs_spec("/tmp"))).await;
        assert_eq!(status, StatusCode::OK);
    }
    let req = post_json("/api/v1/validate", tmpfs_spec("/tmp"));
    let (status, headers, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["error"]["code"], "rate_limited");
    assert_eq!(headers[header::RETRY_AFTER], "2");
    // Reading is never rate-limited.
    let (status, _, _) = send(&app, get("/api/v1/presets")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn presets_list_and_detail() {
    let app = default_app().await;
    let (status, _, body) = send(&app, get("/api/v1/presets")).await;
    assert_eq!(status, StatusCode::OK);
    let list: Value = serde_json::from_slice(&body).unwrap();
    let list = list.as_array().expect("an array of presets");
    let ids: Vec<&str> = list.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"seed-tmpfs"), "{ids:?}");
    let (status, _, body) = send(&app, get("/api/v1/presets/seed-tmpfs")).await;
    assert_eq!(status, StatusCode::OK);
    let preset: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(preset["id"], "seed-tmpfs");
    assert!(!preset["spec"]["steps"].as_array().unwrap().is_empty());
    // Every preset's spec is valid under the server's limits.
    for id in ids {
        let (_, _, body) = send(&app, get(&format!("/api/v1/presets/{id}"))).await;
        let preset: Value = serde_json::from_slice(&body).unwrap();
        let spec = preset["spec"].to_string();
        let (_, _, body) = send(&app, post_json("/api/v1/validate", spec)).await;
        let validation: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(validation["valid"], true, "{id}: {validation}");
    }
}

#[tokio::test]
async fn openapi_document_and_docs_page() {
    let app = default_app().await;
    let (status, _, body) = send(&app, get("/api/v1/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/run",
        "/api/v1/run/stream",
        "/api/v1/validate",
        "/api/v1/presets/{id}",
        "/healthz",
        "/livez",
        "/readyz",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    for schema in [
        "Spec",
        "Step",
        "RunResult",
        "RunEvent",
        "ErrorBody",
        "Committed",
        "LayerEntry",
    ] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "{schema} missing"
        );
    }
    let text = String::from_utf8_lossy(&body);
    for r in text.split("\"#/components/schemas/").skip(1) {
        let name = r.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "a $ref to {name}, which the document lacks"
        );
    }
    let (status, headers, body) = send(&app, get("/api/v1/docs")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = String::from_utf8(body).unwrap();
    assert!(html.contains("/api/v1/run/stream") && html.contains("RunResult"));
    assert!(
        !html.contains("<script"),
        "the page must work offline, without scripts"
    );
}

#[tokio::test]
async fn health_reports_down_without_workers() {
    let app = default_app().await;
    let (status, _, body) = send(&app, get("/healthz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let health: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(health["status"], "down");
    assert_eq!(health["workers"]["alive"], 0);
    assert_eq!(health["workers"]["configured"], 1);
    assert!(health["workers"]["last_error"]
        .as_str()
        .unwrap()
        .contains("nonexistent"));
    assert_eq!(health["limits"]["wall_ms"], Limits::default().wall_ms);
    let (status, _, body) = send(&app, get("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let ready: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(ready["ready"], false);
    let reasons = ready["reasons"].to_string();
    assert!(
        reasons.contains("no worker is alive") && reasons.contains("nonexistent"),
        "{ready}"
    );
    assert!(reasons.contains("self-test has not run"), "{ready}");
    let (status, _, body) = send(&app, get("/livez")).await;
    assert_eq!(status, StatusCode::OK, "alive, though not ready");
    let live: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(live["status"], "alive");
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let app = default_app().await;
    let (status, headers, body) = send(&app, get("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = String::from_utf8(body).unwrap();
    for name in [
        "rootlab_runs_total",
        "rootlab_run_duration_seconds_bucket",
        "rootlab_runs_in_flight_max",
        "rootlab_runs_queued",
        "rootlab_workers_alive",
    ] {
        assert!(
            text.contains(&format!("\n{name}")),
            "{name} missing:\n{text}"
        );
    }
}

#[tokio::test]
async fn frontend_missing_is_a_clear_page() {
    let app = default_app().await;
    let (status, headers, body) = send(&app, get("/")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = String::from_utf8(body).unwrap();
    assert!(
        html.contains("not built") && html.contains("--static-dir"),
        "{html}"
    );
}

#[tokio::test]
async fn frontend_is_served_from_the_static_dir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("index.html"),
        "<!doctype html><p>playground</p>",
    )
    .unwrap();
    let app = app_without_workers(HttpSettings {
        static_dir: dir.path().to_path_buf(),
        ..HttpSettings::default()
    })
    .await;
    let (status, _, body) = send(&app, get("/")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8(body).unwrap().contains("playground"));
    let (status, _, _) = send(&app, get("/missing.js")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cors_is_off_by_default_and_on_when_asked() {
    let preflight = || {
        Request::options("/api/v1/run")
            .header(header::ORIGIN, "http://example.test")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .body(Body::empty())
            .unwrap()
    };
    let app = default_app().await;
    let (_, headers, _) = send(&app, preflight()).await;
    assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    let app = app_without_workers(HttpSettings {
        cors_origin: Some("http://example.test".into()),
        ..HttpSettings::default()
    })
    .await;
    let (_, headers, _) = send(&app, preflight()).await;
    assert_eq!(
        headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://example.test"
    );
}
