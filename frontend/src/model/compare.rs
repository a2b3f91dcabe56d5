//! What can be compared in a result (each view's walked trees and each layer's own tree, per
//! snapshot) and which pair to show first so the lesson's point is on screen without clicking.

use std::rc::Rc;

use rootlab_shared::result::{MountEntry, RunResult, Tree};
use rootlab_shared::spec::HOST;

use super::tree::Side;

/// One side of a comparison.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SideRef {
    /// Tree `tree` of `actor`'s view in snapshot `snapshot`.
    View {
        snapshot: usize,
        actor: String,
        tree: usize,
    },
    /// A layer's own tree in snapshot `snapshot`.
    Layer { snapshot: usize, name: String },
}

impl SideRef {
    pub fn snapshot(&self) -> usize {
        match self {
            SideRef::View { snapshot, .. } | SideRef::Layer { snapshot, .. } => *snapshot,
        }
    }

    /// Stable text form, used as the value of a `<select>` option.
    pub fn key(&self) -> String {
        match self {
            SideRef::View {
                snapshot,
                actor,
                tree,
            } => format!("v:{snapshot}:{tree}:{actor}"),
            SideRef::Layer { snapshot, name } => format!("l:{snapshot}:{name}"),
        }
    }

    pub fn from_key(key: &str) -> Option<SideRef> {
        let mut parts = key.splitn(4, ':');
        match parts.next()? {
            "v" => {
                let snapshot = parts.next()?.parse().ok()?;
                let tree = parts.next()?.parse().ok()?;
                Some(SideRef::View {
                    snapshot,
                    tree,
                    actor: parts.next()?.to_string(),
                })
            }
            "l" => {
                let snapshot = parts.next()?.parse().ok()?;
                Some(SideRef::Layer {
                    snapshot,
                    name: parts.next()?.to_string(),
                })
            }
            _ => None,
        }
    }
}

/// Every side the result offers, with a label: `after mount · c1 · /tmp`.
pub fn choices(result: &RunResult) -> Vec<(SideRef, String)> {
    let mut out = Vec::new();
    for (s, snap) in result.snapshots.iter().enumerate() {
        for view in &snap.views {
            for (t, tree) in view.trees.iter().enumerate() {
                let side = SideRef::View {
                    snapshot: s,
                    actor: view.actor.clone(),
                    tree: t,
                };
                out.push((
                    side,
                    format!("{} · {} · {}", snap.label, view.actor, tree.root),
                ));
            }
        }
        for layer in &snap.layers {
            let side = SideRef::Layer {
                snapshot: s,
                name: layer.name.clone(),
            };
            out.push((
                side,
                format!("{} · layer {} (as stored)", snap.label, layer.name),
            ));
        }
    }
    out
}

/// The tree and mount points behind a side; `None` when the result does not hold it.
pub fn resolve(result: &RunResult, side: &SideRef) -> Option<Side> {
    let snap = result.snapshots.get(side.snapshot())?;
    match side {
        SideRef::View { actor, tree, .. } => {
            let view = snap.views.iter().find(|v| &v.actor == actor)?;
            Some(Side {
                tree: Rc::new(view.trees.get(*tree)?.clone()),
                mounts: Rc::new(view.mounts.clone()),
            })
        }
        SideRef::Layer { name, .. } => {
            let layer = snap.layers.iter().find(|l| &l.name == name)?;
            Some(Side {
                tree: Rc::new(layer.tree.clone()),
                mounts: Rc::new(vec![]),
            })
        }
    }
}

/// The mount table behind a side (layers have none), and whose it is.
pub fn mounts<'r>(result: &'r RunResult, side: &SideRef) -> Option<(&'r str, &'r [MountEntry])> {
    match side {
        SideRef::View {
            snapshot, actor, ..
        } => {
            let view = result
                .snapshots
                .get(*snapshot)?
                .views
                .iter()
                .find(|v| &v.actor == actor)?;
            Some((view.actor.as_str(), view.mounts.as_slice()))
        }
        SideRef::Layer { .. } => None,
    }
}

/// Canned pairs a person can jump to: host vs container, before vs after, layer vs merged.
pub fn quick_pairs(result: &RunResult) -> Vec<(String, SideRef, SideRef)> {
    let mut out = Vec::new();
    if let Some(pair) = host_vs_container(result) {
        let actor = |s: &SideRef| match s {
            SideRef::View { actor, .. } => actor.clone(),
            SideRef::Layer { name, .. } => name.clone(),
        };
        out.push((
            format!("{} vs {}", actor(&pair.0), actor(&pair.1)),
            pair.0,
            pair.1,
        ));
    }
    if let Some(pair) = before_vs_after(result) {
        out.push(("host before vs after".to_string(), pair.0, pair.1));
    }
    if let Some(pair) = layer_vs_merged(result) {
        out.push(("layer vs merged".to_string(), pair.0, pair.1));
    }
    out
}

/// The pair shown first: merged overlays are the point of layer lessons, a host that changed
/// between snapshots is the point of propagation lessons, and host vs container otherwise.
pub fn default_pair(result: &RunResult) -> Option<(SideRef, SideRef)> {
    layer_vs_merged(result)
        .or_else(|| host_changed(result))
        .or_else(|| host_vs_container(result))
        .or_else(|| before_vs_after(result))
        .or_else(|| first_vs_last(result))
        .or_else(|| {
            let first = choices(result).into_iter().next()?.0;
            Some((first.clone(), first))
        })
}

fn view_ref(result: &RunResult, snapshot: usize, actor: &str) -> Option<SideRef> {
    let view = result
        .snapshots
        .get(snapshot)?
        .views
        .iter()
        .find(|v| v.actor == actor)?;
    (!view.trees.is_empty()).then(|| SideRef::View {
        snapshot,
        actor: actor.to_string(),
        tree: 0,
    })
}

