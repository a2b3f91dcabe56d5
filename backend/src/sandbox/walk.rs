//! Walking a file tree as one view sees it, without following symlinks and without blocking
//! on whatever a program left there (FIFOs, devices, files swapped mid-walk). Actors walk their
//! own root; the lab init walks the layers.

use std::collections::HashSet;
use std::fs::Metadata;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rootlab_shared::mountinfo;
use rootlab_shared::result::{FileKind, Tree, TreeEntry};
use rootlab_shared::Limits;

use super::layers::OPAQUE_XATTR;

/// File systems whose contents are not files of the experiment: listed, never walked into.
const OPAQUE_FS: [&str; 4] = ["proc", "sysfs", "cgroup", "cgroup2"];
/// Files larger than this get no preview.
const PREVIEW_MAX_FILE: u64 = 64 << 10;

/// Where the mounts of a view are, as the walk needs them.
#[derive(Default)]
pub struct MountPoints {
    /// `(target, fstype)` in mount order.
    rows: Vec<(String, String)>,
    points: HashSet<String>,
}

impl MountPoints {
    /// From a mountinfo text (lines that do not parse are skipped: the walk only marks
    /// mount points, the lab init reports the table itself).
    pub fn from_mountinfo(text: &str) -> Self {
        let rows: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| mountinfo::parse_line(l).ok())
            .map(|m| (m.target, m.fstype))
            .collect();
        let points = rows.iter().map(|(t, _)| t.clone()).collect();
        MountPoints { rows, points }
    }

    fn is_opaque_fs(&self, path: &str) -> bool {
        covering_target(self.rows.iter().map(|(t, _)| t.as_str()), path)
            .and_then(|t| self.rows.iter().rev().find(|(rt, _)| rt == t))
            .is_some_and(|(_, fs)| OPAQUE_FS.contains(&fs.as_str()))
    }
}

/// The mount target that holds `path`: the longest target that is the path or an ancestor.
pub fn covering_target<'a>(targets: impl Iterator<Item = &'a str>, path: &str) -> Option<&'a str> {
    targets
        .filter(|t| is_within(path, t))
        .max_by_key(|t| t.len())
}

pub fn is_within(path: &str, dir: &str) -> bool {
    dir == "/"
        || path == dir
        || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// Walk `path` (as seen from `base`) `depth` levels down, at most `max_tree_entries` entries.
pub fn tree(
    base: &Path,
    path: &str,
    depth: u32,
    limits: &Limits,
    mounts: Option<&MountPoints>,
) -> Tree {
    if let Err(e) = check_no_symlinks(base, path) {
        return error_tree(path, &e);
    }
    let mut walk = Walk {
        limits,
        base,
        mounts,
        entries: Vec::new(),
        truncated: false,
        capped: false,
    };
    match std::fs::symlink_metadata(join(base, path)) {
        Ok(m) if m.is_dir() => walk.dir(path, depth),
        Ok(_) => return error_tree(path, "ENOTDIR: not a directory"),
        Err(e) => return error_tree(path, &io_name(&e)),
    }
    Tree {
        root: path.to_string(),
        error: None,
        entries: walk.entries,
        truncated: walk.truncated,
        complete_to: (!walk.capped).then_some(depth),
    }
}

pub fn error_tree(path: &str, error: &str) -> Tree {
    Tree {
        root: path.to_string(),
        error: Some(error.to_string()),
        entries: vec![],
        truncated: false,
        complete_to: None,
    }
}

/// Cut the entries of the biggest of `trees` in half, marking it truncated; false when every
/// tree is already empty.
pub fn halve_biggest<'a>(trees: impl Iterator<Item = &'a mut Tree>) -> bool {
    let Some(tree) = trees
        .filter(|t| !t.entries.is_empty())
        .max_by_key(|t| t.entries.len())
    else {
        return false;
    };
    let keep = tree.entries.len() / 2;
    tree.entries.truncate(keep);
    tree.truncated = true;
    tree.complete_to = None;
    true
}

struct Walk<'a> {
    limits: &'a Limits,
    base: &'a Path,
    mounts: Option<&'a MountPoints>,
    entries: Vec<TreeEntry>,
    truncated: bool,
    /// The entry limit (not the depth) cut the walk.
    capped: bool,
}

