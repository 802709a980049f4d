//! The one classifier, from the core: [`Classify`].

pub use failsafe_core::classify::{Classify, DefaultClassifier, Judgement, UnhealthyWhen};
