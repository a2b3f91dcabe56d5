//! Declared entries are created beneath their layer (or on the lab root's own file system)
//! only: what validation cannot see (the image's symlinks, the mounts of the lab) is refused
//! when the entry is created, with the field named.

mod engine_support;

use engine_support::Worker;
use rootlab_shared::result::RunStatus;
use rootlab_shared::Limits;
use serde_json::json;

#[test]
fn a_host_file_cannot_reach_into_proc_or_dev() {
    let mut w = Worker::start();
    for path in ["/proc/sysrq-trigger", "/dev/null", "/proc/self/environ"] {
        let spec = json!({ "host": { "files": [ { "type": "file", "path": path, "content": "x" } ] },
                           "steps": [ { "op": "mkdir", "path": "/a" } ] });
        let r = w.run_clean(spec, Limits::default()).result().clone();
        assert_eq!(r.status, RunStatus::Failed, "{path}: {:?}", r.message);
        let msg = r.message.unwrap_or_default();
        assert!(msg.contains("host.files[0].path"), "{path}: {msg}");
    }
}

#[test]
fn layer_entries_and_host_files_are_created_as_declared() {
    let mut w = Worker::start();
    let spec = json!({
        "host": { "files": [ { "type": "file", "path": "/srv/app/conf", "content": "on", "mode": 384 } ] },
        "layers": [
            { "name": "A", "entries": [
                { "type": "dir", "path": "d", "opaque": true },
                { "type": "file", "path": "d/f", "content": "hi" },
                { "type": "symlink", "path": "s", "target": "/etc" },
                { "type": "whiteout", "path": "gone" } ] },
            { "name": "B", "entries": [
                { "type": "file", "path": "d/old", "content": "old" },
                { "type": "file", "path": "gone", "content": "x" } ] } ],
        "steps": [
            { "op": "mkdir", "path": "/C" },
            { "op": "overlay", "target": "/C", "lowers": ["A", "B"] },
            { "op": "run", "argv": ["sh", "-c",
                "stat -c '%a %n' /srv/app/conf; cat /layers/A/d/f; readlink /layers/A/s; stat -c %F /layers/A/gone; ls /C /C/d"] } ] });
    let r = w.run_clean(spec, Limits::default()).result().clone();
    let out = engine_support::stdout(&r.steps[2]);
    // The whiteout hides B's `gone`; the opaque `d` hides B's `d/old`.
    assert_eq!(
        out, "600 /srv/app/conf\nhi/etc\ncharacter special file\n/C:\nd\ns\n\n/C/d:\nf\n",
        "{:?}",
        r.steps
    );
}
