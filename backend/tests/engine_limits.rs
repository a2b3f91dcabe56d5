//! Limits and hostile input: each runaway experiment ends with a clear, contained failure, and
//! the machine is exactly as before (mount table, processes, state dir, cgroups).

mod engine_support;

use engine_support::{assert_ok, errno, Worker};
use rootlab_shared::result::{RunStatus, StepOutcome};
use rootlab_shared::Limits;
use serde_json::json;

fn limits(f: impl FnOnce(&mut Limits)) -> Limits {
    let mut l = Limits::default();
    f(&mut l);
    l
}

fn run_in_host(argv: &[&str]) -> serde_json::Value {
    json!({ "steps": [ { "op": "mkdir", "path": "/work" },
                       { "op": "run", "argv": argv } ] })
}

#[test]
fn endless_loop_is_killed_at_the_wall_time() {
    let mut w = Worker::start();
    let spec = run_in_host(&["sh", "-c", "while :; do :; done"]);
    let out = w.run_clean(spec, limits(|l| l.wall_ms = 700));
    let r = out.result();
    assert_eq!(r.status, RunStatus::LimitExceeded);
    assert!(
        r.message.as_deref().unwrap().contains("wall time"),
        "{:?}",
        r.message
    );
    // The steps that finished before the deadline are kept, and the one that was running is
    // listed with why it has no outcome of its own.
    assert_eq!(r.steps.len(), 2);
    assert_ok(&r.steps[0]);
    let StepOutcome::Error(e) = &r.steps[1].outcome else {
        panic!("the running step must be an error: {:?}", r.steps[1]);
    };
    assert!(e.message.contains("wall time"), "{}", e.message);
}

#[test]
fn fork_bomb_hits_the_process_limit_and_is_torn_down() {
    let mut w = Worker::start();
    let spec = run_in_host(&["bash", "-c", ":(){ :|:& };:; sleep 5"]);
    let out = w.run_clean(
        spec,
        limits(|l| {
            l.wall_ms = 2500;
            l.pids = 32;
        }),
    );
    let r = out.result();
    assert_eq!(r.status, RunStatus::LimitExceeded);
    let msg = r.message.clone().unwrap();
    assert!(
        msg.contains("process limit") && msg.contains("cannot fork"),
        "{msg}"
    );
    assert!(r.limits.enforcement.iter().any(|e| e.limit == "pids"));
}

#[test]
fn memory_hog_is_stopped_by_the_memory_limit() {
    let mut w = Worker::start();
    let hog = "x=$(head -c 400000000 /dev/zero | tr '\\0' a); echo ${#x}";
    let spec = run_in_host(&["bash", "-c", hog]);
    let out = w.run_clean(spec, limits(|l| l.memory_bytes = 48 << 20));
    let r = out.result();
    assert_eq!(r.status, RunStatus::Completed, "{:?}", r.message);
    let step = &r.steps[1];
    let StepOutcome::Error(e) = &step.outcome else {
        panic!("the hog must fail: {step:?}");
    };
    let output = step.output.as_ref().unwrap();
    assert_ne!(
        output.stdout.trim(),
        "400000000",
        "the hog got all its memory"
    );
    assert!(!e.message.is_empty());
}

#[test]
fn output_flood_is_truncated_at_the_output_limit() {
    let mut w = Worker::start();
    let out = w.run_clean(run_in_host(&["yes"]), limits(|l| l.output_bytes = 1000));
    let r = out.result();
    assert_eq!(r.status, RunStatus::Completed);
    let output = r.steps[1].output.as_ref().unwrap();
    assert!(output.truncated);
    assert!(output.stdout.len() <= 1000 && output.stdout.len() >= 900);
    assert!(output.stdout.starts_with("y\ny\n"));
    assert!(matches!(r.steps[1].outcome, StepOutcome::Error(_)));
}

#[test]
fn full_tmpfs_gives_enospc() {
    let mut w = Worker::start();
    let big = "z".repeat(20_000);
    let spec = json!({ "steps": [
        { "op": "tmpfs", "target": "/tmp", "size": 8192 },
        { "op": "write", "path": "/tmp/big", "content": big },
        { "op": "run", "argv": ["dd", "if=/dev/zero", "of=/tmp/dd", "bs=1k", "count=64"] } ] });
    let r = w.run_clean(spec, Limits::default()).result().clone();
    assert_ok(&r.steps[0]);
    assert_eq!(errno(&r.steps[1]).as_deref(), Some("ENOSPC"));
    let StepOutcome::Error(e) = &r.steps[1].outcome else {
        unreachable!()
    };
    assert!(e.explanation.contains("full"));
    let dd = r.steps[2].output.as_ref().unwrap();
    assert!(
        dd.stderr.contains("No space left on device"),
        "{}",
        dd.stderr
    );
}

