//! Runs from images against the real kernel: the lab host on an image's layers, and containers
//! started from an image the `docker run` way (its layers under a fresh writable layer).

mod engine_support;

use engine_support::{assert_ok, mount_at, names, snapshot_view, stdout, step, tree, Worker};
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
