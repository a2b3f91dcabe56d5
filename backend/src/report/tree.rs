//! Trees like `tree`: one line per entry, with its mode, owner, size, layer and marks.

use std::fmt::Write as _;

use rootlab_shared::result::{FileKind, Tree, TreeEntry};

use super::Style;

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
pub(super) fn depth_below(root: &str, path: &str) -> usize {
    let rest = path.strip_prefix(root).unwrap_or(path);
    rest.split('/').filter(|c| !c.is_empty()).count().max(1)
}

/// Whether each entry is the last child of its parent (walking backwards, a shallower entry
/// closes the deeper levels).
pub(super) fn last_flags(depths: &[usize]) -> Vec<bool> {
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

pub(super) fn entry_label(e: &TreeEntry, style: Style) -> String {
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

pub(super) fn short(text: &str, max: usize) -> String {
    let first = text.lines().next().unwrap_or("");
    let cut: String = first.chars().take(max).collect();
    if cut.len() < text.trim_end().len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// `drwxr-xr-x`-style permissions.
pub(super) fn mode_string(kind: FileKind, mode: u32) -> String {
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
