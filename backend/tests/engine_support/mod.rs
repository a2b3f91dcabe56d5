//! Shared harness of the real-kernel engine tests: drives the built `rootlab-worker` over its
//! JSON-lines protocol (the test harness is multi-threaded and cannot unshare a user namespace
//! itself), and checks that the machine is exactly as before each run.
#![allow(dead_code)]

pub mod lessons;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use rootlab::protocol::{WorkerMessage, WorkerRequest};
use rootlab_shared::events::RunEvent;
use rootlab_shared::result::{MountEntry, RunResult, StepOutcome, StepResult, Tree, View};
use rootlab_shared::{Limits, Spec};
use serde_json::Value;

/// Runs of one test binary are serialised so the process check sees only its own sandbox.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Host uid (and gid) the root-mode test sandboxes run as.
pub const TEST_SANDBOX_UID: u32 = 61234;

pub const WORKER: &str = env!("CARGO_BIN_EXE_rootlab-worker");

/// Every cgroup directory under rootlab's parent.
pub fn all_rootlab_cgroups() -> BTreeSet<PathBuf> {
    rootlab_cgroups()
}

/// The state dir shared by the root-mode tests (images are built once and reused).
pub fn root_state_dir() -> PathBuf {
    PathBuf::from("/tmp/rootlab-engine-tests")
}

/// A running worker process.
pub struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
    pub state_dir: PathBuf,
    /// Host uid the sandbox processes run as.
    pub sandbox_uid: u32,
}

/// Everything one request produced.
pub struct Outcome {
    pub events: Vec<RunEvent>,
    pub result: Result<RunResult, String>,
}

impl Outcome {
    pub fn result(&self) -> &RunResult {
        match &self.result {
            Ok(r) => r,
            Err(e) => panic!("the worker answered an error: {e}"),
        }
    }
}

impl Worker {
    /// A worker as root with the shared test state dir. Its sandboxes run as a uid of their
    /// own, so sandboxes of other rootlab servers on this machine (uid 65534) cannot disturb
    /// the process check.
    pub fn start() -> Worker {
        let mut cmd = Command::new(WORKER);
        cmd.env("ROOTLAB_STATE_DIR", root_state_dir())
            .env("ROOTLAB_SANDBOX_UID", TEST_SANDBOX_UID.to_string())
            .env("ROOTLAB_SANDBOX_GID", TEST_SANDBOX_UID.to_string());
        Worker::spawn(cmd, root_state_dir(), TEST_SANDBOX_UID)
    }

    pub fn spawn(mut cmd: Command, state_dir: PathBuf, sandbox_uid: u32) -> Worker {
        // Its own process group, inherited by every sandbox process: the process check looks at
        // this group only, not at other programs that happen to run as the same uid.
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .process_group(0);
        // A starting worker runs helpers (ldd, busybox --list) as its own uid, which the
        // process check of a concurrent run would take for leftovers.
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let mut child = cmd.spawn().expect("spawning rootlab-worker");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut w = Worker {
            child,
            stdin,
            stdout,
            next_id: 1,
            state_dir,
            sandbox_uid,
        };
        match w.read() {
            WorkerMessage::Ready { images, .. } => assert!(images.contains(&"tools".to_string())),
            other => panic!("expected ready, got {other:?}"),
        }
        w
    }

    /// The lock that serialises sandbox runs (and worker start-ups) of this test binary.
    pub fn lock() -> std::sync::MutexGuard<'static, ()> {
        ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kill the worker process (as a crashing coordinator would) and reap it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn read(&mut self) -> WorkerMessage {
        let mut line = String::new();
        let n = self
            .stdout
            .read_line(&mut line)
            .expect("reading the worker");
        assert!(n > 0, "the worker closed its stdout");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad line {line:?}: {e}"))
    }

    /// Send a request and collect its events until `finished` or an error, then wait for the
    /// worker's `idle` (its sandbox torn down), so that checks of the host see the final state.
    pub fn request(&mut self, spec: Spec, limits: Limits) -> Outcome {
        let id = self.send(spec, limits);
        let mut events = Vec::new();
        let mut result = None;
        loop {
            match self.read() {
                WorkerMessage::Event { id: got, event } => {
                    assert_eq!(got, id);
                    if let RunEvent::Finished { result: r } = &event {
                        result = Some(Ok((**r).clone()));
                    }
                    events.push(event);
                }
                WorkerMessage::Error { id: got, error } => {
                    assert_eq!(got, id);
                    result = Some(Err(error.to_string()));
                }
                WorkerMessage::Idle { id: got } => {
                    assert_eq!(got, id);
                    let result = result.expect("idle before finished or error");
                    return Outcome { events, result };
                }
                WorkerMessage::Ready { .. } => panic!("unexpected ready"),
            }
        }
    }

