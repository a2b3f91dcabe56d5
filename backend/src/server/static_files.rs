//! The browser playground at `/`: the built frontend from a directory (a `.br` or `.gz` sibling
//! is sent instead of a file when the client accepts it; validators and cache policy from
//! `caching`), or a page that says how to build it (never a blank page).

use std::path::{Path, PathBuf};

use axum::handler::HandlerWithoutStateExt;
use axum::http::StatusCode;
use axum::middleware::from_fn;
use axum::response::{Html, IntoResponse};
use axum::Router;
use tower_http::services::ServeDir;

use super::{caching, AppState};

/// Serve `dir`; when it holds no `index.html`, answer every page with how to build it.
pub fn router(dir: PathBuf) -> Router<AppState> {
    let missing = dir.clone();
    let not_found = move || {
        let dir = missing.clone();
        async move { not_found_page(&dir) }
    };
    let files = ServeDir::new(&dir)
        .append_index_html_on_directories(true)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(not_found.into_service());
    Router::new()
        .fallback_service(files)
        .layer(from_fn(caching::static_file))
}

fn not_found_page(dir: &Path) -> impl IntoResponse {
    if dir.join("index.html").is_file() {
        return (
            StatusCode::NOT_FOUND,
            Html("<!doctype html><title>Not found</title><h1>Not found</h1>".to_string()),
        );
    }
    let dir = html_escape(&dir.display().to_string());
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>rootlab: frontend not built</title></head>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:3em auto\">\
         <h1>rootlab is running, but the browser playground is not built</h1>\
         <p>No <code>index.html</code> in <code>{dir}</code>. Build it with \
         <code>cd frontend &amp;&amp; trunk build --release</code>, or point \
         <code>--static-dir</code> / <code>ROOTLAB_STATIC_DIR</code> at a built <code>dist/</code>.</p>\
         <p>The REST API works without it: see <a href=\"/api/v1/docs\">/api/v1/docs</a>, \
         <a href=\"/healthz\">/healthz</a>.</p></body></html>"
    );
    (StatusCode::SERVICE_UNAVAILABLE, Html(body))
}

pub fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
