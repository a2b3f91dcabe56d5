//! The human-readable report of a run for the terminal: steps with their outcome and output,
//! each snapshot's trees (like `tree`) and mount tables (like `findmnt`), and what changed.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use rootlab_shared::diff::{self, Change, MountDiff, TreeDiff};
use rootlab_shared::result::{
    CommandOutput, FileKind, MountEntry, RunResult, RunStatus, Snapshot, StepDetails, StepOutcome,
    StepResult, Tree, TreeEntry, View,
};
use rootlab_shared::spec::{Spec, Step, HOST};

/// The textbook options, then the sandbox's own after a `+` (`rw,relatime +size=16384k,...`).
fn options_cell(m: &MountEntry) -> String {
    match m.added_options.is_empty() {
        true => m.options.clone(),
        false => format!("{} +{}", m.textbook_options(), m.added_options.join(",")),
    }
}

/// Widest OPTIONS cell: overlay options run to hundreds of characters.
const MAX_OPTIONS_CHARS: usize = 64;
/// Most difference lines shown per comparison; the rest is counted.
const MAX_DIFF_LINES: usize = 40;

/// ANSI colours, or none (not a terminal, `NO_COLOR`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn bold(self, t: &str) -> String {
        self.paint("1", t)
    }
    fn dim(self, t: &str) -> String {
        self.paint("2", t)
    }
    fn green(self, t: &str) -> String {
        self.paint("32", t)
    }
    fn red(self, t: &str) -> String {
        self.paint("31", t)
    }
    fn yellow(self, t: &str) -> String {
        self.paint("33", t)
    }
    fn cyan(self, t: &str) -> String {
        self.paint("36", t)
    }
}

/// The whole report. `spec` (when known) tells a mount the host made itself from one that leaked.
pub fn render(result: &RunResult, spec: Option<&Spec>, style: Style) -> String {
    let mut out = String::new();
    header(&mut out, result, style);
    let _ = writeln!(out, "\n{}", style.bold("Steps"));
    for step in &result.steps {
        step_block(&mut out, step, style);
    }
    for (i, snap) in result.snapshots.iter().enumerate() {
        snapshot_block(&mut out, result, i, snap, spec, style);
    }
    expectations_block(&mut out, result, style);
    out
}

/// Each expectation of the spec, held or not, with what the kernel did.
fn expectations_block(out: &mut String, r: &RunResult, style: Style) {
    if r.expectations.is_empty() {
        return;
    }
    let held = r.expectations.iter().filter(|g| g.passed).count();
    let title = format!("Expectations: {held} of {} held", r.expectations.len());
    let _ = writeln!(out, "\n{}", style.bold(&title));
    for g in &r.expectations {
        let mark = if g.passed {
            style.green("held")
        } else {
            style.red("FAILED")
        };
        let _ = writeln!(out, "[{}] {mark} {}", g.index, g.expected);
        if !g.passed {
            let _ = writeln!(out, "    but {}", g.actual);
        }
    }
}

fn header(out: &mut String, r: &RunResult, style: Style) {
    let _ = writeln!(out, "{}", style.bold(&format!("== {} ==", r.title)));
    let status = match r.status {
        RunStatus::Completed => style.green("completed"),
        RunStatus::LimitExceeded => style.red("stopped: limit exceeded"),
        RunStatus::Cancelled => style.yellow("cancelled"),
        RunStatus::Failed => style.red("failed"),
    };
    let _ = writeln!(
        out,
        "{status} in {} · kernel {} (shared by every container) · image {} ({} programs)",
        millis(r.duration_us),
        r.kernel_release,
        r.image.name,
        r.image.programs.len()
    );
    if let Some(m) = &r.message {
        let line = match r.status {
            RunStatus::Completed => style.yellow(m),
            _ => style.red(m),
        };
        let _ = writeln!(out, "{line}");
    }
}

fn millis(us: u64) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

