//! Fuzzes the configurations' file forms (failsafe-core's `serde` feature)
//! and their `arbitrary` implementations (its `arbitrary` feature).
//!
//! Half of the inputs are read as TOML text into a document holding every
//! configuration type (each table optional), the other half draw every
//! configuration with `Arbitrary` and write it. Checks:
//!
//! - reading any text never panics (the duration grammar, the kinds, the
//!   numbers or words, overflow included): it is a value or an error;
//! - a configuration that was read, written and read again is equal to the
//!   one read (written text is always readable: the file form round-trips);
//! - an `Arbitrary` configuration is always drawn (never an error: drawn
//!   through its builder) and survives the same round trip.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use failsafe_core::Outcome;
use failsafe_core::arbitrary::Timeline;
use failsafe_core::breaker::BreakerConfig;
use failsafe_core::bulkhead::{Aimd, BulkheadConfig, FixedLimit, Gradient2, Vegas};
use failsafe_core::cache::CacheConfig;
use failsafe_core::failfast::FailFastConfig;
use failsafe_core::fallback::FallbackPolicy;
use failsafe_core::hedge::HedgeConfig;
use failsafe_core::rate::{FixedWindow, Quota, SlidingWindow, TokenBucket};
use failsafe_core::retry::{GrpcThrottle, RatioBudget, RetryConfig, TokenQuota};
use failsafe_core::timeout::TimeoutConfig;
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};

/// Every configuration type, each optional: a text names the ones it sets.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize, Arbitrary)]
struct Doc {
    breaker: Option<BreakerConfig>,
    failfast: Option<FailFastConfig>,
    bulkhead: Option<BulkheadConfig>,
    fixed: Option<FixedLimit>,
    aimd: Option<Aimd>,
    vegas: Option<Vegas>,
    gradient2: Option<Gradient2>,
    quota: Option<Quota>,
    bucket: Option<TokenBucket>,
    fixed_window: Option<FixedWindow>,
    sliding_window: Option<SlidingWindow<4>>,
    retry: Option<RetryConfig>,
    ratio_budget: Option<RatioBudget<4>>,
    token_quota: Option<TokenQuota>,
    grpc: Option<GrpcThrottle>,
    timeout: Option<TimeoutConfig>,
    fallback: Option<FallbackPolicy>,
    cache: Option<CacheConfig>,
    outcome: Option<Outcome>,
}

/// A hedge configuration holds a fn pointer (no `PartialEq`): compared by text.
#[derive(Serialize, Deserialize)]
struct Hedge {
    hedge: HedgeConfig,
}

fn round_trip(doc: &Doc) {
    let text = toml::to_string(doc).expect("a configuration is always writable");
    let back: Doc = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\nwritten:\n{text}"));
    assert_eq!(&back, doc, "written:\n{text}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let text = String::from_utf8_lossy(rest);
        if let Ok(doc) = toml::from_str::<Doc>(&text) {
            round_trip(&doc);
        }
        if let Ok(h) = toml::from_str::<Hedge>(&text) {
            let written = toml::to_string(&h).expect("a read hedge is writable");
            let again: Hedge = toml::from_str(&written).expect("written text reads");
            assert_eq!(toml::to_string(&again).unwrap(), written);
        }
    } else {
        let mut u = Unstructured::new(rest);
        let doc = Doc::arbitrary(&mut u).expect("arbitrary configurations are always valid");
        round_trip(&doc);
        let timeline = Timeline::arbitrary(&mut u).expect("a timeline is always drawn");
        assert!(timeline.steps.len() <= Timeline::MAX_LEN);
    }
});
