//! Points made of steps the kernel refused: a move out of a shared parent (then allowed once it is
//! private), an overlay option an unprivileged mount may not use, a rootless container's locked
//! inherited mounts.

use rootlab_shared::result::{MountEntry, RunResult, StepOutcome, StepResult};
use rootlab_shared::spec::{Namespace, Spec, Step, HOST};

use super::mounts::{host_mount_reaching, line, tables};
use super::{and_list, Attempt, Evidence, MountLine, MountMark, Point, Tone};
use crate::model::mounts as mount_model;

fn ok(s: &StepResult) -> bool {
    matches!(s.outcome, StepOutcome::Ok)
}

fn errno(s: &StepResult) -> Option<String> {
    match &s.outcome {
        StepOutcome::Error(e) => Some(e.errno.clone().unwrap_or_else(|| "an error".into())),
        _ => None,
    }
}

fn attempt(s: &StepResult, note: String) -> Attempt {
    let note = match &s.outcome {
        StepOutcome::Error(e) if note.is_empty() => e.explanation.clone(),
        _ => note,
    };
    Attempt {
        actor: s.actor.clone(),
        command: s.command.clone(),
        errno: errno(s),
        note,
    }
}

/// `actor`'s table in the latest snapshot taken before step `step` (`before`), or in the first
/// one taken after it: (label, table).
fn table_at<'r>(
    result: &'r RunResult,
    actor: &str,
    step: usize,
    before: bool,
) -> Option<(&'r str, &'r [MountEntry])> {
    let mut all = tables(result, actor)
        .into_iter()
        .map(|(i, label, t)| (result.snapshots[i].step, label, t));
    let found = if before {
        all.rfind(|(s, ..)| *s < step)
    } else {
        all.find(|(s, ..)| *s > step)
    };
    found.map(|(_, label, t)| (label, t))
}

/// The shared parent of the mount on `target`, if it has one.
fn shared_parent<'t>(table: &'t [MountEntry], target: &str) -> Option<&'t str> {
    let m = table.iter().rev().find(|m| m.target == target)?;
    let parent = table.iter().find(|p| p.id == m.parent && p.id != m.id)?;
    parent.shared.map(|_| parent.target.as_str())
}

/// `mount --move` refused, then the same command allowed after the actor's other steps.
pub fn moved(result: &RunResult, spec: &Spec) -> Option<Point> {
    let failed = result
        .steps
        .iter()
        .find(|s| s.op == "move" && errno(s).is_some())?;
    let Some(Step::Move { source, target, .. }) = spec.steps.get(failed.index) else {
        return None;
    };
    let done = result
        .steps
        .iter()
        .find(|s| s.index > failed.index && s.command == failed.command && ok(s))?;
    let between: Vec<&StepResult> = result
        .steps
        .iter()
        .filter(|s| s.index > failed.index && s.index < done.index)
        .filter(|s| s.actor == failed.actor && ok(s))
        .collect();
    let actor = failed.actor.as_str();
    let (before, after) = (
        table_at(result, actor, failed.index, true)?,
        table_at(result, actor, done.index, false)?,
    );
    let parent = shared_parent(before.1, source);
    // The parent's row before and after, when it was shared: the reason, and its change.
    let mut mounts: Vec<MountLine> = parent
        .map(|p| line(actor, before.0, before.1, p, MountMark::Absent))
        .into_iter()
        .collect();
    mounts.push(line(actor, before.0, before.1, source, MountMark::Absent));
    if let Some(p) = parent {
        mounts.push(line(actor, after.0, after.1, p, MountMark::Absent));
    }
    mounts.push(line(actor, after.0, after.1, source, MountMark::Absent));
    mounts.push(line(actor, after.0, after.1, target, MountMark::Absent));
    let errno = errno(failed).unwrap_or_default();
    let why = parent
        .map(|p| format!(" while the mount's parent {p} was shared"))
        .unwrap_or_default();
    let fixes: Vec<String> = between.iter().map(|s| format!("`{}`", s.command)).collect();
    let moved = mounts.last().and_then(|l| l.row.as_ref());
    let fstype = moved.map_or("mount", |m| m.fstype.as_str());
    let sentence = format!(
        "`{}` failed with {errno}{why}; after {} the same command moved it: the {fstype} is now on {target}, and {source} holds no mount.",
        failed.command,
        and_list(&fixes),
    );
    let mut attempts = vec![attempt(failed, String::new())];
    attempts.extend(between.iter().map(|s| attempt(s, String::new())));
    attempts.push(attempt(done, format!("moved to {target}")));
    Some(Point {
        tone: Tone::Neutral,
        sentence,
        evidence: Evidence::Attempts { attempts, mounts },
    })
}

/// The overlay options of step `s`, when it is an overlay that asked for some.
fn asked_options<'s>(spec: &'s Spec, s: &StepResult) -> Option<(&'s str, Vec<&'static str>)> {
    match spec.steps.get(s.index)? {
        Step::Overlay {
            target, options, ..
        } if !options.is_empty() => Some((
            target.as_str(),
            options.iter().map(|o| o.option_text()).collect(),
        )),
        _ => None,
    }
}

