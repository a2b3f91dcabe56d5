//! Expectations: what the learner predicts a run will show, and their grading against what the
//! kernel did. A spec with expectations checks itself (`rootlab run` exits non-zero when one
//! fails); the browser grades a lesson's question the same way.

use serde::{Deserialize, Serialize};

use crate::result::{
    MountEntry, RunResult, StepDetails, StepOutcome, StepResult, Tree, TreeEntry, View,
};

/// One prediction about the result.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Expectation {
    /// Step `step` succeeds (no `errno`) or is refused with `errno` (e.g. `EINVAL`).
    Outcome {
        step: usize,
        #[serde(default)]
        errno: Option<String>,
    },
    /// What the program of `run` step `step` printed on stdout contains `contains` (for a `wait`
    /// step: what its background programs printed, in start order).
    Stdout { step: usize, contains: String },
    /// In snapshot `snapshot`, `view`'s mount table has (or, with `present: false`, lacks) a
    /// mount on `target`; with `propagation`, the last one there shows that PROPAGATION.
    Mount {
        snapshot: String,
        #[serde(default = "host")]
        view: String,
        target: String,
        #[serde(default = "yes")]
        present: bool,
        #[serde(default)]
        propagation: Option<String>,
    },
    /// In snapshot `snapshot`, `view` has (or lacks) `path` among its walked trees; with
    /// `content`, the file's preview is exactly that.
    Path {
        snapshot: String,
        #[serde(default = "host")]
        view: String,
        path: String,
        #[serde(default = "yes")]
        present: bool,
        #[serde(default)]
        content: Option<String>,
    },
}

fn host() -> String {
    "host".into()
}

fn yes() -> bool {
    true
}

/// An expectation checked against the result, with the evidence.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Graded {
    /// Index in the spec's `expect`.
    pub index: usize,
    pub passed: bool,
    /// The expectation in words, e.g. `steps[2] is refused with EINVAL`.
    pub expected: String,
    /// What the kernel did, in the same words, e.g. `steps[2] succeeded`.
    pub actual: String,
}

/// Grade every expectation against a result.
pub fn grade(expect: &[Expectation], result: &RunResult) -> Vec<Graded> {
    expect
        .iter()
        .enumerate()
        .map(|(index, e)| {
            let (passed, expected, actual) = grade_one(e, result);
            Graded {
                index,
                passed,
                expected,
                actual,
            }
        })
        .collect()
}

fn grade_one(e: &Expectation, r: &RunResult) -> (bool, String, String) {
    match e {
        Expectation::Outcome { step, errno } => outcome(r, *step, errno.as_deref()),
        Expectation::Stdout { step, contains } => stdout(r, *step, contains),
        Expectation::Mount {
            snapshot,
            view,
            target,
            present,
            propagation,
        } => {
            let p = propagation.as_deref();
            let expected = mount_words(view, snapshot, target, *present, p);
            in_view(r, snapshot, view, expected, |v| {
                mount(v, target, *present, p)
            })
        }
        Expectation::Path {
            snapshot,
            view,
            path,
            present,
            content,
        } => {
            let c = content.as_deref();
            let expected = path_words(view, snapshot, path, *present, c);
            in_view(r, snapshot, view, expected, |v| {
                path_check(v, path, *present, c)
            })
        }
    }
}

/// Grade with `check` in one view of one snapshot; a missing snapshot or view fails.
fn in_view(
    r: &RunResult,
    snapshot: &str,
    view: &str,
    expected: String,
    check: impl FnOnce(&View) -> (bool, String),
) -> (bool, String, String) {
    match find_view(r, snapshot, view) {
        Err(why) => (false, expected, why),
        Ok(v) => {
            let (passed, actual) = check(v);
            (passed, expected, actual)
        }
    }
}

fn outcome(r: &RunResult, step: usize, errno: Option<&str>) -> (bool, String, String) {
    let expected = match errno {
        None => format!("steps[{step}] succeeds"),
        Some(e) => format!("steps[{step}] is refused with {e}"),
    };
    let Some(s) = r.steps.iter().find(|s| s.index == step) else {
        return (false, expected, format!("steps[{step}] did not run"));
    };
    let (got, actual) = match &s.outcome {
        StepOutcome::Ok => (None, format!("steps[{step}] succeeded")),
        StepOutcome::Error(err) => {
            let name = err.errno.clone().unwrap_or_else(|| "an error".into());
            (
                Some(name.clone()),
                format!("steps[{step}] was refused with {name}: {}", err.message),
            )
        }
        StepOutcome::Skipped { reason } => (
            Some("skipped".into()),
            format!("steps[{step}] was skipped: {reason}"),
        ),
    };
    (got.as_deref() == errno, expected, actual)
}

