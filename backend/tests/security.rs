//! The sandbox as an attacker sees it: programs run as root inside try to read, signal, trace or
//! outlive what is not theirs, and to call the kernel where the filter says no. Each attack is
//! also tried where it works (the bare host, or the engine's own view), so a wall that fell
//! would fail its test. docs/security.md names the kernel rule behind each wall.

mod engine_support;

use engine_support::{probe, rootless_worker, stdout, Worker};
use rootlab_shared::events::RunEvent;
use rootlab_shared::result::{RunResult, RunStatus, StepResult};
use rootlab_shared::{Limits, Spec};
use serde_json::{json, Value};

/// A value in the worker's environment that must never reach a program.
const SECRET: (&str, &str) = ("ROOTLAB_TEST_SECRET", "hunter2-7f3a");

fn attacker_worker() -> Worker {
    Worker::start_with(&[probe::path()], &[SECRET])
}

fn script(lines: &[&str]) -> Value {
    let steps: Vec<Value> = lines
        .iter()
        .map(|l| json!({ "op": "run", "argv": ["sh", "-c", l] }))
        .collect();
    json!({ "steps": steps })
}

fn run(w: &mut Worker, spec: Value) -> RunResult {
    w.run_clean(spec, Limits::default()).result().clone()
}

fn output(s: &StepResult) -> (String, String, Option<String>) {
    let out = s.output.as_ref().expect("a run step has output");
    (out.stdout.clone(), out.stderr.clone(), out.signal.clone())
}

#[test]
fn refused_system_calls_fail_in_the_sandbox_and_work_on_the_host() {
    let host = probe::on_host("calls");
    let calls: Vec<&str> = host.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert!(calls.len() >= 7, "{host}");
    assert!(host.lines().all(|l| l.ends_with(" ok")), "control: {host}");
    let mut w = attacker_worker();
    let r = run(
        &mut w,
        json!({ "steps": [ { "op": "run", "argv": ["probe", "calls"] } ] }),
    );
    let expected: String = calls.iter().map(|c| format!("{c} EPERM\n")).collect();
    assert_eq!(stdout(&r.steps[0]), expected);
}

#[test]
fn a_call_through_another_abi_kills_the_program() {
    // On the host the x32 call is answered (ENOSYS on kernels without x32) and i386 works.
    assert!(probe::on_host("x32").starts_with("x32 getpid returned"));
    assert!(probe::on_host("i386").starts_with("i386 getpid returned"));
    let mut w = attacker_worker();
    let spec = json!({ "steps": [ { "op": "run", "argv": ["probe", "x32"] },
                                  { "op": "run", "argv": ["probe", "i386"] } ] });
    let r = run(&mut w, spec);
    for s in &r.steps {
        let (out, _, signal) = output(s);
        assert_eq!((out.as_str(), signal.as_deref()), ("", Some("SIGSYS")));
    }
}

#[test]
fn programs_start_with_stdio_only_and_a_fixed_environment() {
    // The worker holds descriptors of its own beyond stdio (its pipes, /proc, the image).
    let mut w = attacker_worker();
    let r = run(
        &mut w,
        json!({ "steps": [ { "op": "run", "argv": ["probe", "fds"] },
                          { "op": "run", "argv": ["env"] } ] }),
    );
    assert_eq!(stdout(&r.steps[0]), "");
    assert_eq!(
        stdout(&r.steps[1]),
        "PATH=/bin:/usr/bin:/sbin:/usr/sbin\nHOME=/root\nLC_ALL=C\n"
    );
    // Rootless (no probe there): what the shell itself holds, and its environment.
    let r = rootless_worker().run(json!({ "steps": [
        { "op": "run", "argv": ["sh", "-c", "ls /proc/$$/fd | tr '\\n' ' '"] },
        { "op": "run", "argv": ["env"] } ] }));
    assert_eq!(stdout(&r.steps[0]), "0 1 2 ");
    assert_eq!(
        stdout(&r.steps[1]),
        "PATH=/bin:/usr/bin:/sbin:/usr/sbin\nHOME=/root\nLC_ALL=C\n"
    );
}

