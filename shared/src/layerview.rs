//! The layer view of an image, dive-style: what each layer added, modified and deleted under the
//! overlayfs/OCI rules, the merged tree with each path's source layer, and the bytes the layers
//! ship that the final view never shows (wasted bytes, efficiency).
//!
//! The rules, as the OCI image spec's "Representing Changes" and overlayfs apply them, each to the
//! layers *below* the one that carries it (never to entries of the same layer):
//! - a whiteout at `d` hides `d` and everything below it;
//! - an opaque directory `d` hides everything below `d` but keeps `d`;
//! - a non-directory at `d` over a directory hides the lower subtree (a directory over a file
//!   simply replaces it: a file has nothing below it).
//!
//! One pass per layer over a `BTreeMap` of the view so far: each hidden subtree is one range of
//! the sorted keys (`d/` up to `d0`, `0` being the byte after `/`), so the work is
//! O(n log n) in the entries, never a scan per whiteout.

use std::cmp::Ordering;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use crate::image::{LayerEntry, LayerEntryKind, LayerInfo};

/// An image's layers as the layer view shows them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LayerView {
    /// Bottom (the base) first; a container's writable layer, when shown, last.
    pub layers: Vec<LayerRow>,
    /// Every path visible in the final view, in [`tree_order`].
    pub merged: Vec<MergedEntry>,
    /// Bytes of regular files across all layers, each copy counted: what the layers ship.
    pub total_bytes: u64,
    /// Bytes of the shipped files the final view does not show: copies a later layer replaced,
    /// files a whiteout deleted, files an opaque directory hid.
    pub wasted_bytes: u64,
    /// The files behind `wasted_bytes`, most wasted bytes first (then by path).
    pub wasted: Vec<WastedFile>,
    /// The share of the shipped bytes that the final view shows: `1 - wasted_bytes /
    /// total_bytes`, and `1` when no layer ships a byte.
    ///
    /// dive (`filetree/efficiency.go`) computes `Σ min / Σ all` over the sizes each leaf path
    /// is seen with across the layers, a whiteout counting 0 for a file and the lower subtree's
    /// bytes for a directory. The two agree on a path shipped again at the same or a smaller
    /// size, and on a deleted file (0 for its bytes in both). They differ where dive keeps bytes
    /// nobody sees: a small file replaced by a bigger one counts the small copy as the needed one
    /// in dive, the big one here (the one the image shows); a deleted directory is one copy of
    /// its subtree's bytes in dive, neither wasted nor penalised, while here every file it hid
    /// is wasted; dive ignores opaque directories, whose hidden files are wasted here. dive's
    /// "wasted space" also sums every copy of a path seen twice, the visible one too; here only
    /// the invisible copies count.
    pub efficiency: f64,
}

/// One layer: its build step, its size and what it changes in the view of the layers below.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LayerRow {
    /// Position from the bottom, 0 for the base.
    pub index: usize,
    /// The build step that made it, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Bytes of its regular files.
    pub size: u64,
    /// Entries of its tar (the store's count: whiteouts and opaque markers included).
    pub entries: usize,
    /// Bytes of its files that the final view does not show.
    pub wasted_bytes: u64,
    /// The container's writable layer (overlayfs `upperdir`), not one of the image's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub upper: bool,
    /// Paths it ships that no layer below has (directories included), in [`tree_order`].
    pub added: Vec<ChangedPath>,
    /// Paths it ships that a layer below has: every non-directory (the layer re-ships it, so the
    /// lower copy is replaced whatever its content), and directories whose kind or mode changes.
    pub modified: Vec<ChangedPath>,
    /// Paths of the layers below it hides: whiteouts' targets and their subtrees, the contents
    /// of its opaque directories, the subtrees of directories it replaces by a non-directory
    /// (with the kind and size they had). A whiteout over nothing is listed as a `whiteout`.
    pub deleted: Vec<ChangedPath>,
    /// Its opaque directories.
    pub opaque: Vec<String>,
}

/// A path a layer adds, modifies or deletes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangedPath {
    pub path: String,
    pub kind: LayerEntryKind,
    /// Bytes, for a regular file.
    pub size: u64,
}

