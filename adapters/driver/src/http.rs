//! HTTP for the pipeline (feature `http`): a [`PipelineError`] as a status
//! and headers for a server to answer with, and a server's `Retry-After` /
//! `RateLimit` fields as a retry hint for a client.
//!
//! | error | status |
//! |---|---|
//! | rate limited (`RateLimited`, `RateInsufficientCapacity`) | 429 Too Many Requests |
//! | breaker open / half-open full / forced open, fail fast open, bulkhead full / queue full / wait expired | 503 Service Unavailable |
//! | timed out, or a deadline too short to try | 504 Gateway Timeout |
//! | the operation's own error | 500 Internal Server Error (with `axum`, the error's own response) |
//!
//! A rejection that knows when to come back carries `Retry-After` in
//! delay-seconds, rounded up, never 0 while a wait is owed (RFC 9110
//! §10.2.3); a rate-limit rejection also carries the IETF `RateLimit` field
//! (draft-ietf-httpapi-ratelimit-headers: `"failsafe";r=0;t=<seconds>`).
//! `RateLimit-Policy` is not sent: a rejection does not carry its quota.

extern crate std;

use core::time::Duration;
use std::string::{String, ToString};
use std::time::SystemTime;

use failsafe_core::retry::{FailureKind, Verdict};
use failsafe_core::{Instant, Outcome, RejectReason};
use http::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};

use crate::{Classify, Error, PipelineError};

/// The IETF `RateLimit` field name.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The status a server answers a rejected, timed-out or failed call with.
///
/// ```
/// use failsafe_core::{RejectReason, Rejected};
/// use failsafe_driver::{Error, http};
/// let limited = Error::<()>::Rejected(Rejected::new(RejectReason::RateLimited, None));
/// assert_eq!(http::status(&limited), ::http::StatusCode::TOO_MANY_REQUESTS);
/// ```
pub fn status<E>(error: &Error<E>) -> StatusCode {
    match error {
        Error::Rejected(rejected) => match rejected.reason {
            RejectReason::RateLimited | RejectReason::RateInsufficientCapacity => {
                StatusCode::TOO_MANY_REQUESTS
            }
            RejectReason::DeadlineTooShort => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        },
        Error::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        Error::Inner(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `Retry-After` in delay-seconds for a wait of `delay`: rounded up, at
/// least 1 for any wait at all; `None` when nothing is owed.
///
/// ```
/// use core::time::Duration;
/// use failsafe_driver::http::retry_after_value;
/// assert_eq!(retry_after_value(Duration::from_millis(1)).unwrap(), "1");
/// assert_eq!(retry_after_value(Duration::from_millis(2_001)).unwrap(), "3");
/// assert_eq!(retry_after_value(Duration::ZERO), None);
/// ```
pub fn retry_after_value(delay: Duration) -> Option<HeaderValue> {
    if delay.is_zero() {
        return None;
    }
    let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    Some(HeaderValue::from(seconds))
}

/// The headers a server sends with `error` at `now`: `Retry-After` (and
/// `RateLimit` for a rate limit) when the rejection says when to come back.
pub fn headers<E>(error: &PipelineError<E>, now: Instant) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let (Some(rejected), Some(delay)) = (error.rejected(), error.retry_after(now)) else {
        return headers;
    };
    if let Some(value) = retry_after_value(delay) {
        if matches!(
            rejected.reason,
            RejectReason::RateLimited | RejectReason::RateInsufficientCapacity
        ) {
            let field = std::format!("\"failsafe\";r=0;t={}", value.to_str().unwrap_or("1"));
            if let Ok(field) = HeaderValue::from_str(&field) {
                headers.insert(RATELIMIT, field);
            }
        }
        headers.insert(RETRY_AFTER, value);
    }
    headers
}

/// A response for `error` at `now`: its [`status`], its [`headers`] and a
/// short plain-text body saying what stopped the call.
pub fn response<E: core::fmt::Display>(error: &PipelineError<E>, now: Instant) -> Response<String> {
    let mut response = Response::new(error.to_string());
    *response.status_mut() = status(&error.error);
    *response.headers_mut() = headers(error, now);
    response
}

/// Why a header could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// The value is not visible ASCII.
    NotText,
    /// Neither delay-seconds nor an HTTP-date (`Retry-After`), or no
    /// usable `t` parameter (`RateLimit`); the value, as text.
    Invalid(String),
}

impl core::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HeaderError::NotText => f.write_str("header value is not text"),
            HeaderError::Invalid(v) => write!(f, "unreadable header value {v:?}"),
        }
    }
}

impl core::error::Error for HeaderError {}

