//! Points read off the file trees: a merged overlay and where each entry comes from, the
//! writable layer after a container's writes, one directory as host and container list it.

use rootlab_shared::result::{FileKind, LayerTree, RunResult, Snapshot, Tree, TreeEntry};
use rootlab_shared::spec::{Spec, Step, HOST};

use super::{and_list, EntryLine, Evidence, Listing, Point, Tone};
use crate::model::tree::relative;

/// The latest snapshot with a merged tree (entries that name their layer).
fn merged(result: &RunResult) -> Option<(&Snapshot, &Tree)> {
    result.snapshots.iter().rev().find_map(|s| {
        let tree = s
            .views
            .iter()
            .flat_map(|v| v.trees.iter())
            .find(|t| t.entries.iter().any(|e| e.layer.is_some()))?;
        Some((s, tree))
    })
}

/// Overlay lessons: the writable layer's whiteouts, opaque directories and copy-ups when a
/// container wrote, else the merged tree with each entry's layer.
pub fn layers(result: &RunResult) -> Option<Point> {
    let (snap, tree) = merged(result)?;
    let written = snap
        .layers
        .iter()
        .find(|l| l.tree.entries.iter().any(|e| e.whiteout || e.opaque));
    Some(match written {
        Some(layer) => writes(snap, layer),
        None => union(snap, tree),
    })
}

/// A container started from an image, and its writable layer as the host's latest snapshot
/// walked it: what the container wrote, deleted (whiteouts) and re-created (opaque dirs).
pub fn container_layer(result: &RunResult, spec: &Spec) -> Option<Point> {
    let name = spec.steps.iter().find_map(|s| match s {
        Step::Container {
            name,
            image: Some(_),
            ..
        } => Some(name.clone()),
        _ => None,
    })?;
    let root = format!("/layers/{name}.upper");
    let tree = result.snapshots.iter().rev().find_map(|s| {
        s.views
            .iter()
            .filter(|v| v.actor == HOST)
            .flat_map(|v| v.trees.iter())
            .find(|t| t.root == root && !t.entries.is_empty())
    })?;
    let items: Vec<EntryLine> = tree
        .entries
        .iter()
        .filter(|e| e.kind != FileKind::Dir || e.opaque)
        .map(|e| EntryLine {
            path: relative(&tree.root, &e.path),
            layer: Some(format!("{name}.upper")),
            note: if e.whiteout {
                "whiteout"
            } else if e.opaque {
                "opaque"
            } else {
                ""
            }
            .to_string(),
            preview: e.preview.clone(),
        })
        .collect();
    let parts = by_note(
        &items,
        &[
            ("", "written (new, or copied up from the image and changed)"),
            ("whiteout", "deleted: a whiteout hides the image's file"),
            (
                "opaque",
                "re-created as an opaque directory hiding the image's one",
            ),
        ],
    );
    Some(Point {
        tone: Tone::Neutral,
        sentence: format!(
            "The image's layers stayed read-only: everything {name} did is in its own writable layer {root}: {}.",
            parts.join("; ")
        ),
        evidence: Evidence::Entries {
            title: format!("{root}, the container's writable layer"),
            items,
        },
    })
}

/// For each (note, what it means) with entries: "`a, b and c` what".
fn by_note(items: &[EntryLine], notes: &[(&str, &str)]) -> Vec<String> {
    notes
        .iter()
        .filter_map(|(note, what)| {
            let paths: Vec<String> = items
                .iter()
                .filter(|i| i.note == *note)
                .map(|i| i.path.clone())
                .collect();
            (!paths.is_empty()).then(|| format!("{} {what}", and_list(&paths)))
        })
        .collect()
}

/// Layer names holding `path` (relative), in stacking order as the result lists them.
fn holders(snap: &Snapshot, path: &str) -> Vec<String> {
    snap.layers
        .iter()
        .filter(|l| {
            l.tree
                .entries
                .iter()
                .any(|e| relative(&l.tree.root, &e.path) == path)
        })
        .map(|l| l.name.clone())
        .collect()
}

