//! Grading, pass and fail, for each kind of expectation.

use super::*;
use crate::limits::Limits;
use crate::result::{
    CommandOutput, FileKind, ImageInfo, LimitsReport, RunStatus, Snapshot, StepError, StepResult,
};

fn step(index: usize, outcome: StepOutcome, stdout: Option<&str>) -> StepResult {
    StepResult {
        index,
        op: "run".into(),
        actor: "host".into(),
        command: String::new(),
        syscalls: vec![],
        outcome,
        output: stdout.map(|s| CommandOutput {
            stdout: s.into(),
            ..CommandOutput::default()
        }),
        details: None,
        snapshot: None,
        duration_us: 1,
    }
}

fn refused(errno: &str) -> StepOutcome {
    StepOutcome::Error(StepError {
        errno: Some(errno.into()),
        code: None,
        message: "mount: Invalid argument".into(),
        explanation: String::new(),
    })
}

fn result() -> RunResult {
    let tmp = MountEntry {
        shared: Some(1),
        propagation: "shared".into(),
        ..MountEntry::new(2, 1, "/tmp", "none", "tmpfs")
    };
    let file = TreeEntry {
        preview: Some("hello".into()),
        ..TreeEntry::new("/C/x", FileKind::File)
    };
    let view = View {
        actor: "host".into(),
        mounts: vec![MountEntry::new(1, 0, "/", "overlay", "overlay"), tmp],
        mounts_truncated: false,
        trees: vec![Tree {
            root: "/C".into(),
            error: None,
            entries: vec![file],
            truncated: false,
            complete_to: None,
        }],
    };
    RunResult {
        version: 1,
        title: String::new(),
        status: RunStatus::Completed,
        message: None,
        kernel_release: "6.1".into(),
        image: ImageInfo {
            name: "tools".into(),
            programs: vec![],
        },
        limits: LimitsReport {
            limits: Limits::default(),
            enforcement: vec![],
        },
        steps: vec![
            step(0, StepOutcome::Ok, None),
            step(1, refused("EINVAL"), None),
            step(2, StepOutcome::Ok, Some("6.1.0\n")),
        ],
        snapshots: vec![Snapshot {
            label: "s".into(),
            step: 3,
            views: vec![view],
            layers: vec![],
        }],
        expectations: vec![],
        duration_us: 1,
    }
}

fn passed(e: Expectation) -> bool {
    let g = grade(&[e], &result());
    assert!(!g[0].expected.is_empty() && !g[0].actual.is_empty());
    g[0].passed
}

fn mount(target: &str, present: bool, propagation: Option<&str>) -> Expectation {
    Expectation::Mount {
        snapshot: "s".into(),
        view: "host".into(),
        target: target.into(),
        present,
        propagation: propagation.map(String::from),
    }
}

fn path(p: &str, present: bool, content: Option<&str>) -> Expectation {
    Expectation::Path {
        snapshot: "s".into(),
        view: "host".into(),
        path: p.into(),
        present,
        content: content.map(String::from),
    }
}

#[test]
fn outcomes() {
    let ok = |step, errno: Option<&str>| Expectation::Outcome {
        step,
        errno: errno.map(String::from),
    };
    assert!(passed(ok(0, None)));
    assert!(passed(ok(1, Some("EINVAL"))));
    assert!(!passed(ok(1, None)));
    assert!(!passed(ok(0, Some("EPERM"))));
    assert!(!passed(ok(1, Some("EPERM"))));
    assert!(!passed(ok(9, None)), "a step that did not run");
}

#[test]
fn stdout() {
    let out = |step, text: &str| Expectation::Stdout {
        step,
        contains: text.into(),
    };
    assert!(passed(out(2, "6.1")));
    assert!(!passed(out(2, "5.10")));
    assert!(!passed(out(0, "")), "a step with no program");
}

#[test]
fn stdout_of_a_wait_is_what_its_programs_printed_in_start_order() {
    let mut r = result();
    let printed = |s: &str| CommandOutput {
        stdout: s.into(),
        ..CommandOutput::default()
    };
    r.steps[0].details = Some(StepDetails::Waited {
        ended: vec![printed("hello\n"), printed("tmpfs /mnt/data\n")],
        still_running: vec![],
    });
    let grade_of = |text: &str| {
        let e = Expectation::Stdout {
            step: 0,
            contains: text.into(),
        };
        grade(&[e], &r)[0].passed
    };
    assert!(grade_of("hello\ntmpfs /mnt/data"));
    assert!(!grade_of("/mnt/other"));
}

#[test]
fn mounts() {
    assert!(passed(mount("/tmp", true, None)));
    assert!(passed(mount("/tmp", true, Some("shared"))));
    assert!(!passed(mount("/tmp", true, Some("private"))));
    assert!(!passed(mount("/tmp", false, None)));
    assert!(passed(mount("/mnt", false, None)));
    assert!(!passed(mount("/mnt", true, None)));
    let elsewhere = Expectation::Mount {
        snapshot: "later".into(),
        view: "host".into(),
        target: "/tmp".into(),
        present: true,
        propagation: None,
    };
    let g = grade(&[elsewhere], &result());
    assert!(!g[0].passed && g[0].actual.contains("was not taken"));
}

#[test]
fn paths() {
    assert!(passed(path("/C/x", true, None)));
    assert!(passed(path("/C/x", true, Some("hello"))));
    assert!(!passed(path("/C/x", true, Some("bye"))));
    assert!(!passed(path("/C/x", false, None)));
    assert!(passed(path("/C/y", false, None)));
    assert!(!passed(path("/C/y", true, None)));
    let g = grade(&[path("/etc/x", false, None)], &result());
    assert!(
        !g[0].passed,
        "a path the snapshot did not walk proves nothing"
    );
    assert!(g[0].actual.contains("walked only"));
}

/// A walk cut by its depth still proves absence above that depth, and only there.
#[test]
fn absence_in_a_walk_cut_by_depth() {
    let graded = |p: &str, complete_to: Option<u32>| {
        let mut r = result();
        let tree = &mut r.snapshots[0].views[0].trees[0];
        tree.truncated = true;
        tree.complete_to = complete_to;
        grade(&[path(p, false, None)], &r)[0].clone()
    };
    assert!(graded("/C/y", Some(1)).passed);
    let deeper = graded("/C/d/y", Some(1));
    assert!(!deeper.passed);
    assert!(deeper.actual.contains("cut short"), "{}", deeper.actual);
    assert!(graded("/C/d/y", Some(2)).passed);
    assert!(
        !graded("/C/y", None).passed,
        "cut by the entry limit: nothing is certain"
    );
}

#[test]
fn reads_as_json() {
    let e: Expectation = serde_json::from_str(
        r#"{ "kind": "mount", "snapshot": "s", "target": "/tmp", "propagation": "shared" }"#,
    )
    .unwrap();
    assert_eq!(e, mount("/tmp", true, Some("shared")));
    let bad = serde_json::from_str::<Expectation>(r#"{ "kind": "mount", "snapshot": "s" }"#);
    assert!(bad.is_err());
}
