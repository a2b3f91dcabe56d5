//! Every preset of `shared/presets/` run for real (as root and rootless), each showing the
//! outcome its lesson in LESSONS.md promises, its expectations holding and its question's answer
//! the only choice that does.

mod engine_support;

use std::os::unix::fs::chown;
use std::path::PathBuf;
use std::process::Command;

use engine_support::{
    errno, mount_at, names, op_lessons, snapshot_view, stdout, tree, Worker, WORKER,
};
use rootlab_shared::presets;
use rootlab_shared::result::{RunResult, RunStatus, StepDetails, StepOutcome};

fn check(id: &str, r: &RunResult) {
    assert_eq!(r.status, RunStatus::Completed, "{id}: {:?}", r.message);
    match id {
        "seed-inherit" => inherit(r),
        "seed-tmpfs" => tmpfs(r),
        "seed-propagation-leak" => leak(r),
        "seed-propagation-private" => private(r),
        "seed-propagation-slave" => slave(r),
        "seed-chroot" => assert_eq!(stdout(&r.steps[4]), "bin\nlib\nlib64\n"),
        "seed-chroot-missing-lib" => missing_lib(r),
        "seed-kernel" => kernel(r),
        "seed-union" => union(r),
        "seed-layers" => layers(r),
        "pivot-vs-chroot" => pivot_vs_chroot(r),
        other => op_lessons::check(other)
            .unwrap_or_else(|| panic!("no expected outcome written for preset {other}"))(
            r
        ),
    }
}

