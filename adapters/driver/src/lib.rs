//! # failsafe-driver
//!
//! The one place that knows how to run a call through a [`failsafe_core`]
//! machine, generic over a tiny runtime trait ([`Clock`], [`Runtime`]). The
//! tokio, async-std, embassy and thread bindings only supply their clock,
//! timer and lock; every pattern reaches every runtime through these items:
//!
//! - admission (circuit breaker, fail fast, bulkhead, rate limiters), over
//!   the core's [`SharedAdmission`](failsafe_core::sync::SharedAdmission):
//!   [`Admit`] (async; waits on the runtime's timer or the machine's
//!   wake-up), [`try_acquire`], [`admit_blocking`] (parks the thread),
//!   [`Guard`] (the permit, handed back exactly once), [`call`];
//! - [`Policy`]: one handle with the same verbs for every admission
//!   pattern (`call`, `call_blocking`, `try_acquire`, `acquire`,
//!   `acquire_blocking`), and its std aliases [`CircuitBreakerPolicy`],
//!   [`FailFastPolicy`], [`BulkheadPolicy`], [`RateLimiterPolicy`],
//!   [`KeyedRateLimiterPolicy`];
//! - per-call plans, over the core's [`Plan`](failsafe_core::plan::Plan):
//!   one executor ([`execute`], [`execute_blocking`], and [`PlanRun`] as a
//!   nameable value), under [`retry`] / [`retry_blocking`], [`timeout`] /
//!   [`timeout_blocking`], [`fallback`] / [`fallback_blocking`], [`hedge`] /
//!   [`hedge_blocking`] (std: one thread per attempt), and their
//!   std handles [`RetryPolicy`], [`TimeoutPolicy`], [`Fallback`];
//! - cache: [`SharedCache`] (`get_or_load`, miss coalescing with followers
//!   woken by their leader ([`WithWaiters`](cache::WithWaiters)), stale-on-error),
//!   [`Pipeline::call_cached`];
//! - chaos injection: [`chaos::ChaosPolicy`] injects the core's
//!   [`Chaos`](chaos::Chaos) decisions (errors, chosen outcomes, hangs,
//!   latency on the runtime's timer) around a call, alone (`run`,
//!   `run_blocking`) or as a pipeline's innermost stage
//!   ([`Pipeline::chaos`]); `failsafe_driver::chaos` re-exports the core's
//!   chaos module;
//! - feature toggle: [`Toggle`] runs the enabled or the disabled
//!   operation of a lock-free flag (`call`, `call_blocking`);
//! - [`Classify`]: which results count as failures; [`Error`]: the inner
//!   error kept typed, or the rejection with its `retry_at`, or the
//!   deadline that passed;
//! - [`ComeBack`]: the instant to wait for, from any rejection, error,
//!   deadline or policy; [`LockKind`]: a policy's lock named by kind;
//! - with the `std` feature: [`StdLock`], [`Hook`], [`StdClock`],
//!   [`Park`]; with the `quanta` feature: `QuantaClock` and
//!   `QuantaRuntime` (a runtime's timer on that clock); with `defmt`:
//!   `DefmtObserver`;
//! - [`observe`]: with `tracing`, `TracingObserver`; with `metrics`,
//!   `MetricsObserver` (every pattern's events, named by policy; OpenTelemetry
//!   through either bridge).
#![no_std]

// The `metrics` facade's macros name `::std`.
#[cfg(feature = "metrics")]
extern crate std;

pub mod admit;
mod blocking;
pub mod cache;
pub mod chaos;
mod clock;
mod come_back;
#[cfg(feature = "defmt")]
mod defmt_observer;
mod error;
mod fallback;
mod hedge;
#[cfg(feature = "http")]
pub mod http;
mod lock_kind;
pub mod observe;
pub mod pipeline;
mod pipeline_cache;
mod plan_run;
mod policy_handle;
#[cfg(feature = "quanta")]
mod quanta_clock;
#[cfg(feature = "quick-cache")]
mod quick_store;
mod retry;
mod seeds;
mod static_retry;
pub use seeds::CallRng;
pub mod slots;
mod timeout;
mod toggle;