#[test]
fn engine_processes_cannot_be_read_signalled_or_traced() {
    // Rootless, the engine and the programs share one uid: only non-dumpable and the pid
    // namespaces stand between them, so both modes are tried.
    for mut w in [attacker_worker(), rootless_worker()] {
        engine_processes_are_out_of_reach(&mut w);
    }
}

fn engine_processes_are_out_of_reach(w: &mut Worker) {
    let r = w.run_clean(
        script(&[
            // Everything this program can name: pid 1 and its own kind.
            "for p in /proc/[0-9]*; do cat $p/comm; done | sort -u | tr '\\n' ' '",
            "cat /proc/1/environ; head -c1 /proc/1/mem; ls /proc/1/root/ /proc/1/fd/",
            &format!("grep -rl {} /proc/*/environ; echo done", SECRET.1),
            "kill -9 1; kill -STOP 1; kill -SEGV 1; kill -9 -1; cat /proc/1/comm",
        ]),
        Limits::default(),
    );
    let r = r.result();
    let seen = stdout(&r.steps[0]);
    let names: Vec<&str> = seen.split_whitespace().collect();
    assert!(names.contains(&"rootlab-init"), "{seen}");
    for n in &names {
        assert!(
            ["rootlab-init", "sh", "cat", "sort", "tr"].contains(n),
            "a program sees {n}: {seen}"
        );
    }
    let (out, err, _) = output(&r.steps[1]);
    assert_eq!(out, "");
    assert_eq!(err.matches("Permission denied").count(), 4, "{err}");
    assert_eq!(stdout(&r.steps[2]), "done\n");
    // pid 1 took no signal: it is still there, still itself.
    assert_eq!(stdout(&r.steps[3]), "rootlab-init\n");
}

/// Start a run of `sleep_s` seconds on `w` and wait until its program step has begun.
fn start_sleeper(w: &mut Worker, seconds: u32) -> u64 {
    let spec: Spec =
        serde_json::from_value(script(&[&format!("sleep {seconds}; echo survived")])).unwrap();
    let limits = Limits {
        wall_ms: 30_000,
        ..Limits::default()
    };
    let id = w.send(spec, limits);
    loop {
        if let rootlab::protocol::WorkerMessage::Event {
            event: RunEvent::StepStarted { .. },
            ..
        } = w.read()
        {
            return id;
        }
    }
}

fn finish(w: &mut Worker) -> RunResult {
    loop {
        match w.read() {
            rootlab::protocol::WorkerMessage::Event {
                event: RunEvent::Finished { result },
                ..
            } => {
                let r = *result;
                assert!(matches!(
                    w.read(),
                    rootlab::protocol::WorkerMessage::Idle { .. }
                ));
                return r;
            }
            rootlab::protocol::WorkerMessage::Error { error, .. } => panic!("{error}"),
            _ => {}
        }
    }
}

const KILL_ALL: &str = "kill -9 -1; kill -9 0; kill -KILL -1; echo alive";

#[test]
fn killing_everything_reaches_only_the_killers_own_run() {
    let mut bystander = attacker_worker();
    let mut attacker = attacker_worker();
    let _one = Worker::lock();
    start_sleeper(&mut bystander, 2);
    let limits = Limits::default();
    let r = attacker
        .request(serde_json::from_value(script(&[KILL_ALL])).unwrap(), limits)
        .result()
        .clone();
    // `kill -9 0` reached the shell's own group (itself); nothing outside the run.
    assert_eq!(
        r.steps[0].output.as_ref().unwrap().signal.as_deref(),
        Some("SIGKILL")
    );
    let theirs = finish(&mut bystander);
    assert_eq!(stdout(&theirs.steps[0]), "survived\n", "{:?}", theirs.steps);
    drop(_one);
    // Both workers still serve.
    for w in [&mut attacker, &mut bystander] {
        let r = run(w, script(&["echo next"]));
        assert_eq!(stdout(&r.steps[0]), "next\n");
    }
}

