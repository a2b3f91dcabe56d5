//! Runs from images against the real kernel: the lab host on an image's layers, and containers
//! started from an image the `docker run` way (its layers under a fresh writable layer).

mod engine_support;
mod store_support;

use engine_support::{
    assert_ok, errno, merged_shape, mount_at, names, snapshot_view, stdout, step, tree, Worker,
};
use rootlab_shared::result::{FileKind, RunStatus};
use serde_json::json;

/// A container from `busybox` on a `tools` host, with the host's `/` shared (the default).
#[test]
fn a_container_from_an_image_runs_in_its_own_root_over_a_writable_layer() {
    let mut w = Worker::start();
    let spec = json!({
        "host": { "image": "tools" },
        "steps": [
            { "op": "container", "name": "web", "image": "busybox", "namespaces": ["pid"] },
            { "op": "run", "in": "web", "argv": ["/bin/busybox", "sh", "-c",
                "ls /bin/busybox && ls /proc/1/ >/dev/null && echo hi > /note && rm /bin/true; echo $?"] },
            { "op": "run", "in": "host", "argv": ["ls", "/containers/web/bin/busybox"] },
            { "op": "snapshot", "label": "s", "views": ["host", "web"], "paths": ["/layers", "/"], "depth": 3 }
        ]
    });
    let r = w.run(spec);
    assert_eq!(r.status, RunStatus::Completed, "{r:#?}");
    for i in 0..3 {
        assert_ok(step(&r, i));
    }
    // The container step did the `docker run` work itself: its own /proc, the host's /dev, the pivot.
    let created = &step(&r, 0).syscalls.join("\n");
    for call in ["MS_SLAVE", "\"proc\"", "\"/dev\"", "pivot_root"] {
        assert!(created.contains(call), "{call} missing from {created}");
    }
    assert_eq!(stdout(step(&r, 1)), "/bin/busybox\n0\n");
    // The host sees the container's root where the lab host mounted it, over its writable layer.
    let host = snapshot_view(&r, "s", "host");
    let root = mount_at(host, "/containers/web").expect("the container's root in the host's table");
    assert_eq!(root.fstype, "overlay");
    assert!(
        root.options
            .contains("lowerdir=c-web,upperdir=layers/web.upper,workdir=layers/web.work"),
        "{}",
        root.options
    );
    // What the container wrote and deleted is in its writable layer, the image is untouched.
    let layers = tree(host, "/layers");
    let kind_of = |path: &str| {
        layers
            .entries
            .iter()
            .find(|e| e.path == path)
            .map(|e| e.kind)
    };
    assert_eq!(kind_of("/layers/web.upper/note"), Some(FileKind::File));
    assert_eq!(
        kind_of("/layers/web.upper/bin/true"),
        Some(FileKind::CharDevice)
    );
    let web = snapshot_view(&r, "s", "web");
    let inside = names(tree(web, "/"));
    assert!(inside.contains(&"note".to_string()), "{inside:?}");
    assert!(!inside.contains(&"containers".to_string()), "{inside:?}");
}

#[test]
fn a_container_from_an_unknown_image_is_refused_before_the_sandbox_starts() {
    let mut w = Worker::start();
    let spec = json!({ "steps": [ { "op": "container", "name": "c", "image": "no-such-image" } ] });
    let out = w.run_clean(spec, rootlab_shared::Limits::default());
    let text = out.result.expect_err("an unknown image fails the request");
    assert!(text.contains("no image `no-such-image`"), "{text}");
}

/// Everything under `dir`: path, size, mode and modification time, to compare before and after.
fn fingerprint(dir: &std::path::Path) -> Vec<(String, u64, u32, i64)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.path().symlink_metadata().unwrap();
            if meta.is_dir() {
                todo.push(entry.path());
            }
            let path = entry.path().display().to_string();
            out.push((path, meta.len(), meta.mode(), meta.mtime()));
        }
    }
    out.sort();
    out
}

/// The attacker deletes and overwrites everything it can reach in its image's root, on the host
/// and in a container: the image directories other runs share do not change.
#[test]
fn programs_cannot_change_the_layers_their_roots_are_made_of() {
    let mut w = Worker::start();
    let images = w.state_dir.join("images");
    let dirs: Vec<_> = std::fs::read_dir(&images)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert!(dirs.len() >= 2, "tools and busybox built: {dirs:?}");
    let before: Vec<_> = dirs.iter().map(|d| fingerprint(d)).collect();
    let wreck = "for f in /bin/* /lib*/*; do echo pwned > $f; done; rm -rf /bin /etc; \
                 grep -o 'lowerdir=[^,]*' /proc/self/mountinfo; ls /c-x /image 2>&1; true";
    let spec = json!({
        "host": { "image": "tools" },
        "steps": [
            { "op": "container", "name": "x", "image": "busybox" },
            { "op": "run", "in": "x", "argv": ["/bin/busybox", "sh", "-c", wreck] },
            { "op": "run", "argv": ["/bin/bash", "-c", wreck] },
            { "op": "run", "argv": ["/bin/sh", "-c", "echo still here"] }
        ]
    });
    let r = w.run(spec);
    assert_eq!(r.status, RunStatus::Completed, "{r:#?}");
    assert_ok(step(&r, 1));
    // The programs saw only relative overlay paths, which lead nowhere inside.
    let seen = stdout(step(&r, 1));
    assert!(
        seen.contains("lowerdir=c-x") && seen.contains("No such file"),
        "{seen}"
    );
    // The wreck worked where it could: the host's own root lost its /bin.
    assert!(errno(step(&r, 3)).is_some(), "{:?}", step(&r, 3));
    let after: Vec<_> = dirs.iter().map(|d| fingerprint(d)).collect();
    assert!(before == after, "an image directory changed during the run");
    // And the next run starts from the intact image.
    let again = w.run(json!({ "steps": [ { "op": "run", "argv": ["ls", "/bin/sh"] } ] }));
    assert_ok(step(&again, 0));
}

