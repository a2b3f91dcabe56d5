//! The image endpoints through the router, on a real store: listing and inspecting, imports and
//! pulls only as the operator allows them, and runs naming an image the server lacks refused
//! with the field named.

mod server_support;
mod store_support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use server_support::{app_with_images, send};
use store_support::{one_layer, Entry};

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn post_json(uri: &str, body: Value) -> Request<Body> {
    Request::post(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("a JSON body")
}

/// An OCI layout tar of one small layer.
fn layout_tar(dir: &std::path::Path) -> Vec<u8> {
    let layout = one_layer(dir, &[Entry::file("etc/motd", b"hello\n")]);
    let mut tar = tar::Builder::new(Vec::new());
    tar.append_dir_all(".", &layout).unwrap();
    tar.into_inner().unwrap()
}

#[tokio::test]
async fn imports_only_when_allowed_then_list_and_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let off = app_with_images(dir.path(), &[], None).await;
    let upload = |app: &axum::Router, uri: &str, body: Vec<u8>| {
        let req = Request::post(uri)
            .header("content-type", "application/x-tar")
            .body(Body::from(body))
            .unwrap();
        let app = app.clone();
        async move { send(&app, req).await }
    };
    let tar = layout_tar(dir.path());
    let (status, _, body) = upload(&off, "/api/v1/images/import?name=motd:1", tar.clone()).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(json_of(&body)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--allow-import"));

    let on = app_with_images(dir.path(), &[], Some(1 << 20)).await;
    let (status, _, body) = upload(&on, "/api/v1/images/import?name=motd:1", tar).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(json_of(&body)["name"], "motd:1");
    let (status, _, body) = upload(&on, "/api/v1/images/import", b"not a tar".to_vec()).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (status, _, _) = upload(&on, "/api/v1/images/import", vec![0; 2 << 20]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let (status, _, body) = send(&on, get("/api/v1/images")).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<String> = json_of(&body)
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        names.contains(&"tools".to_string()) && names.contains(&"motd:1".to_string()),
        "{names:?}"
    );
    let (status, _, body) = send(&on, get("/api/v1/images/motd%3A1")).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json_of(&body)["layers"].as_array().map(Vec::len), Some(1));
    let (status, _, body) = send(&on, get("/api/v1/images/motd%3A1/layers")).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let view = json_of(&body);
    assert_eq!(view["layers"][0]["added"][0]["path"], "etc");
    assert!(view["merged"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["path"] == "etc/motd"));
    // A container's writable layer on top: it deleted etc/motd and added etc/app.conf.
    let upper = json!({ "upper": [
        { "path": "etc", "kind": "dir", "mode": 493 },
        { "path": "etc/motd", "kind": "whiteout" },
        { "path": "etc/app.conf", "kind": "file", "size": 9, "mode": 420 } ] });
    let (status, _, body) = send(&on, post_json("/api/v1/images/motd%3A1/layers", upper)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let view = json_of(&body);
    let top = &view["layers"][1];
    assert_eq!(top["upper"], true);
    assert_eq!(top["deleted"][0]["path"], "etc/motd");
    assert_eq!(top["added"][0]["path"], "etc/app.conf");
    // Entries must be a layer's: relative clean paths, permission bits, sizes within the schema.
    let bad = json!({ "upper": [ { "path": "../x", "kind": "file", "mode": 70000,
                                   "size": 9223372036854775808u64 } ] });
    let (status, _, body) = send(&on, post_json("/api/v1/images/motd%3A1/layers", bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<String> = json_of(&body)["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(fields, ["upper[0].path", "upper[0].mode", "upper[0].size"]);
    let (status, _, body) = send(
        &on,
        post_json("/api/v1/images/motd%3A1/layers", json!({ "upper": 1 })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json_of(&body)["error"]["fields"][0]["field"], "upper");
    let (status, _, body) = send(&on, get("/api/v1/images/nope%3A1")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(json_of(&body)["error"]["fields"][0]["field"], "name");
    let (status, _, body) = send(&on, get("/api/v1/images/Not%20A%20Name")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json_of(&body)["error"]["fields"][0]["field"], "name");
}

#[tokio::test]
async fn pulls_only_from_registries_the_operator_lists() {
    let dir = tempfile::tempdir().unwrap();
    let off = app_with_images(dir.path(), &[], None).await;
    let req = json!({ "reference": "127.0.0.1:9/x:1" });
    let (status, _, _) = send(&off, post_json("/api/v1/images/pull", req.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A listener that must never be contacted: the request chose it, the operator did not.
    let bait = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    bait.set_nonblocking(true).unwrap();
    let on = app_with_images(dir.path(), &["registry.example:5000"], None).await;
    let req = json!({ "reference": format!("{}/x:1", bait.local_addr().unwrap()) });
    let (status, _, body) = send(&on, post_json("/api/v1/images/pull", req)).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(json_of(&body)["error"]["fields"][0]["field"], "reference");
    assert!(
        bait.accept().is_err(),
        "the server connected where the request said"
    );
    let (status, _, _) = send(&on, post_json("/api/v1/images/pull", json!({ "ref": "x" }))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_run_naming_an_image_the_server_lacks_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_images(dir.path(), &[], None).await;
    let spec = json!({
        "host": { "image": "nowhere:1" },
        "steps": [ { "op": "container", "name": "c", "image": "busybox" },
                   { "op": "container", "name": "d", "image": "missing/too:2" } ]
    });
    let (status, _, body) = send(&app, post_json("/api/v1/run", spec)).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let answer = json_of(&body);
    let fields: Vec<&str> = answer["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["host.image", "steps[1].image"]);
}
