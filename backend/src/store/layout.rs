//! Where the store keeps what (see the layout in `store/mod.rs`), how it writes (atomically:
//! temp file, fsync, rename, fsync of the directory), its writers' lock and its records.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rootlab_shared::image::{LayerEntry, LayerInfo};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::sandbox::sys;

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("{what} {}: {err}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        err: io::Error,
    },
    #[error("the store record {} is damaged: {err}", path.display())]
    Record {
        path: PathBuf,
        err: serde_json::Error,
    },
}

/// Shorthand to attach what was being done, and to which path, to an I/O error.
pub fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> LayoutError {
    let path = path.to_path_buf();
    move |err| LayoutError::Io { what, path, err }
}

/// The store's paths below `<state_dir>/store`.
#[derive(Clone, Debug)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn blobs(&self) -> PathBuf {
        self.root.join("blobs/sha256")
    }
    pub fn blob(&self, digest: &str) -> PathBuf {
        self.blobs().join(hex_of(digest))
    }
    pub fn layers(&self) -> PathBuf {
        self.root.join("layers")
    }
    /// The unpacked tree of a layer (an overlayfs lower dir).
    pub fn layer_dir(&self, diff_id: &str) -> PathBuf {
        self.layers().join(hex_of(diff_id))
    }
    /// The layer's record; its presence marks the layer complete.
    pub fn layer_record(&self, diff_id: &str) -> PathBuf {
        self.layers().join(format!("{}.json", hex_of(diff_id)))
    }
    /// The layer's entries as its tar listed them.
    pub fn layer_entries(&self, diff_id: &str) -> PathBuf {
        self.layers()
            .join(format!("{}.entries.json", hex_of(diff_id)))
    }
    pub fn images(&self) -> PathBuf {
        self.root.join("images")
    }
    /// An image's record (its mtime is its last use).
    pub fn image_record(&self, digest: &str) -> PathBuf {
        self.images().join(format!("{}.json", hex_of(digest)))
    }
    /// Names -> manifest digests.
    pub fn index(&self) -> PathBuf {
        self.root.join("index.json")
    }
    pub fn builtin(&self) -> PathBuf {
        self.root.join("builtin")
    }
    /// Work in progress; anything here is a leftover once the writers' lock is free.
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("lock")
    }

    /// Create the directories (searchable by the sandbox uid, which reads layers).
    pub fn create(&self) -> Result<(), LayoutError> {
        for dir in [
            self.root.clone(),
            self.root.join("blobs"),
            self.blobs(),
            self.layers(),
            self.images(),
            self.builtin(),
            self.tmp(),
        ] {
            fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
            let mode = fs::Permissions::from_mode(if dir == self.tmp() { 0o700 } else { 0o755 });
            fs::set_permissions(&dir, mode).map_err(io_err("setting the mode of", &dir))?;
        }
        if let Some(state) = self.root.parent() {
            let _ = fs::set_permissions(state, fs::Permissions::from_mode(0o755));
        }
        Ok(())
    }

    /// A fresh, unique path in `tmp/` (`kind` says what it is for).
    pub fn temp_path(&self, kind: &str) -> PathBuf {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        self.tmp()
            .join(format!("{kind}-{}-{n}", std::process::id()))
    }
}

/// The hex part of `sha256:<hex>` (or the string itself).
pub fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// Is `digest` a well-formed `sha256:<64 lowercase hex>`?
pub fn is_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// Write `bytes` to `path` atomically: a temp file in `tmp_dir` (same file system), fsync,
/// rename over `path`, fsync of `path`'s directory.
pub fn write_atomic(tmp_dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), LayoutError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = tmp_dir.join(format!("write-{}-{n}", std::process::id()));
    let res = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.set_permissions(fs::Permissions::from_mode(0o644))?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(path.parent().unwrap_or(Path::new(".")))
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res.map_err(io_err("writing", path))
}

pub fn write_json<T: Serialize>(tmp_dir: &Path, path: &Path, value: &T) -> Result<(), LayoutError> {
    let bytes = serde_json::to_vec(value).expect("store records serialize");
    write_atomic(tmp_dir, path, &bytes)
}

pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, LayoutError> {
    let bytes = fs::read(path).map_err(io_err("reading", path))?;
    serde_json::from_slice(&bytes).map_err(|err| LayoutError::Record {
        path: path.to_path_buf(),
        err,
    })
}

pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Remove a tree, making its directories writable first (layers may hold read-only ones).
pub fn remove_tree(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
        Ok(m) if !m.is_dir() => return fs::remove_file(path),
        Ok(_) => {}
    }
    if fs::remove_dir_all(path).is_ok() {
        return Ok(());
    }
    open_up(path)?;
    fs::remove_dir_all(path)
}

fn open_up(dir: &Path) -> io::Result<()> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            open_up(&entry.path())?;
        }
    }
    Ok(())
}

/// The writers' lock (`flock` on `store/lock`), released when dropped.
pub struct WriteLock {
    _lock: nix::fcntl::Flock<File>,
}

impl WriteLock {
    /// Wait for the lock (`wait`), or try it once (`None` when another writer holds it).
    pub fn take(layout: &Layout, wait: bool) -> Result<Option<WriteLock>, LayoutError> {
        let path = layout.lock_file();
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("opening", &path))?;
        match sys::lock_exclusive(file, wait) {
            Ok(lock) => Ok(Some(WriteLock { _lock: lock })),
            Err(sys::Errno::EWOULDBLOCK) if !wait => Ok(None),
            Err(e) => Err(LayoutError::Io {
                what: "locking",
                path,
                err: e.into(),
            }),
        }
    }
}

/// `store/index.json`: what names point at.
#[derive(Serialize, Deserialize, Default, Debug, Clone)]
pub struct Index {
    pub names: BTreeMap<String, String>,
}

impl Index {
    pub fn load(layout: &Layout) -> Result<Index, LayoutError> {
        match fs::metadata(layout.index()) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Index::default()),
            _ => read_json(&layout.index()),
        }
    }

    pub fn save(&self, layout: &Layout) -> Result<(), LayoutError> {
        write_json(&layout.tmp(), &layout.index(), self)
    }

    /// The names pointing at `digest`, sorted.
    pub fn names_of(&self, digest: &str) -> Vec<String> {
        let names = self.names.iter().filter(|(_, d)| *d == digest);
        names.map(|(n, _)| n.clone()).collect()
    }
}

/// `layers/<hex>.json`: one unpacked layer (its entries are in `<hex>.entries.json`).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct LayerRecord {
    pub diff_id: String,
    pub size: u64,
    pub entries: usize,
}

/// `images/<hex>.json`: one image, everything `resolve` and `inspect` need.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ImageRecord {
    /// The manifest's digest (its blob is `blobs/sha256/<hex>`).
    pub digest: String,
    pub config_digest: String,
    /// `builtin` (a built-in tree turned into a real layer), `import`, `commit`.
    pub source: String,
    #[serde(default)]
    pub created: Option<String>,
    pub architecture: String,
    pub os: String,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub entrypoint: Vec<String>,
    #[serde(default)]
    pub cmd: Vec<String>,
    #[serde(default)]
    pub working_dir: Option<String>,
    /// Bottom first.
    pub layers: Vec<LayerInfo>,
    /// What the import dropped or changed (device nodes, setuid bits).
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl ImageRecord {
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }
}

/// The entries of a layer.
pub fn read_entries(layout: &Layout, diff_id: &str) -> Result<Vec<LayerEntry>, LayoutError> {
    read_json(&layout.layer_entries(diff_id))
}