/// A three-layer image made with umoci (a whiteout, an opaque dir, links), imported into the
/// workers' store under `name`; its layout is returned for umoci to unpack as the oracle.
fn imported(w: &Worker, name: &str, work: &std::path::Path) -> std::path::PathBuf {
    let layout = store_support::umoci_image(work);
    let cfg = rootlab::config::EngineConfig::from_args(&rootlab::config::EngineArgs {
        state_dir: Some(w.state_dir.clone()),
        sandbox_uid: Some(w.sandbox_uid),
        sandbox_gid: Some(w.sandbox_uid),
        ..Default::default()
    });
    let store = rootlab::store::Store::open(&cfg).expect("the workers' store");
    store.import(&layout, Some(name)).expect("import");
    layout
}

/// The lab host on a stored image: the kernel's merged view of its layers is, entry by entry,
/// what `umoci unpack` makes of the same image.
#[test]
fn the_lab_host_runs_on_a_stored_image_as_umoci_unpacks_it() {
    let mut w = Worker::start();
    let work = tempfile::tempdir().unwrap();
    let layout = imported(&w, "rootlab-test/layers:3", work.path());
    let spec = json!({
        "host": { "image": "rootlab-test/layers:3" },
        "steps": [
            { "op": "run", "argv": ["/bin/sh", "-c", "cat /etc/a /etc/new /opq/fresh; ls /opq; ls /etc/gone"] },
            { "op": "snapshot", "label": "s", "views": ["host"], "paths": ["/"], "depth": 8 }
        ]
    });
    let r = w.run(spec);
    assert_eq!(r.status, RunStatus::Completed, "{r:#?}");
    assert_eq!(r.image.name, "rootlab-test/layers:3");
    // The whiteout hides etc/gone, the opaque dir hides opq/old.
    assert_eq!(stdout(step(&r, 0)), "one\ntwo\nfresh\nfresh\n");
    assert!(step(&r, 0).output.as_ref().unwrap().stderr.contains("gone"));
    let host = snapshot_view(&r, "s", "host");
    let root = mount_at(host, "/").unwrap();
    assert!(
        root.options
            .contains("lowerdir=image/2:image/1:image/0,upperdir=upper"),
        "{}",
        root.options
    );
    // The lab's own mount points aside, the kernel shows what umoci unpacks.
    let oracle = store_support::umoci_rootfs(&layout, "img", work.path());
    assert_eq!(merged_shape(host, "/"), store_support::shaped(oracle, &[]));
}

/// `docker run` of a stored image beside a container from a built-in one.
#[test]
fn containers_from_a_stored_image_and_a_builtin_side_by_side() {
    let mut w = Worker::start();
    let work = tempfile::tempdir().unwrap();
    imported(&w, "rootlab-test/layers:3", work.path());
    let spec = json!({
        "steps": [
            { "op": "container", "name": "app", "image": "rootlab-test/layers:3" },
            { "op": "container", "name": "bb", "image": "busybox" },
            { "op": "run", "in": "app", "argv": ["/bin/sh", "-c", "cat /etc/a; echo changed > /etc/a; rm /etc/new; echo $? >&2"] },
            { "op": "run", "in": "bb", "argv": ["/bin/busybox", "cat", "/etc/a"] },
            { "op": "snapshot", "label": "s", "views": ["host"], "paths": ["/layers"], "depth": 3 }
        ]
    });
    let r = w.run(spec);
    assert_eq!(r.status, RunStatus::Completed, "{r:#?}");
    assert_eq!(stdout(step(&r, 2)), "one\n", "{:?}", step(&r, 2));
    assert!(
        errno(step(&r, 3)).is_some() || step(&r, 3).output.as_ref().unwrap().exit_code != Some(0)
    );
    let host = snapshot_view(&r, "s", "host");
    let app = mount_at(host, "/containers/app").unwrap();
    assert!(
        app.options.contains("lowerdir=c-app/2:c-app/1:c-app/0"),
        "{}",
        app.options
    );
    let layer = tree(host, "/layers");
    let upper: Vec<(&str, FileKind)> = layer
        .entries
        .iter()
        .filter_map(|e| {
            e.path
                .strip_prefix("/layers/app.upper/")
                .map(|p| (p, e.kind))
        })
        .collect();
    assert_eq!(
        upper,
        [
            ("dev", FileKind::Dir),
            ("etc", FileKind::Dir),
            ("etc/a", FileKind::File),
            ("etc/new", FileKind::CharDevice),
            ("proc", FileKind::Dir)
        ],
        "{:?}",
        step(&r, 2)
    );
}

