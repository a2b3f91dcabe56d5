//! Which hosts a pull may talk to: the registry allow-list, plain http, and the URLs a registry
//! chooses for us (redirects, token services), so that a registry cannot make the server reach
//! an address the operator did not list (no SSRF).

use reqwest::Url;

use super::error::PullError;
use super::reference::{Reference, DEFAULT_REGISTRY};

/// The rules of one pull, made from [`super::PullOptions`] and the reference.
#[derive(Clone, Debug)]
pub(crate) struct HostPolicy {
    /// `host[:port]` entries, or `*.domain` for any subdomain; empty = anything.
    allowed: Vec<String>,
    /// `host[:port]` of registries reached over plain http.
    insecure: Vec<String>,
    /// Where the registry's API answers (`127.0.0.1:5000`, `registry-1.docker.io`).
    registry: String,
    base: Url,
}

impl HostPolicy {
    /// The policy for pulling `reference`; refuses, before any connection, a registry outside
    /// the allow-list.
    pub fn new(
        reference: &Reference,
        allowed: &[String],
        insecure: &[String],
    ) -> Result<Self, PullError> {
        let lower = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let mut policy = HostPolicy {
            allowed: lower(allowed),
            insecure: lower(insecure),
            registry: reference.endpoint().to_string(),
            base: Url::parse("https://localhost/").expect("a URL"),
        };
        let named = policy.allows(&reference.registry)
            || (reference.registry == DEFAULT_REGISTRY && policy.allows(reference.endpoint()));
        if !named {
            return Err(PullError::RegistryNotAllowed {
                registry: reference.registry.clone(),
                allowed: policy.allowed.join(", "),
            });
        }
        let scheme = if policy.is_insecure(&policy.registry) {
            "http"
        } else {
            "https"
        };
        let text = format!("{scheme}://{}/", policy.registry);
        policy.base = Url::parse(&text).map_err(|e| PullError::Reference {
            reference: reference.to_string(),
            reason: e.to_string(),
        })?;
        // `host:443` is `host` from here on, as URLs write it.
        policy.registry = authority(&policy.base);
        Ok(policy)
    }

    /// The API's base URL: `https://host[:port]/`, or `http://` for an insecure registry.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// Whether a URL the registry handed us (a redirect's `Location`, a token realm) may be
    /// fetched: http(s) only; https, or plain http to the registry itself or another listed
    /// insecure registry; and, when an allow-list is in force, a host on it (or the registry).
    pub fn check_url(&self, url: &Url) -> Result<(), String> {
        let authority = authority(url);
        match url.scheme() {
            "https" => {}
            "http" if authority == self.registry || self.is_insecure(&authority) => {}
            "http" => {
                return Err(format!(
                    "plain http to `{authority}`, which is neither the registry nor an insecure \
                     registry"
                ))
            }
            other => return Err(format!("the scheme `{other}` is not http(s)")),
        }
        if authority == self.registry || self.allows(&authority) {
            Ok(())
        } else {
            Err(format!(
                "`{authority}` is not in the allowed registries ({})",
                self.allowed.join(", ")
            ))
        }
    }

    /// Whether `authority` is the registry's own (credentials and tokens go only there).
    pub fn is_registry(&self, url: &Url) -> bool {
        authority(url) == self.registry
    }

    fn allows(&self, authority: &str) -> bool {
        self.allowed.is_empty() || self.allowed.iter().any(|a| matches(a, authority))
    }

    fn is_insecure(&self, authority: &str) -> bool {
        self.insecure.iter().any(|a| a == authority)
    }
}

/// `host` or `host:port` as written in references (the port only when not the default one).
pub(crate) fn authority(url: &Url) -> String {
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// An entry matches its exact `host[:port]`; `*.domain` matches any host under `domain` on the
/// default port.
fn matches(entry: &str, authority: &str) -> bool {
    match entry.strip_prefix("*.") {
        Some(domain) => authority
            .strip_suffix(domain)
            .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.') && !sub.contains(':')),
        None => entry == authority,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(reference: &str, allowed: &[&str], insecure: &[&str]) -> Result<HostPolicy, String> {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        HostPolicy::new(
            &Reference::parse(reference).unwrap(),
            &own(allowed),
            &own(insecure),
        )
        .map_err(|e| e.to_string())
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn the_allow_list_is_checked_before_anything() {
        assert!(
            policy("127.0.0.1:5000/x", &[], &[]).is_ok(),
            "empty = anything"
        );
        assert!(policy("127.0.0.1:5000/x", &["127.0.0.1:5000"], &[]).is_ok());
        let err = policy("127.0.0.1:5001/x", &["127.0.0.1:5000"], &[]).unwrap_err();
        assert!(err.contains("`127.0.0.1:5001` is not allowed"), "{err}");
        assert!(policy("busybox", &["docker.io"], &[]).is_ok());
        assert!(policy("busybox", &["registry-1.docker.io"], &[]).is_ok());
        assert!(policy("ghcr.io/a/b", &["docker.io"], &[]).is_err());
        assert!(
            policy("ghcr.io:443/a/b", &["ghcr.io"], &[]).is_err(),
            "ports count"
        );
    }

    #[test]
    fn base_url_is_https_unless_insecure() {
        let p = policy("r.example/x", &[], &[]).unwrap();
        assert_eq!(p.base_url().as_str(), "https://r.example/");
        let p = policy("127.0.0.1:5000/x", &[], &["127.0.0.1:5000"]).unwrap();
        assert_eq!(p.base_url().as_str(), "http://127.0.0.1:5000/");
    }

    #[test]
    fn redirects_and_realms() {
        let open = policy("127.0.0.1:5000/x", &[], &["127.0.0.1:5000"]).unwrap();
        assert!(open.check_url(&url("http://127.0.0.1:5000/blob")).is_ok());
        assert!(open.check_url(&url("https://cdn.example/blob")).is_ok());
        let err = open.check_url(&url("http://10.0.0.1/x")).unwrap_err();
        assert!(err.contains("plain http"), "{err}");
        assert!(open.check_url(&url("file:///etc/passwd")).is_err());

        let listed = policy(
            "127.0.0.1:5000/x",
            &["127.0.0.1:5000", "*.cdn.example"],
            &["127.0.0.1:5000"],
        )
        .unwrap();
        assert!(listed.check_url(&url("http://127.0.0.1:5000/v2/")).is_ok());
        assert!(listed.check_url(&url("https://eu.cdn.example/b")).is_ok());
        assert!(listed.check_url(&url("https://cdn.example/b")).is_err());
        assert!(listed
            .check_url(&url("https://eu.cdn.example:8443/b"))
            .is_err());
        let err = listed
            .check_url(&url("https://169.254.169.254/latest/meta-data"))
            .unwrap_err();
        assert!(err.contains("not in the allowed registries"), "{err}");
        assert!(listed.check_url(&url("https://127.0.0.1:5000/x")).is_ok());
        assert!(listed.check_url(&url("https://127.0.0.1:5001/x")).is_err());
    }
}
