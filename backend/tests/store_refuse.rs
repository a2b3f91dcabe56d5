//! Hostile and broken inputs, one test each: the import fails with an error naming the problem
//! (or, for device nodes and setuid bits, succeeds and reports what it dropped or stripped),
//! and a failed import leaves no image, layer, blob or temp file behind.

mod store_support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use rootlab::store::{Store, StoreLimits};
use rootlab_shared::image::ImageRef;
use store_support::*;
use tar::EntryType;

fn limited(state: &Path, limits: StoreLimits) -> Store {
    Store::open_with(&cfg(state), limits).unwrap()
}

/// Import a one-layer image of `entries`; the error, after checking nothing was left.
fn refused_with(entries: &[Entry], limits: StoreLimits) -> String {
    let work = tempfile::tempdir().unwrap();
    let layout = one_layer(&work.path().join("img"), entries);
    let state = work.path().join("state");
    let err = limited(&state, limits)
        .import(&layout, Some("bad"))
        .unwrap_err();
    assert_empty_store(&state);
    err.to_string()
}

fn refused(entries: &[Entry]) -> String {
    refused_with(entries, StoreLimits::default())
}

#[test]
fn dot_dot_components_are_refused() {
    let err = refused(&[Entry::file("a/../../escape", b"x")]);
    assert!(
        err.contains("`a/../../escape`") && err.contains("`..` component"),
        "{err}"
    );
}

#[test]
fn absolute_paths_are_refused() {
    let err = refused(&[Entry::file("/etc/evil", b"x")]);
    assert!(
        err.contains("`/etc/evil`") && err.contains("absolute path"),
        "{err}"
    );
}

#[test]
fn a_file_through_an_earlier_symlink_is_refused_and_nothing_lands_outside() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().to_str().unwrap().to_string();
    let err = refused(&[
        Entry::symlink("lnk", &target),
        Entry::file("lnk/evil", b"x"),
    ]);
    assert!(
        err.contains("`lnk/evil`") && err.contains("through a symlink"),
        "{err}"
    );
    assert!(!outside.path().join("evil").exists());
    let err = refused(&[Entry::symlink("up", ".."), Entry::dir("up/d")]);
    assert!(
        err.contains("`up/d`") && err.contains("through a symlink"),
        "{err}"
    );
}

#[test]
fn hard_links_out_of_the_layer_or_forward_are_refused() {
    let err = refused(&[Entry::hardlink("h", "../../etc/passwd")]);
    assert!(
        err.contains("`h`") && err.contains("outside the layer"),
        "{err}"
    );
    let err = refused(&[Entry::hardlink("h", "/etc/passwd")]);
    assert!(
        err.contains("`h`") && err.contains("outside the layer"),
        "{err}"
    );
    let err = refused(&[Entry::hardlink("h", "later"), Entry::file("later", b"x")]);
    assert!(
        err.contains("`h`") && err.contains("not a file unpacked before"),
        "{err}"
    );
}

#[test]
fn device_nodes_and_fifos_are_dropped_and_reported() {
    let work = tempfile::tempdir().unwrap();
    let entries = [
        Entry::dir("dev"),
        Entry::node("dev/sda", EntryType::Block),
        Entry::node("dev/mem", EntryType::Char),
        Entry::node("dev/pipe", EntryType::Fifo),
        Entry::file("ok", b"fine"),
    ];
    let layout = one_layer(&work.path().join("img"), &entries);
    let store = store(&work.path().join("state"));
    let imported = store.import(&layout, Some("dev")).unwrap();
    let w = imported.warnings.join("\n");
    assert!(w.contains("`dev/sda`: device node dropped"), "{w}");
    assert!(w.contains("`dev/mem`: device node dropped"), "{w}");
    assert!(w.contains("`dev/pipe`: FIFO dropped"), "{w}");
    let layer = &store.resolve(&ImageRef("dev".into())).unwrap().layers[0];
    assert!(layer.join("ok").exists());
    assert_eq!(fs::read_dir(layer.join("dev")).unwrap().count(), 0);
}

