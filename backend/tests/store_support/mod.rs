//! Helpers of the image store tests: a store in a temp state dir, images made with the real
//! tools (`umoci`, `skopeo`, busybox-static) or written by hand with the `tar` crate, and the
//! merged view of stored layers (whiteouts remove, opaque dirs hide) to compare with `umoci
//! unpack`'s rootfs.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use rootlab::config::{EngineArgs, EngineConfig};
use rootlab::store::{Store, StoreLimits};
use sha2::{Digest, Sha256};

pub fn cfg(state: &Path) -> EngineConfig {
    EngineConfig::from_args(&EngineArgs {
        state_dir: Some(state.to_path_buf()),
        ..Default::default()
    })
}

pub fn store(state: &Path) -> Store {
    Store::open_with(&cfg(state), StoreLimits::default()).expect("open the store")
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn sh(script: &str, dir: &Path) -> String {
    run(Command::new("sh").arg("-ec").arg(script).current_dir(dir))
}

/// An OCI layout `<dir>/oci` (tag `img`) made with umoci: busybox-static, then a layer that
/// deletes a file (whiteout), then a hand-written layer with an opaque dir, a symlink and a
/// hard link.
pub fn umoci_image(dir: &Path) -> PathBuf {
    sh(
        "umoci init --layout oci
         umoci new --image oci:img
         umoci unpack --image oci:img b
         mkdir -p b/rootfs/bin b/rootfs/etc/d b/rootfs/opq b/rootfs/keep
         cp /bin/busybox b/rootfs/bin/busybox
         ln -s busybox b/rootfs/bin/sh
         echo one > b/rootfs/etc/a; echo gone > b/rootfs/etc/gone
         echo x > b/rootfs/etc/d/x; echo old > b/rootfs/opq/old; echo k > b/rootfs/keep/k
         chmod 0750 b/rootfs/etc/d; chmod 0600 b/rootfs/etc/d/x
         ln b/rootfs/etc/a b/rootfs/etc/hl
         umoci repack --image oci:img b
         rm -rf b
         umoci unpack --image oci:img b
         rm b/rootfs/etc/gone
         echo two > b/rootfs/etc/new
         umoci repack --image oci:img b
         rm -rf b",
        dir,
    );
    let layer = tar_bytes(&[
        Entry::dir("opq"),
        Entry::file("opq/.wh..wh..opq", b""),
        Entry::file("opq/fresh", b"fresh\n"),
        Entry::symlink("etc/link", "../bin/busybox"),
        Entry::file("etc/b", b"bee\n"),
        Entry::hardlink("etc/b2", "etc/b"),
    ]);
    fs::write(dir.join("layer3.tar"), layer).unwrap();
    sh(
        "umoci raw add-layer --image oci:img layer3.tar && rm layer3.tar",
        dir,
    );
    dir.join("oci")
}

/// What a path is in a merged view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    File { mode: u32, sha: String },
    Dir { mode: u32 },
    Symlink(String),
}

/// A rootfs map in the shape of `engine_support::merged_shape`, leaving out `skip`.
pub fn shaped(tree: BTreeMap<String, Node>, skip: &[&str]) -> Vec<(String, String)> {
    tree.into_iter()
        .filter(|(p, _)| !skip.contains(&p.as_str()))
        .map(|(p, node)| {
            let shape = match node {
                Node::File { mode, .. } => format!("File {mode:o} None"),
                Node::Dir { mode } => format!("Dir {mode:o} None"),
                Node::Symlink(t) => format!("Symlink 777 Some({t:?})"),
            };
            (p, shape)
        })
        .collect()
}

/// `umoci unpack`'s rootfs of `oci:<tag>`.
pub fn umoci_rootfs(layout: &Path, tag: &str, work: &Path) -> BTreeMap<String, Node> {
    let bundle = work.join(format!("bundle-{tag}"));
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:{tag}", layout.display()))
        .arg(&bundle));
    scan(&bundle.join("rootfs"))
}

/// The tree below `root` as a map (root itself left out).
pub fn scan(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    scan_into(root, "", &mut out);
    out
}

fn scan_into(dir: &Path, rel: &str, out: &mut BTreeMap<String, Node>) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let meta = fs::symlink_metadata(e.path()).unwrap();
        let mode = meta.mode() & 0o7777;
        if meta.is_dir() {
            out.insert(child.clone(), Node::Dir { mode });
            scan_into(&e.path(), &child, out);
        } else if meta.file_type().is_symlink() {
            let t = fs::read_link(e.path()).unwrap();
            out.insert(child, Node::Symlink(t.to_string_lossy().into_owned()));
        } else if meta.file_type().is_char_device() && meta.rdev() == 0 {
            out.insert(child, Node::Symlink("<whiteout>".into()));
        } else {
            let sha = format!("{:x}", Sha256::digest(fs::read(e.path()).unwrap()));
            out.insert(child, Node::File { mode, sha });
        }
    }
}