#[test]
fn inode_limit_applies_to_tmpfs() {
    let mut w = Worker::start();
    let spec = json!({ "steps": [
        { "op": "tmpfs", "target": "/tmp" },
        { "op": "run", "argv": ["sh", "-c", "i=0; while touch /tmp/f$i 2>/dev/null; do i=$((i+1)); done; echo $i"] } ] });
    let r = w
        .run_clean(spec, limits(|l| l.inodes = 50))
        .result()
        .clone();
    let made: u32 = engine_support::stdout(&r.steps[1]).trim().parse().unwrap();
    assert!(made < 50, "created {made} files with 50 inodes");
    assert!(r.steps[0].command.contains("nr_inodes=50"));
}

#[test]
fn hostile_specs_are_rejected_before_running() {
    let mut w = Worker::start();
    let long = format!("/{}", "a".repeat(400));
    let cases = [
        (
            json!({ "steps": [ { "op": "tmpfs", "target": "/tmp/../../etc" } ] }),
            "steps[0]",
        ),
        (
            json!({ "steps": [ { "op": "tmpfs", "target": "tmp" } ] }),
            "steps[0]",
        ),
        (
            json!({ "steps": [ { "op": "mkdir", "path": long } ] }),
            "steps[0]",
        ),
        (
            json!({ "steps": [ { "op": "write", "path": "/x", "content": "y".repeat(1 << 20) } ] }),
            "steps[0]",
        ),
        (
            json!({ "layers": [ { "name": "../x" } ], "steps": [] }),
            "layers[0]",
        ),
        (
            json!({ "host": { "files": [ { "type": "file", "path": "/../../etc/passwd" } ] }, "steps": [] }),
            "host.files[0]",
        ),
        (
            json!({ "steps": [ { "op": "tmpfs", "in": "ghost", "target": "/tmp" } ] }),
            "steps[0]",
        ),
    ];
    for (spec, field) in cases {
        let out = w.run_clean(spec.clone(), Limits::default());
        let err = out.result.expect_err("a hostile spec must be refused");
        assert!(err.contains(field), "error {err:?} should name {field}");
        assert!(out.events.is_empty(), "nothing may run for {spec}");
    }
}

#[test]
fn too_many_steps_for_the_limits_are_rejected() {
    let mut w = Worker::start();
    let steps: Vec<_> = (0..10)
        .map(|_| json!({ "op": "mkdir", "path": "/a" }))
        .collect();
    let out = w.run_clean(json!({ "steps": steps }), limits(|l| l.max_steps = 5));
    assert!(out.result.unwrap_err().contains("steps"));
}

#[test]
fn killing_the_worker_mid_run_leaves_nothing_behind() {
    use engine_support::HostState;
    use rootlab::protocol::WorkerMessage;
    use rootlab_shared::events::RunEvent;
    use std::time::{Duration, Instant};

    let mut w = Worker::start();
    let (state_dir, uid, dead_pid) = (w.state_dir.clone(), w.sandbox_uid, w.pid());
    let _one = Worker::lock();
    let before = HostState::capture(&state_dir, uid, dead_pid);
    let spec = serde_json::from_value(json!({ "steps": [
        { "op": "container", "name": "c1", "namespaces": ["pid"] },
        { "op": "tmpfs", "in": "c1", "target": "/tmp" },
        { "op": "run", "in": "c1", "argv": ["sh", "-c", "sleep 60 & while :; do :; done"] } ] }))
    .unwrap();
    w.send(spec, limits(|l| l.wall_ms = 30_000));
    loop {
        if let WorkerMessage::Event {
            event: RunEvent::StepStarted { index: 2, .. },
            ..
        } = w.read()
        {
            break;
        }
    }
    w.kill();
    // The sandbox dies with its parent (PR_SET_PDEATHSIG, then the pid namespace); the kernel
    // needs a moment to deliver that, so poll briefly.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut after = HostState::capture(&state_dir, uid, dead_pid);
    while after.sandbox_processes != before.sandbox_processes && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        after = HostState::capture(&state_dir, uid, dead_pid);
    }
    assert_eq!(
        after.sandbox_processes, before.sandbox_processes,
        "sandbox survived its worker"
    );
    assert_eq!(after.mountinfo, before.mountinfo);
    assert_eq!(after.state_entries, before.state_entries);
    let prefix = format!("{dead_pid}-");
    let is_stale = |d: &&std::path::PathBuf| {
        d.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(&prefix)
    };
    drop(_one);
    // The next worker reaps the dead worker's cgroups on start (any other rootlab worker
    // starting on this machine may have done so already).
    let _next = Worker::start();
    let reaped = engine_support::all_rootlab_cgroups();
    let stale: Vec<_> = reaped.iter().filter(is_stale).collect();
    assert!(stale.is_empty(), "stale cgroups not reaped: {stale:?}");
}

#[test]
fn a_starting_worker_reaps_cgroups_of_dead_workers() {
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let dirs: Vec<_> = ["pids", "memory"]
        .iter()
        .map(|c| {
            std::path::Path::new("/sys/fs/cgroup")
                .join(c)
                .join("rootlab")
                .join(format!("{dead}-0"))
        })
        .collect();
    for d in &dirs {
        std::fs::create_dir_all(d).unwrap();
    }
    let _w = Worker::start();
    for d in &dirs {
        assert!(!d.exists(), "{} was not reaped", d.display());
    }
}