/// A server's `Retry-After`, delay-seconds or an HTTP-date (RFC 9110
/// §10.2.3), as the wait from `now` (wall-clock time, for a date). A date
/// in the past is no wait.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use failsafe_driver::http::parse_retry_after;
/// use http::HeaderValue;
///
/// let now = UNIX_EPOCH + Duration::from_secs(784_111_757); // Sun, 06 Nov 1994 08:49:17 GMT
/// assert_eq!(parse_retry_after(&HeaderValue::from_static("120"), now), Ok(Duration::from_secs(120)));
/// let date = HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT");
/// assert_eq!(parse_retry_after(&date, now), Ok(Duration::from_secs(20)));
/// assert!(parse_retry_after(&HeaderValue::from_static("soon"), now).is_err());
/// ```
///
/// # Errors
///
/// [`HeaderError`] for a value that is neither form.
pub fn parse_retry_after(value: &HeaderValue, now: SystemTime) -> Result<Duration, HeaderError> {
    let text = value.to_str().map_err(|_| HeaderError::NotText)?.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| HeaderError::Invalid(text.to_string()));
    }
    let at = httpdate::parse_http_date(text).map_err(|_| HeaderError::Invalid(text.to_string()))?;
    Ok(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The wait an IETF `RateLimit` field asks for: its `t` parameter (seconds
/// until the quota resets) when `r` (remaining) is 0; no wait while quota
/// remains.
///
/// ```
/// use core::time::Duration;
/// use failsafe_driver::http::parse_ratelimit;
/// use http::HeaderValue;
/// assert_eq!(parse_ratelimit(&HeaderValue::from_static("\"default\";r=0;t=30")), Ok(Some(Duration::from_secs(30))));
/// assert_eq!(parse_ratelimit(&HeaderValue::from_static("\"default\";r=5;t=30")), Ok(None));
/// assert!(parse_ratelimit(&HeaderValue::from_static("r=0;t=soon")).is_err());
/// ```
///
/// # Errors
///
/// [`HeaderError`] for a field whose `r` or `t` is not a number.
pub fn parse_ratelimit(value: &HeaderValue) -> Result<Option<Duration>, HeaderError> {
    let text = value.to_str().map_err(|_| HeaderError::NotText)?;
    let invalid = || HeaderError::Invalid(text.to_string());
    // The first list member's parameters: `"policy";r=0;t=30`.
    let first = text.split(',').next().unwrap_or("");
    let (mut remaining, mut reset) = (None, None);
    for param in first.split(';').skip(1) {
        let (key, number) = param.split_once('=').ok_or_else(invalid)?;
        let number = number.trim().parse::<u64>().map_err(|_| invalid())?;
        match key.trim() {
            "r" => remaining = Some(number),
            "t" => reset = Some(number),
            _ => {}
        }
    }
    match (remaining, reset) {
        (Some(0), Some(t)) => Ok(Some(Duration::from_secs(t))),
        // No quota left and no reset time: nothing to wait for is known.
        (Some(0), None) => Err(invalid()),
        _ => Ok(None),
    }
}

/// Classifies HTTP responses for a client pipeline: 2xx and 3xx succeed;
/// 429 and 503 retry as throttling, honouring `Retry-After` (or a
/// `RateLimit` field) as the hint; 408, 500, 502 and 504 retry as errors;
/// every other status fails without retrying. Transport errors retry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpClassifier;

impl HttpClassifier {
    /// The hint a throttling response carries, if it can be read.
    fn hint(headers: &HeaderMap) -> Option<Duration> {
        if let Some(value) = headers.get(RETRY_AFTER) {
            return parse_retry_after(value, SystemTime::now()).ok();
        }
        headers
            .get(RATELIMIT)
            .and_then(|value| parse_ratelimit(value).ok().flatten())
    }
}

impl<B, E> Classify<Response<B>, E> for HttpClassifier {
    fn classify(&self, result: &Result<Response<B>, E>) -> Outcome {
        match result {
            Ok(response) if !response.status().is_server_error() => Outcome::Success,
            _ => Outcome::Failure,
        }
    }

    fn verdict(&self, result: &Result<Response<B>, E>) -> Verdict {
        let response = match result {
            Ok(response) => response,
            Err(_) => return Verdict::retry(),
        };
        let status = response.status();
        match status.as_u16() {
            200..=399 => Verdict::Success,
            429 | 503 => Verdict::Retry {
                kind: FailureKind::Throttled,
                retry_after: Self::hint(response.headers()),
            },
            408 | 500 | 502 | 504 => Verdict::retry(),
            _ => Verdict::DoNotRetry,
        }
    }

    /// The hint is read against the wall clock, not the `now` handed in.
    fn verdict_uses_time(&self) -> bool {
        false
    }
}

#[cfg(feature = "axum")]
mod axum_response {
    extern crate std;
    use std::string::ToString;

    use axum_core::response::{IntoResponse, Response};

    use crate::{Clock, Error, PipelineError, StdClock};

    /// A rejection or a timeout answers with its status, `Retry-After` and
    /// a plain-text reason; the operation's own error answers as it would
    /// on its own. Lets the pipeline's layer sit in `Router::layer`.
    ///
    /// `Retry-After` is the wait from when the pipeline answered
    /// ([`PipelineError::answered_at`], on the pipeline's own clock, so
    /// paused or virtual time gives the same figure as real time); an
    /// error made by hand without it is measured from [`StdClock`].
    impl<E: IntoResponse> IntoResponse for PipelineError<E> {
        fn into_response(self) -> Response {
            let status = super::status(&self.error);
            let now = self.answered_at.unwrap_or_else(|| StdClock.now());
            let headers = super::headers(&self, now);
            match self.error {
                Error::Inner(e) => e.into_response(),
                Error::Rejected(r) => (status, headers, r.to_string()).into_response(),
                Error::Timeout(d) => {
                    (status, headers, std::format!("timed out at {d}")).into_response()
                }
            }
        }
    }
}
