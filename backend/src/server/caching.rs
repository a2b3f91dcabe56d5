//! Validators and cache policy. API documents that only change with the binary (presets,
//! openapi.json, the docs page) get an ETag from their content and `no-cache` (revalidate: a
//! 304 costs no body). Static files get an ETag from their size and mtime; content-hashed assets
//! (trunk's `name-<hash>.js`) are `immutable` for a year, everything else (index.html) `no-cache`.
//! ETags are weak: the compression layer may re-encode the body.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, ETAG, IF_NONE_MATCH, LAST_MODIFIED,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Revalidate on every use.
pub const NO_CACHE: &str = "no-cache";
/// For files whose name changes with their content.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The largest document hashed in memory (openapi.json is about 70 KB).
const MAX_HASHED: usize = 4 << 20;

/// Middleware for API documents: an ETag of the content, `no-cache`, and 304 when it matches.
pub async fn api_document(req: Request, next: Next) -> Response {
    let wanted = req.headers().get(IF_NONE_MATCH).cloned();
    let response = next.run(req).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_HASHED).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let tag = weak_tag(&[&bytes]);
    if matches(wanted.as_ref(), &tag) {
        return not_modified(tag, NO_CACHE);
    }
    parts.headers.insert(ETAG, tag);
    parts
        .headers
        .insert(CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
    Response::from_parts(parts, Body::from(bytes))
}

/// Middleware for static files: an ETag of size, mtime and encoding; the cache policy by name.
pub async fn static_file(req: Request, next: Next) -> Response {
    let wanted = req.headers().get(IF_NONE_MATCH).cloned();
    let policy = policy_for(req.uri().path());
    let mut response = next.run(req).await;
    let status = response.status();
    if status != StatusCode::OK && status != StatusCode::NOT_MODIFIED {
        return response;
    }
    if let Some(tag) = file_tag(response.headers()) {
        if status == StatusCode::OK && matches(wanted.as_ref(), &tag) {
            return not_modified(tag, policy);
        }
        response.headers_mut().insert(ETAG, tag);
    }
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static(policy));
    response
}

/// `immutable` for content-hashed names, else `no-cache`.
pub fn policy_for(path: &str) -> &'static str {
    if is_content_hashed(path) {
        IMMUTABLE
    } else {
        NO_CACHE
    }
}

/// Whether a path component holds trunk's content hash: 10 to 16 lowercase hex digits between
/// `-`, `_`, `.` or `/` (`app-1f2e3d4c5b6a7980_bg.wasm`, `styles-9a8b7c6d5e4f3a2b.css`).
fn is_content_hashed(path: &str) -> bool {
    path.split(['/', '-', '_', '.']).any(|part| {
        (10..=16).contains(&part.len())
            && part
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn file_tag(headers: &HeaderMap) -> Option<HeaderValue> {
    let modified = headers.get(LAST_MODIFIED)?;
    let length = headers.get(CONTENT_LENGTH)?;
    let encoding = headers
        .get(CONTENT_ENCODING)
        .map_or(&[][..], |v| v.as_bytes());
    Some(weak_tag(&[
        modified.as_bytes(),
        length.as_bytes(),
        encoding,
    ]))
}

fn not_modified(tag: HeaderValue, policy: &'static str) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    response.headers_mut().insert(ETAG, tag);
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static(policy));
    response
}

/// `W/"<16 hex digits>"`: FNV-1a of the parts (stable across builds and replicas).
fn weak_tag(parts: &[&[u8]]) -> HeaderValue {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.iter().chain(b"\0") {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    HeaderValue::from_str(&format!("W/\"{hash:016x}\"")).expect("hex is a valid header")
}

/// `If-None-Match` against our tag, by weak comparison (RFC 9110 13.1.2).
fn matches(wanted: Option<&HeaderValue>, tag: &HeaderValue) -> bool {
    let Some(wanted) = wanted.and_then(|w| w.to_str().ok()) else {
        return false;
    };
    let ours = strip_weak(tag.to_str().unwrap_or_default());
    wanted
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || strip_weak(candidate) == ours)
}

fn strip_weak(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_assets_are_immutable_pages_are_not() {
        assert_eq!(
            policy_for("/rootlab-frontend-1f2e3d4c5b6a7980_bg.wasm"),
            IMMUTABLE
        );
        assert_eq!(policy_for("/styles-9a8b7c6d5e4f3a2.css"), IMMUTABLE);
        assert_eq!(
            policy_for("/snippets/app-0123456789abcdef/inline0.js"),
            IMMUTABLE
        );
        assert_eq!(policy_for("/"), NO_CACHE);
        assert_eq!(policy_for("/index.html"), NO_CACHE);
        assert_eq!(policy_for("/favicon.ico"), NO_CACHE);
        assert_eq!(policy_for("/decade.js"), NO_CACHE);
    }

    #[test]
    fn if_none_match_compares_weakly_and_in_lists() {
        let tag = weak_tag(&[b"x"]);
        let text = tag.to_str().unwrap().to_string();
        let strong = text.trim_start_matches("W/").to_string();
        for wanted in [text.as_str(), strong.as_str(), "\"a\", W/\"b\"", "*"] {
            let header = HeaderValue::from_str(wanted).unwrap();
            let expected = wanted != "\"a\", W/\"b\"";
            assert_eq!(matches(Some(&header), &tag), expected, "{wanted}");
        }
        assert!(!matches(None, &tag));
        assert_ne!(weak_tag(&[b"x"]), weak_tag(&[b"y"]));
    }
}
