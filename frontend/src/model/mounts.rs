//! Mount tables as findmnt shows them (a tree by parent id), the row-by-row difference between two
//! tables, and the lesson's leak: a mount a container made that shows up in the host's table.

use std::collections::HashMap;

use rootlab_shared::diff::{self as shared_diff, Change as SharedChange};
use rootlab_shared::result::{MountEntry, StepOutcome, StepResult};
use rootlab_shared::spec::{Step, HOST};

use super::tree::Change;

/// One row of a findmnt-like tree.
#[derive(Clone, Debug, PartialEq)]
pub struct MountRow {
    pub entry: MountEntry,
    pub depth: usize,
    pub change: Change,
    /// Set when this mount leaked from a container: the sentence that says so.
    pub leak: Option<String>,
}

/// A mount that a container made and the host's table holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Leak {
    pub target: String,
    pub container: String,
    pub step: usize,
    pub command: String,
}

/// The PROPAGATION column with peer groups as mountinfo writes them: `shared:1`, `slave master:1`,
/// `shared:2 master:1`; plain `private` or `unbindable` otherwise.
pub fn propagation_label(m: &MountEntry) -> String {
    let mut parts = Vec::new();
    if let Some(n) = m.shared {
        parts.push(format!("shared:{n}"));
    }
    if let Some(n) = m.master {
        let slave = if m.shared.is_none() { "slave " } else { "" };
        parts.push(format!("{slave}master:{n}"));
    }
    if parts.is_empty() {
        parts.push(m.propagation.clone());
    }
    parts.join(" ")
}

/// findmnt's SOURCE column: binds of a subdirectory show `source[/root]`.
pub fn source_label(m: &MountEntry) -> String {
    if m.root == "/" || m.root.is_empty() {
        m.source.clone()
    } else {
        format!("{}[{}]", m.source, m.root)
    }
}

/// Depth-first order by parent id, children in mount order: findmnt's tree.
pub fn tree_order(mounts: &[MountEntry]) -> Vec<(usize, usize)> {
    let ids: HashMap<u32, usize> = mounts.iter().enumerate().map(|(i, m)| (m.id, i)).collect();
    let mut children: HashMap<u32, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (i, m) in mounts.iter().enumerate() {
        if m.parent != m.id && ids.contains_key(&m.parent) {
            children.entry(m.parent).or_default().push(i);
        } else {
            roots.push(i);
        }
    }
    let mut out = Vec::with_capacity(mounts.len());
    let mut stack: Vec<(usize, usize)> = roots.into_iter().rev().map(|i| (i, 0)).collect();
    while let Some((i, depth)) = stack.pop() {
        out.push((i, depth));
        if let Some(kids) = children.get(&mounts[i].id) {
            stack.extend(kids.iter().rev().map(|k| (*k, depth + 1)));
        }
    }
    out
}

/// (target, rank among rows with that target): how the shared diff matches rows.
fn keys(mounts: &[MountEntry]) -> Vec<(String, usize)> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    mounts
        .iter()
        .map(|m| {
            let n = seen.entry(&m.target).or_default();
            *n += 1;
            (m.target.clone(), *n - 1)
        })
        .collect()
}

/// The rows of both tables, in findmnt order, marked with the shared crate's table diff: rows only
/// on the left are removed, only on the right added, on both with other options changed.
pub fn diff(left: &[MountEntry], right: &[MountEntry]) -> (Vec<MountRow>, Vec<MountRow>) {
    let diffed = shared_diff::diff_mounts(left, right);
    let change_of: HashMap<(String, usize), Change> = diffed
        .rows
        .iter()
        .map(|r| {
            let change = match r.change {
                SharedChange::Unchanged => Change::Same,
                SharedChange::Changed => Change::Changed,
                SharedChange::Added => Change::Added,
                SharedChange::Removed => Change::Removed,
                SharedChange::Hidden => Change::Hidden,
            };
            ((r.target.clone(), r.occurrence), change)
        })
        .collect();
    (mark(left, &change_of), mark(right, &change_of))
}

/// Like [`diff`], except that a table with no row (a chroot's root sees no mount point) is no
/// evidence that the other table's mounts went away: both are then shown unmarked.
pub fn diff_tables(left: &[MountEntry], right: &[MountEntry]) -> (Vec<MountRow>, Vec<MountRow>) {
    if left.is_empty() || right.is_empty() {
        return (diff(left, left).0, diff(right, right).0);
    }
    diff(left, right)
}

