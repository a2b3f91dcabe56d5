//! Turning a directory into a layer: walking it (an overlayfs upper dir: whiteouts are char 0:0
//! devices, opaque directories carry `user.overlay.opaque=y`) and writing the OCI layer tar
//! (`.wh.<name>` for a whiteout, `<dir>/.wh..wh..opq` for an opaque directory).
//!
//! The directory may be hostile (a sandbox's writable layer, walked by the lab init while the
//! sandbox's programs may still change it): every name is looked up through its parent's
//! descriptor without following symlinks, files are opened beneath the root without blocking
//! and checked to be the file walked, entries on another file system (a mount inside) are not
//! entered, and what a layer cannot carry (FIFOs, sockets, devices, non-UTF-8 names) is
//! skipped and reported.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use rootlab_shared::image::{LayerEntry, LayerEntryKind};

use super::unpack::OPAQUE_XATTR;
use crate::sandbox::sys::{self, Stat};

/// The deepest a walked directory may be below the root (each level holds a descriptor).
pub const MAX_DEPTH: usize = 128;

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
    pub stat: Stat,
}

/// A walk: the nodes, parents before children, and what was left out (one sentence each).
#[derive(Debug, Default)]
pub struct Walked {
    pub nodes: Vec<Node>,
    pub skipped: Vec<String>,
}

impl Walked {
    /// An upper bound of the tar's size: a header per entry (two for an opaque directory,
    /// and room for a long name), the files padded to 512 bytes, the end blocks.
    pub fn tar_estimate(&self) -> u64 {
        let per_entry = |n: &Node| {
            let long = if n.rel.len() >= 100 {
                1024 + n.rel.len() as u64
            } else {
                0
            };
            let data = match n.kind {
                NodeKind::File => n.stat.size.div_ceil(512) * 512,
                NodeKind::Dir { opaque: true } => 512,
                _ => 0,
            };
            512 + long + data
        };
        self.nodes.iter().map(per_entry).sum::<u64>() + 1024
    }
}

/// Every entry below the directory `root` (not `root` itself). Sockets, FIFOs and device
/// nodes other than whiteouts are skipped (the store keeps none).
pub fn walk(root: &OwnedFd) -> io::Result<Walked> {
    let dev = sys::stat_fd(root)?.dev;
    let mut w = Walker {
        dev,
        out: Walked::default(),
        seen: HashMap::new(),
    };
    w.dir(root, "", 0)?;
    Ok(w.out)
}

/// [`walk`] of a path (itself not a symlink).
pub fn walk_path(root: &Path) -> io::Result<(OwnedFd, Walked)> {
    let fd = open_root(root)?;
    let walked = walk(&fd)?;
    Ok((fd, walked))
}

/// The directory `root`, open for reading, refused if it is a symlink.
pub fn open_root(root: &Path) -> io::Result<OwnedFd> {
    let parent = root.parent().unwrap_or(Path::new("/"));
    let name = root.file_name().and_then(|n| n.to_str()).unwrap_or(".");
    let dir = sys::open_dir(parent)?;
    Ok(sys::open_subdir(&dir, name)?)
}

struct Walker {
    /// The root's file system: an entry on another one is a mount, not the layer's.
    dev: u64,
    out: Walked,
    /// Files with several links already walked, by (dev, ino).
    seen: HashMap<(u64, u64), String>,
}

