//! Rootless: the worker itself runs as uid 65534 (no cgroups, rlimits only) and every lesson
//! still shows its kernel outcome.

mod engine_support;

use std::os::unix::fs::chown;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use engine_support::{lessons, Worker, WORKER};
use rootlab_shared::result::RunStatus;
use rootlab_shared::Limits;
use serde_json::json;

const NOBODY: u32 = 65534;

fn rootless_worker() -> Worker {
    let state = PathBuf::from("/tmp/rootlab-engine-tests-rootless");
    std::fs::create_dir_all(&state).unwrap();
    chown(&state, Some(NOBODY), Some(NOBODY)).unwrap();
    // The checkout may sit below a directory uid 65534 cannot enter (e.g. /root): run a copy.
    let worker = state.join("rootlab-worker");
    static COPIES: AtomicUsize = AtomicUsize::new(0);
    let n = COPIES.fetch_add(1, Ordering::Relaxed);
    let staged = state.join(format!("rootlab-worker.{}.{n}", std::process::id()));
    std::fs::copy(WORKER, &staged).unwrap();
    std::fs::rename(&staged, &worker).unwrap();
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&worker)
        .env("ROOTLAB_STATE_DIR", &state)
        .env("HOME", &state);
    Worker::spawn(cmd, state, NOBODY)
}

#[test]
fn every_lesson_runs_rootless() {
    let mut w = rootless_worker();
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
