//! [`Duration`]: one type for a span of time as the user writes it, in
//! drover.toml and on the command line, and as drover prints it.
//!
//! Owns the syntax (`5`, `0.5`, `"500ms"`, `"2s"`, `"1m"`, `"1h"`), the range
//! and the one way durations are shown. It knows nothing of what a duration
//! is for; the plan decides that.

use std::fmt;
use std::str::FromStr;

/// A span of time from zero to a year, read from seconds or from text with
/// a unit, and shown as seconds (`5s`, `2.5s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(std::time::Duration);

/// Text or a number that is not a duration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DurationError {
    /// A number of seconds below zero, not finite, or above a year.
    #[error("{seconds} is not a number of seconds of 0 or more")]
    OutOfRange {
        /// The number as given, in seconds.
        seconds: f64,
    },
    /// Text that does not start with a number.
    #[error("{0:?} is not a duration (e.g. \"500ms\", \"2s\", \"1m\")")]
    NotADuration(String),
    /// A number with a unit drover does not know.
    #[error("{0:?} has an unknown unit (use ms, s, m or h)")]
    UnknownUnit(String),
}

impl Duration {
    /// The longest duration drover accepts: a year. Anything longer is a typo.
    pub const MAX_SECONDS: f64 = 86_400.0 * 365.0;

    /// `seconds`, if it is from 0 to [`Duration::MAX_SECONDS`].
    pub fn from_secs_f64(seconds: f64) -> Result<Self, DurationError> {
        if seconds.is_finite() && (0.0..=Self::MAX_SECONDS).contains(&seconds) {
            Ok(Duration(std::time::Duration::from_secs_f64(seconds)))
        } else {
            Err(DurationError::OutOfRange { seconds })
        }
    }

    /// The standard library's duration.
    pub fn get(self) -> std::time::Duration {
        self.0
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Duration(d)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    /// Seconds (`5`, `0.5`) or a number with a unit: `ms`, `s`, `m` (or
    /// `min`) or `h`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let t = text.trim();
        let digits = t.strip_prefix('-').unwrap_or(t);
        let split = t.len() - digits.len()
            + digits
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(digits.len());
        let (number, unit) = t.split_at(split);
        let n: f64 = number
            .parse()
            .map_err(|_| DurationError::NotADuration(text.to_owned()))?;
        let seconds = match unit.trim() {
            "ms" => n / 1000.0,
            "" | "s" => n,
            "m" | "min" => n * 60.0,
            "h" => n * 3600.0,
            _ => return Err(DurationError::UnknownUnit(text.to_owned())),
        };
        Duration::from_secs_f64(seconds)
    }
}

impl fmt::Display for Duration {
    /// Seconds, exactly, without trailing zeros: `5s`, `2.5s`, `0.25s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.subsec_nanos();
        if nanos == 0 {
            return write!(f, "{}s", self.0.as_secs());
        }
        let fraction = format!("{nanos:09}");
        write!(
            f,
            "{}.{}s",
            self.0.as_secs(),
            fraction.trim_end_matches('0')
        )
    }
}

impl<'de> serde::Deserialize<'de> for Duration {
    /// Seconds as a number (`5`, `0.5`) or text with a unit (`"500ms"`).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("seconds, or a duration such as \"500ms\", \"2s\" or \"1m\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
                Duration::from_secs_f64(v).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                self.visit_f64(v as f64)
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as Std;

    fn parse(text: &str) -> Result<Std, DurationError> {
        text.parse::<Duration>().map(Duration::get)
    }

    #[test]
    fn seconds_and_units_parse() {
        assert_eq!(parse("5"), Ok(Std::from_secs(5)));
        assert_eq!(parse("0.5"), Ok(Std::from_millis(500)));
        assert_eq!(parse("500ms"), Ok(Std::from_millis(500)));
        assert_eq!(parse(" 2s "), Ok(Std::from_secs(2)));
        assert_eq!(parse("1m"), Ok(Std::from_secs(60)));
        assert_eq!(parse("1 min"), Ok(Std::from_secs(60)));
        assert_eq!(parse("1h"), Ok(Std::from_secs(3600)));
    }

    #[test]
    fn bad_text_says_why() {
        assert_eq!(
            parse("soon").unwrap_err().to_string(),
            "\"soon\" is not a duration (e.g. \"500ms\", \"2s\", \"1m\")"
        );
        assert_eq!(
            parse("5d").unwrap_err().to_string(),
            "\"5d\" has an unknown unit (use ms, s, m or h)"
        );
        assert_eq!(
            parse("-1").unwrap_err(),
            DurationError::OutOfRange { seconds: -1.0 }
        );
        assert_eq!(
            parse("-1").unwrap_err().to_string(),
            "-1 is not a number of seconds of 0 or more"
        );
        assert!(parse("").is_err());
        assert!(parse("9999999h").is_err());
    }

    #[test]
    fn display_is_exact_seconds() {
        let show = |d: Std| Duration::from(d).to_string();
        assert_eq!(show(Std::from_secs(5)), "5s");
        assert_eq!(show(Std::ZERO), "0s");
        assert_eq!(show(Std::from_millis(2500)), "2.5s");
        assert_eq!(show(Std::from_millis(250)), "0.25s");
        assert_eq!(show(Std::from_millis(100)), "0.1s");
        assert_eq!(show(Std::from_micros(1_000_001)), "1.000001s");
    }

    #[test]
    fn toml_numbers_and_text_deserialize() {
        #[derive(Debug, serde::Deserialize)]
        struct T {
            a: Duration,
            b: Duration,
            c: Duration,
        }
        let t: T = toml::from_str("a = 3\nb = 1.5\nc = \"100ms\"\n").unwrap();
        assert_eq!(t.a.get(), Std::from_secs(3));
        assert_eq!(t.b.get(), Std::from_millis(1500));
        assert_eq!(t.c.get(), Std::from_millis(100));
        let e = toml::from_str::<T>("a = -1\nb = 1\nc = 1\n").unwrap_err();
        assert_eq!(e.message(), "-1 is not a number of seconds of 0 or more");
    }
}
