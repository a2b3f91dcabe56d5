//! The REST API client: one generic request function that maps HTTP status to a typed error, and
//! the streaming run (`POST /api/v1/run/stream`, server-sent events) built on it, and the image
//! store's listing and layer views.

use gloo_net::http::{Method, RequestBuilder, Response};
use js_sys::{Reflect, Uint8Array};
use rootlab_shared::events::RunEvent;
use rootlab_shared::image::ImageSummary;
use rootlab_shared::layerview::LayerView;
use rootlab_shared::result::RunResult;
use rootlab_shared::validate::FieldError;
use rootlab_shared::Limits;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, ReadableStreamDefaultReader};

use crate::model::sse;

const BASE: &str = "/api/v1";

/// Why a call failed, as the page explains it.
#[derive(Clone, Debug, PartialEq)]
pub enum ApiError {
    /// 429: every sandbox is busy (`busy`) or this client is over its rate (`rate_limited`);
    /// retry after that many seconds.
    Busy {
        retry_after: u32,
        code: String,
        message: String,
    },
    /// 400/422: the spec was refused; `fields` names each problem.
    Invalid {
        message: String,
        fields: Vec<FieldError>,
    },
    NotFound(String),
    /// Any other error answer.
    Server {
        status: u16,
        code: String,
        message: String,
    },
    /// The server could not be reached, or answered something unreadable.
    Network(String),
    /// The person cancelled the run.
    Cancelled,
}

impl ApiError {
    pub fn message(&self) -> String {
        match self {
            ApiError::Busy { message, .. }
            | ApiError::Invalid { message, .. }
            | ApiError::NotFound(message) => message.clone(),
            ApiError::Server {
                status,
                code,
                message,
            } => format!("{message} ({code}, HTTP {status})"),
            ApiError::Network(_) => "the server is not reachable".to_string(),
            ApiError::Cancelled => "cancelled".to_string(),
        }
    }
}

/// The JSON body of every error answer.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
    #[serde(default)]
    fields: Vec<FieldError>,
}

pub use rootlab_shared::presets::{Preset, PresetSummary};

/// The whole lesson text of a preset: its summary, then its explanation.
pub fn lesson_text(preset: &PresetSummary) -> String {
    format!("{}\n\n{}", preset.summary, preset.explanation)
}

#[derive(Deserialize)]
struct Health {
    limits: Limits,
}

/// Sends a request and maps any answer that is not 2xx to an [`ApiError`].
async fn send(
    method: Method,
    path: &str,
    body: Option<String>,
    signal: Option<&AbortSignal>,
) -> Result<Response, ApiError> {
    let builder = RequestBuilder::new(&format!("{BASE}{path}"))
        .method(method)
        .abort_signal(signal);
    let request = match body {
        Some(body) => builder
            .header("Content-Type", "application/json")
            .body(body),
        None => builder.build(),
    };
    let response = request
        .map_err(|e| ApiError::Network(e.to_string()))?
        .send()
        .await
        .map_err(transport_error)?;
    if response.ok() {
        return Ok(response);
    }
    Err(error_from(&response).await)
}

/// The one generic call: JSON in, JSON out, typed errors.
async fn request<T: DeserializeOwned>(
    method: Method,
    path: &str,
    body: Option<String>,
) -> Result<T, ApiError> {
    let response = send(method, path, body, None).await?;
    response
        .json::<T>()
        .await
        .map_err(|e| ApiError::Network(format!("unreadable answer: {e}")))
}

fn transport_error(e: gloo_net::Error) -> ApiError {
    let text = e.to_string();
    if text.contains("AbortError") || text.contains("aborted") {
        ApiError::Cancelled
    } else {
        ApiError::Network(text)
    }
}

async fn error_from(response: &Response) -> ApiError {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let (code, message, fields) = match serde_json::from_str::<ErrorBody>(&text) {
        Ok(b) => (b.error.code, b.error.message, b.error.fields),
        Err(_) => (
            "http".to_string(),
            format!("HTTP {status} {}", response.status_text()),
            vec![],
        ),
    };
    match status {
        429 => {
            let retry_after = response
                .headers()
                .get("Retry-After")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(5);
            ApiError::Busy {
                retry_after,
                code,
                message,
            }
        }
        400 | 422 => ApiError::Invalid { message, fields },
        404 => ApiError::NotFound(message),
        _ => ApiError::Server {
            status,
            code,
            message,
        },
    }
}

pub async fn presets() -> Result<Vec<PresetSummary>, ApiError> {
    request(Method::GET, "/presets", None).await
}

pub async fn preset(id: &str) -> Result<Preset, ApiError> {
    request(
        Method::GET,
        &format!("/presets/{}", js_sys::encode_uri_component(id)),
        None,
    )
    .await
}

