//! `rootlab::pull` against a real registry (Distribution 2.8, `docker-registry`) as the oracle,
//! with skopeo and umoci judging the layouts it writes; and against a fake registry (axum) for
//! what a real one will not do on demand: a Bearer token flow, stalls, a blob that does not
//! match its digest, redirects to other hosts, oversized and schema 1 manifests.

mod pull_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use pull_support::*;
use rootlab::pull::{
    pull_to_layout, BlobKind, Credentials, Progress, PullError, PullLimits, PullOptions, Pulled,
};

fn insecure(registry: &str) -> PullOptions {
    PullOptions {
        insecure_registries: vec![registry.to_string()],
        ..PullOptions::default()
    }
}

async fn pull(reference: &str, dest: &Path, opts: &PullOptions) -> Result<Pulled, PullError> {
    pull_to_layout(reference, dest, opts, &mut |_| {}).await
}

/// The layout's image as skopeo and umoci see it: its layers equal the registry's, umoci
/// unpacks it, and the second layer's whiteout removed /etc/gone.
fn assert_layout_matches(dest: &Path, tag: &str, registry_image: &str, extra: &[&str]) {
    let ours = inspect(&format!("oci:{}:{tag}", dest.display()), &[]);
    let theirs = inspect(&format!("docker://{registry_image}"), extra);
    assert_eq!(layers_of(&ours), layers_of(&theirs), "{registry_image}");
    assert_eq!(ours["Architecture"], theirs["Architecture"]);
    let bundle = dest.with_extension("bundle");
    let image = format!("{}:{tag}", dest.display());
    run(
        "umoci",
        &["unpack", "--image", &image, bundle.to_str().unwrap()],
    );
    let rootfs = bundle.join("rootfs");
    assert!(rootfs.join("bin/busybox").is_file());
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/hello")).unwrap(),
        "hi\n"
    );
    assert!(!rootfs.join("etc/gone").exists(), "the whiteout applied");
}