impl Walker {
    fn dir(&mut self, dir: &OwnedFd, rel: &str, depth: usize) -> io::Result<()> {
        if depth > MAX_DEPTH {
            return Err(io::Error::other(format!(
                "`{rel}` is more than {MAX_DEPTH} directories deep"
            )));
        }
        let mut names = sys::list_dir(dir)?;
        names.sort();
        for raw in names {
            let Some(name) = raw.to_str() else {
                let shown = raw.to_string_lossy();
                self.skip(&join(rel, &shown), "its name is not UTF-8");
                continue;
            };
            let child = join(rel, name);
            match sys::stat_at(dir, name) {
                Ok(st) => self.entry(dir, name, child, st, depth)?,
                // Removed meanwhile: it is not in the layer.
                Err(sys::Errno::ENOENT) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn entry(
        &mut self,
        dir: &OwnedFd,
        name: &str,
        rel: String,
        st: Stat,
        depth: usize,
    ) -> io::Result<()> {
        if st.dev != self.dev {
            self.skip(&rel, "another file system is mounted there");
            return Ok(());
        }
        let kind = match st.kind {
            libc::S_IFDIR => return self.subdir(dir, name, rel, st, depth),
            libc::S_IFLNK => match sys::read_link_at(dir, name)?.into_string() {
                Ok(target) => Ok(NodeKind::Symlink(target)),
                Err(_) => Err("its symlink target is not UTF-8"),
            },
            libc::S_IFCHR if st.rdev == 0 => Ok(NodeKind::Whiteout),
            libc::S_IFREG => Ok(self.file(&rel, &st)),
            libc::S_IFIFO => Err("a FIFO"),
            libc::S_IFSOCK => Err("a socket"),
            _ => Err("a device node"),
        };
        let kind = match kind {
            Ok(kind) => kind,
            Err(what) => {
                self.skip(&rel, what);
                return Ok(());
            }
        };
        self.out.nodes.push(Node {
            rel,
            kind,
            stat: st,
        });
        Ok(())
    }

    /// A directory: opened without following a symlink, checked to be the one stat'ed, its
    /// opaque marker read through its descriptor, then walked through it.
    fn subdir(
        &mut self,
        dir: &OwnedFd,
        name: &str,
        rel: String,
        st: Stat,
        depth: usize,
    ) -> io::Result<()> {
        let fd = sys::open_subdir(dir, name)?;
        let now = sys::stat_fd(&fd)?;
        if (now.dev, now.ino) != (st.dev, st.ino) {
            return Err(changed(&rel));
        }
        let opaque = [OPAQUE_XATTR, "trusted.overlay.opaque"]
            .iter()
            .any(|x| sys::get_xattr_fd(&fd, x).is_some_and(|v| v == b"y"));
        self.out.nodes.push(Node {
            rel: rel.clone(),
            kind: NodeKind::Dir { opaque },
            stat: st,
        });
        self.dir(&fd, &rel, depth + 1)
    }

    fn file(&mut self, rel: &str, st: &Stat) -> NodeKind {
        if st.nlink > 1 {
            let key = (st.dev, st.ino);
            if let Some(first) = self.seen.get(&key) {
                return NodeKind::Hardlink(first.clone());
            }
            self.seen.insert(key, rel.to_string());
        }
        NodeKind::File
    }

    fn skip(&mut self, rel: &str, what: &str) {
        self.out
            .skipped
            .push(format!("`{rel}`: {what}, not kept in a layer"));
    }
}

fn join(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_string()
    } else {
        format!("{rel}/{name}")
    }
}

fn changed(rel: &str) -> io::Error {
    io::Error::other(format!("`{rel}` changed while the layer was being written"))
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
                n.stat.size
            } else {
                0
            };
            let mode = match kind {
                LayerEntryKind::Whiteout => 0,
                LayerEntryKind::Symlink => 0o777,
                _ => n.stat.mode,
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
pub fn write_tar<W: Write>(root: &OwnedFd, nodes: &[Node], out: W) -> io::Result<W> {
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

/// The walked file's bytes (at most its walked size), refused if it is no longer that file.
fn contents(root: &OwnedFd, n: &Node) -> io::Result<Vec<u8>> {
    let file = sys::open_file_beneath(root, &n.rel)?;
    let now = sys::stat_fd(&file)?;
    if now.kind != libc::S_IFREG || (now.dev, now.ino) != (n.stat.dev, n.stat.ino) {
        return Err(changed(&n.rel));
    }
    let mut bytes = Vec::new();
    file.take(n.stat.size).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// A link entry with its target exactly as read (`Builder::append_link` would rewrite `/`
/// as `//`); a target too long for the header goes through `append_link`'s GNU long link.
fn append_link<W: Write>(
    tar: &mut tar::Builder<W>,
    mut h: tar::Header,
    path: &str,
    target: &str,
) -> io::Result<()> {
    if target.len() >= 100 {
        return tar.append_link(&mut h, path, target);
    }
    h.set_link_name_literal(target)?;
    tar.append_data(&mut h, path, io::empty())
}

fn append<W: Write>(tar: &mut tar::Builder<W>, root: &OwnedFd, n: &Node) -> io::Result<()> {
    let (mode, mtime) = (n.stat.mode, n.stat.mtime);
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
            let bytes = contents(root, n)?;
            let mut h = header(tar::EntryType::Regular, mode, mtime);
            h.set_size(bytes.len() as u64);
            tar.append_data(&mut h, &n.rel, &bytes[..])?;
        }
        NodeKind::Symlink(target) => {
            let h = header(tar::EntryType::Symlink, 0o777, mtime);
            append_link(tar, h, &n.rel, target)?;
        }
        NodeKind::Hardlink(target) => {
            let h = header(tar::EntryType::Link, mode, mtime);
            append_link(tar, h, &n.rel, target)?;
        }
        NodeKind::Whiteout => {
            let (parent, name) = n.rel.rsplit_once('/').unwrap_or(("", &n.rel));
            let mut h = header(tar::EntryType::Regular, 0o644, mtime);
            tar.append_data(&mut h, join(parent, &format!(".wh.{name}")), io::empty())?;
        }
    }
    Ok(())
}
