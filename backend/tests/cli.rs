//! Smoke tests of the real `rootlab` binary: presets listing, validation errors (exit 2), and
//! lesson outcomes as the real kernel produced them, read from `rootlab run --json`.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use rootlab_shared::result::{RunResult, RunStatus, StepDetails, StepOutcome, View};

fn rootlab(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rootlab"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rootlab");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().expect("wait rootlab")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run_json(preset: &str) -> RunResult {
    let out = rootlab(&["run", preset, "--json", "--quiet"], None);
    assert!(out.status.success(), "{preset}: {}", text(&out.stderr));
    let result: RunResult = serde_json::from_slice(&out.stdout).expect("RunResult JSON");
    assert_eq!(
        result.status,
        RunStatus::Completed,
        "{preset}: {:?}",
        result.message
    );
    result
}

fn view<'r>(r: &'r RunResult, label: &str, actor: &str) -> &'r View {
    let snap = r.snapshots.iter().find(|s| s.label == label).expect(label);
    snap.views.iter().find(|v| v.actor == actor).expect(actor)
}

fn has_mount(v: &View, target: &str, fstype: &str) -> bool {
    v.mounts
        .iter()
        .any(|m| m.target == target && m.fstype == fstype)
}

fn tree_names(v: &View, root: &str) -> Vec<String> {
    let tree = v.trees.iter().find(|t| t.root == root).expect(root);
    tree.entries.iter().map(|e| e.path.clone()).collect()
}

#[test]
fn presets_lists_every_lesson() {
    let out = rootlab(&["presets"], None);
    assert!(out.status.success());
    let listing = text(&out.stdout);
    for id in rootlab_shared::presets::ids() {
        assert!(listing.contains(id), "{id} missing from:\n{listing}");
    }
}

#[test]
fn an_invalid_spec_names_its_fields_and_exits_2() {
    let spec = r#"{"steps": [{"op": "tmpfs", "in": "ghost", "target": "tmp"}]}"#;
    let out = rootlab(&["run", "-"], Some(spec));
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("steps[0].in:") && err.contains("ghost"),
        "{err}"
    );
    assert!(err.contains("steps[0].target:"), "{err}");
}

