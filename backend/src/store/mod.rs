//! The content-addressed image store: images imported from `docker save`/`podman save`
//! archives and OCI image layouts, made by `commit`, and the built-in trees, each a stack of
//! read-only unpacked layers the sandbox mounts as overlayfs lower dirs.
//!
//! # Layout of `<state_dir>/store/`
//!
//! ```text
//! lock                       flock(2) of writers (import, commit, remove, prune, export of a built-in)
//! index.json                 {"names": {"debian:12": "sha256:<manifest>"}}
//! images/<hex>.json          one image (ImageRecord): config essentials, layers bottom first;
//!                            its mtime is the image's last use (LRU eviction)
//! layers/<hex>/              an unpacked layer, keyed by diff_id: whiteouts are char 0:0
//!                            devices, opaque dirs carry user.overlay.opaque=y; never changed
//! layers/<hex>.entries.json  its entries as its tar listed them (Vec<LayerEntry>)
//! layers/<hex>.json          its record (size, entry count): present = layer complete
//! blobs/sha256/<hex>         blobs as shipped: compressed layers, configs, manifests (export)
//! builtin/<dir>.json         cached listing of a built-in tree (images.rs builds the trees)
//! builtin/<dir>.image        the digest of the built-in tree turned into a real image (for
//!                            export and commit)
//! tmp/                       work in progress; emptied by `Store::open` when no writer runs
//! ```
//!
//! Every file is written atomically (temp file in `tmp/`, fsync, rename, fsync of the
//! directory); an unpacked tree is renamed into place and the file system flushed (`syncfs`)
//! before its record is written; an image's record is written after its layers' and its names
//! last. A reader (`resolve`, from any process, without the lock) therefore sees an image
//! entirely or not at all, and a killed writer leaves only `tmp/` leftovers (removed by the
//! next `open`) or complete layers no image uses (removed by `prune`).
//!
//! # API (what the engine and the HTTP server call)
//!
//! - [`Store::open`]`(&EngineConfig)`; [`Store::open_with`] to set [`StoreLimits`].
//! - [`Store::resolve`]`(&ImageRef) -> Resolved { summary, layers }`: unpacked layer dirs,
//!   BOTTOM FIRST (overlayfs wants `lowerdir=top:...:bottom`: reverse them). One small JSON
//!   read (two for a name) and a utimens of the record; for `tools`/`busybox` the dir images.rs
//!   builds.
//! - [`Store::list`], [`Store::inspect`], [`Store::listing`] (each layer with its entries).
//! - [`Store::import`]`(path, name) -> Imported { summary, warnings }` (warnings: dropped
//!   device nodes and FIFOs, stripped setuid/setgid bits).
//! - [`Store::remove`], [`Store::prune`], [`Store::export`] (an OCI image layout tar),
//!   [`Store::commit`]`(upper_dir, parent, name, created_by)`, [`Store::commit_tar`] (a layer
//!   tar from a sandbox's `commit` step).
//!
//! Errors: [`StoreError::is_invalid_input`] tells a bad request (unknown image, bad archive)
//! from a failure of the machine.
//!
//! Files: `layout.rs` (paths, atomic writes, lock, records), `source.rs` (reading archives and
//! layouts), `stream.rs` (compression, hashing, size caps), `unpack.rs` (the hostile-tar
//! unpacker), `import.rs` (staging and installing), `tree.rs` (directory -> layer tar),
//! `commit.rs`, `export.rs`, `builtin.rs`, `gc.rs` (remove, prune, quota).

mod builtin;
mod commit;
mod export;
mod gc;
mod import;
mod layout;
mod source;
mod stream;
pub(crate) mod tree;
mod unpack;

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rootlab_shared::image::{ImageDetail, ImageRef, ImageSummary, LayerEntry, LayerInfo};

use crate::config::EngineConfig;
use crate::images::{Builtin, ImageError};
pub use gc::Pruned;
use layout::{ImageRecord, Index, LayerRecord, Layout, LayoutError, WriteLock};
pub use source::SourceError;
pub use unpack::UnpackError;

