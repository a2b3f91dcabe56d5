//! The spec's expectations: each names a step that exists (a `run` step for `stdout`), a
//! snapshot label that some step takes, a view that can exist, and well-formed paths and values.

use super::rules::abs_path_problem;
use super::Checker;
use crate::expect::Expectation;
use crate::limits::MAX_ARG_BYTES;
use crate::spec::{Spec, Step, HOST};

/// Most expectations per spec.
pub const MAX_EXPECTATIONS: usize = 64;

const PROPAGATIONS: [&str; 6] = [
    "shared",
    "private",
    "private,slave",
    "shared,slave",
    "unbindable",
    "unbindable,slave",
];

pub(super) fn check(c: &mut Checker, spec: &Spec) {
    if spec.expect.len() > MAX_EXPECTATIONS {
        let n = spec.expect.len();
        c.err(
            "expect",
            format!("{n} expectations; the limit is {MAX_EXPECTATIONS}"),
        );
    }
    for (i, e) in spec.expect.iter().enumerate() {
        let field = format!("expect[{i}]");
        match e {
            Expectation::Outcome { step, errno } => {
                step_index(c, spec, &field, *step, false);
                if let Some(errno) = errno {
                    let well_formed = errno.len() <= 16
                        && errno.starts_with('E')
                        && errno
                            .bytes()
                            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
                    if !well_formed {
                        c.err(format!("{field}.errno"), "an errno name such as `EINVAL`");
                    }
                }
            }
            Expectation::Stdout { step, contains } => {
                step_index(c, spec, &field, *step, true);
                text(c, &format!("{field}.contains"), contains);
            }
            Expectation::Mount {
                snapshot,
                view,
                target,
                propagation,
                ..
            } => {
                seen_by(c, spec, &field, snapshot, view);
                c.found(&format!("{field}.target"), abs_path_problem(target));
                if let Some(p) = propagation {
                    if !PROPAGATIONS.contains(&p.as_str()) {
                        let msg = format!("one of {}", PROPAGATIONS.join(", "));
                        c.err(format!("{field}.propagation"), msg);
                    }
                }
            }
            Expectation::Path {
                snapshot,
                view,
                path,
                content,
                ..
            } => {
                seen_by(c, spec, &field, snapshot, view);
                c.found(&format!("{field}.path"), abs_path_problem(path));
                if let Some(content) = content {
                    text(c, &format!("{field}.content"), content);
                }
            }
        }
    }
}

fn step_index(c: &mut Checker, spec: &Spec, field: &str, step: usize, run: bool) {
    let f = format!("{field}.step");
    match spec.steps.get(step) {
        None => c.err(f, format!("there is no step {step}")),
        Some(Step::Run {
            background: true, ..
        }) if run => c.err(
            f,
            format!("step {step} runs in the background: name the `wait` that reports its output"),
        ),
        Some(s) if run && !matches!(s, Step::Run { .. } | Step::Wait { .. }) => c.err(
            f,
            format!("step {step} is `{}`, not `run` or `wait`", s.op_name()),
        ),
        Some(_) => {}
    }
}

fn seen_by(c: &mut Checker, spec: &Spec, field: &str, label: &str, view: &str) {
    let taken = spec
        .steps
        .iter()
        .any(|s| matches!(s, Step::Snapshot { label: l, .. } if l == label));
    if !taken {
        c.err(
            format!("{field}.snapshot"),
            format!("no step takes a snapshot labelled `{label}`"),
        );
    }
    let declared = spec
        .steps
        .iter()
        .any(|s| matches!(s, Step::Container { name, .. } if name == view));
    if view != HOST && !declared {
        c.err(
            format!("{field}.view"),
            format!("`{view}` is not the host nor a container of this spec"),
        );
    }
}

fn text(c: &mut Checker, field: &str, s: &str) {
    if s.len() > MAX_ARG_BYTES {
        c.err(field, format!("longer than {MAX_ARG_BYTES} bytes"));
    }
    if s.contains('\0') {
        c.err(field, "contains a NUL byte");
    }
}
