//! Taking things out of the store: removing an image, pruning layers and blobs no image uses,
//! cleaning what interrupted writers left, and evicting least recently used images past the
//! quota. Callers hold the writers' lock.

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::time::SystemTime;

use rootlab_shared::image::ImageRef;

use super::layout::{self, hex_of, io_err, ImageRecord, Index};
use super::{remove_path, Store, StoreError};

/// What a prune removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    pub layers: usize,
    pub blobs: usize,
    /// Bytes freed (unpacked files and blobs).
    pub bytes: u64,
}

/// Every image record.
pub fn all_images(store: &Store) -> Result<Vec<ImageRecord>, StoreError> {
    let dir = store.layout.images();
    let mut out = Vec::new();
    for entry in fs::read_dir(&dir).map_err(io_err("listing", &dir))? {
        let path = entry.map_err(io_err("listing", &dir))?.path();
        if path.extension().is_some_and(|e| e == "json") {
            out.push(layout::read_json(&path)?);
        }
    }
    Ok(out)
}

/// Remove a name, or (for a digest, or the last name) the image.
pub fn remove(store: &Store, image: &ImageRef, digest: &str) -> Result<(), StoreError> {
    let l = &store.layout;
    let mut index = Index::load(l)?;
    if image.digest().is_some() {
        index.names.retain(|_, d| d != digest);
    } else {
        index.names.remove(&image.normalized());
    }
    index.save(l)?;
    if index.names_of(digest).is_empty() {
        remove_path(&l.image_record(digest))?;
    }
    Ok(())
}

/// Remove the temp leftovers of writers that were interrupted, and unpacked trees that never
/// got their record.
pub fn clean_leftovers(store: &Store) -> Result<(), StoreError> {
    let l = &store.layout;
    let tmp = l.tmp();
    for entry in fs::read_dir(&tmp).map_err(io_err("listing", &tmp))? {
        let path = entry.map_err(io_err("listing", &tmp))?.path();
        remove_path(&path)?;
    }
    let layers = l.layers();
    for entry in fs::read_dir(&layers).map_err(io_err("listing", &layers))? {
        let path = entry.map_err(io_err("listing", &layers))?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let hex = name.split('.').next().unwrap_or_default().to_string();
        if !l.layer_record(&hex).exists() {
            remove_path(&path)?;
        }
    }
    Ok(())
}

/// Remove layers and blobs no image record names.
pub fn prune(store: &Store) -> Result<Pruned, StoreError> {
    let l = &store.layout;
    let images = all_images(store)?;
    let mut layers_used = HashSet::new();
    let mut blobs_used = HashSet::new();
    for rec in &images {
        blobs_used.insert(hex_of(&rec.digest).to_string());
        blobs_used.insert(hex_of(&rec.config_digest).to_string());
        for layer in &rec.layers {
            layers_used.insert(hex_of(&layer.diff_id).to_string());
            if let Some(d) = &layer.digest {
                blobs_used.insert(hex_of(d).to_string());
            }
        }
    }
    let mut pruned = Pruned::default();
    for (hex, size) in stored_layers(store)? {
        if !layers_used.contains(&hex) {
            remove_layer(store, &hex)?;
            pruned.layers += 1;
            pruned.bytes += size;
        }
    }
    for (hex, size) in stored_blobs(store)? {
        if !blobs_used.contains(&hex) {
            remove_path(&l.blobs().join(&hex))?;
            pruned.blobs += 1;
            pruned.bytes += size;
        }
    }
    Ok(pruned)
}

/// Complete layers: (hex, bytes of files).
fn stored_layers(store: &Store) -> Result<Vec<(String, u64)>, StoreError> {
    let dir = store.layout.layers();
    let mut out = Vec::new();
    for entry in fs::read_dir(&dir).map_err(io_err("listing", &dir))? {
        let name = entry.map_err(io_err("listing", &dir))?.file_name();
        let name = name.to_string_lossy();
        let Some(hex) = name.strip_suffix(".json").filter(|h| !h.contains('.')) else {
            continue;
        };
        let rec = store.layer_record(hex);
        out.push((hex.to_string(), rec.map_or(0, |r| r.size)));
    }
    Ok(out)
}

