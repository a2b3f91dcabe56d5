//! `commit` steps against the real kernel: a container's writable layer (copy-ups, whiteouts,
//! an opaque directory) becomes an OCI layer and an image; the next run's merged view and
//! `umoci unpack` of the exported image agree; hostile layers (symlinks out, FIFOs, sockets,
//! a renamed upper dir, too many bytes, a taken name) are handled; and a tar that climbs out is
//! refused by the worker's side however the sandbox made it.

mod engine_support;
mod store_support;

use std::path::Path;
use std::process::Command;

use engine_support::{assert_ok, merged_shape, snapshot_view, stdout, step, Worker};
use rootlab::config::{EngineArgs, EngineConfig};
use rootlab::store::Store;
use rootlab_shared::image::{ImageRef, LayerEntryKind};
use rootlab_shared::result::{Committed, RunStatus, StepDetails, StepOutcome, StepResult};
use serde_json::json;
use store_support::{tar_bytes, Entry};

/// A worker whose engine keeps commits (as `rootlab serve --allow-commit` starts them).
fn keeping_worker() -> Worker {
    Worker::start_with(&[], &[("ROOTLAB_ALLOW_COMMIT", "1")])
}

/// The workers' store, opened as they open it (the sandbox uid owns unpacked layers).
fn store_of(w: &Worker) -> Store {
    let cfg = EngineConfig::from_args(&EngineArgs {
        state_dir: Some(w.state_dir.clone()),
        sandbox_uid: Some(w.sandbox_uid),
        sandbox_gid: Some(w.sandbox_uid),
        ..Default::default()
    });
    Store::open(&cfg).expect("the workers' store")
}

/// A name no earlier run of these tests took (the test state dir is kept between runs).
fn fresh_name(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("rootlab-test/{what}:{nanos}")
}

fn committed(s: &StepResult) -> &Committed {
    match &s.details {
        Some(StepDetails::Committed(c)) => c,
        other => panic!("no committed layer in {other:?} ({:?})", s.outcome),
    }
}

/// Entries as `path kind [opaque] [-> target]`, one string each.
fn shapes(entries: &[rootlab_shared::image::LayerEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| {
            let opaque = if e.opaque { " opaque" } else { "" };
            let target = e
                .target
                .as_ref()
                .map_or(String::new(), |t| format!(" -> {t}"));
            format!("{} {:?}{opaque}{target}", e.path, e.kind)
        })
        .collect()
}

fn error_of(s: &StepResult) -> String {
    match &s.outcome {
        StepOutcome::Error(e) => e.message.clone(),
        other => panic!("expected an error, got {other:?}"),
    }
}

/// The umoci-made three-layer image (a whiteout, an opaque dir, links) in the workers' store.
fn parent_image(w: &Worker, work: &Path) -> (String, std::path::PathBuf) {
    let layout = store_support::umoci_image(work);
    let name = fresh_name("parent");
    store_of(w).import(&layout, Some(&name)).expect("import");
    (name, layout)
}

const CHANGES: &str = "echo changed > /etc/a && echo cfg > /etc/app.conf && rm /etc/new \
    && rm -r /keep && mkdir /keep && echo n > /keep/n && ln -s /etc/shadow /etc/shadow-link";

/// What the container's writable layer holds after [`CHANGES`] (`dev` and `proc` are the
/// mount points the container made for its own /dev and /proc).
const EXPECTED: [&str; 9] = [
    "dev Dir",
    "etc Dir",
    "etc/a File",
    "etc/app.conf File",
    "etc/new Whiteout",
    "etc/shadow-link Symlink -> /etc/shadow",
    "keep Dir opaque",
    "keep/n File",
    "proc Dir",
];

