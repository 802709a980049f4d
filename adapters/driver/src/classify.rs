//! Deciding what a call's result says about the dependency.

use failsafe_core::Outcome;

/// Turns a call's result into an [`Outcome`]: which `Err`s count as failures
/// (a `404` may be [`Outcome::Ignored`]) and which `Ok`s do (an HTTP `503`
/// returned as `Ok` may be [`Outcome::Failure`]).
///
/// Any `Fn(&Result<T, E>) -> Outcome` is a classifier.
///
/// ```
/// use failsafe_core::Outcome;
/// use failsafe_driver::{Classify, DefaultClassifier};
///
/// let status_aware = |r: &Result<u16, ()>| match r {
///     Ok(code) if *code >= 500 => Outcome::Failure,
///     Ok(_) => Outcome::Success,
///     Err(()) => Outcome::Failure,
/// };
/// assert_eq!(status_aware.classify(&Ok(503)), Outcome::Failure);
/// assert_eq!(DefaultClassifier.classify(&Ok::<u16, ()>(503)), Outcome::Success);
/// ```
pub trait Classify<T, E> {
    /// The outcome `result` stands for.
    fn classify(&self, result: &Result<T, E>) -> Outcome;
}

/// `Ok` is a success, `Err` a failure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DefaultClassifier;

impl<T, E> Classify<T, E> for DefaultClassifier {
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}

impl<T, E, F: Fn(&Result<T, E>) -> Outcome> Classify<T, E> for F {
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        self(result)
    }
}