#[tokio::test]
async fn oci_and_docker_images_from_a_real_registry() {
    let dir = tempfile::tempdir().unwrap();
    let layout = build_images(dir.path());
    let registry = Registry::start(None);
    let r = &registry.addr;
    push(&layout, "base", r, "busybox:1", &[]);
    push(&layout, "base", r, "docker:1", &["--format", "v2s2"]);
    let opts = insecure(r);

    let dest = dir.path().join("oci");
    let mut events = Vec::new();
    let pulled = pull_to_layout(&format!("{r}/busybox:1"), &dest, &opts, &mut |p| {
        events.push(p)
    })
    .await
    .unwrap();
    assert_layout_matches(&dest, "1", &format!("{r}/busybox:1"), &[]);
    let served = inspect(&format!("docker://{r}/busybox:1"), &[]);
    assert_eq!(pulled.manifest_digest, served["Digest"].as_str().unwrap());
    assert_eq!(
        pulled.registry_digest, pulled.manifest_digest,
        "OCI kept as is"
    );
    assert_eq!(
        (pulled.layers, pulled.platform.to_string()),
        (2, "linux/amd64".into())
    );
    assert_eq!(pulled.index_digest, None);
    assert!(matches!(&events[0], Progress::Resolved { layers: 2, .. }));
    let done: Vec<(BlobKind, u64)> = events
        .iter()
        .filter_map(|e| match e {
            Progress::BlobDone { kind, size, .. } => Some((*kind, *size)),
            _ => None,
        })
        .collect();
    let kinds: Vec<BlobKind> = done.iter().map(|d| d.0).collect();
    assert_eq!(
        kinds,
        [BlobKind::Config, BlobKind::Layer(0), BlobKind::Layer(1)]
    );
    assert_eq!(done.iter().map(|d| d.1).sum::<u64>(), pulled.total_bytes);

    // Pinned by digest: the same image; by a digest the registry does not have: its 404.
    let by_digest = dir.path().join("by-digest");
    let pinned = format!("{r}/busybox@{}", pulled.manifest_digest);
    let again = pull(&pinned, &by_digest, &opts).await.unwrap();
    assert_eq!(again.manifest_digest, pulled.manifest_digest);
    let missing = format!("{r}/busybox@sha256:{}", "0".repeat(64));
    let err = pull(&missing, &dir.path().join("missing"), &opts)
        .await
        .unwrap_err();
    assert!(
        matches!(err, PullError::Status { status: 404, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("MANIFEST_UNKNOWN"), "{err}");

    // Docker schema 2: written as OCI (what skopeo and umoci read), the same blobs.
    let docker = dir.path().join("docker");
    let pulled = pull(&format!("{r}/docker:1"), &docker, &opts)
        .await
        .unwrap();
    assert_layout_matches(&docker, "1", &format!("{r}/docker:1"), &[]);
    let served = inspect(&format!("docker://{r}/docker:1"), &[]);
    assert_eq!(pulled.registry_digest, served["Digest"].as_str().unwrap());
    assert_ne!(pulled.manifest_digest, pulled.registry_digest);
    let raw = inspect(&format!("oci:{}:1", docker.display()), &["--raw"]);
    assert_eq!(raw["mediaType"], OCI_MANIFEST);
}

#[tokio::test]
async fn a_multi_platform_index_resolves_to_the_platform_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let layout = build_images(dir.path());
    let registry = Registry::start(None);
    let r = &registry.addr;
    push(&layout, "multi", r, "multi:1", &["--all"]);
    let image = format!("{r}/multi:1");
    for (platform, arch) in [("linux/amd64", "amd64"), ("linux/arm64", "arm64")] {
        let opts = PullOptions {
            platform: platform.parse().unwrap(),
            ..insecure(r)
        };
        let dest = dir.path().join(arch);
        let pulled = pull(&image, &dest, &opts).await.unwrap();
        assert_eq!(pulled.platform.to_string(), platform);
        assert!(pulled.index_digest.is_some());
        let ours = inspect(&format!("oci:{}:1", dest.display()), &[]);
        assert_eq!(ours["Architecture"], arch);
        assert_eq!(
            ours["Digest"], pulled.manifest_digest,
            "the layout names the chosen manifest"
        );
        assert_layout_matches(&dest, "1", &image, &["--override-arch", arch]);
    }
    let opts = PullOptions {
        platform: "linux/s390x".parse().unwrap(),
        ..insecure(r)
    };
    let dest = dir.path().join("s390x");
    let err = pull(&image, &dest, &opts).await.unwrap_err();
    assert!(matches!(err, PullError::NoPlatform { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("no image for linux/s390x (available: linux/amd64, linux/arm64)"),
        "{err}"
    );
    assert!(!dest.exists());
}

#[tokio::test]
async fn basic_auth_against_htpasswd() {
    let dir = tempfile::tempdir().unwrap();
    let layout = build_images(dir.path());
    let registry = Registry::start(Some(("alice", "s3cret")));
    let r = &registry.addr;
    let creds = "--dest-creds=alice:s3cret".to_string();
    push(&layout, "base", r, "private:1", &[&creds]);
    let image = format!("{r}/private:1");

    let with = |password: &str| PullOptions {
        credentials: Some(Credentials::new("alice", password)),
        ..insecure(r)
    };
    let dest = dir.path().join("ok");
    pull(&image, &dest, &with("s3cret")).await.unwrap();
    assert_layout_matches(&dest, "1", &image, &[&creds.replace("dest-", "")]);

    let wrong = dir.path().join("wrong");
    let err = pull(&image, &wrong, &with("guess")).await.unwrap_err();
    assert!(matches!(err, PullError::Unauthorized { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("401 Unauthorized: the credentials were refused"),
        "{err}"
    );
    let anonymous = pull(&image, &wrong, &insecure(r)).await.unwrap_err();
    assert!(
        anonymous.to_string().contains("authentication required"),
        "{anonymous}"
    );
    assert!(!wrong.exists());
}

#[tokio::test]
async fn the_cli_pulls_with_a_password_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let layout = build_images(dir.path());
    let registry = Registry::start(Some(("alice", "s3cret")));
    let r = &registry.addr;
    push(&layout, "base", r, "cli:1", &["--dest-creds=alice:s3cret"]);
    let dest = dir.path().join("cli");
    let rootlab = |args: &[&str], stdin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rootlab"))
            .args(args)
            .env("HOME", dir.path())
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let image = format!("{r}/cli:1");
    let to = dest.to_str().unwrap();
    let args = [
        "pull",
        &image,
        "--to",
        to,
        "--insecure",
        "--user",
        "alice",
        "--password-stdin",
    ];
    let out = rootlab(&args, "s3cret\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(&format!("pulled {image} (sha256:")));
    assert!(
        stderr.contains("layer 2/2 sha256:"),
        "plain lines off a terminal: {stderr}"
    );
    assert!(dest.join("index.json").is_file());

    let out = rootlab(&["pull", "Not/A:ref!", "--to", to], "");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = dir.path().join("again");
    let out = rootlab(
        &[
            "pull",
            &image,
            "--to",
            again.to_str().unwrap(),
            "--insecure",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("authentication required"));
}

#[tokio::test]
async fn a_registry_outside_the_allow_list_is_never_contacted() {
    let dir = tempfile::tempdir().unwrap();
    let silent = Silent::bind("127.0.0.1");
    let opts = PullOptions {
        allowed_registries: vec!["registry.example:5000".into()],
        ..insecure(&silent.addr.to_string())
    };
    let dest = dir.path().join("x");
    let err = pull(&format!("{}/img:1", silent.addr), &dest, &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, PullError::RegistryNotAllowed { .. }), "{err}");
    assert!(err.is_invalid_input());
    assert!(!silent.was_contacted(), "no connection was made");
    assert!(entries(dir.path()).is_empty());
}

#[tokio::test]
async fn bearer_tokens_from_the_challenges_realm() {
    let dir = tempfile::tempdir().unwrap();
    let image = FakeImage::new();
    let fake = Fake {
        replies: image.replies(),
        bearer: Some(("bob".into(), "pw".into())),
        ..Fake::default()
    };
    let (addr, fake) = serve(fake, "127.0.0.1:0").await;
    let reference = format!("{addr}/img:1");
    let opts = PullOptions {
        credentials: Some(Credentials::new("bob", "pw")),
        ..insecure(&addr.to_string())
    };
    let pulled = pull(&reference, &dir.path().join("ok"), &opts)
        .await
        .unwrap();
    assert_eq!(pulled.manifest_digest, sha256(&image.manifest));
    inspect(&format!("oci:{}:1", dir.path().join("ok").display()), &[]);
    let seen = fake.seen.lock().unwrap().clone();
    let token_requests: Vec<&String> = seen.iter().filter(|s| s.starts_with("/token")).collect();
    assert_eq!(
        token_requests.len(),
        1,
        "one token for the whole pull: {seen:?}"
    );
    assert!(
        token_requests[0].starts_with("/token?service=fake&scope=repository%3Aimg%3Apull Basic "),
        "{seen:?}"
    );
    let blob_requests = seen.iter().filter(|s| s.contains("/blobs/"));
    assert!(blob_requests.clone().count() == 2);
    assert!(
        blob_requests
            .into_iter()
            .all(|s| s.ends_with("Bearer t0k3n")),
        "{seen:?}"
    );

    let wrong = PullOptions {
        credentials: Some(Credentials::new("bob", "nope")),
        ..opts.clone()
    };
    let err = pull(&reference, &dir.path().join("no"), &wrong)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("401 Unauthorized: the token service http://"),
        "{err}"
    );
    assert!(
        err.to_string().ends_with("/token refused the credentials"),
        "{err}"
    );
}

#[tokio::test]
async fn a_stalling_registry_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let image = FakeImage::new();
    let mut replies = image.replies();
    replies.insert(image.blob_path(&image.layer), Reply::Stall);
    let (addr, _) = serve(
        Fake {
            replies,
            ..Fake::default()
        },
        "127.0.0.1:0",
    )
    .await;
    let mut opts = insecure(&addr.to_string());
    opts.limits.stall_timeout = Duration::from_millis(500);
    let dest = dir.path().join("x");
    let err = pull(&format!("{addr}/img:1"), &dest, &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, PullError::Stalled { .. }), "{err}");
    assert!(
        err.to_string().contains("sent nothing for 0.5 s (stalled)"),
        "{err}"
    );
    assert!(
        entries(dir.path()).is_empty(),
        "no half layout: {:?}",
        entries(dir.path())
    );

    // Cancelled (the future dropped, as when a server's client goes away) mid-download: the
    // same.
    let started = std::sync::Arc::new(tokio::sync::Notify::new());
    let signal = started.clone();
    opts.limits.stall_timeout = Duration::from_secs(600);
    let reference = format!("{addr}/img:1");
    let mut progress = move |p: Progress| {
        if matches!(p, Progress::Blob { .. }) {
            signal.notify_one();
        }
    };
    tokio::select! {
        outcome = pull_to_layout(&reference, &dest, &opts, &mut progress) => {
            panic!("the stalled pull ended: {outcome:?}")
        }
        () = started.notified() => {}
    }
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[tokio::test]
async fn a_blob_that_does_not_match_its_digest_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let image = FakeImage::new();
    let mut replies = image.replies();
    let mut forged = image.layer.clone();
    forged[0] ^= 1;
    replies.insert(image.blob_path(&image.layer), Reply::Chunked(forged));
    let (addr, _) = serve(
        Fake {
            replies,
            ..Fake::default()
        },
        "127.0.0.1:0",
    )
    .await;
    let dest = dir.path().join("x");
    let err = pull(
        &format!("{addr}/img:1"),
        &dest,
        &insecure(&addr.to_string()),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, PullError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&sha256(&image.layer)), "{err}");
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

/// A fake registry serving `FakeImage` whose layer answers with a redirect to `location`.
async fn redirecting(image: &FakeImage, location: String) -> std::net::SocketAddr {
    let mut replies = image.replies();
    let layer = replies[&image.blob_path(&image.layer)].clone();
    replies.insert("/storage/layer".into(), layer);
    replies.insert(image.blob_path(&image.layer), Reply::Redirect(location));
    serve(
        Fake {
            replies,
            ..Fake::default()
        },
        "127.0.0.1:0",
    )
    .await
    .0
}

fn listed(registry: std::net::SocketAddr) -> PullOptions {
    PullOptions {
        allowed_registries: vec![registry.to_string()],
        ..insecure(&registry.to_string())
    }
}

#[tokio::test]
async fn redirects_go_only_where_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let image = FakeImage::new();

    // Within the registry (storage is commonly behind the same host): followed.
    let own = redirecting(&image, "/storage/layer".into()).await;
    pull(
        &format!("{own}/img:1"),
        &dir.path().join("ok"),
        &listed(own),
    )
    .await
    .unwrap();

    // To another host over https, with an allow-list in force: refused before connecting.
    let elsewhere = Silent::bind("127.0.0.2");
    let reg = redirecting(&image, format!("https://{}/layer", elsewhere.addr)).await;
    let err = pull(&format!("{reg}/img:1"), &dir.path().join("a"), &listed(reg))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PullError::UrlRefused {
                what: "redirect",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("not in the allowed registries"),
        "{err}"
    );
    assert!(
        !elsewhere.was_contacted(),
        "the other host saw no connection"
    );

    // Over plain http to another host, even with no allow-list: refused (only https leaves).
    let reg = redirecting(&image, format!("http://{}/layer", elsewhere.addr)).await;
    let err = pull(
        &format!("{reg}/img:1"),
        &dir.path().join("b"),
        &insecure(&reg.to_string()),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("plain http"), "{err}");
    assert!(!elsewhere.was_contacted());

    // A redirect loop ends.
    let reg = redirecting(&image, image.blob_path(&image.layer)).await;
    let err = pull(&format!("{reg}/img:1"), &dir.path().join("c"), &listed(reg))
        .await
        .unwrap_err();
    assert!(matches!(err, PullError::TooManyRedirects { .. }), "{err}");
    assert_eq!(entries(dir.path()), ["ok"], "the failed pulls left nothing");
}

#[tokio::test]
async fn oversized_and_schema1_manifests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let image = FakeImage::new();
    let mut replies = image.replies();
    let big = format!(r#"{{"schemaVersion":2,"pad":"{}"}}"#, "x".repeat(10_000)).into_bytes();
    replies.insert(
        "/v2/img/manifests/big".into(),
        Reply::Ok(OCI_MANIFEST, big.clone()),
    );
    replies.insert("/v2/img/manifests/streamed".into(), Reply::Chunked(big));
    let v1 = br#"{"schemaVersion":1,"name":"img","tag":"old","fsLayers":[],"signatures":[]}"#;
    let prettyjws = "application/vnd.docker.distribution.manifest.v1+prettyjws";
    replies.insert(
        "/v2/img/manifests/old".into(),
        Reply::Ok(prettyjws, v1.to_vec()),
    );
    let (addr, _) = serve(
        Fake {
            replies,
            ..Fake::default()
        },
        "127.0.0.1:0",
    )
    .await;
    let mut opts = insecure(&addr.to_string());
    opts.limits = PullLimits {
        max_manifest_bytes: 4096,
        ..PullLimits::default()
    };
    for tag in ["big", "streamed"] {
        let err = pull(&format!("{addr}/img:{tag}"), &dir.path().join(tag), &opts)
            .await
            .unwrap_err();
        assert!(
            matches!(err, PullError::TooBig { limit: 4096, .. }),
            "{tag}: {err}"
        );
        assert!(err.to_string().contains("max_manifest_bytes"), "{err}");
    }
    let err = pull(&format!("{addr}/img:old"), &dir.path().join("old"), &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, PullError::Schema1 { .. }), "{err}");
    assert!(
        err.to_string().contains("Docker schema 1 manifest"),
        "{err}"
    );

    opts.limits.max_blob_bytes = image.layer.len() as u64 - 1;
    let err = pull(&format!("{addr}/img:1"), &dir.path().join("blob"), &opts)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("(max_blob_bytes)"), "{err}");
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}
