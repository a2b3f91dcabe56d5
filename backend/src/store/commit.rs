//! Committing an overlayfs upper dir: its tree as one more OCI layer (gzip) on top of its
//! parent's, with the parent's config extended (`rootfs.diff_ids`, `history`, `created`).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use oci_spec::image::ImageManifest;
use rootlab_shared::image::{ImageRef, LayerEntry, LayerInfo};

use super::import::{self, NewImage, NewLayer, Scratch};
use super::layout::{io_err, ImageRecord, Index};
use super::stream::{Compression, HashingWriter};
use super::{builtin, tree, Store, StoreError};
use crate::images::Builtin;

pub fn commit(
    store: &Store,
    upper: &Path,
    parent: &ImageRef,
    name: Option<&str>,
    created_by: &str,
) -> Result<ImageRecord, StoreError> {
    let names = name
        .map(super::check_new_name)
        .transpose()?
        .into_iter()
        .collect();
    let parent = match Builtin::named(parent) {
        Some(b) => builtin::materialize(store, b)?,
        None => store.find(parent)?.0,
    };
    if !upper.is_dir() {
        return Err(StoreError::Invalid(format!(
            "{} is not a directory",
            upper.display()
        )));
    }
    let mut scratch = Scratch(vec![]);
    let (mut layer, warnings) = layer_from_dir(store, upper, &mut scratch)?;
    layer.info.created_by = Some(created_by.to_string());
    let mut layers = parent_layers(store, &parent)?;
    let config = child_config(store, &parent, &layer.info.diff_id, created_by)?;
    layers.push(layer);
    let new = NewImage {
        config,
        manifest: None,
        layers,
        source: "commit",
        names,
        warnings,
    };
    import::install(store, new)
}

/// A directory as a gzip layer blob in `tmp/`, unpacked again by the store's own unpacker (so
/// the stored tree is exactly what the blob says).
pub fn layer_from_dir(
    store: &Store,
    dir: &Path,
    scratch: &mut Scratch,
) -> Result<(NewLayer, Vec<String>), StoreError> {
    let (root, walked) = tree::walk_path(dir).map_err(io_err("reading", dir))?;
    let fill = |gz: &mut dyn Write| tree::write_tar(&root, &walked.nodes, gz).map(drop);
    let blob = gzip_blob(store, scratch, fill).map_err(io_err("writing the layer of", dir))?;
    let what = format!("the layer made of {}", dir.display());
    let (layer, warnings) = unpacked_layer(store, blob, &what, scratch)?;
    Ok((layer, [walked.skipped, warnings].concat()))
}