#[test]
fn a_commit_becomes_an_image_that_the_kernel_and_umoci_read_alike() {
    let mut w = keeping_worker();
    let work = tempfile::tempdir().unwrap();
    let (parent, _) = parent_image(&w, work.path());
    let name = fresh_name("commit");
    let r = w.run(json!({ "steps": [
        { "op": "container", "name": "web", "image": parent },
        { "op": "run", "in": "web", "argv": ["/bin/sh", "-c", CHANGES] },
        { "op": "commit", "container": "web", "name": name, "message": "add a config" }
    ]}));
    assert_eq!(r.status, RunStatus::Completed, "{r:#?}");
    assert_ok(step(&r, 1));
    assert_ok(step(&r, 2));
    let c = committed(step(&r, 2));
    assert_eq!(shapes(&c.entries), EXPECTED);
    assert!(c.skipped.is_empty(), "{:?}", c.skipped);
    assert!(step(&r, 2)
        .command
        .starts_with("docker commit -m 'add a config' web "));
    let image = c.image.as_ref().expect("the image is stored");
    assert_eq!((image.layers, image.source.as_str()), (4, "commit"));
    // The store lists the new top layer exactly as the step did.
    let store = store_of(&w);
    let listing = store.listing(&ImageRef(name.clone())).unwrap();
    let (top, entries) = listing.last().unwrap();
    assert_eq!((&top.diff_id, entries), (&c.diff_id, &c.entries));
    assert_eq!(top.created_by.as_deref(), Some("add a config"));
    // The next run, on the committed image, sees the changes through the kernel's merge.
    let again = w.run(json!({
        "host": { "image": name },
        "steps": [
            { "op": "run", "argv": ["/bin/sh", "-c",
                "cat /etc/a /etc/app.conf /keep/n; ls /keep; readlink /etc/shadow-link; ls /etc/new"] },
            { "op": "snapshot", "label": "s", "views": ["host"], "paths": ["/"], "depth": 8 }
        ]
    }));
    assert_eq!(again.status, RunStatus::Completed, "{again:#?}");
    assert_eq!(stdout(step(&again, 0)), "changed\ncfg\nn\nn\n/etc/shadow\n");
    assert!(step(&again, 0)
        .output
        .as_ref()
        .unwrap()
        .stderr
        .contains("new"));
    // `rootlab images export` is read by skopeo, and umoci unpacks what the kernel showed.
    let archive = work.path().join("committed.tar");
    store.export(&ImageRef(name.clone()), &archive).unwrap();
    let inspected = store_support::run(
        Command::new("skopeo")
            .arg("inspect")
            .arg(format!("oci-archive:{}", archive.display())),
    );
    let layers = serde_json::from_str::<serde_json::Value>(&inspected).unwrap()["Layers"]
        .as_array()
        .map_or(0, |l| l.len());
    assert_eq!(layers, 4, "{inspected}");
    let layout = work.path().join("exported");
    std::fs::create_dir(&layout).unwrap();
    store_support::run(
        Command::new("tar")
            .arg("-xf")
            .arg(&archive)
            .arg("-C")
            .arg(&layout),
    );
    let tag = name.rsplit_once(':').unwrap().1;
    let oracle = store_support::umoci_rootfs(&layout, tag, work.path());
    // umoci's empty `dev` and `proc` left out, as the lab's own are.
    let host = snapshot_view(&again, "s", "host");
    assert_eq!(
        merged_shape(host, "/"),
        store_support::shaped(oracle, &["dev", "proc"])
    );
}

#[test]
fn a_server_that_does_not_keep_commits_lists_the_layer_and_says_how() {
    let mut w = Worker::start();
    let work = tempfile::tempdir().unwrap();
    let (parent, _) = parent_image(&w, work.path());
    let name = fresh_name("dropped");
    let r = w.run(json!({ "steps": [
        { "op": "container", "name": "web", "image": parent },
        { "op": "run", "in": "web", "argv": ["/bin/sh", "-c", CHANGES] },
        { "op": "commit", "container": "web", "name": name }
    ]}));
    assert_eq!(r.status, RunStatus::Completed, "{r:#?}");
    assert_ok(step(&r, 2));
    let c = committed(step(&r, 2));
    assert_eq!(shapes(&c.entries), EXPECTED);
    assert!(c.image.is_none());
    let note = c.note.as_deref().unwrap_or_default();
    assert!(
        note.contains("--allow-commit") && note.contains("ROOTLAB_ALLOW_COMMIT"),
        "{note}"
    );
    assert!(
        store_of(&w).resolve(&ImageRef(name)).is_err(),
        "nothing stored"
    );
}

/// Symlinks out of the layer stay symlinks, FIFOs and sockets are skipped and named, and a
/// decoy put where the upper dir was (after renaming it) is not what gets committed.
#[test]
fn hostile_entries_are_kept_as_data_or_skipped_and_the_real_upper_is_read() {
    let mut w = keeping_worker();
    let name = fresh_name("hostile");
    let inside = "ln -s /etc/shadow /shadow-link && ln -s / /root-link && mkfifo /fifo \
        && mkdir -p /s/bin /s/dev && cp /bin/busybox /s/bin/busybox \
        && { chroot /s /bin/busybox syslogd -n -O /log & } \
        && until [ -S /s/dev/log ]; do sleep 0.05; done; kill -9 $!; echo made";
    let host = "mv /layers/web.upper /layers/renamed && mkdir /layers/web.upper \
        && echo decoy > /layers/web.upper/decoy && echo moved";
    let r = w.run(json!({ "steps": [
        { "op": "container", "name": "web", "image": "busybox" },
        { "op": "run", "in": "web", "argv": ["/bin/busybox", "sh", "-c", inside] },
        { "op": "run", "argv": ["/bin/sh", "-c", host] },
        { "op": "commit", "container": "web", "name": name }
    ]}));
    assert_eq!(r.status, RunStatus::Completed, "{r:#?}");
    assert_eq!(stdout(step(&r, 1)), "made\n", "{:?}", step(&r, 1));
    assert_eq!(stdout(step(&r, 2)), "moved\n", "{:?}", step(&r, 2));
    assert_ok(step(&r, 3));
    let c = committed(step(&r, 3));
    let shown = shapes(&c.entries);
    for want in [
        "shadow-link Symlink -> /etc/shadow",
        "root-link Symlink -> /",
        "s/bin/busybox File",
    ] {
        assert!(
            shown.iter().any(|s| s == want),
            "{want} missing from {shown:?}"
        );
    }
    assert!(!shown.iter().any(|s| s.starts_with("decoy")), "{shown:?}");
    assert!(!shown
        .iter()
        .any(|s| s.starts_with("fifo") || s.starts_with("s/dev/log ")));
    let skipped = c.skipped.join("\n");
    assert!(skipped.contains("`fifo`: a FIFO"), "{skipped}");
    assert!(skipped.contains("`s/dev/log`: a socket"), "{skipped}");
    // Stored as symlinks, never followed: the store holds the link, not /etc/shadow.
    let store = store_of(&w);
    let layers = store.resolve(&ImageRef(name)).unwrap().layers;
    let top = layers.last().unwrap();
    let link = std::fs::symlink_metadata(top.join("shadow-link")).unwrap();
    assert!(link.file_type().is_symlink());
    assert_eq!(
        std::fs::read_link(top.join("root-link")).unwrap(),
        Path::new("/")
    );
}