fn writes(snap: &Snapshot, layer: &LayerTree) -> Point {
    let items: Vec<EntryLine> = layer
        .tree
        .entries
        .iter()
        .filter(|e| e.kind != FileKind::Dir || e.opaque)
        .map(|e| {
            let path = relative(&layer.tree.root, &e.path);
            let below = holders(snap, &path).iter().any(|n| n != &layer.name);
            let note = match (e.whiteout, e.opaque, below) {
                (true, ..) => "whiteout",
                (_, true, _) => "opaque",
                (_, _, true) => "copied up",
                _ => "new",
            };
            EntryLine {
                path,
                layer: Some(layer.name.clone()),
                note: note.to_string(),
                preview: e.preview.clone(),
            }
        })
        .collect();
    let parts = by_note(
        &items,
        &[
            ("copied up", "copied up and changed"),
            (
                "whiteout",
                "deleted, left as a whiteout that hides the lower file",
            ),
            (
                "opaque",
                "recreated as an opaque directory that hides the lower one's content",
            ),
        ],
    );
    let sentence = format!(
        "Every write landed in the writable layer “{}”: {}. The image layers below it are read-only.",
        layer.name,
        parts.join("; ")
    );
    Point {
        tone: Tone::Neutral,
        sentence,
        evidence: Evidence::Entries {
            title: format!("layer {} as stored", layer.name),
            items,
        },
    }
}

fn union(snap: &Snapshot, tree: &Tree) -> Point {
    let files: Vec<&TreeEntry> = tree
        .entries
        .iter()
        .filter(|e| e.kind != FileKind::Dir)
        .collect();
    let items: Vec<EntryLine> = files
        .iter()
        .map(|e| EntryLine {
            path: relative(&tree.root, &e.path),
            layer: e.layer.clone(),
            note: String::new(),
            preview: e.preview.clone(),
        })
        .collect();
    let names: Vec<String> = items.iter().map(|i| i.path.clone()).collect();
    let mut sentence = format!("The merged {} holds {}", tree.root, and_list(&names));
    let shadowed: Vec<String> = items
        .iter()
        .filter_map(|i| {
            let from = i.layer.as_ref()?;
            let others: Vec<String> = holders(snap, &i.path)
                .into_iter()
                .filter(|n| n != from)
                .collect();
            (!others.is_empty()).then(|| {
                format!(
                    "{} comes from {from}, which hides {}'s {}",
                    i.path,
                    and_list(&others),
                    i.path
                )
            })
        })
        .collect();
    if shadowed.is_empty() {
        sentence.push_str(", each from the layer named beside it.");
    } else {
        sentence.push_str(&format!(": {}.", and_list(&shadowed)));
    }
    Point {
        tone: Tone::Neutral,
        sentence,
        evidence: Evidence::Entries {
            title: format!("{} (merged)", tree.root),
            items,
        },
    }
}

/// `1 entry`, `5 entries`.
pub fn entries(n: usize) -> String {
    format!("{n} entr{}", if n == 1 { "y" } else { "ies" })
}

/// Direct children of a walked tree.
fn names(tree: &Tree) -> Vec<String> {
    tree.entries
        .iter()
        .map(|e| relative(&tree.root, &e.path))
        .filter(|p| !p.is_empty() && !p.contains('/'))
        .collect()
}

/// Host and a container list the same directory: equal (a copy) or not (a mount covers it).
pub fn listings(result: &RunResult) -> Option<Point> {
    let (host, other) = result.snapshots.iter().rev().find_map(|s| {
        let host = s
            .views
            .iter()
            .find(|v| v.actor == rootlab_shared::spec::HOST)?;
        let other = s.views.iter().find(|v| v.actor != host.actor)?;
        let ht = host.trees.first()?;
        let ot = other.trees.iter().find(|t| t.root == ht.root)?;
        Some(((host, ht), (other, ot)))
    })?;
    let (h, o) = (names(host.1), names(other.1));
    let root = &host.1.root;
    let cover = other.0.mounts.iter().rev().find(|m| &m.target == root);
    let covered = other.1.entries.is_empty() && cover.is_some();
    let sentence = if h == o {
        format!(
            "{}'s {root} lists the same {} as the host's: a new mount namespace starts as a copy, and nothing was mounted.",
            other.0.actor,
            entries(h.len())
        )
    } else if covered {
        format!(
            "{}'s {root} is empty: the new {} mounted there covers the directory, while the host's {root} still holds its {}.",
            other.0.actor,
            cover.map(|m| m.fstype.as_str()).unwrap_or("mount"),
            entries(h.len())
        )
    } else {
        format!("{}'s {root} and the host's differ.", other.0.actor)
    };
    let listing = |actor: &str, names: Vec<String>| Listing {
        actor: actor.to_string(),
        root: root.clone(),
        names,
    };
    Some(Point {
        tone: Tone::Neutral,
        sentence,
        evidence: Evidence::Listings(vec![listing(&host.0.actor, h), listing(&other.0.actor, o)]),
    })
}
