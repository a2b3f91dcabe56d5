//! Importing an image: stage and verify every blob, unpack the layers the store lacks into
//! `tmp/`, then install (rename into place, records, names) with the layer records before the
//! image's and the names last, so a reader never meets half an image.

use std::fs::{self, File};
use std::io::{self, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use oci_spec::image::ImageConfiguration;
use rootlab_shared::image::{LayerEntry, LayerInfo};

use super::layout::{self, io_err, sha256_hex, ImageRecord, Index, LayerRecord};
use super::source::{self, LayerSource, SourceError};
use super::stream::{self, Budget, Capped, Compression, Hashing};
use super::unpack::{UnpackError, Unpacker};
use super::{Store, StoreError};
use crate::sandbox::sys;

/// A layer about to be installed.
pub struct NewLayer {
    pub info: LayerInfo,
    pub media_type: String,
    /// The blob in `tmp/`, or `None` when the store has it already.
    pub staged_blob: Option<PathBuf>,
    /// The unpacked tree in `tmp/` and its entries, or `None` when the store has the layer.
    pub unpacked: Option<(PathBuf, Vec<LayerEntry>)>,
}

/// An image about to be installed.
pub struct NewImage {
    pub config: Vec<u8>,
    /// The manifest as shipped; `None`: the store writes an OCI manifest.
    pub manifest: Option<Vec<u8>>,
    pub layers: Vec<NewLayer>,
    pub source: &'static str,
    pub names: Vec<String>,
    pub warnings: Vec<String>,
}

/// Per-import budgets.
pub struct Budgets {
    pub bytes: Budget,
    pub entries_left: u64,
    pub entry_limit: u64,
}

/// Removes its `tmp/` paths when dropped (an import that fails leaves nothing).
pub struct Scratch(pub Vec<PathBuf>);

impl Drop for Scratch {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = layout::remove_tree(p);
        }
    }
}

pub fn import(
    store: &Store,
    path: &Path,
    name: Option<&str>,
    source: &'static str,
) -> Result<ImageRecord, StoreError> {
    let name = name.map(super::check_new_name).transpose()?;
    let mut scratch = Scratch(vec![]);
    let mut budgets = store.budgets();
    let src_dir = store.layout.temp_path("source");
    scratch.0.push(src_dir.clone());
    let archive_budget = Budget::new(budgets.bytes.limit);
    let dir = source::open(path, &src_dir, &archive_budget)?;
    let plan = source::plan(&dir, super::host_platform())?;
    let config = parse_config(&plan.config)?;
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != plan.layers.len() {
        return Err(StoreError::Invalid(format!(
            "the config lists {} layers (rootfs.diff_ids), the manifest {}",
            diff_ids.len(),
            plan.layers.len()
        )));
    }
    let mut layers = Vec::new();
    let mut warnings = Vec::new();
    for (src, diff_id) in plan.layers.iter().zip(diff_ids) {
        let (layer, warn) = import_layer(store, src, diff_id, &mut budgets, &mut scratch)?;
        layers.push(layer);
        warnings.extend(warn);
    }
    let keep_manifest = plan.manifest.filter(|_| {
        // The shipped manifest stays valid only if every blob is kept as it names it.
        plan.layers
            .iter()
            .zip(&layers)
            .all(|(s, l)| s.digest.as_deref() == l.info.digest.as_deref())
    });
    let mut names: Vec<String> = match name {
        Some(n) => vec![n],
        None => plan
            .names
            .iter()
            .filter_map(|n| super::check_new_name(short_name(n)).ok())
            .collect(),
    };
    names.dedup();
    let img = NewImage {
        config: plan.config,
        manifest: keep_manifest,
        layers,
        source,
        names,
        warnings,
    };
    install(store, img)
}

/// A name as Docker shows it: without `docker.io/` (and `library/` after it).
fn short_name(name: &str) -> &str {
    let rest = name.strip_prefix("docker.io/").unwrap_or(name);
    rest.strip_prefix("library/")
        .filter(|_| rest != name)
        .unwrap_or(rest)
}

pub fn parse_config(bytes: &[u8]) -> Result<ImageConfiguration, StoreError> {
    serde_json::from_slice::<serde_json::Value>(bytes).map_err(|e| SourceError::BadJson {
        what: "the image config".into(),
        why: e.to_string(),
    })?;
    ImageConfiguration::from_reader(bytes).map_err(|e| {
        StoreError::Source(SourceError::BadJson {
            what: "the image config".into(),
            why: e.to_string(),
        })
    })
}

