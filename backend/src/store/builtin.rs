//! The built-in trees (`tools`, `busybox`) as store images: one layer each, the directory
//! images.rs builds (unchanged), with a cached listing; turned into a real image (a gzip layer
//! blob and an unpacked copy) only when exported or committed upon.

use std::fs;
use std::path::PathBuf;

use rootlab_shared::image::{ImageSummary, LayerEntry, LayerInfo};
use serde::{Deserialize, Serialize};

use super::layout::{self, sha256_hex, ImageRecord};
use super::{commit, import, Store, StoreError};
use crate::images::{self, Builtin};

/// The cached description of a built-in tree (`builtin/<dir>.json`).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct BuiltinRecord {
    /// sha256 of the JSON of `entries`.
    pub digest: String,
    pub size: u64,
    pub entries: Vec<LayerEntry>,
}

/// The built-in's record and its directory (built by images.rs if needed).
pub fn load(store: &Store, b: Builtin) -> Result<(BuiltinRecord, PathBuf), StoreError> {
    let img = images::ensure(&store.cfg, b)?;
    let key = img
        .dir
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let path = store.layout.builtin().join(format!("{key}.json"));
    if let Ok(rec) = layout::read_json::<BuiltinRecord>(&path) {
        return Ok((rec, img.dir));
    }
    let (_, walked) =
        super::tree::walk_path(&img.dir).map_err(|e| StoreError::io("listing", &img.dir, e))?;
    let entries = super::tree::listing(&walked.nodes);
    let rec = BuiltinRecord {
        digest: sha256_hex(&serde_json::to_vec(&entries).expect("entries serialize")),
        size: entries.iter().map(|e| e.size).sum(),
        entries,
    };
    // A cache: another process may write the same one meanwhile, and that is fine.
    let _ = layout::write_json(&store.layout.tmp(), &path, &rec);
    Ok((rec, img.dir))
}

pub fn summary(rec: &BuiltinRecord, b: Builtin) -> ImageSummary {
    ImageSummary {
        name: b.as_str().to_string(),
        digest: rec.digest.clone(),
        layers: 1,
        size: rec.size,
        source: "builtin".into(),
        created: None,
    }
}

/// Its one layer; the diff_id is the listing's digest (the tree was never a tar).
pub fn layer_info(rec: &BuiltinRecord) -> LayerInfo {
    LayerInfo {
        diff_id: rec.digest.clone(),
        digest: None,
        blob_size: None,
        size: rec.size,
        entries: rec.entries.len(),
        created_by: Some("rootlab built-in image".into()),
    }
}

/// The built-in as a real stored image (made once per build of the tree). Caller holds the
/// lock.
pub fn materialize(store: &Store, b: Builtin) -> Result<ImageRecord, StoreError> {
    let img = images::ensure(&store.cfg, b)?;
    let key = img
        .dir
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let pointer = store.layout.builtin().join(format!("{key}.image"));
    if let Ok(digest) = fs::read_to_string(&pointer) {
        if let Ok(rec) = layout::read_json(&store.layout.image_record(digest.trim())) {
            return Ok(rec);
        }
    }
    let mut scratch = import::Scratch(vec![]);
    let (layer, _) = commit::layer_from_dir(store, &img.dir, &mut scratch)?;
    let (os, arch) = super::host_platform();
    let created_by = format!("rootlab built-in image `{}`", b.as_str());
    let config = serde_json::json!({
        "architecture": arch,
        "os": os,
        "config": {"Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [layer.info.diff_id]},
        "history": [{"created_by": created_by}],
    });
    let new = import::NewImage {
        config: serde_json::to_vec(&config).expect("config serializes"),
        manifest: None,
        layers: vec![layer],
        source: "builtin",
        names: vec![],
        warnings: vec![],
    };
    let rec = import::install(store, new)?;
    layout::write_atomic(&store.layout.tmp(), &pointer, rec.digest.as_bytes())?;
    Ok(rec)
}