fn step_block(out: &mut String, s: &StepResult, style: Style) {
    let what = if s.op == "snapshot" {
        format!(
            "snapshot{}",
            s.snapshot
                .map(|i| format!(" #{}", i + 1))
                .unwrap_or_default()
        )
    } else if s.command.is_empty() {
        s.op.clone()
    } else {
        format!("$ {}", s.command)
    };
    let _ = writeln!(out, "[{}] {:<6} {}", s.index, style.cyan(&s.actor), what);
    let _ = writeln!(
        out,
        "    {}",
        outcome_line(&s.outcome, s.duration_us, style)
    );
    if let Some(o) = &s.output {
        output_box(out, o, style);
    }
    match &s.details {
        Some(StepDetails::BuildRootfs { copied, ldd }) => {
            let _ = writeln!(out, "    copied into the rootfs:");
            for c in copied {
                let _ = writeln!(out, "      {} <- {}  ({})", c.dest, c.source, c.reason);
            }
            ldd.iter().for_each(|o| output_box(out, o, style));
        }
        Some(StepDetails::Escape {
            escaped,
            root_listing,
            trace,
        }) => {
            let verdict = if *escaped {
                style.red("ESCAPED: the actor reached a root other than its own")
            } else {
                style.green("contained: the climb stopped at the actor's own root")
            };
            let _ = writeln!(out, "    {verdict}");
            trace.iter().for_each(|t| {
                let _ = writeln!(out, "      · {t}");
            });
            let _ = writeln!(out, "      ls / afterwards: {}", root_listing.join(" "));
        }
        Some(StepDetails::Started { pid }) => {
            let pid = pid.map_or(String::new(), |p| format!(" as pid {p}"));
            let _ = writeln!(out, "    started in the background{pid}");
        }
        Some(StepDetails::Waited {
            ended,
            still_running,
        }) => {
            ended.iter().for_each(|o| output_box(out, o, style));
            for p in still_running {
                let _ = writeln!(out, "    still running: {}", p.argv.join(" "));
            }
        }
        None => {}
    }
}

fn outcome_line(outcome: &StepOutcome, us: u64, style: Style) -> String {
    match outcome {
        StepOutcome::Ok => format!(
            "{} {}",
            style.green("OK"),
            style.dim(&format!("({})", millis(us)))
        ),
        StepOutcome::Error(e) => {
            let errno = e
                .errno
                .as_deref()
                .map(|n| format!("{n}: "))
                .unwrap_or_default();
            format!(
                "{} {errno}{}\n    {} {}",
                style.red("ERROR"),
                e.message,
                style.dim("why:"),
                e.explanation
            )
        }
        StepOutcome::Skipped { reason } => format!("{} {reason}", style.yellow("SKIPPED")),
    }
}

/// A program's output in a box, stdout then stderr, with how it ended.
fn output_box(out: &mut String, o: &CommandOutput, style: Style) {
    let _ = writeln!(out, "    ┌─ {}", style.dim(&o.argv.join(" ")));
    for line in o.stdout.lines() {
        let _ = writeln!(out, "    │ {line}");
    }
    for line in o.stderr.lines() {
        let _ = writeln!(out, "    │ {}", style.red(line));
    }
    let end = match (&o.exit_code, &o.signal) {
        (_, Some(sig)) => style.red(&format!("killed by {sig}")),
        (Some(0), _) => style.green("exit 0"),
        (Some(c), _) => style.red(&format!("exit {c}")),
        (None, None) => "did not run".to_string(),
    };
    let trunc = if o.truncated {
        " (output truncated)"
    } else {
        ""
    };
    let _ = writeln!(out, "    └─ {end}{trunc}");
}