/// The stored images (`GET /api/v1/images`).
pub async fn images() -> Result<Vec<ImageSummary>, ApiError> {
    request(Method::GET, "/images", None).await
}

/// An image's layer view (`GET /api/v1/images/{name}/layers`); the name is one path segment, so
/// its `/` and `:` are encoded.
pub async fn image_layers(name: &str) -> Result<LayerView, ApiError> {
    let name = js_sys::encode_uri_component(name);
    request(Method::GET, &format!("/images/{name}/layers"), None).await
}

/// The layer view of `name` with a container's writable layer on top
/// (`POST /api/v1/images/{name}/layers`).
pub async fn image_layers_with_upper(
    name: &str,
    upper: &[rootlab_shared::image::LayerEntry],
) -> Result<LayerView, ApiError> {
    let name = js_sys::encode_uri_component(name);
    let body = serde_json::json!({ "upper": upper }).to_string();
    request(Method::POST, &format!("/images/{name}/layers"), Some(body)).await
}

/// The limits the server enforces, so validation in the page matches the server's.
pub async fn limits() -> Result<Limits, ApiError> {
    let response = RequestBuilder::new("/healthz")
        .send()
        .await
        .map_err(transport_error)?;
    let health: Health = response
        .json()
        .await
        .map_err(|e| ApiError::Network(e.to_string()))?;
    Ok(health.limits)
}

/// A streaming run as the server announced it: its id and the token that cancels it.
#[derive(Clone, Debug, PartialEq)]
pub struct RunTicket {
    pub id: String,
    pub token: String,
}

/// Cancels a streaming run on the server (closing the stream would too; this is immediate).
pub async fn cancel(run: &RunTicket) -> Result<(), ApiError> {
    let url = format!("{BASE}/runs/{}", js_sys::encode_uri_component(&run.id));
    let response = RequestBuilder::new(&url)
        .method(Method::DELETE)
        .header("X-Cancel-Token", &run.token)
        .send()
        .await
        .map_err(transport_error)?;
    if response.ok() {
        return Ok(());
    }
    Err(error_from(&response).await)
}

/// Runs a spec with progress: `on_run_id` gets the run's id and token, `on_event` each event before the
/// end; returns the result, or the error the stream ended with.
pub async fn run_stream(
    spec_json: String,
    signal: &AbortSignal,
    on_run_id: impl Fn(RunTicket),
    on_event: impl Fn(RunEvent),
) -> Result<RunResult, ApiError> {
    let response = send(Method::POST, "/run/stream", Some(spec_json), Some(signal)).await?;
    let headers = response.headers();
    if let (Some(id), Some(token)) = (headers.get("X-Run-Id"), headers.get("X-Cancel-Token")) {
        on_run_id(RunTicket { id, token });
    }
    let body = response
        .body()
        .ok_or_else(|| ApiError::Network("empty stream".into()))?;
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut decoder = sse::Decoder::default();
    loop {
        let chunk = JsFuture::from(reader.read())
            .await
            .map_err(|e| js_error(&e))?;
        if Reflect::get(&chunk, &"done".into())
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true)
        {
            return Err(ApiError::Network(
                "the stream ended before the run finished".into(),
            ));
        }
        let bytes = Reflect::get(&chunk, &"value".into()).map_err(|e| js_error(&e))?;
        for frame in decoder.push(&bytes.unchecked_into::<Uint8Array>().to_vec()) {
            if let Some(end) = handle_frame(frame, &on_event) {
                let _ = reader.cancel();
                return end;
            }
        }
    }
}

/// Passes progress on; `Some` when the frame ends the run.
fn handle_frame(
    frame: sse::Frame,
    on_event: &impl Fn(RunEvent),
) -> Option<Result<RunResult, ApiError>> {
    if frame.event == "error" {
        let body = serde_json::from_str::<ErrorBody>(&frame.data).ok()?;
        return Some(Err(match body.error.code.as_str() {
            "cancelled" => ApiError::Cancelled,
            _ => ApiError::Server {
                status: 200,
                code: body.error.code,
                message: body.error.message,
            },
        }));
    }
    match serde_json::from_str::<RunEvent>(&frame.data) {
        Ok(RunEvent::Finished { result }) => Some(Ok(*result)),
        Ok(event) => {
            on_event(event);
            None
        }
        Err(e) => Some(Err(ApiError::Network(format!("unreadable event: {e}")))),
    }
}

fn js_error(e: &wasm_bindgen::JsValue) -> ApiError {
    let name = Reflect::get(e, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
        .unwrap_or_default();
    if name == "AbortError" {
        ApiError::Cancelled
    } else {
        ApiError::Network(format!("{e:?}"))
    }
}