/// Limits of the store; each from an environment variable when set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreLimits {
    /// Bytes of unpacked layers and blobs the store may hold (`ROOTLAB_STORE_QUOTA_BYTES`,
    /// default 8 GiB); past it, least recently used images are evicted.
    pub quota_bytes: u64,
    /// Entries one import may unpack (`ROOTLAB_STORE_MAX_ENTRIES`, default 500,000).
    pub max_entries: u64,
    /// Decompressed bytes one import may read (`ROOTLAB_STORE_MAX_UNPACKED_BYTES`, default
    /// 4 GiB).
    pub max_unpacked_bytes: u64,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            quota_bytes: 8 << 30,
            max_entries: 500_000,
            max_unpacked_bytes: 4 << 30,
        }
    }
}

impl StoreLimits {
    pub fn from_env() -> Self {
        let var = |k: &str, d: u64| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(d)
        };
        let d = StoreLimits::default();
        StoreLimits {
            quota_bytes: var("ROOTLAB_STORE_QUOTA_BYTES", d.quota_bytes),
            max_entries: var("ROOTLAB_STORE_MAX_ENTRIES", d.max_entries),
            max_unpacked_bytes: var("ROOTLAB_STORE_MAX_UNPACKED_BYTES", d.max_unpacked_bytes),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no image `{0}` in the store (`rootlab images ls` lists them)")]
    Unknown(String),
    #[error("`{0}` is not an image reference: {1}")]
    BadRef(String, String),
    #[error("{0}")]
    Invalid(String),
    #[error("an image named `{0}` is already in the store; a commit never replaces one (`rootlab images rm {0}` first, or choose another name)")]
    Taken(String),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{layer}: {error}")]
    Unpack { layer: String, error: UnpackError },
    #[error("the image needs {need} bytes, more than the store's quota of {quota} bytes (ROOTLAB_STORE_QUOTA_BYTES)")]
    Quota { need: u64, quota: u64 },
    #[error(transparent)]
    Builtin(#[from] ImageError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("{what} {}: {err}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        err: io::Error,
    },
}

impl StoreError {
    fn io(what: &'static str, path: &Path, err: io::Error) -> Self {
        StoreError::Io {
            what,
            path: path.to_path_buf(),
            err,
        }
    }

    /// A bad request (unknown image, bad reference, a refused archive) rather than a failure
    /// of this machine.
    pub fn is_invalid_input(&self) -> bool {
        match self {
            StoreError::Unknown(_)
            | StoreError::BadRef(..)
            | StoreError::Invalid(_)
            | StoreError::Taken(_)
            | StoreError::Unpack { .. } => true,
            // The tar and compression readers report a malformed archive as an I/O error with
            // no OS error behind it; ENOSPC, EIO and the like are this machine's.
            StoreError::Source(SourceError::Read(e)) => e.raw_os_error().is_none(),
            StoreError::Source(_) => true,
            _ => false,
        }
    }
}

/// What a run needs of an image.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    pub summary: ImageSummary,
    /// Unpacked layer directories, BOTTOM FIRST.
    pub layers: Vec<PathBuf>,
}

/// What an import made, and what it dropped or changed on the way.
#[derive(Clone, Debug, PartialEq)]
pub struct Imported {
    pub summary: ImageSummary,
    /// Device nodes and FIFOs dropped, setuid/setgid bits stripped: one sentence each.
    pub warnings: Vec<String>,
}

/// What [`Store::commit_tar`] read of a layer tar, and the image it made.
#[derive(Clone, Debug, PartialEq)]
pub struct CommittedTar {
    pub layer: LayerInfo,
    /// As [`Store::listing`] lists a layer.
    pub entries: Vec<LayerEntry>,
    /// Device nodes and FIFOs dropped, setuid/setgid bits stripped.
    pub warnings: Vec<String>,
    /// The new image, when a name was given.
    pub image: Option<ImageSummary>,
}

/// The image store of one state directory.
pub struct Store {
    cfg: EngineConfig,
    layout: Layout,
    limits: StoreLimits,
}

impl Store {
    /// The store under `<state_dir>/store`, with limits from the environment.
    pub fn open(cfg: &EngineConfig) -> Result<Store, StoreError> {
        Store::open_with(cfg, StoreLimits::from_env())
    }