fn snapshot_block(
    out: &mut String,
    r: &RunResult,
    i: usize,
    snap: &Snapshot,
    spec: Option<&Spec>,
    style: Style,
) {
    let title = format!(
        "Snapshot #{} \"{}\" (after step {})",
        i + 1,
        snap.label,
        snap.step
    );
    let _ = writeln!(out, "\n{}", style.bold(&title));
    for view in &snap.views {
        view_block(out, view, style);
    }
    for layer in &snap.layers {
        let _ = writeln!(out, "\n  layer {} (as stored)", style.cyan(&layer.name));
        tree_block(out, &layer.tree, style);
    }
    differences(out, r, i, spec, style);
}

fn view_block(out: &mut String, view: &View, style: Style) {
    let _ = writeln!(out, "\n  view {}", style.cyan(&view.actor));
    if view.mounts.is_empty() {
        let _ = writeln!(
            out,
            "  mount table: {}",
            style.dim("(no mount is visible from this root)")
        );
    } else {
        let _ = writeln!(out, "  mount table:");
        out.push_str(&mount_table(&view.mounts, "    "));
    }
    for tree in &view.trees {
        tree_block(out, tree, style);
    }
}

/// A `tree`-like drawing of one walk.
pub fn tree_block(out: &mut String, tree: &Tree, style: Style) {
    let root = if tree.root.is_empty() {
        "."
    } else {
        &tree.root
    };
    let _ = writeln!(out, "  {}", style.bold(root));
    if let Some(e) = &tree.error {
        let _ = writeln!(out, "    {}", style.red(e));
        return;
    }
    if tree.entries.is_empty() {
        let _ = writeln!(out, "  {}", style.dim("(empty)"));
    }
    let depths: Vec<usize> = tree
        .entries
        .iter()
        .map(|e| depth_below(&tree.root, &e.path))
        .collect();
    let last = last_flags(&depths);
    let mut open: Vec<bool> = Vec::new();
    for ((entry, depth), is_last) in tree.entries.iter().zip(&depths).zip(&last) {
        open.truncate(depth.saturating_sub(1));
        let indent: String = open
            .iter()
            .map(|o| if *o { "│   " } else { "    " })
            .collect();
        let branch = if *is_last { "└── " } else { "├── " };
        let _ = writeln!(out, "  {indent}{branch}{}", entry_label(entry, style));
        open.push(!is_last);
    }
    if tree.truncated {
        let _ = writeln!(
            out,
            "  {}",
            style.dim("… (truncated: entry or depth limit)")
        );
    }
}

/// 1 for a direct child of `root`, 2 for a grandchild...
fn depth_below(root: &str, path: &str) -> usize {
    let rest = path.strip_prefix(root).unwrap_or(path);
    rest.split('/').filter(|c| !c.is_empty()).count().max(1)
}

/// Whether each entry is the last child of its parent (walking backwards, a shallower entry
/// closes the deeper levels).
fn last_flags(depths: &[usize]) -> Vec<bool> {
    let mut later_sibling: Vec<bool> = Vec::new();
    let mut last = vec![false; depths.len()];
    for (i, &d) in depths.iter().enumerate().rev() {
        if later_sibling.len() <= d {
            later_sibling.resize(d + 1, false);
        }
        last[i] = !later_sibling[d];
        later_sibling[d] = true;
        later_sibling.truncate(d + 1);
    }
    last
}

fn entry_label(e: &TreeEntry, style: Style) -> String {
    let name = e.path.rsplit('/').next().unwrap_or(&e.path);
    let mut label = match e.kind {
        FileKind::Dir => style.bold(&format!("{name}/")),
        FileKind::Symlink => format!("{name} -> {}", e.link_target.as_deref().unwrap_or("?")),
        _ => name.to_string(),
    };
    let mut notes = vec![format!("{} {}", mode_string(e.kind, e.mode), e.owner)];
    if e.kind == FileKind::File {
        notes.push(format!("{} B", e.size));
    }
    if let Some(layer) = &e.layer {
        notes.push(format!("from {layer}"));
    }
    for (flag, text) in [
        (e.whiteout, "whiteout"),
        (e.opaque, "opaque"),
        (e.mount_point, "mount point"),
    ] {
        if flag {
            notes.push(text.to_string());
        }
    }
    let _ = write!(label, "  {}", style.dim(&format!("[{}]", notes.join(", "))));
    if let Some(p) = e.preview.as_deref().filter(|p| !p.is_empty()) {
        let _ = write!(label, " {}", style.dim(&format!("{:?}", short(p, 40))));
    }
    label
}

