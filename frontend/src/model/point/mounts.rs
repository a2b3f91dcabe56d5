//! The propagation point: a container's mount found in the host's table (leaked), or not
//! (nothing leaked), with the rows of the host's table before and after and of the container's.

use rootlab_shared::result::{MountEntry, RunResult, StepOutcome};
use rootlab_shared::spec::{Spec, HOST};

use super::{Evidence, MountLine, MountMark, Point, Tone};
use crate::model::mounts as mount_model;

/// (snapshot index, label, table) of every snapshot in which `actor` has a view.
pub(super) fn tables<'r>(
    result: &'r RunResult,
    actor: &str,
) -> Vec<(usize, &'r str, &'r [MountEntry])> {
    result
        .snapshots
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let v = s.views.iter().find(|v| v.actor == actor)?;
            Some((i, s.label.as_str(), v.mounts.as_slice()))
        })
        .collect()
}

pub(super) fn line(
    actor: &str,
    label: &str,
    table: &[MountEntry],
    target: &str,
    mark: MountMark,
) -> MountLine {
    let row = table.iter().rev().find(|m| m.target == target).cloned();
    let mark = match (&row, mark) {
        (None, _) => MountMark::Absent,
        (Some(_), MountMark::Absent) => MountMark::Present,
        (Some(_), mark) => mark,
    };
    MountLine {
        table: format!("{actor} · {label}"),
        target: target.to_string(),
        row,
        mark,
    }
}

/// A container mounted something and the host's table was taken before and after.
pub fn propagation(result: &RunResult, spec: &Spec) -> Option<Point> {
    let made = mount_model::container_mounts(&spec.steps, &result.steps);
    let (target, container, _, _) = made.first()?;
    let hosts = tables(result, HOST);
    let (first, last) = (hosts.first()?, hosts.last()?);
    if first.0 == last.0 {
        return None;
    }
    let inside = tables(result, container)
        .into_iter()
        .rfind(|(i, ..)| *i > first.0)?;
    let leaks = mount_model::leaks(&spec.steps, &result.steps, last.2, Some(first.2));
    let leaked = leaks.iter().any(|l| l.target == *target);
    let mut lines = vec![
        line(HOST, first.1, first.2, target, MountMark::Absent),
        line(container, inside.1, inside.2, target, MountMark::Present),
        line(HOST, last.1, last.2, target, MountMark::Leaked),
    ];
    if !leaked {
        lines[2].mark = match lines[2].row {
            Some(_) => MountMark::Present,
            None => MountMark::Absent,
        };
    }
    let arrived = host_mount_reaching(result, spec, container, inside.2);
    if let Some(t) = &arrived {
        lines.push(line(container, inside.1, inside.2, t, MountMark::Present));
    }
    let (tone, sentence) = if leaked {
        let fstype = lines[2]
            .row
            .as_ref()
            .map(|m| m.fstype.clone())
            .unwrap_or_default();
        (
            Tone::Bad,
            leak_sentence(container, target, last.1, last.2, &fstype),
        )
    } else {
        let why = private_step(result, container)
            .map(|c| format!(" (it ran `{c}` first)"))
            .unwrap_or_default();
        let mut s = format!(
            "Nothing leaked: {container}'s mount on {target} stayed in {container}{why}; the host's table in “{}” has no {target} mount from it.",
            last.1
        );
        if let Some(t) = &arrived {
            s.push_str(&format!(
                " One way only: the host's own mount on {t} did reach {container}."
            ));
        }
        (Tone::Good, s)
    };
    Some(Point {
        tone,
        sentence,
        evidence: Evidence::Mounts(lines),
    })
}

fn leak_sentence(
    container: &str,
    target: &str,
    label: &str,
    host: &[MountEntry],
    fstype: &str,
) -> String {
    let shared_root = host.iter().any(|m| m.target == "/" && m.shared.is_some());
    let why = if shared_root {
        format!(", because the host's / is shared and {container} never made its copy private")
    } else {
        String::new()
    };
    format!(
        "Leaked: the {fstype} {container} mounted on {target} is in the host's mount table in “{label}”{why}."
    )
}

/// The make-private (or slave) command a container ran, if any.
fn private_step<'r>(result: &'r RunResult, container: &str) -> Option<&'r str> {
    result
        .steps
        .iter()
        .find(|s| {
            s.actor == container
                && s.op == "make_propagation"
                && matches!(s.outcome, StepOutcome::Ok)
        })
        .map(|s| s.command.as_str())
}

/// A mount the host made after the container was created that shows in the container's table.
pub(super) fn host_mount_reaching(
    result: &RunResult,
    spec: &Spec,
    container: &str,
    table: &[MountEntry],
) -> Option<String> {
    let created = result
        .steps
        .iter()
        .position(|s| spec_names(spec, s.index, container))?;
    result.steps[created..]
        .iter()
        .filter(|s| s.actor == HOST && matches!(s.outcome, StepOutcome::Ok))
        .filter_map(|s| mount_model::mount_target_of(spec.steps.get(s.index)?))
        .find(|t| table.iter().any(|m| m.target == *t))
        .map(str::to_string)
}

/// Step `index` of the spec creates `container`.
fn spec_names(spec: &Spec, index: usize, container: &str) -> bool {
    matches!(spec.steps.get(index), Some(rootlab_shared::spec::Step::Container { name, .. }) if name == container)
}
