//! The comparison shown first, chosen from the lesson's shape with the spec in hand: a leak shows
//! the host before and after, a one-way (slave) lesson the host beside the container once both
//! mounted, a private one the unchanged host (with its "nothing leaked" verdict), an escape the
//! held actor's root beside the escaped one's.

use rootlab_shared::result::{RunResult, StepDetails, StepOutcome};
use rootlab_shared::spec::{Spec, Step, HOST};

use super::compare::{self, SideRef};
use super::mounts;

/// The pair to show first; falls back to [`compare::default_pair`] for other shapes.
pub fn default_pair(result: &RunResult, spec: Option<&Spec>) -> Option<(SideRef, SideRef)> {
    escape_pair(result)
        .or_else(|| spec.and_then(|spec| propagation_pair(result, spec)))
        .or_else(|| compare::default_pair(result))
}

/// One actor held by its root and one that escaped: the held one's view first, so what the
/// escaped one reaches reads as added.
fn escape_pair(result: &RunResult) -> Option<(SideRef, SideRef)> {
    let attempt = |escaped: bool| {
        result.steps.iter().rev().find_map(|s| match &s.details {
            Some(StepDetails::Escape { escaped: e, .. }) if *e == escaped => Some(s.actor.as_str()),
            _ => None,
        })
    };
    let (held, out) = (attempt(false)?, attempt(true)?);
    pair_in_a_snapshot(result, held, out)
}

fn propagation_pair(result: &RunResult, spec: &Spec) -> Option<(SideRef, SideRef)> {
    let made = mounts::container_mounts(&spec.steps, &result.steps);
    let (_, container, ..) = made.first()?;
    let before_after = compare::before_vs_after(result)?;
    if host_mounted_after(result, spec, container) {
        return both_views(result, container).or(Some(before_after));
    }
    Some(before_after)
}

/// The host mounted something after `container` was created (the slave lesson's other half).
fn host_mounted_after(result: &RunResult, spec: &Spec, container: &str) -> bool {
    let created = spec
        .steps
        .iter()
        .position(|s| matches!(s, Step::Container { name, .. } if name == container));
    let Some(created) = created else {
        return false;
    };
    result
        .steps
        .iter()
        .filter(|s| s.index > created && s.actor == HOST && matches!(s.outcome, StepOutcome::Ok))
        .any(|s| {
            spec.steps
                .get(s.index)
                .and_then(mounts::mount_target_of)
                .is_some()
        })
}

/// The host beside `container` in the latest snapshot that has both.
fn both_views(result: &RunResult, container: &str) -> Option<(SideRef, SideRef)> {
    pair_in_a_snapshot(result, HOST, container)
}

/// `left` beside `right` in the latest snapshot that walked both.
fn pair_in_a_snapshot(result: &RunResult, left: &str, right: &str) -> Option<(SideRef, SideRef)> {
    result
        .snapshots
        .iter()
        .enumerate()
        .rev()
        .find_map(|(s, snap)| {
            let has = |actor: &str| {
                snap.views
                    .iter()
                    .any(|v| v.actor == actor && !v.trees.is_empty())
            };
            (has(left) && has(right)).then(|| {
                let view = |actor: &str| SideRef::View {
                    snapshot: s,
                    actor: actor.to_string(),
                    tree: 0,
                };
                (view(left), view(right))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixtures::fixtures;
    use crate::model::tree::{self, Change};

    fn pair_of(id: &str) -> (SideRef, SideRef) {
        let (_, r, s) = fixtures().into_iter().find(|(i, ..)| *i == id).unwrap();
        default_pair(&r, Some(&s)).unwrap()
    }

    fn label(id: &str, side: &SideRef) -> String {
        let (_, r, _) = fixtures().into_iter().find(|(i, ..)| *i == id).unwrap();
        let snap = &r.snapshots[side.snapshot()];
        match side {
            SideRef::View { actor, .. } => format!("{} · {actor}", snap.label),
            SideRef::Layer { name, .. } => format!("{} · layer {name}", snap.label),
        }
    }

    #[test]
    fn propagation_lessons_open_on_their_point() {
        let labels = |id: &str| {
            let (a, b) = pair_of(id);
            (label(id, &a), label(id, &b))
        };
        assert_eq!(
            labels("seed-propagation-leak"),
            ("host before · host".into(), "host after exit · host".into())
        );
        assert_eq!(
            labels("seed-propagation-private"),
            ("host before · host".into(), "host after exit · host".into())
        );
        assert_eq!(
            labels("seed-propagation-slave"),
            (
                "after both mounts · host".into(),
                "after both mounts · c1".into()
            )
        );
    }

    #[test]
    fn the_escape_lesson_shows_the_held_root_beside_the_escaped_one() {
        let view = |actor: &str| SideRef::View {
            snapshot: 0,
            actor: actor.into(),
            tree: 0,
        };
        assert_eq!(pair_of("pivot-vs-chroot"), (view("c2"), view("c1")));
    }

    #[test]
    fn no_lesson_shows_a_false_removal_by_default() {
        for (id, r, s) in fixtures() {
            let (a, b) = default_pair(&r, Some(&s)).unwrap();
            let (a, b) = (
                compare::resolve(&r, &a).unwrap(),
                compare::resolve(&r, &b).unwrap(),
            );
            let removed: Vec<String> = tree::diff(&a, &b)
                .into_iter()
                .filter(|row| row.change == Change::Removed)
                .map(|row| row.rel)
                .collect();
            // A move is a true removal: the file went with its mount to /mnt/new.
            let real: &[&str] = match id {
                "move-mount" => &["old/hello.txt"],
                _ => &[],
            };
            assert_eq!(removed, real, "{id}: shown as removed");
        }
    }

    #[test]
    fn the_chroot_lesson_marks_deeper_entries_not_captured() {
        let (_, r, s) = fixtures()
            .into_iter()
            .find(|(i, ..)| *i == "seed-chroot")
            .unwrap();
        let (a, b) = default_pair(&r, Some(&s)).unwrap();
        let rows = tree::diff(
            &compare::resolve(&r, &a).unwrap(),
            &compare::resolve(&r, &b).unwrap(),
        );
        let not = rows
            .iter()
            .filter(|row| row.change == Change::NotCaptured)
            .count();
        assert!(
            not >= 5,
            "bash, ls and the libraries are not captured on the right ({not})"
        );
    }

    #[test]
    fn the_later_lessons_open_on_host_beside_container_or_before_after() {
        let labels = |id: &str| {
            let (a, b) = pair_of(id);
            (label(id, &a), label(id, &b))
        };
        for id in ["propagation-userns", "bind-rslave", "background-watch"] {
            assert_eq!(
                labels(id),
                ("after · host".into(), "after · c1".into()),
                "{id}"
            );
        }
        assert_eq!(
            labels("move-mount"),
            ("before · host".into(), "after · host".into())
        );
    }
}
