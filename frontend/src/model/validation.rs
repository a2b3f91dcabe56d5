//! Validation as you type: the shared crate's rules (the very ones the server applies), run on
//! the editor's text in the browser, keeping the parsed spec so the form can still show it.

use rootlab_shared::spec::Spec;
use rootlab_shared::validate::{parse_spec, validate, FieldError};
use rootlab_shared::Limits;

use super::{json_lint, json_pos};

/// The editor's text, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    /// The spec when the text has the right shape, even if some rule fails.
    pub spec: Option<Spec>,
    /// Every problem, each tied to a JSON path.
    pub issues: Vec<FieldError>,
}

pub fn check(text: &str, limits: &Limits) -> Checked {
    match serde_json::from_str::<Spec>(text) {
        Ok(spec) => {
            let issues = validate(&spec, limits).err().unwrap_or_default();
            Checked {
                spec: Some(spec),
                issues,
            }
        }
        // parse_spec locates a shape error at the field (serde alone stops at `steps[3]`).
        Err(_) => Checked {
            spec: None,
            issues: with_every_syntax_error(
                text,
                parse_spec(text, limits).err().unwrap_or_default(),
            ),
        },
    }
}

/// serde's first syntax error, then every other one the tolerant scan finds.
fn with_every_syntax_error(text: &str, mut issues: Vec<FieldError>) -> Vec<FieldError> {
    let known: Vec<(usize, usize)> = issues
        .iter()
        .filter_map(|e| json_pos::line_col(&e.message))
        .collect();
    if known.is_empty() {
        return issues;
    }
    // The end of the text is said once, whoever found it.
    let eof = issues.iter().any(|e| e.message.contains("EOF"));
    issues.extend(
        json_lint::problems(text)
            .into_iter()
            .filter(|p| !known.contains(&(p.line, p.col)))
            .filter(|p| !(eof && p.message.starts_with("EOF")))
            .map(|p| FieldError::new("", p.message)),
    );
    issues
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_target_is_named_at_its_field() {
        let text =
            r#"{"steps":[{"op":"container","name":"c1"},{"op":"tmpfs","in":"c1","target":"tmp"}]}"#;
        let checked = check(text, &Limits::default());
        assert!(checked.spec.is_some());
        assert!(
            checked.issues.iter().any(|e| e.field == "steps[1].target"),
            "{:?}",
            checked.issues
        );
    }

    #[test]
    fn broken_json_keeps_no_spec_and_says_why() {
        let checked = check("{\"steps\": [", &Limits::default());
        assert!(checked.spec.is_none());
        assert_eq!(checked.issues.len(), 1, "{:?}", checked.issues);
    }

    #[test]
    fn every_syntax_error_is_listed_with_its_place() {
        let text = "{\n  \"version\": 1\n  \"steps\": [\n    {\"op\": \"container\" \"name\": \"c1\"}\n  ]\n}";
        let checked = check(text, &Limits::default());
        let places: Vec<_> = checked
            .issues
            .iter()
            .map(|e| json_pos::line_col(&e.message))
            .collect();
        assert_eq!(
            places,
            vec![Some((3, 3)), Some((4, 24))],
            "{:?}",
            checked.issues
        );
    }

    #[test]
    fn an_unclosed_document_is_one_problem() {
        for text in ["{", "{\"steps\": [", "{\"steps\": [{\"op\": "] {
            assert_eq!(check(text, &Limits::default()).issues.len(), 1, "{text}");
        }
    }

    #[test]
    fn a_valid_spec_has_no_issues() {
        let text = r#"{"steps":[{"op":"container","name":"c1"},{"op":"snapshot","label":"s"}]}"#;
        assert_eq!(check(text, &Limits::default()).issues, vec![]);
    }
}