/// How each asked-for option reads in the mount table (`volatile` as `fsync=volatile`), or
/// `None` when the kernel dropped it.
fn shown_as(table_options: &str, asked: &str) -> Option<String> {
    let name = asked.split('=').next().unwrap_or(asked);
    table_options
        .split(',')
        .find(|o| o.split('=').any(|part| part == name))
        .map(str::to_string)
}

fn quoted(options: &[&str]) -> Vec<String> {
    options.iter().map(|o| format!("`{o}`")).collect()
}

/// One overlay took its options, another's were refused.
pub fn overlay_options(result: &RunResult, spec: &Spec) -> Option<Point> {
    let with = |want_ok: bool| {
        result.steps.iter().find_map(|s| {
            let (target, options) = asked_options(spec, s)?;
            (ok(s) == want_ok).then_some((s, target, options))
        })
    };
    let ((took, target, asked), (refused, r_target, r_asked)) = (with(true)?, with(false)?);
    let row = tables(result, &took.actor)
        .into_iter()
        .rev()
        .find_map(|(.., t)| t.iter().rev().find(|m| m.target == target))?;
    let shown: Vec<String> = asked
        .iter()
        .filter_map(|a| shown_as(&row.options, a))
        .map(|o| format!("`{o}`"))
        .collect();
    let dropped: Vec<String> = asked
        .iter()
        .filter(|a| shown_as(&row.options, a).is_none())
        .map(|a| format!("`{a}`"))
        .collect();
    let mut note = format!("the mount table shows {}", and_list(&shown));
    if shown.is_empty() {
        note = "the mount table shows none of them".into();
    }
    if !dropped.is_empty() {
        note.push_str(&format!("; {} silently off", and_list(&dropped)));
    }
    let sentence = format!(
        "The overlay on {target} took {} ({note}); with {} on {r_target} the kernel refused the mount with {}.",
        and_list(&quoted(&asked)),
        and_list(&quoted(&r_asked)),
        errno(refused).unwrap_or_default()
    );
    Some(Point {
        tone: Tone::Neutral,
        sentence,
        evidence: Evidence::Attempts {
            attempts: vec![
                attempt(took, note.replace('`', "")),
                attempt(refused, String::new()),
            ],
            mounts: Vec::new(),
        },
    })
}

/// A container with a user namespace of its own: inherited mounts are slaves and locked.
pub fn rootless(result: &RunResult, spec: &Spec) -> Option<Point> {
    let container = spec.steps.iter().find_map(|s| match s {
        Step::Container {
            name, namespaces, ..
        } if namespaces.contains(&Namespace::User) => Some(name.as_str()),
        _ => None,
    })?;
    let (snap, label, table) = tables(result, container).into_iter().last()?;
    let host = tables(result, HOST)
        .into_iter()
        .find(|(i, ..)| *i == snap)
        .map(|(.., t)| t)?;
    if !table.iter().any(|m| m.master.is_some()) {
        return None;
    }
    let mut mounts: Vec<MountLine> = Vec::new();
    let mut sentence = format!(
        "{container} has a user namespace of its own, so every mount it inherited is a slave (`private,slave`)"
    );
    if let Some(t) = host_mount_reaching(result, spec, container, table) {
        sentence.push_str(&format!(": the host's later mount on {t} reached it"));
        mounts.push(line(container, label, table, &t, MountMark::Present));
    }
    let own = mount_model::container_mounts(&spec.steps, &result.steps)
        .into_iter()
        .find(|(_, c, ..)| *c == container)
        .map(|(t, ..)| t);
    let mut tone = Tone::Good;
    if let Some(own) = own {
        let home = line(HOST, label, host, own, MountMark::Leaked);
        if home.mark == MountMark::Leaked {
            tone = Tone::Bad;
            sentence.push_str(&format!(", and its own mount on {own} reached the host"));
        } else {
            sentence.push_str(&format!(
                ", while its own mount on {own} stayed out of the host's table"
            ));
        }
        mounts.push(line(container, label, table, own, MountMark::Present));
        mounts.push(home);
    }
    sentence.push('.');
    let refused = result
        .steps
        .iter()
        .find(|s| s.actor == container && errno(s).is_some());
    let mut attempts = Vec::new();
    if let Some(s) = refused {
        let e = errno(s).unwrap_or_default();
        let target = match spec.steps.get(s.index) {
            Some(Step::Umount { target, .. }) => Some(target.as_str()),
            _ => None,
        };
        let kept = target.filter(|t| table.iter().any(|m| m.target == *t));
        let why = match kept {
            Some(t) => {
                mounts.push(line(container, label, table, t, MountMark::Present));
                format!(" although {t} is a mount point: inherited mounts are locked")
            }
            None => String::new(),
        };
        sentence.push_str(&format!(" `{}` failed with {e}{why}.", s.command));
        attempts.push(attempt(s, String::new()));
    }
    Some(Point {
        tone,
        sentence,
        evidence: Evidence::Attempts { attempts, mounts },
    })
}