/// A path of the final view and the layer it comes from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MergedEntry {
    pub path: String,
    /// The index of the topmost layer that ships it (a directory's attributes come from it).
    pub layer: usize,
    pub kind: LayerEntryKind,
    pub size: u64,
    /// A symlink's or hard link's target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A path whose shipped bytes the final view does not all show.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WastedFile {
    pub path: String,
    /// How many layers ship a regular file at the path (the visible copy included).
    pub copies: usize,
    /// Bytes of the copies not visible.
    pub bytes: u64,
}

/// Depth-first order of `/`-separated paths: a directory, then everything below it, then its
/// next sibling (`a`, `a/b`, `a-c`; plain byte order would put `a-c` before `a/b`).
pub fn tree_order(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let same = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    // Past the common prefix only the next byte decides: `/` sorts before any other byte, and
    // the end of a path before anything.
    let next = |s: &[u8]| s.get(same).map(|&c| if c == b'/' { 0 } else { c });
    next(a).cmp(&next(b))
}

/// The layer view of `layers` (bottom first), with an optional container's writable layer
/// `upper` on top.
pub fn layer_view(
    layers: &[(LayerInfo, Vec<LayerEntry>)],
    upper: Option<&[LayerEntry]>,
) -> LayerView {
    let mut stack: Vec<(&[LayerEntry], Option<&LayerInfo>)> = layers
        .iter()
        .map(|(info, e)| (e.as_slice(), Some(info)))
        .collect();
    if let Some(upper) = upper {
        stack.push((upper, None));
    }
    let mut view: View = BTreeMap::new();
    let mut rows: Vec<LayerRow> = stack
        .iter()
        .enumerate()
        .map(|(index, (entries, info))| layer_row(&mut view, index, entries, *info))
        .collect();
    let wasted = wasted_files(&stack, &view);
    let visible = visible_bytes(&view, rows.len());
    for (row, visible) in rows.iter_mut().zip(visible) {
        row.wasted_bytes = row.size.saturating_sub(visible);
    }
    let total_bytes: u64 = rows.iter().map(|r| r.size).sum();
    let wasted_bytes: u64 = wasted.iter().map(|w| w.bytes).sum();
    LayerView {
        layers: rows,
        merged: merged(&view),
        total_bytes,
        wasted_bytes,
        wasted,
        efficiency: efficiency(total_bytes, wasted_bytes),
    }
}

fn efficiency(total: u64, wasted: u64) -> f64 {
    if total == 0 {
        1.0
    } else {
        1.0 - wasted as f64 / total as f64
    }
}

/// What the view holds at a path: borrowed from the layers' entries, so the view allocates no
/// path strings.
#[derive(Clone, Copy, Debug)]
struct Node<'a> {
    layer: usize,
    kind: LayerEntryKind,
    size: u64,
    mode: u32,
    target: Option<&'a str>,
}

type View<'a> = BTreeMap<&'a str, Node<'a>>;

/// What a layer hides of the layers below, by path.
type Hidden<'a> = BTreeMap<&'a str, Node<'a>>;

/// A tar's path as a key: no `./` or `/` in front, no `/` behind (`./etc/` is `etc`).
fn clean(path: &str) -> &str {
    let mut p = path;
    while let Some(rest) = p.strip_prefix("./").or_else(|| p.strip_prefix('/')) {
        p = rest;
    }
    match p.trim_end_matches('/') {
        "." => "",
        p => p,
    }
}

fn node<'a>(layer: usize, e: &'a LayerEntry) -> Node<'a> {
    Node {
        layer,
        kind: e.kind,
        size: if e.kind == LayerEntryKind::File {
            e.size
        } else {
            0
        },
        mode: e.mode,
        target: e.target.as_deref(),
    }
}

fn file_bytes(entries: &[LayerEntry]) -> u64 {
    entries
        .iter()
        .filter(|e| e.kind == LayerEntryKind::File)
        .map(|e| e.size)
        .sum()
}