fn stored_blobs(store: &Store) -> Result<Vec<(String, u64)>, StoreError> {
    let dir = store.layout.blobs();
    let mut out = Vec::new();
    for entry in fs::read_dir(&dir).map_err(io_err("listing", &dir))? {
        let entry = entry.map_err(io_err("listing", &dir))?;
        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
        out.push((entry.file_name().to_string_lossy().into_owned(), size));
    }
    Ok(out)
}

/// The record goes first (the layer is then incomplete, so invisible), then the tree, moved
/// to `tmp/` before it is deleted so no half tree stays at a layer's path.
fn remove_layer(store: &Store, hex: &str) -> Result<(), StoreError> {
    let l = &store.layout;
    remove_path(&l.layer_record(hex))?;
    remove_path(&l.layer_entries(hex))?;
    let dir = l.layer_dir(hex);
    if dir.exists() {
        let trash = l.temp_path("trash");
        fs::rename(&dir, &trash).map_err(io_err("moving out", &dir))?;
        remove_path(&trash)?;
    }
    Ok(())
}

/// Bytes the store holds: unpacked files and blobs.
pub fn usage(store: &Store) -> Result<u64, StoreError> {
    let layers: u64 = stored_layers(store)?.iter().map(|(_, s)| s).sum();
    let blobs: u64 = stored_blobs(store)?.iter().map(|(_, s)| s).sum();
    Ok(layers + blobs)
}

/// Evict least recently used images (never built-ins, never `keep`) until the store fits its
/// quota; if `keep` alone does not fit, it goes too and the caller hears why.
pub fn enforce_quota(store: &Store, keep: &str) -> Result<(), StoreError> {
    let quota = store.limits.quota_bytes;
    loop {
        prune(store)?;
        let used = usage(store)?;
        if used <= quota {
            return Ok(());
        }
        match least_recently_used(store, keep)? {
            Some(digest) => {
                let image = ImageRef(digest.clone());
                remove(store, &image, &digest)?;
            }
            None => {
                remove(store, &ImageRef(keep.to_string()), keep)?;
                prune(store)?;
                return Err(StoreError::Quota { need: used, quota });
            }
        }
    }
}

fn least_recently_used(store: &Store, keep: &str) -> Result<Option<String>, StoreError> {
    let mut best: Option<(SystemTime, String)> = None;
    for rec in all_images(store)? {
        if rec.digest == keep || rec.source == "builtin" {
            continue;
        }
        let used = last_used(&store.layout.image_record(&rec.digest));
        if best.as_ref().is_none_or(|(t, _)| used < *t) {
            best = Some((used, rec.digest));
        }
    }
    Ok(best.map(|(_, d)| d))
}

fn last_used(record: &Path) -> SystemTime {
    fs::metadata(record)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Entries of `<state>/incoming` whose process is gone: `<kind>-<pid>-<random>`, and the
/// temporary siblings a pull makes beside its destination (`.<kind>-<pid>-<random>.pull-*`).
pub fn remove_stale_incoming(dir: &Path) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .trim_start_matches('.')
            .split('-')
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
            let path = entry.path();
            let _ = fs::remove_dir_all(&path).or_else(|_| fs::remove_file(&path));
        }
    }
}

#[cfg(test)]
mod incoming_tests {
    use super::remove_stale_incoming;

    #[test]
    fn leftovers_of_gone_processes_go_and_live_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id();
        let live = dir.path().join(format!("pull-{me}-aa"));
        let gone = dir.path().join("pull-999999999-bb");
        let gone_sibling = dir.path().join(".pull-999999999-bb.pull-cc");
        let gone_upload = dir.path().join("upload-999999999-dd");
        for d in [&live, &gone, &gone_sibling] {
            std::fs::create_dir(d).unwrap();
        }
        std::fs::write(&gone_upload, b"tar").unwrap();
        remove_stale_incoming(dir.path());
        assert!(live.exists());
        assert!(!gone.exists() && !gone_sibling.exists() && !gone_upload.exists());
    }
}
