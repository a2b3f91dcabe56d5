//! What changed between two snapshots: mounts and entries added, removed, changed, hidden, and
//! mounts that leaked from a container to the host.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use rootlab_shared::diff::{self, Change, MountDiff, TreeDiff};
use rootlab_shared::result::{RunResult, Tree, TreeEntry, View};
use rootlab_shared::spec::{Spec, Step, HOST};

use super::Style;

/// Most difference lines shown per comparison; the rest is counted.
const MAX_DIFF_LINES: usize = 40;

/// What changed: each container against the host in this snapshot, and each view against the
/// same actor's view in the previous snapshot that had it.
pub(super) fn differences(
    out: &mut String,
    r: &RunResult,
    i: usize,
    spec: Option<&Spec>,
    style: Style,
) {
    let snap = &r.snapshots[i];
    let host = snap.views.iter().find(|v| v.actor == HOST);
    let mut sections: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
    for view in snap.views.iter().filter(|v| v.actor != HOST) {
        if let Some(host) = host {
            let title = format!(
                "host -> {} (what the container sees differently)",
                view.actor
            );
            let d = diff::diff_views(host, view);
            sections.push((title, diff_lines(&d.mounts, &d.trees, style), vec![]));
        }
    }
    for view in &snap.views {
        for (j, earlier) in earlier_views(r, i, &view.actor) {
            let title = format!("{} since \"{}\"", view.actor, r.snapshots[j].label);
            let from = r.snapshots[j].step;
            let leaks = if view.actor == HOST {
                leaks(earlier, view, from, snap.step, spec)
            } else {
                vec![]
            };
            let d = diff::diff_views(earlier, view);
            sections.push((title, diff_lines(&d.mounts, &d.trees, style), leaks));
        }
    }
    sections.extend(layer_sections(r, i, style));
    if sections.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n  {}", style.bold("Differences"));
    for (title, lines, leaks) in sections {
        let _ = writeln!(out, "  {}", style.bold(&format!("· {title}")));
        if lines.is_empty() && leaks.is_empty() {
            let _ = writeln!(out, "      {}", style.dim("no difference"));
        }
        for line in lines.iter().take(MAX_DIFF_LINES) {
            let _ = writeln!(out, "      {line}");
        }
        if lines.len() > MAX_DIFF_LINES {
            let _ = writeln!(out, "      … and {} more", lines.len() - MAX_DIFF_LINES);
        }
        for leak in leaks {
            let _ = writeln!(out, "    {}", style.red(&leak));
        }
    }
}

/// Each layer's own tree against the same layer in the latest earlier snapshot that recorded it:
/// where copy-ups, whiteouts and opaque directories appear.
pub(super) fn layer_sections(
    r: &RunResult,
    i: usize,
    style: Style,
) -> Vec<(String, Vec<String>, Vec<String>)> {
    let no_mounts = diff::diff_mounts(&[], &[]);
    let mut sections = Vec::new();
    for layer in &r.snapshots[i].layers {
        let earlier = (0..i).rev().find_map(|j| {
            let l = r.snapshots[j]
                .layers
                .iter()
                .find(|l| l.name == layer.name)?;
            Some((j, l))
        });
        let Some((j, before)) = earlier else { continue };
        let d = diff::diff_trees(&before.tree, &layer.tree, &[], &[]);
        let mut lines = diff_lines(&no_mounts, std::slice::from_ref(&d), style);
        annotate_markers(&mut lines, &d, &layer.tree);
        let title = format!("layer {} since \"{}\"", layer.name, r.snapshots[j].label);
        sections.push((title, lines, vec![]));
    }
    sections
}

/// Say what a new whiteout or opaque directory in a layer means.
pub(super) fn annotate_markers(lines: &mut [String], d: &TreeDiff, tree: &Tree) {
    let by_path: HashMap<&str, &TreeEntry> =
        tree.entries.iter().map(|e| (e.path.as_str(), e)).collect();
    let shown = d.entries.iter().filter(|e| e.change != Change::Unchanged);
    for (line, e) in lines.iter_mut().zip(shown) {
        match by_path.get(e.path.as_str()) {
            Some(t) if t.whiteout => line.push_str("  (whiteout: hides the lower layers' file)"),
            Some(t) if t.opaque => {
                line.push_str("  (opaque: lower layers' contents no longer show)")
            }
            _ => {}
        }
    }
}