fn mark(table: &[MountEntry], change_of: &HashMap<(String, usize), Change>) -> Vec<MountRow> {
    let keys = keys(table);
    tree_order(table)
        .into_iter()
        .map(|(i, depth)| MountRow {
            entry: table[i].clone(),
            depth,
            change: change_of.get(&keys[i]).copied().unwrap_or(Change::Same),
            leak: None,
        })
        .collect()
}

/// The mounting steps a container performed successfully, with the fstype they create.
pub fn container_mounts<'a>(
    steps: &'a [Step],
    results: &'a [StepResult],
) -> Vec<(&'a str, &'a str, &'a StepResult, Option<&'static str>)> {
    results
        .iter()
        .filter(|r| r.actor != HOST && matches!(r.outcome, StepOutcome::Ok))
        .filter_map(|r| {
            let (target, fstype) = mount_target(steps.get(r.index)?)?;
            Some((target, r.actor.as_str(), r, fstype))
        })
        .collect()
}

fn mount_target(step: &Step) -> Option<(&str, Option<&'static str>)> {
    match step {
        Step::Tmpfs { target, .. } => Some((target, Some("tmpfs"))),
        Step::Overlay { target, .. } => Some((target, Some("overlay"))),
        Step::Proc { target, .. } => Some((target, Some("proc"))),
        Step::Bind { target, .. } => Some((target, None)),
        _ => None,
    }
}

/// The target of a mounting step.
pub fn mount_target_of(step: &Step) -> Option<&str> {
    mount_target(step).map(|(t, _)| t)
}

fn host_mount_targets(steps: &[Step]) -> Vec<&str> {
    steps
        .iter()
        .filter(|s| s.actor() == Some(HOST))
        .filter_map(|s| mount_target(s).map(|(t, _)| t))
        .collect()
}

/// Mounts in a host table that a container made and no host step did: they propagated. With an
/// earlier host table, only mounts the shared crate finds new since then count.
pub fn leaks(
    steps: &[Step],
    results: &[StepResult],
    host_table: &[MountEntry],
    host_before: Option<&[MountEntry]>,
) -> Vec<Leak> {
    let host_targets = host_mount_targets(steps);
    let fresh: Vec<MountEntry> = match host_before {
        Some(before) => shared_diff::leaked_mounts(before, host_table),
        None => host_table.to_vec(),
    };
    let host_table = fresh.as_slice();
    container_mounts(steps, results)
        .into_iter()
        .filter(|(target, ..)| !host_targets.contains(target))
        .filter(|(target, _, _, fstype)| {
            host_table
                .iter()
                .any(|m| m.target == *target && fstype.is_none_or(|f| m.fstype == f))
        })
        .map(|(target, container, r, _)| Leak {
            target: target.to_string(),
            container: container.to_string(),
            step: r.index,
            command: r.command.clone(),
        })
        .collect()
}

/// The sentence that calls a leak out, with the reason the table shows.
pub fn leak_sentence(leak: &Leak, host_table: &[MountEntry]) -> String {
    let root_shared = host_table
        .iter()
        .any(|m| m.target == "/" && m.shared.is_some());
    let why = if root_shared {
        "the host's / is a shared mount, so the container's copy was in the same peer group and the event propagated back; making / private (mount --make-rprivate /) in the container first prevents it"
    } else {
        "it was in a peer group shared with the host"
    };
    format!(
        "Leaked: {} was mounted by container {} (step {}: {}) and now appears in the host's mount table: {}.",
        leak.target,
        leak.container,
        leak.step + 1,
        leak.command,
        why
    )
}