#[test]
fn rootless_killing_everything_leaves_the_worker_serving() {
    // As an ordinary user the worker, server and sandbox share a uid: only the pid namespace
    // keeps the worker out of `kill -1`'s reach.
    let mut w = rootless_worker();
    let r = w.run(script(&[KILL_ALL, "echo next"]));
    assert_eq!(r.status, RunStatus::Completed, "{:?}", r.message);
    let (_, _, signal) = output(&r.steps[0]);
    assert_eq!(signal.as_deref(), Some("SIGKILL"));
    assert_eq!(stdout(&r.steps[1]), "next\n");
}

#[test]
fn programs_that_leave_their_session_end_with_the_run() {
    // The harness's process check fails the run if anything of it outlives it.
    let mut w = attacker_worker();
    let r = run(
        &mut w,
        script(&[
            "setsid sleep 100 >/dev/null 2>&1 & (sleep 100 &) ; sh -c 'sleep 100 &' & echo spawned",
        ]),
    );
    assert_eq!(stdout(&r.steps[0]), "spawned\n");
}

/// An attempt at the host from inside, and what the sandbox must answer.
struct Attempt {
    what: &'static str,
    script: String,
    /// Checks the step's (stdout, stderr).
    held: fn(&str, &str) -> bool,
}

fn attempts(canary: &str, port: u16) -> Vec<Attempt> {
    let denied = |_: &str, err: &str| {
        [
            "Permission denied",
            "Operation not permitted",
            "Read-only file system",
        ]
        .iter()
        .any(|m| err.contains(m))
    };
    let nothing = |out: &str, _: &str| out.trim().is_empty();
    vec![
        Attempt {
            what: "climbing out of a chroot with ..",
            script: format!(
                "mkdir -p /jail && chroot / sh -c 'cd ../../../..; find / -xdev -name {canary} 2>/dev/null; cat {canary} 2>/dev/null'"
            ),
            held: nothing,
        },
        Attempt {
            what: "entering pid 1's namespaces",
            script: format!("nsenter -t 1 -m -u -n -p -U sh -c 'cat {canary}' 2>&1 >/dev/null | head -c 200 >&2; cat {canary}"),
            held: nothing,
        },
        Attempt {
            what: "a nested user namespace mounting over the lab",
            script: "mkdir -p /mnt; unshare -Urm sh -c 'mount -t tmpfs x /mnt && mount --make-shared / && echo mounted; umount -l /proc 2>/dev/null || echo proc-locked'".into(),
            // Mounts a less privileged namespace inherits are locked to it (MNT_LOCKED).
            held: |out, _| out == "mounted\nproc-locked\n",
        },
        Attempt {
            what: "the host's /proc/sys (writing back its own value)",
            script: "cat /proc/sys/kernel/core_pattern > /tmp/v; cat /tmp/v > /proc/sys/kernel/core_pattern".into(),
            held: denied,
        },
        Attempt {
            what: "sysrq (help only: harmless if it got through)",
            script: "echo h > /proc/sysrq-trigger && echo written".into(),
            held: nothing,
        },
        Attempt {
            what: "a block device node",
            script: "mknod /tmp/disk b 8 0 && head -c 16 /tmp/disk | wc -c".into(),
            held: denied,
        },
        Attempt {
            what: "the host's loopback (a port the test listens on)",
            script: format!("bash -c 'echo hello > /dev/tcp/127.0.0.1/{port}' && echo connected"),
            held: nothing,
        },
        Attempt {
            what: "unmounting and remounting the lab's own mounts",
            script: "umount -l /; mount --bind / /proc; mount -t proc proc /proc; mount --make-rshared /; true".into(),
            held: |_, _| true,
        },
    ]
}

