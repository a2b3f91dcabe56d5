//! Running experiments: validate a spec, run it (whole result, or a stream of progress events),
//! and cancel a streaming run.

use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::{self, Stream};
use rootlab_shared::events::RunEvent;
use rootlab_shared::result::RunResult;
use rootlab_shared::validate::parse_spec;
use rootlab_shared::Spec;
use serde::{Deserialize, Serialize};

use super::error::{AppError, ErrorBody, ErrorCode, FieldProblem};
use super::extract::{to_problems, JsonBytes, SpecBody};
use super::presets;
use super::AppState;
use crate::coordinator::{is_well_formed_run_id, CancelError, RunHandle, RunUpdate};

/// The header that carries a streaming run's id, for `DELETE /api/v1/runs/{run_id}`.
pub const RUN_ID_HEADER: &str = "x-run-id";
/// The header that carries a streaming run's cancel token; `DELETE` must send it back.
pub const CANCEL_TOKEN_HEADER: &str = "x-cancel-token";

/// The answer of `POST /api/v1/validate`.
#[derive(Serialize, Deserialize, Debug, utoipa::ToSchema)]
pub struct Validation {
    pub valid: bool,
    /// Every problem, each naming its field (empty when valid).
    pub fields: Vec<FieldProblem>,
}

/// Check a spec without running it.
#[utoipa::path(post, path = "/api/v1/validate", tag = "runs",
    request_body(content = Spec, description = "The experiment to check"),
    responses(
        (status = 200, description = "Whether the spec is valid, and every problem", body = Validation),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ))]
pub async fn validate(
    State(state): State<AppState>,
    JsonBytes(body): JsonBytes,
) -> Json<Validation> {
    let text = std::str::from_utf8(&body).unwrap_or_default();
    let fields = match parse_spec(text, &state.limits) {
        Ok(_) => Vec::new(),
        Err(problems) => to_problems(problems),
    };
    Json(Validation {
        valid: fields.is_empty(),
        fields,
    })
}

/// Run an experiment and answer with its whole result.
#[utoipa::path(post, path = "/api/v1/run", tag = "runs",
    request_body(content = Spec, description = "The experiment to run"),
    responses(
        (status = 200, description = "The experiment ran (kernel refusals are step outcomes)", body = RunResult),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "Invalid spec; `fields` names each problem", body = ErrorBody),
        (status = 429, description = "Busy or rate limited; see Retry-After", body = ErrorBody),
        (status = 502, description = "The worker died mid-run", body = ErrorBody),
        (status = 503, description = "Shutting down", body = ErrorBody),
        (status = 504, description = "Run timed out", body = ErrorBody),
    ))]
pub async fn run(
    State(state): State<AppState>,
    SpecBody(spec): SpecBody,
) -> Result<Json<RunResult>, AppError> {
    run_to_end(&state, spec).await
}

/// Run a preset's experiment and answer with its whole result.
#[utoipa::path(post, path = "/api/v1/presets/{id}/run", tag = "presets",
    params(("id" = String, Path, description = "Preset id, e.g. `seed-tmpfs`")),
    responses(
        (status = 200, description = "The experiment ran", body = RunResult),
        (status = 404, description = "No such preset", body = ErrorBody),
        (status = 429, description = "Busy or rate limited; see Retry-After", body = ErrorBody),
        (status = 502, description = "The worker died mid-run", body = ErrorBody),
        (status = 503, description = "Shutting down", body = ErrorBody),
        (status = 504, description = "Run timed out", body = ErrorBody),
    ))]
pub async fn run_preset(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RunResult>, AppError> {
    let spec = presets::spec_of(&id)?;
    run_to_end(&state, spec).await
}

async fn run_to_end(state: &AppState, spec: Spec) -> Result<Json<RunResult>, AppError> {
    super::images::missing_images(state, &spec).await?;
    // Dropping `handle` (the client went away and axum dropped this future) cancels the run.
    let mut handle = state.coordinator.submit(spec)?;
    while let Some(update) = handle.updates.recv().await {
        match update {
            RunUpdate::Event(RunEvent::Finished { result }) => return Ok(Json(*result)),
            RunUpdate::Event(_) => {}
            RunUpdate::Failed(err) => return Err(err.into()),
        }
    }
    Err(AppError::new(
        ErrorCode::Internal,
        "the run ended without a result",
    ))
}

/// Run an experiment and stream its progress as server-sent events.
#[utoipa::path(post, path = "/api/v1/run/stream", tag = "runs",
    request_body(content = Spec, description = "The experiment to run"),
    responses(
        (status = 200, content_type = "text/event-stream",
         description = "One `RunEvent` JSON per `data:` line, ending with `finished` (or an `error` event); headers `X-Run-Id` and `X-Cancel-Token` (for `DELETE /api/v1/runs/{run_id}`)",
         body = String),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "Invalid spec", body = ErrorBody),
        (status = 429, description = "Busy or rate limited; see Retry-After", body = ErrorBody),
        (status = 503, description = "Shutting down", body = ErrorBody),
    ))]