/// Applies one layer to the view and says what it changed.
fn layer_row<'a>(
    view: &mut View<'a>,
    index: usize,
    entries: &'a [LayerEntry],
    info: Option<&LayerInfo>,
) -> LayerRow {
    let mut row = LayerRow {
        index,
        created_by: info.and_then(|i| i.created_by.clone()),
        size: file_bytes(entries),
        entries: info.map_or(entries.len(), |i| i.entries),
        wasted_bytes: 0,
        upper: info.is_none(),
        added: Vec::new(),
        modified: Vec::new(),
        deleted: Vec::new(),
        opaque: Vec::new(),
    };
    let own = Own::new(entries);
    let hidden = hide(view, entries);
    let mut parents = BTreeSet::new();
    for &(p, i) in &own.0 {
        let e = &entries[i];
        ensure_parents(view, &own, &hidden, p, index, &mut parents, &mut row);
        let new = node(index, e);
        let below = match view.entry(p) {
            Entry::Occupied(mut o) => Some(std::mem::replace(o.get_mut(), new)),
            Entry::Vacant(v) => {
                v.insert(new);
                hidden.get(p).copied()
            }
        };
        classify(&mut row, p, below, new);
        if e.opaque && e.kind == LayerEntryKind::Dir {
            row.opaque.push(p.to_string());
        }
    }
    for (p, n) in &hidden {
        if own.get(p).is_none() && !parents.contains(p) {
            row.deleted.push(changed(p, n));
        }
    }
    whiteouts_over_nothing(&mut row, entries, &hidden, &own);
    for list in [&mut row.added, &mut row.modified, &mut row.deleted] {
        list.sort_by(|a, b| tree_order(&a.path, &b.path));
    }
    row.opaque.sort_by(|a, b| tree_order(a, b));
    row
}

/// A layer's own paths (whiteouts aside), sorted, each with the index of its last entry: the
/// one a tar's extraction leaves.
struct Own<'a>(Vec<(&'a str, usize)>);

impl<'a> Own<'a> {
    fn new(entries: &'a [LayerEntry]) -> Self {
        let mut paths: Vec<(&str, usize)> = entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.kind != LayerEntryKind::Whiteout)
            .map(|(i, e)| (clean(&e.path), i))
            .filter(|(p, _)| !p.is_empty())
            .collect();
        paths.sort_unstable_by(|a, b| a.0.cmp(b.0).then(b.1.cmp(&a.1)));
        paths.dedup_by(|later, kept| later.0 == kept.0);
        Own(paths)
    }

    fn get(&self, path: &str) -> Option<usize> {
        let found = self.0.binary_search_by(|(p, _)| (*p).cmp(path));
        found.ok().map(|i| self.0[i].1)
    }
}

/// Takes out of the view what the layer's whiteouts, opaque directories and directory
/// replacements hide from the layers below; returns it by path.
fn hide<'a>(view: &mut View<'a>, entries: &'a [LayerEntry]) -> Hidden<'a> {
    let mut hidden = BTreeMap::new();
    if view.is_empty() {
        return hidden;
    }
    for e in entries {
        let p = clean(&e.path);
        if p.is_empty() {
            continue;
        }
        // The view holds every parent of what it holds: only a directory has anything below.
        let dir_below = match e.kind {
            LayerEntryKind::Whiteout => view.remove(p).map(|n| {
                hidden.insert(p, n);
                n.kind == LayerEntryKind::Dir
            }),
            LayerEntryKind::Dir => Some(e.opaque),
            _ => view.get(p).map(|n| n.kind == LayerEntryKind::Dir),
        };
        if dir_below == Some(true) {
            take_below(view, p, &mut hidden);
        }
    }
    hidden
}

/// Moves every path strictly below `dir` from the view to `hidden`.
fn take_below<'a>(view: &mut View<'a>, dir: &str, hidden: &mut Hidden<'a>) {
    let (from, to) = (format!("{dir}/"), format!("{dir}0"));
    let range = (Bound::Included(from.as_str()), Bound::Excluded(to.as_str()));
    let keys: Vec<&'a str> = view.range::<str, _>(range).map(|(k, _)| *k).collect();
    for k in keys {
        if let Some(n) = view.remove(k) {
            hidden.insert(k, n);
        }
    }
}

