//! Exporting an image as an OCI image layout tar (`oci-layout`, `index.json`, `blobs/sha256/`),
//! which `skopeo` (`oci-archive:`), `umoci` (once untarred) and `rootlab images import` read.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use oci_spec::image::ImageManifest;

use super::layout::{hex_of, io_err, ImageRecord};
use super::{Store, StoreError};

pub fn export(
    store: &Store,
    rec: &ImageRecord,
    name: Option<&str>,
    out: &Path,
) -> Result<(), StoreError> {
    let manifest_path = store.layout.blob(&rec.digest);
    let manifest_bytes = fs::read(&manifest_path).map_err(io_err("reading", &manifest_path))?;
    let manifest = ImageManifest::from_reader(&manifest_bytes[..])
        .map_err(|e| StoreError::Invalid(format!("the stored manifest {}: {e}", rec.digest)))?;
    let mut blobs = vec![rec.digest.clone(), manifest.config().digest().to_string()];
    blobs.extend(manifest.layers().iter().map(|d| d.digest().to_string()));
    let media_type = manifest.media_type().as_ref().map_or(
        "application/vnd.oci.image.manifest.v1+json".to_string(),
        |m| m.to_string(),
    );
    let index = index_json(&rec.digest, manifest_bytes.len(), &media_type, name);
    let tmp = out.with_file_name(format!(
        ".{}.tmp-{}",
        out.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let res = write_layout(store, &tmp, &index, &blobs).and_then(|()| {
        fs::rename(&tmp, out).map_err(io_err("writing", out))?;
        Ok(())
    });
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

fn index_json(digest: &str, size: usize, media_type: &str, name: Option<&str>) -> Vec<u8> {
    let mut desc = serde_json::json!({
        "mediaType": media_type,
        "digest": digest,
        "size": size,
    });
    if let Some(name) = name {
        // `ref.name` is the tag (what `umoci --image dir:TAG` and `oci:dir:TAG` match); the
        // full name rides along as containerd writes it, and rootlab reads it back.
        let last = name.rsplit('/').next().unwrap_or(name);
        let tag = last.rsplit_once(':').map_or("latest", |(_, t)| t);
        desc["annotations"] = serde_json::json!({
            "org.opencontainers.image.ref.name": tag,
            "io.containerd.image.name": name,
        });
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [desc],
    });
    serde_json::to_vec(&index).expect("an index serializes")
}

fn write_layout(
    store: &Store,
    out: &Path,
    index: &[u8],
    blobs: &[String],
) -> Result<(), StoreError> {
    let file = File::create(out).map_err(io_err("creating", out))?;
    let mut tar = tar::Builder::new(BufWriter::new(file));
    let write = |tar: &mut tar::Builder<BufWriter<File>>| -> std::io::Result<()> {
        for dir in ["blobs/", "blobs/sha256/"] {
            let mut h = header(tar::EntryType::Directory, 0o755, 0);
            tar.append_data(&mut h, dir, std::io::empty())?;
        }
        let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
        let mut h = header(tar::EntryType::Regular, 0o644, layout.len() as u64);
        tar.append_data(&mut h, "oci-layout", &layout[..])?;
        let mut h = header(tar::EntryType::Regular, 0o644, index.len() as u64);
        tar.append_data(&mut h, "index.json", index)?;
        let mut seen = std::collections::HashSet::new();
        for digest in blobs.iter().filter(|d| seen.insert(d.to_string())) {
            let path = store.layout.blob(digest);
            let blob = File::open(&path)?;
            let mut h = header(tar::EntryType::Regular, 0o644, blob.metadata()?.len());
            tar.append_data(&mut h, format!("blobs/sha256/{}", hex_of(digest)), blob)?;
        }
        let mut inner = tar.get_mut().get_ref().try_clone()?;
        tar.finish()?;
        tar.get_mut().flush()?;
        inner.flush()?;
        inner.sync_all()
    };
    Ok(write(&mut tar).map_err(io_err("writing", out))?)
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h
}