/// The merged view of unpacked layers (bottom first), as overlayfs would show it.
pub fn merged(layers: &[PathBuf]) -> BTreeMap<String, Node> {
    let mut view: BTreeMap<String, Node> = BTreeMap::new();
    for layer in layers {
        let upper = scan(layer);
        for (path, node) in &upper {
            let p = Path::new(layer).join(path);
            let opaque = xattr_opaque(&p);
            if node == &Node::Symlink("<whiteout>".into()) || opaque {
                let prefix = format!("{path}/");
                view.retain(|k, _| !k.starts_with(&prefix));
                if !opaque {
                    view.remove(path);
                }
            }
        }
        for (path, node) in upper {
            if node != Node::Symlink("<whiteout>".into()) {
                if !matches!(node, Node::Dir { .. }) {
                    let prefix = format!("{path}/");
                    view.retain(|k, _| !k.starts_with(&prefix));
                }
                view.insert(path, node);
            }
        }
    }
    view
}

pub fn xattr_opaque(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let mut buf = [0u8; 8];
    // SAFETY: both strings are NUL-terminated; buf is writable for its length.
    let n = unsafe {
        libc::lgetxattr(
            p.as_ptr(),
            c"user.overlay.opaque".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    n == 1 && buf[0] == b'y'
}

/// One entry of a hand-written tar: any name, any type (the `tar` crate's checks bypassed so
/// hostile names can be written).
pub struct Entry {
    pub name: String,
    pub kind: tar::EntryType,
    pub data: Vec<u8>,
    pub link: Option<String>,
    pub mode: u32,
}

impl Entry {
    pub fn file(name: &str, data: &[u8]) -> Entry {
        Entry {
            name: name.into(),
            kind: tar::EntryType::Regular,
            data: data.to_vec(),
            link: None,
            mode: 0o644,
        }
    }
    pub fn dir(name: &str) -> Entry {
        Entry {
            name: name.into(),
            kind: tar::EntryType::Directory,
            data: vec![],
            link: None,
            mode: 0o755,
        }
    }
    pub fn symlink(name: &str, target: &str) -> Entry {
        Entry {
            name: name.into(),
            kind: tar::EntryType::Symlink,
            data: vec![],
            link: Some(target.into()),
            mode: 0o777,
        }
    }
    pub fn hardlink(name: &str, target: &str) -> Entry {
        Entry {
            name: name.into(),
            kind: tar::EntryType::Link,
            data: vec![],
            link: Some(target.into()),
            mode: 0o644,
        }
    }
    pub fn node(name: &str, kind: tar::EntryType) -> Entry {
        Entry {
            name: name.into(),
            kind,
            data: vec![],
            link: None,
            mode: 0o644,
        }
    }
    pub fn mode(mut self, mode: u32) -> Entry {
        self.mode = mode;
        self
    }
}

pub fn tar_bytes(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(e.kind);
        h.set_mode(e.mode);
        h.set_size(e.data.len() as u64);
        h.set_mtime(1_700_000_000);
        let name = &mut h.as_old_mut().name;
        name[..e.name.len()].copy_from_slice(e.name.as_bytes());
        if let Some(l) = &e.link {
            h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
        h.set_cksum();
        b.append(&h, &e.data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

pub fn sha(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// An OCI layout written by hand: layers as `(blob bytes, uncompressed tar bytes, media
/// type)`; the config is `config` if given, else a valid one naming the layers' diff_ids.
pub fn hand_layout(
    dir: &Path,
    layers: &[(Vec<u8>, Vec<u8>, &str)],
    config: Option<&[u8]>,
) -> PathBuf {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let d = sha(bytes);
        fs::write(blobs.join(&d[7..]), bytes).unwrap();
        d
    };
    let diff_ids: Vec<String> = layers.iter().map(|(_, tar, _)| sha(tar)).collect();
    let default_config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let config = config.unwrap_or(&default_config);
    let config_digest = put(config);
    let descs: Vec<_> = layers
        .iter()
        .map(|(blob, _, mt)| serde_json::json!({"mediaType": mt, "digest": put(blob), "size": blob.len()}))
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": descs,
    }))
    .unwrap();
    let md = put(&manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": manifest.len()}],
    });
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    dir.to_path_buf()
}

/// A one-layer gzip layout of these entries.
pub fn one_layer(dir: &Path, entries: &[Entry]) -> PathBuf {
    let tar = tar_bytes(entries);
    let mt = "application/vnd.oci.image.layer.v1.tar+gzip";
    hand_layout(dir, &[(gzip(&tar), tar, mt)], None)
}

pub const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// The store holds no image, no layer, no blob and nothing in `tmp/`.
pub fn assert_empty_store(state: &Path) {
    let root = state.join("store");
    for sub in ["images", "layers", "blobs/sha256", "tmp"] {
        let left: Vec<_> = fs::read_dir(root.join(sub))
            .map(|d| d.map(|e| e.unwrap().file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "store/{sub} holds {left:?}");
    }
    let index = fs::read_to_string(root.join("index.json")).unwrap_or_default();
    assert!(!index.contains("sha256:"), "index.json: {index}");
}

/// Read a gzip blob's tar entry names.
pub fn tar_names(blob: &Path) -> Vec<String> {
    let mut bytes = Vec::new();
    flate2::read::MultiGzDecoder::new(fs::File::open(blob).unwrap())
        .read_to_end(&mut bytes)
        .unwrap();
    let mut a = tar::Archive::new(&bytes[..]);
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}
