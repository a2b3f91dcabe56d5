//! What an import reads: a `docker save`/`podman save` archive (`manifest.json`), an OCI image
//! layout (`index.json`, a directory or a tar of one; Docker 25+ archives hold both, and the
//! OCI index wins), turned into a [`Plan`]: the config, the layer blobs to verify, the names.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use oci_spec::image::{ImageIndex, ImageManifest};
use serde::Deserialize;

use super::layout::{is_digest, sha256_hex};
use super::stream::{self, Budget, Capped, Compression};
use super::unpack::clean;
use crate::sandbox::sys;

/// Largest JSON document (index, manifest, config) read from a source.
const MAX_JSON: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{}: {err}", path.display())]
    Open { path: PathBuf, err: io::Error },
    #[error("{0} is neither a `docker save`/`podman save` archive nor an OCI image layout (no manifest.json, no index.json)")]
    Unknown(String),
    #[error("{referrer} names a blob that is missing from the archive: {blob}")]
    MissingBlob { referrer: String, blob: String },
    #[error("{what} is not valid JSON: {why}")]
    BadJson { what: String, why: String },
    #[error("{what}: digest mismatch, the descriptor says {want} but the content hashes to {got}")]
    DigestMismatch {
        what: String,
        want: String,
        got: String,
    },
    #[error("{what} is truncated: {got} bytes where its descriptor says {want}")]
    Truncated { what: String, got: u64, want: u64 },
    #[error("{0}")]
    Invalid(String),
    #[error("reading the archive: {0}")]
    Read(io::Error),
}

/// One layer blob to import.
#[derive(Debug, Clone)]
pub struct LayerSource {
    pub path: PathBuf,
    /// As the manifest states it (`None` for `docker save`'s `manifest.json`).
    pub media_type: Option<String>,
    /// The digest and size to verify, when the source states them.
    pub digest: Option<String>,
    pub size: Option<u64>,
}

/// What to import.
#[derive(Debug)]
pub struct Plan {
    pub config: Vec<u8>,
    pub layers: Vec<LayerSource>,
    pub names: Vec<String>,
    /// The OCI/Docker manifest as shipped (digest verified), kept when its blobs are.
    pub manifest: Option<Vec<u8>>,
}

/// The source as a directory: `path` itself, or `scratch` filled from the tar at `path`.
pub fn open(path: &Path, scratch: &Path, budget: &Budget) -> Result<PathBuf, SourceError> {
    let meta = fs::metadata(path).map_err(|err| SourceError::Open {
        path: path.to_path_buf(),
        err,
    })?;
    if meta.is_dir() {
        return Ok(path.to_path_buf());
    }
    extract(path, scratch, budget)?;
    Ok(scratch.to_path_buf())
}

