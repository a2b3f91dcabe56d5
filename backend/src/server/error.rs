//! The API's one error type, answered as `{"error": {"code", "message", "fields"}}` with the
//! matching HTTP status (and `Retry-After` for 429s).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::coordinator::{RunError, SubmitError};

/// Machine-readable error codes; see docs/api.md for when each is used.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadJson,
    InvalidSpec,
    UnsupportedMediaType,
    PayloadTooLarge,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Busy,
    RateLimited,
    Cancelled,
    ShuttingDown,
    Timeout,
    WorkerDied,
    /// A registry the server pulled from failed.
    UpstreamFailed,
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BadJson => StatusCode::BAD_REQUEST,
            ErrorCode::InvalidSpec => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Busy | ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            // nginx's "client closed request": only ever seen in a stream's error event.
            ErrorCode::Cancelled => StatusCode::from_u16(499).expect("499 is a valid status"),
            ErrorCode::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::WorkerDied | ErrorCode::UpstreamFailed => StatusCode::BAD_GATEWAY,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::InvalidSpec => "invalid_spec",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Busy => "busy",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::Timeout => "timeout",
            ErrorCode::WorkerDied => "worker_died",
            ErrorCode::UpstreamFailed => "upstream_failed",
            ErrorCode::Internal => "internal",
        }
    }
}

/// One problem with one field of the request.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldProblem {
    /// Where, e.g. `steps[2].target` (empty for the whole document).
    pub field: String,
    pub message: String,
}

/// The body of every error answer.
#[derive(Serialize, Deserialize, Clone, Debug, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, Deserialize, Clone, Debug, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
    /// Problems per field; empty unless the request itself was at fault and the place is known.
    pub fields: Vec<FieldProblem>,
}

/// An error answer.
#[derive(Debug, Clone)]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
    pub fields: Vec<FieldProblem>,
    /// Seconds for `Retry-After`, on 429s.
    pub retry_after: Option<u64>,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError {
            code,
            message: message.into(),
            fields: Vec::new(),
            retry_after: None,
        }
    }

    pub fn with_fields(mut self, fields: Vec<FieldProblem>) -> Self {
        self.fields = fields;
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        AppError::new(ErrorCode::NotFound, what)
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
                fields: self.fields.clone(),
            },
        }
    }
}

impl From<SubmitError> for AppError {
    fn from(err: SubmitError) -> Self {
        match err {
            SubmitError::Busy { retry_after } => AppError::new(
                ErrorCode::Busy,
                "every sandbox is busy and the queue is full; retry shortly",
            )
            .retry_after(retry_after),
            SubmitError::ShuttingDown => AppError::new(ErrorCode::ShuttingDown, err.to_string()),
        }
    }
}

impl From<RunError> for AppError {
    fn from(err: RunError) -> Self {
        let code = match &err {
            RunError::WorkerDied => ErrorCode::WorkerDied,
            RunError::Timeout(_) => ErrorCode::Timeout,
            RunError::Cancelled => ErrorCode::Cancelled,
            RunError::ShuttingDown => ErrorCode::ShuttingDown,
            RunError::Worker(_) | RunError::NoWorker(_) => ErrorCode::Internal,
        };
        if code == ErrorCode::Internal {
            tracing::error!("run failed: {err}");
        }
        AppError::new(code, err.to_string())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut response = (self.code.status(), Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