fn stdout(r: &RunResult, step: usize, contains: &str) -> (bool, String, String) {
    let expected = format!("steps[{step}] prints {contains:?}");
    let out = r.steps.iter().find(|s| s.index == step);
    match out.and_then(printed) {
        None => (false, expected, format!("steps[{step}] printed nothing")),
        Some(text) => (
            text.contains(contains),
            expected,
            format!("steps[{step}] printed {:?}", clip(&text)),
        ),
    }
}

/// A step's stdout: its program's, or those a `wait` reported, one after the other.
fn printed(s: &StepResult) -> Option<String> {
    if let Some(o) = &s.output {
        return Some(o.stdout.clone());
    }
    match &s.details {
        Some(StepDetails::Waited { ended, .. }) if !ended.is_empty() => {
            Some(ended.iter().map(|o| o.stdout.as_str()).collect())
        }
        _ => None,
    }
}

fn find_view<'r>(r: &'r RunResult, snapshot: &str, view: &str) -> Result<&'r View, String> {
    let snap = r.snapshots.iter().find(|s| s.label == snapshot);
    let snap = snap.ok_or_else(|| format!("snapshot `{snapshot}` was not taken"))?;
    snap.views
        .iter()
        .find(|v| v.actor == view)
        .ok_or_else(|| format!("snapshot `{snapshot}` has no view of `{view}`"))
}

fn mount_words(
    view: &str,
    snapshot: &str,
    target: &str,
    present: bool,
    propagation: Option<&str>,
) -> String {
    let what = if present { "has" } else { "has no" };
    let prop = propagation.map_or(String::new(), |p| format!(" ({p})"));
    format!("{view} at `{snapshot}` {what} mount on {target}{prop}")
}

fn mount(v: &View, target: &str, present: bool, propagation: Option<&str>) -> (bool, String) {
    let found: Option<&MountEntry> = v.mounts.iter().rev().find(|m| m.target == target);
    let actual = match found {
        None => format!("{} has no mount on {target}", v.actor),
        Some(m) => format!(
            "{} has {} {} on {target} ({})",
            v.actor, m.fstype, m.source, m.propagation
        ),
    };
    let passed = match (found, present) {
        (None, false) => true,
        (Some(m), true) => propagation.is_none_or(|p| m.propagation == p),
        _ => false,
    };
    (passed, actual)
}

fn path_words(
    view: &str,
    snapshot: &str,
    path: &str,
    present: bool,
    content: Option<&str>,
) -> String {
    match (present, content) {
        (false, _) => format!("{view} at `{snapshot}` has no {path}"),
        (true, None) => format!("{view} at `{snapshot}` has {path}"),
        (true, Some(c)) => format!("{view} at `{snapshot}` has {path} reading {c:?}"),
    }
}

fn path_check(v: &View, path: &str, present: bool, content: Option<&str>) -> (bool, String) {
    let Some(tree) = v.trees.iter().find(|t| covers(t, path)) else {
        let roots: Vec<&str> = v.trees.iter().map(|t| t.root.as_str()).collect();
        return (false, format!("the snapshot walked only {roots:?}"));
    };
    let found: Option<&TreeEntry> = tree.entries.iter().find(|e| e.path == path);
    let actual = match found {
        None if tree.truncated && !walked_in_full(tree, path) => {
            format!("{path} not seen (the walk was cut short)")
        }
        None => format!("{} has no {path}", v.actor),
        Some(e) => match &e.preview {
            Some(p) => format!("{} has {path} reading {:?}", v.actor, clip(p)),
            None => format!("{} has {path} ({:?})", v.actor, e.kind),
        },
    };
    let passed = match (found, present) {
        (None, false) => !tree.truncated || walked_in_full(tree, path),
        (Some(e), true) => content.is_none_or(|c| e.preview.as_deref() == Some(c)),
        _ => false,
    };
    (passed, actual)
}

/// `path` is shallow enough that the walk listed its directory in full.
fn walked_in_full(tree: &Tree, path: &str) -> bool {
    let root = tree.root.trim_end_matches('/');
    let below = path[root.len()..].trim_matches('/').split('/').count() as u32;
    tree.complete_to.is_some_and(|depth| below <= depth)
}

/// The walk of `tree` includes `path` (it is below the walked root).
fn covers(tree: &Tree, path: &str) -> bool {
    let root = tree.root.trim_end_matches('/');
    path.strip_prefix(root)
        .is_some_and(|rest| rest.starts_with('/'))
        && tree.error.is_none()
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(120) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests;
