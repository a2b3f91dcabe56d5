//! Differences between two snapshots of one view: file trees (added, removed, changed, hidden
//! under a new mount) and mount tables (rows matched by target), and mounts that leaked into the host.
//!
//! Pure and linear-ish (one sort plus a merge, hash lookups): the browser diffs 10,000-entry
//! trees with it on every click.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::result::{MountEntry, Tree, TreeEntry, View};

/// What happened to one tree entry or mount row between `before` and `after`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Added,
    Removed,
    Changed,
    Unchanged,
    /// Still on disk, but covered: a mount new in `after` sits on one of its ancestors.
    Hidden,
}

/// A field of a tree entry that differs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EntryField {
    Kind,
    Size,
    Mode,
    Uid,
    Gid,
    LinkTarget,
    Preview,
    Layer,
}

/// One path of the union of both trees.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntryDiff {
    pub path: String,
    pub change: Change,
    /// For `changed`: which fields differ.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<EntryField>,
    /// For `hidden`: the target of the mount that covers it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_by: Option<String>,
}

/// How many entries of each kind of change.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiffCounts {
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub unchanged: usize,
    pub hidden: usize,
}

impl DiffCounts {
    fn count(&mut self, change: Change) {
        match change {
            Change::Added => self.added += 1,
            Change::Removed => self.removed += 1,
            Change::Changed => self.changed += 1,
            Change::Unchanged => self.unchanged += 1,
            Change::Hidden => self.hidden += 1,
        }
    }

    /// True when anything at all differs.
    pub fn any(&self) -> bool {
        self.added + self.removed + self.changed + self.hidden > 0
    }
}

/// Every path of both trees, in tree order (depth first, by name).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TreeDiff {
    pub root: String,
    pub entries: Vec<EntryDiff>,
    pub counts: DiffCounts,
}

/// A field of a mount row that differs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MountField {
    Source,
    Fstype,
    Options,
    Propagation,
    Shared,
    Master,
    Root,
}

/// One mount row of either table. Rows are matched by target and, among rows with the same
/// target (stacked mounts), by their order.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MountRowDiff {
    pub target: String,
    /// 0 for the first mount on `target`, 1 for one stacked on it, ...
    pub occurrence: usize,
    pub change: Change,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<MountField>,
    #[serde(default)]
    pub before: Option<MountEntry>,
    #[serde(default)]
    pub after: Option<MountEntry>,
}

/// Rows of `after` in its order (matched, changed or added), then the removed rows of `before`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MountDiff {
    pub rows: Vec<MountRowDiff>,
    pub counts: DiffCounts,
}

/// One view compared with itself at another moment (or with another actor's view).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ViewDiff {
    pub before_actor: String,
    pub after_actor: String,
    pub mounts: MountDiff,
    /// One per tree root present in both views.
    pub trees: Vec<TreeDiff>,
}

/// Compare two views: mount tables, and the trees walked from the same root in both.
pub fn diff_views(before: &View, after: &View) -> ViewDiff {
    let trees = after
        .trees
        .iter()
        .filter_map(|a| {
            let b = before.trees.iter().find(|b| b.root == a.root)?;
            Some(diff_trees(b, a, &before.mounts, &after.mounts))
        })
        .collect();
    ViewDiff {
        before_actor: before.actor.clone(),
        after_actor: after.actor.clone(),
        mounts: diff_mounts(&before.mounts, &after.mounts),
        trees,
    }
}

