//! The model's value types, each parsed once with a precise problem on failure:
//! durations, Kubernetes quantities and percentages. The model owns them (every stage after
//! lowering reads them); lowering parses the topology's text into them.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::diag::{Code, Problem};

// ----------------------------------------------------------------------------- durations

/// A duration, kept with the text the user wrote (Prometheus and the meshes each want
/// their own spelling; we derive it from the milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    pub millis: u64,
}

/// The longest duration Go's `time.Duration` holds, in whole milliseconds
/// (`math.MaxInt64` nanoseconds, about 292 years).
const MAX_MILLIS: u64 = i64::MAX as u64 / 1_000_000;

const DURATION_UNITS: &[(&str, u64)] = &[
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
    ("w", 604_800_000),
];

impl Duration {
    #[must_use]
    pub fn from_millis(millis: u64) -> Self {
        Self { millis }
    }

    /// Parses `"300ms"`, `"2.5s"`, `"5m"`, `"1h30m"`, `"30d"`. Decimals are read exactly
    /// (`"1.5h"` is 5,400,000 ms, with no float in between); a duration is a whole number
    /// of milliseconds, so a value that leaves a fraction of one (`"0.5ms"`, `"1.0005s"`)
    /// is refused, with the two nearest spellings that are exact.
    pub fn parse(text: &str) -> Result<Self, Problem> {
        let bad = |why: &str| {
            Problem::new(
                Code::InvalidDuration,
                format!("invalid duration `{text}`: {why}"),
                "not a duration",
                Some(
                    "write a number and a unit: ms, s, m, h, d or w, e.g. \"300ms\", \"2.5s\", \"5m\", \"1h30m\", \"30d\""
                        .into(),
                ),
            )
        };
        let s = text.trim();
        if s.is_empty() {
            return Err(bad("it is empty"));
        }
        const ONE_MS: u128 = 1_000_000_000_000_000_000;
        let mut total: u64 = 0;
        // The fractions of a millisecond, in units of 1e-18 ms: a duration must have none
        // left once every part is added up.
        let mut fraction: u128 = 0;
        let mut inexact = false;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(if rest.starts_with('.') {
                    Problem::new(
                        Code::InvalidDuration,
                        format!(
                            "invalid duration `{text}`: a decimal needs a digit before its point"
                        ),
                        "not a duration",
                        Some(format!("write \"{}0{rest}\"", &s[..s.len() - rest.len()])),
                    )
                } else {
                    bad("expected a number")
                });
            }
            let whole: u64 = rest[..digits]
                .parse()
                .map_err(|_| bad("the number is too large"))?;
            rest = &rest[digits..];
            let mut decimals = "";
            if let Some(after) = rest.strip_prefix('.') {
                let n = after.bytes().take_while(u8::is_ascii_digit).count();
                if n == 0 {
                    return Err(bad("a decimal point must be followed by digits"));
                }
                decimals = &after[..n];
                rest = &after[n..];
            }
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &rest[..unit_len];
            if unit.is_empty() {
                return Err(match rest.chars().next() {
                    Some(c) if c.is_whitespace() => bad("a space is not allowed in a duration"),
                    Some('.') => bad("a number has one decimal point"),
                    Some(c) => bad(&format!("`{c}` is not a unit")),
                    None => bad("a unit is missing"),
                });
            }
            let Some((_, factor)) = DURATION_UNITS.iter().find(|(u, _)| *u == unit) else {
                // Spelled-out units (`2sec`, `5min`, `1hour`): the unit they mean.
                let meant = match unit.to_ascii_lowercase().as_str() {
                    "msec" | "msecs" | "millis" | "millisecond" | "milliseconds" => Some("ms"),
                    "sec" | "secs" | "second" | "seconds" => Some("s"),
                    "min" | "mins" | "minute" | "minutes" => Some("m"),
                    "hr" | "hrs" | "hour" | "hours" => Some("h"),
                    "day" | "days" => Some("d"),
                    "wk" | "week" | "weeks" => Some("w"),
                    _ => None,
                };
                let mut p = bad(&format!("unknown unit `{unit}`"));
                if let Some(u) = meant {
                    let number = &s[..s.len() - rest.len()];
                    p.help = Some(format!(
                        "did you mean \"{number}{u}{}\"? The units are ms, s, m, h, d and w",
                        &rest[unit_len..]
                    ));
                }
                return Err(p);
            };
            total = whole
                .checked_mul(*factor)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| bad("it is too long"))?;
            // `decimals` of `unit`, exactly: `d` digits after the point are `f / 10^d`
            // units, that is `f * factor / 10^d` ms. A fraction has at most 18 digits that
            // matter here (beyond 10, no unit's factor can make it whole: it is inexact
            // anyway, and 18 digits keep the floor right for the suggestion).
            let mut decimals = decimals.trim_end_matches('0');
            if decimals.len() > 18 {
                decimals = &decimals[..18];
                inexact = true;
            }
            if !decimals.is_empty() {
                let f: u128 = decimals.parse().unwrap_or_default();
                let scale = 10u128.pow(u32::try_from(decimals.len()).unwrap_or(18));
                let numer = f * u128::from(*factor);
                let ms = u64::try_from(numer / scale).map_err(|_| bad("it is too long"))?;
                total = total.checked_add(ms).ok_or_else(|| bad("it is too long"))?;
                fraction += (numer % scale) * (ONE_MS / scale);
            }
            rest = &rest[unit_len..];
        }
        total = total
            .checked_add(u64::try_from(fraction / ONE_MS).unwrap_or(u64::MAX))
            .ok_or_else(|| bad("it is too long"))?;
        // Every consumer reads durations as Go's `time.Duration`, nanoseconds in an int64
        // (Prometheus's `model.Duration`, Kubernetes' and Istio's `metav1.Duration`):
        // promtool refuses a longer range with "duration out of range".
        if total > MAX_MILLIS {
            return Err(bad("it is too long: at most 106751d (Go's time.Duration)"));
        }
        if !fraction.is_multiple_of(ONE_MS) || inexact {
            let below = Self { millis: total };
            let above = Self {
                millis: total.saturating_add(1),
            };
            let help = if total == 0 {
                format!(
                    "durations are whole milliseconds: write \"{}\"",
                    above.decimal()
                )
            } else {
                format!(
                    "durations are whole milliseconds: write \"{}\" or \"{}\"",
                    below.decimal(),
                    above.decimal()
                )
            };
            return Err(Problem::new(
                Code::InvalidDuration,
                format!("invalid duration `{text}`: it has a fraction of a millisecond"),
                "not a whole number of milliseconds",
                Some(help),
            ));
        }
        Ok(Self { millis: total })
    }

    /// The duration in whole seconds, when it is one (Kubernetes probes, Argo Rollouts
    /// pauses count whole seconds).
    #[must_use]
    pub fn whole_seconds(&self) -> Option<u64> {
        self.millis
            .is_multiple_of(1000)
            .then_some(self.millis / 1000)
    }

    /// Seconds with a decimal point when needed (`"1.5s"`), else the canonical spelling:
    /// the form a suggestion shows.
    #[must_use]
    pub fn decimal(&self) -> String {
        if self.millis > 1000 && !self.millis.is_multiple_of(1000) {
            format!("{}s", self.seconds_string())
        } else {
            self.canonical()
        }
    }

    /// Spelled in `units` (largest first), each used once: `1h30m`.
    fn spelled(&self, units: &[(&str, u64)]) -> String {
        if self.millis == 0 {
            return "0s".into();
        }
        let mut rest = self.millis;
        let mut out = String::new();
        for (unit, factor) in units {
            if rest >= *factor {
                out.push_str(&format!("{}{unit}", rest / factor));
                rest %= factor;
            }
        }
        out
    }

    /// A Go `time.ParseDuration` spelling (units `h`, `m`, `s`, `ms`: Go has no day):
    /// `"36h"`, `"1m30s"`, `"1s500ms"`. For the fields Go programs parse that way (Argo
    /// Rollouts' `pause.duration`, pkg/apis/rollouts/v1alpha1/types.go
    /// `RolloutPause.DurationSeconds`).
    #[must_use]
    pub fn go(&self) -> String {
        self.spelled(&[("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)])
    }

    /// One number and one unit, the largest that is exact: `"1500ms"`, `"90m"`, `"2d"`.
    /// Linkerd's annotation parser reads exactly that (policy-controller/k8s/index/src/
    /// outbound/index.rs `parse_duration`, Linkerd 2.20: a single magnitude, units `ms`,
    /// `s`, `m`, `h`, `d`, no fraction): `"1s500ms"` is refused there.
    #[must_use]
    pub fn single_unit(&self) -> String {
        for (unit, factor) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
        ] {
            if self.millis >= factor && self.millis.is_multiple_of(factor) {
                return format!("{}{unit}", self.millis / factor);
            }
        }
        if self.millis == 0 {
            return "0s".into();
        }
        format!("{}ms", self.millis)
    }

    /// The shortest exact spelling in the largest units: `"30d"`, `"1h30m"`, `"300ms"`.
    /// Prometheus, Istio and Kubernetes all accept it.
    #[must_use]
    pub fn canonical(&self) -> String {
        self.spelled(&[
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
            ("ms", 1),
        ])
    }

    /// Seconds as a decimal string with no float error: `"0.3"`, `"2"`.
    #[must_use]
    pub fn seconds_string(&self) -> String {
        (Decimal::from(self.millis) / Decimal::from(1000))
            .normalize()
            .to_string()
    }
}

/// A duration that an output can only carry in whole seconds (a Kubernetes probe's
/// `periodSeconds`, an Argo Rollouts pause): refused when it is not one, rather than
/// rounded, so that the manifest says what the topology says. `field` names the entry
/// (`` `pause` of `step` ``), `why` the output that counts seconds.
pub fn check_whole_seconds(d: &Duration, field: &str, why: &str) -> Result<u64, Problem> {
    if let Some(s) = d.whole_seconds() {
        return Ok(s);
    }
    let below = d.millis / 1000;
    let above = below + 1;
    let help = if below == 0 {
        format!("write \"{above}s\"")
    } else {
        format!("write \"{below}s\" or \"{above}s\"")
    };
    Err(Problem::new(
        Code::InvalidDuration,
        format!(
            "{field} must be a whole number of seconds, not {}",
            d.decimal()
        ),
        why,
        Some(help),
    ))
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

// ----------------------------------------------------------------------------- quantities

/// A Kubernetes resource quantity, kept as written and as an exact value in base units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity {
    pub text: String,
    pub value: Decimal,
    pub suffix: String,
}

const BINARY: &[(&str, u64)] = &[
    ("Ki", 1 << 10),
    ("Mi", 1 << 20),
    ("Gi", 1 << 30),
    ("Ti", 1 << 40),
    ("Pi", 1 << 50),
    ("Ei", 1 << 60),
];

const DECIMAL: &[(&str, i32)] = &[
    ("n", -9),
    ("u", -6),
    ("m", -3),
    ("", 0),
    ("k", 3),
    ("M", 6),
    ("G", 9),
    ("T", 12),
    ("P", 15),
    ("E", 18),
];

impl Quantity {
    /// Parses a quantity as Kubernetes does (`resource.ParseQuantity`): a non-negative
    /// decimal number and a binary (`Ki`..`Ei`), decimal (`n`..`E`) or exponent suffix.
    pub fn parse(text: &str) -> Result<Self, Problem> {
        let bad = |why: String| {
            Problem::new(
                Code::InvalidQuantity,
                format!("invalid quantity `{text}`: {why}"),
                "not a Kubernetes quantity",
                Some("write a number and an optional suffix, e.g. \"500m\" or \"0.5\" (CPU), \"512Mi\" or \"1Gi\" (memory)".into()),
            )
        };
        let s = text.trim();
        let num_len = s
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let (num, suffix) = s.split_at(num_len);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(bad("expected a number first".into()));
        }
        let n = Decimal::from_str(num).map_err(|_| bad("the number is too large".into()))?;
        let value = if let Some((_, m)) = BINARY.iter().find(|(u, _)| *u == suffix) {
            n.checked_mul(Decimal::from(*m))
        } else if let Some((_, e)) = DECIMAL.iter().find(|(u, _)| *u == suffix) {
            scale10(n, *e)
        } else if let Some(exp) = suffix.strip_prefix(['e', 'E']) {
            let e: i32 = exp
                .parse()
                .map_err(|_| bad(format!("bad exponent `{suffix}`")))?;
            if e.abs() > 18 {
                return Err(bad(format!("exponent `{suffix}` is out of range")));
            }
            scale10(n, e)
        } else {
            let hint = match suffix {
                "K" => " (the kilo suffix is a lowercase `k`, or `Ki` for 1024)",
                "mi" | "MB" | "mb" => " (mebibytes are `Mi`)",
                "gi" | "GB" | "gb" | "g" => " (gibibytes are `Gi`)",
                _ => "",
            };
            return Err(bad(format!("unknown suffix `{suffix}`{hint}")));
        };
        let value = value.ok_or_else(|| bad("it is too large".into()))?;
        Ok(Self {
            text: s.to_owned(),
            value,
            suffix: suffix.to_owned(),
        })
    }

    /// The same quantity multiplied by a whole factor, written with the same suffix.
    #[must_use]
    pub fn times(&self, factor: u32) -> Self {
        let num_len = self.text.len() - self.suffix.len();
        let n = Decimal::from_str(&self.text[..num_len]).unwrap_or_default();
        let doubled = (n * Decimal::from(factor)).normalize();
        Self {
            text: format!("{doubled}{}", self.suffix),
            value: self.value * Decimal::from(factor),
            suffix: self.suffix.clone(),
        }
    }
}