fn short(text: &str, max: usize) -> String {
    let first = text.lines().next().unwrap_or("");
    let cut: String = first.chars().take(max).collect();
    if cut.len() < text.trim_end().len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// `drwxr-xr-x`-style permissions.
fn mode_string(kind: FileKind, mode: u32) -> String {
    let t = match kind {
        FileKind::Dir => 'd',
        FileKind::Symlink => 'l',
        FileKind::CharDevice => 'c',
        FileKind::BlockDevice => 'b',
        FileKind::Fifo => 'p',
        FileKind::Socket => 's',
        FileKind::File => '-',
    };
    let bits = "rwxrwxrwx";
    let perms: String = bits
        .chars()
        .enumerate()
        .map(|(i, c)| if mode & (1 << (8 - i)) != 0 { c } else { '-' })
        .collect();
    format!("{t}{perms}")
}

/// A findmnt-like table, targets indented by parent mount.
pub fn mount_table(mounts: &[MountEntry], indent: &str) -> String {
    let rows: Vec<[String; 6]> = ordered_by_parent(mounts)
        .into_iter()
        .map(|(m, prefix)| mount_row(m, prefix))
        .collect();
    let header = [
        "TARGET",
        "SOURCE",
        "FSTYPE",
        "OPTIONS",
        "PROPAGATION",
        "PEERS",
    ]
    .map(String::from);
    let widths: Vec<usize> = (0..6)
        .map(|c| {
            rows.iter()
                .chain([&header])
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in [&header].into_iter().chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{indent}{}", cells.join(" ").trim_end());
    }
    out
}

fn mount_row(m: &MountEntry, prefix: String) -> [String; 6] {
    let source = if m.root == "/" {
        m.source.clone()
    } else {
        format!("{}[{}]", m.source, m.root)
    };
    let peers: Vec<String> = [("shared", m.shared), ("master", m.master)]
        .into_iter()
        .filter_map(|(tag, g)| g.map(|g| format!("{tag}:{g}")))
        .collect();
    [
        format!("{prefix}{}", m.target),
        source,
        m.fstype.clone(),
        short_cell(&options_cell(m), MAX_OPTIONS_CHARS),
        m.propagation.clone(),
        peers.join(" "),
    ]
}

fn short_cell(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{cut}…")
}

/// Rows in depth-first order of the parent relation, each with its tree prefix (`├─`, `└─`).
fn ordered_by_parent(mounts: &[MountEntry]) -> Vec<(&MountEntry, String)> {
    let ids: HashSet<u32> = mounts.iter().map(|m| m.id).collect();
    let mut children: HashMap<u32, Vec<&MountEntry>> = HashMap::new();
    for m in mounts
        .iter()
        .filter(|m| ids.contains(&m.parent) && m.parent != m.id)
    {
        children.entry(m.parent).or_default().push(m);
    }
    let mut out = Vec::with_capacity(mounts.len());
    let roots = mounts
        .iter()
        .filter(|m| !ids.contains(&m.parent) || m.parent == m.id);
    for root in roots {
        walk_mounts(root, "", None, &children, &mut out);
    }
    out
}

fn walk_mounts<'m>(
    m: &'m MountEntry,
    indent: &str,
    last: Option<bool>,
    children: &HashMap<u32, Vec<&'m MountEntry>>,
    out: &mut Vec<(&'m MountEntry, String)>,
) {
    // Mount loops are impossible in the kernel, but input is data: cap the depth anyway.
    if out.len() > 10_000 || indent.len() > 400 {
        return;
    }
    let branch = match last {
        None => "",
        Some(true) => "└─",
        Some(false) => "├─",
    };
    out.push((m, format!("{indent}{branch}")));
    let kids = children.get(&m.id).map(Vec::as_slice).unwrap_or(&[]);
    let next_indent = match last {
        None => String::new(),
        Some(true) => format!("{indent}  "),
        Some(false) => format!("{indent}│ "),
    };
    for (i, kid) in kids.iter().enumerate() {
        walk_mounts(kid, &next_indent, Some(i + 1 == kids.len()), children, out);
    }
}

/// What changed: each container against the host in this snapshot, and each view against the
/// same actor's view in the previous snapshot that had it.
fn differences(out: &mut String, r: &RunResult, i: usize, spec: Option<&Spec>, style: Style) {
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
fn layer_sections(
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
fn annotate_markers(lines: &mut [String], d: &TreeDiff, tree: &Tree) {
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
fn earlier_views<'r>(r: &'r RunResult, i: usize, actor: &str) -> Vec<(usize, &'r View)> {
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
fn leaks(before: &View, after: &View, from: usize, to: usize, spec: Option<&Spec>) -> Vec<String> {
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
fn host_mount_targets(steps: &[Step], from: usize, to: usize) -> HashSet<&str> {
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

fn diff_lines(mounts: &MountDiff, trees: &[TreeDiff], style: Style) -> Vec<String> {
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

fn changed_mount(row: &diff::MountRowDiff) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use rootlab_shared::result::{ImageInfo, LimitsReport, StepError};
    use rootlab_shared::Limits;

    fn mount(id: u32, parent: u32, target: &str, fstype: &str, shared: Option<u32>) -> MountEntry {
        let source = if fstype == "tmpfs" { "none" } else { "overlay" };
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

    fn entry(path: &str, kind: FileKind) -> TreeEntry {
        TreeEntry {
            size: 3,
            mode: if kind == FileKind::Dir { 0o700 } else { 0o644 },
            ..TreeEntry::new(path, kind)
        }
    }

    fn view(actor: &str, mounts: Vec<MountEntry>, entries: Vec<TreeEntry>) -> View {
        View {
            actor: actor.into(),
            mounts,
            mounts_truncated: false,
            trees: vec![Tree {
                root: "/tmp".into(),
                error: None,
                entries,
                truncated: false,
            }],
        }
    }

    fn seed_tmp() -> Vec<TreeEntry> {
        vec![
            entry("/tmp/kubectl-edit-fplln.yaml", FileKind::File),
            entry(
                "/tmp/systemd-private-0ea8-chronyd.service-g7wBf0",
                FileKind::Dir,
            ),
            entry(
                "/tmp/systemd-private-0ea8-chronyd.service-g7wBf0/tmp",
                FileKind::Dir,
            ),
            entry("/tmp/tmp.3eJpxKKBQM", FileKind::File),
        ]
    }

    /// The leak lesson as the engine reports it: host before, then host after the container exited.
    fn leak_fixture() -> (RunResult, Spec) {
        let root = mount(20, 1, "/", "overlay", Some(1));
        let proc_ = mount(21, 20, "/proc", "proc", None);
        let tmpfs = mount(35, 20, "/tmp", "tmpfs", Some(2));
        let before = view(HOST, vec![root.clone(), proc_.clone()], seed_tmp());
        let after = view(HOST, vec![root, proc_, tmpfs], vec![]);
        let snapshot = |label: &str, step, v: View| Snapshot {
            label: label.into(),
            step,
            views: vec![v],
            layers: vec![],
        };
        let ok = |index, op: &str, actor: &str, command: &str| StepResult {
            index,
            op: op.into(),
            actor: actor.into(),
            command: command.into(),
            syscalls: vec![],
            outcome: StepOutcome::Ok,
            output: None,
            details: None,
            snapshot: None,
            duration_us: 120,
        };
        let mut run = ok(3, "run", HOST, "ls /nowhere");
        run.outcome = StepOutcome::Error(StepError {
            errno: None,
            code: Some(2),
            message: "ls exited with status 2".into(),
            explanation: "the program reported an error".into(),
        });
        run.output = Some(CommandOutput {
            argv: vec!["ls".into(), "/nowhere".into()],
            stdout: String::new(),
            stderr: "ls: cannot access '/nowhere': No such file or directory\n".into(),
            exit_code: Some(2),
            signal: None,
            truncated: false,
        });
        let result = RunResult {
            version: 1,
            title: "leak".into(),
            status: RunStatus::Completed,
            message: None,
            kernel_release: "6.18.0".into(),
            image: ImageInfo {
                name: "tools".into(),
                programs: vec!["ls".into()],
            },
            limits: LimitsReport {
                limits: Limits::default(),
                enforcement: vec![],
            },
            steps: vec![
                ok(0, "snapshot", "engine", ""),
                ok(1, "container", HOST, "unshare --mount"),
                ok(2, "tmpfs", "c1", "mount -t tmpfs none /tmp"),
                run,
            ],
            snapshots: vec![
                snapshot("host before", 0, before),
                snapshot("host after exit", 4, after),
            ],
            expectations: vec![],
            duration_us: 4200,
        };
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "steps": [
                {"op": "snapshot", "label": "host before"},
                {"op": "container", "name": "c1"},
                {"op": "tmpfs", "in": "c1", "target": "/tmp"},
                {"op": "run", "argv": ["ls", "/nowhere"]},
                {"op": "snapshot", "label": "host after exit"}
            ]
        }))
        .unwrap();
        (result, spec)
    }

    #[test]
    fn background_steps_show_their_pid_and_each_waited_output() {
        let (mut r, _) = leak_fixture();
        r.steps[2].details = Some(StepDetails::Started { pid: Some(4) });
        let printed = |argv: &str, out: &str| CommandOutput {
            argv: vec![argv.into()],
            stdout: out.into(),
            ..CommandOutput::default()
        };
        r.steps[3].output = None;
        r.steps[3].details = Some(StepDetails::Waited {
            ended: vec![printed("first", "one\n"), printed("second", "two\n")],
            still_running: vec![rootlab_shared::result::Running {
                argv: vec!["sleep".into(), "9".into()],
                pid: Some(5),
            }],
        });
        r.message = Some("the background program `sleep 9` of host was still running".into());
        let text = render(&r, None, Style { color: false });
        assert!(
            text.contains("started in the background as pid 4"),
            "{text}"
        );
        let (one, two) = (text.find("one").unwrap(), text.find("two").unwrap());
        assert!(one < two, "{text}");
        assert!(text.contains("still running: sleep 9"), "{text}");
        assert!(text.contains("of host was still running"), "{text}");
    }

    fn plain_report() -> String {
        let (r, spec) = leak_fixture();
        render(&r, Some(&spec), Style { color: false })
    }

    #[test]
    fn steps_show_command_outcome_and_output_box() {
        let text = plain_report();
        assert!(
            text.contains("[2] c1     $ mount -t tmpfs none /tmp\n    OK"),
            "{text}"
        );
        assert!(
            text.contains("ERROR ls exited with status 2\n    why: the program reported an error"),
            "{text}"
        );
        assert!(
            text.contains("    ┌─ ls /nowhere\n    │ ls: cannot access"),
            "{text}"
        );
        assert!(text.contains("    └─ exit 2"), "{text}");
    }

    #[test]
    fn trees_are_drawn_like_tree() {
        let text = plain_report();
        let expected = "  /tmp
  ├── kubectl-edit-fplln.yaml  [-rw-r--r-- root, 3 B]
  ├── systemd-private-0ea8-chronyd.service-g7wBf0/  [drwx------ root]
  │   └── tmp/  [drwx------ root]
  └── tmp.3eJpxKKBQM  [-rw-r--r-- root, 3 B]
";
        assert!(text.contains(expected), "{text}");
    }

    #[test]
    fn mount_tables_are_indented_by_parent_like_findmnt() {
        let (r, _) = leak_fixture();
        let table = mount_table(&r.snapshots[1].views[0].mounts, "");
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            [
                "TARGET",
                "SOURCE",
                "FSTYPE",
                "OPTIONS",
                "PROPAGATION",
                "PEERS"
            ]
        );
        assert!(
            lines[1].starts_with("/ ") && lines[1].ends_with("shared:1"),
            "{table}"
        );
        assert!(lines[2].starts_with("├─/proc "), "{table}");
        assert!(
            lines[3].starts_with("└─/tmp ") && lines[3].contains("tmpfs"),
            "{table}"
        );
    }

    #[test]
    fn the_leak_is_called_out_and_hidden_files_explained() {
        let text = plain_report();
        assert!(text.contains("host since \"host before\""), "{text}");
        assert!(
            text.contains("+ mount tmpfs on /tmp (none, shared)"),
            "{text}"
        );
        assert!(
            text.contains("◌ /tmp/kubectl-edit-fplln.yaml (hidden under the new mount on /tmp)"),
            "{text}"
        );
        assert!(
            text.contains("LEAKED INTO THE HOST: none on /tmp type tmpfs"),
            "{text}"
        );
    }

    #[test]
    fn a_mount_the_host_made_itself_is_not_a_leak() {
        let (r, mut spec) = leak_fixture();
        spec.steps[2] = serde_json::from_str(r#"{"op": "tmpfs", "target": "/tmp"}"#).unwrap();
        let text = render(&r, Some(&spec), Style { color: false });
        assert!(!text.contains("LEAKED"), "{text}");
        assert!(text.contains("+ mount tmpfs on /tmp"), "{text}");
    }

    #[test]
    fn colour_only_when_asked() {
        let (r, spec) = leak_fixture();
        assert!(!plain_report().contains('\x1b'));
        assert!(render(&r, Some(&spec), Style { color: true }).contains("\x1b[32mOK\x1b[0m"));
    }

    #[test]
    fn last_child_flags() {
        assert_eq!(
            last_flags(&[1, 2, 2, 1, 2]),
            [false, false, true, true, true]
        );
        assert_eq!(last_flags(&[1, 1, 1]), [false, false, true]);
        assert_eq!(mode_string(FileKind::Dir, 0o1777), "drwxrwxrwx");
        assert_eq!(mode_string(FileKind::File, 0o640), "-rw-r-----");
    }

    #[test]
    fn layer_changes_name_whiteouts_and_opaque_dirs() {
        use rootlab_shared::result::LayerTree;
        let (mut r, _) = leak_fixture();
        let layer = |entries| LayerTree {
            name: "container".into(),
            tree: Tree {
                root: String::new(),
                error: None,
                entries,
                truncated: false,
            },
        };
        let mut wh = entry("etc/os-release", FileKind::CharDevice);
        wh.whiteout = true;
        let mut doc = entry("usr/doc", FileKind::Dir);
        doc.opaque = true;
        r.snapshots[0].layers = vec![layer(vec![])];
        r.snapshots[1].layers = vec![layer(vec![
            entry("etc", FileKind::Dir),
            wh,
            entry("usr", FileKind::Dir),
            doc,
        ])];
        let text = render(&r, None, Style { color: false });
        assert!(
            text.contains("· layer container since \"host before\""),
            "{text}"
        );
        assert!(
            text.contains("+ etc/os-release  (whiteout: hides the lower layers' file)"),
            "{text}"
        );
        assert!(
            text.contains("+ usr/doc  (opaque: lower layers' contents no longer show)"),
            "{text}"
        );
        assert!(text.contains("  .\n  ├── etc/"), "{text}");
    }
}