impl Walk<'_> {
    fn dir(&mut self, path: &str, depth: u32) {
        if self.mounts.is_some_and(|m| m.is_opaque_fs(path)) {
            return;
        }
        let Ok(read) = std::fs::read_dir(join(self.base, path)) else {
            return;
        };
        let mut names: Vec<String> = Vec::new();
        for entry in read.filter_map(|e| e.ok()) {
            // A directory of millions of names must not cost millions of allocations.
            if names.len() > self.limits.max_tree_entries {
                self.truncated = true;
                self.capped = true;
                break;
            }
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        if depth == 0 {
            self.truncated |= !names.is_empty();
            return;
        }
        for name in names {
            if self.entries.len() >= self.limits.max_tree_entries {
                self.truncated = true;
                self.capped = true;
                return;
            }
            let child = child_path(path, &name);
            let Ok(meta) = std::fs::symlink_metadata(join(self.base, &child)) else {
                continue;
            };
            let is_dir = meta.is_dir();
            self.entries.push(self.entry(&child, &meta));
            if is_dir {
                self.dir(&child, depth - 1);
            }
        }
    }

    fn entry(&self, path: &str, meta: &Metadata) -> TreeEntry {
        let full = join(self.base, path);
        let kind = kind_of(meta);
        let whiteout = kind == FileKind::CharDevice && meta.rdev() == 0;
        let opaque = kind == FileKind::Dir && is_opaque_dir(&full);
        TreeEntry {
            path: path.to_string(),
            kind,
            size: meta.size(),
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            owner: owner_name(meta.uid()),
            link_target: (kind == FileKind::Symlink)
                .then(|| std::fs::read_link(&full).ok())
                .flatten()
                .map(|t| t.to_string_lossy().into_owned()),
            preview: preview(&full, meta, self.limits.preview_bytes),
            layer: None,
            whiteout,
            opaque,
            mount_point: self.mounts.is_some_and(|m| m.points.contains(path)),
        }
    }
}

/// Does this directory carry overlayfs's (unprivileged) opaque marker?
pub fn is_opaque_dir(path: &Path) -> bool {
    super::sys::get_xattr(path, OPAQUE_XATTR).as_deref() == Some(b"y".as_slice())
}

/// Refuse a walk whose path goes through a symlink: the view would be of the link's target,
/// which the learner should ask for by name.
fn check_no_symlinks(base: &Path, path: &str) -> Result<(), String> {
    let mut cur = base.to_path_buf();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        cur.push(part);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!(
                    "ELOOP: {part} is a symlink; walk its target instead"
                ))
            }
            Ok(_) => {}
            Err(e) => return Err(io_name(&e)),
        }
    }
    Ok(())
}

fn io_name(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let errno = super::sys::Errno::from_raw(code);
            format!("{errno:?}: {}", errno.desc())
        }
        None => e.to_string(),
    }
}

fn join(base: &Path, path: &str) -> PathBuf {
    base.join(path.trim_start_matches('/'))
}

fn child_path(parent: &str, name: &str) -> String {
    if parent.ends_with('/') {
        format!("{parent}{name}")
    } else {
        format!("{parent}/{name}")
    }
}

fn kind_of(meta: &Metadata) -> FileKind {
    let t = meta.file_type();
    if t.is_dir() {
        FileKind::Dir
    } else if t.is_symlink() {
        FileKind::Symlink
    } else if t.is_char_device() {
        FileKind::CharDevice
    } else if t.is_block_device() {
        FileKind::BlockDevice
    } else if t.is_fifo() {
        FileKind::Fifo
    } else if t.is_socket() {
        FileKind::Socket
    } else {
        FileKind::File
    }
}

fn owner_name(uid: u32) -> String {
    match uid {
        0 => "root".into(),
        65534 => "nobody".into(),
        n => n.to_string(),
    }
}

/// The first bytes of a small UTF-8 text file. Opened without following a symlink and without
/// blocking, and read only if it is (still) a regular file: a program may swap it meanwhile.
fn preview(path: &Path, meta: &Metadata, max: usize) -> Option<String> {
    if !meta.is_file() || meta.size() > PREVIEW_MAX_FILE || max == 0 {
        return None;
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut buf = Vec::with_capacity(max);
    file.take(max as u64).read_to_end(&mut buf).ok()?;
    let text = match std::str::from_utf8(&buf) {
        Ok(t) => t,
        // A cut in the middle of a character is fine; anything else is binary.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&buf[..e.valid_up_to()]).ok()?,
        Err(_) => return None,
    };
    (!text.contains('\0')).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_is_component_wise() {
        assert!(is_within("/tmp/a", "/tmp"));
        assert!(!is_within("/tmpx", "/tmp"));
        assert!(is_within("/anything", "/"));
    }

    #[test]
    fn a_fifo_is_listed_but_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        std::fs::write(dir.path().join("note"), "hello").unwrap();
        let t = tree(dir.path(), "/", 1, &Limits::default(), None);
        let note = t.entries.iter().find(|e| e.path == "/note").unwrap();
        assert_eq!(note.preview.as_deref(), Some("hello"));
        let pipe = t.entries.iter().find(|e| e.path == "/pipe").unwrap();
        assert_eq!((pipe.kind, pipe.preview.as_deref()), (FileKind::Fifo, None));
    }

    #[test]
    fn proc_mounts_are_listed_not_walked() {
        let m = MountPoints::from_mountinfo(
            "1 0 8:1 / / rw - ext4 /dev/sda rw\n2 1 0:5 / /proc rw - proc proc rw\n",
        );
        assert!(m.is_opaque_fs("/proc/1"));
        assert!(!m.is_opaque_fs("/tmp"));
        assert!(m.points.contains("/proc"));
    }
}
