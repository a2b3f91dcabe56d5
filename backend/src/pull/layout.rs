//! Writing an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/<hex>`) that appears
//! whole or not at all: everything goes into a hidden sibling of the destination, each blob
//! into a `.part` file that is renamed only once its length and sha256 are right, and the
//! sibling is renamed to the destination at the end (removed instead on any failure).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use super::error::PullError;
use super::manifest::Descriptor;
use super::reference::check_digest;

const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A layout being written; dropped unfinished, it removes what it wrote.
pub(crate) struct LayoutWriter {
    dest: PathBuf,
    tmp: PathBuf,
    done: bool,
}

impl LayoutWriter {
    /// Start a layout for `dest`, which must not exist or be an empty directory.
    pub fn create(dest: &Path) -> Result<Self, PullError> {
        check_destination(dest)?;
        let name = dest.file_name().unwrap_or_default().to_string_lossy();
        let parent = parent_of(dest);
        let tmp = parent.join(format!(".{name}.pull-{}", unique_suffix()));
        std::fs::create_dir_all(tmp.join("blobs/sha256")).map_err(PullError::io(&tmp))?;
        Ok(LayoutWriter {
            dest: dest.to_path_buf(),
            tmp,
            done: false,
        })
    }

    /// Whether the blob is already in (an image may use one blob twice).
    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_ok_and(|p| p.is_file())
    }

    /// A writer for one blob, checked against its descriptor as it goes.
    pub async fn blob(&self, what: &str, descriptor: &Descriptor) -> Result<BlobWriter, PullError> {
        let path = self.blob_path(&descriptor.digest)?;
        let part = path.with_extension("part");
        let file = tokio::fs::File::create(&part)
            .await
            .map_err(PullError::io(&part))?;
        Ok(BlobWriter {
            file: tokio::io::BufWriter::with_capacity(256 * 1024, file),
            hasher: Sha256::new(),
            written: 0,
            what: what.to_string(),
            expected: descriptor.clone(),
            part,
            path,
        })
    }

    /// Write a blob held in memory (a manifest, a config), checking it the same way.
    pub async fn put(
        &self,
        what: &str,
        descriptor: &Descriptor,
        body: &[u8],
    ) -> Result<(), PullError> {
        let mut writer = self.blob(what, descriptor).await?;
        writer.write(body).await?;
        writer.finish().await
    }

    /// Write `oci-layout` and `index.json` (naming the one manifest, tagged `ref_name` if
    /// given), and move the layout to its destination.
    pub fn finish(
        mut self,
        manifest: &Descriptor,
        ref_name: Option<&str>,
    ) -> Result<(), PullError> {
        let mut entry = json!({
            "mediaType": manifest.media_type,
            "digest": manifest.digest,
            "size": manifest.size,
        });
        if let Some(platform) = &manifest.platform {
            entry["platform"] = json!(platform);
        }
        if let Some(name) = ref_name {
            entry["annotations"] = json!({ REF_NAME: name });
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": super::manifest::OCI_INDEX,
            "manifests": [entry],
        });
        write_synced(&self.tmp.join("oci-layout"), OCI_LAYOUT.as_bytes())?;
        write_synced(&self.tmp.join("index.json"), index.to_string().as_bytes())?;
        if self.dest.is_dir() {
            // An empty directory was given: rename(2) replaces it atomically.
            check_destination(&self.dest)?;
        }
        std::fs::rename(&self.tmp, &self.dest).map_err(PullError::io(&self.dest))?;
        self.done = true;
        if let Ok(dir) = std::fs::File::open(parent_of(&self.dest)) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    fn blob_path(&self, digest: &str) -> Result<PathBuf, PullError> {
        // Only `sha256:<64 lowercase hex>` gets this far, so the name cannot leave `blobs/`.
        let digest = check_digest(digest).map_err(|reason| PullError::Invalid {
            what: "a descriptor".into(),
            reason,
        })?;
        let hex = &digest["sha256:".len()..];
        Ok(self.tmp.join("blobs/sha256").join(hex))
    }
}