/// Two views of one snapshot (the latest with two): the host on the left when it is there.
fn host_vs_container(result: &RunResult) -> Option<(SideRef, SideRef)> {
    result
        .snapshots
        .iter()
        .enumerate()
        .rev()
        .find_map(|(s, snap)| {
            let with_trees: Vec<_> = snap.views.iter().filter(|v| !v.trees.is_empty()).collect();
            let left = with_trees
                .iter()
                .find(|v| v.actor == HOST)
                .or(with_trees.first())?;
            let right = with_trees.iter().find(|v| v.actor != left.actor)?;
            let tree = same_root_tree(left.trees.first()?, &right.trees)?;
            Some((
                SideRef::View {
                    snapshot: s,
                    actor: left.actor.clone(),
                    tree: 0,
                },
                SideRef::View {
                    snapshot: s,
                    actor: right.actor.clone(),
                    tree,
                },
            ))
        })
}

fn same_root_tree(tree: &Tree, others: &[Tree]) -> Option<usize> {
    others
        .iter()
        .position(|t| t.root == tree.root)
        .or((!others.is_empty()).then_some(0))
}

fn host_snapshots(result: &RunResult) -> Vec<usize> {
    (0..result.snapshots.len())
        .filter(|s| view_ref(result, *s, HOST).is_some())
        .collect()
}

fn before_vs_after(result: &RunResult) -> Option<(SideRef, SideRef)> {
    let hosts = host_snapshots(result);
    let (first, last) = (*hosts.first()?, *hosts.last()?);
    if first == last {
        return None;
    }
    Some((
        view_ref(result, first, HOST)?,
        view_ref(result, last, HOST)?,
    ))
}

/// Before vs after, only when the host's mount table changed in between.
fn host_changed(result: &RunResult) -> Option<(SideRef, SideRef)> {
    let pair = before_vs_after(result)?;
    let table = |side: &SideRef| {
        mounts(result, side)
            .map(|(_, m)| m.iter().map(|m| (&m.target, &m.fstype)).collect::<Vec<_>>())
    };
    (table(&pair.0) != table(&pair.1)).then_some(pair)
}

/// The first snapshot's first tree against the last one's (a chroot: the built rootfs from the
/// host, then `/` as the chrooted container sees it).
fn first_vs_last(result: &RunResult) -> Option<(SideRef, SideRef)> {
    let first_tree = |s: usize| {
        let view = result
            .snapshots
            .get(s)?
            .views
            .iter()
            .find(|v| !v.trees.is_empty())?;
        Some(SideRef::View {
            snapshot: s,
            actor: view.actor.clone(),
            tree: 0,
        })
    };
    let last = result.snapshots.len().checked_sub(1)?;
    (last > 0).then_some(())?;
    Some((first_tree(0)?, first_tree(last)?))
}

/// A layer's own tree against the overlay that merges it. The layer shown is the one holding
/// whiteouts or opaque directories (the writable one, after writes) when there is one.
fn layer_vs_merged(result: &RunResult) -> Option<(SideRef, SideRef)> {
    result
        .snapshots
        .iter()
        .enumerate()
        .rev()
        .find_map(|(s, snap)| {
            snap.views.iter().find_map(|view| {
                let t = view
                    .trees
                    .iter()
                    .position(|t| t.entries.iter().any(|e| e.layer.is_some()))?;
                let merged = SideRef::View {
                    snapshot: s,
                    actor: view.actor.clone(),
                    tree: t,
                };
                let marked = |l: &&rootlab_shared::result::LayerTree| {
                    l.tree.entries.iter().any(|e| e.whiteout || e.opaque)
                };
                let layer = snap.layers.iter().find(marked).or(snap.layers.first());
                let layer = layer.map(|l| SideRef::Layer {
                    snapshot: s,
                    name: l.name.clone(),
                });
                Some((layer.unwrap_or_else(|| merged.clone()), merged))
            })
        })
}

/// The snapshot taken at or after step `step`, if any.
pub fn snapshot_after(result: &RunResult, step: usize) -> Option<usize> {
    result.snapshots.iter().position(|s| s.step >= step)
}

/// The pair that shows snapshot `s`: its host against its first container, else against the
/// host in the snapshot before it, else itself.
pub fn pair_for_snapshot(result: &RunResult, s: usize) -> Option<(SideRef, SideRef)> {
    let snap = result.snapshots.get(s)?;
    let first = snap.views.iter().find(|v| !v.trees.is_empty())?;
    let this = SideRef::View {
        snapshot: s,
        actor: first.actor.clone(),
        tree: 0,
    };
    if let Some(container) = snap
        .views
        .iter()
        .find(|v| v.actor != first.actor && !v.trees.is_empty())
    {
        let tree = same_root_tree(first.trees.first()?, &container.trees)?;
        return Some((
            this,
            SideRef::View {
                snapshot: s,
                actor: container.actor.clone(),
                tree,
            },
        ));
    }
    let before = (0..s).rev().find_map(|p| view_ref(result, p, &first.actor));
    Some((before.unwrap_or_else(|| this.clone()), this))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_keys_round_trip() {
        for side in [
            SideRef::View {
                snapshot: 2,
                actor: "c:1".into(),
                tree: 1,
            },
            SideRef::Layer {
                snapshot: 0,
                name: "A".into(),
            },
        ] {
            assert_eq!(SideRef::from_key(&side.key()), Some(side));
        }
        assert_eq!(SideRef::from_key("x:1"), None);
    }
}