    /// Send a request without waiting; returns its id.
    pub fn send(&mut self, spec: Spec, limits: Limits) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let req = WorkerRequest { id, spec, limits };
        let mut line = serde_json::to_string(&req).unwrap();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).unwrap();
        self.stdin.flush().unwrap();
        id
    }

    /// Run a spec (JSON) and assert the host is exactly as before afterwards.
    pub fn run_clean(&mut self, spec: Value, limits: Limits) -> Outcome {
        let spec: Spec = serde_json::from_value(spec).expect("test spec must parse");
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let pid = self.pid();
        let before = HostState::capture(&self.state_dir, self.sandbox_uid, pid);
        let out = self.request(spec, limits);
        let after = HostState::capture(&self.state_dir, self.sandbox_uid, pid);
        before.assert_same(&after);
        out
    }

    pub fn run(&mut self, spec: Value) -> RunResult {
        self.run_clean(spec, Limits::default()).result().clone()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // A rootless worker runs as the sandbox uid: its exit must not race a process check.
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What must not change on the machine running rootlab.
#[derive(Debug, PartialEq, Clone)]
pub struct HostState {
    pub mountinfo: String,
    pub sandbox_processes: BTreeSet<i32>,
    pub state_entries: BTreeSet<PathBuf>,
    pub cgroups: BTreeSet<PathBuf>,
}

impl HostState {
    /// The machine's state as far as the worker `worker_pid` could change it (other rootlab
    /// servers on this machine have cgroups of their own).
    pub fn capture(state_dir: &Path, sandbox_uid: u32, worker_pid: u32) -> HostState {
        let prefix = format!("{worker_pid}-");
        let mut cgroups = rootlab_cgroups();
        cgroups.retain(|d| {
            d.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&prefix)
        });
        HostState {
            mountinfo: std::fs::read_to_string("/proc/self/mountinfo").unwrap(),
            sandbox_processes: processes_of(sandbox_uid, worker_pid),
            state_entries: state_entries(state_dir),
            cgroups,
        }
    }

    pub fn assert_same(&self, after: &HostState) {
        assert_eq!(self.mountinfo, after.mountinfo, "host mount table changed");
        let describe = |pids: &BTreeSet<i32>| -> Vec<String> {
            pids.iter()
                .map(|p| {
                    let status = std::fs::read_to_string(format!("/proc/{p}/status"));
                    let keep = |l: &&str| {
                        ["Name:", "State:", "PPid:"]
                            .iter()
                            .any(|k| l.starts_with(k))
                    };
                    let text = status.unwrap_or_default();
                    format!(
                        "{p}: {}",
                        text.lines().filter(keep).collect::<Vec<_>>().join(" ")
                    )
                })
                .collect()
        };
        assert_eq!(
            self.sandbox_processes,
            after.sandbox_processes,
            "processes of the sandbox uid changed: {:?}",
            describe(&after.sandbox_processes)
        );
        assert_eq!(self.state_entries, after.state_entries, "state dir changed");
        assert_eq!(self.cgroups, after.cgroups, "cgroup dirs left behind");
    }
}

/// Pids whose real uid is `uid` in process group `group`.
fn processes_of(uid: u32, group: u32) -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let real = status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|u| u.parse::<u32>().ok());
        if real == Some(uid) && process_group(&entry.path()) == Some(group) {
            out.insert(pid);
        }
    }
    out
}

/// Field 5 of `/proc/<pid>/stat` (after the parenthesised command name).
fn process_group(proc_dir: &Path) -> Option<u32> {
    let stat = std::fs::read_to_string(proc_dir.join("stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    after_name.split_whitespace().nth(2)?.parse().ok()
}

/// Every path in the state dir except the image cache.
fn state_entries(dir: &Path) -> BTreeSet<PathBuf> {
    fn walk(dir: &Path, out: &mut BTreeSet<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == "images") {
                continue;
            }
            out.insert(p.clone());
            if p.is_dir() && !p.is_symlink() {
                walk(&p, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, &mut out);
    out
}

fn rootlab_cgroups() -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for c in ["pids", "memory"] {
        let dir = Path::new("/sys/fs/cgroup").join(c).join("rootlab");
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                out.insert(e.path());
            }
        }
    }
    out
}

// ---- reading results ----

pub fn snapshot_view<'a>(r: &'a RunResult, label: &str, actor: &str) -> &'a View {
    let snap = r
        .snapshots
        .iter()
        .find(|s| s.label == label)
        .unwrap_or_else(|| panic!("no snapshot {label}"));
    snap.views
        .iter()
        .find(|v| v.actor == actor)
        .unwrap_or_else(|| panic!("no view {actor} in {label}"))
}

pub fn tree<'a>(v: &'a View, root: &str) -> &'a Tree {
    v.trees.iter().find(|t| t.root == root).unwrap()
}

/// Top-level names under a tree's root.
pub fn names(t: &Tree) -> Vec<String> {
    let prefix = if t.root.ends_with('/') {
        t.root.clone()
    } else {
        format!("{}/", t.root)
    };
    t.entries
        .iter()
        .filter_map(|e| e.path.strip_prefix(&prefix))
        .filter(|rest| !rest.contains('/'))
        .map(String::from)
        .collect()
}

pub fn mount_at<'a>(v: &'a View, target: &str) -> Option<&'a MountEntry> {
    v.mounts.iter().rev().find(|m| m.target == target)
}

pub fn step(r: &RunResult, index: usize) -> &StepResult {
    &r.steps[index]
}

pub fn assert_ok(s: &StepResult) {
    assert_eq!(
        s.outcome,
        StepOutcome::Ok,
        "step {} ({}) failed: {:?}",
        s.index,
        s.op,
        s
    );
}

pub fn errno(s: &StepResult) -> Option<String> {
    match &s.outcome {
        StepOutcome::Error(e) => e.errno.clone(),
        _ => None,
    }
}

pub fn stdout(s: &StepResult) -> String {
    s.output
        .as_ref()
        .map(|o| o.stdout.clone())
        .unwrap_or_default()
}