fn import_layer(
    store: &Store,
    src: &LayerSource,
    diff_id: &str,
    budgets: &mut Budgets,
    scratch: &mut Scratch,
) -> Result<(NewLayer, Vec<String>), StoreError> {
    let what = format!(
        "layer {}",
        src.path.file_name().unwrap_or_default().to_string_lossy()
    );
    let (blob, digest, blob_size) = stage_blob(store, src, &what)?;
    scratch.0.push(blob.clone());
    let magic = stream::magic_of(&blob).map_err(io_err("reading", &blob))?;
    let c = stream::detect(src.media_type.as_deref(), &magic)
        .map_err(|e| StoreError::Invalid(format!("{what}: {e}")))?;
    let media_type = src
        .media_type
        .clone()
        .unwrap_or_else(|| c.oci_media_type().to_string());
    let mut info = LayerInfo {
        diff_id: diff_id.to_string(),
        digest: Some(digest),
        blob_size: Some(blob_size),
        size: 0,
        entries: 0,
        created_by: None,
    };
    if let Some(rec) = store.layer_record(diff_id) {
        info.size = rec.size;
        info.entries = rec.entries;
        let layer = NewLayer {
            info,
            media_type,
            staged_blob: Some(blob),
            unpacked: None,
        };
        return Ok((layer, vec![]));
    }
    let (dir, unpacked, got) =
        unpack_blob(store, &blob, c, budgets, scratch).map_err(|e| StoreError::Unpack {
            layer: what.clone(),
            error: e,
        })?;
    if got != diff_id {
        return Err(StoreError::Invalid(format!(
            "{what}: the uncompressed tar hashes to {got}, the config's rootfs.diff_ids says {diff_id}"
        )));
    }
    info.size = unpacked.size;
    info.entries = unpacked.count;
    let layer = NewLayer {
        info,
        media_type,
        staged_blob: Some(blob),
        unpacked: Some((dir, unpacked.entries)),
    };
    Ok((layer, unpacked.warnings))
}

/// Copy a blob into `tmp/` while hashing it; checked against its descriptor.
fn stage_blob(
    store: &Store,
    src: &LayerSource,
    what: &str,
) -> Result<(PathBuf, String, u64), StoreError> {
    let tmp = store.layout.temp_path("blob");
    let res = (|| {
        let input = File::open(&src.path).map_err(|_| SourceError::MissingBlob {
            referrer: "the manifest".into(),
            blob: src.path.display().to_string(),
        })?;
        let mut reader = Hashing::new(BufReader::new(input));
        let mut out = File::create(&tmp).map_err(SourceError::Read)?;
        io::copy(&mut reader, &mut out).map_err(SourceError::Read)?;
        out.sync_all().map_err(SourceError::Read)?;
        let (digest, size) = reader.finish();
        if let Some(want) = src.size.filter(|w| size < *w) {
            return Err(SourceError::Truncated {
                what: what.into(),
                got: size,
                want,
            });
        }
        if let Some(want) = &src.digest {
            if *want != digest || src.size.is_some_and(|w| w != size) {
                return Err(SourceError::DigestMismatch {
                    what: what.into(),
                    want: want.clone(),
                    got: digest,
                });
            }
        }
        Ok((digest, size))
    })();
    match res {
        Ok((digest, size)) => Ok((tmp, digest, size)),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e.into())
        }
    }
}

/// Unpack a (verified) blob into a new directory in `tmp/`: the directory, what it holds and
/// the digest of the uncompressed tar (its diff_id).
pub fn unpack_blob(
    store: &Store,
    blob: &Path,
    c: Compression,
    budgets: &mut Budgets,
    scratch: &mut Scratch,
) -> Result<(PathBuf, super::unpack::Unpacked, String), UnpackError> {
    let dir = store.layout.temp_path("layer");
    scratch.0.push(dir.clone());
    let io_fail = |e: io::Error| UnpackError::Read(e);
    fs::create_dir(&dir).map_err(io_fail)?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).map_err(io_fail)?;
    if let Some(o) = store.owner() {
        sys::lchown(&dir, o.uid, o.gid).map_err(|e| UnpackError::Read(e.into()))?;
    }
    let root = sys::open_dir(&dir).map_err(|e| UnpackError::Read(e.into()))?;
    let file = File::open(blob).map_err(io_fail)?;
    let decoded = stream::decoder(c, BufReader::new(file))
        .map_err(|e| UnpackError::Read(io::Error::other(e.to_string())))?;
    let capped = Capped::new(decoded, budgets.bytes.clone());
    let mut archive = tar::Archive::new(Hashing::new(capped));
    let limit = budgets.entry_limit;
    let res =
        Unpacker::new(&root, store.owner(), &mut budgets.entries_left, limit).run(&mut archive);
    let bomb = |e: UnpackError| {
        if budgets.bytes.exceeded() {
            UnpackError::TooBig(budgets.bytes.limit)
        } else {
            e
        }
    };
    let unpacked = res.map_err(bomb)?;
    // The diff_id covers the whole stream, the end-of-archive blocks and padding included.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| bomb(UnpackError::Read(e)))?;
    let (diff_id, _) = rest.finish();
    Ok((dir, unpacked, diff_id))
}

