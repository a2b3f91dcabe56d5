//! The composer's expectations section: the fields of each kind of expectation and a new one
//! filled from the spec (its last step, its last snapshot), so it grades something at once.

use serde_json::{json, Value};

use super::form::Kind;

pub const EXPECT_KINDS: &[&str] = &["outcome", "stdout", "mount", "path"];

/// The fields of an expectation of `kind`, in the order the form shows them (`kind` is the
/// card's title: changing it would leave the other kind's fields behind).
pub fn expect_fields(kind: &str) -> &'static [(&'static str, Kind)] {
    use Kind::*;
    match kind {
        "outcome" => &[("step", Number), ("errno", OptText)],
        "stdout" => &[("step", Number), ("contains", Text)],
        "mount" => &[
            ("snapshot", Text),
            ("view", Actor),
            ("target", Text),
            ("present", Bool),
            ("propagation", OptText),
        ],
        "path" => &[
            ("snapshot", Text),
            ("view", Actor),
            ("path", Text),
            ("present", Bool),
            ("content", OptText),
        ],
        _ => &[],
    }
}

fn steps(doc: &Value) -> &[Value] {
    doc.get("steps")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// A new expectation of `kind` about `doc`: the last step (the last `run` for stdout), or the
/// last snapshot with its first view and first walked path.
pub fn expect_template(kind: &str, doc: &Value) -> Value {
    let steps = steps(doc);
    let op = |s: &Value| s.get("op").and_then(Value::as_str).map(str::to_string);
    let last_run = steps.iter().rposition(|s| op(s).as_deref() == Some("run"));
    let last = steps
        .iter()
        .rev()
        .find(|s| op(s).as_deref() == Some("snapshot"));
    let first = |key: &str| last.and_then(|s| s.get(key)?.get(0)?.as_str());
    let snapshot = last
        .and_then(|s| s.get("label"))
        .and_then(Value::as_str)
        .unwrap_or("snapshot");
    // Its first view and walked path, so the new expectation looks where the snapshot looked.
    let (view, path) = (
        first("views").unwrap_or("host"),
        first("paths").unwrap_or("/tmp"),
    );
    match kind {
        "outcome" => json!({ "kind": "outcome", "step": steps.len().saturating_sub(1) }),
        "stdout" => json!({ "kind": "stdout", "step": last_run.unwrap_or(0), "contains": "" }),
        "mount" => json!({ "kind": "mount", "snapshot": snapshot, "view": view, "target": path }),
        _ => json!({ "kind": "path", "snapshot": snapshot, "view": view, "path": path }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rootlab_shared::expect::Expectation;

    #[test]
    fn every_template_is_an_expectation_with_only_its_kinds_fields() {
        let doc =
            serde_json::to_value(rootlab_shared::presets::get("seed-tmpfs").unwrap().spec).unwrap();
        for kind in EXPECT_KINDS {
            let t = expect_template(kind, &doc);
            let e: Expectation =
                serde_json::from_value(t.clone()).unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(serde_json::to_value(&e).unwrap()["kind"], json!(kind));
            let keys: Vec<&str> = expect_fields(kind).iter().map(|(k, _)| *k).collect();
            for key in t.as_object().unwrap().keys().filter(|k| *k != "kind") {
                assert!(keys.contains(&key.as_str()), "{kind}: {key} has no field");
            }
        }
    }

    #[test]
    fn templates_name_the_specs_own_steps_and_snapshots() {
        let doc =
            serde_json::to_value(rootlab_shared::presets::get("seed-tmpfs").unwrap().spec).unwrap();
        assert_eq!(expect_template("outcome", &doc)["step"], 4);
        assert_eq!(expect_template("stdout", &doc)["step"], 3);
        let mount = expect_template("mount", &doc);
        assert_eq!(mount["snapshot"], "container after mount");
        assert_eq!(
            (&mount["view"], &mount["target"]),
            (&json!("host"), &json!("/tmp"))
        );
        let kernel =
            serde_json::to_value(rootlab_shared::presets::get("seed-kernel").unwrap().spec)
                .unwrap();
        let path = expect_template("path", &kernel);
        assert_eq!((&path["view"], &path["path"]), (&json!("c1"), &json!("/")));
        let blank = json!({ "steps": [] });
        assert_eq!(expect_template("outcome", &blank)["step"], 0);
        assert_eq!(expect_template("path", &blank)["snapshot"], "snapshot");
        assert_eq!(expect_template("path", &blank)["view"], "host");
    }
}
