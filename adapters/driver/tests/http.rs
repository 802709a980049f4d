//! HTTP mapping of the pipeline's error, and reading a server's hints:
//! every rejection reason's status and headers, both `Retry-After` forms,
//! and garbage (a typed error, never a panic).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use failsafe_core::retry::{FailureKind, GiveUp, Verdict};
use failsafe_core::timeout::Deadline;
use failsafe_core::{Instant, RejectReason, Rejected};
use failsafe_driver::http::{
    HeaderError, HttpClassifier, RATELIMIT, headers, parse_ratelimit, parse_retry_after, response,
    retry_after_value, status,
};
use failsafe_driver::{Classify, Error, PipelineError};
use http::header::RETRY_AFTER;
use http::{HeaderValue, Response, StatusCode};

const ALL: [(RejectReason, u16); 11] = [
    (RejectReason::BreakerOpen, 503),
    (RejectReason::BreakerHalfOpenFull, 503),
    (RejectReason::BreakerForcedOpen, 503),
    (RejectReason::RateLimited, 429),
    (RejectReason::RateInsufficientCapacity, 429),
    (RejectReason::BulkheadFull, 503),
    (RejectReason::BulkheadQueueFull, 503),
    (RejectReason::BulkheadWaitExpired, 503),
    (RejectReason::FailFastOpen, 503),
    (RejectReason::DeadlineTooShort, 504),
    (RejectReason::FeatureDisabled, 503),
];

fn rejected(reason: RejectReason, retry_at: Option<Instant>) -> PipelineError<&'static str> {
    PipelineError {
        error: Error::Rejected(Rejected::new(reason, retry_at)),
        attempts: 1,
        gave_up: None,
        answered_at: None,
    }
}

#[test]
fn every_rejection_reason_has_its_status_and_headers() {
    let now = Instant::from_secs(100);
    for (reason, code) in ALL {
        // 1.2 s to wait: Retry-After says 2 (rounded up).
        let e = rejected(reason, Some(now + Duration::from_millis(1_200)));
        assert_eq!(status(&e.error).as_u16(), code, "{reason:?}");
        let h = headers(&e, now);
        assert_eq!(h.get(RETRY_AFTER).unwrap(), "2", "{reason:?}");
        let rate = code == 429;
        assert_eq!(h.get(RATELIMIT).is_some(), rate, "{reason:?}");
        if rate {
            assert_eq!(h.get(RATELIMIT).unwrap(), "\"failsafe\";r=0;t=2");
        }
        // No retry_at, or one already past: no wait is owed, no header.
        assert!(headers(&rejected(reason, None), now).is_empty());
        assert!(headers(&rejected(reason, Some(now)), now).is_empty());
        let r = response(&e, now);
        assert_eq!(r.status().as_u16(), code);
        assert!(r.body().starts_with("rejected: "), "{}", r.body());
    }
    let timed_out: Error<()> = Error::Timeout(Deadline::at(now));
    assert_eq!(status(&timed_out), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        status(&Error::Inner("boom")),
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[test]
fn retry_after_is_rounded_up_and_never_zero_while_owed() {
    let cases = [
        (1, "1"),
        (999, "1"),
        (1_000, "1"),
        (1_001, "2"),
        (59_999, "60"),
    ];
    for (ms, header) in cases {
        assert_eq!(
            retry_after_value(Duration::from_millis(ms)).unwrap(),
            header
        );
    }
    assert_eq!(retry_after_value(Duration::from_nanos(1)).unwrap(), "1");
    assert_eq!(retry_after_value(Duration::ZERO), None);
}

#[test]
fn retry_after_parses_both_forms_and_rejects_garbage() {
    // RFC 9110's example date: Sun, 06 Nov 1994 08:49:37 GMT.
    let date = UNIX_EPOCH + Duration::from_secs(784_111_777);
    let now = date - Duration::from_secs(90);
    let value = |s: &'static str| HeaderValue::from_static(s);
    assert_eq!(parse_retry_after(&value("0"), now), Ok(Duration::ZERO));
    assert_eq!(
        parse_retry_after(&value(" 42 "), now),
        Ok(Duration::from_secs(42))
    );
    let imf = value("Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(parse_retry_after(&imf, now), Ok(Duration::from_secs(90)));
    // A date in the past owes no wait.
    assert_eq!(
        parse_retry_after(&imf, date + Duration::from_secs(5)),
        Ok(Duration::ZERO)
    );
    for garbage in [
        "",
        "soon",
        "-5",
        "1.5",
        "99999999999999999999999",
        "Sun, 32 Nov 1994 08:49:37 GMT",
    ] {
        let parsed = parse_retry_after(&HeaderValue::from_str(garbage).unwrap(), now);
        assert!(
            matches!(parsed, Err(HeaderError::Invalid(_))),
            "{garbage:?}: {parsed:?}"
        );
    }
    let binary = HeaderValue::from_bytes(b"\xff\xfe").unwrap();
    assert_eq!(parse_retry_after(&binary, now), Err(HeaderError::NotText));
    let _ = SystemTime::now();
}

#[test]
fn ratelimit_fields_give_a_hint_only_when_the_quota_is_spent() {
    let value = |s: &'static str| HeaderValue::from_static(s);
    assert_eq!(
        parse_ratelimit(&value("\"default\";r=0;t=30")),
        Ok(Some(Duration::from_secs(30)))
    );
    assert_eq!(parse_ratelimit(&value("\"default\";r=3;t=30")), Ok(None));
    assert_eq!(
        parse_ratelimit(&value("\"a\";r=0;t=5, \"b\";r=9;t=60")),
        Ok(Some(Duration::from_secs(5)))
    );
    for garbage in [
        "\"default\";r=zero;t=30",
        "\"default\";r=0",
        "\"default\";r=0;t",
    ] {
        assert!(
            parse_ratelimit(&HeaderValue::from_static(garbage)).is_err(),
            "{garbage}"
        );
    }
}

#[test]
fn the_http_classifier_retries_throttling_with_the_servers_hint() {
    let with = |code: u16, header: Option<(&'static str, &'static str)>| {
        let mut r = Response::builder().status(code);
        if let Some((name, v)) = header {
            r = r.header(name, v);
        }
        Ok::<_, ()>(r.body(()).unwrap())
    };
    let k = HttpClassifier;
    assert_eq!(k.verdict(&with(200, None)), Verdict::Success);
    assert_eq!(k.verdict(&with(404, None)), Verdict::DoNotRetry);
    assert_eq!(k.verdict(&with(502, None)), Verdict::retry());
    assert_eq!(k.verdict(&Err::<Response<()>, _>(())), Verdict::retry());
    let throttled = |secs: Option<u64>| Verdict::Retry {
        kind: FailureKind::Throttled,
        retry_after: secs.map(Duration::from_secs),
    };
    assert_eq!(
        k.verdict(&with(429, Some(("retry-after", "7")))),
        throttled(Some(7))
    );
    assert_eq!(
        k.verdict(&with(503, Some(("ratelimit", "\"d\";r=0;t=3")))),
        throttled(Some(3))
    );
    assert_eq!(
        k.verdict(&with(503, Some(("retry-after", "later")))),
        throttled(None)
    );
    // A response is a success for the breaker unless the server failed.
    assert_eq!(
        k.classify(&with(404, None)),
        failsafe_core::Outcome::Success
    );
    assert_eq!(
        k.classify(&with(503, None)),
        failsafe_core::Outcome::Failure
    );
    let _ = GiveUp::Attempts;
}