impl Drop for LayoutWriter {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// One blob being written: hashed and counted on the way, renamed into place when right.
pub(crate) struct BlobWriter {
    file: tokio::io::BufWriter<tokio::fs::File>,
    hasher: Sha256,
    written: u64,
    what: String,
    expected: Descriptor,
    part: PathBuf,
    path: PathBuf,
}

impl BlobWriter {
    /// Append a piece; more bytes than the descriptor states is an error at once.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), PullError> {
        self.written += chunk.len() as u64;
        if self.written > self.expected.size {
            return Err(self.size_mismatch());
        }
        self.hasher.update(chunk);
        self.file
            .write_all(chunk)
            .await
            .map_err(PullError::io(&self.part))
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    /// Check length and digest, then move the blob into place.
    pub async fn finish(mut self) -> Result<(), PullError> {
        if self.written != self.expected.size {
            return Err(self.size_mismatch());
        }
        let actual = format!("sha256:{:x}", self.hasher.finalize_reset());
        if actual != self.expected.digest {
            return Err(PullError::DigestMismatch {
                what: self.what.clone(),
                expected: self.expected.digest.clone(),
                actual,
            });
        }
        self.file.flush().await.map_err(PullError::io(&self.part))?;
        self.file
            .get_ref()
            .sync_all()
            .await
            .map_err(PullError::io(&self.part))?;
        tokio::fs::rename(&self.part, &self.path)
            .await
            .map_err(PullError::io(&self.path))
    }

    fn size_mismatch(&self) -> PullError {
        PullError::SizeMismatch {
            what: self.what.clone(),
            digest: self.expected.digest.clone(),
            expected: self.expected.size,
            actual: self.written,
        }
    }
}

/// Refuse a destination that holds anything, or whose parent does not exist.
fn check_destination(dest: &Path) -> Result<(), PullError> {
    let fail = |reason: &str| PullError::Destination {
        path: dest.to_path_buf(),
        reason: reason.to_string(),
    };
    if dest.file_name().is_none() {
        return Err(fail("not a directory name"));
    }
    if !parent_of(dest).is_dir() {
        return Err(fail("its parent directory does not exist"));
    }
    match std::fs::symlink_metadata(dest) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(fail(&e.to_string())),
        Ok(meta) if !meta.is_dir() => Err(fail("exists and is not a directory")),
        Ok(_) => match std::fs::read_dir(dest).map(|mut d| d.next().is_none()) {
            Ok(true) => Ok(()),
            Ok(false) => Err(fail("exists and is not empty")),
            Err(e) => Err(fail(&e.to_string())),
        },
    }
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Enough to keep two pulls into the same parent apart.
fn unique_suffix() -> String {
    let mut bytes = [0u8; 6];
    let _ = getrandom::fill(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}", std::process::id())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), PullError> {
    let mut file = std::fs::File::create(path).map_err(PullError::io(path))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(PullError::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(body: &[u8]) -> Descriptor {
        Descriptor {
            media_type: "application/octet-stream".into(),
            digest: format!("sha256:{:x}", Sha256::digest(body)),
            size: body.len() as u64,
            platform: None,
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("rootlab-layout-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn a_finished_layout_appears_whole() {
        let dir = scratch("ok");
        let dest = dir.join("img");
        let writer = LayoutWriter::create(&dest).unwrap();
        assert!(!dest.exists(), "nothing at the destination while writing");
        let d = descriptor(b"hello");
        writer.put("config", &d, b"hello").await.unwrap();
        assert!(writer.has_blob(&d.digest));
        writer.finish(&d, Some("1")).unwrap();
        let hex = &d.digest[7..];
        assert_eq!(
            std::fs::read(dest.join("blobs/sha256").join(hex)).unwrap(),
            b"hello"
        );
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dest.join("index.json")).unwrap()).unwrap();
        assert_eq!(index["manifests"][0]["annotations"][REF_NAME], "1");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temp sibling left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn bad_blobs_leave_nothing() {
        let dir = scratch("bad");
        let dest = dir.join("img");
        let writer = LayoutWriter::create(&dest).unwrap();
        let d = descriptor(b"hello");
        let err = writer.put("layer", &d, b"hellO").await.unwrap_err();
        assert!(matches!(err, PullError::DigestMismatch { .. }), "{err}");
        let err = writer.put("layer", &d, b"hello!").await.unwrap_err();
        assert!(matches!(err, PullError::SizeMismatch { .. }), "{err}");
        let mut bad = d.clone();
        bad.digest = "sha256:../../x".into();
        assert!(writer.put("layer", &bad, b"hello").await.is_err());
        drop(writer);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "{dir:?} is empty"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn destinations() {
        let dir = scratch("dest");
        assert!(check_destination(&dir.join("new")).is_ok());
        std::fs::create_dir(dir.join("empty")).unwrap();
        assert!(check_destination(&dir.join("empty")).is_ok());
        std::fs::write(dir.join("empty/x"), "").unwrap();
        let err = check_destination(&dir.join("empty")).unwrap_err();
        assert!(err.to_string().contains("not empty"), "{err}");
        assert!(check_destination(&dir.join("no/such/parent")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