#[test]
fn a_syntax_error_exits_2() {
    let out = rootlab(&["run", "-"], Some(r#"{"steps": [ "#));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("(document)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_unknown_experiment_is_refused() {
    let out = rootlab(&["run", "no-such-preset"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("\"no-such-preset\" is not a preset id"),
        "{err}"
    );
    assert!(err.contains("rootlab presets"), "{err}");
}

#[test]
fn a_missing_file_is_named_and_exits_2() {
    let out = rootlab(&["run", "specs/missing.json"], None);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        "rootlab: no such file: specs/missing.json"
    );
}

/// `shared/presets/` of this checkout.
fn preset_file(id: &str) -> String {
    format!("{}/../shared/presets/{id}.json", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_preset_file_runs_like_its_id() {
    let out = rootlab(
        &["run", &preset_file("seed-tmpfs"), "--json", "--quiet"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let result: RunResult = serde_json::from_slice(&out.stdout).expect("RunResult JSON");
    assert_eq!(result.status, RunStatus::Completed);
    let c1 = view(&result, "container after mount", "c1");
    assert!(has_mount(c1, "/tmp", "tmpfs"));
}

#[test]
fn an_invalid_preset_file_names_fields_under_spec() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.json");
    let doc = r#"{"id": "mine", "lesson": 1, "title": "t",
                  "spec": {"steps": [{"op": "tmpfs", "target": "tmp"}]}}"#;
    std::fs::write(&path, doc).unwrap();
    let out = rootlab(&["run", path.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("  spec.steps[0].target: "), "{err}");
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    for args in [
        &["run", "seed-tmpfs", "--quiet"][..],
        &["presets", "--json"][..],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rootlab"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Like `| true`: the reader is gone before the first write.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stderr), "", "{args:?}");
    }
}

#[test]
fn completions_and_man_page_are_generated() {
    for (shell, marker) in [
        ("bash", "_rootlab()"),
        ("zsh", "#compdef rootlab"),
        ("fish", "complete -c rootlab"),
    ] {
        let out = rootlab(&["completions", shell], None);
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        assert!(
            script.contains(marker) && script.contains("presets"),
            "{shell}:\n{script}"
        );
    }
    let out = rootlab(&["completions", "tcsh"], None);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
    let out = rootlab(&["man"], None);
    assert!(out.status.success());
    let page = text(&out.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH rootlab 1"),
        "{page}"
    );
    assert!(page.contains("Exit status"), "{page}");
    let dir = tempfile::tempdir().unwrap();
    let out = rootlab(&["man", "--dir", dir.path().to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for page in [
        "rootlab.1",
        "rootlab-run.1",
        "rootlab-serve.1",
        "rootlab-presets.1",
    ] {
        assert!(dir.path().join(page).is_file(), "{page} missing");
    }
}

#[test]
fn help_documents_the_exit_statuses() {
    for args in [&["--help"][..], &["run", "--help"][..]] {
        let out = rootlab(args, None);
        assert!(out.status.success());
        let help = text(&out.stdout);
        assert!(help.contains("Exit status:"), "{help}");
        assert!(help.contains("  2  invalid input"), "{help}");
    }
}

#[test]
fn seed_tmpfs_report_shows_the_mount_only_in_the_container() {
    let out = rootlab(&["run", "seed-tmpfs"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(!report.contains('\x1b'), "colour on a pipe");
    assert!(report.contains("host -> c1"), "{report}");
    assert!(
        report.contains("+ mount tmpfs on /tmp (none, private)"),
        "{report}"
    );
    assert!(report.contains("◌ /tmp/kubectl-edit-fplln.yaml (hidden under the new mount on /tmp)"));
    // The course's `rw,relatime`, with the sandbox's own options set apart.
    assert!(
        report.contains("rw,relatime +size=16384k,nr_inodes=4096"),
        "{report}"
    );
    assert!(
        text(&out.stderr).contains("step 2/5 tmpfs (c1) ok"),
        "progress: {}",
        text(&out.stderr)
    );
}

#[test]
fn inherit_container_sees_the_host_tmp() {
    let r = run_json("seed-inherit");
    let host = view(&r, "container after clone", "host");
    let c1 = view(&r, "container after clone", "c1");
    assert!(tree_names(host, "/tmp").contains(&"/tmp/kubectl-edit-fplln.yaml".to_string()));
    assert_eq!(tree_names(host, "/tmp"), tree_names(c1, "/tmp"));
    let targets = |v: &View| {
        v.mounts
            .iter()
            .map(|m| m.target.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(targets(host), targets(c1));
}

#[test]
fn propagation_leak_reaches_the_host_and_outlives_the_container() {
    let r = run_json("seed-propagation-leak");
    assert!(!has_mount(view(&r, "host before", "host"), "/tmp", "tmpfs"));
    let after = view(&r, "host after exit", "host");
    assert!(has_mount(after, "/tmp", "tmpfs"), "{:?}", after.mounts);
    assert!(
        tree_names(after, "/tmp").is_empty(),
        "host files hidden under the leaked tmpfs"
    );
    let grep = r
        .steps
        .iter()
        .find_map(|s| s.output.as_ref().filter(|_| s.actor == "host"));
    assert!(grep
        .expect("host grep")
        .stdout
        .contains("none on /tmp type tmpfs"));
}

#[test]
fn propagation_private_keeps_the_host_unchanged() {
    let r = run_json("seed-propagation-private");
    assert!(has_mount(
        view(&r, "container after mount", "c1"),
        "/tmp",
        "tmpfs"
    ));
    let before = view(&r, "host before", "host");
    let after = view(&r, "host after exit", "host");
    assert!(!has_mount(after, "/tmp", "tmpfs"));
    assert_eq!(tree_names(before, "/tmp"), tree_names(after, "/tmp"));
}

#[test]
fn propagation_slave_is_one_way() {
    let r = run_json("seed-propagation-slave");
    let host = view(&r, "after both mounts", "host");
    let c1 = view(&r, "after both mounts", "c1");
    assert!(
        has_mount(c1, "/mnt/data", "tmpfs"),
        "host mount reached the slave"
    );
    assert!(has_mount(c1, "/tmp", "tmpfs"));
    assert!(
        !has_mount(host, "/tmp", "tmpfs"),
        "slave mount did not reach the host"
    );
    let root = c1.mounts.iter().find(|m| m.target == "/").unwrap();
    let host_root = host.mounts.iter().find(|m| m.target == "/").unwrap();
    assert_eq!(root.propagation, "private,slave");
    assert_eq!(root.master, host_root.shared);
}

#[test]
fn chroot_sees_only_the_hand_made_rootfs() {
    let r = run_json("seed-chroot");
    let ls = r
        .steps
        .iter()
        .find(|s| s.command == "/bin/ls /")
        .expect("ls step");
    assert_eq!(ls.output.as_ref().unwrap().stdout, "bin\nlib\nlib64\n");
    let copied = r.steps.iter().find_map(|s| match &s.details {
        Some(StepDetails::BuildRootfs { copied, .. }) => Some(copied),
        _ => None,
    });
    assert!(copied
        .unwrap()
        .iter()
        .any(|c| c.dest == "/lib64/ld-linux-x86-64.so.2"));
}

#[test]
fn chroot_without_libraries_fails_with_enoent() {
    let r = run_json("seed-chroot-missing-lib");
    let last = r.steps.last().unwrap();
    match &last.outcome {
        StepOutcome::Error(e) => assert_eq!(e.errno.as_deref(), Some("ENOENT"), "{e:?}"),
        other => panic!("expected ENOENT, got {other:?}"),
    }
}

#[test]
fn kernel_release_is_the_hosts_inside_the_container() {
    let r = run_json("seed-kernel");
    let outputs: Vec<&str> = r
        .steps
        .iter()
        .filter_map(|s| s.output.as_ref().map(|o| o.stdout.trim()))
        .collect();
    assert_eq!(outputs.len(), 2, "{outputs:?}");
    let release = |line: &str| line.split_whitespace().last().unwrap_or("").to_string();
    assert_eq!(release(outputs[0]), release(outputs[1]));
    assert_eq!(release(outputs[0]), r.kernel_release);
    assert!(
        outputs[0].starts_with("c1 "),
        "own host name: {}",
        outputs[0]
    );
}

#[test]
fn union_merges_with_the_leftmost_layer_on_top() {
    let r = run_json("seed-union");
    let c = view(&r, "merged C", "host");
    let tree = &c.trees[0];
    let layer_of = |name: &str| {
        let path = format!("/root/tree/C/{name}");
        tree.entries
            .iter()
            .find(|e| e.path == path)
            .and_then(|e| e.layer.clone())
    };
    assert_eq!(layer_of("a").as_deref(), Some("A"));
    assert_eq!(layer_of("b").as_deref(), Some("B"));
    assert_eq!(layer_of("x").as_deref(), Some("A"));
}

#[test]
fn layers_record_copy_up_whiteout_and_opaque() {
    let r = run_json("seed-layers");
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
    let entry = |p: &str| upper.entries.iter().find(|e| e.path == p);
    assert!(
        entry("etc/app.conf").is_some(),
        "copied up: {:?}",
        upper.entries
    );
    assert!(entry("etc/os-release").is_some_and(|e| e.whiteout));
    assert!(entry("usr/share/doc").is_some_and(|e| e.opaque));
}

#[test]
fn chroot_can_be_escaped_and_pivot_root_cannot() {
    let r = run_json("pivot-vs-chroot");
    let escapes: Vec<(String, bool)> = r
        .steps
        .iter()
        .filter_map(|s| match &s.details {
            Some(StepDetails::Escape { escaped, .. }) => Some((s.actor.clone(), *escaped)),
            _ => None,
        })
        .collect();
    assert_eq!(
        escapes,
        [("c1".to_string(), true), ("c2".to_string(), false)]
    );
}

#[test]
fn a_spec_file_runs_and_reports_its_kernel_errors_as_results() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spec.json");
    // Unmounting something that is not a mount point: the kernel says EINVAL, the run completes.
    let spec = r#"{"title": "from a file", "steps": [
        {"op": "mkdir", "path": "/srv/empty"},
        {"op": "umount", "target": "/srv/empty"}]}"#;
    std::fs::write(&path, spec).unwrap();
    let out = rootlab(&["run", path.to_str().unwrap(), "--json", "-q"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: RunResult = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r.title, "from a file");
    match &r.steps[1].outcome {
        StepOutcome::Error(e) => assert_eq!(e.errno.as_deref(), Some("EINVAL"), "{e:?}"),
        other => panic!("umount of a plain directory succeeded: {other:?}"),
    }
}

#[test]
fn a_failed_expectation_exits_4_and_says_which() {
    let spec = r#"{"host": {"root_propagation": "private"}, "steps": [
        {"op": "container", "name": "c1"},
        {"op": "tmpfs", "in": "c1", "target": "/tmp"},
        {"op": "snapshot", "label": "s", "paths": ["/tmp"], "depth": 1}],
      "expect": [
        {"kind": "outcome", "step": 1},
        {"kind": "mount", "snapshot": "s", "view": "host", "target": "/tmp"}]}"#;
    let out = rootlab(&["run", "-"], Some(spec));
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(report.contains("Expectations: 1 of 2 held"), "{report}");
    assert!(
        report.contains("[1] FAILED host at `s` has mount on /tmp")
            && report.contains("but host has no mount on /tmp"),
        "{report}"
    );
    // The same spec with the right prediction passes.
    let right = spec.replace(
        r#""target": "/tmp"}]"#,
        r#""target": "/tmp", "present": false}]"#,
    );
    let out = rootlab(&["run", "-"], Some(&right));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}