/// A tar may list `a/b/c` without `a/b`: extracting it makes the directories, and replaces a
/// non-directory standing in their way.
fn ensure_parents<'a>(
    view: &mut View<'a>,
    own: &Own,
    hidden: &Hidden<'a>,
    path: &'a str,
    index: usize,
    done: &mut BTreeSet<&'a str>,
    row: &mut LayerRow,
) {
    let mut p = path;
    while let Some((parent, _)) = p.rsplit_once('/') {
        if own.get(parent).is_some() || !done.insert(parent) {
            return;
        }
        let below = view.get(parent).or_else(|| hidden.get(parent)).copied();
        if let Some(dir) = below.filter(|n| n.kind == LayerEntryKind::Dir) {
            view.entry(parent).or_insert(dir);
            return;
        }
        let dir = Node {
            layer: index,
            kind: LayerEntryKind::Dir,
            size: 0,
            mode: 0o755,
            target: None,
        };
        classify(row, parent, below, dir);
        view.insert(parent, dir);
        p = parent;
    }
}

/// Files as `modified` over anything, directories only over a non-directory or with a new mode.
fn classify(row: &mut LayerRow, path: &str, below: Option<Node>, new: Node) {
    let list = match below {
        None => &mut row.added,
        Some(b) if b.kind != new.kind => &mut row.modified,
        Some(b) if new.kind == LayerEntryKind::Dir && b.mode == new.mode => return,
        Some(_) => &mut row.modified,
    };
    list.push(changed(path, &new));
}

fn changed(path: &str, n: &Node) -> ChangedPath {
    ChangedPath {
        path: path.to_string(),
        kind: n.kind,
        size: n.size,
    }
}

/// Whiteouts that hid nothing below are still deletions the layer ships.
fn whiteouts_over_nothing(row: &mut LayerRow, entries: &[LayerEntry], hidden: &Hidden, own: &Own) {
    for e in entries
        .iter()
        .filter(|e| e.kind == LayerEntryKind::Whiteout)
    {
        let p = clean(&e.path);
        if !p.is_empty() && !hidden.contains_key(p) && own.get(p).is_none() {
            row.deleted.push(ChangedPath {
                path: p.to_string(),
                kind: LayerEntryKind::Whiteout,
                size: 0,
            });
        }
    }
}

/// Per layer, bytes of its files the final view shows.
fn visible_bytes(view: &View, layers: usize) -> Vec<u64> {
    let mut bytes = vec![0; layers];
    for n in view.values().filter(|n| n.kind == LayerEntryKind::File) {
        bytes[n.layer] += n.size;
    }
    bytes
}

/// Per path: the copies shipped, and the bytes of those not visible (the visible copy is one of
/// them, so shipped minus visible). Sorted and grouped by path.
fn wasted_files(stack: &[(&[LayerEntry], Option<&LayerInfo>)], view: &View) -> Vec<WastedFile> {
    let mut files: Vec<(&str, u64)> = stack
        .iter()
        .flat_map(|(entries, _)| entries.iter())
        .filter(|e| e.kind == LayerEntryKind::File)
        .map(|e| (clean(&e.path), e.size))
        .collect();
    files.sort_unstable_by(|a, b| a.0.cmp(b.0));
    // Both in byte order: one merge pass finds each path's visible copy.
    let mut visible = view
        .iter()
        .filter(|(_, n)| n.kind == LayerEntryKind::File)
        .peekable();
    let mut wasted = Vec::new();
    for copies in files.chunk_by(|a, b| a.0 == b.0) {
        let path = copies[0].0;
        while visible.next_if(|(p, _)| **p < path).is_some() {}
        let seen = visible
            .next_if(|(p, _)| **p == path)
            .map_or(0, |(_, n)| n.size);
        let bytes = copies.iter().map(|c| c.1).sum::<u64>().saturating_sub(seen);
        if bytes > 0 {
            wasted.push(WastedFile {
                path: path.to_string(),
                copies: copies.len(),
                bytes,
            });
        }
    }
    wasted.sort_by(|a, b| {
        b.bytes
            .cmp(&a.bytes)
            .then_with(|| tree_order(&a.path, &b.path))
    });
    wasted
}

/// The final view as entries, in tree order.
fn merged(view: &View) -> Vec<MergedEntry> {
    let mut out: Vec<MergedEntry> = view
        .iter()
        .map(|(path, n)| MergedEntry {
            path: path.to_string(),
            layer: n.layer,
            kind: n.kind,
            size: n.size,
            target: n.target.map(str::to_string),
        })
        .collect();
    out.sort_by(|a, b| tree_order(&a.path, &b.path));
    out
}

#[cfg(test)]
mod tests;
