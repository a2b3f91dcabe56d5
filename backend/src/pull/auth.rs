//! Registry authentication: credentials (given, or read from a Docker/Podman auth file), the
//! `WWW-Authenticate` challenge of a 401, and the `Authorization` header that answers it
//! (Basic, or a Bearer token from the registry's token service).

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

/// A user name and password (or access token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The value of a Basic `Authorization` header.
    pub fn basic(&self) -> String {
        let pair = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

/// What a registry's 401 asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    /// Get a token from `realm` (`?service=..&scope=..`) and send it as `Bearer`.
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parse a `WWW-Authenticate` value (`Bearer realm="...",service="...",scope="..."`).
pub fn parse_challenge(header: &str) -> Result<Challenge, String> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    if scheme.eq_ignore_ascii_case("basic") {
        Ok(Challenge::Basic)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        let realm = get("realm").ok_or("a Bearer challenge without a realm")?;
        Ok(Challenge::Bearer {
            realm,
            service: get("service"),
            scope: get("scope"),
        })
    } else {
        Err(format!("unknown authentication scheme `{scheme}`"))
    }
}

/// `k="v", k2=v2` (quoted strings with `\` escapes; commas inside quotes kept).
fn parse_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            return params;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                value.push(c);
            }
        }
        params.push((key.trim().to_string(), value.trim().to_string()));
    }
}

/// A token service's answer (`token`, or OAuth2's `access_token`).
#[derive(Deserialize)]
pub struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
}

impl TokenResponse {
    pub fn into_token(self) -> Option<String> {
        self.token
            .or(self.access_token)
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
    }
}

/// The auth file `docker login` or `podman login` wrote: `$REGISTRY_AUTH_FILE`, else
/// `$XDG_RUNTIME_DIR/containers/auth.json`, else `~/.docker/config.json`, the first that exists.
pub fn default_auth_file() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let candidates = [
        var("REGISTRY_AUTH_FILE"),
        var("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")),
        var("HOME").map(|h| h.join(".docker/config.json")),
    ];
    candidates.into_iter().flatten().find(|p| p.is_file())
}

#[derive(Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize)]
struct AuthEntry {
    auth: Option<String>,
}

/// The credentials an auth file holds for `registry` (`docker.io` is also found under Docker's
/// `https://index.docker.io/v1/`). Credential helpers (`credsStore`) are not run.
pub fn credentials_from_auth_file(
    path: &Path,
    registry: &str,
) -> Result<Option<Credentials>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file: AuthFile =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let keys = [
        registry.to_string(),
        format!("https://{registry}"),
        format!("https://{registry}/v1/"),
    ];
    let hub = ["https://index.docker.io/v1/".to_string()];
    let keys = keys
        .iter()
        .chain(hub.iter().filter(|_| registry == "docker.io"));
    let Some(encoded) = keys
        .filter_map(|k| file.auths.get(k))
        .find_map(|e| e.auth.clone())
    else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| format!("{}: the entry for {registry} is not base64", path.display()))?;
    let (user, password) = decoded.split_once(':').ok_or_else(|| {
        format!(
            "{}: the entry for {registry} is not user:password",
            path.display()
        )
    })?;
    Ok(Some(Credentials::new(user, password)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull".into()),
            }
        );
        let c = parse_challenge(r#"bearer realm=http://x/t, scope="a:b,c:pull""#).unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "http://x/t".into(),
                service: None,
                scope: Some("a:b,c:pull".into()),
            }
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Ok(Challenge::Basic)
        );
        assert!(parse_challenge("Bearer service=x").is_err());
        assert!(parse_challenge("Negotiate").is_err());
    }

    #[test]
    fn tokens_and_credentials() {
        let t: TokenResponse = serde_json::from_str(r#"{"access_token":"abc"}"#).unwrap();
        assert_eq!(t.into_token().as_deref(), Some("abc"));
        let t: TokenResponse = serde_json::from_str(r#"{"token":"a\nb"}"#).unwrap();
        assert_eq!(t.into_token(), None, "no header injection");
        let c = Credentials::new("u", "p");
        assert_eq!(c.basic(), "Basic dTpw");
        let secret = Credentials::new("u", "hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[test]
    fn auth_files() {
        let dir = std::env::temp_dir().join(format!("rootlab-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        std::fs::write(
            &path,
            r#"{"auths": {"https://index.docker.io/v1/": {"auth": "dTpw"},
                          "127.0.0.1:5000": {"auth": "YWxpY2U6czNjcjN0"}}}"#,
        )
        .unwrap();
        let hub = credentials_from_auth_file(&path, "docker.io").unwrap();
        assert_eq!(hub, Some(Credentials::new("u", "p")));
        let local = credentials_from_auth_file(&path, "127.0.0.1:5000").unwrap();
        assert_eq!(local, Some(Credentials::new("alice", "s3cr3t")));
        assert_eq!(credentials_from_auth_file(&path, "ghcr.io").unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
