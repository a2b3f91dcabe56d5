//! The presets: the seed lessons as ready-made experiments (`rootlab_shared::presets`).

use axum::extract::Path;
use axum::Json;
use rootlab_shared::presets::{self, Preset};
use rootlab_shared::Spec;
use serde::{Deserialize, Serialize};

use super::error::{AppError, ErrorBody};

/// A preset in the list: everything but its spec.
#[derive(Serialize, Deserialize, Debug, utoipa::ToSchema)]
pub struct PresetSummary {
    /// E.g. `seed-tmpfs`.
    pub id: String,
    /// The lesson it belongs to (1 to 8).
    pub lesson: u8,
    pub title: String,
    /// One line: what happens.
    pub summary: String,
    /// What to look at in the result and why the kernel did it.
    pub explanation: String,
}

/// List the presets, in lesson order.
#[utoipa::path(get, path = "/api/v1/presets", tag = "presets",
    responses((status = 200, description = "Every preset", body = [PresetSummary])))]
pub async fn list() -> Json<Vec<PresetSummary>> {
    Json(presets::all().into_iter().map(summary).collect())
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
    presets::get(id).ok_or_else(|| AppError::not_found(format!("no preset {id:?}")))
}

fn summary(preset: Preset) -> PresetSummary {
    PresetSummary {
        id: preset.id,
        lesson: preset.lesson,
        title: preset.title,
        summary: preset.summary,
        explanation: preset.explanation,
    }
}