/// Views of `actor` to compare with: the latest snapshot before `i` that has one, and for the
/// host also the first (the baseline: lesson 3's leak outlives every later snapshot).
pub(super) fn earlier_views<'r>(r: &'r RunResult, i: usize, actor: &str) -> Vec<(usize, &'r View)> {
    let with_view = |j: usize| {
        r.snapshots[j]
            .views
            .iter()
            .find(|v| v.actor == actor)
            .map(|v| (j, v))
    };
    let latest = (0..i).rev().find_map(with_view);
    let first = (0..i).find_map(with_view).filter(|_| actor == HOST);
    let mut out: Vec<(usize, &View)> = first.into_iter().collect();
    if let Some(l) = latest.filter(|l| Some(l.0) != first.map(|f| f.0)) {
        out.push(l);
    }
    out
}

/// Mounts new in the host's table that no host step made between the two snapshots.
pub(super) fn leaks(
    before: &View,
    after: &View,
    from: usize,
    to: usize,
    spec: Option<&Spec>,
) -> Vec<String> {
    let own: HashSet<&str> = spec
        .map(|s| host_mount_targets(&s.steps, from, to))
        .unwrap_or_default();
    diff::leaked_mounts(&before.mounts, &after.mounts)
        .into_iter()
        .filter(|m| !own.contains(m.target.as_str()))
        .map(|m| {
            format!(
                "LEAKED INTO THE HOST: {} on {} type {} ({}) — no host step mounted it: it propagated \
                 from a container through a shared peer group{}",
                m.source,
                m.target,
                m.fstype,
                m.options,
                m.shared.map(|g| format!(" (shared:{g})")).unwrap_or_default()
            )
        })
        .collect()
}

/// Targets the host itself mounted in steps `from..to`.
pub(super) fn host_mount_targets(steps: &[Step], from: usize, to: usize) -> HashSet<&str> {
    steps
        .iter()
        .take(to)
        .skip(from)
        .filter(|s| s.actor() == Some(HOST))
        .filter_map(|s| match s {
            Step::Tmpfs { target, .. }
            | Step::Bind { target, .. }
            | Step::Overlay { target, .. }
            | Step::Proc { target, .. } => Some(target.as_str()),
            Step::PivotRoot { new_root, .. } => Some(new_root.as_str()),
            _ => None,
        })
        .collect()
}

pub(super) fn diff_lines(mounts: &MountDiff, trees: &[TreeDiff], style: Style) -> Vec<String> {
    let mut lines = Vec::new();
    for row in &mounts.rows {
        let m = row.after.as_ref().or(row.before.as_ref());
        let Some(m) = m else { continue };
        let text = format!(
            "mount {} on {} ({}, {})",
            m.fstype, m.target, m.source, m.propagation
        );
        match row.change {
            Change::Added => lines.push(style.green(&format!("+ {text}"))),
            Change::Removed => lines.push(style.red(&format!("- {text}"))),
            Change::Changed => lines.push(style.yellow(&format!("~ {}", changed_mount(row)))),
            Change::Unchanged | Change::Hidden => {}
        }
    }
    for tree in trees {
        for e in &tree.entries {
            match e.change {
                Change::Added => lines.push(style.green(&format!("+ {}", e.path))),
                Change::Removed => lines.push(style.red(&format!("- {}", e.path))),
                Change::Changed => {
                    let fields: Vec<String> = e
                        .fields
                        .iter()
                        .map(|f| format!("{f:?}").to_lowercase())
                        .collect();
                    lines.push(style.yellow(&format!(
                        "~ {} ({} changed)",
                        e.path,
                        fields.join(", ")
                    )));
                }
                Change::Hidden => lines.push(style.yellow(&format!(
                    "◌ {} (hidden under the new mount on {})",
                    e.path,
                    e.hidden_by.as_deref().unwrap_or("?")
                ))),
                Change::Unchanged => {}
            }
        }
    }
    lines
}

pub(super) fn changed_mount(row: &diff::MountRowDiff) -> String {
    let (Some(b), Some(a)) = (&row.before, &row.after) else {
        return row.target.clone();
    };
    let group = |g: Option<u32>| g.map_or("-".to_string(), |g| g.to_string());
    let parts: Vec<String> = row
        .fields
        .iter()
        .map(|f| match f {
            diff::MountField::Source => format!("source {} -> {}", b.source, a.source),
            diff::MountField::Fstype => format!("fstype {} -> {}", b.fstype, a.fstype),
            diff::MountField::Options => format!("options {} -> {}", b.options, a.options),
            diff::MountField::Propagation => {
                format!("propagation {} -> {}", b.propagation, a.propagation)
            }
            diff::MountField::Shared => {
                format!("shared {} -> {}", group(b.shared), group(a.shared))
            }
            diff::MountField::Master => {
                format!("master {} -> {}", group(b.master), group(a.master))
            }
            diff::MountField::Root => format!("root {} -> {}", b.root, a.root),
        })
        .collect();
    format!("mount on {}: {}", row.target, parts.join("; "))
}