/// Compare two walks of the same path. The mount tables explain removals: an entry of
/// `before` absent from `after` below a mount that only `after` has is `hidden`, not removed.
pub fn diff_trees(
    before: &Tree,
    after: &Tree,
    before_mounts: &[MountEntry],
    after_mounts: &[MountEntry],
) -> TreeDiff {
    let covers = new_mount_targets(before_mounts, after_mounts);
    let b = sorted(&before.entries);
    let a = sorted(&after.entries);
    let mut entries = Vec::with_capacity(b.len().max(a.len()));
    let (mut i, mut j) = (0, 0);
    while i < b.len() || j < a.len() {
        let order = match (b.get(i), a.get(j)) {
            (Some(x), Some(y)) => tree_order(&x.path, &y.path),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        let diff = match order {
            Ordering::Less => removed_or_hidden(b[i], &covers),
            Ordering::Greater => plain(&a[j].path, Change::Added),
            Ordering::Equal => compared(b[i], a[j]),
        };
        i += usize::from(order != Ordering::Greater);
        j += usize::from(order != Ordering::Less);
        entries.push(diff);
    }
    let mut counts = DiffCounts::default();
    entries.iter().for_each(|e| counts.count(e.change));
    TreeDiff {
        root: after.root.clone(),
        entries,
        counts,
    }
}

/// Entries in tree order; the engine already walks in that order, so this is usually a check.
fn sorted(entries: &[TreeEntry]) -> Vec<&TreeEntry> {
    let mut refs: Vec<&TreeEntry> = entries.iter().collect();
    if !refs.is_sorted_by(|x, y| tree_order(&x.path, &y.path) != Ordering::Greater) {
        refs.sort_by(|x, y| tree_order(&x.path, &y.path));
    }
    refs
}

/// Depth-first, by name: compare component by component, which is byte order with `/` lowest
/// (so `/a/b` comes before `/a-c`, as in a tree listing).
pub fn tree_order(x: &str, y: &str) -> Ordering {
    let key = |b: u8| if b == b'/' { 0 } else { b };
    x.bytes().map(key).cmp(y.bytes().map(key))
}

fn plain(path: &str, change: Change) -> EntryDiff {
    EntryDiff {
        path: path.to_string(),
        change,
        fields: Vec::new(),
        hidden_by: None,
    }
}

fn removed_or_hidden(entry: &TreeEntry, covers: &HashSet<&str>) -> EntryDiff {
    match covering_mount(&entry.path, covers) {
        Some(target) => EntryDiff {
            hidden_by: Some(target.to_string()),
            ..plain(&entry.path, Change::Hidden)
        },
        None => plain(&entry.path, Change::Removed),
    }
}

/// The nearest proper ancestor of `path` that is a new mount point.
fn covering_mount<'m>(path: &str, covers: &HashSet<&'m str>) -> Option<&'m str> {
    let ancestors = path
        .rmatch_indices('/')
        .map(|(i, _)| if i == 0 { "/" } else { &path[..i] });
    ancestors
        .filter(|a| *a != path)
        .find_map(|a| covers.get(a).copied())
}

/// Targets mounted more times in `after` than in `before`: each new mount covers what was there.
fn new_mount_targets<'m>(before: &[MountEntry], after: &'m [MountEntry]) -> HashSet<&'m str> {
    let mut counts: HashMap<&str, isize> = HashMap::new();
    before
        .iter()
        .for_each(|m| *counts.entry(&m.target).or_default() -= 1);
    after
        .iter()
        .for_each(|m| *counts.entry(&m.target).or_default() += 1);
    after
        .iter()
        .map(|m| m.target.as_str())
        .filter(|t| counts[t] > 0)
        .collect()
}

fn compared(before: &TreeEntry, after: &TreeEntry) -> EntryDiff {
    let fields = entry_fields(before, after);
    let change = if fields.is_empty() {
        Change::Unchanged
    } else {
        Change::Changed
    };
    EntryDiff {
        fields,
        ..plain(&after.path, change)
    }
}

fn entry_fields(b: &TreeEntry, a: &TreeEntry) -> Vec<EntryField> {
    // A directory's size is file-system bookkeeping (tmpfs counts its entries): it changes
    // whenever a child does, which the child's own row already shows.
    let sizes_differ =
        b.size != a.size && !(b.kind == a.kind && a.kind == crate::result::FileKind::Dir);
    [
        (b.kind != a.kind, EntryField::Kind),
        (sizes_differ, EntryField::Size),
        (b.mode != a.mode, EntryField::Mode),
        (b.uid != a.uid, EntryField::Uid),
        (b.gid != a.gid, EntryField::Gid),
        (b.link_target != a.link_target, EntryField::LinkTarget),
        (b.preview != a.preview, EntryField::Preview),
        (b.layer != a.layer, EntryField::Layer),
    ]
    .into_iter()
    .filter_map(|(differs, field)| differs.then_some(field))
    .collect()
}