/// Install a staged image: blobs, layers (tree, entries, record), the image record, names.
pub fn install(store: &Store, img: NewImage) -> Result<ImageRecord, StoreError> {
    let l = &store.layout;
    let config_digest = sha256_hex(&img.config);
    let manifest = match &img.manifest {
        Some(m) => m.clone(),
        None => oci_manifest(&config_digest, img.config.len(), &img.layers),
    };
    let digest = sha256_hex(&manifest);
    let config = parse_config(&img.config)?;
    for layer in &img.layers {
        if let (Some(staged), Some(d)) = (&layer.staged_blob, &layer.info.digest) {
            place_blob(l, staged, d)?;
        }
    }
    for (bytes, d) in [(&img.config, &config_digest), (&manifest, &digest)] {
        if !l.blob(d).exists() {
            layout::write_atomic(&l.tmp(), &l.blob(d), bytes)?;
        }
    }
    let mut placed = false;
    for layer in &img.layers {
        if let Some((dir, _)) = &layer.unpacked {
            placed |= place_layer_dir(store, dir, &layer.info.diff_id)?;
        }
    }
    if placed {
        // One flush of the file system instead of an fsync per unpacked file.
        let root = File::open(&l.root).map_err(|e| StoreError::io("syncing", &l.root, e))?;
        sys::syncfs(&root.into()).map_err(|e| StoreError::io("syncing", &l.root, e.into()))?;
    }
    for layer in &img.layers {
        if let Some((_, entries)) = &layer.unpacked {
            write_layer_records(store, &layer.info, entries)?;
        }
    }
    let record = image_record(&digest, &config_digest, &config, &img);
    layout::write_json(&l.tmp(), &l.image_record(&digest), &record)?;
    if !img.names.is_empty() {
        let mut index = Index::load(l)?;
        for n in &img.names {
            index.names.insert(n.clone(), digest.clone());
        }
        index.save(l)?;
    }
    Ok(record)
}

fn place_blob(l: &layout::Layout, staged: &Path, digest: &str) -> Result<(), StoreError> {
    let dest = l.blob(digest);
    if dest.exists() {
        return Ok(());
    }
    fs::set_permissions(staged, fs::Permissions::from_mode(0o644))
        .map_err(io_err("chmod", staged))?;
    fs::rename(staged, &dest).map_err(io_err("placing the blob", &dest))?;
    Ok(())
}

/// Move an unpacked tree to `layers/<hex>/` (a leftover there without a record goes first).
fn place_layer_dir(store: &Store, dir: &Path, diff_id: &str) -> Result<bool, StoreError> {
    let l = &store.layout;
    if l.layer_record(diff_id).exists() {
        return Ok(false);
    }
    let dest = l.layer_dir(diff_id);
    layout::remove_tree(&dest).map_err(io_err("removing the leftover", &dest))?;
    fs::rename(dir, &dest).map_err(io_err("placing the layer", &dest))?;
    Ok(true)
}

fn write_layer_records(
    store: &Store,
    info: &LayerInfo,
    entries: &[LayerEntry],
) -> Result<(), StoreError> {
    let l = &store.layout;
    if l.layer_record(&info.diff_id).exists() {
        return Ok(());
    }
    layout::write_json(&l.tmp(), &l.layer_entries(&info.diff_id), &entries)?;
    let rec = LayerRecord {
        diff_id: info.diff_id.clone(),
        size: info.size,
        entries: info.entries,
    };
    layout::write_json(&l.tmp(), &l.layer_record(&info.diff_id), &rec)?;
    Ok(())
}

/// An OCI manifest for the config and layers as stored.
fn oci_manifest(config_digest: &str, config_size: usize, layers: &[NewLayer]) -> Vec<u8> {
    let layers: Vec<_> = layers
        .iter()
        .map(|l| {
            serde_json::json!({
                "mediaType": l.media_type,
                "digest": l.info.digest,
                "size": l.info.blob_size,
            })
        })
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_size,
        },
        "layers": layers,
    });
    serde_json::to_vec(&manifest).expect("a manifest serializes")
}

fn image_record(
    digest: &str,
    config_digest: &str,
    config: &ImageConfiguration,
    img: &NewImage,
) -> ImageRecord {
    let c = config.config().clone().unwrap_or_default();
    let mut layers: Vec<LayerInfo> = img.layers.iter().map(|l| l.info.clone()).collect();
    let steps = config.history().clone().unwrap_or_default();
    let steps = steps.iter().filter(|h| !h.empty_layer().unwrap_or(false));
    for (layer, step) in layers.iter_mut().zip(steps) {
        layer.created_by = step.created_by().clone();
    }
    ImageRecord {
        digest: digest.to_string(),
        config_digest: config_digest.to_string(),
        source: img.source.to_string(),
        created: config.created().clone(),
        architecture: config.architecture().to_string(),
        os: config.os().to_string(),
        env: c.env().clone().unwrap_or_default(),
        entrypoint: c.entrypoint().clone().unwrap_or_default(),
        cmd: c.cmd().clone().unwrap_or_default(),
        working_dir: c.working_dir().clone().filter(|w| !w.is_empty()),
        layers,
        warnings: img.warnings.clone(),
    }
}
