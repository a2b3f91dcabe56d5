//! Every op against the real kernel, checked through what the kernel reports afterwards.

mod engine_support;

use engine_support::{assert_ok, errno, mount_at, names, snapshot_view, stdout, tree, Worker};
use rootlab_shared::events::RunEvent;
use rootlab_shared::result::{FileKind, RunStatus, StepOutcome};
use rootlab_shared::Limits;
use serde_json::{json, Value};

#[test]
fn events_stream_in_order_and_end_with_the_result() {
    let mut w = Worker::start();
    let spec = json!({ "steps": [ { "op": "mkdir", "path": "/a" },
                                  { "op": "snapshot", "label": "s", "paths": ["/a"] } ] });
    let out = w.run_clean(spec, Limits::default());
    let kinds: Vec<String> = out
        .events
        .iter()
        .map(|e| match e {
            RunEvent::Started { steps } => format!("started {steps}"),
            RunEvent::StepStarted { index, .. } => format!("begin {index}"),
            RunEvent::StepFinished { result } => format!("end {}", result.index),
            RunEvent::Finished { .. } => "finished".into(),
            RunEvent::Queued { .. } => "queued".into(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "started 2",
            "begin 0",
            "end 0",
            "begin 1",
            "end 1",
            "finished"
        ]
    );
    let r = out.result();
    assert_eq!(r.status, RunStatus::Completed);
    assert_eq!(r.steps[1].snapshot, Some(0));
    assert_eq!(r.steps[1].actor, "engine");
    assert!(r.duration_us > 0);
}

#[test]
fn bind_mounts_and_readonly_remounts() {
    let mut w = Worker::start();
    let spec = json!({
        "layers": [ { "name": "src", "entries": [ { "type": "file", "path": "f", "content": "hello" } ] } ],
        "steps": [
            { "op": "mkdir", "path": "/mnt/b" },
            { "op": "bind", "source": "/layers/src", "target": "/mnt/b", "readonly": true },
            { "op": "write", "path": "/mnt/b/g", "content": "no" },
            { "op": "remount_readonly", "target": "/tmp" },
            { "op": "mkdir", "path": "/mnt/p" },
            { "op": "bind", "source": "/layers/src", "target": "/mnt/p", "recursive": false },
            { "op": "write", "path": "/mnt/p/g", "content": "yes" },
            { "op": "snapshot", "label": "s", "views": ["host"], "paths": ["/mnt"] } ] });
    let r = w.run(spec);
    assert_ok(&r.steps[1]);
    assert!(r.steps[1].syscalls[0].contains("MS_BIND|MS_REC"));
    assert!(r.steps[1].syscalls[1].contains("MS_REMOUNT|MS_BIND"));
    assert_eq!(errno(&r.steps[2]).as_deref(), Some("EROFS"));
    // /tmp is a plain directory of the lab root, not a mount point.
    assert_eq!(errno(&r.steps[3]).as_deref(), Some("EINVAL"));
    assert_ok(&r.steps[6]);
    let host = snapshot_view(&r, "s", "host");
    let b = mount_at(host, "/mnt/b").unwrap();
    assert!(b.options.starts_with("ro"), "{}", b.options);
    assert_eq!(b.fstype, "tmpfs");
    assert_eq!(b.root, "/src");
    let t = tree(host, "/mnt");
    let f = t.entries.iter().find(|e| e.path == "/mnt/b/f").unwrap();
    assert_eq!(
        (f.preview.as_deref(), f.owner.as_str(), f.uid),
        (Some("hello"), "root", 0)
    );
    assert!(t.entries.iter().any(|e| e.path == "/mnt/p/g"));
    assert!(
        t.entries
            .iter()
            .find(|e| e.path == "/mnt/b")
            .unwrap()
            .mount_point
    );
}

#[test]
fn proc_in_a_pid_namespace_shows_only_the_container() {
    let mut w = Worker::start();
    let spec = json!({ "steps": [
        { "op": "container", "name": "c1", "namespaces": ["pid", "uts", "ipc", "net"] },
        { "op": "proc", "in": "c1" },
        { "op": "run", "in": "c1", "argv": ["sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'; hostname"] },
        { "op": "run", "argv": ["hostname"] },
        { "op": "run", "in": "c1", "argv": ["cat", "/proc/net/dev"] } ] });
    let r = w.run(spec);
    r.steps.iter().for_each(assert_ok);
    let lines: Vec<String> = stdout(&r.steps[2]).lines().map(String::from).collect();
    // pid 1 is the container's actor; the shell and ls are its only other processes.
    let pids: u32 = lines[1].parse().unwrap();
    assert!(pids <= 4, "{pids} processes visible");
    assert_eq!(lines[2], "c1");
    assert_eq!(stdout(&r.steps[3]).trim(), "lab-host");
    let net = stdout(&r.steps[4]);
    assert!(net.contains("lo:") && !net.contains("eth"), "{net}");
}

#[test]
fn umount_busy_and_lazy() {
    let mut w = Worker::start();
    let spec = json!({ "steps": [
        { "op": "mkdir", "path": "/m" },
        { "op": "tmpfs", "target": "/m" },
        { "op": "mkdir", "path": "/m/sub" },
        { "op": "tmpfs", "target": "/m/sub" },
        { "op": "run", "argv": ["true"] },
        { "op": "umount", "target": "/m" },
        { "op": "umount", "target": "/m", "detach": true },
        { "op": "umount", "target": "/nothing" },
        { "op": "snapshot", "label": "s", "views": ["host"], "paths": ["/m"], "depth": 1 } ] });
    let r = w.run(spec);
    assert_ok(&r.steps[4]);
    assert_eq!(errno(&r.steps[5]).as_deref(), Some("EBUSY"));
    let StepOutcome::Error(e) = &r.steps[5].outcome else {
        unreachable!()
    };
    assert!(e.explanation.contains("in use"));
    assert_ok(&r.steps[6]);
    assert!(r.steps[6].syscalls[0].contains("MNT_DETACH"));
    assert_eq!(errno(&r.steps[7]).as_deref(), Some("ENOENT"));
    assert!(mount_at(snapshot_view(&r, "s", "host"), "/m").is_none());
}

#[test]
fn unbindable_mounts_cannot_be_bound() {
    let mut w = Worker::start();
    let spec = json!({ "steps": [
        { "op": "mkdir", "path": "/u" },
        { "op": "mkdir", "path": "/v" },
        { "op": "tmpfs", "target": "/u" },
        { "op": "make_propagation", "target": "/u", "propagation": "unbindable", "recursive": false },
        { "op": "bind", "source": "/u", "target": "/v" },
        { "op": "snapshot", "label": "s", "views": ["host"], "paths": ["/u"] } ] });
    let r = w.run(spec);
    assert_ok(&r.steps[3]);
    assert_eq!(errno(&r.steps[4]).as_deref(), Some("EINVAL"));
    let u = mount_at(snapshot_view(&r, "s", "host"), "/u").unwrap();
    assert_eq!(u.propagation, "private,unbindable");
    assert_eq!(r.steps[3].command, "mount --make-unbindable /u");
}

#[test]
fn write_delete_mkdir_and_tree_details() {
    let mut w = Worker::start();
    let spec = json!({
        "host": { "files": [ { "type": "symlink", "path": "/d/link", "target": "/etc" },
                             { "type": "symlink", "path": "/d/rel", "target": "../bin" } ] },
        "steps": [
            { "op": "mkdir", "path": "/d/deep/er", "mode": 448 },
            { "op": "write", "path": "/d/deep/file.txt", "content": "héllo world", "mode": 384 },
            { "op": "write", "path": "/d/bin.dat", "content": "a\u{0}b" },
            { "op": "mkdir", "path": "/d/gone/x" },
            { "op": "delete", "path": "/d/gone" },
            { "op": "delete", "path": "/d/never-was" },
            { "op": "write", "path": "/nodir/x", "content": "" },
            { "op": "snapshot", "label": "s", "views": ["host"], "paths": ["/d", "/d/link", "/missing"] },
            { "op": "snapshot", "label": "shallow", "views": ["host"], "paths": ["/d"], "depth": 1 } ] });
    let r = w.run(spec);
    for i in 0..6 {
        assert_ok(&r.steps[i]);
    }
    assert_eq!(errno(&r.steps[6]).as_deref(), Some("ENOENT"));
    let host = snapshot_view(&r, "s", "host");
    let t = tree(host, "/d");
    assert_eq!(names(t), vec!["bin.dat", "deep", "link", "rel"]);
    let by = |p: &str| t.entries.iter().find(|e| e.path == p).unwrap();
    assert_eq!(by("/d/deep/er").mode, 0o700);
    assert_eq!(by("/d/deep/file.txt").mode, 0o600);
    assert_eq!(
        by("/d/deep/file.txt").preview.as_deref(),
        Some("héllo world")
    );
    assert_eq!(by("/d/bin.dat").preview, None);
    let link = by("/d/link");
    assert_eq!(
        (link.kind, link.link_target.as_deref()),
        (FileKind::Symlink, Some("/etc"))
    );
    assert!(tree(host, "/d/link")
        .error
        .as_deref()
        .unwrap()
        .contains("symlink"));
    assert!(tree(host, "/missing")
        .error
        .as_deref()
        .unwrap()
        .contains("ENOENT"));
    let shallow = tree(snapshot_view(&r, "shallow", "host"), "/d");
    assert!(shallow.truncated);
    assert!(shallow
        .entries
        .iter()
        .all(|e| e.path.matches('/').count() == 2));
}

#[test]
fn tree_entries_are_capped() {
    let mut w = Worker::start();
    let spec = json!({ "steps": [ { "op": "snapshot", "label": "s", "views": ["host"], "paths": ["/bin"] } ] });
    let limits = Limits {
        max_tree_entries: 5,
        ..Limits::default()
    };
    let r = w.run_clean(spec, limits).result().clone();
    let t = tree(snapshot_view(&r, "s", "host"), "/bin");
    assert_eq!(t.entries.len(), 5);
    assert!(t.truncated);
}

#[test]
fn exited_containers_leave_the_views() {
    let mut w = Worker::start();
    let spec = json!({ "steps": [
        { "op": "container", "name": "c1" },
        { "op": "container", "name": "c2" },
        { "op": "exit", "in": "c1" },
        { "op": "snapshot", "label": "s", "paths": ["/"], "depth": 1 } ] });
    let r = w.run(spec);
    r.steps.iter().for_each(assert_ok);
    let views: Vec<&str> = r.snapshots[0]
        .views
        .iter()
        .map(|v| v.actor.as_str())
        .collect();
    assert_eq!(views, ["host", "c2"]);
    let root = tree(snapshot_view(&r, "s", "c2"), "/");
    for dir in ["bin", "dev", "etc", "layers", "proc", "tmp"] {
        assert!(names(root).contains(&dir.to_string()), "{dir} missing");
    }
    assert!(
        root.entries
            .iter()
            .find(|e| e.path == "/proc")
            .unwrap()
            .mount_point
    );
}

#[test]
fn run_reports_exit_status_and_missing_programs() {
    let mut w = Worker::start();
    let spec = json!({ "steps": [
        { "op": "run", "argv": ["sh", "-c", "echo out; echo err >&2; exit 3"] },
        { "op": "run", "argv": ["no-such-program"] },
        { "op": "run", "argv": ["id", "-u"] },
        { "op": "run", "argv": ["sh", "-c", "sleep 30 & echo started"] },
        { "op": "run", "argv": ["sh", "-c", "yes | head -c 4"] } ] });
    let r = w.run(spec);
    let o = r.steps[0].output.as_ref().unwrap();
    assert_eq!(
        (o.stdout.as_str(), o.stderr.as_str(), o.exit_code),
        ("out\n", "err\n", Some(3))
    );
    assert!(matches!(r.steps[0].outcome, StepOutcome::Error(_)));
    assert_eq!(errno(&r.steps[1]).as_deref(), Some("ENOENT"));
    assert_eq!(stdout(&r.steps[2]), "0\n");
    // A background child holding the pipes does not keep the step waiting.
    assert_ok(&r.steps[3]);
    assert_eq!(stdout(&r.steps[3]), "started\n");
    // Programs get the default SIGPIPE: `yes` dies quietly when head stops reading.
    let o = r.steps[4].output.as_ref().unwrap();
    assert_eq!((o.stdout.as_str(), o.stderr.as_str()), ("y\ny\n", ""));
    assert_eq!(r.status, RunStatus::Completed);
}

#[test]
fn the_lab_host_has_no_network() {
    let mut w = Worker::start();
    let spec = json!({ "steps": [
        { "op": "run", "argv": ["cat", "/proc/net/dev"] },
        { "op": "run", "argv": ["readlink", "/proc/self/ns/net"] } ] });
    let first = w.run(spec);
    let devices = stdout(&first.steps[0]);
    let names: Vec<&str> = devices
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(names, ["lo"], "{devices}");
    let ns = |r: &rootlab_shared::result::RunResult| stdout(&r.steps[1]);
    assert!(ns(&first).starts_with("net:["));
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(ns(&first).trim(), host_ns.to_string_lossy());
}

#[test]
fn a_read_only_overlay_of_one_layer_is_refused_with_the_kernels_reason() {
    let mut w = Worker::start();
    let r = w.run(json!({
        "layers": [ { "name": "A", "entries": [ { "type": "file", "path": "a", "content": "x" } ] } ],
        "steps": [ { "op": "mkdir", "path": "/C" },
                   { "op": "overlay", "target": "/C", "lowers": ["A"] } ] }));
    let StepOutcome::Error(e) = &r.steps[1].outcome else {
        panic!("{:?}", r.steps[1].outcome)
    };
    assert_eq!(e.errno.as_deref(), Some("EINVAL"));
    assert!(
        e.explanation.contains("at least 2 lowerdir"),
        "{}",
        e.explanation
    );
}

#[test]
fn a_mount_moves_unless_its_parent_is_shared() {
    let mut w = Worker::start();
    let spec = |root: &str| {
        json!({ "host": { "root_propagation": root },
                "steps": [ { "op": "mkdir", "path": "/a" }, { "op": "mkdir", "path": "/b" },
                           { "op": "tmpfs", "target": "/a" },
                           { "op": "move", "source": "/a", "target": "/b" },
                           { "op": "snapshot", "label": "s", "views": ["host"], "paths": ["/b"] } ] })
    };
    let r = w.run(spec("private"));
    assert_eq!(r.steps[3].command, "mount --move /a /b");
    assert_eq!(
        r.steps[3].syscalls,
        ["mount(\"/a\", \"/b\", NULL, MS_MOVE, NULL)"]
    );
    assert_ok(&r.steps[3]);
    let v = snapshot_view(&r, "s", "host");
    assert!(mount_at(v, "/b").is_some_and(|m| m.fstype == "tmpfs"));
    assert!(mount_at(v, "/a").is_none());
    let r = w.run(spec("shared"));
    assert_eq!(errno(&r.steps[3]).as_deref(), Some("EINVAL"));
    let v = snapshot_view(&r, "s", "host");
    assert!(mount_at(v, "/a").is_some() && mount_at(v, "/b").is_none());
}

#[test]
fn a_bind_can_set_its_propagation_in_the_same_step() {
    let mut w = Worker::start();
    let r = w.run(json!({
        "host": { "root_propagation": "shared" },
        "steps": [ { "op": "mkdir", "path": "/m" },
                   { "op": "bind", "source": "/layers", "target": "/m", "propagation": "slave" },
                   { "op": "snapshot", "label": "s", "views": ["host"], "paths": ["/m"] } ] }));
    assert_eq!(r.steps[1].command, "mount --rbind --make-rslave /layers /m");
    assert_ok(&r.steps[1]);
    let v = snapshot_view(&r, "s", "host");
    let m = mount_at(v, "/m").unwrap();
    // A slave of /layers's peer group: it receives, it does not send.
    assert_eq!(m.propagation, "private,slave");
    assert_eq!(m.master, mount_at(v, "/layers").unwrap().shared);
}

#[test]
fn overlay_features_an_unprivileged_overlay_may_and_may_not_use() {
    let mut w = Worker::start();
    let layers = json!([ { "name": "A", "entries": [ { "type": "file", "path": "a", "content": "x" } ] },
                         { "name": "U" } ]);
    let spec = |options: Value| {
        json!({ "layers": layers.clone(), "steps": [
        { "op": "mkdir", "path": "/C" },
        { "op": "overlay", "target": "/C", "lowers": ["A"], "upper": "U", "options": options },
        { "op": "snapshot", "label": "s", "views": ["host"], "paths": ["/C"] } ] })
    };
    let r = w.run(spec(json!(["volatile"])));
    assert_ok(&r.steps[1]);
    assert!(
        r.steps[1].command.ends_with(",userxattr,volatile /C"),
        "{}",
        r.steps[1].command
    );
    let m = mount_at(snapshot_view(&r, "s", "host"), "/C").unwrap();
    assert!(m.options.contains("volatile"), "{}", m.options);
    let r = w.run(spec(json!(["metacopy"])));
    let StepOutcome::Error(e) = &r.steps[1].outcome else {
        panic!("{:?}", r.steps[1].outcome)
    };
    assert_eq!(e.errno.as_deref(), Some("EINVAL"));
    assert!(e
        .explanation
        .contains("conflicting options: userxattr,metacopy=on"));
    // After a volatile mount, the kernel refuses the same upper until its mark is removed.
    let r = w.run(json!({ "layers": layers.clone(), "steps": [
        { "op": "mkdir", "path": "/C" },
        { "op": "overlay", "target": "/C", "lowers": ["A"], "upper": "U", "options": ["volatile"] },
        { "op": "umount", "target": "/C" },
        { "op": "overlay", "target": "/C", "lowers": ["A"], "upper": "U" } ] }));
    assert_ok(&r.steps[2]);
    let StepOutcome::Error(e) = &r.steps[3].outcome else {
        panic!("{:?}", r.steps[3].outcome)
    };
    assert_eq!(e.errno.as_deref(), Some("EINVAL"));
    assert!(
        e.explanation.contains("incompat feature 'volatile'"),
        "{}",
        e.explanation
    );
}

#[test]
fn a_container_with_its_own_user_namespace_sees_locked_slave_mounts() {
    let mut w = Worker::start();
    let r = w.run(json!({
        "host": { "root_propagation": "shared" },
        "steps": [
            { "op": "container", "name": "c1", "namespaces": ["user"] },
            { "op": "umount", "in": "c1", "target": "/proc" },
            { "op": "tmpfs", "in": "c1", "target": "/tmp" },
            { "op": "mkdir", "path": "/mnt/x" },
            { "op": "tmpfs", "target": "/mnt/x" },
            { "op": "mkdir", "in": "c1", "path": "/p" },
            { "op": "proc", "in": "c1", "target": "/p" },
            { "op": "run", "in": "c1", "argv": ["sh", "-c", "id -u; cat /p/1/comm; cat /p/self/uid_map"] },
            { "op": "snapshot", "label": "s", "views": ["host", "c1"], "paths": ["/tmp"], "depth": 1 } ] }));
    assert!(r.steps[0]
        .command
        .starts_with("unshare --user --map-root-user --mount"));
    // Inherited mounts are locked: a less privileged namespace may not reveal what they cover.
    assert_eq!(errno(&r.steps[1]).as_deref(), Some("EINVAL"));
    assert_ok(&r.steps[2]);
    // Root in it is the sandbox's root; its programs have a pid namespace of their own.
    let out = stdout(&r.steps[7]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["0", "rootlab-init"], "{out}");
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "1"]
    );
    let host = snapshot_view(&r, "s", "host");
    let c1 = snapshot_view(&r, "s", "c1");
    // Shared mounts became slaves: the host's new mount reaches c1, c1's never the host.
    let root = mount_at(c1, "/").unwrap();
    assert_eq!(root.propagation, "private,slave");
    assert_eq!(root.master, mount_at(host, "/").unwrap().shared);
    assert!(mount_at(c1, "/mnt/x").is_some());
    assert!(mount_at(host, "/tmp").is_none());
}