    /// The store with explicit limits. Creates it if needed, and when no writer is at work
    /// removes the leftovers of interrupted ones.
    pub fn open_with(cfg: &EngineConfig, limits: StoreLimits) -> Result<Store, StoreError> {
        let layout = Layout {
            root: cfg.state_dir.join("store"),
        };
        layout.create()?;
        let store = Store {
            cfg: cfg.clone(),
            layout,
            limits,
        };
        if let Some(_lock) = WriteLock::take(&store.layout, false)? {
            gc::clean_leftovers(&store)?;
        }
        Ok(store)
    }

    /// A fresh path for a download or an upload on its way into the store,
    /// `<state>/incoming/<kind>-<pid>-<random>`: outside the store (a pull holds no lock while it
    /// downloads) and removed by its caller. What processes that are gone left there is removed
    /// first.
    pub fn incoming(&self, kind: &str) -> Result<PathBuf, StoreError> {
        let dir = self.cfg.state_dir.join("incoming");
        fs::create_dir_all(&dir).map_err(|e| StoreError::io("creating", &dir, e))?;
        gc::remove_stale_incoming(&dir);
        let mut id = [0u8; 8];
        let _ = getrandom::fill(&mut id);
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        Ok(dir.join(format!("{kind}-{}-{hex}", std::process::id())))
    }

    /// The engine configuration it was opened with (its state dir holds the store).
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    pub fn limits(&self) -> &StoreLimits {
        &self.limits
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.layout.root
    }

    /// The image's summary and unpacked layer dirs (bottom first); marks it used.
    pub fn resolve(&self, image: &ImageRef) -> Result<Resolved, StoreError> {
        if let Some(b) = Builtin::named(image) {
            let (rec, dir) = builtin::load(self, b)?;
            let summary = builtin::summary(&rec, b);
            return Ok(Resolved {
                summary,
                layers: vec![dir],
            });
        }
        let (rec, name) = self.find(image)?;
        touch(&self.layout.image_record(&rec.digest));
        let layers = rec
            .layers
            .iter()
            .map(|l| self.layout.layer_dir(&l.diff_id))
            .collect();
        Ok(Resolved {
            summary: summary(&rec, name),
            layers,
        })
    }

    /// Every image: the built-ins, then one row per name, then unnamed images (by digest).
    pub fn list(&self) -> Result<Vec<ImageSummary>, StoreError> {
        let mut out = Vec::new();
        for b in Builtin::ALL {
            match builtin::load(self, b) {
                Ok((rec, _)) => out.push(builtin::summary(&rec, b)),
                Err(StoreError::Builtin(ImageError::Missing(..))) => {}
                Err(e) => return Err(e),
            }
        }
        let index = Index::load(&self.layout)?;
        let records = gc::all_images(self)?;
        for (name, digest) in &index.names {
            if let Some(rec) = records.iter().find(|r| &r.digest == digest) {
                out.push(summary(rec, name.clone()));
            }
        }
        for rec in &records {
            let named = index.names.values().any(|d| d == &rec.digest);
            if !named && rec.source != "builtin" {
                out.push(summary(rec, rec.digest.clone()));
            }
        }
        Ok(out)
    }

    /// The image's config essentials and layers.
    pub fn inspect(&self, image: &ImageRef) -> Result<ImageDetail, StoreError> {
        if let Some(b) = Builtin::named(image) {
            let (rec, _) = builtin::load(self, b)?;
            return Ok(ImageDetail {
                summary: builtin::summary(&rec, b),
                architecture: host_platform().1.to_string(),
                os: "linux".into(),
                env: vec![],
                entrypoint: vec![],
                cmd: vec![],
                working_dir: None,
                layers: vec![builtin::layer_info(&rec)],
            });
        }
        let (rec, name) = self.find(image)?;
        Ok(ImageDetail {
            summary: summary(&rec, name),
            architecture: rec.architecture.clone(),
            os: rec.os.clone(),
            env: rec.env.clone(),
            entrypoint: rec.entrypoint.clone(),
            cmd: rec.cmd.clone(),
            working_dir: rec.working_dir.clone(),
            layers: rec.layers,
        })
    }

