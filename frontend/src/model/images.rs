//! The Images page's view models: a layer's changes and the merged tree as tree rows (drawn by
//! the tree diff component), the `#images/<name>` route, and bytes and shares in words.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

use rootlab_shared::image::LayerEntry;

use rootlab_shared::image::LayerEntryKind;
use rootlab_shared::layerview::{tree_order, LayerRow, LayerView};
use rootlab_shared::result::{FileKind, TreeEntry};

use super::tree::{mark_changes_below, Change, Row};

fn file_kind(kind: LayerEntryKind) -> FileKind {
    match kind {
        LayerEntryKind::Dir => FileKind::Dir,
        LayerEntryKind::Symlink => FileKind::Symlink,
        // What overlayfs makes of a whiteout: a 0:0 character device.
        LayerEntryKind::Whiteout => FileKind::CharDevice,
        LayerEntryKind::File | LayerEntryKind::Hardlink => FileKind::File,
    }
}

fn row(path: &str, kind: LayerEntryKind, size: u64, change: Change) -> Row {
    Row {
        rel: path.to_string(),
        name: path.rsplit('/').next().unwrap_or(path).to_string(),
        depth: path.matches('/').count(),
        left: Some(TreeEntry {
            size,
            ..TreeEntry::new(path, file_kind(kind))
        }),
        right: None,
        change,
        note: String::new(),
        is_dir: kind == LayerEntryKind::Dir,
        changes_below: false,
        below: 0,
    }
}

fn set(row: &mut Row, f: impl FnOnce(&mut TreeEntry)) {
    if let Some(e) = row.left.as_mut() {
        f(e);
    }
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}

/// What layer `layer` changes, as a tree: added, modified (`~`), deleted (struck; a whiteout's
/// own target marked as one), opaque directories marked, unchanged parents to hold them.
pub fn change_rows(layer: &LayerRow) -> Vec<Row> {
    let deleted: HashSet<&str> = layer.deleted.iter().map(|c| c.path.as_str()).collect();
    let opaque: HashSet<&str> = layer.opaque.iter().map(String::as_str).collect();
    let modified: HashSet<&str> = layer.modified.iter().map(|c| c.path.as_str()).collect();
    let mut rows: Vec<Row> = Vec::new();
    let lists = [
        (&layer.added, Change::Added),
        (&layer.modified, Change::Changed),
        (&layer.deleted, Change::Removed),
    ];
    for (list, change) in lists {
        rows.extend(list.iter().map(|c| row(&c.path, c.kind, c.size, change)));
    }
    for r in rows.iter_mut().filter(|r| r.change == Change::Removed) {
        let up = parent(&r.rel);
        // The top of what went: a whiteout, unless an opaque or replaced directory hid it.
        let whiteout = !deleted.contains(up) && !opaque.contains(up) && !modified.contains(up);
        set(r, |e| e.whiteout = whiteout);
    }
    for path in &layer.opaque {
        if let Some(r) = rows.iter_mut().find(|r| &r.rel == path) {
            set(r, |e| e.opaque = true);
        } else {
            let mut r = row(path, LayerEntryKind::Dir, 0, Change::Changed);
            r.note = "opaque: hides what the layers below hold in it".into();
            set(&mut r, |e| e.opaque = true);
            rows.push(r);
        }
    }
    add_parents(&mut rows);
    rows.sort_by(|a, b| tree_order(&a.rel, &b.rel));
    mark_changes_below(&mut rows);
    rows
}

/// Unchanged directories above the changed paths, so the rows make a tree.
fn add_parents(rows: &mut Vec<Row>) {
    let mut have: HashSet<String> = rows.iter().map(|r| r.rel.clone()).collect();
    let mut missing = Vec::new();
    for r in rows.iter() {
        let mut p = parent(&r.rel);
        while !p.is_empty() && have.insert(p.to_string()) {
            missing.push(row(p, LayerEntryKind::Dir, 0, Change::Same));
            p = parent(p);
        }
    }
    rows.extend(missing);
}

