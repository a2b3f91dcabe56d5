//! Helpers of the pull tests: a real Distribution registry (`docker-registry`) on a free port of
//! 127.0.0.1, small images built with umoci and pushed with skopeo, and a fake registry (axum)
//! for what a real one will not do on demand: stall, lie about a digest, redirect elsewhere.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// Run a program; its stdout, or a panic with its stderr.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (Debian: skopeo, umoci, docker-registry)"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A real `docker-registry` (Distribution 2.8) on 127.0.0.1, killed when dropped.
pub struct Registry {
    pub addr: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Anonymous when `user` is `None`; otherwise htpasswd (Basic) with that user and password.
    pub fn start(user: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let auth = match user {
            Some((name, password)) => {
                let hash = bcrypt::hash_with_result(password, 4)
                    .unwrap()
                    .format_for_version(bcrypt::Version::TwoY);
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, format!("{name}:{hash}\n")).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                    file.display()
                )
            }
            None => String::new(),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  \
             filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
            dir.path().join("storage").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (Debian package docker-registry)");
        let registry = Registry {
            addr: format!("127.0.0.1:{port}"),
            child,
            _dir: dir,
        };
        wait_for_api(&registry.addr);
        registry
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Until `GET /v2/` answers (200, or 401 with auth on).
fn wait_for_api(addr: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if let Ok(mut s) = TcpStream::connect(addr) {
            let request = format!("GET /v2/ HTTP/1.0\r\nHost: {addr}\r\n\r\n");
            let mut answer = String::new();
            let sent = s.write_all(request.as_bytes()).is_ok();
            if sent && s.read_to_string(&mut answer).is_ok() && answering(&answer) {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the registry on {addr} did not answer");
}

fn answering(answer: &str) -> bool {
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.0 401")
}

/// An OCI layout with small images built by umoci: `base` (two layers: busybox and
/// /etc/gone, then a layer that deletes /etc/gone (a whiteout) and adds /etc/hello),
/// `arm` (the same image configured as linux/arm64), and `multi`, an index of both.
pub fn build_images(dir: &Path) -> PathBuf {
    let layout = dir.join("layout");
    let bundle = dir.join("bundle");
    let (l, b) = (layout.to_str().unwrap(), bundle.to_str().unwrap());
    run("umoci", &["init", "--layout", l]);
    run("umoci", &["new", "--image", &format!("{l}:base")]);
    run("umoci", &["unpack", "--image", &format!("{l}:base"), b]);
    let rootfs = bundle.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("busybox-static");
    std::fs::write(rootfs.join("etc/gone"), "bye\n").unwrap();
    let image = format!("{l}:base");
    run(
        "umoci",
        &["repack", "--refresh-bundle", "--image", &image, b],
    );
    std::fs::remove_file(rootfs.join("etc/gone")).unwrap();
    std::fs::write(rootfs.join("etc/hello"), "hi\n").unwrap();
    run("umoci", &["repack", "--image", &image, b]);
    run(
        "umoci",
        &["config", "--image", &image, "--config.cmd", "/bin/sh"],
    );
    run(
        "umoci",
        &[
            "config",
            "--image",
            &image,
            "--tag",
            "arm",
            "--architecture",
            "arm64",
        ],
    );
    add_index(&layout, "multi", &[("base", "amd64"), ("arm", "arm64")]);
    layout
}

/// Add an OCI index over tagged manifests of `layout`, tagged `tag`.
fn add_index(layout: &Path, tag: &str, entries: &[(&str, &str)]) {
    let index_path = layout.join("index.json");
    let mut top: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let by_tag = |t: &str| {
        top["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == t)
            .unwrap_or_else(|| panic!("no {t} in the layout"))
            .clone()
    };
    let manifests: Vec<serde_json::Value> = entries
        .iter()
        .map(|(t, arch)| {
            let m = by_tag(t);
            serde_json::json!({
                "mediaType": OCI_MANIFEST, "digest": m["digest"], "size": m["size"],
                "platform": {"os": "linux", "architecture": arch}
            })
        })
        .collect();
    let index =
        serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
    let bytes = index.to_string().into_bytes();
    let digest = sha256(&bytes);
    std::fs::write(layout.join("blobs/sha256").join(&digest[7..]), &bytes).unwrap();
    top["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": OCI_INDEX, "digest": digest, "size": bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag}
        }));
    std::fs::write(&index_path, top.to_string()).unwrap();
}

/// `skopeo copy oci:<layout>:<tag> docker://<registry>/<name>` with extra flags.
pub fn push(layout: &Path, tag: &str, registry: &str, name: &str, extra: &[&str]) {
    let src = format!("oci:{}:{tag}", layout.display());
    let dst = format!("docker://{registry}/{name}");
    let mut args = vec!["copy", "--quiet", "--dest-tls-verify=false"];
    args.extend_from_slice(extra);
    args.extend([src.as_str(), dst.as_str()]);
    run("skopeo", &args);
}

/// `skopeo inspect` of an image (`docker://...`, `oci:...`), as JSON.
pub fn inspect(image: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["inspect", "--tls-verify=false"];
    if image.starts_with("oci:") {
        args.pop();
    }
    args.extend_from_slice(extra);
    args.push(image);
    serde_json::from_str(&run("skopeo", &args)).unwrap()
}

pub fn layers_of(inspected: &serde_json::Value) -> Vec<String> {
    inspected["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

/// What the fake registry answers on one path.
#[derive(Clone)]
pub enum Reply {
    /// 200 with this content type and body.
    Ok(&'static str, Vec<u8>),
    /// 200, the body sent in pieces without a Content-Length.
    Chunked(Vec<u8>),
    /// 307 to this location.
    Redirect(String),
    /// 200 with headers and one byte, then nothing, ever.
    Stall,
}

/// A fake registry: fixed replies per path, optionally behind a Bearer token flow.
#[derive(Default)]
pub struct Fake {
    pub replies: HashMap<String, Reply>,
    /// When set, `/v2/...` wants `Bearer <token>`, which `/token` gives for these Basic
    /// credentials (`user:password`).
    pub bearer: Option<(String, String)>,
    /// Requests seen: `path?query authorization`.
    pub seen: Mutex<Vec<String>>,
}

const TOKEN: &str = "t0k3n";

/// Serve `fake` on `addr` (`127.0.0.1:0` for any port); its address.
pub async fn serve(fake: Fake, addr: &str) -> (SocketAddr, Arc<Fake>) {
    let fake = Arc::new(fake);
    let app = axum::Router::new()
        .fallback(answer)
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let local = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (local, fake)
}

async fn answer(State(fake): State<Arc<Fake>>, request: Request) -> Response {
    let auth = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    fake.seen
        .lock()
        .unwrap()
        .push(format!("{path}?{query} {auth}"));
    if let Some((user, password)) = &fake.bearer {
        let host = request
            .headers()
            .get(header::HOST)
            .unwrap()
            .to_str()
            .unwrap();
        if path == "/token" {
            let basic = format!(
                "Basic {}",
                base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    format!("{user}:{password}")
                )
            );
            return if auth == basic {
                axum::Json(serde_json::json!({ "token": TOKEN })).into_response()
            } else {
                (StatusCode::UNAUTHORIZED, "no").into_response()
            };
        }
        if auth != format!("Bearer {TOKEN}") {
            let challenge = format!(
                r#"Bearer realm="http://{host}/token",service="fake",scope="repository:img:pull""#
            );
            let mut response = (StatusCode::UNAUTHORIZED, "{}").into_response();
            let value = HeaderValue::from_str(&challenge).unwrap();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
            return response;
        }
    }
    match fake.replies.get(&path).cloned() {
        None => StatusCode::NOT_FOUND.into_response(),
        Some(Reply::Ok(content_type, body)) => {
            ([(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Some(Reply::Chunked(body)) => {
            let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
                body.chunks(100).map(|c| Ok(c.to_vec())).collect();
            Body::from_stream(futures_util::stream::iter(pieces)).into_response()
        }
        Some(Reply::Redirect(to)) => {
            (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, to)]).into_response()
        }
        Some(Reply::Stall) => {
            use futures_util::StreamExt;
            let first = futures_util::stream::once(async { Ok::<_, std::io::Error>(vec![b'x']) });
            let body = Body::from_stream(first.chain(futures_util::stream::pending()));
            ([(header::CONTENT_LENGTH, "1000")], body).into_response()
        }
    }
}

/// A one-layer image for the fake: its manifest, config and layer, and their digests.
pub struct FakeImage {
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
    pub layer: Vec<u8>,
}

impl FakeImage {
    pub fn new() -> FakeImage {
        let layer = b"not really a tar, but the pull does not look inside".repeat(40);
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha256(b"the tar")]}
        })
        .to_string()
        .into_bytes();
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": sha256(&config), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": sha256(&layer), "size": layer.len()}]
        })
        .to_string()
        .into_bytes();
        FakeImage {
            manifest,
            config,
            layer,
        }
    }

    /// Replies serving this image as `img:1`.
    pub fn replies(&self) -> HashMap<String, Reply> {
        HashMap::from([
            (
                "/v2/img/manifests/1".to_string(),
                Reply::Ok(OCI_MANIFEST, self.manifest.clone()),
            ),
            (
                self.blob_path(&self.config),
                Reply::Ok("application/octet-stream", self.config.clone()),
            ),
            (
                self.blob_path(&self.layer),
                Reply::Ok("application/octet-stream", self.layer.clone()),
            ),
        ])
    }

    pub fn blob_path(&self, blob: &[u8]) -> String {
        format!("/v2/img/blobs/{}", sha256(blob))
    }
}

/// A listener that is never served: whether anything connected to it.
pub struct Silent {
    listener: TcpListener,
    pub addr: SocketAddr,
}

impl Silent {
    pub fn bind(ip: &str) -> Silent {
        let listener = TcpListener::bind(format!("{ip}:0")).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        Silent { listener, addr }
    }

    /// A connection waiting in the backlog means someone connected.
    pub fn was_contacted(&self) -> bool {
        self.listener.accept().is_ok()
    }
}

/// Entries of a directory (to show that a failed pull left nothing beside its destination).
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