#[test]
fn setuid_and_setgid_are_stripped_and_reported() {
    let work = tempfile::tempdir().unwrap();
    let entries = [
        Entry::file("su", b"#!/bin/sh\n").mode(0o4755),
        Entry::file("sg", b"#!/bin/sh\n").mode(0o2755),
        Entry::dir("tmp").mode(0o1777),
    ];
    let layout = one_layer(&work.path().join("img"), &entries);
    let store = store(&work.path().join("state"));
    let imported = store.import(&layout, Some("suid")).unwrap();
    let w = imported.warnings.join("\n");
    assert!(
        w.contains("`su`: setuid/setgid bits stripped") && w.contains("`sg`"),
        "{w}"
    );
    let layer = &store.resolve(&ImageRef("suid".into())).unwrap().layers[0];
    let mode = |p: &str| fs::metadata(layer.join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(
        (mode("su"), mode("sg"), mode("tmp")),
        (0o755, 0o755, 0o1777)
    );
    let listing = store.listing(&ImageRef("suid".into())).unwrap();
    assert!(listing[0].1.iter().all(|e| e.mode & 0o6000 == 0));
}

#[test]
fn an_empty_whiteout_name_is_refused() {
    let err = refused(&[Entry::dir("d"), Entry::file("d/.wh.", b"")]);
    assert!(
        err.contains("`d/.wh.`") && err.contains("empty whiteout name"),
        "{err}"
    );
}

#[test]
fn too_many_entries_stop_the_import() {
    let entries: Vec<Entry> = (0..20)
        .map(|i| Entry::file(&format!("f{i}"), b"x"))
        .collect();
    let limits = StoreLimits {
        max_entries: 5,
        ..StoreLimits::default()
    };
    let err = refused_with(&entries, limits);
    assert!(err.contains("more than 5 entries"), "{err}");
}

#[test]
fn a_gzip_bomb_stops_early() {
    let big = vec![0u8; 64 << 20];
    let work = tempfile::tempdir().unwrap();
    let tar = tar_bytes(&[Entry::file("zeros", &big)]);
    let blob = gzip(&tar);
    assert!(blob.len() < 1 << 20, "the bomb is small compressed");
    let layout = hand_layout(&work.path().join("img"), &[(blob, tar, GZIP)], None);
    let state = work.path().join("state");
    let limits = StoreLimits {
        max_unpacked_bytes: 1 << 20,
        ..StoreLimits::default()
    };
    let err = limited(&state, limits)
        .import(&layout, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("more than 1048576 bytes once decompressed"),
        "{err}"
    );
    assert_empty_store(&state);
}

/// A valid one-layer layout, then `spoil` applied to its layer blob's path.
fn spoiled(spoil: impl Fn(&Path)) -> String {
    let work = tempfile::tempdir().unwrap();
    let tar = tar_bytes(&[Entry::file("a", &[7u8; 4096])]);
    let blob = gzip(&tar);
    let blob_path = work.path().join("img/blobs/sha256").join(&sha(&blob)[7..]);
    let layout = hand_layout(&work.path().join("img"), &[(blob, tar, GZIP)], None);
    spoil(&blob_path);
    let state = work.path().join("state");
    let err = store(&state)
        .import(&layout, Some("x"))
        .unwrap_err()
        .to_string();
    assert_empty_store(&state);
    err
}

#[test]
fn a_truncated_blob_is_refused() {
    let err = spoiled(|p| {
        let bytes = fs::read(p).unwrap();
        fs::write(p, &bytes[..bytes.len() / 2]).unwrap();
    });
    assert!(err.contains("is truncated"), "{err}");
}

#[test]
fn a_digest_mismatch_is_refused() {
    let err = spoiled(|p| {
        let mut bytes = fs::read(p).unwrap();
        let n = bytes.len();
        bytes[n - 9] ^= 0xff;
        fs::write(p, &bytes).unwrap();
    });
    assert!(err.contains("digest mismatch"), "{err}");
}

#[test]
fn a_missing_blob_is_refused() {
    let err = spoiled(|p| fs::remove_file(p).unwrap());
    assert!(err.contains("names a blob that is missing"), "{err}");
}

#[test]
fn a_config_that_is_not_json_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let tar = tar_bytes(&[Entry::file("a", b"x")]);
    let layers = [(gzip(&tar), tar, GZIP)];
    let layout = hand_layout(
        &work.path().join("img"),
        &layers,
        Some(b"this is { not json"),
    );
    let state = work.path().join("state");
    let err = store(&state).import(&layout, None).unwrap_err().to_string();
    assert!(err.contains("the image config is not valid JSON"), "{err}");
    assert_empty_store(&state);
}

#[test]
fn a_wrong_diff_id_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let tar = tar_bytes(&[Entry::file("a", b"x")]);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha(b"something else")]},
    }))
    .unwrap();
    let layout = hand_layout(
        &work.path().join("img"),
        &[(gzip(&tar), tar, GZIP)],
        Some(&config),
    );
    let state = work.path().join("state");
    let err = store(&state).import(&layout, None).unwrap_err().to_string();
    assert!(err.contains("rootfs.diff_ids says"), "{err}");
    assert_empty_store(&state);
}

#[test]
fn a_media_type_that_lies_about_compression_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let tar = tar_bytes(&[Entry::file("a", b"x")]);
    let layout = hand_layout(&work.path().join("img"), &[(tar.clone(), tar, GZIP)], None);
    let state = work.path().join("state");
    let err = store(&state).import(&layout, None).unwrap_err().to_string();
    assert!(
        err.contains("says gzip, but the blob's first bytes are uncompressed"),
        "{err}"
    );
    assert_empty_store(&state);
}

#[test]
fn not_an_archive_and_unknown_images_are_named() {
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let s = store(&state);
    fs::create_dir(work.path().join("empty")).unwrap();
    let err = s.import(&work.path().join("empty"), None).unwrap_err();
    assert!(err.to_string().contains("neither a `docker save`"), "{err}");
    assert!(err.is_invalid_input());
    let err = s.resolve(&ImageRef("nope:1".into())).unwrap_err();
    assert!(err.to_string().contains("no image `nope:1`") && err.is_invalid_input());
    assert_empty_store(&state);
}
