//! The lessons of the operations added after the course's own (issue 11: a rootless container,
//! a slave volume, `mount --move`, overlay options, two actors at once; issue 9: a container from
//! a real three-layer image): each preset's point as
//! one check on its real result, shared by `engine_presets.rs` (the presets as root and rootless)
//! and `lessons::all()` (`engine_lessons.rs`, `engine_rootless.rs`).

use rootlab_shared::presets;
use rootlab_shared::result::{RunResult, StepDetails, StepOutcome, StepResult};

use super::lessons::Lesson;
use super::*;

/// A check of one result.
type Check = fn(&RunResult);

/// (preset id, the check of its point).
const CHECKS: [(&str, Check); 6] = [
    ("propagation-userns", check_userns),
    ("bind-rslave", check_bind_rslave),
    ("move-mount", check_move),
    ("background-watch", check_background_watch),
    ("overlay-options", check_overlay_options),
    ("image-layers", check_image_layers),
];

/// The check of preset `id`, if it is one of these lessons.
pub fn check(id: &str) -> Option<Check> {
    CHECKS.iter().find(|(i, _)| *i == id).map(|(_, c)| *c)
}

/// Each of these presets as a lesson: its own spec, its own check.
pub fn all() -> Vec<Lesson> {
    CHECKS
        .iter()
        .map(|(id, check)| Lesson {
            name: id,
            spec: serde_json::to_value(presets::get(id).expect(id).spec).unwrap(),
            check: *check,
        })
        .collect()
}

/// The step that ran `command` (the first, or the last with `last`).
fn ran<'r>(r: &'r RunResult, command: &str, last: bool) -> &'r StepResult {
    let mut found = r.steps.iter().filter(|s| s.command == command);
    let s = if last {
        found.next_back()
    } else {
        found.next()
    };
    s.unwrap_or_else(|| panic!("no step ran `{command}`: {:?}", r.steps))
}

fn explanation(s: &StepResult) -> &str {
    match &s.outcome {
        StepOutcome::Error(e) => &e.explanation,
        other => panic!("step {} ({}) was not refused: {other:?}", s.index, s.op),
    }
}

fn has_path(v: &View, root: &str, path: &str) -> bool {
    tree(v, root).entries.iter().any(|e| e.path == path)
}

/// Every inherited mount a slave of the host's same mount; the container's own stays private and
/// home; a later host mount arrives; umount of an inherited one is refused (locked).
fn check_userns(r: &RunResult) {
    let umount = ran(r, "umount /mnt/data", false);
    assert_eq!(errno(umount).as_deref(), Some("EINVAL"));
    assert!(explanation(umount).contains("locked"), "{umount:?}");
    r.steps
        .iter()
        .filter(|s| s.index != umount.index)
        .for_each(assert_ok);
    let (host, c1) = (
        snapshot_view(r, "after", "host"),
        snapshot_view(r, "after", "c1"),
    );
    for m in c1.mounts.iter().filter(|m| m.target != "/tmp") {
        let h = mount_at(host, &m.target).expect("inherited from the host");
        assert_eq!(m.propagation, "private,slave", "{}", m.target);
        assert_eq!(m.master, h.shared, "{}: a slave of the host's", m.target);
    }
    assert!(mount_at(c1, "/mnt/late").is_some(), "the later host mount");
    assert!(mount_at(c1, "/mnt/data").is_some(), "still there: locked");
    assert_eq!(mount_at(c1, "/tmp").unwrap().propagation, "private");
    assert!(mount_at(host, "/tmp").is_none(), "nothing flows back");
}

/// The host's later mount below the source shows under the slave bind, not the private one; the
/// container's mount under the slave bind stays in the container.
fn check_bind_rslave(r: &RunResult) {
    r.steps.iter().for_each(assert_ok);
    assert_eq!(
        ran(r, "mount --rbind --make-rslave /data /vol", false).syscalls,
        [
            "mount(\"/data\", \"/vol\", NULL, MS_BIND|MS_REC, NULL)",
            "mount(NULL, \"/vol\", NULL, MS_REC|MS_SLAVE, NULL)"
        ]
    );
    let (host, c1) = (
        snapshot_view(r, "after", "host"),
        snapshot_view(r, "after", "c1"),
    );
    let from_host = mount_at(host, "/data/in").unwrap();
    let arrived = mount_at(c1, "/vol/in").expect("arrived under the slave bind");
    assert_eq!(arrived.propagation, "private,slave");
    assert_eq!(arrived.master, from_host.shared);
    assert!(has_path(c1, "/vol", "/vol/in/new.txt"));
    assert!(mount_at(c1, "/priv/in").is_none());
    assert!(!has_path(c1, "/priv", "/priv/in/new.txt"));
    assert_eq!(mount_at(c1, "/vol/out").unwrap().propagation, "private");
    assert!(mount_at(host, "/data/out").is_none(), "nothing back");
    assert!(!has_path(host, "/data", "/data/out/c1.txt"));
    assert!(
        mount_at(host, "/vol").is_none(),
        "the bind itself stayed in c1"
    );
}