/// A gzip blob in `tmp/` of what `fill` writes: its path, digest and size.
fn gzip_blob(
    store: &Store,
    scratch: &mut Scratch,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<(PathBuf, String, u64)> {
    let blob = store.layout.temp_path("blob");
    scratch.0.push(blob.clone());
    let file = File::create(&blob)?;
    let compressed = HashingWriter::new(BufWriter::new(file));
    let mut gz = flate2::write::GzEncoder::new(compressed, flate2::Compression::default());
    fill(&mut gz)?;
    let (mut out, digest, size) = gz.finish()?.finish();
    out.flush()?;
    out.get_ref().sync_all()?;
    Ok((blob, digest, size))
}

/// A staged gzip blob unpacked by the hardened unpacker, as a layer to install.
fn unpacked_layer(
    store: &Store,
    (blob, digest, blob_size): (PathBuf, String, u64),
    what: &str,
    scratch: &mut Scratch,
) -> Result<(NewLayer, Vec<String>), StoreError> {
    let mut budgets = store.budgets();
    let (tree_dir, unpacked, diff_id) =
        import::unpack_blob(store, &blob, Compression::Gzip, &mut budgets, scratch).map_err(
            |error| StoreError::Unpack {
                layer: what.to_string(),
                error,
            },
        )?;
    let info = LayerInfo {
        diff_id,
        digest: Some(digest),
        blob_size: Some(blob_size),
        size: unpacked.size,
        entries: unpacked.count,
        created_by: None,
    };
    let layer = NewLayer {
        info,
        media_type: Compression::Gzip.oci_media_type().to_string(),
        staged_blob: Some(blob),
        unpacked: Some((tree_dir, unpacked.entries)),
    };
    Ok((layer, unpacked.warnings))
}

/// What a layer tar from a sandbox made: the layer as the store reads it, and the new image
/// when one was asked for.
pub struct TarCommit {
    pub layer: LayerInfo,
    pub entries: Vec<LayerEntry>,
    pub warnings: Vec<String>,
    pub image: Option<ImageRecord>,
}

/// A layer tar made elsewhere (a sandbox: hostile) through the hardened unpacker; with a
/// `name`, installed as a new image on `parent` (never replacing a name), else only read and
/// dropped.
pub fn commit_tar(
    store: &Store,
    tar: &[u8],
    parent: &ImageRef,
    name: Option<&str>,
    created_by: &str,
) -> Result<TarCommit, StoreError> {
    let name = name.map(super::check_new_name).transpose()?;
    if let Some(n) = &name {
        if Index::load(&store.layout)?.names.contains_key(n) {
            return Err(StoreError::Taken(n.clone()));
        }
    }
    let mut scratch = Scratch(vec![]);
    let fill = |out: &mut dyn Write| out.write_all(tar);
    let blob = gzip_blob(store, &mut scratch, fill).map_err(io_err(
        "staging the committed layer in",
        &store.layout.tmp(),
    ))?;
    let (mut layer, warnings) = unpacked_layer(store, blob, "the committed layer", &mut scratch)?;
    layer.info.created_by = Some(created_by.to_string());
    let entries = layer.unpacked.as_ref().map_or(vec![], |(_, e)| e.clone());
    let info = layer.info.clone();
    let Some(name) = name else {
        return Ok(TarCommit {
            layer: info,
            entries,
            warnings,
            image: None,
        });
    };
    let parent = match Builtin::named(parent) {
        Some(b) => builtin::materialize(store, b)?,
        None => store.find(parent)?.0,
    };
    let mut layers = parent_layers(store, &parent)?;
    let config = child_config(store, &parent, &info.diff_id, created_by)?;
    layers.push(layer);
    let new = NewImage {
        config,
        manifest: None,
        layers,
        source: "commit",
        names: vec![name],
        warnings: warnings.clone(),
    };
    let record = import::install(store, new)?;
    Ok(TarCommit {
        layer: info,
        entries,
        warnings,
        image: Some(record),
    })
}

/// The parent's layers as they are stored (nothing to place).
fn parent_layers(store: &Store, parent: &ImageRecord) -> Result<Vec<NewLayer>, StoreError> {
    let path = store.layout.blob(&parent.digest);
    let bytes = fs::read(&path).map_err(io_err("reading", &path))?;
    let manifest = ImageManifest::from_reader(&bytes[..])
        .map_err(|e| StoreError::Invalid(format!("the stored manifest {}: {e}", parent.digest)))?;
    let types = manifest.layers().iter().map(|d| d.media_type().to_string());
    Ok(parent
        .layers
        .iter()
        .zip(types)
        .map(|(info, media_type)| NewLayer {
            info: info.clone(),
            media_type,
            staged_blob: None,
            unpacked: None,
        })
        .collect())
}

/// The parent's config (as stored, unknown fields kept) with one more layer and history step.
fn child_config(
    store: &Store,
    parent: &ImageRecord,
    diff_id: &str,
    created_by: &str,
) -> Result<Vec<u8>, StoreError> {
    let path = store.layout.blob(&parent.config_digest);
    let bytes = fs::read(&path).map_err(io_err("reading", &path))?;
    let mut config: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        StoreError::Invalid(format!("the stored config {}: {e}", parent.config_digest))
    })?;
    let now = rfc3339(SystemTime::now());
    let obj = config
        .as_object_mut()
        .ok_or_else(|| StoreError::Invalid("the stored config is not an object".into()))?;
    obj.insert("created".into(), now.clone().into());
    let rootfs = obj
        .entry("rootfs")
        .or_insert_with(|| serde_json::json!({"type": "layers"}));
    let ids = rootfs
        .as_object_mut()
        .map(|r| r.entry("diff_ids").or_insert_with(|| serde_json::json!([])));
    if let Some(serde_json::Value::Array(ids)) = ids {
        ids.push(diff_id.into());
    }
    let history = obj
        .entry("history")
        .or_insert_with(|| serde_json::json!([]));
    if let serde_json::Value::Array(h) = history {
        h.push(serde_json::json!({"created": now, "created_by": created_by}));
    }
    Ok(serde_json::to_vec(&config).expect("config serializes"))
}

/// `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_of_known_instants() {
        let at = |s| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_780_000_000), "2026-05-28T20:26:40Z");
    }
}
