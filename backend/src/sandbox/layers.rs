//! Creating declared entries: the lab host's files and each layer under `/layers/<name>`,
//! with overlayfs whiteouts (char 0:0) and opaque directories (`user.overlay.opaque=y`).

use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use rootlab_shared::spec::{Entry, Layer};

use super::sys;

/// The xattr unprivileged overlayfs (`userxattr`) reads to treat a directory as opaque.
pub const OPAQUE_XATTR: &str = "user.overlay.opaque";

pub fn layer_dir(name: &str) -> PathBuf {
    Path::new("/layers").join(name)
}

pub fn create_host_files(entries: &[Entry]) -> io::Result<()> {
    entries.iter().try_for_each(|e| create(Path::new("/"), e))
}

pub fn create_layers(layers: &[Layer]) -> io::Result<()> {
    for layer in layers {
        let dir = layer_dir(&layer.name);
        std::fs::create_dir_all(&dir)?;
        for entry in &layer.entries {
            create(&dir, entry)?;
        }
    }
    Ok(())
}

/// Create one entry below `base` (paths were validated: no `..`, no escapes).
fn create(base: &Path, entry: &Entry) -> io::Result<()> {
    let path = base.join(entry.path().trim_start_matches('/'));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match entry {
        Entry::File { content, mode, .. } => {
            std::fs::write(&path, content)?;
            set_mode(&path, *mode)
        }
        Entry::Dir { mode, opaque, .. } => {
            std::fs::create_dir_all(&path)?;
            set_mode(&path, *mode)?;
            if *opaque {
                sys::set_xattr(&path, OPAQUE_XATTR, b"y")?;
            }
            Ok(())
        }
        Entry::Symlink { target, .. } => symlink(target, &path),
        Entry::Whiteout { .. } => Ok(sys::make_whiteout(&path)?),
    }
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7777))
}
