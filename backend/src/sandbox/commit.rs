//! The lab init's half of a `commit` step: the container's writable layer, read through the
//! descriptor the lab init opened when it made it (so no rename or symlink the programs made
//! since changes what is read), walked without following anything ([`crate::store::tree`]) and
//! written as an OCI layer tar, at most [`MAX_LAYER`] bytes. The worker reads that tar as
//! hostile input, with the store's hardened unpacker.

use std::io::{self, Write};
use std::os::fd::OwnedFd;

use rootlab_shared::result::StepError;

use crate::store::tree::{self, NodeKind, Walked};

/// The largest layer tar a commit sends: base64 of it (4/3) must fit one message to the
/// engine ([`super::wire::MAX_MESSAGE`], 16 MiB) with room to spare.
pub const MAX_LAYER: usize = 11 << 20;
/// At most this many skipped entries are named (the count says how many more).
const MAX_SKIPPED: usize = 64;

/// The layer tar and what it left out.
pub struct Layer {
    pub tar: Vec<u8>,
    pub skipped: Vec<String>,
    pub syscalls: Vec<String>,
}

/// The tar of the upper directory `upper`, at most `cap` bytes.
pub fn build(upper: &OwnedFd, container: &str, cap: usize) -> Result<Layer, StepError> {
    let walked = tree::walk(upper).map_err(|e| failed("reading the writable layer", &e))?;
    let too_big = || too_big(container, cap);
    if walked.tar_estimate() > cap as u64 {
        return Err(too_big());
    }
    let out = Capped {
        bytes: Vec::new(),
        cap,
    };
    let tar = match tree::write_tar(upper, &walked.nodes, out) {
        Ok(out) => out.bytes,
        Err(e) if e.kind() == io::ErrorKind::FileTooLarge => return Err(too_big()),
        Err(e) => return Err(failed("writing the layer tar", &e)),
    };
    let syscalls = syscalls(&walked, container, tar.len());
    Ok(Layer {
        tar,
        skipped: bounded(walked.skipped),
        syscalls,
    })
}

fn too_big(container: &str, cap: usize) -> StepError {
    StepError {
        errno: None,
        code: None,
        message: format!(
            "the writable layer of {container} is larger than {cap} bytes, the most a commit may send back from the sandbox"
        ),
        explanation: "a run returns at most 16 MiB per message and 64 MiB in all; commit smaller changes (delete what the image does not need)".into(),
    }
}

fn failed(what: &str, e: &io::Error) -> StepError {
    StepError {
        errno: e
            .raw_os_error()
            .map(|c| format!("{:?}", nix::errno::Errno::from_raw(c))),
        code: e.raw_os_error(),
        message: format!("{what}: {e}"),
        explanation:
            "the writable layer could not be read as it was (did a program change it meanwhile?)"
                .into(),
    }
}

fn bounded(mut skipped: Vec<String>) -> Vec<String> {
    if skipped.len() > MAX_SKIPPED {
        let more = skipped.len() - MAX_SKIPPED;
        skipped.truncate(MAX_SKIPPED);
        skipped.push(format!("... and {more} more entries skipped"));
    }
    skipped
}

/// What the walk did, as system calls with counts.
fn syscalls(w: &Walked, container: &str, tar_bytes: usize) -> Vec<String> {
    let count = |f: fn(&NodeKind) -> bool| w.nodes.iter().filter(|n| f(&n.kind)).count();
    let dirs = count(|k| matches!(k, NodeKind::Dir { .. }));
    let opaque = count(|k| matches!(k, NodeKind::Dir { opaque: true }));
    let links = count(|k| matches!(k, NodeKind::Symlink(_)));
    let files = count(|k| matches!(k, NodeKind::File));
    vec![
        format!("openat(AT_FDCWD, \"/layers/{container}.upper\", O_PATH|O_DIRECTORY) before the first step (the lab init keeps it)"),
        format!("openat(dirfd, name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW) + getdents64(): {} directories", dirs + 1),
        format!("fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW): {} entries (+{} skipped)", w.nodes.len(), w.skipped.len()),
        format!("fgetxattr(dirfd, \"user.overlay.opaque\"): {opaque} opaque of {dirs}"),
        format!("readlinkat(dirfd, name): {links} symlinks, stored as symlinks, never followed"),
        format!("openat2(upper, path, O_RDONLY|O_NOFOLLOW|O_NONBLOCK, RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_XDEV) + fstat() + read(): {files} files"),
        format!("write(<the engine's pipe>, {{\"m\":\"layer\",...}}): a tar of {tar_bytes} bytes, base64"),
    ]
}

/// A buffer that refuses to grow past `cap` bytes (`FileTooLarge`).
struct Capped {
    bytes: Vec<u8>,
    cap: usize,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len() + buf.len() > self.cap {
            return Err(io::ErrorKind::FileTooLarge.into());
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
