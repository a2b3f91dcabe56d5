//! The report, checked on built results.

use super::tree::{last_flags, mode_string};
use super::*;
use rootlab_shared::result::{
    CommandOutput, FileKind, MountEntry, RunResult, RunStatus, Snapshot, StepOutcome, StepResult,
    Tree, TreeEntry, View,
};
use rootlab_shared::result::{ImageInfo, LimitsReport, StepError};
use rootlab_shared::spec::{Spec, HOST};
use rootlab_shared::Limits;

fn mount(id: u32, parent: u32, target: &str, fstype: &str, shared: Option<u32>) -> MountEntry {
    let source = if fstype == "tmpfs" { "none" } else { "overlay" };
    MountEntry {
        options: "rw,relatime".into(),
        propagation: if shared.is_some() {
            "shared"
        } else {
            "private"
        }
        .into(),
        shared,
        ..MountEntry::new(id, parent, target, source, fstype)
    }
}

fn entry(path: &str, kind: FileKind) -> TreeEntry {
    TreeEntry {
        size: 3,
        mode: if kind == FileKind::Dir { 0o700 } else { 0o644 },
        ..TreeEntry::new(path, kind)
    }
}

fn view(actor: &str, mounts: Vec<MountEntry>, entries: Vec<TreeEntry>) -> View {
    View {
        actor: actor.into(),
        mounts,
        mounts_truncated: false,
        trees: vec![Tree {
            root: "/tmp".into(),
            error: None,
            entries,
            truncated: false,
            complete_to: None,
        }],
    }
}

fn seed_tmp() -> Vec<TreeEntry> {
    vec![
        entry("/tmp/kubectl-edit-fplln.yaml", FileKind::File),
        entry(
            "/tmp/systemd-private-0ea8-chronyd.service-g7wBf0",
            FileKind::Dir,
        ),
        entry(
            "/tmp/systemd-private-0ea8-chronyd.service-g7wBf0/tmp",
            FileKind::Dir,
        ),
        entry("/tmp/tmp.3eJpxKKBQM", FileKind::File),
    ]
}

/// The leak lesson as the engine reports it: host before, then host after the container exited.
fn leak_fixture() -> (RunResult, Spec) {
    let root = mount(20, 1, "/", "overlay", Some(1));
    let proc_ = mount(21, 20, "/proc", "proc", None);
    let tmpfs = mount(35, 20, "/tmp", "tmpfs", Some(2));
    let before = view(HOST, vec![root.clone(), proc_.clone()], seed_tmp());
    let after = view(HOST, vec![root, proc_, tmpfs], vec![]);
    let snapshot = |label: &str, step, v: View| Snapshot {
        label: label.into(),
        step,
        views: vec![v],
        layers: vec![],
    };
    let ok = |index, op: &str, actor: &str, command: &str| StepResult {
        index,
        op: op.into(),
        actor: actor.into(),
        command: command.into(),
        syscalls: vec![],
        outcome: StepOutcome::Ok,
        output: None,
        details: None,
        snapshot: None,
        duration_us: 120,
    };
    let mut run = ok(3, "run", HOST, "ls /nowhere");
    run.outcome = StepOutcome::Error(StepError {
        errno: None,
        code: Some(2),
        message: "ls exited with status 2".into(),
        explanation: "the program reported an error".into(),
    });
    run.output = Some(CommandOutput {
        argv: vec!["ls".into(), "/nowhere".into()],
        stdout: String::new(),
        stderr: "ls: cannot access '/nowhere': No such file or directory\n".into(),
        exit_code: Some(2),
        signal: None,
        truncated: false,
    });
    let result = RunResult {
        version: 1,
        title: "leak".into(),
        status: RunStatus::Completed,
        message: None,
        kernel_release: "6.18.0".into(),
        image: ImageInfo {
            name: "tools".into(),
            programs: vec!["ls".into()],
        },
        limits: LimitsReport {
            limits: Limits::default(),
            enforcement: vec![],
        },
        steps: vec![
            ok(0, "snapshot", "engine", ""),
            ok(1, "container", HOST, "unshare --mount"),
            ok(2, "tmpfs", "c1", "mount -t tmpfs none /tmp"),
            run,
        ],
        snapshots: vec![
            snapshot("host before", 0, before),
            snapshot("host after exit", 4, after),
        ],
        expectations: vec![],
        duration_us: 4200,
    };
    let spec: Spec = serde_json::from_value(serde_json::json!({
        "steps": [
            {"op": "snapshot", "label": "host before"},
            {"op": "container", "name": "c1"},
            {"op": "tmpfs", "in": "c1", "target": "/tmp"},
            {"op": "run", "argv": ["ls", "/nowhere"]},
            {"op": "snapshot", "label": "host after exit"}
        ]
    }))
    .unwrap();
    (result, spec)
}

#[test]
fn background_steps_show_their_pid_and_each_waited_output() {
    let (mut r, _) = leak_fixture();
    r.steps[2].details = Some(StepDetails::Started { pid: Some(4) });
    let printed = |argv: &str, out: &str| CommandOutput {
        argv: vec![argv.into()],
        stdout: out.into(),
        ..CommandOutput::default()
    };
    r.steps[3].output = None;
    r.steps[3].details = Some(StepDetails::Waited {
        ended: vec![printed("first", "one\n"), printed("second", "two\n")],
        still_running: vec![rootlab_shared::result::Running {
            argv: vec!["sleep".into(), "9".into()],
            pid: Some(5),
        }],
    });
    r.message = Some("the background program `sleep 9` of host was still running".into());
    let text = render(&r, None, Style { color: false });
    assert!(
        text.contains("started in the background as pid 4"),
        "{text}"
    );
    let (one, two) = (text.find("one").unwrap(), text.find("two").unwrap());
    assert!(one < two, "{text}");
    assert!(text.contains("still running: sleep 9"), "{text}");
    assert!(text.contains("of host was still running"), "{text}");
}

