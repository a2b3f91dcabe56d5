//! The OpenAPI 3 document, generated from the handlers' annotations and the shared types'
//! `ToSchema` derives, served at `/api/v1/openapi.json`.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::OpenApi;

use super::{error, health, images, presets, runs, AppState};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "rootlab",
        description = "Run mount-namespace, propagation, chroot/pivot_root and overlay experiments in a real, disposable sandbox.",
        license(name = "MIT OR Apache-2.0")
    ),
    paths(
        presets::list,
        presets::get_one,
        runs::run_preset,
        runs::validate,
        runs::run,
        runs::run_stream,
        runs::cancel,
        images::list,
        images::inspect,
        images::layers,
        images::layers_with_upper,
        images::pull,
        images::import,
        health::livez,
        health::readyz,
        health::healthz,
        metrics_doc,
        openapi_doc,
    ),
    components(schemas(
        error::ErrorBody,
        error::ErrorDetail,
        error::ErrorCode,
        error::FieldProblem,
        rootlab_shared::events::RunEvent,
    )),
    tags(
        (name = "presets", description = "The seed lessons as ready-made experiments"),
        (name = "runs", description = "Validate, run, stream and cancel experiments"),
        (name = "images", description = "The image store: list and inspect images; pull and import when the operator allows"),
        (name = "operations", description = "Liveness, readiness, health, metrics and this document"),
    )
)]
pub struct ApiDoc;

/// The document as JSON text (built once at start-up).
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
}

/// `GET /api/v1/openapi.json`.
pub async fn json(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.as_ref().clone(),
    )
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
#[allow(dead_code)]
fn metrics_doc() {}

/// This OpenAPI document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1 document", body = Object)))]
#[allow(dead_code)]
fn openapi_doc() {}