    /// Each layer (bottom first) with its entries as its tar listed them.
    pub fn listing(
        &self,
        image: &ImageRef,
    ) -> Result<Vec<(LayerInfo, Vec<LayerEntry>)>, StoreError> {
        if let Some(b) = Builtin::named(image) {
            let (rec, _) = builtin::load(self, b)?;
            let info = builtin::layer_info(&rec);
            return Ok(vec![(info, rec.entries)]);
        }
        let (rec, _) = self.find(image)?;
        let mut out = Vec::new();
        for info in rec.layers {
            let entries = layout::read_entries(&self.layout, &info.diff_id)?;
            out.push((info, entries));
        }
        Ok(out)
    }

    /// Import a `docker save`/`podman save` archive or an OCI image layout (directory or tar),
    /// named `name` (else by the archive's own names, else only by digest).
    pub fn import(&self, path: &Path, name: Option<&str>) -> Result<Imported, StoreError> {
        self.import_from(path, name, "import")
    }

    /// [`Store::import`], recording where the image came from (`import`, `pull`).
    pub fn import_from(
        &self,
        path: &Path,
        name: Option<&str>,
        source: &'static str,
    ) -> Result<Imported, StoreError> {
        let _lock = self.lock()?;
        let rec = import::import(self, path, name, source)?;
        gc::enforce_quota(self, &rec.digest)?;
        let index = Index::load(&self.layout)?;
        let name = shown_name(&index, &rec.digest, name.map(normalized).as_deref());
        Ok(Imported {
            summary: summary(&rec, name),
            warnings: rec.warnings,
        })
    }

    /// Remove a name (the image goes with its last name), or an image by digest with all its
    /// names. Its layers and blobs stay until [`Store::prune`].
    pub fn remove(&self, image: &ImageRef) -> Result<(), StoreError> {
        if image.is_builtin() {
            return Err(StoreError::Invalid(format!(
                "`{image}` is built in and cannot be removed"
            )));
        }
        let _lock = self.lock()?;
        let (rec, _) = self.find(image)?;
        gc::remove(self, image, &rec.digest)
    }

    /// Remove the layers and blobs no image uses, and leftovers of interrupted writers.
    pub fn prune(&self) -> Result<Pruned, StoreError> {
        let _lock = self.lock()?;
        gc::clean_leftovers(self)?;
        gc::prune(self)
    }

    /// Write the image as an OCI image layout tar to `out` (atomically).
    pub fn export(&self, image: &ImageRef, out: &Path) -> Result<(), StoreError> {
        let rec = match Builtin::named(image) {
            Some(b) => {
                let _lock = self.lock()?;
                builtin::materialize(self, b)?
            }
            None => self.find(image)?.0,
        };
        let name = match image.digest() {
            Some(_) => None,
            None => Some(normalized(image.as_str())),
        };
        export::export(self, &rec, name.as_deref(), out)
    }

    /// A new image: `parent`'s layers plus the overlayfs upper dir `upper` as one more layer
    /// (whiteouts and opaque dirs as the OCI spec writes them), with `created_by` in its
    /// history. `upper` must not change meanwhile (commit after the run).
    pub fn commit(
        &self,
        upper: &Path,
        parent: &ImageRef,
        name: Option<&str>,
        created_by: &str,
    ) -> Result<ImageSummary, StoreError> {
        let _lock = self.lock()?;
        let rec = commit::commit(self, upper, parent, name, created_by)?;
        gc::enforce_quota(self, &rec.digest)?;
        let index = Index::load(&self.layout)?;
        let name = shown_name(&index, &rec.digest, name.map(normalized).as_deref());
        Ok(summary(&rec, name))
    }

