//! HTTP behaviour of the router (no socket, no worker): compressed answers when the client
//! accepts them (never the event stream), ETags and revalidation for the API's documents, and for
//! static files precompressed siblings, validators and a cache policy by name.

use std::io::Read;
use std::path::Path;

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use rootlab::server::HttpSettings;

mod server_support;

async fn app_serving(static_dir: &Path) -> Router {
    server_support::app_without_workers(HttpSettings {
        static_dir: static_dir.to_path_buf(),
        ..HttpSettings::default()
    })
    .await
}

async fn get(
    app: &Router,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = Request::get(uri);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    server_support::send(app, req.body(Body::empty()).unwrap()).await
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[tokio::test]
async fn answers_are_compressed_when_the_client_accepts_it() {
    let app = app_serving(Path::new("/nonexistent")).await;
    let (_, _, plain) = get(&app, "/api/v1/openapi.json", &[]).await;
    let (status, headers, gz) =
        get(&app, "/api/v1/openapi.json", &[("accept-encoding", "gzip")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    assert!(
        gz.len() * 4 < plain.len(),
        "{} -> {}",
        plain.len(),
        gz.len()
    );
    assert_eq!(gunzip(&gz), plain);
    let (_, headers, br) = get(&app, "/api/v1/presets", &[("accept-encoding", "br")]).await;
    assert_eq!(headers[header::CONTENT_ENCODING], "br");
    assert!(!br.is_empty());
    let (_, headers, _) = get(&app, "/metrics", &[("accept-encoding", "gzip")]).await;
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    let (_, headers, _) = get(&app, "/api/v1/openapi.json", &[]).await;
    assert!(headers.get(header::CONTENT_ENCODING).is_none());
}

#[tokio::test]
async fn api_documents_carry_an_etag_and_revalidate() {
    let app = app_serving(Path::new("/nonexistent")).await;
    for uri in [
        "/api/v1/presets",
        "/api/v1/presets/seed-tmpfs",
        "/api/v1/openapi.json",
        "/api/v1/docs",
    ] {
        let (status, headers, body) = get(&app, uri, &[]).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache", "{uri}");
        let tag = headers[header::ETAG].to_str().unwrap().to_string();
        assert!(tag.starts_with("W/\""), "{uri}: {tag}");
        let (status, headers, empty) = get(&app, uri, &[("if-none-match", &tag)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{uri}");
        assert!(empty.is_empty());
        assert_eq!(headers[header::ETAG], tag.as_str());
        // The same tag whether or not the answer is compressed.
        let (status, headers, _) = get(
            &app,
            uri,
            &[("if-none-match", &tag), ("accept-encoding", "gzip")],
        )
        .await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{uri}");
        assert_eq!(headers[header::ETAG], tag.as_str());
        let (status, _, again) = get(&app, uri, &[("if-none-match", "W/\"other\"")]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(again, body);
    }
    let (_, _, presets) = get(&app, "/api/v1/presets/seed-tmpfs", &[]).await;
    let (_, other, _) = get(&app, "/api/v1/presets/seed-chroot", &[]).await;
    let (_, first, _) = get(&app, "/api/v1/presets/seed-tmpfs", &[]).await;
    assert!(!presets.is_empty());
    assert_ne!(first[header::ETAG], other[header::ETAG]);
    let (status, headers, _) = get(&app, "/api/v1/presets/nope", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(headers.get(header::ETAG).is_none());
}

#[tokio::test]
async fn static_files_precompressed_validated_and_cached_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let page = "<!doctype html><p>playground</p>".repeat(20);
    std::fs::write(dir.path().join("index.html"), &page).unwrap();
    let asset = "app-1f2e3d4c5b6a7980.js";
    std::fs::write(dir.path().join(asset), "console.log('plain');".repeat(20)).unwrap();
    std::fs::write(dir.path().join(format!("{asset}.br")), b"precompressed").unwrap();
    let app = app_serving(dir.path()).await;

    let (status, headers, body) = get(&app, "/", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(String::from_utf8(body).unwrap(), page);
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    let tag = headers[header::ETAG].to_str().unwrap().to_string();
    let (status, headers, body) = get(&app, "/", &[("if-none-match", &tag)]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");

    let uri = format!("/{asset}");
    let (status, headers, body) = get(&app, &uri, &[("accept-encoding", "br")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_ENCODING], "br");
    assert_eq!(body, b"precompressed", "the .br sibling, as it is");
    assert_eq!(
        headers[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    let (_, headers, body) = get(&app, &uri, &[("accept-encoding", "gzip")]).await;
    assert_eq!(
        headers[header::CONTENT_ENCODING],
        "gzip",
        "compressed on the fly"
    );
    assert!(String::from_utf8(gunzip(&body))
        .unwrap()
        .starts_with("console.log"));
    let (_, headers, body) = get(&app, &uri, &[]).await;
    assert!(headers.get(header::CONTENT_ENCODING).is_none());
    assert!(String::from_utf8(body).unwrap().starts_with("console.log"));

    let (status, headers, _) = get(&app, "/missing.js", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(headers.get(header::CACHE_CONTROL).is_none());
}
