//! The side-by-side file tree diff: two walks merged into one list of rows in depth-first order,
//! each marked same/added/removed/changed/hidden-by-a-mount, ready to render as a collapsible tree.

use std::collections::HashMap;
use std::rc::Rc;

use rootlab_shared::diff::{self as shared_diff, Change as SharedChange, EntryField};
use rootlab_shared::result::{FileKind, MountEntry, Tree, TreeEntry};

/// How a row differs between the left and the right side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Change {
    Same,
    /// Only on the right.
    Added,
    /// Only on the left.
    Removed,
    /// On both sides, with different kind, content, mode, owner or layer.
    Changed,
    /// Only on the left, and on the right a new mount covers its directory: the file still
    /// exists underneath, the mount hides it.
    Hidden,
    /// On one side only, deeper than the other side's snapshot walked: not known there, so
    /// neither added nor removed.
    NotCaptured,
}

impl Change {
    pub fn css(self) -> &'static str {
        match self {
            Change::Same => "same",
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed => "changed",
            Change::Hidden => "hidden",
            Change::NotCaptured => "not-captured",
        }
    }
}

/// One side of a comparison: a walked tree, and the mount table of that view, which tells a
/// hidden file from a deleted one.
#[derive(Clone, Debug, PartialEq)]
pub struct Side {
    pub tree: Rc<Tree>,
    pub mounts: Rc<Vec<MountEntry>>,
    /// How many levels below its root the walk went (the snapshot's `depth`), when known.
    pub depth: Option<usize>,
}

/// One row of the merged tree.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Path relative to the walked root, `/`-separated, no leading slash.
    pub rel: String,
    pub name: String,
    pub depth: usize,
    pub left: Option<TreeEntry>,
    pub right: Option<TreeEntry>,
    pub change: Change,
    /// For `Changed`: what differs. For `Hidden`: the covering mount's target.
    pub note: String,
    pub is_dir: bool,
    /// Some row below this one differs (a collapsed directory still shows that).
    pub changes_below: bool,
    /// Entries below a directory, when shown next to it (0: not shown).
    pub below: usize,
}

/// The path of an entry relative to the walked root. Layer trees already hold relative paths.
pub fn relative(root: &str, path: &str) -> String {
    let root = root.trim_end_matches('/');
    let rest = path
        .strip_prefix(root)
        .filter(|r| r.is_empty() || r.starts_with('/'));
    rest.unwrap_or(path).trim_start_matches('/').to_string()
}

/// The same tree with paths relative to its root, under `/`: trees walked from different roots
/// (a layer and the overlay that merges it) compare path by path.
fn rebased(tree: &Tree) -> Tree {
    let entries = tree
        .entries
        .iter()
        .map(|e| TreeEntry {
            path: format!("/{}", relative(&tree.root, &e.path)),
            ..e.clone()
        })
        .collect();
    Tree {
        root: "/".into(),
        entries,
        ..tree.clone()
    }
}

/// Merge two trees into rows, depth first, by name, with the shared crate's diff (the same
/// definitions of changed and hidden as the API's users get).
pub fn diff(left: &Side, right: &Side) -> Vec<Row> {
    let same_root = left.tree.root == right.tree.root;
    let (l, r) = if same_root {
        ((*left.tree).clone(), (*right.tree).clone())
    } else {
        (rebased(&left.tree), rebased(&right.tree))
    };
    let no_mounts = Vec::new();
    let (lm, rm) = if same_root {
        (&*left.mounts, &*right.mounts)
    } else {
        (&no_mounts, &no_mounts)
    };
    let diffed = shared_diff::diff_trees(&l, &r, lm, rm);
    let lookup = |t: &Tree| {
        t.entries
            .iter()
            .map(|e| (e.path.clone(), e.clone()))
            .collect::<HashMap<_, _>>()
    };
    let (mut lmap, mut rmap) = (lookup(&l), lookup(&r));
    let mut rows: Vec<Row> = diffed
        .entries
        .into_iter()
        .map(|d| {
            let rel = relative(&l.root, &d.path);
            let (a, b) = (lmap.remove(&d.path), rmap.remove(&d.path));
            let mut row = make_row(rel, a, b, &d);
            row.change = beyond_walk(row.change, row.depth + 1, left.depth, right.depth);
            row
        })
        .filter(|row| !row.rel.is_empty())
        .collect();
    mark_changes_below(&mut rows);
    rows
}

