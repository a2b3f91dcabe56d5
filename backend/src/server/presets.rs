//! The presets: the seed lessons as ready-made experiments.

use axum::extract::Path;
use axum::Json;
use rootlab_shared::Spec;
use serde::{Deserialize, Serialize};

use super::error::{AppError, ErrorBody};

/// A preset in the list.
#[derive(Serialize, Deserialize, Debug, utoipa::ToSchema)]
pub struct PresetSummary {
    /// E.g. `seed-tmpfs`.
    pub id: String,
    pub title: String,
    /// What the lesson shows.
    pub description: String,
}

/// A preset with its experiment.
#[derive(Serialize, Deserialize, Debug, utoipa::ToSchema)]
pub struct Preset {
    pub id: String,
    pub title: String,
    pub description: String,
    pub spec: Spec,
}

/// List the presets.
#[utoipa::path(get, path = "/api/v1/presets", tag = "presets",
    responses((status = 200, description = "Every preset", body = [PresetSummary])))]
pub async fn list() -> Json<Vec<PresetSummary>> {
    Json(catalog::all().iter().map(summary).collect())
}

/// One preset with its spec.
#[utoipa::path(get, path = "/api/v1/presets/{id}", tag = "presets",
    params(("id" = String, Path, description = "Preset id, e.g. `seed-tmpfs`")),
    responses(
        (status = 200, description = "The preset", body = Preset),
        (status = 404, description = "No such preset", body = ErrorBody),
    ))]
pub async fn get_one(Path(id): Path<String>) -> Result<Json<Preset>, AppError> {
    let preset = find(&id)?;
    let summary = summary(&preset);
    Ok(Json(Preset {
        id: summary.id,
        title: summary.title,
        description: summary.description,
        spec: preset.spec.clone(),
    }))
}

/// The spec of preset `id`, or 404.
pub fn spec_of(id: &str) -> Result<Spec, AppError> {
    Ok(find(id)?.spec.clone())
}

/// Until `rootlab_shared::presets` lands, the list is empty (kept compiling for the other helpers).
mod catalog {
    use rootlab_shared::Spec;

    pub struct Preset {
        pub id: String,
        pub title: String,
        pub description: String,
        pub spec: Spec,
    }

    pub fn all() -> Vec<Preset> {
        Vec::new()
    }

    pub fn get(id: &str) -> Option<Preset> {
        all().into_iter().find(|p| p.id == id)
    }
}

fn find(id: &str) -> Result<catalog::Preset, AppError> {
    catalog::get(id).ok_or_else(|| AppError::not_found(format!("no preset {id:?}")))
}

fn summary(preset: &catalog::Preset) -> PresetSummary {
    PresetSummary {
        id: preset.id.to_string(),
        title: preset.title.to_string(),
        description: preset.description.to_string(),
    }
}
