//! Shared harness of the real-kernel engine tests: drives the built `rootlab-worker` over its
//! JSON-lines protocol (the test harness is multi-threaded and cannot unshare a user namespace
//! itself), and checks that the machine is exactly as before each run.
#![allow(dead_code)]

pub mod lessons;
pub mod op_lessons;
pub mod probe;

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

    /// A root worker whose `tools` image also holds `extra` host programs, and whose own
    /// environment carries `env` (which no sandbox may see).
    pub fn start_with(extra: &[&Path], env: &[(&str, &str)]) -> Worker {
        let mut cmd = Command::new(WORKER);
        let extra: Vec<String> = extra.iter().map(|p| p.display().to_string()).collect();
        cmd.env("ROOTLAB_STATE_DIR", root_state_dir())
            .env("ROOTLAB_SANDBOX_UID", TEST_SANDBOX_UID.to_string())
            .env("ROOTLAB_SANDBOX_GID", TEST_SANDBOX_UID.to_string())
            .env("ROOTLAB_EXTRA_TOOLS", extra.join(":"))
            .envs(env.iter().copied());
        Worker::spawn(cmd, root_state_dir(), TEST_SANDBOX_UID)
    }

    pub fn spawn(mut cmd: Command, state_dir: PathBuf, sandbox_uid: u32) -> Worker {
        // The process check looks at this process's descendants only, not at other programs
        // that happen to run as the same uid.
        become_subreaper();
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

    /// This worker with lesson 7's real image (`debian-lesson`, made by
    /// scripts/make-lesson-image.sh) in its store, imported once per state dir as the worker's
    /// own user would (root: owned by the sandbox uid; rootless: by uid 65534 itself).
    pub fn with_lesson_images(self) -> Worker {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let tar = root.join("target/lesson-images/debian-lesson.tar");
        assert!(
            tar.is_file(),
            "{} is missing: scripts/make-lesson-image.sh makes it (scripts/setup.sh runs it)",
            tar.display()
        );
        let state = self.state_dir.clone();
        let rootless = self.sandbox_uid == NOBODY;
        // A rootless import runs as the sandbox uid: no process check may run meanwhile.
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let imported = |args: &[&str], tar: Option<&Path>| {
            let (rootlab, tar) = if rootless {
                // uid 65534 may not reach the checkout: copies in its own state dir.
                let bin = state.join("rootlab-cli");
                std::fs::copy(env!("CARGO_BIN_EXE_rootlab"), &bin).unwrap();
                let copy = tar.map(|t| {
                    let c = state.join("lesson.tar");
                    std::fs::copy(t, &c).unwrap();
                    std::os::unix::fs::chown(&c, Some(NOBODY), Some(NOBODY)).unwrap();
                    c
                });
                (bin, copy)
            } else {
                (
                    PathBuf::from(env!("CARGO_BIN_EXE_rootlab")),
                    tar.map(Path::to_path_buf),
                )
            };
            let mut cmd = if rootless {
                let mut c = Command::new("setpriv");
                c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                    .arg(&rootlab);
                c
            } else {
                let mut c = Command::new(&rootlab);
                let uid = self.sandbox_uid.to_string();
                c.env("ROOTLAB_SANDBOX_UID", &uid)
                    .env("ROOTLAB_SANDBOX_GID", &uid);
                c
            };
            cmd.args(args)
                .env("ROOTLAB_STATE_DIR", &state)
                .env("HOME", &state);
            if let Some(t) = &tar {
                cmd.arg(t);
            }
            let out = cmd.output().expect("running rootlab images");
            if rootless {
                let _ = std::fs::remove_file(state.join("rootlab-cli"));
                let _ = std::fs::remove_file(state.join("lesson.tar"));
            }
            out
        };
        if !imported(&["images", "inspect", "debian-lesson"], None)
            .status
            .success()
        {
            let out = imported(&["images", "import", "--name", "debian-lesson"], Some(&tar));
            assert!(
                out.status.success(),
                "importing lesson 7's image: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        self
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

/// Host uid of the rootless tests' worker (and so of its sandboxes).
pub const NOBODY: u32 = 65534;

/// A worker running as uid 65534 (no cgroups, rlimits only), as an ordinary user would run it.
pub fn rootless_worker() -> Worker {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let state = PathBuf::from("/tmp/rootlab-engine-tests-rootless");
    std::fs::create_dir_all(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(NOBODY), Some(NOBODY)).unwrap();
    // The checkout may sit below a directory uid 65534 cannot enter (e.g. /root): run a copy.
    let worker = state.join("rootlab-worker");
    static COPIES: AtomicUsize = AtomicUsize::new(0);
    let n = COPIES.fetch_add(1, Ordering::Relaxed);
    let staged = state.join(format!("rootlab-worker.{}.{n}", std::process::id()));
    {
        // Another test's state check must not see the staged copy.
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        std::fs::copy(WORKER, &staged).unwrap();
        std::fs::rename(&staged, &worker).unwrap();
    }
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&worker)
        .env("ROOTLAB_STATE_DIR", &state)
        .env("HOME", &state);
    Worker::spawn(cmd, state, NOBODY)
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
            sandbox_processes: processes_of(sandbox_uid),
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

/// Live pids whose real uid is `uid` and that descend from this test process (which is a child
/// subreaper, so orphans of a worker's sandbox come back to it rather than to the machine's init:
/// a program that left its session and process group is still found). Zombies this process
/// would have to reap are dead, not left running, and are not counted.
fn processes_of(uid: u32) -> BTreeSet<i32> {
    let me = std::process::id() as i32;
    let mut parents = std::collections::HashMap::new();
    let mut candidates = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let field = |key: &str| {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .map(str::to_string)
        };
        let ppid = field("PPid:")
            .and_then(|p| p.parse::<i32>().ok())
            .unwrap_or(0);
        parents.insert(pid, ppid);
        let zombie_of_mine = field("State:").as_deref() == Some("Z") && ppid == me;
        if field("Uid:").and_then(|u| u.parse::<u32>().ok()) == Some(uid) && !zombie_of_mine {
            candidates.push(pid);
        }
    }
    let descends = |mut pid: i32| {
        for _ in 0..64 {
            match parents.get(&pid) {
                Some(&p) if p == me => return true,
                Some(&p) if p > 1 => pid = p,
                _ => return false,
            }
        }
        false
    };
    candidates.into_iter().filter(|p| descends(*p)).collect()
}

/// Make this test process the reaper of its descendants' orphans (once).
fn become_subreaper() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: prctl with integer arguments only.
        let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        assert_eq!(rc, 0, "PR_SET_CHILD_SUBREAPER");
    });
}

/// Every path in the state dir except the image cache.
/// What a run may leave in the state dir: nothing, outside the image trees and the image store
/// (which other tests import into concurrently, and which records each image's last use).
fn state_entries(dir: &Path) -> BTreeSet<PathBuf> {
    fn walk(dir: &Path, out: &mut BTreeSet<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == "images" || n == "store") {
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

/// `root`'s tree in `view` as (path relative to `/`, "Kind mode target"), without the lab's own
/// mount points (/proc, /dev, /layers): the kernel's merged view, to compare with an oracle.
pub fn merged_shape(view: &View, root: &str) -> Vec<(String, String)> {
    tree(view, root)
        .entries
        .iter()
        .map(|e| (e.path.trim_start_matches('/').to_string(), e))
        .filter(|(p, _)| {
            !["proc", "dev", "layers"]
                .iter()
                .any(|m| p == m || p.starts_with(&format!("{m}/")))
        })
        .map(|(p, e)| (p, format!("{:?} {:o} {:?}", e.kind, e.mode, e.link_target)))
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