#[cfg(feature = "std")]
mod patterns;
#[cfg(feature = "registry")]
pub mod registry;
#[cfg(feature = "std")]
mod retry_alone;
#[cfg(feature = "std")]
mod std_blocking;
#[cfg(feature = "std")]
mod std_fallback;
#[cfg(feature = "std")]
mod std_hedge;
#[cfg(feature = "std")]
mod std_retry;
#[cfg(feature = "std")]
mod std_support;
#[cfg(feature = "std")]
mod std_timeout;

/// The core's machines and vocabulary, re-exported so a runtime binding
/// (and its users) reach the core through the driver alone.
pub use failsafe_core::{
    ConfigError, FnObserver, Instant, Observer, Outcome, Problem, RejectReason, Rejected,
    TimeSource, admission, breaker, bulkhead, checked, const_config, event, failfast, rate, rng,
    sync,
};
/// The core's fallback, retry and timeout machines (re-exported).
pub use failsafe_core::{
    cache as cache_machine, fallback as fallback_machine, hedge as hedge_machine,
    retry as retry_machine, timeout as timeout_machine, toggle as toggle_machine,
};

pub use admit::{Admit, Ask, Calling, Guard, call, enter, try_acquire, try_acquire_keyed};
pub use blocking::{BlockingRuntime, execute_blocking, timeout_blocking};
pub use cache::{
    Begin, CacheError, CacheStore, Cached, DEFAULT_LEASE, DEFAULT_RECHECK, Pending, SharedCache,
};
pub use clock::{Clock, Runtime};
pub use come_back::ComeBack;
#[cfg(feature = "defmt")]
pub use defmt_observer::DefmtObserver;
pub use error::Error;
pub use failsafe_core::classify::{Classify, DefaultClassifier, Judgement, UnhealthyWhen};
pub use failsafe_core::plan::{self, Attempt};
/// The decorator (`macros` feature): `#[policy(HANDLE)]` runs a function's
/// body through a [`Policy`], `#[policy(retry = ..)]` through a retry
/// handle, `#[policy(pipeline = ..)]` through a [`Pipeline`].
#[cfg(feature = "macros")]
pub use failsafe_macros::policy;
pub use fallback::{FallbackCause, fallback, fallback_blocking};
pub use hedge::{HedgeContext, Idempotent, hedge};
pub use lock_kind::{CsKind, LockKind};
pub use pipeline::{Pipeline, PipelineCall, PipelineError};
pub use plan_run::{
    Attempts, Execute, Judge, Once, PlanRun, Step, execute, execute_in, execute_resumed,
};
pub use policy_handle::{Asks, DefaultAsk, Policy};
#[cfg(feature = "quanta")]
pub use quanta_clock::{QuantaClock, QuantaRuntime};
#[cfg(feature = "quick-cache")]
pub use quick_store::QuickStore;
pub use retry::{RetryContext, RetryError, RetryOnFailsafeError, retry, retry_blocking};
pub use static_retry::{ConstRuntime, StaticRetryPolicy};
pub use timeout::timeout;
pub use toggle::{Toggle, ToggleCall};

#[cfg(feature = "std")]
pub use patterns::{
    BulkheadPolicy, CircuitBreakerPolicy, DEFAULT_MAX_WAIT, FailFastPolicy, KeyedRateLimiterPolicy,
    RateLimiterPolicy, StdShared,
};
#[cfg(feature = "std")]
pub use std_blocking::{Park, admit_blocking, thread_waker};
#[cfg(feature = "std")]
pub use std_fallback::{BlockingChain, Fallback, FallbackChain};
#[cfg(feature = "std")]
pub use std_hedge::hedge_blocking;
#[cfg(feature = "std")]
pub use std_retry::{
    BoxedSleep, CallBudget, FirstAttemptAlone, KEPT_CONFIGS, PlanParts, RetryCallPlan,
    RetryConfigRef, RetryPolicy, SeedOnDraw, SharedBudget,
};
#[cfg(feature = "std")]
pub(crate) use std_support::random_seed;
#[cfg(feature = "std")]
pub use std_support::{Hook, SharedHook, StdClock, StdLock};
#[cfg(feature = "std")]
pub use std_timeout::TimeoutPolicy;

