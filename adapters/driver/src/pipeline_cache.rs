//! The cache in front of a pipeline: [`Pipeline::call_cached`] and its
//! blocking twin.

use core::future::Future;

use failsafe_core::Observer;
use failsafe_core::plan::Attempt;
use failsafe_core::retry::{RetryBudget, RetryEvent};
use failsafe_core::sync::{Lock, SharedAdmission};
use failsafe_core::timeout::Deadline;

use crate::{
    CacheError, CacheStore, Cached, DefaultClassifier, Pipeline, PipelineError, Runtime,
    SharedCache,
};

impl<A, R, B, G, O, H, C> Pipeline<A, R, B, G, O, H, C>
where
    A: SharedAdmission<Key = ()>,
    R: Runtime,
    B: Lock<G>,
    G: RetryBudget,
    O: Observer<RetryEvent> + Clone,
{
    /// `key`'s value from `cache` (on the pipeline's runtime), or from `op`
    /// run through the pipeline ([`call_with`](Self::call_with), no caller
    /// deadline) once for all who miss together. The cache sits outside
    /// everything (a hit asks no admission); an error serves a stale value
    /// if [`Pipeline::falls_back`] accepts it.
    ///
    /// ```
    /// use core::time::Duration;
    /// use failsafe_core::cache::{Cache, CacheConfig};
    /// use failsafe_core::sync::CsLock;
    /// use failsafe_core::Instant;
    /// use failsafe_driver::{Cached, Clock, Pipeline, Runtime, SharedCache};
    /// # use core::future::Ready;
    /// # #[derive(Debug)] struct Zero;
    /// # impl Clock for Zero { fn now(&self) -> Instant { Instant::ZERO } }
    /// # impl Runtime for Zero { type Sleep = Ready<()>; fn sleep_until(&self, _: Instant) -> Ready<()> { core::future::ready(()) } }
    ///
    /// let store: Cache<&str, u32, 16> = Cache::new(CacheConfig::DEFAULT, 1);
    /// let cache = SharedCache::new(CsLock::new(store), Zero);
    /// let pipeline = Pipeline::new(Zero);
    /// let price = |_| async { Ok::<_, ()>(42) };
    /// let first = futures_lite::future::block_on(pipeline.call_cached(&cache, "price", price));
    /// assert_eq!(first, Ok(Cached::Loaded(42)));
    /// let again = futures_lite::future::block_on(pipeline.call_cached(&cache, "price", price));
    /// assert_eq!(again, Ok(Cached::Fresh(42)));
    /// ```
    ///
    /// # Errors
    ///
    /// [`CacheError::Load`] with the pipeline's error when no stale value
    /// may be served; [`CacheError::Negative`] while a recent failure of
    /// the key is cached.
    pub async fn call_cached<S, L, CR, F, Fut, E>(
        &self,
        cache: &SharedCache<S, L, CR>,
        key: S::Key,
        op: F,
    ) -> Result<Cached<S::Value>, CacheError<PipelineError<E>>>
    where
        S: CacheStore,
        S::Key: Clone,
        S::Value: Clone,
        L: Lock<S>,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<S::Value, E>>,
        C: crate::chaos::Inject<S::Value, E>,
    {
        let load = || self.call_with(&DefaultClassifier, Deadline::NEVER, op);
        let serve_stale = |error: &PipelineError<E>| self.falls_back(error).is_some();
        cache.load_on(self.runtime(), key, load, serve_stale).await
    }
}

#[cfg(feature = "std")]
impl<A, R, B, G, O, H, C> Pipeline<A, R, B, G, O, H, C>
where
    A: SharedAdmission<Key = ()>,
    R: crate::Park + crate::BlockingRuntime,
    B: Lock<G>,
    G: RetryBudget,
    O: Observer<RetryEvent> + Clone,
{
    /// [`call_cached`](Self::call_cached) for blocking code: a miss runs
    /// [`call_blocking`](Self::call_blocking).
    ///
    /// # Errors
    ///
    /// As [`call_cached`](Self::call_cached).
    pub fn call_cached_blocking<S, L, CR, F, E>(
        &self,
        cache: &SharedCache<S, L, CR>,
        key: S::Key,
        op: F,
    ) -> Result<Cached<S::Value>, CacheError<PipelineError<E>>>
    where
        S: CacheStore,
        S::Key: Clone,
        S::Value: Clone,
        L: Lock<S>,
        F: FnMut(Attempt) -> Result<S::Value, E>,
        C: crate::chaos::Inject<S::Value, E>,
    {
        let load = || self.call_blocking(op);
        let serve_stale = |error: &PipelineError<E>| self.falls_back(error).is_some();
        cache.load_blocking_on(self.runtime(), key, load, serve_stale)
    }
}
