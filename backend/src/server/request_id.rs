//! Request ids: every request carries one in `X-Request-Id` (the client's, when it is a sane
//! token, else a fresh UUID), echoed in the answer and recorded in the request's log span.

use axum::body::Body;
use axum::http::{HeaderName, Request};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tracing::Span;

/// The header, lower-case.
pub const HEADER: &str = "x-request-id";
/// The longest id accepted from a client.
const MAX_LEN: usize = 128;

fn header() -> HeaderName {
    HeaderName::from_static(HEADER)
}

/// Set the id on requests that have none (outermost of the two).
pub fn set_layer() -> SetRequestIdLayer<MakeRequestUuid> {
    SetRequestIdLayer::new(header(), MakeRequestUuid)
}

/// Copy the id to the answer.
pub fn propagate_layer() -> PropagateRequestIdLayer {
    PropagateRequestIdLayer::new(header())
}

/// Drop a client's id that is too long or holds characters a log line should not (it is then
/// replaced by a fresh one).
pub async fn drop_unusable(mut req: Request<Body>) -> Request<Body> {
    let usable = req.headers().get(HEADER).map(|v| usable(v.as_bytes()));
    if usable == Some(false) {
        req.headers_mut().remove(HEADER);
    }
    req
}

fn usable(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:+=/".contains(b))
}

/// The span every request's log lines carry.
pub fn span(req: &Request<Body>) -> Span {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %id,
    )
}

#[cfg(test)]
mod tests {
    use super::usable;

    #[test]
    fn sane_ids_are_kept_others_replaced() {
        assert!(usable(b"0b6c1f2e-6d1b-4d0e-9b7a-1d2c3e4f5a6b"));
        assert!(usable(b"trace:abc/123"));
        assert!(!usable(b""));
        assert!(!usable(b"has space"));
        assert!(!usable(b"quote\"d"));
        assert!(!usable(&[b'a'; 129]));
    }
}