/// Copy the regular files of an archive (tar, or gzip-compressed tar) below `scratch`.
fn extract(path: &Path, scratch: &Path, budget: &Budget) -> Result<(), SourceError> {
    let open = |p: &Path| {
        File::open(p).map_err(|err| SourceError::Open {
            path: p.to_path_buf(),
            err,
        })
    };
    let magic = stream::magic_of(path).map_err(SourceError::Read)?;
    let input = open(path)?;
    let reader = stream::decoder(Compression::sniff(&magic), input)
        .map_err(|e| SourceError::Invalid(e.to_string()))?;
    let mut archive = tar::Archive::new(Capped::new(reader, budget.clone()));
    fs::create_dir_all(scratch).map_err(SourceError::Read)?;
    let root = sys::open_dir(scratch).map_err(|e| SourceError::Read(e.into()))?;
    let too_big = || {
        SourceError::Invalid(format!(
            "the archive holds more than {} bytes",
            budget.limit
        ))
    };
    for entry in archive.entries().map_err(SourceError::Read)? {
        let mut entry = entry.map_err(|e| {
            if budget.exceeded() {
                too_big()
            } else {
                SourceError::Read(e)
            }
        })?;
        if !entry.header().entry_type().is_file() {
            continue; // directories are implied; links are not followed
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let rel = clean(&raw)
            .map_err(|why| SourceError::Invalid(format!("archive entry `{raw}`: {why}")))?;
        let (parent, name) = rel.rsplit_once('/').unwrap_or(("", &rel));
        let bad = |e: sys::Errno| SourceError::Invalid(format!("archive entry `{raw}`: {e}"));
        let dir = sys::mkdir_all_at(&root, parent, sys::Resolve::Beneath).map_err(bad)?;
        if sys::kind_at(&dir, name).map_err(bad)?.is_some() {
            sys::unlink_at(&dir, name).map_err(bad)?;
        }
        let mut out = sys::create_file_at(&dir, name, 0o600).map_err(bad)?;
        io::copy(&mut entry, &mut out).map_err(|e| {
            if budget.exceeded() {
                too_big()
            } else {
                SourceError::Read(e)
            }
        })?;
    }
    Ok(())
}

/// Read what the source directory describes; `platform` is `(os, architecture)` to pick in a
/// multi-platform index.
pub fn plan(dir: &Path, platform: (&str, &str)) -> Result<Plan, SourceError> {
    if dir.join("index.json").is_file() {
        oci_plan(dir, platform)
    } else if dir.join("manifest.json").is_file() {
        docker_plan(dir)
    } else {
        Err(SourceError::Unknown(dir.display().to_string()))
    }
}

fn read_small(path: &Path, what: &str) -> Result<Vec<u8>, SourceError> {
    let file = File::open(path).map_err(|_| SourceError::MissingBlob {
        referrer: what.to_string(),
        blob: path.display().to_string(),
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_JSON + 1)
        .read_to_end(&mut bytes)
        .map_err(SourceError::Read)?;
    if bytes.len() as u64 > MAX_JSON {
        return Err(SourceError::Invalid(format!(
            "{what} is larger than {MAX_JSON} bytes"
        )));
    }
    Ok(bytes)
}

fn bad_json(what: &str, e: impl std::fmt::Display) -> SourceError {
    SourceError::BadJson {
        what: what.to_string(),
        why: e.to_string(),
    }
}

/// The path of a blob in an OCI layout, for a digest taken from hostile JSON.
fn blob_path(dir: &Path, digest: &str, referrer: &str) -> Result<PathBuf, SourceError> {
    if !is_digest(digest) {
        return Err(SourceError::Invalid(format!(
            "{referrer} names `{digest}`: only sha256 digests (64 lowercase hex) are supported"
        )));
    }
    Ok(dir.join("blobs/sha256").join(&digest[7..]))
}

/// A small blob (index, manifest, config) read and checked against its descriptor.
fn read_blob(
    dir: &Path,
    desc: &oci_spec::image::Descriptor,
    referrer: &str,
) -> Result<Vec<u8>, SourceError> {
    let digest = desc.digest().to_string();
    let path = blob_path(dir, &digest, referrer)?;
    let bytes = read_small(&path, referrer)?;
    verify(&bytes, &digest, desc.size(), &format!("blob {digest}"))?;
    Ok(bytes)
}

pub fn verify(bytes: &[u8], digest: &str, size: u64, what: &str) -> Result<(), SourceError> {
    if (bytes.len() as u64) < size {
        return Err(SourceError::Truncated {
            what: what.to_string(),
            got: bytes.len() as u64,
            want: size,
        });
    }
    let got = sha256_hex(bytes);
    if got != digest || bytes.len() as u64 != size {
        return Err(SourceError::DigestMismatch {
            what: what.to_string(),
            want: digest.to_string(),
            got,
        });
    }
    Ok(())
}

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

fn oci_plan(dir: &Path, platform: (&str, &str)) -> Result<Plan, SourceError> {
    let bytes = read_small(&dir.join("index.json"), "index.json")?;
    let index = ImageIndex::from_reader(&bytes[..]).map_err(|e| bad_json("index.json", e))?;
    let mut candidates = Vec::new();
    for desc in index.manifests() {
        if INDEX_TYPES.contains(&desc.media_type().to_string().as_str()) {
            let nested = read_blob(dir, desc, "index.json")?;
            let what = format!("nested index {}", desc.digest());
            let nested = ImageIndex::from_reader(&nested[..]).map_err(|e| bad_json(&what, e))?;
            let names = names_of(desc);
            for d in nested.manifests().iter().filter(|d| fits(d, platform)) {
                candidates.push((d.clone(), names.clone()));
            }
        } else if fits(desc, platform) {
            candidates.push((desc.clone(), names_of(desc)));
        }
    }
    candidates.dedup_by(|a, b| a.0.digest() == b.0.digest());
    let (desc, names) = match candidates.len() {
        1 => candidates.remove(0),
        0 => {
            return Err(SourceError::Invalid(format!(
                "index.json holds no image for {}/{}",
                platform.0, platform.1
            )))
        }
        n => {
            return Err(SourceError::Invalid(format!(
                "index.json holds {n} images; rootlab imports an archive of one"
            )))
        }
    };
    let manifest_bytes = read_blob(dir, &desc, "index.json")?;
    let what = format!("manifest {}", desc.digest());
    let manifest =
        ImageManifest::from_reader(&manifest_bytes[..]).map_err(|e| bad_json(&what, e))?;
    let config = read_blob(dir, manifest.config(), &what)?;
    let mut layers = Vec::new();
    for l in manifest.layers() {
        let digest = l.digest().to_string();
        let path = blob_path(dir, &digest, &what)?;
        if !path.is_file() {
            return Err(SourceError::MissingBlob {
                referrer: what,
                blob: digest,
            });
        }
        layers.push(LayerSource {
            path,
            media_type: Some(l.media_type().to_string()),
            digest: Some(digest),
            size: Some(l.size()),
        });
    }
    Ok(Plan {
        config,
        layers,
        names,
        manifest: Some(manifest_bytes),
    })
}

/// Does a descriptor suit the host (one without a platform does)?
fn fits(desc: &oci_spec::image::Descriptor, (os, arch): (&str, &str)) -> bool {
    desc.platform()
        .as_ref()
        .is_none_or(|p| p.os().to_string() == os && p.architecture().to_string() == arch)
}

/// The names an index gives a manifest: containerd's full name, else a `ref.name` that is a
/// full reference (a bare tag such as `latest` names nothing by itself).
fn names_of(desc: &oci_spec::image::Descriptor) -> Vec<String> {
    let ann = desc.annotations().clone().unwrap_or_default();
    if let Some(n) = ann.get("io.containerd.image.name") {
        return vec![n.clone()];
    }
    match ann.get("org.opencontainers.image.ref.name") {
        Some(n) if n.contains(':') || n.contains('/') => vec![n.clone()],
        _ => vec![],
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn docker_plan(dir: &Path) -> Result<Plan, SourceError> {
    let bytes = read_small(&dir.join("manifest.json"), "manifest.json")?;
    let mut entries: Vec<DockerEntry> =
        serde_json::from_slice(&bytes).map_err(|e| bad_json("manifest.json", e))?;
    if entries.len() != 1 {
        return Err(SourceError::Invalid(format!(
            "manifest.json lists {} images; rootlab imports an archive of one",
            entries.len()
        )));
    }
    let entry = entries.remove(0);
    let config_path = archive_path(dir, &entry.config)?;
    let config = read_small(&config_path, "manifest.json")?;
    if let Some(digest) = digest_in_name(&entry.config) {
        let size = config.len() as u64;
        verify(&config, &digest, size, &format!("config {}", entry.config))?;
    }
    let mut layers = Vec::new();
    for name in &entry.layers {
        let path = archive_path(dir, name)?;
        if !path.is_file() {
            return Err(SourceError::MissingBlob {
                referrer: "manifest.json".into(),
                blob: name.clone(),
            });
        }
        layers.push(LayerSource {
            path,
            media_type: None,
            digest: digest_in_name(name),
            size: None,
        });
    }
    Ok(Plan {
        config,
        layers,
        names: entry.repo_tags.unwrap_or_default(),
        manifest: None,
    })
}

fn archive_path(dir: &Path, name: &str) -> Result<PathBuf, SourceError> {
    let rel = clean(name)
        .map_err(|why| SourceError::Invalid(format!("manifest.json names `{name}`: {why}")))?;
    Ok(dir.join(rel))
}

/// `blobs/sha256/<hex>` or `<hex>.json` name their content's digest.
fn digest_in_name(name: &str) -> Option<String> {
    let last = name.rsplit('/').next()?;
    let hex = last.strip_suffix(".json").unwrap_or(last);
    let digest = format!("sha256:{hex}");
    let in_blobs = name.contains("blobs/sha256/") || last.ends_with(".json");
    (in_blobs && is_digest(&digest)).then_some(digest)
}
