//! Snapshots: what each actor sees (its mount table and file trees, walked through
//! `/proc/<pid>/root` without following symlinks), where overlay entries come from, and each
//! layer's own tree.

use std::collections::HashSet;
use std::fs::Metadata;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rootlab_shared::mountinfo::Renumbering;
use rootlab_shared::result::{FileKind, LayerTree, MountEntry, Snapshot, Tree, TreeEntry, View};
use rootlab_shared::spec::Layer;
use rootlab_shared::Limits;

use super::layers::{layer_dir, OPAQUE_XATTR};

/// File systems whose contents are not files of the experiment: listed, never walked into.
const OPAQUE_FS: [&str; 4] = ["proc", "sysfs", "cgroup", "cgroup2"];
/// Files larger than this get no preview.
const PREVIEW_MAX_FILE: u64 = 64 << 10;

/// The lab init's observer; keeps peer-group numbers stable across the run.
pub struct Observer {
    limits: Limits,
    layers: Vec<String>,
    renumber: Renumbering,
    /// Snapshots taken so far.
    pub taken: usize,
}

/// The mounts of one view, as needed while walking.
struct ViewMounts {
    rows: Vec<MountEntry>,
    points: HashSet<String>,
}

impl Observer {
    pub fn new(limits: &Limits, layers: &[Layer]) -> Self {
        Observer {
            limits: limits.clone(),
            layers: layers.iter().map(|l| l.name.clone()).collect(),
            renumber: Renumbering::default(),
            taken: 0,
        }
    }

    pub fn take(
        &mut self,
        label: &str,
        step: usize,
        views: &[(String, Option<i32>)],
        paths: &[String],
        depth: u32,
        with_layers: bool,
    ) -> Snapshot {
        self.taken += 1;
        let views = views
            .iter()
            .map(|(name, pid)| self.view(name, *pid, paths, depth))
            .collect();
        let layers = if with_layers {
            self.layer_trees(depth.max(8))
        } else {
            vec![]
        };
        Snapshot {
            label: label.to_string(),
            step,
            views,
            layers,
        }
    }

    fn view(&mut self, actor: &str, pid: Option<i32>, paths: &[String], depth: u32) -> View {
        let Some(pid) = pid else {
            let trees = paths
                .iter()
                .map(|p| error_tree(p, "the actor is not running"))
                .collect();
            return View {
                actor: actor.to_string(),
                mounts: vec![],
                trees,
            };
        };
        let text = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
        let rows = self.renumber.entries(&text).unwrap_or_default();
        let points = rows.iter().map(|m| m.target.clone()).collect();
        let mounts = ViewMounts { rows, points };
        let base = PathBuf::from(format!("/proc/{pid}/root"));
        let trees = paths
            .iter()
            .map(|p| self.tree(&base, p, depth, Some(&mounts)))
            .collect();
        View {
            actor: actor.to_string(),
            mounts: mounts.rows,
            trees,
        }
    }

    fn layer_trees(&self, depth: u32) -> Vec<LayerTree> {
        self.layers
            .iter()
            .map(|name| {
                let mut tree = self.tree(&layer_dir(name), "/", depth, None);
                tree.root = String::new();
                for e in &mut tree.entries {
                    e.path = e.path.trim_start_matches('/').to_string();
                }
                LayerTree {
                    name: name.clone(),
                    tree,
                }
            })
            .collect()
    }

    /// Walk `path` (as the view sees it) below `base`.
    fn tree(&self, base: &Path, path: &str, depth: u32, mounts: Option<&ViewMounts>) -> Tree {
        if let Err(e) = check_no_symlinks(base, path) {
            return error_tree(path, &e);
        }
        let mut walk = Walk {
            observer: self,
            base,
            mounts,
            entries: Vec::new(),
            truncated: false,
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
        }
    }
}

struct Walk<'a> {
    observer: &'a Observer,
    base: &'a Path,
    mounts: Option<&'a ViewMounts>,
    entries: Vec<TreeEntry>,
    truncated: bool,
}

