//! Imports of real images (made by umoci, converted by skopeo) as root: the store's merged
//! view of the layers equals `umoci unpack`'s rootfs file by file, whatever the source form.

mod store_support;

use std::fs;
use std::process::Command;

use rootlab_shared::image::{ImageRef, LayerEntryKind};
use store_support::*;

#[test]
fn oci_layout_dir_matches_umoci_unpack() {
    let work = tempfile::tempdir().unwrap();
    let layout = umoci_image(work.path());
    let state = work.path().join("state");
    let store = store(&state);
    let imported = store.import(&layout, Some("lab/test:1")).unwrap();
    assert_eq!(imported.summary.name, "lab/test:1");
    assert_eq!(imported.summary.layers, 3, "two repacks, one raw layer");
    let resolved = store.resolve(&ImageRef("lab/test:1".into())).unwrap();
    let ours = merged(&resolved.layers);
    let theirs = umoci_rootfs(&layout, "img", work.path());
    assert_eq!(ours, theirs);
    assert!(!ours.contains_key("etc/gone") && !ours.contains_key("opq/old"));
    assert!(ours.contains_key("opq/fresh"));
}

#[test]
fn listing_names_whiteouts_opaque_dirs_and_links() {
    let work = tempfile::tempdir().unwrap();
    let layout = umoci_image(work.path());
    let store = store(&work.path().join("state"));
    store.import(&layout, Some("t")).unwrap();
    let listing = store.listing(&ImageRef("t".into())).unwrap();
    let all: Vec<_> = listing.iter().flat_map(|(_, e)| e.iter()).collect();
    let find = |p: &str| all.iter().rev().find(|e| e.path == p).copied();
    assert_eq!(find("etc/gone").unwrap().kind, LayerEntryKind::Whiteout);
    assert!(find("opq").unwrap().opaque);
    assert_eq!(
        find("etc/link").unwrap().target.as_deref(),
        Some("../bin/busybox")
    );
    let hl = find("etc/b2").unwrap();
    assert_eq!(
        (hl.kind, hl.target.as_deref()),
        (LayerEntryKind::Hardlink, Some("etc/b"))
    );
    let (info, _) = listing.last().unwrap();
    assert_eq!(info.entries, 6);
    // The unpacked tree has a real overlayfs whiteout and the opaque xattr.
    let resolved = store.resolve(&ImageRef("t".into())).unwrap();
    let gone = resolved.layers[1].join("etc/gone");
    let meta = fs::symlink_metadata(&gone).unwrap();
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    assert!(meta.file_type().is_char_device() && meta.rdev() == 0);
    assert!(xattr_opaque(&resolved.layers[2].join("opq")));
}

#[test]
fn docker_archive_and_oci_archive_match_umoci_unpack_and_share_layers() {
    let work = tempfile::tempdir().unwrap();
    let layout = umoci_image(work.path());
    let theirs = umoci_rootfs(&layout, "img", work.path());
    let src = format!("oci:{}:img", layout.display());
    let docker = work.path().join("docker.tar");
    let oci_tar = work.path().join("oci.tar");
    run(Command::new("skopeo")
        .args(["copy", &src])
        .arg(format!("docker-archive:{}:lab/dock:2", docker.display())));
    run(Command::new("skopeo")
        .args(["copy", &src])
        .arg(format!("oci-archive:{}:img", oci_tar.display())));
    let state = work.path().join("state");
    let store = store(&state);
    let d = store.import(&docker, None).unwrap();
    assert_eq!(
        d.summary.name, "lab/dock:2",
        "named by the archive's RepoTags"
    );
    assert_eq!(
        merged(
            &store
                .resolve(&ImageRef("lab/dock:2".into()))
                .unwrap()
                .layers
        ),
        theirs
    );
    let o = store.import(&oci_tar, Some("lab/oci")).unwrap();
    assert_eq!(o.summary.name, "lab/oci:latest");
    let layers = store.resolve(&ImageRef("lab/oci".into())).unwrap().layers;
    assert_eq!(merged(&layers), theirs);
    // Same diff_ids: the second import unpacked nothing new.
    let dirs = fs::read_dir(state.join("store/layers")).unwrap();
    let trees = dirs.filter(|e| e.as_ref().unwrap().path().is_dir()).count();
    assert_eq!(trees, 3);
    let names: Vec<_> = store.list().unwrap().into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"lab/dock:2".to_string()) && names.contains(&"lab/oci:latest".to_string())
    );
}

#[test]
fn zstd_and_uncompressed_layers_and_a_multi_arch_index() {
    let work = tempfile::tempdir().unwrap();
    let t1 = tar_bytes(&[Entry::file("z", b"zstd layer\n")]);
    let t2 = tar_bytes(&[Entry::file("u", b"plain layer\n")]);
    let z = zstd::encode_all(&t1[..], 3).unwrap();
    let dir = work.path().join("img");
    hand_layout(
        &dir,
        &[
            (z, t1, "application/vnd.oci.image.layer.v1.tar+zstd"),
            (t2.clone(), t2, "application/vnd.oci.image.layer.v1.tar"),
        ],
        None,
    );
    // Wrap the manifest in a nested multi-arch index with an arm64 decoy.
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
    let mut amd = index["manifests"][0].clone();
    amd["platform"] = serde_json::json!({"os": "linux", "architecture": "amd64"});
    let mut arm = amd.clone();
    arm["platform"] = serde_json::json!({"os": "linux", "architecture": "arm64"});
    arm["digest"] =
        "sha256:0000000000000000000000000000000000000000000000000000000000000000".into();
    let nested = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [arm, amd]})).unwrap();
    let nd = sha(&nested);
    fs::write(dir.join("blobs/sha256").join(&nd[7..]), &nested).unwrap();
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": nd, "size": nested.len(),
        "annotations": {"org.opencontainers.image.ref.name": "multi/arch:v1"}}]});
    fs::write(dir.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    let store = store(&work.path().join("state"));
    let imported = store.import(&dir, None).unwrap();
    assert_eq!(imported.summary.name, "multi/arch:v1");
    let view = merged(
        &store
            .resolve(&ImageRef("multi/arch:v1".into()))
            .unwrap()
            .layers,
    );
    assert_eq!(view.keys().cloned().collect::<Vec<_>>(), ["u", "z"]);
}

#[test]
fn builtins_are_single_layer_images() {
    let work = tempfile::tempdir().unwrap();
    let store = store(&work.path().join("state"));
    let tools = store.resolve(&ImageRef::tools()).unwrap();
    assert_eq!(tools.summary.source, "builtin");
    assert_eq!(tools.layers.len(), 1);
    assert!(tools.layers[0].starts_with(work.path().join("state/images")));
    assert!(tools.layers[0].join("bin/sh").exists());
    let list = store.list().unwrap();
    assert_eq!(list[0].name, "tools");
    assert!(list
        .iter()
        .any(|s| s.name == "busybox" && s.source == "builtin"));
    let listing = store.listing(&ImageRef::busybox()).unwrap();
    assert!(listing[0].1.iter().any(|e| e.path == "bin/busybox"));
    assert!(store.remove(&ImageRef::tools()).is_err());
}
