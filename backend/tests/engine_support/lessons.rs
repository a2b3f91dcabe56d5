//! The lesson outcomes of LESSONS.md as small specs with the checks the kernel's answer must pass,
//! then the lessons of the later operations (`op_lessons`); run as root and rootless.

use rootlab_shared::result::{FileKind, RunResult, RunStatus, StepDetails, StepOutcome};
use serde_json::{json, Value};

use super::*;

/// A lesson: its name, its spec, and what the result must show.
pub struct Lesson {
    pub name: &'static str,
    pub spec: Value,
    pub check: fn(&RunResult),
}

pub fn all() -> Vec<Lesson> {
    vec![
        Lesson {
            name: "inherit",
            spec: inherit(),
            check: check_inherit,
        },
        Lesson {
            name: "tmpfs",
            spec: tmpfs(),
            check: check_tmpfs,
        },
        Lesson {
            name: "leak",
            spec: propagation("shared", None),
            check: check_leak,
        },
        Lesson {
            name: "private",
            spec: propagation("shared", Some("private")),
            check: check_private,
        },
        Lesson {
            name: "slave",
            spec: slave(),
            check: check_slave,
        },
        Lesson {
            name: "chroot",
            spec: chroot(),
            check: check_chroot,
        },
        Lesson {
            name: "kernel",
            spec: kernel(),
            check: check_kernel,
        },
        Lesson {
            name: "union",
            spec: union(),
            check: check_union,
        },
        Lesson {
            name: "layers",
            spec: layers(),
            check: check_layers,
        },
        Lesson {
            name: "pivot-vs-chroot",
            spec: pivot_vs_chroot(),
            check: check_pivot_vs_chroot,
        },
    ]
    .into_iter()
    .chain(super::op_lessons::all())
    .collect()
}

fn seed_files() -> Value {
    json!([
        { "type": "file", "path": "/tmp/kubectl-edit-1.yaml", "content": "apiVersion: v1\n" },
        { "type": "dir", "path": "/tmp/systemd-private-abc" },
        { "type": "file", "path": "/tmp/tmp.XYZ", "content": "" }
    ])
}

fn inherit() -> Value {
    json!({ "host": { "root_propagation": "private", "files": seed_files() },
            "steps": [ { "op": "container", "name": "c1" },
                       { "op": "snapshot", "label": "s", "paths": ["/tmp"] } ] })
}