fn inherit(r: &RunResult) {
    let host = snapshot_view(r, "container after clone", "host");
    let c1 = snapshot_view(r, "container after clone", "c1");
    let listed: Vec<String> = stdout(&r.steps[1]).lines().map(String::from).collect();
    assert!(!listed.is_empty());
    assert_eq!(names(tree(host, "/tmp")), listed);
    assert_eq!(names(tree(c1, "/tmp")), listed);
    let targets = |v: &rootlab_shared::result::View| {
        v.mounts
            .iter()
            .map(|m| m.target.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(targets(host), targets(c1));
}

fn tmpfs(r: &RunResult) {
    assert_eq!(stdout(&r.steps[2]), "");
    assert!(stdout(&r.steps[3]).contains("none on /tmp type tmpfs (rw,relatime"));
    let c1 = snapshot_view(r, "container after mount", "c1");
    assert!(names(tree(c1, "/tmp")).is_empty());
    assert_eq!(mount_at(c1, "/tmp").unwrap().fstype, "tmpfs");
}

fn leak(r: &RunResult) {
    let host = snapshot_view(r, "host after exit", "host");
    assert_eq!(mount_at(host, "/tmp").expect("leaked tmpfs").source, "none");
    assert!(stdout(&r.steps[5]).contains("none on /tmp type tmpfs"));
    let before = snapshot_view(r, "host before", "host");
    assert!(mount_at(before, "/tmp").is_none());
}

fn private(r: &RunResult) {
    let host = snapshot_view(r, "host after exit", "host");
    assert!(mount_at(host, "/tmp").is_none());
    assert!(!stdout(&r.steps[6]).contains(" on /tmp "));
    assert!(!names(tree(host, "/tmp")).is_empty());
}

fn slave(r: &RunResult) {
    let host = snapshot_view(r, "after both mounts", "host");
    let c1 = snapshot_view(r, "after both mounts", "c1");
    assert!(
        mount_at(c1, "/mnt/data").is_some(),
        "host mounts propagate to the slave"
    );
    assert!(
        mount_at(host, "/tmp").is_none(),
        "slave mounts stay in the container"
    );
    assert_eq!(mount_at(c1, "/").unwrap().propagation, "private,slave");
}

fn missing_lib(r: &RunResult) {
    assert_eq!(errno(&r.steps[4]).as_deref(), Some("ENOENT"));
    let StepOutcome::Error(e) = &r.steps[4].outcome else {
        unreachable!()
    };
    assert!(e.explanation.contains("interpreter"), "{}", e.explanation);
}

fn kernel(r: &RunResult) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let second = |i: usize| {
        stdout(&r.steps[i])
            .split_whitespace()
            .nth(1)
            .map(String::from)
    };
    assert_eq!(second(3).as_deref(), Some(release.trim()));
    assert_eq!(second(4), second(3));
    let rootfs = snapshot_view(r, "container rootfs", "c1");
    assert!(rootfs
        .trees
        .iter()
        .all(|t| t.entries.iter().all(|e| !e.path.contains("boot"))));
}

fn union(r: &RunResult) {
    assert_eq!(stdout(&r.steps[1]), "x from A\n");
    let t = tree(snapshot_view(r, "merged C", "host"), "/root/tree/C");
    let x = t
        .entries
        .iter()
        .find(|e| e.path == "/root/tree/C/x")
        .unwrap();
    assert_eq!(x.layer.as_deref(), Some("A"));
}

fn layers(r: &RunResult) {
    let snap = r
        .snapshots
        .iter()
        .find(|s| s.label == "after container writes")
        .unwrap();
    let upper = &snap
        .layers
        .iter()
        .find(|l| l.name == "container")
        .unwrap()
        .tree;
    assert!(
        upper.entries.iter().any(|e| e.whiteout),
        "a deleted lower file leaves a whiteout"
    );
    assert!(
        upper.entries.iter().any(|e| e.opaque),
        "a recreated directory is opaque"
    );
    let merged = tree(
        snapshot_view(r, "after container writes", "host"),
        "/merged",
    );
    let conf = merged
        .entries
        .iter()
        .find(|e| e.path == "/merged/etc/app.conf")
        .unwrap();
    assert!(conf.layer.is_some());
    let layer_of = |p: &str| {
        let e = merged.entries.iter().find(|e| e.path == p);
        e.and_then(|e| e.layer.as_deref())
    };
    assert_eq!(layer_of("/merged/app/server.sh"), Some("app"));
    assert_eq!(layer_of("/merged/usr/share/doc/NOTES"), Some("container"));
    assert!(merged
        .entries
        .iter()
        .all(|e| e.path != "/merged/etc/os-release"));
    assert!(merged
        .entries
        .iter()
        .all(|e| e.path != "/merged/usr/share/doc/README"));
}

fn pivot_vs_chroot(r: &RunResult) {
    let escaped = |i: usize| match &r.steps[i].details {
        Some(StepDetails::Escape { escaped, .. }) => *escaped,
        other => panic!("no escape details: {other:?}"),
    };
    assert!(escaped(3), "chroot is escapable");
    assert!(!escaped(6), "pivot_root is not");
}

fn run_all(w: Worker) {
    let mut w = w.with_lesson_images();
    for preset in presets::all() {
        let spec = serde_json::to_value(&preset.spec).unwrap();
        let r = w.run(spec);
        check(&preset.id, &r);
        // Every preset checks itself: its expectations hold on the real kernel.
        assert!(
            !preset.spec.expect.is_empty(),
            "{} has no expectation",
            preset.id
        );
        assert_eq!(r.expectations.len(), preset.spec.expect.len());
        for g in &r.expectations {
            assert!(
                g.passed,
                "{}: expected {}, got {}",
                preset.id, g.expected, g.actual
            );
        }
        // Its question's answer is the only choice that holds on the real kernel too.
        let q = preset
            .question
            .as_ref()
            .expect("every preset asks a question");
        let verdict = q.verdict(Some(q.answer), &r);
        let held: Vec<usize> = verdict
            .graded
            .iter()
            .filter(|g| g.passed)
            .map(|g| g.index)
            .collect();
        assert_eq!(held, vec![q.answer], "{}: {:?}", preset.id, verdict.graded);
    }
}

#[test]
fn every_preset_shows_its_lesson_as_root() {
    run_all(Worker::start());
}

#[test]
fn every_preset_shows_its_lesson_rootless() {
    let state = PathBuf::from("/tmp/rootlab-engine-tests-rootless-presets");
    std::fs::create_dir_all(&state).unwrap();
    chown(&state, Some(65534), Some(65534)).unwrap();
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", WORKER])
        .env("ROOTLAB_STATE_DIR", &state);
    run_all(Worker::spawn(cmd, state, 65534));
}