/// What a user of a runtime binding needs, in one `use`: the patterns'
/// configurations, events and metrics, the retry, timeout and fallback
/// vocabulary, the error and classifier types and the driver's handles
/// (the std ones with the `std` feature). Every binding re-exports it whole.
pub mod prelude {
    pub use crate::breaker::{
        BreakerConfig, BreakerConfigBuilder, BreakerEvent, BreakerMetrics, CountWindow, NoWindow,
        State, TimeWindow, Window,
    };
    pub use crate::bulkhead::{
        Aimd, AimdBuilder, BulkheadConfig, BulkheadConfigBuilder, BulkheadEvent, BulkheadMetrics,
        FixedLimit, Gradient2, Gradient2Builder, LimitAlgorithm, Vegas, VegasBuilder,
    };
    pub use crate::chaos::{
        Chaos, ChaosConfig, ChaosEvent, ChaosPolicy, Fault, Injection, Rate, Schedule,
    };
    pub use crate::failfast::{
        CloseCause, FailFastConfig, FailFastConfigBuilder, FailFastEvent, FailFastMetrics,
        OpenCause, State as FailFastState,
    };
    pub use crate::fallback_machine::{FallbackEvent, FallbackPolicy, FallbackReason};
    pub use crate::hedge_machine::{
        HedgeConfig, HedgeConfigBuilder, HedgeDelay, HedgeEvent, LatencyQuantile,
    };
    #[cfg(feature = "metrics")]
    pub use crate::observe::MetricsObserver;
    #[cfg(feature = "tracing")]
    pub use crate::observe::TracingObserver;
    pub use crate::rate::RateEvent;
    pub use crate::rate::{
        AtomicGcra, FixedWindow, Gcra, KeyedGcra, Quota, Reservation, SlidingWindow, Throttle,
        TokenBucket, WhenFull,
    };
    pub use crate::retry_machine::{
        BackoffKind, FailureKind, GiveUp, GrpcThrottle, Jitter, NoBudget, RatioBudget, RetryAfter,
        RetryBudget, RetryConfig, RetryConfigBuilder, RetryEvent, TokenQuota, Verdict,
    };
    pub use crate::sync::Shared;
    pub use crate::timeout_machine::{Deadline, TimeoutConfig, TimeoutEvent, TimeoutMode};
    // (the toggle's `Window`, `Path` and `Decision` stay in
    // `toggle_machine`: names too common to take here)
    pub use crate::toggle_machine::{Flag, FlagSpec, FlagTable, ToggleConfig, ToggleEvent};
    // The cache: the core's store and its config, the driver's handle.
    pub use crate::cache_machine::{Cache, CacheConfig, CacheConfigBuilder, CacheEvent};
    pub use crate::{
        Admit, Ask, Attempt, BlockingRuntime, Classify, Clock, ComeBack, ConfigError,
        DefaultClassifier, Error, FallbackCause, FnObserver, Guard, Idempotent, Instant, Outcome,
        Pipeline, PipelineError, Policy, Problem, RejectReason, Rejected, RetryError,
        RetryOnFailsafeError, Runtime, Toggle, ToggleCall, checked,
    };
    #[cfg(feature = "std")]
    pub use crate::{
        BlockingChain, DEFAULT_MAX_WAIT, FallbackChain, Park, SharedBudget, StdClock, StdLock,
        StdShared,
    };
    pub use crate::{CacheError, Cached, SharedCache};
    pub use failsafe_core::event::{Describe, Named, NamedEvent, SharedObserver};
}
