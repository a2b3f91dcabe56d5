//! Maps the JSON paths that validation names (`steps[2].target`, `host.files[0].path`) to the form
//! fields that show them, so an error appears where the person typed the value.

/// The DOM id of the form element for a JSON path: `steps[2].target` -> `f-steps-2-target`.
pub fn dom_id(path: &str) -> String {
    let mut id = String::from("f-");
    for c in path.chars() {
        match c {
            '[' | '.' => id.push('-'),
            ']' => {}
            c if c.is_ascii_alphanumeric() || c == '_' => id.push(c),
            _ => id.push('_'),
        }
    }
    id
}

/// Does the form field at `field` show the problem reported at `issue`? A list field
/// (`steps[2].argv`) owns the problems of its items (`steps[2].argv[1]`).
pub fn owns(field: &str, issue: &str) -> bool {
    match issue.strip_prefix(field) {
        Some(rest) => rest.is_empty() || rest.starts_with('[') && !field.ends_with(']'),
        None => false,
    }
}

/// The JSON paths from `issue` up to the document, most specific first: where to look for a form
/// element to focus (`steps[2].argv[1]`, `steps[2].argv`, `steps[2]`, `steps`, ``).
pub fn ancestors(issue: &str) -> Vec<String> {
    let mut out = vec![issue.to_string()];
    let mut rest = issue;
    while let Some(cut) = rest.rfind(['.', '[']) {
        rest = &rest[..cut];
        out.push(rest.to_string());
    }
    if !issue.is_empty() {
        out.push(String::new());
    }
    out
}

/// `steps[2].target` -> `step 3 › target`: how a person reads the path.
pub fn human(path: &str) -> String {
    if path.is_empty() {
        return "the document".to_string();
    }
    let mut parts = Vec::new();
    for segment in path.split('.') {
        let (name, indexes) = segment.split_once('[').unwrap_or((segment, ""));
        let singular = match name {
            "steps" => "step",
            "layers" => "layer",
            "files" => "file",
            "entries" => "entry",
            other => other,
        };
        if indexes.is_empty() {
            parts.push(singular.to_string());
        } else {
            let numbers: Vec<String> = indexes
                .split('[')
                .map(|i| i.trim_end_matches(']'))
                .map(|i| {
                    i.parse::<usize>()
                        .map(|n| (n + 1).to_string())
                        .unwrap_or(i.to_string())
                })
                .collect();
            parts.push(format!("{singular} {}", numbers.join(", ")));
        }
    }
    parts.join(" › ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dom_ids_follow_json_paths() {
        assert_eq!(dom_id("steps[2].target"), "f-steps-2-target");
        assert_eq!(dom_id("host.files[0].path"), "f-host-files-0-path");
        assert_eq!(
            dom_id("layers[1].entries[3].path"),
            "f-layers-1-entries-3-path"
        );
        assert_eq!(dom_id("steps[0].in"), "f-steps-0-in");
    }

    #[test]
    fn list_fields_own_their_items_but_not_siblings() {
        assert!(owns("steps[2].argv", "steps[2].argv[1]"));
        assert!(owns("steps[2].target", "steps[2].target"));
        assert!(!owns("steps[2].target", "steps[2].targets"));
        assert!(!owns("steps[1]", "steps[12].target"));
        assert!(!owns("steps[2]", "steps[2].target"));
    }

    #[test]
    fn ancestors_walk_up_to_the_document() {
        assert_eq!(
            ancestors("steps[2].argv[1]"),
            vec!["steps[2].argv[1]", "steps[2].argv", "steps[2]", "steps", ""]
        );
        assert_eq!(ancestors(""), vec![""]);
    }

    #[test]
    fn paths_read_like_words() {
        assert_eq!(human("steps[2].target"), "step 3 › target");
        assert_eq!(
            human("layers[0].entries[4].path"),
            "layer 1 › entry 5 › path"
        );
        assert_eq!(human(""), "the document");
    }
}