/// Compare two mount tables, rows matched by (target, occurrence among same-target rows).
pub fn diff_mounts(before: &[MountEntry], after: &[MountEntry]) -> MountDiff {
    let before_keys = keyed(before);
    let index: HashMap<(&str, usize), usize> = before_keys
        .iter()
        .enumerate()
        .map(|(i, k)| (*k, i))
        .collect();
    let mut matched = vec![false; before.len()];
    let mut rows = Vec::with_capacity(after.len());
    for ((target, occurrence), a) in keyed(after).into_iter().zip(after) {
        let row = match index.get(&(target, occurrence)).copied() {
            Some(i) => {
                matched[i] = true;
                mount_compared(&before[i], a, occurrence)
            }
            None => mount_row(a, occurrence, Change::Added, None, Some(a)),
        };
        rows.push(row);
    }
    let removed = before.iter().zip(before_keys).zip(matched);
    for ((b, (_, occurrence)), _) in removed.filter(|(_, m)| !m) {
        rows.push(mount_row(b, occurrence, Change::Removed, Some(b), None));
    }
    let mut counts = DiffCounts::default();
    rows.iter().for_each(|r| counts.count(r.change));
    MountDiff { rows, counts }
}

/// (target, how many earlier rows share that target) for each row.
fn keyed(mounts: &[MountEntry]) -> Vec<(&str, usize)> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    mounts
        .iter()
        .map(|m| {
            let n = seen.entry(&m.target).or_default();
            *n += 1;
            (m.target.as_str(), *n - 1)
        })
        .collect()
}

fn mount_row(
    m: &MountEntry,
    occurrence: usize,
    change: Change,
    before: Option<&MountEntry>,
    after: Option<&MountEntry>,
) -> MountRowDiff {
    MountRowDiff {
        target: m.target.clone(),
        occurrence,
        change,
        fields: Vec::new(),
        before: before.cloned(),
        after: after.cloned(),
    }
}

fn mount_compared(b: &MountEntry, a: &MountEntry, occurrence: usize) -> MountRowDiff {
    let fields: Vec<MountField> = [
        (b.source != a.source, MountField::Source),
        (b.fstype != a.fstype, MountField::Fstype),
        (b.options != a.options, MountField::Options),
        (b.propagation != a.propagation, MountField::Propagation),
        (b.shared != a.shared, MountField::Shared),
        (b.master != a.master, MountField::Master),
        (b.root != a.root, MountField::Root),
    ]
    .into_iter()
    .filter_map(|(differs, field)| differs.then_some(field))
    .collect();
    let change = if fields.is_empty() {
        Change::Unchanged
    } else {
        Change::Changed
    };
    MountRowDiff {
        fields,
        ..mount_row(a, occurrence, change, Some(b), Some(a))
    }
}