fn make_row(
    rel: String,
    l: Option<TreeEntry>,
    r: Option<TreeEntry>,
    d: &shared_diff::EntryDiff,
) -> Row {
    // A layer's own tree records no origin: a merged entry's layer is news, not a change.
    let only_origin = d.fields == [EntryField::Layer]
        && [&l, &r]
            .iter()
            .any(|e| e.as_ref().is_some_and(|e| e.layer.is_none()));
    // A whiteout in a layer's own tree stands for an absence in the merged view: as expected.
    let whiteout = |e: &Option<TreeEntry>| e.as_ref().is_some_and(|e| e.whiteout);
    let change = match d.change {
        SharedChange::Changed if only_origin => Change::Same,
        SharedChange::Removed if whiteout(&l) => Change::Same,
        SharedChange::Added if whiteout(&r) => Change::Same,
        SharedChange::Changed => Change::Changed,
        SharedChange::Unchanged => Change::Same,
        SharedChange::Added => Change::Added,
        SharedChange::Removed => Change::Removed,
        SharedChange::Hidden => Change::Hidden,
    };
    let note = match change {
        Change::Changed => d
            .fields
            .iter()
            .map(|f| format!("{f:?}").to_lowercase())
            .collect::<Vec<_>>()
            .join(", "),
        Change::Hidden => d.hidden_by.clone().unwrap_or_default(),
        _ => String::new(),
    };
    let is_dir = [&l, &r]
        .iter()
        .any(|e| e.as_ref().is_some_and(|e| e.kind == FileKind::Dir));
    Row {
        name: rel.rsplit('/').next().unwrap_or(&rel).to_string(),
        depth: rel.matches('/').count(),
        left: l,
        right: r,
        change,
        note,
        is_dir,
        changes_below: false,
        below: 0,
        rel,
    }
}

/// A row on one side only, deeper than the other side's walk went, was not captured there.
fn beyond_walk(change: Change, levels: usize, left: Option<usize>, right: Option<usize>) -> Change {
    let deeper = |walked: Option<usize>| walked.is_some_and(|d| levels > d);
    match change {
        Change::Removed if deeper(right) => Change::NotCaptured,
        Change::Added if deeper(left) => Change::NotCaptured,
        c => c,
    }
}

/// Set `changes_below` on every directory that has a differing row under it (one reverse pass).
pub(crate) fn mark_changes_below(rows: &mut [Row]) {
    let mut pending: Vec<bool> = Vec::new();
    for row in rows.iter_mut().rev() {
        pending.resize(row.depth + 2, false);
        let below = pending[row.depth + 1];
        pending[row.depth + 1] = false;
        row.changes_below = below;
        if below || !matches!(row.change, Change::Same | Change::NotCaptured) {
            pending[row.depth] = true;
        }
    }
}

/// Which rows show, given the collapsed directories (by `rel`): a linear pass that skips every
/// row under a collapsed one.
pub fn visible<'a>(rows: &'a [Row], collapsed: &dyn Fn(&Row) -> bool) -> Vec<&'a Row> {
    let mut out = Vec::with_capacity(rows.len());
    let mut hide_below: Option<usize> = None;
    for row in rows {
        if hide_below.is_some_and(|d| row.depth > d) {
            continue;
        }
        hide_below = (row.is_dir && collapsed(row)).then_some(row.depth);
        out.push(row);
    }
    out
}

