//! The image store over HTTP: list and inspect the stored images (anyone), pull one from a
//! registry the operator lists (`--allow-registry`) and import an uploaded archive (only with
//! `--allow-import`). A request never names where the server connects: a pull goes to a listed
//! registry or nowhere (no SSRF), and every upload goes through the store's hardened unpacker.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use rootlab_shared::image::{ImageDetail, ImageRef, ImageSummary, LayerEntry};
use rootlab_shared::layerview::{layer_view, LayerView};
use rootlab_shared::spec::{Spec, Step};
use serde::{Deserialize, Serialize};

use super::error::{AppError, ErrorBody, ErrorCode, FieldProblem};
use super::AppState;
use crate::pull::{pull_to_layout, PullOptions};
use crate::store::{Imported, Store, StoreError};

/// What the server may do with its store, set by the operator.
#[derive(Clone)]
pub struct ImageService {
    pub store: Arc<Store>,
    /// Registries `POST /images/pull` may reach (`host[:port]`); empty: pulls are off.
    pub allow_registries: Vec<String>,
    /// Of those, the ones reached over plain http (a registry on the same host or network).
    pub insecure_registries: Vec<String>,
    /// `POST /images/import` accepts uploads up to this many bytes; `None`: imports are off.
    pub import_limit: Option<usize>,
}

/// An image the store now holds, and what it dropped or changed on the way in.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImageAdded {
    #[serde(flatten)]
    pub image: ImageSummary,
    /// Device nodes and FIFOs dropped, setuid/setgid bits stripped.
    pub warnings: Vec<String>,
}

