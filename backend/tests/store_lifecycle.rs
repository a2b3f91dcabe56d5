//! The store's life beyond import, as root: export read back by skopeo and umoci, commit of an
//! overlayfs upper dir (spec whiteouts in the tar), removal and prune, LRU eviction past the
//! quota, and an import killed mid-way by SIGKILL (the CLI as a child).

mod store_support;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use rootlab::store::{Store, StoreLimits};
use rootlab_shared::image::ImageRef;
use store_support::*;

#[test]
fn export_is_read_by_skopeo_and_umoci_and_round_trips() {
    let work = tempfile::tempdir().unwrap();
    let layout = umoci_image(work.path());
    let theirs = umoci_rootfs(&layout, "img", work.path());
    let store = store(&work.path().join("state"));
    let first = store.import(&layout, Some("lab/x:7")).unwrap();
    let out = work.path().join("x.tar");
    store.export(&ImageRef("lab/x:7".into()), &out).unwrap();
    let inspect = run(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci-archive:{}", out.display())));
    let inspect: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 3);
    let unpacked = work.path().join("exported");
    fs::create_dir(&unpacked).unwrap();
    run(Command::new("tar")
        .arg("-xf")
        .arg(&out)
        .arg("-C")
        .arg(&unpacked));
    assert_eq!(umoci_rootfs(&unpacked, "7", work.path()), theirs);
    let other = store_support::store(&work.path().join("state2"));
    let again = other.import(&out, None).unwrap();
    assert_eq!(again.summary.name, "lab/x:7");
    assert_eq!(
        again.summary.digest, first.summary.digest,
        "same manifest, same digest"
    );
}

