//! The Distribution API over HTTP: one client per pull that authenticates when the registry
//! asks (Basic, or a Bearer token from the challenge's realm), follows redirects only where the
//! host policy allows, reads bodies within a byte limit, and gives up on a registry that stalls.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Response, StatusCode, Url};
use serde::Deserialize;

use super::auth::{parse_challenge, Challenge, Credentials, TokenResponse};
use super::error::PullError;
use super::policy::HostPolicy;

/// Redirects followed in a row (registries redirect a blob once, to its storage).
const MAX_REDIRECTS: usize = 5;
/// Bytes of an error answer read for its message.
const MAX_ERROR_BODY: u64 = 8 * 1024;
/// Bytes of a token service's answer.
const MAX_TOKEN_BODY: u64 = 64 * 1024;

/// A registry connection for one repository.
pub(crate) struct Transport {
    http: reqwest::Client,
    policy: HostPolicy,
    credentials: Option<Credentials>,
    /// The `Authorization` header that the registry last accepted (or we last obtained).
    authorization: Option<String>,
    stall: Duration,
    repository: String,
}

impl Transport {
    pub fn new(
        policy: HostPolicy,
        credentials: Option<Credentials>,
        stall: Duration,
        repository: &str,
    ) -> Result<Self, PullError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(stall)
            .user_agent(concat!("rootlab/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PullError::http(policy.base_url().as_str(), &e))?;
        Ok(Transport {
            http,
            policy,
            credentials,
            authorization: None,
            stall,
            repository: repository.to_string(),
        })
    }

    /// `GET /v2/<repository>/<path>`, authenticating on a 401; any status but 2xx is an error.
    pub async fn get(&mut self, path: &str, accept: Option<&str>) -> Result<Response, PullError> {
        let url = self.url(path)?;
        let mut response = self.fetch(url.clone(), accept).await?;
        if response.status() == StatusCode::UNAUTHORIZED && self.policy.is_registry(response.url())
        {
            let header = response
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            self.authorization = Some(self.authorize(&header).await?);
            response = self.fetch(url, accept).await?;
            if response.status() == StatusCode::UNAUTHORIZED {
                let detail = self.error_detail(response).await;
                return Err(self.unauthorized(&detail));
            }
        }
        if response.status().is_success() {
            Ok(response)
        } else {
            let status = response.status().as_u16();
            let url = response.url().to_string();
            let detail = self.error_detail(response).await;
            Err(PullError::Status {
                url,
                status,
                detail,
            })
        }
    }

    /// The next piece of a body, or `None` at its end; a stall is an error.
    pub async fn chunk(&self, response: &mut Response) -> Result<Option<Bytes>, PullError> {
        match tokio::time::timeout(self.stall, response.chunk()).await {
            Err(_) => Err(self.stalled(response.url())),
            Ok(Err(e)) => Err(PullError::http(response.url().as_str(), &e)),
            Ok(Ok(chunk)) => Ok(chunk),
        }
    }

    /// A whole body of at most `limit` bytes (refused as soon as it is known to be more).
    pub async fn read_bounded(
        &self,
        mut response: Response,
        limit: u64,
        what: &str,
        limit_name: &'static str,
    ) -> Result<Vec<u8>, PullError> {
        let too_big = |size| PullError::TooBig {
            what: what.to_string(),
            size,
            limit,
            limit_name,
        };
        if let Some(len) = response.content_length().filter(|l| *l > limit) {
            return Err(too_big(len));
        }
        let mut body = Vec::new();
        while let Some(chunk) = self.chunk(&mut response).await? {
            let size = body.len() as u64 + chunk.len() as u64;
            if size > limit {
                return Err(too_big(size));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// The answer's media type, without parameters.
    pub fn content_type(response: &Response) -> Option<String> {
        let value = response.headers().get(CONTENT_TYPE)?.to_str().ok()?;
        Some(value.split(';').next().unwrap_or("").trim().to_string())
    }

    fn url(&self, path: &str) -> Result<Url, PullError> {
        let text = format!("v2/{}/{path}", self.repository);
        self.policy
            .base_url()
            .join(&text)
            .map_err(|e| PullError::Invalid {
                what: text,
                reason: e.to_string(),
            })
    }

    /// One GET, following the redirects the policy allows; the registry's `Authorization` is
    /// sent to the registry only, never to storage it redirects to.
    async fn fetch(&self, mut url: Url, accept: Option<&str>) -> Result<Response, PullError> {
        for _ in 0..=MAX_REDIRECTS {
            let mut request = self.http.get(url.clone());
            if let Some(accept) = accept {
                request = request.header(ACCEPT, accept);
            }
            if let Some(auth) = self.authorization.as_ref() {
                if self.policy.is_registry(&url) {
                    request = request.header(AUTHORIZATION, auth);
                }
            }
            let response = self.send(request, &url).await?;
            let Some(next) = redirect_target(&response) else {
                return Ok(response);
            };
            let next = url.join(&next).map_err(|e| PullError::UrlRefused {
                what: "redirect",
                from: url.to_string(),
                to: next.clone(),
                reason: e.to_string(),
            })?;
            self.policy
                .check_url(&next)
                .map_err(|reason| PullError::UrlRefused {
                    what: "redirect",
                    from: url.to_string(),
                    to: next.to_string(),
                    reason,
                })?;
            url = next;
        }
        Err(PullError::TooManyRedirects {
            url: url.to_string(),
            max: MAX_REDIRECTS,
        })
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        url: &Url,
    ) -> Result<Response, PullError> {
        match tokio::time::timeout(self.stall, request.send()).await {
            Err(_) => Err(self.stalled(url)),
            Ok(Err(e)) if e.is_timeout() => Err(self.stalled(url)),
            Ok(Err(e)) => Err(PullError::http(url.as_str(), &e)),
            Ok(Ok(response)) => Ok(response),
        }
    }

    /// The `Authorization` value that answers a challenge.
    async fn authorize(&self, header: &str) -> Result<String, PullError> {
        let challenge = parse_challenge(header).map_err(|reason| PullError::Challenge {
            registry: self.registry(),
            reason,
        })?;
        match challenge {
            Challenge::Basic => match &self.credentials {
                Some(c) => Ok(c.basic()),
                None => Err(self.unauthorized("")),
            },
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => self.token(&realm, service, scope).await,
        }
    }

    /// A Bearer token from the challenge's realm (a URL the registry chose: checked like a
    /// redirect), with our credentials if we have any.
    async fn token(
        &self,
        realm: &str,
        service: Option<String>,
        scope: Option<String>,
    ) -> Result<String, PullError> {
        let refused = |to: String, reason: String| PullError::UrlRefused {
            what: "token service",
            from: self.registry(),
            to,
            reason,
        };
        let mut url = Url::parse(realm).map_err(|e| refused(realm.into(), e.to_string()))?;
        self.policy
            .check_url(&url)
            .map_err(|reason| refused(realm.into(), reason))?;
        let scope = scope.unwrap_or_else(|| format!("repository:{}:pull", self.repository));
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = &service {
                query.append_pair("service", service);
            }
            query.append_pair("scope", &scope);
        }
        let mut request = self.http.get(url.clone());
        if let Some(c) = &self.credentials {
            request = request.header(AUTHORIZATION, c.basic());
        }
        let response = self.send(request, &url).await?;
        match response.status() {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                let detail = self.error_detail(response).await;
                let whom = match self.credentials {
                    Some(_) => "the credentials",
                    None => "anonymous access (give a user name and password)",
                };
                return Err(PullError::Unauthorized {
                    registry: self.registry(),
                    reason: format!("the token service {realm} refused {whom}{detail}"),
                });
            }
            s => {
                return Err(PullError::Status {
                    url: url.to_string(),
                    status: s.as_u16(),
                    detail: self.error_detail(response).await,
                })
            }
        }
        let body = self
            .read_bounded(response, MAX_TOKEN_BODY, "the token answer", "token answer")
            .await?;
        let invalid = |reason: String| PullError::Invalid {
            what: format!("the token from {}", url.as_str()),
            reason,
        };
        let token: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| invalid(e.to_string()))?;
        let token = token
            .into_token()
            .ok_or_else(|| invalid("no usable token in the answer".into()))?;
        Ok(format!("Bearer {token}"))
    }

    fn unauthorized(&self, detail: &str) -> PullError {
        let reason = match (&self.credentials, detail) {
            (None, "") => "authentication required: give a user name and password".to_string(),
            (None, d) => format!("authentication required{d}"),
            (Some(_), "") => "the credentials were refused".to_string(),
            (Some(_), d) => format!("the credentials were refused{d}"),
        };
        PullError::Unauthorized {
            registry: self.registry(),
            reason,
        }
    }

    /// `: CODE message` from a Distribution error body, if there is one to read.
    async fn error_detail(&self, response: Response) -> String {
        let body = self
            .read_bounded(response, MAX_ERROR_BODY, "error", "error body")
            .await
            .unwrap_or_default();
        describe_errors(&body)
    }

    fn stalled(&self, url: &Url) -> PullError {
        PullError::Stalled {
            url: url.to_string(),
            timeout: self.stall,
        }
    }

    fn registry(&self) -> String {
        self.policy
            .base_url()
            .as_str()
            .trim_end_matches('/')
            .to_string()
    }
}

/// The `Location` of a redirect (any 3xx that has one).
fn redirect_target(response: &Response) -> Option<String> {
    if !response.status().is_redirection() {
        return None;
    }
    let location = response.headers().get(LOCATION)?.to_str().ok()?;
    Some(location.to_string())
}

#[derive(Deserialize)]
struct ErrorBody {
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// `: MANIFEST_UNKNOWN manifest unknown` from `{"errors":[{"code","message"}]}`, else "".
fn describe_errors(body: &[u8]) -> String {
    let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) else {
        return String::new();
    };
    let text: Vec<String> = parsed
        .errors
        .iter()
        .take(3)
        .map(|e| {
            let line = format!("{} {}", e.code, e.message);
            line.trim().chars().take(200).collect()
        })
        .collect();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {}", text.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution_errors_are_described() {
        let body =
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(describe_errors(body), ": MANIFEST_UNKNOWN manifest unknown");
        assert_eq!(describe_errors(b"<html>"), "");
        assert_eq!(describe_errors(br#"{"errors":[]}"#), "");
    }
}
