//! Background runs (`cmd &`) and `wait` against the real kernel: two actors acting at once,
//! output captured without ever blocking the actor, timeouts, and programs left at the end.

mod engine_support;

use engine_support::{assert_ok, stdout, step, Worker};
use rootlab_shared::result::{
    CommandOutput, RunStatus, Running, StepDetails, StepOutcome, StepResult,
};
use rootlab_shared::Limits;
use serde_json::{json, Value};

fn bg(actor: &str, script: &str) -> Value {
    json!({ "op": "run", "in": actor, "argv": ["sh", "-c", script], "background": true })
}

fn waited(s: &StepResult) -> (&[CommandOutput], &[Running]) {
    match &s.details {
        Some(StepDetails::Waited {
            ended,
            still_running,
        }) => (ended, still_running),
        other => panic!("step {} has no wait details: {other:?}", s.index),
    }
}

/// Room for more output than a pipe holds.
fn big_output() -> Limits {
    Limits {
        output_bytes: 256 << 10,
        ..Limits::default()
    }
}

#[test]
fn the_container_sees_a_mount_the_host_makes_while_it_waits() {
    // The oracle's case: the container is already waiting when the host mounts.
    let mut w = Worker::start();
    let watcher = "until [ -e /mnt/go ]; do sleep 0.05; done; ls /mnt/data; \
                   grep -c ' /mnt/data ' /proc/self/mountinfo";
    let spec = json!({ "steps": [
        { "op": "mkdir", "path": "/mnt/data" },
        { "op": "container", "name": "c" },
        { "op": "proc", "in": "c" },
        bg("c", watcher),
        { "op": "tmpfs", "target": "/mnt/data" },
        { "op": "write", "path": "/mnt/data/hello", "content": "hi" },
        { "op": "write", "path": "/mnt/go" },
        { "op": "wait", "in": "c" } ],
        "expect": [ { "kind": "stdout", "step": 7, "contains": "hello" } ] });
    let out = w.run_clean(spec, Limits::default());
    let r = out.result();
    assert_eq!(r.status, RunStatus::Completed, "{:?}", r.message);
    assert!(r.expectations[0].passed, "{:?}", r.expectations);
    assert!(step(r, 3).command.ends_with(" &"), "{}", step(r, 3).command);
    let calls = &step(r, 3).syscalls;
    assert!(
        calls[0].starts_with("fork(); setsid()") && calls[1].starts_with("execve("),
        "{calls:?}"
    );
    assert!(
        matches!(step(r, 3).details, Some(StepDetails::Started { pid: Some(p) }) if p > 1),
        "{:?}",
        step(r, 3).details
    );
    assert_ok(step(r, 7));
    assert_eq!(step(r, 7).command, "wait");
    let (ended, running) = waited(step(r, 7));
    assert!(running.is_empty());
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].stdout, "hello\n1\n", "{:?}", ended[0]);
    assert_eq!(ended[0].exit_code, Some(0));
}

#[test]
fn output_of_background_programs_is_reported_in_start_order() {
    let mut w = Worker::start();
    let spec = json!({ "steps": [
        bg("host", "sleep 0.2; echo first; echo oops >&2; exit 3"),
        bg("host", "echo second"),
        { "op": "run", "argv": ["echo", "meanwhile"] },
        { "op": "wait" } ] });
    let out = w.run_clean(spec, Limits::default());
    let r = out.result();
    assert_eq!(stdout(step(r, 2)), "meanwhile\n");
    let (ended, _) = waited(step(r, 3));
    let got: Vec<_> = ended
        .iter()
        .map(|o| (o.stdout.as_str(), o.stderr.as_str(), o.exit_code))
        .collect();
    assert_eq!(
        got,
        [("first\n", "oops\n", Some(3)), ("second\n", "", Some(0))]
    );
    // A program that failed makes the wait an error, as `wait` returns its status.
    let StepOutcome::Error(e) = &step(r, 3).outcome else {
        panic!("{:?}", step(r, 3).outcome)
    };
    assert!(e.message.contains("status 3"), "{}", e.message);
}

#[test]
fn a_flooding_background_program_does_not_block_its_actor() {
    // The host's program prints 160 KiB (more than a pipe's 64 KiB) before it signals the
    // container: only an actor that drains while idle lets it get there.
    let mut w = Worker::start();
    let spec = json!({ "steps": [
        bg("host", "yes | head -c 163840; touch /tmp/flooded"),
        { "op": "container", "name": "c" },
        { "op": "run", "in": "c", "argv": ["sh", "-c",
            "until [ -e /tmp/flooded ]; do sleep 0.02; done; echo seen"] },
        bg("host", "yes"),
        { "op": "mkdir", "path": "/still/serving" },
        { "op": "wait" } ] });
    let out = w.run_clean(spec, big_output());
    let r = out.result();
    assert_eq!(r.status, RunStatus::Completed, "{:?}", r.message);
    assert_eq!(stdout(step(r, 2)), "seen\n");
    assert_ok(step(r, 4));
    let (ended, _) = waited(step(r, 5));
    assert_eq!(ended[0].stdout.len(), 163840);
    assert!(!ended[0].truncated);
    // The endless one is stopped at the output limit, as a foreground one would be.
    assert!(ended[1].truncated);
    assert_eq!(ended[1].signal.as_deref(), Some("SIGKILL"));
    assert_eq!(ended[1].stdout.len(), 256 << 10);
}

