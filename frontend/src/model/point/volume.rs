//! The volume point: a container bound a host directory as a slave; a mount the host made below
//! that directory afterwards shows under the bind (and not under a private bind of it), and the
//! container's own mount under the bind does not go back.

use rootlab_shared::result::{RunResult, StepOutcome};
use rootlab_shared::spec::{Propagation, Spec, Step, HOST};

use super::mounts::{line, tables};
use super::{Evidence, MountMark, Point, Tone};
use crate::model::mounts as mount_model;

/// A container's bind with a propagation: (step, actor, source, target, propagation).
type Bind<'s> = (usize, &'s str, &'s str, &'s str, Propagation);

fn binds(spec: &Spec) -> Vec<Bind<'_>> {
    spec.steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            Step::Bind {
                actor,
                source,
                target,
                propagation: Some(p),
                ..
            } if actor != HOST => Some((i, actor.as_str(), source.as_str(), target.as_str(), *p)),
            _ => None,
        })
        .collect()
}

/// `path` below `dir`: the rest (`/in`), else `None`.
fn below<'p>(path: &'p str, dir: &str) -> Option<&'p str> {
    path.strip_prefix(dir).filter(|rest| rest.starts_with('/'))
}

pub fn volume(result: &RunResult, spec: &Spec) -> Option<Point> {
    let all = binds(spec);
    let &(step, c, source, target, _) = all.iter().find(|b| b.4 == Propagation::Slave)?;
    let host_mount = result
        .steps
        .iter()
        .filter(|s| s.index > step && s.actor == HOST && matches!(s.outcome, StepOutcome::Ok))
        .filter_map(|s| mount_model::mount_target_of(spec.steps.get(s.index)?))
        .find(|t| below(t, source).is_some())?;
    let rest = below(host_mount, source)?;
    let (snap, label, table) = tables(result, c).into_iter().last()?;
    let host = tables(result, HOST)
        .into_iter()
        .find(|(i, ..)| *i == snap)
        .map(|(.., t)| t)?;
    let arrived_at = format!("{target}{rest}");
    let arrived = line(c, label, table, &arrived_at, MountMark::Present);
    let reached = arrived.row.is_some();
    let mut lines = vec![
        line(HOST, label, host, host_mount, MountMark::Present),
        arrived,
    ];
    let mut sentence = format!(
        "The host mounted on {host_mount} after {c} bound {source} at {target} as a slave, and it {} {arrived_at}",
        if reached { "arrived at" } else { "did not reach" }
    );
    for &(.., t, p) in all
        .iter()
        .filter(|b| b.2 == source && b.4 != Propagation::Slave)
    {
        let other = line(c, label, table, &format!("{t}{rest}"), MountMark::Present);
        let has = if other.row.is_some() { "has" } else { "has no" };
        sentence.push_str(&format!("; {t} ({}) {has} mount there", p.as_str()));
        lines.push(other);
    }
    sentence.push('.');
    let own = mount_model::container_mounts(&spec.steps, &result.steps)
        .into_iter()
        .filter(|(_, actor, ..)| *actor == c)
        .find_map(|(t, ..)| below(t, target).map(|r| (t, r)));
    let mut tone = Tone::Good;
    if let Some((own, r)) = own {
        let back = format!("{source}{r}");
        let home = line(HOST, label, host, &back, MountMark::Leaked);
        let went = if home.mark == MountMark::Leaked {
            tone = Tone::Bad;
            format!("went back: the host has it on {back}")
        } else {
            format!("did not go back: the host has nothing on {back}")
        };
        sentence.push_str(&format!(" {c}'s own mount on {own} {went}."));
        lines.push(line(c, label, table, own, MountMark::Present));
        lines.push(home);
    }
    Some(Point {
        tone,
        sentence,
        evidence: Evidence::Mounts(lines),
    })
}