/// Mark the leaked rows of a host table.
pub fn mark_leaks(rows: &mut [MountRow], leaks: &[Leak], host_table: &[MountEntry]) {
    for row in rows.iter_mut() {
        if let Some(leak) = leaks.iter().find(|l| l.target == row.entry.target) {
            row.leak = Some(leak_sentence(leak, host_table));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(id: u32, parent: u32, target: &str, fstype: &str, shared: Option<u32>) -> MountEntry {
        let source = if fstype == "tmpfs" { "none" } else { "lab" };
        MountEntry {
            options: "rw,relatime".into(),
            propagation: if shared.is_some() {
                "shared"
            } else {
                "private"
            }
            .into(),
            shared,
            ..MountEntry::new(id, parent, target, source, fstype)
        }
    }

    fn result(index: usize, op: &str, actor: &str, command: &str) -> StepResult {
        StepResult {
            index,
            op: op.into(),
            actor: actor.into(),
            command: command.into(),
            syscalls: vec![],
            outcome: StepOutcome::Ok,
            output: None,
            details: None,
            snapshot: None,
            duration_us: 1,
        }
    }

    #[test]
    fn findmnt_order_nests_children_under_parents() {
        let table = vec![
            mount(10, 1, "/", "tmpfs", None),
            mount(12, 10, "/tmp", "tmpfs", None),
            mount(11, 10, "/proc", "proc", None),
            mount(13, 12, "/tmp/x", "tmpfs", None),
        ];
        assert_eq!(tree_order(&table), vec![(0, 0), (1, 1), (3, 2), (2, 1)]);
    }

    #[test]
    fn rows_match_across_views_by_target_not_id() {
        let host = vec![
            mount(10, 1, "/", "ext4", Some(1)),
            mount(11, 10, "/old", "tmpfs", None),
        ];
        let container = vec![
            mount(20, 2, "/", "ext4", Some(1)),
            mount(21, 20, "/tmp", "tmpfs", Some(1)),
        ];
        let (l, r) = diff(&host, &container);
        assert_eq!(
            l.iter().map(|r| r.change).collect::<Vec<_>>(),
            vec![Change::Same, Change::Removed]
        );
        assert_eq!(
            r.iter().map(|r| r.change).collect::<Vec<_>>(),
            vec![Change::Same, Change::Added]
        );
        let mut private = container.clone();
        private[0].propagation = "private".into();
        assert_eq!(diff(&host, &private).1[0].change, Change::Changed);
    }

    #[test]
    fn a_container_tmpfs_in_the_host_table_is_a_leak() {
        let steps: Vec<Step> = serde_json::from_str(
            r#"[{"op":"container","name":"c1"},{"op":"tmpfs","in":"c1","target":"/tmp","source":"none"},{"op":"exit","in":"c1"}]"#,
        )
        .unwrap();
        let results = vec![
            result(0, "container", "host", "unshare -m"),
            result(1, "tmpfs", "c1", "mount -t tmpfs none /tmp"),
        ];
        let host = vec![
            mount(10, 1, "/", "ext4", Some(1)),
            mount(30, 10, "/tmp", "tmpfs", Some(2)),
        ];
        let found = leaks(&steps, &results, &host, None);
        assert_eq!(found.len(), 1);
        assert_eq!(
            leaks(&steps, &results, &host, Some(&host[..1])).len(),
            1,
            "new since the first snapshot"
        );
        assert!(
            leaks(&steps, &results, &host, Some(&host)).is_empty(),
            "there before: not this run's leak"
        );
        assert_eq!(found[0].container, "c1");
        let sentence = leak_sentence(&found[0], &host);
        assert!(
            sentence.contains("/tmp") && sentence.contains("shared"),
            "{sentence}"
        );
        assert!(
            leaks(&steps, &results, &host[..1], None).is_empty(),
            "no tmpfs row, no leak"
        );
    }

    #[test]
    fn a_mount_the_host_made_itself_is_not_a_leak() {
        let steps: Vec<Step> = serde_json::from_str(
            r#"[{"op":"container","name":"c1"},{"op":"tmpfs","in":"c1","target":"/tmp"},{"op":"tmpfs","target":"/tmp"}]"#,
        )
        .unwrap();
        let results = vec![
            result(1, "tmpfs", "c1", "mount"),
            result(2, "tmpfs", "host", "mount"),
        ];
        let host = vec![mount(30, 10, "/tmp", "tmpfs", None)];
        assert!(leaks(&steps, &results, &host, None).is_empty());
    }

    #[test]
    fn a_table_a_chroot_cannot_see_is_not_all_removed() {
        let host = vec![
            mount(10, 1, "/", "ext4", None),
            mount(11, 10, "/proc", "proc", None),
        ];
        let (l, r) = diff_tables(&host, &[]);
        assert!(l.iter().all(|row| row.change == Change::Same));
        assert!(r.is_empty());
        assert_eq!(
            diff(&host, &[]).0[0].change,
            Change::Removed,
            "plain diff would say removed"
        );
    }

    #[test]
    fn labels_read_like_findmnt() {
        let mut m = mount(1, 0, "/x", "none", Some(3));
        m.master = Some(1);
        m.root = "/sub".into();
        assert_eq!(propagation_label(&m), "shared:3 master:1");
        m.shared = None;
        assert_eq!(propagation_label(&m), "slave master:1");
        m.master = None;
        assert_eq!(propagation_label(&m), "shared");
        assert_eq!(source_label(&m), "lab[/sub]");
    }
}