/// A stored image's layers by name in `layers`, stacked by an overlay step as the image stacks
/// them; the layers are bound read-only and locked: root in the sandbox can neither remount them
/// writable nor write through a bind of its own, and the store does not change.
#[test]
fn stored_layers_in_an_overlay_step_are_read_only_and_locked() {
    let mut w = Worker::start();
    let work = tempfile::tempdir().unwrap();
    imported(&w, "rootlab-test/layers:3", work.path());
    let layer_dirs: Vec<std::path::PathBuf> = std::fs::read_dir(w.state_dir.join("store/layers"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    let before: Vec<_> = layer_dirs.iter().map(|d| fingerprint(d)).collect();
    let from = |i: usize| json!({ "image": "rootlab-test/layers:3", "layer": i });
    let attack = "mount -o remount,bind,rw /layers/L0; echo remount=$?; \
                  touch /layers/L0/x 2>/dev/null; echo touch=$?; mkdir -p /mnt/r; \
                  mount --bind /layers/L0 /mnt/r && mount -o remount,bind,rw /mnt/r; echo rebind=$?; \
                  echo pwned > /mnt/r/etc/a 2>/dev/null; echo write=$?";
    let spec = json!({
        "host": { "root_propagation": "private" },
        "layers": [ { "name": "L0", "from": from(0) }, { "name": "L1", "from": from(1) },
                    { "name": "L2", "from": from(2) }, { "name": "W" } ],
        "steps": [
            { "op": "mkdir", "path": "/merged" },
            { "op": "overlay", "target": "/merged", "lowers": ["L2", "L1", "L0"], "upper": "W" },
            { "op": "run", "argv": ["sh", "-c", "cat /merged/etc/a /merged/etc/new /merged/opq/fresh; ls /merged/opq; echo changed > /merged/etc/a; test -e /merged/etc/gone || echo gone"] },
            { "op": "run", "argv": ["sh", "-c", attack] },
            { "op": "snapshot", "label": "s", "views": ["host"], "paths": ["/merged"], "layers": true }
        ]
    });
    let r = w.run(spec);
    assert_eq!(r.status, RunStatus::Completed, "{r:#?}");
    assert_eq!(
        stdout(step(&r, 2)),
        "one\ntwo\nfresh\nfresh\ngone\n",
        "{:?} {:?}",
        step(&r, 1),
        step(&r, 2)
    );
    let attacked = stdout(step(&r, 3));
    for refused in ["remount=", "touch=", "rebind=", "write="] {
        let status = attacked
            .lines()
            .find_map(|l| l.strip_prefix(refused))
            .unwrap_or_else(|| panic!("{refused} missing: {attacked}"));
        assert_ne!(status, "0", "{refused} succeeded: {attacked}");
    }
    // The raw layers as stored: layer 1's whiteout is a 0:0 device, layer 2's opaque dir marked.
    let snap = r.snapshots.iter().find(|s| s.label == "s").unwrap();
    let layer = |name: &str| &snap.layers.iter().find(|l| l.name == name).unwrap().tree;
    let l1 = layer("L1");
    assert!(
        l1.entries
            .iter()
            .any(|e| e.path == "etc/gone" && e.whiteout),
        "{l1:?}"
    );
    assert!(layer("L2")
        .entries
        .iter()
        .any(|e| e.path == "opq" && e.opaque));
    // The write copied etc/a up into W, the only writable layer.
    assert!(layer("W").entries.iter().any(|e| e.path == "etc/a"));
    let after: Vec<_> = layer_dirs.iter().map(|d| fingerprint(d)).collect();
    assert!(before == after, "a stored layer changed");
}

#[test]
fn a_layer_index_past_the_image_is_refused_naming_the_field() {
    let mut w = Worker::start();
    let work = tempfile::tempdir().unwrap();
    imported(&w, "rootlab-test/layers:3", work.path());
    let spec = json!({
        "layers": [ { "name": "L", "from": { "image": "rootlab-test/layers:3", "layer": 3 } } ],
        "steps": [ { "op": "run", "argv": ["true"] } ]
    });
    let err = w
        .run_clean(spec, rootlab_shared::Limits::default())
        .result
        .expect_err("refused");
    assert!(
        err.contains("layers[0].from.layer") && err.contains("has 3 layers (0 to 2)"),
        "{err}"
    );
}
