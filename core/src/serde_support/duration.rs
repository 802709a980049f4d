//! Durations as human-readable strings: `"250ms"`, `"1.5s"`, `"1m30s"`.
//!
//! # Grammar
//!
//! ```text
//! duration = term { [spaces] term }       e.g. "1h30m", "1s 500ms"
//! term     = digits [ "." digits ] [spaces] unit
//! unit     = "ns" | "us" | "µs" | "ms" | "s" | "m" | "min" | "h" | "d"
//! ```
//!
//! Leading and trailing spaces are ignored; a day is 86,400 s (no calendar).
//! A fraction finer than a nanosecond is truncated (`"1.5ns"` is 1 ns). The
//! whole must fit a [`Duration`] (at most `u64::MAX` seconds), else it is
//! an error, never a wrap or a panic. A bare number (`"5"`) is an error: the
//! unit is always written.
//!
//! Written form ([`Text`]): the components from hours down to nanoseconds
//! that are not zero, largest first, without spaces (`"1h30m"`, `"1s500ms"`,
//! `"250us"`); zero is `"0s"`. Reading the written form gives back the same
//! duration exactly.
//!
//! ```
//! use core::time::Duration;
//! use failsafe_core::serde_support::duration::{parse, Text};
//!
//! assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
//! assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
//! assert_eq!(parse("1m 30s"), Ok(Duration::from_secs(90)));
//! assert!(parse("5").is_err());
//! assert_eq!(Text(Duration::from_millis(90_500)).to_string(), "1m30s500ms");
//! ```
//!
//! Use it for a field of your own with
//! `#[serde(with = "failsafe_core::serde_support::duration")]`.

use core::fmt;
use core::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

const NANOS_PER_SEC: u128 = 1_000_000_000;
const MAX_NANOS: u128 = u64::MAX as u128 * NANOS_PER_SEC + (NANOS_PER_SEC - 1);

/// Why a duration string was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseDurationError {
    /// The string is empty (or only spaces).
    Empty,
    /// A number was expected (a term starts with a digit).
    Number,
    /// A term is a negative number (`-5s`): a duration is never negative.
    Negative,
    /// The unit is missing or not one of the grammar's.
    Unit,
    /// The duration is larger than [`Duration::MAX`].
    Overflow,
}

impl fmt::Display for ParseDurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseDurationError::Empty => "empty duration",
            ParseDurationError::Number => "expected a number",
            ParseDurationError::Negative => "a duration cannot be negative",
            ParseDurationError::Unit => "expected a unit: ns, us, ms, s, m, h or d",
            ParseDurationError::Overflow => "duration too large",
        })
    }
}

impl core::error::Error for ParseDurationError {}

/// Parses a duration in the module's grammar.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::serde_support::duration::{parse, ParseDurationError};
/// assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
/// assert_eq!(parse("0.25 s"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse("10 parsecs"), Err(ParseDurationError::Unit));
/// assert_eq!(parse("-5s"), Err(ParseDurationError::Negative));
/// ```
///
/// # Errors
///
/// [`ParseDurationError`]: empty, a term not starting with a digit (one
/// starting with `-`: negative), a missing or unknown unit, a total above
/// [`Duration::MAX`].
pub fn parse(text: &str) -> Result<Duration, ParseDurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ParseDurationError::Empty);
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut total: u128 = 0;
    while i < bytes.len() {
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        // the whole part
        let start = i;
        let mut whole: u128 = 0;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            whole = whole
                .checked_mul(10)
                .and_then(|w| w.checked_add(u128::from(bytes[i] - b'0')))
                .ok_or(ParseDurationError::Overflow)?;
            i += 1;
        }
        if i == start {
            // `-` before a number (`-5s`, `-.5s`), not a stray one (`1s-`)
            let signed = bytes.get(i) == Some(&b'-')
                && bytes
                    .get(i + 1)
                    .is_some_and(|b| b.is_ascii_digit() || *b == b'.');
            return Err(if signed {
                ParseDurationError::Negative
            } else {
                ParseDurationError::Number
            });
        }
        // the fraction: up to 18 digits count (finer is below a nanosecond
        // even for days), the rest is read and dropped
        let (mut frac, mut scale): (u128, u128) = (0, 1);
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            let digits = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                if scale < 1_000_000_000_000_000_000 {
                    frac = frac * 10 + u128::from(bytes[i] - b'0');
                    scale *= 10;
                }
                i += 1;
            }
            if i == digits {
                return Err(ParseDurationError::Number);
            }
        }
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        let unit_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_digit() && bytes[i] != b' ' && bytes[i] != b'.'
        {
            i += 1;
        }
        let unit: u128 = match &text[unit_start..i] {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            "m" | "min" => 60 * NANOS_PER_SEC,
            "h" => 3_600 * NANOS_PER_SEC,
            "d" => 86_400 * NANOS_PER_SEC,
            _ => return Err(ParseDurationError::Unit),
        };
        // frac < 10^18 and unit < 10^14: the product fits a u128
        let term = whole
            .checked_mul(unit)
            .and_then(|w| w.checked_add(frac * unit / scale))
            .ok_or(ParseDurationError::Overflow)?;
        total = total
            .checked_add(term)
            .filter(|t| *t <= MAX_NANOS)
            .ok_or(ParseDurationError::Overflow)?;
    }
    // total <= MAX_NANOS: the seconds fit a u64
    let secs = u64::try_from(total / NANOS_PER_SEC).map_err(|_| ParseDurationError::Overflow)?;
    Ok(Duration::new(secs, (total % NANOS_PER_SEC) as u32))
}

/// A duration displayed in the module's written form (`"1m30s"`, `"0s"`).
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::serde_support::duration::Text;
/// assert_eq!(Text(Duration::ZERO).to_string(), "0s");
/// assert_eq!(Text(Duration::from_nanos(3_600_000_000_001)).to_string(), "1h1ns");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Text(pub Duration);

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.is_zero() {
            return f.write_str("0s");
        }
        let secs = d.as_secs();
        let nanos = d.subsec_nanos();
        let parts = [
            (secs / 3_600, "h"),
            (secs / 60 % 60, "m"),
            (secs % 60, "s"),
            (u64::from(nanos / 1_000_000), "ms"),
            (u64::from(nanos / 1_000 % 1_000), "us"),
            (u64::from(nanos % 1_000), "ns"),
        ];
        for (value, unit) in parts {
            if value != 0 {
                write!(f, "{value}{unit}")?;
            }
        }
        Ok(())
    }
}

/// Writes a duration as a string in the written form.
///
/// # Errors
///
/// Those of the serializer.
pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&Text(*value))
}

/// Reads a duration string in the module's grammar.
///
/// ```
/// use core::time::Duration;
///
/// #[derive(serde::Deserialize, Debug)]
/// struct Poll {
///     #[serde(with = "failsafe_core::serde_support::duration")]
///     every: Duration,
/// }
/// let p: Poll = toml::from_str(r#"every = "1.5s""#).unwrap();
/// assert_eq!(p.every, Duration::from_millis(1500));
/// let e = toml::from_str::<Poll>("every = 5").unwrap_err();
/// assert!(e.to_string().contains(r#"a duration such as "250ms""#));
/// ```
///
/// # Errors
///
/// Not a string, or not in the grammar (the message says why).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_str(DurationVisitor)
}

pub(crate) struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a duration such as "250ms", "1.5s" or "1m30s""#)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse(v).map_err(|e| E::custom(format_args!("invalid duration {v:?}: {e}")))
    }
}