#[test]
fn a_layer_past_the_cap_is_a_clear_error_and_nothing_is_stored() {
    let mut w = keeping_worker();
    let name = fresh_name("big");
    let r = w.run(json!({ "steps": [
        { "op": "container", "name": "web", "image": "busybox" },
        { "op": "run", "in": "web", "argv": ["/bin/busybox", "dd", "if=/dev/zero", "of=/big", "bs=1048576", "count=12"] },
        { "op": "commit", "container": "web", "name": name },
        { "op": "run", "argv": ["echo", "after"] }
    ]}));
    assert_eq!(r.status, RunStatus::Completed, "{r:#?}");
    assert_ok(step(&r, 1));
    let message = error_of(step(&r, 2));
    assert!(
        message.contains("the writable layer of web is larger than"),
        "{message}"
    );
    assert_eq!(stdout(step(&r, 3)), "after\n");
    assert!(
        store_of(&w).resolve(&ImageRef(name)).is_err(),
        "nothing stored"
    );
}

#[test]
fn a_name_already_in_the_store_is_refused_naming_the_field() {
    let mut w = keeping_worker();
    let work = tempfile::tempdir().unwrap();
    let (taken, _) = parent_image(&w, work.path());
    let before = store_of(&w).resolve(&ImageRef(taken.clone())).unwrap();
    let r = w.run(json!({ "steps": [
        { "op": "container", "name": "web", "image": "busybox" },
        { "op": "run", "in": "web", "argv": ["/bin/busybox", "touch", "/x"] },
        { "op": "commit", "container": "web", "name": taken }
    ]}));
    assert_eq!(r.status, RunStatus::Completed, "{r:#?}");
    let message = error_of(step(&r, 2));
    assert!(message.starts_with("steps[2].name: "), "{message}");
    assert!(message.contains("already in the store"), "{message}");
    let after = store_of(&w).resolve(&ImageRef(taken)).unwrap();
    assert_eq!(
        before.summary.digest, after.summary.digest,
        "never replaced"
    );
}

/// Were the sandbox's side compromised, its tar still goes through the hardened unpacker:
/// `..`, absolute paths and paths through a symlink are refused, and nothing is left.
#[test]
fn the_worker_refuses_a_layer_tar_that_climbs_out() {
    let state = tempfile::tempdir().unwrap();
    let store = store_support::store(state.path());
    let cases: [(Vec<Entry>, &str); 3] = [
        (vec![Entry::file("../x", b"x")], "`..`"),
        (vec![Entry::file("/etc/x", b"x")], "absolute"),
        (
            vec![
                Entry::symlink("lnk", "/etc"),
                Entry::file("lnk/passwd", b"x"),
            ],
            "symlink",
        ),
    ];
    for (entries, why) in cases {
        for name in [None, Some("evil:1")] {
            let tar = tar_bytes(&entries);
            let err = store
                .commit_tar(&tar, &ImageRef::busybox(), name, "evil")
                .expect_err(why)
                .to_string();
            assert!(err.contains(why), "{why}: {err}");
        }
    }
    let left: Vec<_> = std::fs::read_dir(state.path().join("store/tmp"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(store.resolve(&ImageRef("evil:1".into())).is_err());
    assert!(!Path::new("/etc/x").exists() && !state.path().join("x").exists());
}

#[test]
fn listing_kinds_are_those_of_the_store() {
    // Guard for the report and the frontend: a whiteout is listed at its name, opaque as a flag.
    let state = tempfile::tempdir().unwrap();
    let store = store_support::store(state.path());
    let tar = tar_bytes(&[
        Entry::dir("d"),
        Entry::file("d/.wh..wh..opq", b""),
        Entry::file(".wh.gone", b""),
    ]);
    let c = store
        .commit_tar(&tar, &ImageRef::busybox(), None, "t")
        .unwrap();
    let kinds: Vec<_> = c
        .entries
        .iter()
        .map(|e| (e.path.as_str(), e.kind, e.opaque))
        .collect();
    assert_eq!(
        kinds,
        [
            ("d", LayerEntryKind::Dir, true),
            ("gone", LayerEntryKind::Whiteout, false)
        ]
    );
}