#[test]
fn commit_writes_spec_whiteouts_and_tools_read_the_image() {
    let work = tempfile::tempdir().unwrap();
    let layout = umoci_image(work.path());
    let store = store(&work.path().join("state"));
    store.import(&layout, Some("base")).unwrap();
    // An overlayfs upper dir as the sandbox leaves it.
    let upper = work.path().join("upper");
    sh(
        "mkdir -p upper/etc upper/opq upper/keep
         mknod upper/etc/a c 0 0
         echo new > upper/opq/only
         echo k2 > upper/keep/k2",
        work.path(),
    );
    set_opaque(&upper.join("opq"));
    let made = store
        .commit(
            &upper,
            &ImageRef("base".into()),
            Some("base:next"),
            "echo test",
        )
        .unwrap();
    assert_eq!((made.layers, made.source.as_str()), (4, "commit"));
    let detail = store.inspect(&ImageRef("base:next".into())).unwrap();
    let top = detail.layers.last().unwrap();
    assert_eq!(top.created_by.as_deref(), Some("echo test"));
    let blob = work
        .path()
        .join("state/store/blobs/sha256")
        .join(&top.digest.as_ref().unwrap()[7..]);
    let names = tar_names(&blob);
    assert!(names.contains(&"etc/.wh.a".to_string()), "{names:?}");
    assert!(names.contains(&"opq/.wh..wh..opq".to_string()), "{names:?}");
    // umoci applies the new layer: `etc/a` gone (its hard link stays), `opq` only has `only`.
    let out = work.path().join("next.tar");
    store.export(&ImageRef("base:next".into()), &out).unwrap();
    run(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci-archive:{}", out.display())));
    let dir = work.path().join("next");
    fs::create_dir(&dir).unwrap();
    run(Command::new("tar").arg("-xf").arg(&out).arg("-C").arg(&dir));
    let theirs = umoci_rootfs(&dir, "next", work.path());
    assert!(!theirs.contains_key("etc/a") && theirs.contains_key("etc/hl"));
    let opq: Vec<_> = theirs.keys().filter(|k| k.starts_with("opq/")).collect();
    assert_eq!(opq, ["opq/only"]);
    assert!(theirs.contains_key("keep/k") && theirs.contains_key("keep/k2"));
    let ours = merged(&store.resolve(&ImageRef("base:next".into())).unwrap().layers);
    assert_eq!(ours, theirs);
}

#[test]
fn commit_on_a_builtin_and_export_of_a_builtin() {
    let work = tempfile::tempdir().unwrap();
    let store = store(&work.path().join("state"));
    let upper = work.path().join("upper");
    fs::create_dir(&upper).unwrap();
    fs::write(upper.join("hello"), "hi\n").unwrap();
    let made = store
        .commit(&upper, &ImageRef::busybox(), Some("bb:hi"), "add hello")
        .unwrap();
    assert_eq!(made.layers, 2);
    let layers = store.resolve(&ImageRef("bb:hi".into())).unwrap().layers;
    let view = merged(&layers);
    assert!(view.contains_key("bin/busybox") && view.contains_key("hello"));
    let out = work.path().join("bb.tar");
    store.export(&ImageRef::busybox(), &out).unwrap();
    run(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci-archive:{}", out.display())));
    let names: Vec<_> = store.list().unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(
        names.iter().filter(|n| n.starts_with("sha256:")).count(),
        0,
        "{names:?}"
    );
}

#[test]
fn remove_then_prune_frees_what_no_image_uses() {
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let s = store(&state);
    let a = one_layer(&work.path().join("a"), &[Entry::file("a", b"a")]);
    s.import(&a, Some("a")).unwrap();
    s.import(&a, Some("a2")).unwrap();
    s.remove(&ImageRef("a".into())).unwrap();
    assert!(
        s.resolve(&ImageRef("a2".into())).is_ok(),
        "another name keeps the image"
    );
    assert_eq!(s.prune().unwrap().layers, 0);
    s.remove(&ImageRef("a2".into())).unwrap();
    let pruned = s.prune().unwrap();
    assert_eq!((pruned.layers, pruned.blobs), (1, 3));
    assert_empty_store(&state);
}

#[test]
fn past_the_quota_the_least_recently_used_image_goes() {
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let image = |n: &str| {
        one_layer(
            &work.path().join(n),
            &[Entry::file(n, &vec![n.as_bytes()[0]; 100_000])],
        )
    };
    let limits = StoreLimits {
        quota_bytes: 250_000,
        ..StoreLimits::default()
    };
    let s = Store::open_with(&cfg(&state), limits).unwrap();
    s.import(&image("a"), Some("a")).unwrap();
    s.import(&image("b"), Some("b")).unwrap();
    s.resolve(&ImageRef("a".into())).unwrap(); // `a` used after `b`
    s.import(&image("c"), Some("c")).unwrap();
    assert!(s.resolve(&ImageRef("a".into())).is_ok());
    assert!(s.resolve(&ImageRef("c".into())).is_ok());
    let err = s.resolve(&ImageRef("b".into())).unwrap_err();
    assert!(err.to_string().contains("no image `b`"), "{err}");
    let big = one_layer(
        &work.path().join("big"),
        &[Entry::file("big", &vec![1u8; 300_000])],
    );
    let err = s.import(&big, Some("big")).unwrap_err().to_string();
    assert!(err.contains("quota"), "{err}");
}

#[test]
fn an_import_killed_mid_way_leaves_a_consistent_store_and_a_retry_works() {
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let entries: Vec<Entry> = (0..20_000)
        .map(|i| Entry::file(&format!("d{}/f{i}", i % 50), b"some content\n"))
        .collect();
    let layout = one_layer(&work.path().join("img"), &entries);
    let _ = store(&state);
    let mut child = Command::new(env!("CARGO_BIN_EXE_rootlab"))
        .args(["images", "import"])
        .arg(&layout)
        .args(["--name", "big:1"])
        .env("ROOTLAB_STATE_DIR", &state)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until it is unpacking (a layer tree exists in tmp/), then kill it.
    let tmp = state.join("store/tmp");
    while !has_entry_like(&tmp, "layer-") {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import ended before it was killed"
        );
        std::thread::yield_now();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        has_entry_like(&tmp, "layer-"),
        "killed mid-way: its leftovers are there"
    );
    let s = store(&state); // open cleans the leftovers
    assert!(!has_entry_like(&tmp, ""), "tmp/ emptied by open");
    assert!(s.resolve(&ImageRef("big:1".into())).is_err());
    assert_empty_store(&state);
    let imported = s.import(&layout, Some("big:1")).unwrap();
    assert_eq!(imported.summary.layers, 1);
    let layer = &s.resolve(&ImageRef("big:1".into())).unwrap().layers[0];
    assert!(layer.join("d7/f19957").is_file());
}

fn has_entry_like(dir: &Path, prefix: &str) -> bool {
    fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
        })
        .unwrap_or(false)
}

fn set_opaque(dir: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
    // SAFETY: both strings are NUL-terminated; the value is a valid 1-byte slice.
    let rc = unsafe {
        libc::setxattr(
            p.as_ptr(),
            c"user.overlay.opaque".as_ptr(),
            b"y".as_ptr().cast(),
            1,
            0,
        )
    };
    assert_eq!(rc, 0, "setxattr");
}
