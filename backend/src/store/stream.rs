//! Byte streams of layers: compression told by media type and magic bytes (both must agree),
//! decoders, and readers that hash, count and cap what passes through them.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Read};
use std::rc::Rc;

use sha2::{Digest as _, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("media type `{media_type}` says {said}, but the blob's first bytes are {found}")]
    Disagree {
        media_type: String,
        said: &'static str,
        found: &'static str,
    },
    #[error("media type `{0}` is not a layer this store can unpack (tar, tar+gzip, tar+zstd)")]
    UnknownMediaType(String),
    #[error("opening the {0} decoder: {1}")]
    Decoder(&'static str, io::Error),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// The OCI media type of a layer compressed so.
    pub fn oci_media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }

    /// What the first bytes of a blob say.
    pub fn sniff(magic: &[u8]) -> Compression {
        if magic.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// What an OCI or Docker layer media type says.
    pub fn of_media_type(media_type: &str) -> Option<Compression> {
        let mt = media_type;
        let layer = mt.starts_with("application/vnd.oci.image.layer.")
            || mt.starts_with("application/vnd.docker.image.rootfs.");
        if !layer {
            return None;
        }
        if mt.ends_with("+gzip") || mt.ends_with(".gzip") {
            Some(Compression::Gzip)
        } else if mt.ends_with("+zstd") || mt.ends_with(".zstd") {
            Some(Compression::Zstd)
        } else if mt.ends_with(".tar") || mt.ends_with("diff.tar") {
            Some(Compression::None)
        } else {
            None
        }
    }
}

/// The compression of a blob: by its media type AND its magic bytes (only the magic bytes when
/// the source gives no media type, as `docker save`'s `manifest.json` does).
pub fn detect(media_type: Option<&str>, magic: &[u8]) -> Result<Compression, StreamError> {
    let found = Compression::sniff(magic);
    let Some(mt) = media_type else {
        return Ok(found);
    };
    let said = Compression::of_media_type(mt)
        .ok_or_else(|| StreamError::UnknownMediaType(mt.to_string()))?;
    if said != found {
        return Err(StreamError::Disagree {
            media_type: mt.to_string(),
            said: said.name(),
            found: found.name(),
        });
    }
    Ok(said)
}

/// The first bytes of a file, to sniff.
pub fn magic_of(path: &std::path::Path) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(4);
    File::open(path)?.take(4).read_to_end(&mut buf)?;
    Ok(buf)
}

/// A decoder of `c` over `input`.
pub fn decoder<'a, R: Read + 'a>(
    c: Compression,
    input: R,
) -> Result<Box<dyn Read + 'a>, StreamError> {
    Ok(match c {
        Compression::None => Box::new(input),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::new(input).map_err(|e| StreamError::Decoder("zstd", e))?,
        ),
    })
}

/// Hashes (sha256) and counts what is read through it.
pub struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Hashing<R> {
    pub fn new(inner: R) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// `sha256:<hex>` and the byte count of what was read.
    pub fn finish(self) -> (String, u64) {
        (format!("sha256:{:x}", self.hasher.finalize()), self.count)
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Hashes (sha256) and counts what is written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: io::Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The inner writer, `sha256:<hex>` and the byte count of what was written.
    pub fn finish(self) -> (W, String, u64) {
        let digest = format!("sha256:{:x}", self.hasher.finalize());
        (self.inner, digest, self.count)
    }
}

impl<W: io::Write> io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A budget of bytes shared by every layer of one import; reading past it fails (and says so
/// through [`Capped::exceeded`]), so a decompression bomb stops early.
#[derive(Clone)]
pub struct Budget {
    left: Rc<Cell<u64>>,
    hit: Rc<Cell<bool>>,
    pub limit: u64,
}

impl Budget {
    pub fn new(limit: u64) -> Self {
        Budget {
            left: Rc::new(Cell::new(limit)),
            hit: Rc::new(Cell::new(false)),
            limit,
        }
    }

    pub fn exceeded(&self) -> bool {
        self.hit.get()
    }
}

/// Reads at most what its [`Budget`] has left.
pub struct Capped<R> {
    inner: R,
    budget: Budget,
}

impl<R: Read> Capped<R> {
    pub fn new(inner: R, budget: Budget) -> Self {
        Capped { inner, budget }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.budget.left.get();
        if left == 0 && !buf.is_empty() {
            // One more byte tells the end of the stream from a stream that goes on.
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.budget.hit.set(true);
            return Err(io::Error::other("decompressed-size limit reached"));
        }
        let want = buf.len().min(left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        self.budget.left.set(left - n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_and_magic_must_agree() {
        let gz = [0x1f, 0x8b, 8, 0];
        let mt = "application/vnd.oci.image.layer.v1.tar+gzip";
        assert_eq!(detect(Some(mt), &gz).unwrap(), Compression::Gzip);
        assert!(detect(Some(mt), b"abcd").is_err());
        let tar = "application/vnd.oci.image.layer.v1.tar";
        assert!(detect(Some(tar), &gz).is_err());
        assert_eq!(detect(None, &gz).unwrap(), Compression::Gzip);
        let zst = [0x28, 0xb5, 0x2f, 0xfd];
        let docker = "application/vnd.docker.image.rootfs.diff.tar.gzip";
        assert_eq!(detect(Some(docker), &gz).unwrap(), Compression::Gzip);
        assert_eq!(detect(None, &zst).unwrap(), Compression::Zstd);
        assert!(detect(Some("text/plain"), b"x").is_err());
    }

    #[test]
    fn capped_reader_stops_past_the_budget() {
        let budget = Budget::new(10);
        let mut r = Capped::new(&[7u8; 10][..], budget.clone());
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert!(!budget.exceeded());
        let budget = Budget::new(10);
        let mut r = Capped::new(&[7u8; 11][..], budget.clone());
        assert!(r.read_to_end(&mut Vec::new()).is_err());
        assert!(budget.exceeded());
    }
}
