//! Turning a directory into a layer: walking it (an overlayfs upper dir: whiteouts are char 0:0
//! devices, opaque directories carry `user.overlay.opaque=y`) and writing the OCI layer tar
//! (`.wh.<name>` for a whiteout, `<dir>/.wh..wh..opq` for an opaque directory).

use std::collections::HashMap;
use std::fs::{self, File, Metadata};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use rootlab_shared::image::{LayerEntry, LayerEntryKind};

use super::unpack::OPAQUE_XATTR;
use crate::sandbox::sys;

/// What a walked path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    File,
    Dir {
        opaque: bool,
    },
    Symlink(String),
    /// Another name of a file walked before (its path).
    Hardlink(String),
    Whiteout,
}

#[derive(Debug)]
pub struct Node {
    /// Relative, no leading `/`.
    pub rel: String,
    pub kind: NodeKind,
    pub meta: Metadata,
}

/// Every entry below `root` (not `root` itself), parents before children. Sockets, FIFOs and
/// device nodes other than whiteouts are skipped (the store keeps none).
pub fn walk(root: &Path) -> io::Result<Vec<Node>> {
    let mut out = Vec::new();
    let mut seen = HashMap::new();
    walk_dir(root, "", &mut out, &mut seen)?;
    Ok(out)
}

fn walk_dir(
    dir: &Path,
    rel: &str,
    out: &mut Vec<Node>,
    seen: &mut HashMap<(u64, u64), String>,
) -> io::Result<()> {
    let mut names: Vec<_> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    names.sort();
    for name in names {
        let name = name.to_string_lossy().into_owned();
        let path = dir.join(&name);
        let child = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let meta = fs::symlink_metadata(&path)?;
        let Some(kind) = kind_of(&path, &meta, &child, seen)? else {
            continue;
        };
        let is_dir = matches!(kind, NodeKind::Dir { .. });
        out.push(Node {
            rel: child.clone(),
            kind,
            meta,
        });
        if is_dir {
            walk_dir(&path, &child, out, seen)?;
        }
    }
    Ok(())
}

fn kind_of(
    path: &Path,
    meta: &Metadata,
    rel: &str,
    seen: &mut HashMap<(u64, u64), String>,
) -> io::Result<Option<NodeKind>> {
    let ft = meta.file_type();
    Ok(Some(if ft.is_dir() {
        let opaque = sys::get_xattr(path, OPAQUE_XATTR).is_some_and(|v| v == b"y")
            || sys::get_xattr(path, "trusted.overlay.opaque").is_some_and(|v| v == b"y");
        NodeKind::Dir { opaque }
    } else if ft.is_symlink() {
        NodeKind::Symlink(fs::read_link(path)?.to_string_lossy().into_owned())
    } else if ft.is_char_device() && meta.rdev() == 0 {
        NodeKind::Whiteout
    } else if ft.is_file() {
        if meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = seen.get(&key) {
                return Ok(Some(NodeKind::Hardlink(first.clone())));
            }
            seen.insert(key, rel.to_string());
        }
        NodeKind::File
    } else {
        return Ok(None);
    }))
}

/// The listing of walked nodes, as the store keeps it for a layer.
pub fn listing(nodes: &[Node]) -> Vec<LayerEntry> {
    nodes
        .iter()
        .map(|n| {
            let (kind, target, opaque) = match &n.kind {
                NodeKind::File => (LayerEntryKind::File, None, false),
                NodeKind::Dir { opaque } => (LayerEntryKind::Dir, None, *opaque),
                NodeKind::Symlink(t) => (LayerEntryKind::Symlink, Some(t.clone()), false),
                NodeKind::Hardlink(t) => (LayerEntryKind::Hardlink, Some(t.clone()), false),
                NodeKind::Whiteout => (LayerEntryKind::Whiteout, None, false),
            };
            let size = if kind == LayerEntryKind::File {
                n.meta.len()
            } else {
                0
            };
            let mode = match kind {
                LayerEntryKind::Whiteout => 0,
                LayerEntryKind::Symlink => 0o777,
                _ => n.meta.mode() & 0o7777,
            };
            LayerEntry {
                path: n.rel.clone(),
                kind,
                size,
                mode,
                target,
                opaque,
            }
        })
        .collect()
}

/// Write the nodes below `root` as an OCI layer tar (owners 0:0: the sandbox maps only root).
pub fn write_tar<W: Write>(root: &Path, nodes: &[Node], out: W) -> io::Result<W> {
    let mut tar = tar::Builder::new(out);
    for n in nodes {
        append(&mut tar, root, n)?;
    }
    tar.into_inner()
}

fn header(kind: tar::EntryType, mode: u32, mtime: i64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime.max(0) as u64);
    h.set_size(0);
    h
}

fn append<W: Write>(tar: &mut tar::Builder<W>, root: &Path, n: &Node) -> io::Result<()> {
    let mode = n.meta.mode() & 0o7777;
    let mtime = n.meta.mtime();
    match &n.kind {
        NodeKind::Dir { opaque } => {
            let mut h = header(tar::EntryType::Directory, mode, mtime);
            tar.append_data(&mut h, format!("{}/", n.rel), io::empty())?;
            if *opaque {
                let mut h = header(tar::EntryType::Regular, 0o644, mtime);
                tar.append_data(&mut h, format!("{}/.wh..wh..opq", n.rel), io::empty())?;
            }
        }
        NodeKind::File => {
            let file = File::options()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(root.join(&n.rel))?;
            let mut h = header(tar::EntryType::Regular, mode, mtime);
            let len = file.metadata()?.len();
            h.set_size(len);
            // `take`: a file that grew since does not corrupt the archive.
            tar.append_data(&mut h, &n.rel, io::Read::take(file, len))?;
        }
        NodeKind::Symlink(target) => {
            let mut h = header(tar::EntryType::Symlink, 0o777, mtime);
            tar.append_link(&mut h, &n.rel, target)?;
        }
        NodeKind::Hardlink(target) => {
            let mut h = header(tar::EntryType::Link, mode, mtime);
            tar.append_link(&mut h, &n.rel, target)?;
        }
        NodeKind::Whiteout => {
            let (parent, name) = n.rel.rsplit_once('/').unwrap_or(("", &n.rel));
            let path = if parent.is_empty() {
                format!(".wh.{name}")
            } else {
                format!("{parent}/.wh.{name}")
            };
            let mut h = header(tar::EntryType::Regular, 0o644, mtime);
            tar.append_data(&mut h, path, io::empty())?;
        }
    }
    Ok(())
}
