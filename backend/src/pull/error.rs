//! Everything that can end a pull, each with a message that names what was wrong and where.

use std::path::PathBuf;
use std::time::Duration;

/// Why a pull failed. Nothing is left at the destination when it does.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The reference cannot be parsed (nothing was contacted).
    #[error("`{reference}` is not an image reference: {reason}")]
    Reference { reference: String, reason: String },
    /// The platform given is not `os/arch[/variant]`.
    #[error("`{0}` is not a platform: use os/arch or os/arch/variant (e.g. linux/arm64/v8)")]
    Platform(String),
    /// The reference names a registry outside the allow-list (nothing was contacted).
    #[error("registry `{registry}` is not allowed (allowed: {allowed})")]
    RegistryNotAllowed { registry: String, allowed: String },
    /// The registry sent us to a URL we will not follow (a redirect or a token service).
    #[error("{from}: refused to follow the {what} to {to}: {reason}")]
    UrlRefused {
        what: &'static str,
        from: String,
        to: String,
        reason: String,
    },
    /// More redirects in a row than we follow.
    #[error("{url}: more than {max} redirects")]
    TooManyRedirects { url: String, max: usize },
    /// No byte arrived for the stall timeout (connecting, waiting for headers or the body).
    #[error("{url}: the registry sent nothing for {} s (stalled)", .timeout.as_secs_f64())]
    Stalled { url: String, timeout: Duration },
    /// The connection failed (refused, reset, TLS, DNS...).
    #[error("{url}: {reason}")]
    Http { url: String, reason: String },
    /// The registry answered with an error status.
    #[error("{url}: the registry answered {status}{detail}")]
    Status {
        url: String,
        status: u16,
        detail: String,
    },
    /// The registry (or its token service) refused us: missing or wrong credentials.
    #[error("{registry}: 401 Unauthorized: {reason}")]
    Unauthorized { registry: String, reason: String },
    /// The registry's `WWW-Authenticate` challenge cannot be used.
    #[error("{registry}: cannot authenticate: {reason}")]
    Challenge { registry: String, reason: String },
    /// A blob or manifest whose content does not hash to its digest.
    #[error("{what} {expected}: the content received hashes to {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    /// A blob whose length is not the one its descriptor states.
    #[error("{what} {digest}: {actual} bytes received, the manifest says {expected}")]
    SizeMismatch {
        what: String,
        digest: String,
        expected: u64,
        actual: u64,
    },
    /// Over one of [`super::PullLimits`].
    #[error("{what}: {size} bytes, over the limit of {limit} ({limit_name})")]
    TooBig {
        what: String,
        size: u64,
        limit: u64,
        limit_name: &'static str,
    },
    /// Docker's first manifest format (signed, no config blob; deprecated in 2017).
    #[error(
        "{reference}: the registry has only a Docker schema 1 manifest, which rootlab does not \
         support (deprecated since 2017); push the image again with a current tool (docker, \
         skopeo, buildah) to get a schema 2 or OCI manifest"
    )]
    Schema1 { reference: String },
    /// A manifest or index of a kind we do not pull, or not a container image.
    #[error("{reference}: {reason}")]
    Unsupported { reference: String, reason: String },
    /// A multi-platform image without the platform asked for.
    #[error(
        "{reference}: no image for {wanted} (available: {}); choose one with --platform",
        .available.join(", ")
    )]
    NoPlatform {
        reference: String,
        wanted: String,
        available: Vec<String>,
    },
    /// A document that does not parse or is inconsistent.
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    /// The destination cannot be used (exists and is not empty, no parent...).
    #[error("{}: {reason}", .path.display())]
    Destination { path: PathBuf, reason: String },
    /// Writing the layout failed.
    #[error("{}: {error}", .path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl PullError {
    /// Whether the caller's input was at fault (a bad reference, platform, destination or a
    /// registry outside the allow-list), as opposed to the registry or the network.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            PullError::Reference { .. }
                | PullError::Platform(_)
                | PullError::RegistryNotAllowed { .. }
                | PullError::Destination { .. }
        )
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> PullError {
        let path = path.into();
        move |error| PullError::Io { path, error }
    }

    /// A connection failure, said once (reqwest repeats the URL at every level) and with a hint
    /// for the usual mistake: https to a plain-http registry.
    pub(crate) fn http(url: &str, error: &reqwest::Error) -> PullError {
        let mut parts: Vec<String> = Vec::new();
        let mut cause: Option<&dyn std::error::Error> = Some(error);
        while let Some(e) = cause {
            let text = e.to_string();
            if !text.contains("for url (") && !parts.contains(&text) {
                parts.push(text);
            }
            cause = e.source();
        }
        let mut reason = parts.join(": ");
        if reason.contains("InvalidContentType") || reason.contains("corrupt message") {
            reason.push_str(" (is it a plain-http registry? see --insecure)");
        }
        if reason.is_empty() {
            reason = "the request failed".into();
        }
        PullError::Http {
            url: url.to_string(),
            reason,
        }
    }
}
