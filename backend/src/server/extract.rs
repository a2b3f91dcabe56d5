//! Request-body extractors whose every rejection is a JSON `AppError`: a wrong content type (415),
//! a body over the limit (413), JSON that does not parse (400), a spec that does not validate (422).

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use rootlab_shared::validate::{parse_spec, FieldError};
use rootlab_shared::Spec;
use serde::de::IgnoredAny;

use super::error::{AppError, ErrorCode, FieldProblem};
use super::AppState;

/// A request body that is syntactically valid JSON (its bytes, for a parser with better errors).
pub struct JsonBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBytes {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        require_json_content_type(req.headers())?;
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| body_error(rejection.status(), rejection.body_text()))?;
        check_json_syntax(&bytes)?;
        Ok(JsonBytes(bytes))
    }
}

/// A request body that is a valid experiment spec under the server's limits.
pub struct SpecBody(pub Spec);

impl<S> FromRequest<S> for SpecBody
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let JsonBytes(bytes) = JsonBytes::from_request(req, state).await?;
        let app = AppState::from_ref(state);
        let text = std::str::from_utf8(&bytes).expect("checked by check_json_syntax");
        parse_spec(text, &app.limits)
            .map(SpecBody)
            .map_err(invalid_spec)
    }
}

/// The 422 answer for a spec's problems.
pub fn invalid_spec(problems: Vec<FieldError>) -> AppError {
    let message = match problems.as_slice() {
        [one] => format!("the spec is invalid: {one}"),
        many => format!("the spec is invalid: {} problems", many.len()),
    };
    AppError::new(ErrorCode::InvalidSpec, message).with_fields(to_problems(problems))
}

pub fn to_problems(problems: Vec<FieldError>) -> Vec<FieldProblem> {
    problems
        .into_iter()
        .map(|p| FieldProblem {
            field: p.field,
            message: p.message,
        })
        .collect()
}

fn require_json_content_type(headers: &HeaderMap) -> Result<(), AppError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let is_json = essence.eq_ignore_ascii_case("application/json")
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if is_json {
        Ok(())
    } else {
        Err(AppError::new(
            ErrorCode::UnsupportedMediaType,
            format!("expected Content-Type: application/json, got {content_type:?}"),
        )
        .with_fields(vec![problem("Content-Type", "must be application/json")]))
    }
}

fn body_error(status: StatusCode, text: String) -> AppError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::new(ErrorCode::PayloadTooLarge, "the request body is too large").with_fields(
            vec![problem("", "larger than the server accepts (--body-limit)")],
        )
    } else {
        AppError::new(ErrorCode::BadJson, format!("cannot read the body: {text}"))
            .with_fields(vec![problem("", &text)])
    }
}

/// A problem with `field` (`""`: the whole body).
fn problem(field: &str, message: &str) -> FieldProblem {
    FieldProblem {
        field: field.into(),
        message: message.into(),
    }
}

/// Syntax only: a document of the wrong shape is for the endpoint's parser to name.
fn check_json_syntax(bytes: &[u8]) -> Result<(), AppError> {
    if let Err(err) = std::str::from_utf8(bytes) {
        return Err(AppError::new(ErrorCode::BadJson, "the body is not UTF-8")
            .with_fields(vec![problem("", &format!("not UTF-8: {err}"))]));
    }
    match serde_json::from_slice::<IgnoredAny>(bytes) {
        Ok(_) => Ok(()),
        Err(err) => Err(AppError::new(
            ErrorCode::BadJson,
            format!("the body is not valid JSON: {err}"),
        )
        .with_fields(vec![problem("", &err.to_string())])),
    }
}