impl Walk<'_> {
    fn dir(&mut self, path: &str, depth: u32) {
        if self.is_opaque_fs(path) {
            return;
        }
        let Ok(read) = std::fs::read_dir(join(self.base, path)) else {
            return;
        };
        let mut names: Vec<String> = read
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        if depth == 0 {
            self.truncated |= !names.is_empty();
            return;
        }
        for name in names {
            if self.entries.len() >= self.observer.limits.max_tree_entries {
                self.truncated = true;
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

    fn is_opaque_fs(&self, path: &str) -> bool {
        self.mounts
            .and_then(|m| covering(&m.rows, path))
            .is_some_and(|m| OPAQUE_FS.contains(&m.fstype.as_str()))
    }

    fn entry(&self, path: &str, meta: &Metadata) -> TreeEntry {
        let full = join(self.base, path);
        let kind = kind_of(meta);
        let whiteout = kind == FileKind::CharDevice && meta.rdev() == 0;
        let opaque =
            kind == FileKind::Dir && rootlab_get_xattr(&full).as_deref() == Some(b"y".as_slice());
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
            preview: preview(&full, meta, self.observer.limits.preview_bytes),
            layer: self.mounts.and_then(|m| layer_origin(&m.rows, path)),
            whiteout,
            opaque,
            mount_point: self.mounts.is_some_and(|m| m.points.contains(path)),
        }
    }
}

fn rootlab_get_xattr(path: &Path) -> Option<Vec<u8>> {
    super::sys::get_xattr(path, OPAQUE_XATTR)
}

/// The mount an entry lives on: the topmost mount whose target is the path or an ancestor.
fn covering<'a>(rows: &'a [MountEntry], path: &str) -> Option<&'a MountEntry> {
    rows.iter()
        .filter(|m| is_within(path, &m.target))
        .max_by_key(|m| m.target.len())
        .and_then(|best| rows.iter().rev().find(|m| m.target == best.target))
}

fn is_within(path: &str, dir: &str) -> bool {
    dir == "/"
        || path == dir
        || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// Under an overlay built from layers: the topmost layer holding the path, honouring
/// whiteouts and opaque directories.
fn layer_origin(rows: &[MountEntry], path: &str) -> Option<String> {
    let mount = covering(rows, path).filter(|m| m.fstype == "overlay")?;
    let stack = overlay_layers(&mount.options)?;
    let rel = path[mount.target.len().min(path.len())..].trim_start_matches('/');
    for layer in stack {
        let dir = layer_dir(&layer);
        if rel.is_empty() {
            return Some(layer);
        }
        match std::fs::symlink_metadata(dir.join(rel)) {
            Ok(m) if m.file_type().is_char_device() && m.rdev() == 0 => return None,
            Ok(_) => return Some(layer),
            Err(_) if hidden_by_opaque(&dir, rel) => return None,
            Err(_) => continue,
        }
    }
    None
}

/// Is an ancestor of `rel` an opaque directory in this layer (hiding the lower layers)?
fn hidden_by_opaque(layer: &Path, rel: &str) -> bool {
    let mut dir = layer.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        dir.push(part);
        if rootlab_get_xattr(&dir).as_deref() == Some(b"y".as_slice()) {
            return true;
        }
    }
    false
}

/// `[upper, lowers...]` layer names from overlay options, when every dir is a `/layers/<name>`.
fn overlay_layers(options: &str) -> Option<Vec<String>> {
    let mut upper = None;
    let mut lowers = Vec::new();
    for opt in options.split(',') {
        if let Some(v) = opt.strip_prefix("upperdir=") {
            upper = Some(layer_name(v)?);
        } else if let Some(v) = opt.strip_prefix("lowerdir=") {
            for l in v.split(':').filter(|l| !l.is_empty()) {
                lowers.push(layer_name(l)?);
            }
        }
    }
    let mut stack: Vec<String> = upper.into_iter().collect();
    stack.extend(lowers);
    (!stack.is_empty()).then_some(stack)
}

fn layer_name(dir: &str) -> Option<String> {
    let name = dir.strip_prefix("/layers/")?;
    (!name.is_empty() && !name.contains('/')).then(|| name.to_string())
}

/// Refuse a walk whose path goes through a symlink: inside `/proc/<pid>/root` an absolute
/// link would resolve against the observer's root, not the actor's.
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

fn error_tree(path: &str, error: &str) -> Tree {
    Tree {
        root: path.to_string(),
        error: Some(error.to_string()),
        entries: vec![],
        truncated: false,
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

/// The first bytes of a small UTF-8 text file.
fn preview(path: &Path, meta: &Metadata, max: usize) -> Option<String> {
    if !meta.is_file() || meta.size() > PREVIEW_MAX_FILE || max == 0 {
        return None;
    }
    let mut buf = vec![0u8; max];
    let n = std::fs::File::open(path).ok()?.read(&mut buf).ok()?;
    let bytes = &buf[..n];
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        // A cut in the middle of a character is fine; anything else is binary.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&bytes[..e.valid_up_to()]).ok()?,
        Err(_) => return None,
    };
    (!text.contains('\0')).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_options_name_layers_upper_first() {
        let o = "rw,relatime,lowerdir=/layers/A:/layers/B,upperdir=/layers/C,workdir=/layers/.work-C,userxattr";
        assert_eq!(overlay_layers(o).unwrap(), vec!["C", "A", "B"]);
        assert_eq!(overlay_layers("rw,lowerdir=/var/x"), None);
    }

    #[test]
    fn within_is_component_wise() {
        assert!(is_within("/tmp/a", "/tmp"));
        assert!(!is_within("/tmpx", "/tmp"));
        assert!(is_within("/anything", "/"));
    }
}