/// The final view as a tree: each entry with its source layer, each directory with the number of
/// entries below it.
pub fn merged_rows(view: &LayerView) -> Vec<Row> {
    let mut rows: Vec<Row> = view
        .merged
        .iter()
        .map(|m| {
            let mut r = row(&m.path, m.kind, m.size, Change::Same);
            set(&mut r, |e| {
                e.layer = Some(m.layer.to_string());
                e.link_target = m.target.clone();
            });
            r
        })
        .collect();
    count_below(&mut rows);
    rows
}

/// Sets `below` on every directory (one reverse pass over the depth-first rows).
fn count_below(rows: &mut [Row]) {
    let mut pending: Vec<usize> = Vec::new();
    for row in rows.iter_mut().rev() {
        pending.resize(row.depth + 2, 0);
        row.below = std::mem::take(&mut pending[row.depth + 1]);
        pending[row.depth] += 1 + row.below;
    }
}

/// Where `#images` and `#images/<name>` lead: `Some(None)` the list, `Some(Some(name))` an image.
pub fn route(hash: &str) -> Option<Option<String>> {
    let rest = hash
        .strip_prefix('#')
        .unwrap_or(hash)
        .strip_prefix("images")?;
    match rest.strip_prefix('/') {
        Some(name) if !name.is_empty() => Some(Some(decode(name)?)),
        _ if rest.is_empty() || rest == "/" => Some(None),
        _ => None,
    }
}

/// The fragment of the list (`None`) or of an image; the name encoded as by
/// `encodeURIComponent` (`library/nginx:1` is `library%2Fnginx%3A1`).
pub fn fragment(name: Option<&str>) -> String {
    match name {
        None => "#images".into(),
        Some(name) => {
            let mut out = String::from("#images/");
            for b in name.bytes() {
                if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
                    out.push(b as char);
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            out
        }
    }
}

fn decode(s: &str) -> Option<String> {
    let (mut out, mut bytes) = (Vec::new(), s.bytes());
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// Bytes as people read them: `512 B`, `1.9 MB` (powers of 1024, as `du -h`).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let (mut v, mut unit) = (n as f64 / 1024.0, 0);
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    let digits = if v < 10.0 { 1 } else { 0 };
    format!("{v:.digits$} {}", UNITS[unit])
}

/// `1 layer`, `3 layers`.
pub fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// A build step on one line, cut to `max` characters (the full text goes in a title).
pub fn short_step(step: Option<&str>, max: usize) -> String {
    let step = step.unwrap_or("(no history)");
    let step = step.strip_prefix("/bin/sh -c ").unwrap_or(step);
    let step = step.trim_start_matches("#(nop) ").trim();
    let one_line: String = step.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
#[path = "images_tests.rs"]
mod tests;

thread_local! {
    /// A container's writable layer a result asked to see on top of its image's layers: the
    /// image's name and the layer's entries. The Images page shows it with that image until
    /// another image is picked.
    static UPPER: RefCell<Option<(String, Rc<Vec<LayerEntry>>)>> = const { RefCell::new(None) };
}

/// Show `entries` as the top layer the next time the Images page shows `image`.
pub fn set_upper(image: &str, entries: Vec<LayerEntry>) {
    UPPER.with(|u| *u.borrow_mut() = Some((image.to_string(), Rc::new(entries))));
}

/// The writable layer to put on top of `image`, if a result asked for one; any other image
/// clears it.
pub fn upper_for(image: &str) -> Option<Rc<Vec<LayerEntry>>> {
    UPPER.with(|u| {
        let mut u = u.borrow_mut();
        match u.as_ref() {
            Some((name, entries)) if name == image => Some(entries.clone()),
            _ => {
                *u = None;
                None
            }
        }
    })
}
