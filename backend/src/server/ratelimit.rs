//! Per-client-IP rate limiting of the costly endpoints: a token bucket per address, refilled at
//! `rate` tokens per second up to `burst`. Past it, 429 `rate_limited` with `Retry-After`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{AppError, ErrorCode};
use super::AppState;

/// Buckets kept before idle ones are forgotten, so a flood of addresses cannot grow memory.
const MAX_TRACKED: usize = 10_000;

pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// `rate` <= 0 turns limiting off.
    pub fn new(rate: f64, burst: u32) -> Self {
        RateLimiter {
            rate,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.rate > 0.0
    }

    /// Take a token for `ip`; on refusal, the seconds until one is available.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        if !self.enabled() {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap();
        if buckets.len() >= MAX_TRACKED {
            self.forget_full(&mut buckets, now);
        }
        let bucket = buckets.entry(ip).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * self.rate;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / self.rate).ceil() as u64)
        }
    }

    /// Drop buckets that have refilled completely: forgetting them changes nothing.
    fn forget_full(&self, buckets: &mut HashMap<IpAddr, Bucket>, now: Instant) {
        let (rate, burst) = (self.rate, self.burst);
        buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
    }
}

/// Middleware: rate-limit requests that may start work (anything but GET/HEAD/OPTIONS).
pub async fn limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let cheap = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if cheap {
        return next.run(req).await;
    }
    let ip = client_ip(&req, state.settings.trust_forwarded_for);
    match state.rate_limiter.check(ip, Instant::now()) {
        Ok(()) => next.run(req).await,
        Err(retry_after) => {
            state.metrics.count_rejected("rate_limited");
            AppError::new(
                ErrorCode::RateLimited,
                "too many requests from this address; slow down",
            )
            .retry_after(retry_after)
            .into_response()
        }
    }
}

fn client_ip(req: &Request, trust_forwarded_for: bool) -> IpAddr {
    let forwarded = trust_forwarded_for
        .then(|| forwarded_for(req.headers()))
        .flatten();
    forwarded.unwrap_or_else(|| {
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    })
}

/// The last X-Forwarded-For entry: the one our proxy appended (earlier ones are client-supplied
/// and could be forged to dodge the limit).
fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let value = headers.get_all("x-forwarded-for").iter().next_back()?;
    value.to_str().ok()?.rsplit(',').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refusal_then_refill() {
        let limiter = RateLimiter::new(2.0, 3);
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check(ip, t0), Ok(()));
        }
        assert_eq!(limiter.check(ip, t0), Err(1));
        assert_eq!(limiter.check(ip, t0 + Duration::from_millis(500)), Ok(()));
        assert!(limiter.check(ip, t0 + Duration::from_millis(500)).is_err());
    }

    #[test]
    fn addresses_are_limited_separately() {
        let limiter = RateLimiter::new(1.0, 1);
        let t0 = Instant::now();
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        assert!(limiter.check(a, t0).is_ok());
        assert!(limiter.check(a, t0).is_err());
        assert!(limiter.check(b, t0).is_ok());
    }

    #[test]
    fn forwarded_for_takes_the_address_the_proxy_appended() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "1.2.3.4, 10.0.0.7".parse().unwrap());
        assert_eq!(
            forwarded_for(&headers),
            Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)))
        );
        headers.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(forwarded_for(&headers), None);
    }

    #[test]
    fn zero_rate_is_off() {
        let limiter = RateLimiter::new(0.0, 1);
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let t0 = Instant::now();
        assert!((0..100).all(|_| limiter.check(ip, t0).is_ok()));
    }
}