/// Mounts of the host's table `after` that its table `before` did not have: in lesson 3,
/// the container's tmpfs that propagated to the host. A mount keeps its id for its whole
/// life, so (id, target) tells a new mount from an old one even on the same target.
pub fn leaked_mounts(host_before: &[MountEntry], host_after: &[MountEntry]) -> Vec<MountEntry> {
    let old: HashSet<(u32, &str)> = host_before
        .iter()
        .map(|m| (m.id, m.target.as_str()))
        .collect();
    host_after
        .iter()
        .filter(|m| !old.contains(&(m.id, m.target.as_str())))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::FileKind;

    fn entry(path: &str, kind: FileKind) -> TreeEntry {
        TreeEntry::new(path, kind)
    }

    fn file(path: &str) -> TreeEntry {
        entry(path, FileKind::File)
    }

    fn dir(path: &str) -> TreeEntry {
        entry(path, FileKind::Dir)
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

    fn mount(id: u32, target: &str, fstype: &str) -> MountEntry {
        MountEntry {
            options: "rw,relatime".into(),
            propagation: "shared".into(),
            shared: Some(1),
            ..MountEntry::new(id, 1, target, "none", fstype)
        }
    }

    fn changes(d: &TreeDiff) -> Vec<(&str, Change)> {
        d.entries
            .iter()
            .map(|e| (e.path.as_str(), e.change))
            .collect()
    }

    #[test]
    fn identical_trees_are_unchanged() {
        let t = tree(
            "/tmp",
            vec![file("/tmp/a"), dir("/tmp/d"), file("/tmp/d/x")],
        );
        let d = diff_trees(&t, &t, &[], &[]);
        assert!(!d.counts.any());
        assert_eq!(d.counts.unchanged, 3);
    }

    #[test]
    fn added_removed_changed_in_tree_order() {
        let before = tree("/", vec![file("/a"), dir("/d"), file("/d/x"), file("/z")]);
        let mut x = file("/d/x");
        x.size = 10;
        x.mode = 0o600;
        x.preview = Some("hi".into());
        let after = tree("/", vec![dir("/d"), file("/d/new"), x, file("/z")]);
        let d = diff_trees(&before, &after, &[], &[]);
        assert_eq!(
            changes(&d),
            [
                ("/a", Change::Removed),
                ("/d", Change::Unchanged),
                ("/d/new", Change::Added),
                ("/d/x", Change::Changed),
                ("/z", Change::Unchanged)
            ]
        );
        assert_eq!(
            d.entries[3].fields,
            [EntryField::Size, EntryField::Mode, EntryField::Preview]
        );
        assert_eq!(
            (d.counts.added, d.counts.removed, d.counts.changed),
            (1, 1, 1)
        );
    }

    #[test]
    fn every_field_is_compared() {
        let b = file("/f");
        let mut a = entry("/f", FileKind::Symlink);
        a.size = 3;
        a.mode = 0o777;
        a.uid = 1;
        a.gid = 2;
        a.link_target = Some("/x".into());
        a.preview = Some("p".into());
        a.layer = Some("A".into());
        let d = diff_trees(&tree("/", vec![b]), &tree("/", vec![a]), &[], &[]);
        assert_eq!(d.entries[0].fields.len(), 8);
    }

    #[test]
    fn directory_size_alone_is_not_a_change() {
        let mut grown = dir("/d");
        grown.size = 80;
        let d = diff_trees(
            &tree("/", vec![dir("/d")]),
            &tree("/", vec![grown]),
            &[],
            &[],
        );
        assert_eq!(d.entries[0].change, Change::Unchanged);
    }

    #[test]
    fn tree_order_is_depth_first_by_name() {
        assert_eq!(tree_order("/a/b", "/a-c"), Ordering::Less);
        assert_eq!(tree_order("/a", "/a/b"), Ordering::Less);
        assert_eq!(tree_order("/b", "/a/b"), Ordering::Greater);
        let before = tree("/", vec![file("/a-c"), dir("/a"), file("/a/b")]);
        let after = tree("/", vec![dir("/a"), file("/a/b"), file("/a-c")]);
        let d = diff_trees(&before, &after, &[], &[]);
        assert_eq!(d.counts.unchanged, 3);
        assert_eq!(d.entries[2].path, "/a-c");
    }

    #[test]
    fn entries_under_a_new_mount_are_hidden_not_removed() {
        let host_tmp = vec![
            file("/tmp/kubectl-edit-fplln.yaml"),
            dir("/tmp/systemd-private-0ea8-chronyd.service-g7wBf0"),
            file("/tmp/systemd-private-0ea8-chronyd.service-g7wBf0/x"),
        ];
        let root = mount(1, "/", "ext4");
        let before = tree("/tmp", host_tmp);
        let after = tree("/tmp", vec![]);
        let d = diff_trees(
            &before,
            &after,
            std::slice::from_ref(&root),
            &[root.clone(), mount(9, "/tmp", "tmpfs")],
        );
        assert_eq!(d.counts.hidden, 3);
        assert_eq!(d.counts.removed, 0);
        assert!(d
            .entries
            .iter()
            .all(|e| e.hidden_by.as_deref() == Some("/tmp")));
    }

    #[test]
    fn entries_deleted_without_a_new_mount_are_removed() {
        let tmpfs = mount(9, "/tmp", "tmpfs");
        let before = tree("/tmp", vec![file("/tmp/a")]);
        let mounts = [mount(1, "/", "ext4"), tmpfs];
        let d = diff_trees(&before, &tree("/tmp", vec![]), &mounts, &mounts);
        assert_eq!(changes(&d), [("/tmp/a", Change::Removed)]);
    }

    #[test]
    fn a_mount_stacked_on_an_existing_target_also_hides() {
        let m = [mount(1, "/", "ext4"), mount(9, "/data", "tmpfs")];
        let stacked = [m[0].clone(), m[1].clone(), mount(12, "/data", "tmpfs")];
        let before = tree("/data", vec![file("/data/f")]);
        let d = diff_trees(&before, &tree("/data", vec![]), &m, &stacked);
        assert_eq!(changes(&d), [("/data/f", Change::Hidden)]);
    }

    #[test]
    fn the_mount_point_itself_is_not_hidden() {
        let before = tree("/", vec![dir("/mnt")]);
        let d = diff_trees(
            &before,
            &tree("/", vec![]),
            &[],
            &[mount(5, "/mnt", "tmpfs")],
        );
        assert_eq!(changes(&d), [("/mnt", Change::Removed)]);
    }

    #[test]
    fn mount_rows_are_matched_by_target_and_occurrence() {
        let before = [
            mount(1, "/", "ext4"),
            mount(2, "/tmp", "tmpfs"),
            mount(3, "/old", "tmpfs"),
        ];
        let mut private_root = mount(1, "/", "ext4");
        private_root.propagation = "private".into();
        private_root.shared = None;
        let after = [
            private_root,
            mount(2, "/tmp", "tmpfs"),
            mount(7, "/tmp", "tmpfs"),
        ];
        let d = diff_mounts(&before, &after);
        let rows: Vec<_> = d
            .rows
            .iter()
            .map(|r| (r.target.as_str(), r.occurrence, r.change))
            .collect();
        assert_eq!(
            rows,
            [
                ("/", 0, Change::Changed),
                ("/tmp", 0, Change::Unchanged),
                ("/tmp", 1, Change::Added),
                ("/old", 0, Change::Removed)
            ]
        );
        assert_eq!(
            d.rows[0].fields,
            [MountField::Propagation, MountField::Shared]
        );
        assert_eq!(d.rows[3].before.as_ref().map(|m| m.id), Some(3));
        assert!(d.rows[3].after.is_none());
    }

    #[test]
    fn every_mount_field_is_compared() {
        let b = mount(1, "/x", "tmpfs");
        let a = MountEntry {
            source: "overlay".into(),
            fstype: "overlay".into(),
            options: "ro".into(),
            propagation: "private,slave".into(),
            shared: None,
            master: Some(1),
            root: "/sub".into(),
            ..b.clone()
        };
        let d = diff_mounts(&[b], &[a]);
        assert_eq!(d.rows[0].fields.len(), 7);
    }

    #[test]
    fn leaked_mounts_are_the_new_rows_of_the_host() {
        let before = [mount(1, "/", "ext4"), mount(2, "/proc", "proc")];
        let after = [
            mount(1, "/", "ext4"),
            mount(2, "/proc", "proc"),
            mount(31, "/tmp", "tmpfs"),
        ];
        let leaked = leaked_mounts(&before, &after);
        assert_eq!(leaked.len(), 1);
        assert_eq!(
            (leaked[0].target.as_str(), leaked[0].fstype.as_str()),
            ("/tmp", "tmpfs")
        );
        assert!(leaked_mounts(&before, &before).is_empty());
    }

    #[test]
    fn view_diff_pairs_trees_by_root() {
        let view = |actor: &str, trees| View {
            actor: actor.into(),
            mounts: vec![mount(1, "/", "ext4")],
            mounts_truncated: false,
            trees,
        };
        let before = view(
            "host",
            vec![tree("/tmp", vec![file("/tmp/a")]), tree("/etc", vec![])],
        );
        let after = view("c1", vec![tree("/tmp", vec![file("/tmp/a")])]);
        let d = diff_views(&before, &after);
        assert_eq!(d.trees.len(), 1);
        assert_eq!(d.trees[0].counts.unchanged, 1);
        assert_eq!(
            (d.before_actor.as_str(), d.after_actor.as_str()),
            ("host", "c1")
        );
        assert_eq!(d.mounts.counts.unchanged, 1);
    }

    #[test]
    fn large_trees_diff_completely() {
        let big: Vec<TreeEntry> = (0..10_000)
            .map(|i| file(&format!("/d{}/f{i:05}", i % 100)))
            .collect();
        let mut changed = big.clone();
        changed.retain(|e| !e.path.ends_with('7'));
        changed.push(file("/zz"));
        let d = diff_trees(&tree("/", big), &tree("/", changed), &[], &[]);
        assert_eq!(d.counts.removed, 1000);
        assert_eq!(d.counts.unchanged, 9000);
        assert_eq!(d.counts.added, 1);
    }
}