    /// A layer tar made in a sandbox (hostile: it goes through the hardened unpacker): read and
    /// listed, and with a `name` installed as a new image, `parent`'s layers plus this one,
    /// `created_by` in its history. A name already in the store is refused, never replaced.
    pub fn commit_tar(
        &self,
        tar: &[u8],
        parent: &ImageRef,
        name: Option<&str>,
        created_by: &str,
    ) -> Result<CommittedTar, StoreError> {
        let _lock = self.lock()?;
        let made = commit::commit_tar(self, tar, parent, name, created_by)?;
        let image = match made.image {
            Some(rec) => {
                gc::enforce_quota(self, &rec.digest)?;
                let index = Index::load(&self.layout)?;
                let name = shown_name(&index, &rec.digest, name.map(normalized).as_deref());
                Some(summary(&rec, name))
            }
            None => None,
        };
        Ok(CommittedTar {
            layer: made.layer,
            entries: made.entries,
            warnings: made.warnings,
            image,
        })
    }

    // ---- for the other files of the store ----

    fn lock(&self) -> Result<WriteLock, StoreError> {
        Ok(WriteLock::take(&self.layout, true)?.expect("a waiting lock is taken"))
    }

    /// The record of a stored image and the name to show for it.
    fn find(&self, image: &ImageRef) -> Result<(ImageRecord, String), StoreError> {
        image
            .check()
            .map_err(|why| StoreError::BadRef(image.to_string(), why))?;
        let unknown = || StoreError::Unknown(image.to_string());
        let (digest, name) = match image.digest() {
            Some(d) => (d.to_string(), None),
            None => {
                let name = image.normalized();
                let index = Index::load(&self.layout)?;
                let d = index.names.get(&name).ok_or_else(unknown)?.clone();
                (d, Some(name))
            }
        };
        let path = self.layout.image_record(&digest);
        if !path.exists() {
            return Err(unknown());
        }
        let rec: ImageRecord = layout::read_json(&path)?;
        let name = match name {
            Some(n) => n,
            None => shown_name(&Index::load(&self.layout)?, &digest, None),
        };
        Ok((rec, name))
    }

    fn layer_record(&self, diff_id: &str) -> Option<LayerRecord> {
        layout::read_json(&self.layout.layer_record(diff_id)).ok()
    }

    /// Owner of unpacked files: the sandbox uid/gid when running as root.
    fn owner(&self) -> Option<unpack::Owner> {
        (self.cfg.is_root() && self.cfg.sandbox_uid != 0).then_some(unpack::Owner {
            uid: self.cfg.sandbox_uid,
            gid: self.cfg.sandbox_gid,
        })
    }

    fn budgets(&self) -> import::Budgets {
        import::Budgets {
            bytes: stream::Budget::new(self.limits.max_unpacked_bytes),
            entries_left: self.limits.max_entries,
            entry_limit: self.limits.max_entries,
        }
    }
}

fn summary(rec: &ImageRecord, name: String) -> ImageSummary {
    ImageSummary {
        name,
        digest: rec.digest.clone(),
        layers: rec.layers.len(),
        size: rec.size(),
        source: rec.source.clone(),
        created: rec.created.clone(),
    }
}

/// `preferred` if it names the image, else its first name, else its digest.
fn shown_name(index: &Index, digest: &str, preferred: Option<&str>) -> String {
    let names = index.names_of(digest);
    match preferred {
        Some(p) if names.iter().any(|n| n == p) => p.to_string(),
        _ => names
            .into_iter()
            .next()
            .unwrap_or_else(|| digest.to_string()),
    }
}

fn normalized(name: &str) -> String {
    ImageRef(name.to_string()).normalized()
}

/// A name an import or commit may give: a valid reference, not a digest, not a built-in.
fn check_new_name(name: &str) -> Result<String, StoreError> {
    let r = ImageRef(name.to_string());
    r.check()
        .map_err(|why| StoreError::BadRef(name.to_string(), why))?;
    if r.digest().is_some() || r.is_builtin() {
        return Err(StoreError::Invalid(format!(
            "`{name}` cannot name an imported image (a digest, or a built-in's name)"
        )));
    }
    Ok(r.normalized())
}

/// `(os, architecture)` of this machine, in OCI terms.
fn host_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    ("linux", arch)
}

/// Mark the image used now (its record's mtime); best effort.
fn touch(record: &Path) {
    if let Ok(f) = File::options().append(true).open(record) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// Remove a file or tree if present.
fn remove_path(path: &Path) -> Result<(), StoreError> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        _ => layout::remove_tree(path).map_err(|e| StoreError::io("removing", path, e)),
    }
}