/// Counts per change kind, for the summary line above the tree.
pub fn summary(rows: &[Row]) -> [(Change, usize); 5] {
    let count = |c| rows.iter().filter(|r| r.change == c).count();
    [
        (Change::Added, count(Change::Added)),
        (Change::Removed, count(Change::Removed)),
        (Change::Changed, count(Change::Changed)),
        (Change::Hidden, count(Change::Hidden)),
        (Change::NotCaptured, count(Change::NotCaptured)),
    ]
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub fn entry(path: &str, kind: FileKind) -> TreeEntry {
        TreeEntry::new(path, kind)
    }

    fn mount(target: &str) -> MountEntry {
        MountEntry::new(target.len() as u32, 1, target, "none", "tmpfs")
    }

    pub fn side(root: &str, entries: Vec<TreeEntry>, mounts: &[&str]) -> Side {
        let tree = Tree {
            root: root.into(),
            error: None,
            entries,
            truncated: false,
            complete_to: None,
        };
        Side {
            tree: Rc::new(tree),
            mounts: Rc::new(mounts.iter().map(|m| mount(m)).collect()),
            depth: None,
        }
    }

    fn changes(rows: &[Row]) -> Vec<(&str, Change)> {
        rows.iter().map(|r| (r.rel.as_str(), r.change)).collect()
    }

    #[test]
    fn files_under_a_new_mount_are_hidden_not_removed() {
        let host = side(
            "/",
            vec![
                entry("/tmp", FileKind::Dir),
                entry("/tmp/a.yaml", FileKind::File),
            ],
            &["/"],
        );
        let mut tmp = entry("/tmp", FileKind::Dir);
        tmp.mount_point = true;
        let container = side(
            "/",
            vec![tmp, entry("/tmp/new", FileKind::File)],
            &["/", "/tmp"],
        );
        let rows = diff(&host, &container);
        assert_eq!(
            changes(&rows),
            vec![
                ("tmp", Change::Same),
                ("tmp/a.yaml", Change::Hidden),
                ("tmp/new", Change::Added)
            ]
        );
        assert_eq!(rows[1].note, "/tmp");
        assert!(rows[0].changes_below);
    }

    #[test]
    fn rows_are_depth_first_even_with_dashes() {
        let l = side(
            "/d",
            vec![
                entry("/d/a", FileKind::Dir),
                entry("/d/a-c", FileKind::File),
                entry("/d/a/b", FileKind::File),
            ],
            &[],
        );
        let rows = diff(&l, &l);
        assert_eq!(
            changes(&rows),
            vec![
                ("a", Change::Same),
                ("a/b", Change::Same),
                ("a-c", Change::Same)
            ]
        );
        assert_eq!(rows[1].depth, 1);
        assert!(!rows[0].changes_below);
    }

    #[test]
    fn layer_trees_and_views_compare_by_relative_path() {
        let mut x = entry("x", FileKind::File);
        x.preview = Some("from A".into());
        let layer = side("/layers/A", vec![x.clone()], &[]);
        let mut merged_x = entry("/c/x", FileKind::File);
        merged_x.preview = Some("from A".into());
        merged_x.layer = Some("A".into());
        let merged = side("/c", vec![merged_x, entry("/c/b", FileKind::File)], &[]);
        let rows = diff(&layer, &merged);
        assert_eq!(
            changes(&rows),
            vec![("b", Change::Added), ("x", Change::Same)]
        );
        assert_eq!(rows[1].right.as_ref().unwrap().layer.as_deref(), Some("A"));
    }

    #[test]
    fn collapsed_directories_hide_their_subtree_only() {
        let l = side(
            "/",
            vec![
                entry("/a", FileKind::Dir),
                entry("/a/b", FileKind::Dir),
                entry("/a/b/c", FileKind::File),
                entry("/z", FileKind::File),
            ],
            &[],
        );
        let rows = diff(&l, &l);
        let shown: Vec<&str> = visible(&rows, &|row| row.rel == "a/b")
            .iter()
            .map(|r| r.rel.as_str())
            .collect();
        assert_eq!(shown, vec!["a", "a/b", "z"]);
    }

    #[test]
    fn entries_deeper_than_the_other_walk_are_not_captured_not_removed() {
        let built = side(
            "/root/test",
            vec![
                entry("/root/test/bin", FileKind::Dir),
                entry("/root/test/bin/ls", FileKind::File),
                entry("/root/test/gone", FileKind::File),
            ],
            &[],
        );
        let mut inside = side("/", vec![entry("/bin", FileKind::Dir)], &[]);
        inside.depth = Some(1);
        let rows = diff(&built, &inside);
        assert_eq!(
            changes(&rows),
            vec![
                ("bin", Change::Same),
                ("bin/ls", Change::NotCaptured),
                ("gone", Change::Removed)
            ]
        );
        assert!(!rows[0].changes_below, "not captured is no change");
        let back = diff(&inside, &built);
        assert_eq!(back[1].change, Change::NotCaptured);
        assert_eq!(summary(&rows)[4], (Change::NotCaptured, 1));
    }

    #[test]
    fn summary_counts_each_kind() {
        let l = side("/", vec![entry("/gone", FileKind::File)], &[]);
        let r = side(
            "/",
            vec![
                entry("/new", FileKind::File),
                entry("/new2", FileKind::File),
            ],
            &[],
        );
        let s = summary(&diff(&l, &r));
        assert_eq!(s[0], (Change::Added, 2));
        assert_eq!(s[1], (Change::Removed, 1));
    }
}
