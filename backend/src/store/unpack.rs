//! Unpacking one hostile layer tar beneath a fresh directory. Every entry is created through a
//! descriptor of its parent opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | ...)`,
//! so no entry (nor a symlink an earlier entry made) can lead a write outside the layer.
//! Refused, naming the entry: `..` components, absolute paths, a path through a symlink, hard
//! links to what is not (yet) in this layer, empty or reserved whiteout names, unknown entry
//! types. Dropped and reported: device nodes and FIFOs. Stripped and reported: setuid/setgid.
//! OCI whiteouts become overlayfs ones: `.wh.<name>` a char 0:0 device, `.wh..wh..opq` the
//! `user.overlay.opaque=y` xattr on its directory.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::time::{Duration, SystemTime};

use rootlab_shared::image::{LayerEntry, LayerEntryKind};
use tar::EntryType;

use crate::sandbox::sys::{self, Errno};

pub const OPAQUE_XATTR: &str = "user.overlay.opaque";
const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("layer entry `{entry}`: {why}")]
    Refused { entry: String, why: String },
    #[error("layer entry `{entry}`: {op} failed: {errno}")]
    Sys {
        entry: String,
        op: &'static str,
        errno: Errno,
    },
    #[error("more than {0} entries in this import (the per-import entry limit)")]
    TooManyEntries(u64),
    #[error("more than {0} bytes once decompressed (the per-import limit): a decompression bomb?")]
    TooBig(u64),
    #[error("reading the layer's tar stream: {0}")]
    Read(io::Error),
}

/// Who should own what is unpacked (as root: the sandbox uid/gid; rootless: nobody changes).
#[derive(Clone, Copy, Debug)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// What one layer's unpacking produced.
#[derive(Debug, Default)]
pub struct Unpacked {
    pub entries: Vec<LayerEntry>,
    /// Bytes of regular files.
    pub size: u64,
    /// Entries of the tar (whiteouts and opaque markers included, pax headers not).
    pub count: usize,
    /// Dropped entries and stripped bits, one sentence each.
    pub warnings: Vec<String>,
}

/// The unpacking of one tar stream into the directory `root`.
pub struct Unpacker<'a> {
    root: &'a OwnedFd,
    owner: Option<Owner>,
    /// Entries the whole import may still have.
    entries_left: &'a mut u64,
    entry_limit: u64,
    out: Unpacked,
    index: HashMap<String, usize>,
    dir_modes: Vec<(String, u32)>,
    /// Directories made implicitly (as parents) and already given to the owner.
    owned_parents: HashSet<String>,
}

impl<'a> Unpacker<'a> {
    pub fn new(
        root: &'a OwnedFd,
        owner: Option<Owner>,
        entries_left: &'a mut u64,
        entry_limit: u64,
    ) -> Self {
        Unpacker {
            root,
            owner,
            entries_left,
            entry_limit,
            out: Unpacked::default(),
            index: HashMap::new(),
            dir_modes: Vec::new(),
            owned_parents: HashSet::new(),
        }
    }

    /// Unpack every entry of `archive`; the listing, once directory modes are applied.
    pub fn run<R: Read>(mut self, archive: &mut tar::Archive<R>) -> Result<Unpacked, UnpackError> {
        for entry in archive.entries().map_err(UnpackError::Read)? {
            let mut entry = entry.map_err(UnpackError::Read)?;
            self.one(&mut entry)?;
        }
        self.finish_dirs()?;
        Ok(self.out)
    }