#[test]
fn escape_attempts_leave_the_host_as_it_was() {
    // A root-only canary on the host, and a listener on the host's loopback.
    let dir = tempfile_dir();
    let canary = dir.join("rootlab-canary-secret");
    std::fs::write(&canary, SECRET.1).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut w = attacker_worker();
    for a in attempts(canary.to_str().unwrap(), port) {
        // run_clean checks the host's mount table, processes, cgroups and state dir.
        let r = run(&mut w, script(&[&a.script]));
        let (out, err, _) = output(&r.steps[0]);
        assert!(
            (a.held)(&out, &err),
            "{}: stdout {out:?} stderr {err:?}",
            a.what
        );
        let text = serde_json::to_string(&r).unwrap();
        assert!(
            !text.contains(SECRET.1),
            "{}: the canary's content came back",
            a.what
        );
    }
    assert_eq!(std::fs::read_to_string(&canary).unwrap(), SECRET.1);
    assert!(
        listener.accept().is_err(),
        "a sandbox reached the host's loopback"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("canary-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_user_namespace_container_holds_its_programs_too() {
    // Its actor is dumpable for the moment it writes its id maps; its programs can never name
    // it, as they are born in a pid namespace below it, root or rootless.
    let spec = json!({ "steps": [
        { "op": "container", "name": "c1", "namespaces": ["user"] },
        { "op": "run", "in": "c1", "argv": ["sh", "-c", KILL_ALL] },
        { "op": "run", "in": "c1", "argv": ["sh", "-c", "kill -9 1; echo next"] },
        { "op": "run", "argv": ["echo", "host"] } ] });
    for mut w in [attacker_worker(), rootless_worker()] {
        let r = w.run(spec.clone());
        let (_, _, signal) = output(&r.steps[1]);
        assert_eq!(signal.as_deref(), Some("SIGKILL"));
        assert_eq!(stdout(&r.steps[2]), "next\n");
        assert_eq!(stdout(&r.steps[3]), "host\n");
    }
}

#[test]
fn a_background_program_cannot_reach_its_actor_or_the_engine() {
    // While its actor goes on serving, a background program looks for its parent and kills
    // everything it can: only its fellow programs are in reach.
    let mut w = attacker_worker();
    let attack = "grep PPid /proc/$$/status; \
                  for p in /proc/[0-9]*; do cat $p/comm; done | sort -u | tr '\\n' ' '; echo; \
                  kill -9 -1; kill -9 1; echo after";
    let bg =
        |script: &str| json!({ "op": "run", "argv": ["sh", "-c", script], "background": true });
    let spec = json!({ "steps": [
        bg("sleep 30"),
        bg(attack),
        { "op": "wait", "timeout_ms": 5000 },
        { "op": "run", "argv": ["sh", "-c", "echo actor-alive; cat /proc/1/comm"] } ] });
    let r = run(&mut w, spec);
    assert_eq!(r.status, RunStatus::Completed, "{:?}", r.message);
    let Some(rootlab_shared::result::StepDetails::Waited { ended, .. }) = &r.steps[2].details
    else {
        panic!("{:?}", r.steps[2]);
    };
    // The fellow program was in reach of `kill -1`; nothing else was.
    assert_eq!(ended[0].signal.as_deref(), Some("SIGKILL"));
    let mut lines = ended[1].stdout.lines();
    // Its parent (the actor) is outside its pid namespace: it has no pid to name.
    assert_eq!(lines.next(), Some("PPid:\t0"));
    let seen = lines.next().unwrap_or("");
    for n in seen.split_whitespace() {
        assert!(
            ["rootlab-init", "sh", "sleep", "cat", "sort", "tr"].contains(&n),
            "a background program sees {n}: {seen}"
        );
    }
    assert_eq!(lines.next(), Some("after"));
    assert_eq!(stdout(&r.steps[3]), "actor-alive\nrootlab-init\n");
}

#[test]
fn rootless_a_background_kill_all_leaves_the_actor_serving() {
    // Rootless, programs, actors and the worker share one uid: only the pid namespace keeps
    // a background program's `kill -1` (sent while its actor serves other steps) off them.
    let mut w = rootless_worker();
    let spec = json!({ "steps": [
        { "op": "run", "argv": ["sh", "-c", "kill -9 -1; echo after"], "background": true },
        { "op": "wait", "timeout_ms": 5000 },
        { "op": "run", "argv": ["echo", "next"] } ] });
    let r = w.run(spec);
    assert_eq!(r.status, RunStatus::Completed, "{:?}", r.message);
    let Some(rootlab_shared::result::StepDetails::Waited { ended, .. }) = &r.steps[1].details
    else {
        panic!("{:?}", r.steps[1]);
    };
    assert_eq!(ended[0].stdout, "after\n");
    assert_eq!(stdout(&r.steps[2]), "next\n");
}
