//! What `rootlab run` reads: a preset id, a preset file (`shared/presets/*.json`: the spec under
//! `spec`, beside `id`, `lesson`, `title`...), a spec file, or `-` for stdin.

use std::io::Read;
use std::path::Path;

use rootlab_shared::presets;
use serde_json::Value;

use super::InvalidInput;

/// An experiment's spec text and where its fields sit in what the user gave.
pub struct Experiment {
    /// The spec's JSON text.
    pub text: String,
    /// Prefix of field names in error messages: `spec.` for a preset file.
    pub field_prefix: &'static str,
}

/// Read `experiment`. Input that cannot be read is `InvalidInput` (exit 2), naming the problem.
pub fn load(experiment: &str) -> anyhow::Result<Experiment> {
    if experiment == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| InvalidInput(format!("cannot read the spec from stdin: {e}")))?;
        return Ok(spec_text(text));
    }
    if let Some(preset) = presets::get(experiment) {
        return Ok(spec_text(serde_json::to_string(&preset.spec)?));
    }
    let path = Path::new(experiment);
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(from_file(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(not_found(experiment).into()),
        Err(e) => Err(InvalidInput(format!("cannot read {experiment}: {e}")).into()),
    }
}

fn spec_text(text: String) -> Experiment {
    Experiment {
        text,
        field_prefix: "",
    }
}

/// A file's text: a preset file yields its `spec`; anything else is taken as a spec.
fn from_file(text: String) -> Experiment {
    match preset_spec(&text) {
        Some(spec) => Experiment {
            text: spec.to_string(),
            field_prefix: "spec.",
        },
        None => spec_text(text),
    }
}

/// The `spec` of a preset document (an object with `id` and `spec`).
fn preset_spec(text: &str) -> Option<Value> {
    let Value::Object(mut doc) = serde_json::from_str::<Value>(text).ok()? else {
        return None;
    };
    if !doc.contains_key("id") {
        return None;
    }
    doc.remove("spec")
}

fn not_found(experiment: &str) -> InvalidInput {
    let looks_like_a_path = experiment.contains('/') || experiment.ends_with(".json");
    let message = if looks_like_a_path {
        format!("no such file: {experiment}")
    } else {
        format!(
            "{experiment:?} is not a preset id (list them with `rootlab presets`), \
             and there is no file of that name"
        )
    };
    InvalidInput(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preset_document_yields_its_spec() {
        let text = r#"{"id": "x", "lesson": 1, "title": "t", "spec": {"steps": []}}"#;
        let experiment = from_file(text.into());
        assert_eq!(experiment.text, r#"{"steps":[]}"#);
        assert_eq!(experiment.field_prefix, "spec.");
    }

    #[test]
    fn a_spec_stays_a_spec() {
        let text = r#"{"title": "t", "steps": []}"#;
        let experiment = from_file(text.into());
        assert_eq!(experiment.text, text);
        assert_eq!(experiment.field_prefix, "");
        assert_eq!(from_file("not json".into()).text, "not json");
    }

    #[test]
    fn a_missing_file_is_named() {
        assert_eq!(not_found("x/y.json").0, "no such file: x/y.json");
        assert!(not_found("seed-nope").0.contains("not a preset id"));
    }
}
