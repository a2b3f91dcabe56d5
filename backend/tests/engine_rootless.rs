//! Rootless: the worker itself runs as uid 65534 (no cgroups, rlimits only) and every lesson
//! still shows its kernel outcome.

mod engine_support;

use engine_support::{lessons, rootless_worker};
use rootlab_shared::result::RunStatus;
use rootlab_shared::Limits;
use serde_json::json;

#[test]
fn every_lesson_runs_rootless() {
    let mut w = rootless_worker().with_lesson_images();
    for lesson in lessons::all() {
        let result = w.run(lesson.spec.clone());
        eprintln!("rootless lesson {}: {:?}", lesson.name, result.status);
        (lesson.check)(&result);
        let pids = result
            .limits
            .enforcement
            .iter()
            .find(|e| e.limit == "pids")
            .unwrap();
        assert!(pids.mechanism.contains("RLIMIT_NPROC"));
    }
}

#[test]
fn rootless_limits_still_hold() {
    let mut w = rootless_worker();
    let limits = Limits {
        wall_ms: 800,
        ..Limits::default()
    };
    let spec = json!({ "steps": [ { "op": "run", "argv": ["sh", "-c", "while :; do :; done"] } ] });
    let r = w.run_clean(spec, limits).result().clone();
    assert_eq!(r.status, RunStatus::LimitExceeded);
    let hog = json!({ "steps": [ { "op": "run", "argv": ["bash", "-c", "x=$(head -c 300000000 /dev/zero | tr '\\0' a); echo ${#x}"] } ] });
    let limits = Limits {
        memory_bytes: 64 << 20,
        ..Limits::default()
    };
    let r = w.run_clean(hog, limits).result().clone();
    let out = r.steps[0].output.as_ref().unwrap();
    assert_ne!(
        out.stdout.trim(),
        "300000000",
        "RLIMIT_AS must stop the hog"
    );
    let bomb = json!({ "steps": [
        { "op": "run", "argv": ["sh", "-c", "for i in 1 2 3 4 5 6; do sleep 0.1 & done; wait; echo fine"] },
        { "op": "run", "argv": ["bash", "-c", ":(){ :|:& };:; sleep 5"] } ] });
    let limits = Limits {
        pids: 16,
        wall_ms: 1500,
        ..Limits::default()
    };
    let r = w.run_clean(bomb, limits).result().clone();
    // Processes within the limit run; the bomb is stopped and torn down with the sandbox.
    assert_eq!(engine_support::stdout(&r.steps[0]), "fine\n");
    assert_eq!(r.status, RunStatus::LimitExceeded, "{:?}", r.message);
}

/// Rootless too, a stored image's layers are bound read-only and locked (the staging user
/// namespace is the unprivileged worker's own): an overlay stacks them, nothing writes them.
#[test]
fn stored_layers_are_locked_read_only_rootless() {
    let mut w = rootless_worker().with_lesson_images();
    let from = |i: usize| serde_json::json!({ "image": "debian-lesson", "layer": i });
    let spec = serde_json::json!({
        "layers": [ { "name": "D0", "from": from(0) }, { "name": "D2", "from": from(2) },
                    { "name": "W" } ],
        "steps": [
            { "op": "mkdir", "path": "/merged" },
            { "op": "overlay", "target": "/merged", "lowers": ["D2", "D0"], "upper": "W" },
            { "op": "run", "argv": ["sh", "-c",
              "test -e /merged/etc/debian_version || echo whiteout holds; \
               mount -o remount,bind,rw /layers/D0; echo remount=$?; \
               touch /layers/D0/etc/x 2>/dev/null; echo touch=$?"] }
        ]
    });
    let r = w.run(spec);
    let out = engine_support::stdout(&r.steps[2]);
    assert!(out.contains("whiteout holds"), "{out} {:?}", r.steps[1]);
    assert!(
        !out.contains("remount=0") && !out.contains("touch=0"),
        "{out}"
    );
}