fn check_inherit(r: &RunResult) {
    let host = snapshot_view(r, "s", "host");
    let c1 = snapshot_view(r, "s", "c1");
    let host_names = names(tree(host, "/tmp"));
    assert_eq!(
        host_names,
        vec!["kubectl-edit-1.yaml", "systemd-private-abc", "tmp.XYZ"]
    );
    assert_eq!(names(tree(c1, "/tmp")), host_names);
    let targets = |v: &View| {
        v.mounts
            .iter()
            .map(|m| m.target.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(targets(host), targets(c1));
}

fn tmpfs() -> Value {
    json!({ "host": { "root_propagation": "private", "files": seed_files() },
            "steps": [ { "op": "container", "name": "c1" },
                       { "op": "tmpfs", "in": "c1", "target": "/tmp" },
                       { "op": "run", "in": "c1", "argv": ["mount"] },
                       { "op": "snapshot", "label": "s", "paths": ["/tmp"] } ] })
}

fn check_tmpfs(r: &RunResult) {
    r.steps.iter().for_each(assert_ok);
    let c1 = snapshot_view(r, "s", "c1");
    assert!(names(tree(c1, "/tmp")).is_empty());
    let m = mount_at(c1, "/tmp").expect("tmpfs on /tmp in the container");
    assert_eq!((m.fstype.as_str(), m.source.as_str()), ("tmpfs", "none"));
    assert!(stdout(&r.steps[2]).contains("none on /tmp type tmpfs (rw,relatime"));
    let host = snapshot_view(r, "s", "host");
    assert_eq!(names(tree(host, "/tmp")).len(), 3);
    assert!(mount_at(host, "/tmp").is_none());
}

/// Container mounts a tmpfs on /tmp (optionally after remounting / with `fix`) and exits.
fn propagation(host: &str, fix: Option<&str>) -> Value {
    let mut steps = vec![json!({ "op": "container", "name": "c1" })];
    if let Some(p) = fix {
        steps
            .push(json!({ "op": "make_propagation", "in": "c1", "target": "/", "propagation": p }));
    }
    steps.extend([
        json!({ "op": "tmpfs", "in": "c1", "target": "/tmp" }),
        json!({ "op": "snapshot", "label": "inside", "paths": ["/tmp"] }),
        json!({ "op": "exit", "in": "c1" }),
        json!({ "op": "snapshot", "label": "after exit", "paths": ["/tmp"] }),
    ]);
    json!({ "host": { "root_propagation": host, "files": seed_files() }, "steps": steps })
}

fn check_leak(r: &RunResult) {
    r.steps.iter().for_each(assert_ok);
    let host = snapshot_view(r, "after exit", "host");
    let leaked = mount_at(host, "/tmp").expect("the container's tmpfs leaked to the host");
    assert_eq!(leaked.fstype, "tmpfs");
    assert!(
        names(tree(host, "/tmp")).is_empty(),
        "the host's files are hidden by the leak"
    );
    let root = mount_at(host, "/").unwrap();
    assert_eq!(root.propagation, "shared");
    // Same peer group number for the host's / and the container's / (renumbered per run).
    let c1_root = mount_at(snapshot_view(r, "inside", "c1"), "/").unwrap();
    assert_eq!(root.shared, c1_root.shared);
    assert!(root.shared.is_some());
}

fn check_private(r: &RunResult) {
    r.steps.iter().for_each(assert_ok);
    let host = snapshot_view(r, "after exit", "host");
    assert!(
        mount_at(host, "/tmp").is_none(),
        "no leak once / is private"
    );
    assert_eq!(names(tree(host, "/tmp")).len(), 3);
    let c1 = snapshot_view(r, "inside", "c1");
    assert_eq!(mount_at(c1, "/").unwrap().propagation, "private");
}

fn slave() -> Value {
    json!({ "host": { "root_propagation": "shared" },
            "steps": [ { "op": "container", "name": "c1" },
                       { "op": "make_propagation", "in": "c1", "target": "/", "propagation": "slave" },
                       { "op": "tmpfs", "target": "/tmp", "source": "from-host" },
                       { "op": "tmpfs", "in": "c1", "target": "/root", "source": "from-c1" },
                       { "op": "snapshot", "label": "s", "paths": ["/"], "depth": 1 } ] })
}

fn check_slave(r: &RunResult) {
    r.steps.iter().for_each(assert_ok);
    let host = snapshot_view(r, "s", "host");
    let c1 = snapshot_view(r, "s", "c1");
    assert_eq!(
        mount_at(c1, "/tmp").map(|m| m.source.as_str()),
        Some("from-host")
    );
    assert!(
        mount_at(host, "/root").is_none(),
        "container mounts stay in the container"
    );
    let (h, c) = (mount_at(host, "/").unwrap(), mount_at(c1, "/").unwrap());
    assert_eq!(c.propagation, "private,slave");
    assert_eq!(c.master, h.shared);
}

fn chroot() -> Value {
    json!({ "steps": [
        { "op": "build_rootfs", "dir": "/test", "programs": ["/bin/bash", "/bin/ls"] },
        { "op": "build_rootfs", "dir": "/bare", "programs": ["/bin/ls"], "skip_libraries": true },
        { "op": "container", "name": "c1" },
        { "op": "chroot", "in": "c1", "dir": "/test" },
        { "op": "run", "in": "c1", "argv": ["ls", "/"] },
        { "op": "container", "name": "c2" },
        { "op": "chroot", "in": "c2", "dir": "/bare" },
        { "op": "run", "in": "c2", "argv": ["/bin/ls", "/"] },
        { "op": "snapshot", "label": "s", "views": ["host"], "paths": ["/test"], "depth": 3 } ] })
}

fn check_chroot(r: &RunResult) {
    assert_ok(&r.steps[0]);
    assert_eq!(stdout(&r.steps[4]), "bin\nlib\nlib64\n");
    let Some(StepDetails::BuildRootfs { copied, ldd }) = &r.steps[0].details else {
        panic!("build_rootfs details missing");
    };
    assert!(copied
        .iter()
        .any(|c| c.dest.contains("ld-linux") && c.reason == "/bin/bash"));
    assert!(ldd.iter().any(|o| o.stdout.contains("libc.so")));
    let StepOutcome::Error(e) = &r.steps[7].outcome else {
        panic!("ls without its loader must fail: {:?}", r.steps[7]);
    };
    assert_eq!(e.errno.as_deref(), Some("ENOENT"));
    assert!(e.explanation.contains("ld-linux"), "{}", e.explanation);
    let host = snapshot_view(r, "s", "host");
    assert_eq!(names(tree(host, "/test")), vec!["bin", "lib", "lib64"]);
}

fn kernel() -> Value {
    json!({ "host": { "image": "busybox" },
            "steps": [ { "op": "container", "name": "c1", "namespaces": ["uts", "pid"] },
                       { "op": "run", "in": "c1", "argv": ["uname", "-r"] },
                       { "op": "snapshot", "label": "s", "views": ["c1"], "paths": ["/"], "depth": 2 } ] })
}

fn check_kernel(r: &RunResult) {
    assert_ok(&r.steps[1]);
    let host_release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(stdout(&r.steps[1]).trim(), host_release.trim());
    assert_eq!(r.kernel_release, host_release.trim());
    let c1 = snapshot_view(r, "s", "c1");
    let t = tree(c1, "/");
    assert!(t
        .entries
        .iter()
        .all(|e| e.path != "/boot" && !e.path.contains("vmlinuz")));
    assert!(t.entries.iter().any(|e| e.path == "/bin/busybox"));
}

fn union() -> Value {
    json!({ "layers": [
                { "name": "A", "entries": [ { "type": "file", "path": "a", "content": "a" },
                                            { "type": "file", "path": "x", "content": "x from A" } ] },
                { "name": "B", "entries": [ { "type": "file", "path": "b", "content": "b" },
                                            { "type": "file", "path": "x", "content": "x from B" } ] } ],
            "steps": [ { "op": "mkdir", "path": "/C" },
                       { "op": "overlay", "target": "/C", "lowers": ["A", "B"] },
                       { "op": "snapshot", "label": "s", "views": ["host"], "paths": ["/C"] } ] })
}

fn check_union(r: &RunResult) {
    r.steps.iter().for_each(assert_ok);
    let t = tree(snapshot_view(r, "s", "host"), "/C");
    let by = |p: &str| t.entries.iter().find(|e| e.path == p).unwrap();
    assert_eq!(names(t), vec!["a", "b", "x"]);
    assert_eq!(by("/C/x").layer.as_deref(), Some("A"));
    assert_eq!(by("/C/x").preview.as_deref(), Some("x from A"));
    assert_eq!(by("/C/b").layer.as_deref(), Some("B"));
    assert_eq!(by("/C/a").layer.as_deref(), Some("A"));
}

fn layers() -> Value {
    json!({ "layers": [
                { "name": "base", "entries": [ { "type": "file", "path": "etc/app.conf", "content": "v1" },
                                               { "type": "file", "path": "bin/tool", "content": "t" },
                                               { "type": "file", "path": "data/old.txt", "content": "o" } ] },
                { "name": "app", "entries": [ { "type": "file", "path": "app/main", "content": "m" } ] },
                { "name": "rw" } ],
            "steps": [ { "op": "container", "name": "c1" },
                       { "op": "mkdir", "in": "c1", "path": "/merged" },
                       { "op": "overlay", "in": "c1", "target": "/merged", "lowers": ["app", "base"], "upper": "rw" },
                       { "op": "write", "in": "c1", "path": "/merged/etc/app.conf", "content": "v2" },
                       { "op": "delete", "in": "c1", "path": "/merged/bin/tool" },
                       { "op": "delete", "in": "c1", "path": "/merged/data" },
                       { "op": "mkdir", "in": "c1", "path": "/merged/data" },
                       { "op": "snapshot", "label": "s", "views": ["c1"], "paths": ["/merged"], "layers": true } ] })
}

fn check_layers(r: &RunResult) {
    r.steps.iter().for_each(assert_ok);
    let t = tree(snapshot_view(r, "s", "c1"), "/merged");
    let by = |p: &str| t.entries.iter().find(|e| e.path == p);
    assert_eq!(
        by("/merged/etc/app.conf").unwrap().layer.as_deref(),
        Some("rw")
    );
    assert_eq!(
        by("/merged/etc/app.conf").unwrap().preview.as_deref(),
        Some("v2")
    );
    assert_eq!(
        by("/merged/app/main").unwrap().layer.as_deref(),
        Some("app")
    );
    assert!(by("/merged/bin/tool").is_none());
    assert!(by("/merged/data/old.txt").is_none());
    let snap = r.snapshots.iter().find(|s| s.label == "s").unwrap();
    let rw = &snap.layers.iter().find(|l| l.name == "rw").unwrap().tree;
    let le = |p: &str| {
        rw.entries
            .iter()
            .find(|e| e.path == p)
            .unwrap_or_else(|| panic!("{p} in rw"))
    };
    assert_eq!(le("etc/app.conf").kind, FileKind::File);
    assert!(le("bin/tool").whiteout);
    assert!(le("data").opaque);
    let base = &snap.layers.iter().find(|l| l.name == "base").unwrap().tree;
    assert!(base
        .entries
        .iter()
        .any(|e| e.path == "bin/tool" && !e.whiteout));
}

fn pivot_vs_chroot() -> Value {
    json!({ "steps": [
        { "op": "build_rootfs", "dir": "/jail", "programs": ["/bin/sh", "/bin/ls"] },
        { "op": "container", "name": "chrooted" },
        { "op": "chroot", "in": "chrooted", "dir": "/jail" },
        { "op": "escape", "in": "chrooted" },
        { "op": "container", "name": "pivoted" },
        { "op": "make_propagation", "in": "pivoted", "target": "/", "propagation": "private" },
        { "op": "pivot_root", "in": "pivoted", "new_root": "/jail" },
        { "op": "escape", "in": "pivoted" },
        { "op": "container", "name": "shared" },
        { "op": "pivot_root", "in": "shared", "new_root": "/jail" } ] })
}

fn check_pivot_vs_chroot(r: &RunResult) {
    let escaped = |i: usize| match &r.steps[i].details {
        Some(StepDetails::Escape {
            escaped,
            root_listing,
            ..
        }) => (*escaped, root_listing.clone()),
        other => panic!("escape details missing: {other:?}"),
    };
    let (out, listing) = escaped(3);
    assert!(out, "a chroot can be escaped");
    assert!(listing.contains(&"jail".to_string()) && listing.contains(&"layers".to_string()));
    assert_ok(&r.steps[6]);
    let (out, listing) = escaped(7);
    assert!(
        !out,
        "after pivot_root and detaching the old root there is nothing to climb to"
    );
    assert!(listing.contains(&"lib64".to_string()) && !listing.contains(&"jail".to_string()));
    assert_eq!(errno(&r.steps[9]).as_deref(), Some("EINVAL"));
    assert_eq!(r.status, RunStatus::Completed);
}
