//! Mount tables like `findmnt`: rows ordered by parent, options with the sandbox's own set apart.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use rootlab_shared::result::MountEntry;

/// The textbook options, then the sandbox's own after a `+` (`rw,relatime +size=16384k,...`).
pub(super) fn options_cell(m: &MountEntry) -> String {
    match m.added_options.is_empty() {
        true => m.options.clone(),
        false => format!("{} +{}", m.textbook_options(), m.added_options.join(",")),
    }
}

/// Widest OPTIONS cell: overlay options run to hundreds of characters.
const MAX_OPTIONS_CHARS: usize = 64;

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

pub(super) fn mount_row(m: &MountEntry, prefix: String) -> [String; 6] {
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

pub(super) fn short_cell(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{cut}…")
}

/// Rows in depth-first order of the parent relation, each with its tree prefix (`├─`, `└─`).
pub(super) fn ordered_by_parent(mounts: &[MountEntry]) -> Vec<(&MountEntry, String)> {
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

pub(super) fn walk_mounts<'m>(
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