fn scale10(n: Decimal, exp: i32) -> Option<Decimal> {
    let ten = Decimal::from(10);
    let mut v = n;
    for _ in 0..exp.unsigned_abs() {
        v = if exp > 0 {
            v.checked_mul(ten)?
        } else {
            v.checked_div(ten)?
        };
    }
    Some(v)
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

// ----------------------------------------------------------------------------- percentages

/// A percentage, exact: `99.9` is 999/10, never 99.900000000000006.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent(pub Decimal);

impl Percent {
    /// Parses the text of a number (`99.9`) or a string (`"99.9%"`, `"1%"`).
    pub fn parse(raw: &str) -> Result<Self, Problem> {
        let bad = |why: &str| {
            Problem::new(
                Code::InvalidPercentage,
                format!("invalid percentage `{raw}`: {why}"),
                "not a percentage",
                Some("write a number from 0 to 100, e.g. 99.9 or \"1%\"".into()),
            )
        };
        let s = raw.trim().trim_matches('"').trim();
        let s = s.strip_suffix('%').unwrap_or(s).trim();
        let d = Decimal::from_str(s)
            .or_else(|_| Decimal::from_scientific(s))
            .map_err(|_| bad("expected a number"))?;
        if d < Decimal::ZERO || d > Decimal::ONE_HUNDRED {
            return Err(bad("it must be between 0 and 100"));
        }
        Ok(Self(d.normalize()))
    }

    /// As a ratio: 99.9 -> 0.999.
    #[must_use]
    pub fn ratio(self) -> Decimal {
        (self.0 / Decimal::ONE_HUNDRED).normalize()
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0.normalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(Duration::parse("300ms").map(|d| d.millis), Ok(300));
        assert_eq!(Duration::parse("1h30m").map(|d| d.millis), Ok(5_400_000));
        assert_eq!(
            Duration::parse("30d").map(|d| d.canonical()),
            Ok("30d".into())
        );
        assert_eq!(
            Duration::parse("90s").map(|d| d.canonical()),
            Ok("1m30s".into())
        );
        assert_eq!(
            Duration::parse("300ms").map(|d| d.seconds_string()),
            Ok("0.3".into())
        );
        for bad in [
            "",
            "5",
            "m",
            "5 mins",
            "-5s",
            "1.s",
            ".5s",
            "1..5s",
            "99999999999999999999d",
        ] {
            assert!(Duration::parse(bad).is_err(), "{bad}");
        }
        // The reason names the real mistake.
        let why = |text: &str| Duration::parse(text).err().map(|p| (p.message, p.help));
        assert!(why("2 seconds").is_some_and(|(m, _)| m.contains("a space")));
        assert!(why("1.5.2s").is_some_and(|(m, _)| m.contains("one decimal point")));
        assert!(why("5").is_some_and(|(m, _)| m.contains("a unit is missing")));
        assert!(why("2sec").is_some_and(|(_, h)| h.is_some_and(|h| h.contains("\"2s\""))));
        assert!(why("1h5mins").is_some_and(|(_, h)| h.is_some_and(|h| h.contains("\"1h5m\""))));
    }

    /// Issue 16, item 11: decimals are read exactly, in every unit, with no float between
    /// the text and the milliseconds.
    #[test]
    fn decimal_durations_are_exact() {
        for (text, millis) in [
            ("2.5s", 2_500),
            ("1.5h", 5_400_000),
            ("0.1s", 100),
            ("0.001s", 1),
            ("0.5d", 43_200_000),
            ("1.25m", 75_000),
            ("0.5w", 302_400_000),
            ("1h0.5m", 3_630_000),
            ("2.50s", 2_500),
            ("2.000000000000000000000000000000s", 2_000),
            // 0.1 + 0.2 is 0.30000000000000004 in binary floating point; here it is 300.
            ("0.1s0.2s", 300),
            // Two fractions of a millisecond that add up to a whole one.
            ("0.5ms0.5ms", 1),
        ] {
            assert_eq!(
                Duration::parse(text).map(|d| d.millis),
                Ok(millis),
                "{text}"
            );
        }
    }

    #[test]
    fn a_fraction_of_a_millisecond_is_refused_with_the_exact_neighbours() {
        for (text, help) in [
            ("0.5ms", "durations are whole milliseconds: write \"1ms\""),
            (
                "1.0005s",
                "durations are whole milliseconds: write \"1s\" or \"1.001s\"",
            ),
            (
                "1.2345s",
                "durations are whole milliseconds: write \"1.234s\" or \"1.235s\"",
            ),
            (
                "0.0000000000000000000001s",
                "durations are whole milliseconds: write \"1ms\"",
            ),
        ] {
            let p = Duration::parse(text).expect_err(text);
            assert_eq!(p.code, Code::InvalidDuration);
            assert!(
                p.message.contains("fraction of a millisecond"),
                "{}",
                p.message
            );
            assert_eq!(p.help.as_deref(), Some(help), "{text}");
        }
        assert_eq!(
            Duration::parse(".5s").err().and_then(|p| p.help),
            Some("write \"0.5s\"".into())
        );
    }

    #[test]
    fn spellings_for_each_consumer() {
        let d = |s: &str| Duration::parse(s).expect(s);
        assert_eq!(d("1.5s").canonical(), "1s500ms");
        assert_eq!(d("1.5s").go(), "1s500ms");
        assert_eq!(d("1.5s").single_unit(), "1500ms");
        assert_eq!(d("1.5h").single_unit(), "90m");
        assert_eq!(d("2d").go(), "48h");
        assert_eq!(d("2d").single_unit(), "2d");
        assert_eq!(d("0s").single_unit(), "0s");
        assert_eq!(d("2.5s").whole_seconds(), None);
        assert_eq!(d("2.5m").whole_seconds(), Some(150));
    }

    #[test]
    fn quantities() {
        let q = Quantity::parse("512Mi").expect("valid");
        assert_eq!(q.value, Decimal::from(512u64 << 20));
        assert_eq!(
            Quantity::parse("500m").map(|q| q.value),
            Ok(Decimal::new(5, 1))
        );
        assert_eq!(
            Quantity::parse("1e3").map(|q| q.value),
            Ok(Decimal::from(1000))
        );
        assert_eq!(
            Quantity::parse("250m").map(|q| q.times(2).text),
            Ok("500m".into())
        );
        assert_eq!(
            Quantity::parse("0.5").map(|q| q.times(2).text),
            Ok("1".into())
        );
        for bad in ["", "Mi", "5MB", "1.2.3", "-1", "5K"] {
            assert!(Quantity::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn percentages_are_exact() {
        let p = Percent::parse("99.9").expect("valid");
        assert_eq!((Decimal::ONE - p.ratio()).to_string(), "0.001");
        assert_eq!(
            Percent::parse("\"1%\"").map(|p| p.ratio().to_string()),
            Ok("0.01".into())
        );
        assert!(Percent::parse("101").is_err());
        assert!(Percent::parse("abc").is_err());
    }
}
