//! The presets: the seed lessons as ready-made experiments (`rootlab_shared::presets`).

use axum::extract::Path;
use axum::Json;
use rootlab_shared::presets::{self, Preset, PresetSummary};
use rootlab_shared::Spec;

use super::error::{AppError, ErrorBody, FieldProblem};

/// List the presets, in lesson order.
#[utoipa::path(get, path = "/api/v1/presets", tag = "presets",
    responses((status = 200, description = "Every preset", body = [PresetSummary])))]
pub async fn list() -> Json<Vec<PresetSummary>> {
    Json(presets::all().iter().map(PresetSummary::from).collect())
}

/// One preset with its spec.
#[utoipa::path(get, path = "/api/v1/presets/{id}", tag = "presets",
    params(("id" = String, Path, description = "Preset id, e.g. `seed-tmpfs`")),
    responses(
        (status = 200, description = "The preset", body = Preset),
        (status = 404, description = "No such preset", body = ErrorBody),
    ))]
pub async fn get_one(Path(id): Path<String>) -> Result<Json<Preset>, AppError> {
    find(&id).map(Json)
}

/// The spec of preset `id`, or 404.
pub fn spec_of(id: &str) -> Result<Spec, AppError> {
    Ok(find(id)?.spec)
}

fn find(id: &str) -> Result<Preset, AppError> {
    presets::get(id).ok_or_else(|| {
        AppError::not_found(format!("no preset {id:?}")).with_fields(vec![FieldProblem {
            field: "id".into(),
            message: "no preset has this id (GET /api/v1/presets lists them)".into(),
        }])
    })
}
