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
            let tree = view.trees.get(*tree)?;
            Some(Side {
                depth: walked_depth(tree),
                tree: Rc::new(tree.clone()),
                mounts: Rc::new(view.mounts.clone()),
            })
        }
        SideRef::Layer { name, .. } => {
            let layer = snap.layers.iter().find(|l| &l.name == name)?;
            Some(Side {
                depth: walked_depth(&layer.tree),
                tree: Rc::new(layer.tree.clone()),
                mounts: Rc::new(vec![]),
            })
        }
    }
}

/// How deep a walk went, when it stopped short: a cut tree is as deep as its deepest entry (the
/// result does not record the snapshot's `depth`; a tree cut at the entry limit reads the same,
/// and its missing entries are then "not captured" too, which is also true).
pub fn walked_depth(tree: &Tree) -> Option<usize> {
    tree.truncated.then(|| {
        tree.entries
            .iter()
            .map(|e| {
                super::tree::relative(&tree.root, &e.path)
                    .split('/')
                    .count()
            })
            .max()
            .unwrap_or(0)
    })
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

pub(crate) fn before_vs_after(result: &RunResult) -> Option<(SideRef, SideRef)> {
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
/// same actor's view before or after it, else against the nearest other snapshot; `None` when
/// the result has no other side to show it against.
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
    let same = |p: usize| view_ref(result, p, &first.actor);
    let any = |p: usize| {
        let view = result.snapshots[p]
            .views
            .iter()
            .find(|v| !v.trees.is_empty())?;
        view_ref(result, p, &view.actor)
    };
    let later = s + 1..result.snapshots.len();
    if let Some(before) = (0..s).rev().find_map(same) {
        return Some((before, this));
    }
    if let Some(after) = later.into_iter().find_map(same) {
        return Some((this, after));
    }
    // Never the same snapshot on both sides: the nearest other one, whoever's it is.
    if let Some(before) = (0..s).rev().find_map(any) {
        return Some((before, this));
    }
    (s + 1..result.snapshots.len())
        .find_map(any)
        .map(|after| (this, after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rootlab_shared::result::{FileKind, LayerTree, MountEntry, Snapshot, TreeEntry, View};

    fn entry(path: &str, layer: Option<&str>, whiteout: bool) -> TreeEntry {
        TreeEntry {
            layer: layer.map(str::to_string),
            whiteout,
            ..TreeEntry::new(path, FileKind::File)
        }
    }

    fn tree(root: &str, entries: Vec<TreeEntry>) -> Tree {
        Tree {
            root: root.into(),
            error: None,
            entries,
            truncated: false,
            complete_to: None,
        }
    }

    fn mount(target: &str) -> MountEntry {
        MountEntry {
            propagation: "shared".into(),
            shared: Some(1),
            ..MountEntry::new(1, 0, target, "none", "tmpfs")
        }
    }

    fn view(actor: &str, mounts: &[&str], trees: Vec<Tree>) -> View {
        View {
            actor: actor.into(),
            mounts: mounts.iter().map(|m| mount(m)).collect(),
            mounts_truncated: false,
            trees,
        }
    }

    fn snap(label: &str, views: Vec<View>, layers: Vec<LayerTree>) -> Snapshot {
        Snapshot {
            label: label.into(),
            step: 0,
            views,
            layers,
        }
    }

    fn result(snapshots: Vec<Snapshot>) -> RunResult {
        let mut r: RunResult = serde_json::from_str(
            r#"{"version":1,"title":"","status":"completed","kernel_release":"6","image":{"name":"tools","programs":[]},
                "limits":{"limits":{},"enforcement":[]},"steps":[],"snapshots":[],"duration_us":1}"#,
        )
        .unwrap();
        r.snapshots = snapshots;
        r
    }

    fn host_view(s: usize) -> SideRef {
        SideRef::View {
            snapshot: s,
            actor: HOST.into(),
            tree: 0,
        }
    }

    #[test]
    fn a_host_table_that_changed_is_shown_before_and_after() {
        let r = result(vec![
            snap(
                "host before",
                vec![view(HOST, &["/"], vec![tree("/tmp", vec![])])],
                vec![],
            ),
            snap(
                "c1 after mount",
                vec![view("c1", &["/", "/tmp"], vec![tree("/tmp", vec![])])],
                vec![],
            ),
            snap(
                "host after exit",
                vec![view(HOST, &["/", "/tmp"], vec![tree("/tmp", vec![])])],
                vec![],
            ),
        ]);
        assert_eq!(default_pair(&r), Some((host_view(0), host_view(2))));
    }

    #[test]
    fn an_unchanged_host_is_compared_with_its_container() {
        let r = result(vec![snap(
            "after mount",
            vec![
                view("c1", &["/", "/tmp"], vec![tree("/tmp", vec![])]),
                view(HOST, &["/"], vec![tree("/tmp", vec![])]),
            ],
            vec![],
        )]);
        let c1 = SideRef::View {
            snapshot: 0,
            actor: "c1".into(),
            tree: 0,
        };
        assert_eq!(default_pair(&r), Some((host_view(0), c1)));
    }

    #[test]
    fn the_layer_holding_whiteouts_is_compared_with_the_merged_view() {
        let layers = vec![
            LayerTree {
                name: "base".into(),
                tree: tree("/layers/base", vec![entry("/layers/base/a", None, false)]),
            },
            LayerTree {
                name: "upper".into(),
                tree: tree("/layers/upper", vec![entry("/layers/upper/a", None, true)]),
            },
        ];
        let merged = view(
            HOST,
            &["/", "/merged"],
            vec![tree(
                "/merged",
                vec![entry("/merged/b", Some("base"), false)],
            )],
        );
        let r = result(vec![snap("after writes", vec![merged], layers)]);
        let upper = SideRef::Layer {
            snapshot: 0,
            name: "upper".into(),
        };
        assert_eq!(default_pair(&r), Some((upper, host_view(0))));
        assert!(quick_pairs(&r)
            .iter()
            .any(|(name, ..)| name == "layer vs merged"));
    }

    #[test]
    fn snapshot_links_pick_the_next_snapshot_and_a_sensible_pair() {
        let mut first = snap(
            "one",
            vec![view(HOST, &["/"], vec![tree("/", vec![])])],
            vec![],
        );
        first.step = 2;
        let mut second = snap(
            "two",
            vec![view(HOST, &["/"], vec![tree("/", vec![])])],
            vec![],
        );
        second.step = 5;
        let r = result(vec![first, second]);
        assert_eq!(snapshot_after(&r, 3), Some(1));
        assert_eq!(snapshot_after(&r, 6), None);
        assert_eq!(pair_for_snapshot(&r, 1), Some((host_view(0), host_view(1))));
        assert_eq!(pair_for_snapshot(&r, 0), Some((host_view(0), host_view(1))));
        let alone = result(vec![snap(
            "one",
            vec![view(HOST, &["/"], vec![tree("/", vec![])])],
            vec![],
        )]);
        assert_eq!(
            pair_for_snapshot(&alone, 0),
            None,
            "never one snapshot against itself"
        );
    }

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