fn plain_report() -> String {
    let (r, spec) = leak_fixture();
    render(&r, Some(&spec), Style { color: false })
}

#[test]
fn steps_show_command_outcome_and_output_box() {
    let text = plain_report();
    assert!(
        text.contains("[2] c1     $ mount -t tmpfs none /tmp\n    OK"),
        "{text}"
    );
    assert!(
        text.contains("ERROR ls exited with status 2\n    why: the program reported an error"),
        "{text}"
    );
    assert!(
        text.contains("    ┌─ ls /nowhere\n    │ ls: cannot access"),
        "{text}"
    );
    assert!(text.contains("    └─ exit 2"), "{text}");
}

#[test]
fn trees_are_drawn_like_tree() {
    let text = plain_report();
    let expected = "  /tmp
  ├── kubectl-edit-fplln.yaml  [-rw-r--r-- root, 3 B]
  ├── systemd-private-0ea8-chronyd.service-g7wBf0/  [drwx------ root]
  │   └── tmp/  [drwx------ root]
  └── tmp.3eJpxKKBQM  [-rw-r--r-- root, 3 B]
";
    assert!(text.contains(expected), "{text}");
}

#[test]
fn mount_tables_are_indented_by_parent_like_findmnt() {
    let (r, _) = leak_fixture();
    let table = mount_table(&r.snapshots[1].views[0].mounts, "");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "TARGET",
            "SOURCE",
            "FSTYPE",
            "OPTIONS",
            "PROPAGATION",
            "PEERS"
        ]
    );
    assert!(
        lines[1].starts_with("/ ") && lines[1].ends_with("shared:1"),
        "{table}"
    );
    assert!(lines[2].starts_with("├─/proc "), "{table}");
    assert!(
        lines[3].starts_with("└─/tmp ") && lines[3].contains("tmpfs"),
        "{table}"
    );
}

#[test]
fn the_leak_is_called_out_and_hidden_files_explained() {
    let text = plain_report();
    assert!(text.contains("host since \"host before\""), "{text}");
    assert!(
        text.contains("+ mount tmpfs on /tmp (none, shared)"),
        "{text}"
    );
    assert!(
        text.contains("◌ /tmp/kubectl-edit-fplln.yaml (hidden under the new mount on /tmp)"),
        "{text}"
    );
    assert!(
        text.contains("LEAKED INTO THE HOST: none on /tmp type tmpfs"),
        "{text}"
    );
}

#[test]
fn a_mount_the_host_made_itself_is_not_a_leak() {
    let (r, mut spec) = leak_fixture();
    spec.steps[2] = serde_json::from_str(r#"{"op": "tmpfs", "target": "/tmp"}"#).unwrap();
    let text = render(&r, Some(&spec), Style { color: false });
    assert!(!text.contains("LEAKED"), "{text}");
    assert!(text.contains("+ mount tmpfs on /tmp"), "{text}");
}

#[test]
fn colour_only_when_asked() {
    let (r, spec) = leak_fixture();
    assert!(!plain_report().contains('\x1b'));
    assert!(render(&r, Some(&spec), Style { color: true }).contains("\x1b[32mOK\x1b[0m"));
}

#[test]
fn last_child_flags() {
    assert_eq!(
        last_flags(&[1, 2, 2, 1, 2]),
        [false, false, true, true, true]
    );
    assert_eq!(last_flags(&[1, 1, 1]), [false, false, true]);
    assert_eq!(mode_string(FileKind::Dir, 0o1777), "drwxrwxrwx");
    assert_eq!(mode_string(FileKind::File, 0o640), "-rw-r-----");
}

#[test]
fn layer_changes_name_whiteouts_and_opaque_dirs() {
    use rootlab_shared::result::LayerTree;
    let (mut r, _) = leak_fixture();
    let layer = |entries| LayerTree {
        name: "container".into(),
        tree: Tree {
            root: String::new(),
            error: None,
            entries,
            truncated: false,
            complete_to: None,
        },
    };
    let mut wh = entry("etc/os-release", FileKind::CharDevice);
    wh.whiteout = true;
    let mut doc = entry("usr/doc", FileKind::Dir);
    doc.opaque = true;
    r.snapshots[0].layers = vec![layer(vec![])];
    r.snapshots[1].layers = vec![layer(vec![
        entry("etc", FileKind::Dir),
        wh,
        entry("usr", FileKind::Dir),
        doc,
    ])];
    let text = render(&r, None, Style { color: false });
    assert!(
        text.contains("· layer container since \"host before\""),
        "{text}"
    );
    assert!(
        text.contains("+ etc/os-release  (whiteout: hides the lower layers' file)"),
        "{text}"
    );
    assert!(
        text.contains("+ usr/doc  (opaque: lower layers' contents no longer show)"),
        "{text}"
    );
    assert!(text.contains("  .\n  ├── etc/"), "{text}");
}