#[test]
fn a_foreground_program_can_wait_for_a_flooding_one_of_its_own_actor() {
    // The actor is busy with its foreground program, and still drains the background one.
    let mut w = Worker::start();
    let spec = json!({ "steps": [
        bg("host", "yes | head -c 163840; touch /tmp/flooded"),
        { "op": "run", "argv": ["sh", "-c",
            "until [ -e /tmp/flooded ]; do sleep 0.02; done; echo seen"] },
        { "op": "wait" } ] });
    let limits = Limits {
        wall_ms: 5000,
        ..big_output()
    };
    let out = w.run_clean(spec, limits);
    let r = out.result();
    assert_eq!(r.status, RunStatus::Completed, "{:?}", r.message);
    assert_eq!(stdout(step(r, 1)), "seen\n");
    let (ended, _) = waited(step(r, 2));
    assert_eq!(ended[0].stdout.len(), 163840);
}

#[test]
fn a_wait_with_a_timeout_leaves_the_program_running_for_a_later_wait() {
    let mut w = Worker::start();
    let spec = json!({ "steps": [
        bg("host", "sleep 1; echo late"),
        { "op": "wait", "timeout_ms": 100 },
        { "op": "wait" } ] });
    let out = w.run_clean(spec, Limits::default());
    let r = out.result();
    let first = step(r, 1);
    let (ended, running) = waited(first);
    assert!(ended.is_empty());
    assert_eq!(running.len(), 1);
    assert_eq!(running[0].argv[0], "sh");
    assert!(first.duration_us < 900_000, "{}", first.duration_us);
    assert!(matches!(&first.outcome, StepOutcome::Error(e) if e.message.contains("still running")));
    let (ended, running) = waited(step(r, 2));
    assert!(running.is_empty());
    assert_eq!(ended[0].stdout, "late\n");
}

#[test]
fn a_background_program_left_at_the_end_is_killed_and_noted() {
    let mut w = Worker::start();
    let spec = json!({ "steps": [ bg("host", "sleep 30") ] });
    let out = w.run_clean(spec, Limits::default());
    let r = out.result();
    assert_eq!(r.status, RunStatus::Completed);
    let note = r.message.as_deref().unwrap_or("");
    assert!(note.contains("`sh -c sleep 30` of host"), "{note}");
    assert!(note.contains("still running"), "{note}");
}

#[test]
fn a_background_program_that_outlives_the_wall_time_ends_the_run() {
    let mut w = Worker::start();
    let spec = json!({ "steps": [ bg("host", "sleep 30"), { "op": "wait" } ] });
    let limits = Limits {
        wall_ms: 1500,
        ..Limits::default()
    };
    let out = w.run_clean(spec, limits);
    let r = out.result();
    assert_eq!(r.status, RunStatus::LimitExceeded, "{:?}", r.message);
    assert!(r.message.as_deref().unwrap_or("").contains("wall time"));
}

#[test]
fn an_exiting_container_kills_its_background_programs() {
    let mut w = Worker::start();
    let spec = json!({ "steps": [
        { "op": "container", "name": "c", "namespaces": ["pid"] },
        bg("c", "echo started; sleep 30"),
        { "op": "run", "in": "c", "argv": ["sleep", "0.2"] },
        { "op": "exit", "in": "c" } ] });
    let out = w.run_clean(spec, Limits::default());
    let r = out.result();
    assert_eq!(r.message, None);
    let (ended, _) = waited(step(r, 3));
    assert_eq!(ended[0].stdout, "started\n");
    assert_eq!(ended[0].signal.as_deref(), Some("SIGKILL"));
}

#[test]
fn a_user_namespace_container_runs_background_programs_too() {
    let mut w = Worker::start();
    let spec = json!({ "steps": [
        { "op": "container", "name": "u", "namespaces": ["user"] },
        bg("u", "echo in-userns"),
        { "op": "wait", "in": "u" } ] });
    let out = w.run_clean(spec, Limits::default());
    let r = out.result();
    assert!(
        matches!(
            step(r, 1).details,
            Some(StepDetails::Started { pid: Some(_) })
        ),
        "{:?}",
        step(r, 1)
    );
    let (ended, _) = waited(step(r, 2));
    assert_eq!(ended[0].stdout, "in-userns\n");
}