    fn one<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<(), UnpackError> {
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader) {
            return Ok(());
        }
        if *self.entries_left == 0 {
            return Err(UnpackError::TooManyEntries(self.entry_limit));
        }
        *self.entries_left -= 1;
        self.out.count += 1;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = clean(&raw).map_err(|why| refused(&raw, why))?;
        let mode = entry.header().mode().map_err(UnpackError::Read)? & 0o7777;
        if path.is_empty() {
            // The layer's root (`./`): only its mode matters.
            self.dir_modes.push((String::new(), mode));
            return Ok(());
        }
        let (parent, name) = split(&path);
        if name == OPAQUE {
            return self.opaque(parent, &raw);
        }
        if let Some(target) = name.strip_prefix(WHITEOUT) {
            return self.whiteout(parent, target, &raw);
        }
        match kind {
            EntryType::Regular | EntryType::Continuous => self.file(entry, &path, mode),
            EntryType::Directory => self.dir(&path, mode),
            EntryType::Symlink => self.symlink(entry, &path),
            EntryType::Link => self.hardlink(entry, &path),
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let what = if kind == EntryType::Fifo {
                    "FIFO"
                } else {
                    "device node"
                };
                self.out
                    .warnings
                    .push(format!("`{path}`: {what} dropped (the store keeps none)"));
                Ok(())
            }
            other => Err(refused(
                &raw,
                format!("entry type {:?} is not supported", other.as_byte() as char),
            )),
        }
    }

    /// The directory that will hold `path`'s last component (made if missing), never through
    /// a symlink.
    fn parent_dir(&mut self, parent: &str, entry: &str) -> Result<OwnedFd, UnpackError> {
        let dir =
            sys::mkdir_all_at(self.root, parent, sys::Resolve::Beneath).map_err(|e| match e {
                Errno::ELOOP | Errno::EXDEV => refused(
                    entry,
                    "its path goes through a symlink (an earlier entry made it): refused",
                ),
                Errno::ENOTDIR => refused(entry, "its path goes through a non-directory"),
                errno => sys_err(entry, "creating its directory", errno),
            })?;
        self.own_parents(parent)?;
        Ok(dir)
    }

    /// Give the owner the directories a tar made implicitly (a layer may list `etc/a` without
    /// `etc/`): the sandbox maps only the owner, and overlayfs cannot copy up a directory whose
    /// owner it cannot map (EOVERFLOW).
    fn own_parents(&mut self, parent: &str) -> Result<(), UnpackError> {
        if self.owner.is_none() {
            return Ok(());
        }
        let mut above = String::new();
        for name in parent.split('/').filter(|c| !c.is_empty()) {
            let path = if above.is_empty() {
                name.to_string()
            } else {
                format!("{above}/{name}")
            };
            if !self.index.contains_key(&path) && self.owned_parents.insert(path.clone()) {
                let dir = sys::open_dir_beneath(self.root, &above)
                    .map_err(|e| sys_err(&path, "open", e))?;
                self.chown(&dir, name, &path)?;
            }
            above = path;
        }
        Ok(())
    }

    /// Make room for a new non-directory at `dir/name`: an earlier entry of the same name is
    /// replaced (as tar does), a directory is not.
    fn clear(&self, dir: &OwnedFd, name: &str, entry: &str) -> Result<(), UnpackError> {
        match sys::kind_at(dir, name).map_err(|e| sys_err(entry, "stat", e))? {
            None => Ok(()),
            Some(libc::S_IFDIR) => Err(refused(entry, "it would replace a directory")),
            Some(_) => sys::unlink_at(dir, name).map_err(|e| sys_err(entry, "unlink", e)),
        }
    }

    fn file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        path: &str,
        mode: u32,
    ) -> Result<(), UnpackError> {
        let (parent, name) = split(path);
        let dir = self.parent_dir(parent, path)?;
        self.clear(&dir, name, path)?;
        let mut file =
            sys::create_file_at(&dir, name, 0o600).map_err(|e| sys_err(path, "create", e))?;
        let size = io::copy(entry, &mut file).map_err(UnpackError::Read)?;
        let mode = self.strip_special(path, mode);
        let fd = std::os::fd::OwnedFd::from(file);
        sys::chmod_fd(&fd, mode).map_err(|e| sys_err(path, "chmod", e))?;
        let mtime = entry.header().mtime().unwrap_or(0);
        let _ = std::fs::File::from(fd)
            .set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime));
        self.chown(&dir, name, path)?;
        self.out.size += size;
        self.record(path, LayerEntryKind::File, size, mode, None);
        Ok(())
    }

    fn dir(&mut self, path: &str, mode: u32) -> Result<(), UnpackError> {
        let (parent, name) = split(path);
        let dir = self.parent_dir(parent, path)?;
        match sys::kind_at(&dir, name).map_err(|e| sys_err(path, "stat", e))? {
            Some(libc::S_IFDIR) => {}
            Some(_) => {
                sys::unlink_at(&dir, name).map_err(|e| sys_err(path, "unlink", e))?;
                sys::mkdir_at(&dir, name, 0o755).map_err(|e| sys_err(path, "mkdir", e))?;
            }
            None => sys::mkdir_at(&dir, name, 0o755).map_err(|e| sys_err(path, "mkdir", e))?,
        }
        self.chown(&dir, name, path)?;
        let mode = self.strip_special(path, mode);
        // Applied at the end, so a read-only directory can still be filled meanwhile.
        self.dir_modes.push((path.to_string(), mode));
        self.record(path, LayerEntryKind::Dir, 0, mode, None);
        Ok(())
    }

    fn symlink<R: Read>(&mut self, entry: &tar::Entry<R>, path: &str) -> Result<(), UnpackError> {
        let target = link_name(entry, path)?;
        let (parent, name) = split(path);
        let dir = self.parent_dir(parent, path)?;
        self.clear(&dir, name, path)?;
        // The target is never followed here: it is data, resolved only inside the sandbox.
        sys::symlink_at(&target, &dir, name).map_err(|e| sys_err(path, "symlink", e))?;
        self.chown(&dir, name, path)?;
        self.record(path, LayerEntryKind::Symlink, 0, 0o777, Some(target));
        Ok(())
    }

    fn hardlink<R: Read>(&mut self, entry: &tar::Entry<R>, path: &str) -> Result<(), UnpackError> {
        let raw_target = link_name(entry, path)?;
        let target = clean(&raw_target).map_err(|why| {
            refused(
                path,
                format!("hard link to `{raw_target}`: {why}, outside the layer"),
            )
        })?;
        let known = self.index.get(&target).map(|&i| self.out.entries[i].kind);
        if !matches!(
            known,
            Some(LayerEntryKind::File | LayerEntryKind::Symlink | LayerEntryKind::Hardlink)
        ) {
            return Err(refused(
                path,
                format!(
                    "hard link to `{target}`, which is not a file unpacked before it in this layer"
                ),
            ));
        }
        let (tparent, tname) = split(&target);
        let tdir = sys::open_dir_beneath(self.root, tparent)
            .map_err(|e| sys_err(path, "opening the link target's directory", e))?;
        let (parent, name) = split(path);
        let dir = self.parent_dir(parent, path)?;
        self.clear(&dir, name, path)?;
        sys::hardlink_at(&tdir, tname, &dir, name).map_err(|e| sys_err(path, "link", e))?;
        let mode = self
            .index
            .get(&target)
            .map_or(0, |&i| self.out.entries[i].mode);
        self.record(path, LayerEntryKind::Hardlink, 0, mode, Some(target));
        Ok(())
    }

    fn whiteout(&mut self, parent: &str, target: &str, raw: &str) -> Result<(), UnpackError> {
        if target.is_empty() {
            return Err(refused(raw, "empty whiteout name (`.wh.` alone)"));
        }
        if target.starts_with(WHITEOUT) || target == "." || target == ".." {
            return Err(refused(raw, "reserved or invalid whiteout name"));
        }
        let dir = self.parent_dir(parent, raw)?;
        self.clear(&dir, target, raw)?;
        sys::whiteout_at(&dir, target).map_err(|e| sys_err(raw, "mknod (whiteout)", e))?;
        self.chown(&dir, target, raw)?;
        let path = join(parent, target);
        self.record(&path, LayerEntryKind::Whiteout, 0, 0, None);
        Ok(())
    }

    fn opaque(&mut self, parent: &str, raw: &str) -> Result<(), UnpackError> {
        let dir = self.parent_dir(parent, raw)?;
        sys::set_xattr_fd(&dir, OPAQUE_XATTR, b"y")
            .map_err(|e| sys_err(raw, "setting user.overlay.opaque", e))?;
        match self.index.get(parent) {
            Some(&i) => self.out.entries[i].opaque = true,
            None if parent.is_empty() => {}
            None => {
                self.record(parent, LayerEntryKind::Dir, 0, 0o755, None);
                let i = self.index[parent];
                self.out.entries[i].opaque = true;
            }
        }
        Ok(())
    }

    fn strip_special(&mut self, path: &str, mode: u32) -> u32 {
        if mode & 0o6000 != 0 {
            self.out.warnings.push(format!(
                "`{path}`: setuid/setgid bits stripped (mode {mode:o})"
            ));
        }
        mode & !0o6000
    }

    fn chown(&self, dir: &OwnedFd, name: &str, path: &str) -> Result<(), UnpackError> {
        match self.owner {
            Some(o) => {
                sys::chown_at(dir, name, o.uid, o.gid).map_err(|e| sys_err(path, "chown", e))
            }
            None => Ok(()),
        }
    }

    fn record(
        &mut self,
        path: &str,
        kind: LayerEntryKind,
        size: u64,
        mode: u32,
        target: Option<String>,
    ) {
        let entry = LayerEntry {
            path: path.to_string(),
            kind,
            size,
            mode,
            target,
            opaque: false,
        };
        match self.index.get(path) {
            Some(&i) => {
                let opaque = self.out.entries[i].opaque && kind == LayerEntryKind::Dir;
                self.out.entries[i] = LayerEntry { opaque, ..entry };
            }
            None => {
                self.index.insert(path.to_string(), self.out.entries.len());
                self.out.entries.push(entry);
            }
        }
    }

    /// Apply directory modes, deepest first (a read-only parent must not block its children).
    fn finish_dirs(&mut self) -> Result<(), UnpackError> {
        let mut modes = std::mem::take(&mut self.dir_modes);
        modes.sort_by_key(|(p, _)| {
            std::cmp::Reverse(p.matches('/').count() + !p.is_empty() as usize)
        });
        for (path, mode) in modes {
            let dir =
                sys::open_dir_beneath(self.root, &path).map_err(|e| sys_err(&path, "open", e))?;
            sys::chmod_fd(&dir, mode).map_err(|e| sys_err(&path, "chmod", e))?;
        }
        Ok(())
    }
}

/// A relative path without `.` or empty components; `..` and absolute paths refused.
pub fn clean(raw: &str) -> Result<String, String> {
    if raw.starts_with('/') {
        return Err("absolute path refused (layer paths are relative)".into());
    }
    let mut parts = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err("`..` component refused".into()),
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

fn link_name<R: Read>(entry: &tar::Entry<R>, path: &str) -> Result<String, UnpackError> {
    match entry.link_name_bytes() {
        Some(t) if !t.is_empty() => Ok(String::from_utf8_lossy(&t).into_owned()),
        _ => Err(refused(path, "a link without a target")),
    }
}

fn refused(entry: &str, why: impl Into<String>) -> UnpackError {
    UnpackError::Refused {
        entry: entry.to_string(),
        why: why.into(),
    }
}

fn sys_err(entry: &str, op: &'static str, errno: Errno) -> UnpackError {
    UnpackError::Sys {
        entry: entry.to_string(),
        op,
        errno,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_or_refused() {
        assert_eq!(clean("./a//b/./c").unwrap(), "a/b/c");
        assert_eq!(clean("./").unwrap(), "");
        assert!(clean("a/../b").unwrap_err().contains(".."));
        assert!(clean("/etc/passwd").unwrap_err().contains("absolute"));
    }
}
