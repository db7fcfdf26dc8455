//! Typed values, each parsed once with a precise problem on failure: durations,
//! Kubernetes quantities, percentages and the several kinds of names.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::diag::{Code, Problem};

fn problem(code: Code, message: String, label: &str, help: Option<String>) -> Problem {
    Problem {
        code,
        message,
        label: label.to_owned(),
        help,
    }
}

// ----------------------------------------------------------------------------- durations

/// A duration, kept with the text the user wrote (Prometheus and the meshes each want
/// their own spelling; we derive it from the milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    pub millis: u64,
}

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

    /// Parses `"300ms"`, `"5m"`, `"1h30m"`, `"30d"`.
    pub fn parse(text: &str) -> Result<Self, Problem> {
        let bad = |why: &str| {
            problem(
                Code::InvalidDuration,
                format!("invalid duration `{text}`: {why}"),
                "not a duration",
                Some(
                    "write a number and a unit: ms, s, m, h, d or w, e.g. \"300ms\", \"5m\", \"1h30m\", \"30d\""
                        .into(),
                ),
            )
        };
        let s = text.trim();
        if s.is_empty() {
            return Err(bad("it is empty"));
        }
        let mut total: u64 = 0;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad("expected a whole number"));
            }
            let n: u64 = rest[..digits]
                .parse()
                .map_err(|_| bad("the number is too large"))?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &rest[..unit_len];
            if unit.is_empty() {
                return Err(bad("a unit is missing"));
            }
            let Some((_, factor)) = DURATION_UNITS.iter().find(|(u, _)| *u == unit) else {
                return Err(bad(&format!("unknown unit `{unit}`")));
            };
            total = n
                .checked_mul(*factor)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| bad("it is too long"))?;
            rest = &rest[unit_len..];
        }
        Ok(Self { millis: total })
    }

    /// The shortest exact spelling in the largest units: `"30d"`, `"1h30m"`, `"300ms"`.
    /// Prometheus, Istio and Kubernetes all accept it.
    #[must_use]
    pub fn canonical(&self) -> String {
        if self.millis == 0 {
            return "0s".into();
        }
        let mut rest = self.millis;
        let mut out = String::new();
        for (unit, factor) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
            ("ms", 1),
        ] {
            if rest >= factor {
                out.push_str(&format!("{}{unit}", rest / factor));
                rest %= factor;
            }
        }
        out
    }

    /// Seconds as a decimal string with no float error: `"0.3"`, `"2"`.
    #[must_use]
    pub fn seconds_string(&self) -> String {
        (Decimal::from(self.millis) / Decimal::from(1000))
            .normalize()
            .to_string()
    }
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
            problem(
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
            problem(
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

// ----------------------------------------------------------------------------- names

fn name_help(name: &str, max: usize) -> Option<String> {
    let mut fixed: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while fixed.contains("--") {
        fixed = fixed.replace("--", "-");
    }
    let fixed: String = fixed.trim_matches('-').chars().take(max).collect();
    let fixed = fixed.trim_matches('-').to_owned();
    if fixed.is_empty() || fixed == name {
        Some(
            "use lowercase letters, digits and `-`, starting and ending with a letter or digit"
                .into(),
        )
    } else {
        Some(format!("try `{fixed}`"))
    }
}

/// A DNS-1123 label: it becomes a Kubernetes name and a file name, so it can never
/// contain `/`, `.` or anything else that could leave the output directory.
pub fn check_dns_label(name: &str, what: &str) -> Result<(), Problem> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        return Ok(());
    }
    let why = if name.is_empty() {
        "it is empty".to_owned()
    } else if name.len() > 63 {
        format!("it is {} characters long, the limit is 63", name.len())
    } else {
        "only lowercase letters, digits and `-` are allowed, starting and ending with a letter or digit".to_owned()
    };
    Err(problem(
        Code::InvalidName,
        format!("invalid {what} name `{name}`: {why}"),
        "not a DNS-1123 label",
        name_help(name, 63),
    ))
}

/// A service name is also a Kubernetes Service name: a DNS-1035 label, which must start
/// with a letter.
pub fn check_service_name(name: &str) -> Result<(), Problem> {
    check_dns_label(name, "service")?;
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(problem(
            Code::InvalidName,
            format!("invalid service name `{name}`: it must start with a letter"),
            "a Kubernetes Service name starts with a letter",
            Some(format!("try `svc-{name}`")),
        ));
    }
    Ok(())
}

/// A Kubernetes port name is an IANA service name: at most 15 characters, lowercase
/// letters, digits and single hyphens, with at least one letter.
pub fn check_port_name(name: &str) -> Result<(), Problem> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.bytes().any(|b| b.is_ascii_lowercase())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        return Ok(());
    }
    let why = if name.len() > 15 {
        format!("it is {} characters long, the limit is 15", name.len())
    } else {
        "use lowercase letters, digits and single `-`, with at least one letter".to_owned()
    };
    Err(problem(
        Code::InvalidName,
        format!("invalid port name `{name}`: {why}"),
        "not a valid Kubernetes port name",
        name_help(name, 15),
    ))
}

/// Environment variable names are kept to what every shell accepts, so they can never
/// carry syntax into a Dockerfile, a CI script or a manifest.
pub fn check_env_name(name: &str) -> Result<(), Problem> {
    let ok = name.len() <= 253
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        return Ok(());
    }
    let fixed: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    Err(problem(
        Code::InvalidName,
        format!("invalid environment variable name `{name}`"),
        "not a variable name",
        Some(if fixed.is_empty() || fixed == name {
            "use letters, digits and `_`, not starting with a digit".into()
        } else {
            format!("use letters, digits and `_`, not starting with a digit, e.g. `{fixed}`")
        }),
    ))
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
            "1.5s",
            "99999999999999999999d",
        ] {
            assert!(Duration::parse(bad).is_err(), "{bad}");
        }
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

    #[test]
    fn names() {
        assert!(check_dns_label("checkout", "service").is_ok());
        assert!(check_dns_label("../../etc", "service").is_err());
        assert!(check_dns_label("Checkout", "service").is_err());
        assert!(check_service_name("1api").is_err());
        assert!(check_port_name("http-metrics").is_ok());
        assert!(check_port_name("a-very-long-port-name").is_err());
        assert!(check_env_name("DB_URL").is_ok());
        assert!(check_env_name("A=B").is_err());
    }
}