pub async fn run_stream(
    State(state): State<AppState>,
    SpecBody(spec): SpecBody,
) -> Result<Response, AppError> {
    super::images::missing_images(&state, &spec).await?;
    let handle = state.coordinator.submit(spec)?;
    let id = HeaderValue::from_str(&handle.id).expect("a run id is hex");
    let token = HeaderValue::from_str(&handle.token).expect("a token is hex");
    let sse = Sse::new(events(handle)).keep_alive(KeepAlive::default());
    let mut response = sse.into_response();
    let headers = response.headers_mut();
    headers.insert(HeaderName::from_static(RUN_ID_HEADER), id);
    let mut token = token;
    token.set_sensitive(true);
    headers.insert(HeaderName::from_static(CANCEL_TOKEN_HEADER), token);
    // The token is for this client only.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // A reverse proxy (nginx) would otherwise hold the events back until the run ends.
    headers.insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    Ok(response)
}

/// The run's updates as SSE events; the stream (and with it the run) ends when the client goes.
fn events(handle: RunHandle) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(Some(handle), |handle| async move {
        let mut handle = handle?;
        let update = handle.updates.recv().await?;
        let (event, last) = match update {
            RunUpdate::Event(event) => {
                let last = matches!(event, RunEvent::Finished { .. });
                (sse_event(&event), last)
            }
            RunUpdate::Failed(err) => (error_event(AppError::from(err)), true),
        };
        Some((Ok(event), (!last).then_some(handle)))
    })
}

fn sse_event(event: &RunEvent) -> Event {
    let json = serde_json::to_value(event).unwrap_or_default();
    let name = json["event"].as_str().unwrap_or("message").to_string();
    Event::default().event(name).data(json.to_string())
}

fn error_event(err: AppError) -> Event {
    let body = serde_json::to_string(&err.body()).unwrap_or_default();
    Event::default().event("error").data(body)
}

/// Cancel a streaming run; only its requester can, with the token it got with the run.
#[utoipa::path(delete, path = "/api/v1/runs/{run_id}", tag = "runs",
    params(
        ("run_id" = String, Path, description = "The `X-Run-Id` of a streaming run (32 hex digits)"),
        ("X-Cancel-Token" = String, Header, description = "The `X-Cancel-Token` the run was started with"),
    ),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 403, description = "`forbidden`: the token is missing or is not this run's", body = ErrorBody),
        (status = 404, description = "No such run in progress", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    Path(run_id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, AppError> {
    let not_found = || {
        AppError::not_found(format!("no run {run_id:?} is in progress")).with_fields(vec![
            FieldProblem {
                field: "run_id".into(),
                message: "no run in progress has this id".into(),
            },
        ])
    };
    if !is_well_formed_run_id(&run_id) {
        return Err(not_found());
    }
    let token = headers
        .get(CANCEL_TOKEN_HEADER)
        .map(|v| v.to_str().unwrap_or_default());
    let Some(token) = token else {
        return Err(forbidden(
            "missing: send the X-Cancel-Token the run was started with",
        ));
    };
    match state.coordinator.cancel(&run_id, token) {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(CancelError::NotFound) => Err(not_found()),
        Err(CancelError::WrongToken) => Err(forbidden("does not match the run")),
    }
}

fn forbidden(problem: &str) -> AppError {
    AppError::new(
        ErrorCode::Forbidden,
        format!("only the run's requester can cancel it: X-Cancel-Token {problem}"),
    )
    .with_fields(vec![FieldProblem {
        field: "X-Cancel-Token".into(),
        message: problem.into(),
    }])
}
