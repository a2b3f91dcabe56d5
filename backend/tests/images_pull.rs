//! `rootlab images pull` end to end: from a real registry (Distribution 2.8 on 127.0.0.1, the
//! image pushed by skopeo) into the store, then a run on it.

mod pull_support;

use std::path::Path;
use std::process::{Command, Output};

use pull_support::{build_images, push, Registry};

fn rootlab(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rootlab"))
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .env("HOME", state)
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .expect("running rootlab")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn pulled_images_land_in_the_store_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let layout = build_images(dir.path());
    let registry = Registry::start(None);
    let image = format!("{}/lesson/base:1", registry.addr);
    push(&layout, "base", &registry.addr, "lesson/base:1", &[]);
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();

    let out = rootlab(&state, &["images", "pull", &image, "--insecure"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(&format!("{image} sha256:")),
        "{}",
        text(&out)
    );
    let out = rootlab(&state, &["images", "inspect", &image, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let detail: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(detail["source"], "pull");
    assert_eq!(detail["layers"].as_array().map(Vec::len), Some(2));
    assert!(
        !state.join("incoming").read_dir().unwrap().any(|_| true),
        "the pull's own layout is gone once imported"
    );

    // The lab host on the pulled image: the whiteout of its second layer holds.
    let spec = dir.path().join("spec.json");
    let body = serde_json::json!({
        "host": { "image": image },
        "steps": [ { "op": "run", "argv": ["/bin/busybox", "sh", "-c", "cat /etc/hello; ls /etc"] } ]
    });
    std::fs::write(&spec, body.to_string()).unwrap();
    let out = rootlab(&state, &["run", spec.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["steps"][0]["output"]["stdout"], "hi\nhello\n");
}

#[test]
fn pulls_outside_the_allowed_registries_or_with_bad_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    let out = rootlab(
        state,
        &[
            "images",
            "pull",
            "127.0.0.1:9/x:1",
            "--allow-registry",
            "registry.example:5000",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("127.0.0.1:9"), "{}", text(&out));
    let out = rootlab(
        state,
        &["images", "pull", "127.0.0.1:9/x:1", "--name", "Bad Name"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--name Bad Name"), "{}", text(&out));
}