/// The move is refused under a shared parent and done once the parent is private.
fn check_move(r: &RunResult) {
    let command = "mount --move /mnt/old /mnt/new";
    let (refused, moved) = (ran(r, command, false), ran(r, command, true));
    assert_eq!(errno(refused).as_deref(), Some("EINVAL"));
    assert!(explanation(refused).contains("shared"), "{refused:?}");
    assert_ok(moved);
    assert!(
        moved.syscalls[0].contains("MS_MOVE"),
        "{:?}",
        moved.syscalls
    );
    let before = snapshot_view(r, "before", "host");
    assert_eq!(mount_at(before, "/").unwrap().propagation, "shared");
    assert!(mount_at(before, "/mnt/new").is_none());
    let after = snapshot_view(r, "after", "host");
    let m = mount_at(after, "/mnt/new").expect("moved");
    assert_eq!(
        (m.source.as_str(), m.propagation.as_str()),
        ("data", "private")
    );
    assert!(mount_at(after, "/mnt/old").is_none());
    assert!(has_path(after, "/mnt", "/mnt/new/hello.txt"));
    assert!(!has_path(after, "/mnt", "/mnt/old/hello.txt"));
}

/// The running program printed "not a mountpoint" before the host's mount and "a mountpoint"
/// after it, and the container's row is in the host's peer group.
fn check_background_watch(r: &RunResult) {
    r.steps.iter().for_each(assert_ok);
    let wait = r.steps.iter().find(|s| s.op == "wait").unwrap();
    let Some(StepDetails::Waited {
        ended,
        still_running,
    }) = &wait.details
    else {
        panic!("no wait details: {wait:?}");
    };
    assert!(still_running.is_empty());
    let lines: Vec<&str> = ended[0].stdout.lines().collect();
    assert_eq!(
        lines[..2],
        ["/mnt/x is not a mountpoint", "/mnt/x is a mountpoint"]
    );
    assert!(lines[2].contains(" /mnt/x ") && lines[2].contains("shared:"));
    let (host, c1) = (
        snapshot_view(r, "after", "host"),
        snapshot_view(r, "after", "c1"),
    );
    let (h, c) = (
        mount_at(host, "/mnt/x").unwrap(),
        mount_at(c1, "/mnt/x").unwrap(),
    );
    assert_eq!(c.shared, h.shared);
    assert!(c.shared.is_some());
}

/// volatile shows in the mount table and marks the work dir; metacopy is refused.
fn check_overlay_options(r: &RunResult) {
    let volatile = r
        .steps
        .iter()
        .find(|s| s.command.contains(",volatile "))
        .unwrap();
    assert_ok(volatile);
    let metacopy = r
        .steps
        .iter()
        .find(|s| s.command.contains("metacopy=on"))
        .unwrap();
    assert_eq!(errno(metacopy).as_deref(), Some("EINVAL"));
    assert!(
        explanation(metacopy).contains("user namespace"),
        "{metacopy:?}"
    );
    let listed = r.steps.iter().find(|s| s.op == "run").unwrap();
    assert!(stdout(listed).contains("fsync=volatile"), "{listed:?}");
    let host = snapshot_view(r, "merged C", "host");
    assert!(mount_at(host, "/root/tree/C")
        .unwrap()
        .options
        .contains("fsync=volatile"));
    assert!(mount_at(host, "/root/tree/D").is_none());
    let dirty = "/layers/.work-W/work/incompat/volatile/dirty";
    assert!(has_path(host, "/layers/.work-W", dirty));
    let x = tree(host, "/root/tree/C")
        .entries
        .iter()
        .find(|e| e.path == "/root/tree/C/x")
        .unwrap();
    assert_eq!(x.layer.as_deref(), Some("W"), "copied up as usual");
}

/// docker run of lesson 7's Debian: the three layers stacked top first, the top layer's whiteout
/// holding, the container's writes all in its own writable layer.
fn check_image_layers(r: &RunResult) {
    let seen = stdout(&r.steps[1]);
    assert!(seen.contains("tree v2.1.0"), "layer 1's package: {seen}");
    assert!(
        seen.contains("/etc/debian_version is not here"),
        "layer 2's whiteout: {seen}"
    );
    let host = snapshot_view(r, "after the container wrote", "host");
    let root = mount_at(host, "/containers/app").expect("the container's root on the host");
    assert!(
        root.options
            .contains("lowerdir=c-app/2:c-app/1:c-app/0,upperdir=layers/app.upper"),
        "{}",
        root.options
    );
    let upper = tree(host, "/layers/app.upper");
    let entry = |p: &str| {
        upper
            .entries
            .iter()
            .find(|e| e.path == format!("/layers/app.upper/{p}"))
            .unwrap_or_else(|| panic!("{p} not in the writable layer"))
    };
    assert!(entry("etc/issue").whiteout);
    assert!(entry("usr/share/doc/apt").opaque);
    assert_eq!(
        entry("etc/app.conf").preview.as_deref(),
        Some("port=8080\n")
    );
    assert_eq!(
        entry("etc/hostname").preview.as_deref(),
        Some("app\n"),
        "copied up, changed"
    );
    let merged = tree(host, "/containers/app/etc");
    assert!(merged
        .entries
        .iter()
        .all(|e| e.path != "/containers/app/etc/issue"));
}