/// `POST /api/v1/images/pull`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PullRequest {
    /// `registry[:port]/name[:tag][@sha256:<hex>]`; the registry must be one the server allows.
    pub reference: String,
    /// The name to store it under (default: the reference, `:latest` added).
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /api/v1/images/import?name=...`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// The name to store it under (default: the archive's own name, else none).
    pub name: Option<String>,
}

fn service(state: &AppState) -> Result<&ImageService, AppError> {
    state
        .images
        .as_deref()
        .ok_or_else(|| AppError::new(ErrorCode::NotFound, "this server has no image store"))
}

/// Run blocking store work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, AppError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(store_error),
        Err(_) => Err(AppError::new(ErrorCode::Internal, "the image store failed")),
    }
}

fn store_error(e: StoreError) -> AppError {
    match e {
        StoreError::Unknown(_) => AppError::not_found(e.to_string()).with_fields(vec![field(
            "name",
            "no such image (GET /api/v1/images lists them)",
        )]),
        e if e.is_invalid_input() => {
            let why = e.to_string();
            AppError::new(ErrorCode::InvalidSpec, why.clone()).with_fields(vec![field("", why)])
        }
        e => {
            tracing::error!(error = %e, "image store");
            AppError::new(ErrorCode::Internal, "the image store failed")
        }
    }
}

fn field(name: &str, message: impl Into<String>) -> FieldProblem {
    FieldProblem {
        field: name.into(),
        message: message.into(),
    }
}

/// List the images: the built-ins, then every stored name.
#[utoipa::path(get, path = "/api/v1/images", tag = "images",
    responses((status = 200, description = "Every image", body = [ImageSummary])))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<ImageSummary>>, AppError> {
    let store = service(&state)?.store.clone();
    blocking(move || store.list()).await.map(Json)
}

/// One image: its config's essentials and its layers, bottom first.
#[utoipa::path(get, path = "/api/v1/images/{name}", tag = "images",
    params(("name" = String, Path, description = "`tools`, `name[:tag]` (URL-encoded: `library%2Fnginx%3A1.27`) or `sha256:<hex>`")),
    responses(
        (status = 200, description = "The image", body = rootlab_shared::image::DetailJson),
        (status = 404, description = "No such image", body = ErrorBody),
        (status = 422, description = "Not an image name", body = ErrorBody),
    ))]
pub async fn inspect(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ImageDetail>, AppError> {
    let image = image_ref(&name)?;
    let store = service(&state)?.store.clone();
    blocking(move || store.inspect(&image)).await.map(Json)
}

/// What each layer added, changed and deleted, the merged tree with each file's layer, and the
/// wasted bytes (the layer view).
#[utoipa::path(get, path = "/api/v1/images/{name}/layers", tag = "images",
    params(("name" = String, Path, description = "An image name, URL-encoded")),
    responses(
        (status = 200, description = "The layer view", body = LayerView),
        (status = 404, description = "No such image", body = ErrorBody),
        (status = 422, description = "Not an image name", body = ErrorBody),
    ))]
pub async fn layers(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<LayerView>, AppError> {
    view_of(&state, &name, None).await
}

/// `name`'s layer view, with `upper` as the top row when given.
async fn view_of(
    state: &AppState,
    name: &str,
    upper: Option<Vec<LayerEntry>>,
) -> Result<Json<LayerView>, AppError> {
    let image = image_ref(name)?;
    let store = service(state)?.store.clone();
    blocking(move || {
        store
            .listing(&image)
            .map(|l| layer_view(&l, upper.as_deref()))
    })
    .await
    .map(Json)
}

/// `POST /api/v1/images/{name}/layers`: a container's writable layer to show on top.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpperLayer {
    /// The layer's entries, as a `commit` step's result lists them.
    pub upper: Vec<LayerEntry>,
}

/// The layer view with a container's writable layer as the top row (the entries of a `commit`
/// step's result): what the container added, changed and deleted over the image.
#[utoipa::path(post, path = "/api/v1/images/{name}/layers", tag = "images",
    params(("name" = String, Path, description = "The container's image, URL-encoded")),
    request_body = UpperLayer,
    responses(
        (status = 200, description = "The layer view, the writable layer last", body = LayerView),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 404, description = "No such image", body = ErrorBody),
        (status = 422, description = "Not an image name, or not a list of layer entries (`fields` names the entry)", body = ErrorBody),
    ))]
pub async fn layers_with_upper(
    State(state): State<AppState>,
    Path(name): Path<String>,
    super::extract::JsonBytes(body): super::extract::JsonBytes,
) -> Result<Json<LayerView>, AppError> {
    image_ref(&name)?;
    let upper: UpperLayer = serde_json::from_slice(&body).map_err(|e| {
        AppError::new(ErrorCode::InvalidSpec, format!("not a writable layer: {e}")).with_fields(
            vec![field(
                "upper",
                "a list of layer entries {path, kind, size?, mode?, target?, opaque?}",
            )],
        )
    })?;
    check_upper(&upper.upper)?;
    view_of(&state, &name, Some(upper.upper)).await
}

/// A writable layer's entries as a layer lists them: relative clean paths, permission bits.
fn check_upper(upper: &[LayerEntry]) -> Result<(), AppError> {
    let mut problems = Vec::new();
    for (i, e) in upper.iter().enumerate() {
        let clean = !e.path.is_empty()
            && !e.path.starts_with('/')
            && e.path
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != "..");
        if !clean {
            problems.push(field(
                &format!("upper[{i}].path"),
                "a relative path without empty, `.` or `..` components",
            ));
        }
        if e.mode > 0o7777 {
            problems.push(field(
                &format!("upper[{i}].mode"),
                "permission bits, at most 0o7777",
            ));
        }
        if e.size > i64::MAX as u64 {
            problems.push(field(
                &format!("upper[{i}].size"),
                "bytes, at most 2^63 - 1",
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(
        AppError::new(ErrorCode::InvalidSpec, "not a writable layer's entries")
            .with_fields(problems),
    )
}

fn image_ref(name: &str) -> Result<ImageRef, AppError> {
    let image = ImageRef(name.to_string());
    image.check().map_err(|why| {
        AppError::new(
            ErrorCode::InvalidSpec,
            format!("`{name}` is not an image name"),
        )
        .with_fields(vec![field("name", why)])
    })?;
    Ok(image)
}

/// Pull an image from a registry the operator allows (`rootlab serve --allow-registry`).
#[utoipa::path(post, path = "/api/v1/images/pull", tag = "images",
    request_body = PullRequest,
    responses(
        (status = 201, description = "Pulled and stored", body = ImageAdded),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 403, description = "Pulls are off, or the registry is not one the server allows", body = ErrorBody),
        (status = 422, description = "A bad reference or name, or an image the store refuses", body = ErrorBody),
        (status = 502, description = "The registry failed", body = ErrorBody),
    ))]
pub async fn pull(
    State(state): State<AppState>,
    super::extract::JsonBytes(body): super::extract::JsonBytes,
) -> Result<(StatusCode, Json<ImageAdded>), AppError> {
    let svc = service(&state)?.clone();
    let req: PullRequest = serde_json::from_slice(&body).map_err(|e| {
        AppError::new(ErrorCode::InvalidSpec, format!("not a pull request: {e}")).with_fields(vec![
            field(
                "",
                "expected {\"reference\": \"registry/name:tag\", \"name\"?: \"...\"}",
            ),
        ])
    })?;
    if svc.allow_registries.is_empty() {
        return Err(AppError::new(
            ErrorCode::Forbidden,
            "this server does not pull images (its operator can allow registries with --allow-registry)",
        ));
    }
    let name = req
        .name
        .clone()
        .or_else(|| ImageRef::for_pulled(&req.reference).map(|r| r.0));
    if let Some(n) = &name {
        image_ref(n).map_err(|e| e.with_fields(vec![field("name", "not an image name")]))?;
    }
    let opts = PullOptions {
        allowed_registries: svc.allow_registries.clone(),
        insecure_registries: svc.insecure_registries.clone(),
        ..PullOptions::default()
    };
    let store = svc.store.clone();
    let dir = blocking(move || store.incoming("pull")).await?;
    let pulled = pull_to_layout(&req.reference, &dir, &opts, &mut |_| {}).await;
    if let Err(e) = pulled {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(pull_error(e));
    }
    let store = svc.store.clone();
    let at = dir.clone();
    let added = blocking(move || store.import_from(&at, name.as_deref(), "pull")).await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok((StatusCode::CREATED, Json(added_of(added?))))
}

fn pull_error(e: crate::pull::PullError) -> AppError {
    if e.is_invalid_input() {
        let text = e.to_string();
        let code = if text.contains("not allowed") || text.contains("allow") {
            ErrorCode::Forbidden
        } else {
            ErrorCode::InvalidSpec
        };
        AppError::new(code, text).with_fields(vec![field("reference", e.to_string())])
    } else {
        AppError::new(
            ErrorCode::UpstreamFailed,
            format!("the registry failed: {e}"),
        )
    }
}

fn added_of(imported: Imported) -> ImageAdded {
    ImageAdded {
        image: imported.summary,
        warnings: imported.warnings,
    }
}

/// Import an uploaded `docker save`/`podman save` tar or OCI layout tar (gzip allowed), only
/// when the operator allows it (`rootlab serve --allow-import BYTES`).
#[utoipa::path(post, path = "/api/v1/images/import", tag = "images",
    params(ImportQuery),
    request_body(content = Vec<u8>, content_type = "application/x-tar", description = "The archive"),
    responses(
        (status = 201, description = "Imported", body = ImageAdded),
        (status = 403, description = "Imports are off", body = ErrorBody),
        (status = 413, description = "Larger than the server accepts", body = ErrorBody),
        (status = 415, description = "Not application/x-tar, application/gzip or application/octet-stream", body = ErrorBody),
        (status = 422, description = "An archive the store refuses (the message says why)", body = ErrorBody),
    ))]
pub async fn import(
    State(state): State<AppState>,
    Query(query): Query<ImportQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ImageAdded>), AppError> {
    let svc = service(&state)?.clone();
    let Some(limit) = svc.import_limit else {
        return Err(AppError::new(
            ErrorCode::Forbidden,
            "this server does not import images (its operator can allow it with --allow-import)",
        ));
    };
    archive_content_type(&headers)?;
    let body = body.map_err(|r| too_large_or_unreadable(r.status(), limit))?;
    if body.len() > limit {
        return Err(too_large_or_unreadable(
            StatusCode::PAYLOAD_TOO_LARGE,
            limit,
        ));
    }
    if let Some(n) = &query.name {
        image_ref(n)?;
    }
    let store = svc.store.clone();
    let added = blocking(move || {
        let at = store.incoming("upload")?;
        let added = std::fs::write(&at, &body)
            .map_err(|e| store_io(e, &at))
            .and_then(|()| store.import(&at, query.name.as_deref()));
        let _ = std::fs::remove_file(&at);
        added
    })
    .await?;
    Ok((StatusCode::CREATED, Json(added_of(added))))
}

/// An archive comes as `application/x-tar`, `application/gzip` or `application/octet-stream`.
fn archive_content_type(headers: &HeaderMap) -> Result<(), AppError> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if [
        "application/x-tar",
        "application/gzip",
        "application/octet-stream",
    ]
    .contains(&essence.as_str())
    {
        return Ok(());
    }
    Err(AppError::new(
        ErrorCode::UnsupportedMediaType,
        "an image archive is sent as application/x-tar (or application/gzip, application/octet-stream)",
    )
    .with_fields(vec![field("Content-Type", format!("`{essence}` is not an archive type"))]))
}

fn too_large_or_unreadable(status: StatusCode, limit: usize) -> AppError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::new(
            ErrorCode::PayloadTooLarge,
            format!("the archive is larger than this server's {limit} bytes (--allow-import)"),
        )
        .with_fields(vec![field("", "larger than the server accepts")])
    } else {
        AppError::new(ErrorCode::BadJson, "the archive could not be read")
            .with_fields(vec![field("", "the upload broke off")])
    }
}

fn store_io(e: std::io::Error, path: &std::path::Path) -> StoreError {
    StoreError::Invalid(format!("writing {}: {e}", path.display()))
}

/// Every image a spec names that this server's store does not hold, as 422 field problems.
pub async fn missing_images(state: &AppState, spec: &Spec) -> Result<(), AppError> {
    let Some(svc) = state.images.as_deref() else {
        return Ok(());
    };
    let mut wanted = vec![("host.image".to_string(), spec.host.image.clone())];
    for (i, step) in spec.steps.iter().enumerate() {
        if let Step::Container {
            image: Some(image), ..
        } = step
        {
            wanted.push((format!("steps[{i}].image"), image.clone()));
        }
    }
    for (i, layer) in spec.layers.iter().enumerate() {
        if let Some(from) = &layer.from {
            wanted.push((format!("layers[{i}].from.image"), from.image.clone()));
        }
    }
    wanted.retain(|(_, image)| !image.is_builtin());
    if wanted.is_empty() {
        return Ok(());
    }
    let store = svc.store.clone();
    let problems = blocking(move || {
        Ok(wanted
            .into_iter()
            .filter(|(_, image)| store.inspect(image).is_err())
            .map(|(f, image)| {
                field(
                    &f,
                    format!("no image `{image}` on this server (GET /api/v1/images lists them)"),
                )
            })
            .collect::<Vec<_>>())
    })
    .await?;
    if problems.is_empty() {
        return Ok(());
    }
    Err(AppError::new(
        ErrorCode::InvalidSpec,
        "the spec names an image this server does not have",
    )
    .with_fields(problems))
}
