//! Creating declared entries: the lab host's files and each layer under `/layers/<name>`,
//! with overlayfs whiteouts (char 0:0) and opaque directories (`user.overlay.opaque=y`).
//!
//! Every entry is created through descriptors, one path component at a time, with `openat2`:
//! a layer's entries beneath the layer's directory and through no symlink at all; the host's
//! files with symlinks resolved as if the lab root were `/` (an image may link `/bin` to
//! `usr/bin`). Nothing can be written outside, whatever an earlier entry or the image holds.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rootlab_shared::spec::{Entry, Layer};

use super::sys::{self, Errno, Resolve};

/// The xattr unprivileged overlayfs (`userxattr`) reads to treat a directory as opaque.
pub const OPAQUE_XATTR: &str = "user.overlay.opaque";

pub fn layer_dir(name: &str) -> PathBuf {
    Path::new("/layers").join(name)
}

pub fn create_host_files(entries: &[Entry]) -> Result<(), String> {
    let root = open_layer(Path::new("/")).map_err(|e| format!("opening /: {e}"))?;
    for (i, entry) in entries.iter().enumerate() {
        create(&root, entry, Resolve::InRoot)
            .map_err(|e| format!("host.files[{i}].path: {}: {e}", entry.path()))?;
    }
    Ok(())
}

pub fn create_layers(layers: &[Layer]) -> Result<(), String> {
    // A layer taken from an image is already bound at its place (`image_root::bind_exposed`).
    for (i, layer) in layers.iter().enumerate().filter(|(_, l)| l.from.is_none()) {
        let dir = layer_dir(&layer.name);
        let base = std::fs::create_dir(&dir)
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
            .and_then(|_| open_layer(&dir))
            .map_err(|e| format!("layers[{i}].name: {}: {e}", dir.display()))?;
        for (j, entry) in layer.entries.iter().enumerate() {
            create(&base, entry, Resolve::Beneath)
                .map_err(|e| format!("layers[{i}].entries[{j}].path: {}: {e}", entry.path()))?;
        }
    }
    Ok(())
}

/// The layer's directory, just made by the engine on its own `/layers` tmpfs (the name is one
/// validated path component), to create entries beneath.
fn open_layer(dir: &Path) -> Result<OwnedFd, Errno> {
    sys::open_dir(dir)
}

/// Create one entry below `base` (its missing parents as directories).
fn create(base: &OwnedFd, entry: &Entry, how: Resolve) -> Result<(), Errno> {
    let path = entry.path().trim_start_matches('/');
    let (parents, name) = match path.rsplit_once('/') {
        Some((p, n)) => (p, n),
        None => ("", path),
    };
    let parent = sys::mkdir_all_at(base, parents, how)?;
    match entry {
        Entry::File { content, mode, .. } => {
            sys::write_file_at(&parent, name, content.as_bytes(), mode & 0o7777)
        }
        Entry::Dir { mode, opaque, .. } => {
            let dir = sys::mkdir_all_at(&parent, name, Resolve::Beneath)?;
            sys::chmod_fd(&dir, mode & 0o7777)?;
            if *opaque {
                sys::set_xattr_fd(&dir, OPAQUE_XATTR, b"y")?;
            }
            Ok(())
        }
        Entry::Symlink { target, .. } => sys::symlink_at(target, &parent, name),
        Entry::Whiteout { .. } => sys::whiteout_at(&parent, name),
    }
}
