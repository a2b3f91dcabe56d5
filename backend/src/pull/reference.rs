//! Image references as `docker pull` reads them: `[registry[:port]/]repository[:tag][@digest]`,
//! with Docker Hub (`docker.io`, `library/` for one-word names) and `:latest` as defaults.

use std::fmt;

use super::error::PullError;

/// The registry assumed when a reference names none.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// Where Docker Hub's Distribution API actually answers.
const DOCKER_HUB_ENDPOINT: &str = "registry-1.docker.io";
const MAX_NAME: usize = 255;

/// A parsed reference to an image in a registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]` as written (lowercased), `docker.io` when none was.
    pub registry: String,
    /// The repository path (`library/busybox`, `team/app`).
    pub repository: String,
    /// The tag; `latest` when neither a tag nor a digest was given.
    pub tag: Option<String>,
    /// `sha256:<64 hex>` when the reference pins the manifest.
    pub digest: Option<String>,
}

impl Reference {
    /// Parse `[registry[:port]/]repository[:tag][@sha256:<hex>]`.
    pub fn parse(text: &str) -> Result<Self, PullError> {
        let fail = |reason: &str| PullError::Reference {
            reference: text.to_string(),
            reason: reason.to_string(),
        };
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(check_digest(digest).map_err(|r| fail(&r))?)),
            None => (text, None),
        };
        let (name, tag) = split_tag(rest);
        if let Some(tag) = tag {
            rootlab_shared::image::check_tag(tag).map_err(|r| fail(&r))?;
        }
        let (registry, repository) = split_registry(name);
        check_registry(&registry).map_err(|r| fail(&r))?;
        let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_string()
        };
        check_repository(&repository).map_err(|r| fail(&r))?;
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_string()),
            (tag, _) => tag.map(str::to_string),
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The `host[:port]` the API is reached at (Docker Hub's differs from its name).
    pub fn endpoint(&self) -> &str {
        if self.registry == DEFAULT_REGISTRY {
            DOCKER_HUB_ENDPOINT
        } else {
            &self.registry
        }
    }

    /// What to ask the registry's `manifests/` for: the digest when pinned, else the tag.
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// `sha256:` and 64 lowercase hex digits: the only digests pulled (and the only ones that are
/// safe as file names in the layout).
pub(crate) fn check_digest(digest: &str) -> Result<String, String> {
    let Some(hex) = digest.strip_prefix("sha256:") else {
        return Err(format!(
            "`{digest}` is not a sha256 digest (only sha256 is supported)"
        ));
    };
    if hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(digest.to_string())
    } else {
        Err(format!(
            "`{digest}` is not a digest: sha256: and 64 lowercase hex digits"
        ))
    }
}

/// `name:tag` splits at the last `:` when no `/` follows it (`host:5000/x` has no tag).
fn split_tag(name: &str) -> (&str, Option<&str>) {
    match name.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t)),
        _ => (name, None),
    }
}

/// The first component is a registry when it looks like a host: a `.`, a `:port`, or
/// `localhost` (Docker's rule).
fn split_registry(name: &str) -> (String, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':']) || first == "localhost" || first.starts_with('[') =>
        {
            let host = first.to_ascii_lowercase();
            let host = if host == "index.docker.io" || host == "registry-1.docker.io" {
                DEFAULT_REGISTRY.to_string()
            } else {
                host
            };
            (host, rest)
        }
        _ => (DEFAULT_REGISTRY.to_string(), name),
    }
}

fn check_registry(host: &str) -> Result<(), String> {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if !n.ends_with(':') => (n, Some(p)),
        _ => (host, None),
    };
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-".contains(&b))
        && !name.starts_with(['.', '-']);
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    if name_ok && port_ok {
        Ok(())
    } else {
        Err(format!("`{host}` is not a registry host[:port]"))
    }
}

fn check_repository(repository: &str) -> Result<(), String> {
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && c.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    };
    if repository.len() > MAX_NAME {
        return Err(format!("the name is longer than {MAX_NAME} bytes"));
    }
    if repository.split('/').all(component_ok) {
        Ok(())
    } else {
        Err(format!(
            "`{repository}` is not a repository: lowercase letters, digits and . _ - between \
             slashes"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Reference {
        Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn docker_hub_defaults() {
        let r = parse("busybox");
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r.repository, "library/busybox");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert_eq!(r.endpoint(), "registry-1.docker.io");
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(parse("team/app:1.2").repository, "team/app");
        assert_eq!(parse("index.docker.io/x/y").registry, "docker.io");
    }

    #[test]
    fn registries_with_ports_tags_and_digests() {
        let r = parse("127.0.0.1:5000/busybox:1");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("127.0.0.1:5000", "busybox")
        );
        assert_eq!(r.tag.as_deref(), Some("1"));
        assert_eq!(r.endpoint(), "127.0.0.1:5000");
        let d = format!("sha256:{}", "ab".repeat(32));
        let r = parse(&format!("localhost/a/b@{d}"));
        assert_eq!(r.registry, "localhost");
        assert_eq!(r.tag, None);
        assert_eq!(r.manifest_reference(), d);
        let r = parse(&format!("ghcr.io/o/p:v1@{d}"));
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.manifest_reference(), d, "the digest wins over the tag");
        assert_eq!(parse("localhost:5000/x").tag.as_deref(), Some("latest"));
    }

    #[test]
    fn bad_references_are_refused() {
        for bad in [
            "",
            "Busybox",
            "a//b",
            "x:",
            "x:-1",
            "x@sha256:abc",
            "x@sha512:abcd",
            "host:99999/x",
            "bad_host.example:1/x",
            "../x",
            "x/../../y",
            "a b",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
        let upper = format!("x@sha256:{}", "AB".repeat(32));
        assert!(Reference::parse(&upper).is_err());
    }
}
