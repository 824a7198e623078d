//! Standard library: timestamps (`ts_*`, the deprecated `format_timestamp*` and
//! `parse_timestamp*` aliases, `timestamp`) and durations (`parse_duration*`).
//!
//! Go's reference layout (`2006-01-02T15:04:05Z07:00`) is tokenised by [`go_layout`] and
//! used both to format ([`format_go`]) and to parse ([`parse_go`]); strftime patterns go
//! through chrono with `%f` meaning microseconds as in the reference.

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, Offset, TimeZone,
    Timelike, Utc,
};

use super::coerce::{as_str, into_string};
use super::{MethodSpec, Param, Type};
use crate::error::EvalError;
use crate::interp::Call;
use crate::value::Value;

/// Go's `time.RFC3339Nano`, the default layout.
pub const RFC3339_NANO: &str = "2006-01-02T15:04:05.999999999Z07:00";

/// Declares a pure method.
macro_rules! m {
    ($name:expr, [$($p:expr),*], $ret:ident, $imp:expr) => {
        MethodSpec { name: $name, params: &[$($p),*], returns: Type::$ret, pure: true, imp: $imp }
    };
}

/// The methods of this family.
pub static METHODS: &[MethodSpec] = &[
    m!(
        "timestamp",
        [Param::opt("default")],
        Timestamp,
        |c, v| match (to_timestamp(&v), c.opt_value(0)?) {
            (Ok(t), _) => Ok(Value::Timestamp(t)),
            (Err(_), Some(d)) => Ok(d),
            (Err(e), None) => Err(e),
        }
    ),
    m!(
        "ts_format",
        [
            Param::def("format", super::Default::Str(RFC3339_NANO)),
            Param::opt("tz")
        ],
        Str,
        ts_format
    ),
    m!(
        "format_timestamp",
        [
            Param::def("format", super::Default::Str(RFC3339_NANO)),
            Param::opt("tz")
        ],
        Str,
        ts_format
    ),
    m!(
        "ts_strftime",
        [Param::req("format"), Param::opt("tz")],
        Str,
        ts_strftime
    ),
    m!(
        "format_timestamp_strftime",
        [Param::req("format"), Param::opt("tz")],
        Str,
        ts_strftime
    ),
    m!("ts_parse", [Param::req("format")], Timestamp, ts_parse),
    m!(
        "parse_timestamp",
        [Param::req("format")],
        Timestamp,
        ts_parse
    ),
    m!(
        "ts_strptime",
        [Param::req("format")],
        Timestamp,
        ts_strptime
    ),
    m!(
        "parse_timestamp_strptime",
        [Param::req("format")],
        Timestamp,
        ts_strptime
    ),
    m!("ts_unix", [], Number, |_, v| Ok(Value::Int(
        to_timestamp(&v)?.timestamp()
    ))),
    m!("format_timestamp_unix", [], Number, |_, v| Ok(Value::Int(
        to_timestamp(&v)?.timestamp()
    ))),
    m!("ts_unix_milli", [], Number, |_, v| Ok(Value::Int(
        to_timestamp(&v)?.timestamp_millis()
    ))),
    m!("format_timestamp_unix_milli", [], Number, |_, v| Ok(
        Value::Int(to_timestamp(&v)?.timestamp_millis())
    )),
    m!("ts_unix_micro", [], Number, |_, v| Ok(Value::Int(
        to_timestamp(&v)?.timestamp_micros()
    ))),
    m!("format_timestamp_unix_micro", [], Number, |_, v| Ok(
        Value::Int(to_timestamp(&v)?.timestamp_micros())
    )),
    m!("ts_unix_nano", [], Number, |_, v| unix_nano(&v)),
    m!("format_timestamp_unix_nano", [], Number, |_, v| unix_nano(
        &v
    )),
    m!("ts_round", [Param::req("duration")], Timestamp, ts_round),
    m!("ts_tz", [Param::req("tz")], Timestamp, |c, v| {
        let tz = c.string(0)?;
        Ok(Value::Timestamp(in_zone(to_timestamp(&v)?, &tz)?))
    }),
    m!("ts_sub", [Param::req("t2")], Number, |c, v| {
        let other = to_timestamp(&c.value(0)?)?;
        let d = to_timestamp(&v)? - other;
        Ok(Value::Int(d.num_nanoseconds().unwrap_or(
            if d > Duration::zero() {
                i64::MAX
            } else {
                i64::MIN
            },
        )))
    }),
    m!(
        "ts_add_iso8601",
        [Param::req("duration")],
        Timestamp,
        |c, v| shift_iso8601(c, v, 1)
    ),
    m!(
        "ts_sub_iso8601",
        [Param::req("duration")],
        Timestamp,
        |c, v| shift_iso8601(c, v, -1)
    ),
    m!("parse_duration", [], Number, |_, v| parse_go_duration(
        as_str(&v)?
    )
    .map(Value::Int)),
    m!("parse_duration_iso8601", [], Number, |_, v| {
        let p = parse_iso8601_period(as_str(&v)?)?;
        Ok(Value::Int(p.approx_nanos()))
    }),
];

/// A value as a timestamp: timestamps as they are, numbers as Unix seconds (fractions kept),
/// strings as RFC 3339.
pub fn to_timestamp(v: &Value) -> Result<DateTime<FixedOffset>, EvalError> {
    let utc = FixedOffset::east_opt(0).expect("zero offset");
    match v {
        Value::Timestamp(t) => Ok(*t),
        Value::Int(i) => utc
            .timestamp_opt(*i, 0)
            .single()
            .ok_or_else(|| EvalError::new("timestamp out of range")),
        Value::Float(f) => {
            let secs = f.floor();
            let nanos = ((f - secs) * 1e9).round() as u32;
            utc.timestamp_opt(secs as i64, nanos.min(999_999_999))
                .single()
                .ok_or_else(|| EvalError::new("timestamp out of range"))
        }
        Value::Str(_) | Value::Bytes(_) => {
            let s = as_str(v)?;
            parse_go(s, RFC3339_NANO).map_err(|e| {
                EvalError::new(format!(
                    "parsing time \"{}\" as \"{}\": {}",
                    s, RFC3339_NANO, e
                ))
            })
        }
        other => Err(EvalError::expected("timestamp", other)),
    }
}

fn unix_nano(v: &Value) -> Result<Value, EvalError> {
    to_timestamp(v)?
        .timestamp_nanos_opt()
        .map(Value::Int)
        .ok_or_else(|| EvalError::new("timestamp out of range for nanoseconds"))
}

/// Converts a timestamp into a named IANA zone (`UTC`, `Local` and `America/New_York` style).
pub fn in_zone(t: DateTime<FixedOffset>, tz: &str) -> Result<DateTime<FixedOffset>, EvalError> {
    match tz {
        "UTC" | "" => Ok(t.with_timezone(&Utc).fixed_offset()),
        "Local" => Ok(t.with_timezone(&chrono::Local).fixed_offset()),
        name => {
            let zone: chrono_tz::Tz = name
                .parse()
                .map_err(|_| EvalError::new(format!("unknown time zone {}", name)))?;
            let local = t.with_timezone(&zone);
            Ok(local.with_timezone(&local.offset().fix()))
        }
    }
}

/// The timestamp to format, moved into the `tz` argument's zone when given.
fn target_in_zone(
    c: &mut Call,
    v: &Value,
    tz_arg: usize,
) -> Result<DateTime<FixedOffset>, EvalError> {
    let t = to_timestamp(v)?;
    match c.opt_value(tz_arg)? {
        Some(tz) => in_zone(t, &into_string(tz)?),
        None => Ok(t),
    }
}

fn ts_format(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let layout = c.string(0)?;
    let t = target_in_zone(c, &v, 1)?;
    Ok(Value::Str(format_go(&t, &layout)))
}

fn ts_strftime(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let fmt = c.string(0)?;
    let t = target_in_zone(c, &v, 1)?;
    format_strftime(&t, &fmt).map(Value::Str)
}

fn ts_parse(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let layout = c.string(0)?;
    let s = as_str(&v)?;
    parse_go(s, &layout)
        .map(Value::Timestamp)
        .map_err(|e| EvalError::new(format!("parsing time \"{}\" as \"{}\": {}", s, layout, e)))
}

fn ts_strptime(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let fmt = c.string(0)?;
    parse_strptime(as_str(&v)?, &fmt).map(Value::Timestamp)
}

fn ts_round(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let d = c.int(0)?;
    let t = to_timestamp(&v)?;
    if d <= 0 {
        return Ok(Value::Timestamp(t));
    }
    let nanos = t
        .timestamp_nanos_opt()
        .ok_or_else(|| EvalError::new("timestamp out of range"))? as i128;
    let d = d as i128;
    let rem = nanos.rem_euclid(d);
    // Go's Time.Round: halfway values round up.
    let rounded = if rem + rem < d {
        nanos - rem
    } else {
        nanos - rem + d
    };
    let utc = Utc.timestamp_nanos(rounded as i64);
    Ok(Value::Timestamp(utc.with_timezone(t.offset())))
}

/// Go's `time.ParseDuration`: a sequence of decimal numbers with units (`ns`, `us`/`µs`,
/// `ms`, `s`, `m`, `h`), optionally signed. Returns nanoseconds.
pub fn parse_go_duration(s: &str) -> Result<i64, EvalError> {
    let bad = || EvalError::new(format!("time: invalid duration \"{}\"", s));
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." {
            return Err(bad());
        }
        let n: f64 = num.parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => {
                return Err(EvalError::new(format!(
                    "time: missing unit in duration \"{}\"",
                    s
                )))
            }
            u => {
                return Err(EvalError::new(format!(
                    "time: unknown unit \"{}\" in duration \"{}\"",
                    u, s
                )))
            }
        };
        rest = &rest[unit_len..];
        total += n * unit;
    }
    if total > i64::MAX as f64 {
        return Err(bad());
    }
    let n = total.round() as i64;
    Ok(if neg { -n } else { n })
}

/// An ISO 8601 period (`P1Y2M3DT4H5M6S`, `P2W`).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Period {
    years: f64,
    months: f64,
    days: f64,
    hours: f64,
    minutes: f64,
    seconds: f64,
}

impl Period {
    /// The period as nanoseconds, with a year of 365.2425 days and a month of a twelfth of it.
    fn approx_nanos(&self) -> i64 {
        let day = 86_400e9;
        let year = 365.2425 * day;
        (self.years * year
            + self.months * year / 12.0
            + self.days * day
            + self.hours * 3600e9
            + self.minutes * 60e9
            + self.seconds * 1e9)
            .round() as i64
    }
}

/// Parses an ISO 8601 period.
pub fn parse_iso8601_period(s: &str) -> Result<Period, EvalError> {
    let bad = || EvalError::new(format!("invalid ISO 8601 duration: {}", s));
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let body = body.strip_prefix('P').ok_or_else(bad)?;
    if body.is_empty() {
        return Err(bad());
    }
    let mut p = Period::default();
    let mut in_time = false;
    let mut num = String::new();
    for ch in body.chars() {
        match ch {
            'T' if !in_time && num.is_empty() => in_time = true,
            '0'..='9' | '.' | ',' => num.push(if ch == ',' { '.' } else { ch }),
            unit => {
                let n: f64 = num.parse().map_err(|_| bad())?;
                num.clear();
                let slot = match (unit, in_time) {
                    ('Y', false) => &mut p.years,
                    ('M', false) => &mut p.months,
                    ('W', false) => {
                        p.days += n * 7.0;
                        continue;
                    }
                    ('D', false) => &mut p.days,
                    ('H', true) => &mut p.hours,
                    ('M', true) => &mut p.minutes,
                    ('S', true) => &mut p.seconds,
                    _ => return Err(bad()),
                };
                *slot += n;
            }
        }
    }
    if !num.is_empty() {
        return Err(bad());
    }
    if neg {
        for f in [
            &mut p.years,
            &mut p.months,
            &mut p.days,
            &mut p.hours,
            &mut p.minutes,
            &mut p.seconds,
        ] {
            *f = -*f;
        }
    }
    Ok(p)
}

/// Adds calendar months to a date the way Go's `AddDate` does (overflowing days roll over
/// into the next month).
fn add_months(t: DateTime<FixedOffset>, months: i64) -> DateTime<FixedOffset> {
    let total = t.year() as i64 * 12 + t.month0() as i64 + months;
    let (year, month0) = (total.div_euclid(12) as i32, total.rem_euclid(12) as u32);
    let first = NaiveDate::from_ymd_opt(year, month0 + 1, 1).unwrap_or(t.date_naive());
    let date = first + Duration::days(t.day() as i64 - 1);
    let naive = NaiveDateTime::new(date, t.time());
    t.offset().from_local_datetime(&naive).single().unwrap_or(t)
}

fn shift_iso8601(c: &mut Call, v: Value, sign: i64) -> Result<Value, EvalError> {
    let p = parse_iso8601_period(&c.string(0)?)?;
    let t = to_timestamp(&v)?;
    let whole = |f: f64| (f * sign as f64).trunc() as i64;
    let t = add_months(t, whole(p.years) * 12 + whole(p.months));
    let t = t + Duration::days(whole(p.days));
    let secs = (p.hours * 3600.0 + p.minutes * 60.0 + p.seconds) * sign as f64;
    let t = t + Duration::nanoseconds((secs * 1e9).round() as i64);
    Ok(Value::Timestamp(t))
}

/// One element of a Go time layout.
#[derive(Debug, Clone, PartialEq)]
pub enum Chunk {
    /// Literal text.
    Lit(String),
    /// `January`
    LongMonth,
    /// `Jan`
    Month,
    /// `1`
    NumMonth,
    /// `01`
    ZeroMonth,
    /// `Monday`
    LongWeekDay,
    /// `Mon`
    WeekDay,
    /// `2`
    Day,
    /// `_2`
    UnderDay,
    /// `02`
    ZeroDay,
    /// `__2`
    UnderYearDay,
    /// `002`
    ZeroYearDay,
    /// `15`
    Hour,
    /// `3`
    Hour12,
    /// `03`
    ZeroHour12,
    /// `4`
    Minute,
    /// `04`
    ZeroMinute,
    /// `5`
    Second,
    /// `05`
    ZeroSecond,
    /// `2006`
    LongYear,
    /// `06`
    Year,
    /// `PM`
    PM,
    /// `pm`
    Pm,
    /// `MST`
    TZ,
    /// A numeric zone: `z` prints `Z` for UTC, `colon` separates, `secs` adds seconds,
    /// `hours_only` is `-07`.
    Zone {
        /// Print `Z` for UTC.
        z: bool,
        /// Separate hours and minutes with `:`.
        colon: bool,
        /// Include seconds.
        secs: bool,
        /// Hours only (`-07`).
        hours_only: bool,
    },
    /// `.000` (fixed digits) or `.999` (trailing zeros trimmed), with `,` or `.`.
    Frac {
        /// Number of digits.
        digits: usize,
        /// Trim trailing zeros.
        trim: bool,
        /// The separator (`.` or `,`).
        sep: char,
    },
}

/// Splits a Go layout into chunks, as Go's `nextStdChunk` does.
pub fn go_layout(layout: &str) -> Vec<Chunk> {
    use Chunk::*;
    let b = layout.as_bytes();
    let mut out: Vec<Chunk> = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    let zones: [(&str, Chunk); 10] = [
        (
            "Z07:00:00",
            Zone {
                z: true,
                colon: true,
                secs: true,
                hours_only: false,
            },
        ),
        (
            "Z070000",
            Zone {
                z: true,
                colon: false,
                secs: true,
                hours_only: false,
            },
        ),
        (
            "Z07:00",
            Zone {
                z: true,
                colon: true,
                secs: false,
                hours_only: false,
            },
        ),
        (
            "Z0700",
            Zone {
                z: true,
                colon: false,
                secs: false,
                hours_only: false,
            },
        ),
        (
            "Z07",
            Zone {
                z: true,
                colon: false,
                secs: false,
                hours_only: true,
            },
        ),
        (
            "-07:00:00",
            Zone {
                z: false,
                colon: true,
                secs: true,
                hours_only: false,
            },
        ),
        (
            "-070000",
            Zone {
                z: false,
                colon: false,
                secs: true,
                hours_only: false,
            },
        ),
        (
            "-07:00",
            Zone {
                z: false,
                colon: true,
                secs: false,
                hours_only: false,
            },
        ),
        (
            "-0700",
            Zone {
                z: false,
                colon: false,
                secs: false,
                hours_only: false,
            },
        ),
        (
            "-07",
            Zone {
                z: false,
                colon: false,
                secs: false,
                hours_only: true,
            },
        ),
    ];
    let fixed: [(&str, Chunk); 23] = [
        ("January", LongMonth),
        ("Jan", Month),
        ("Monday", LongWeekDay),
        ("Mon", WeekDay),
        ("MST", TZ),
        ("002", ZeroYearDay),
        ("01", ZeroMonth),
        ("02", ZeroDay),
        ("03", ZeroHour12),
        ("04", ZeroMinute),
        ("05", ZeroSecond),
        ("06", Year),
        ("15", Hour),
        ("1", NumMonth),
        ("2006", LongYear),
        ("2", Day),
        ("__2", UnderYearDay),
        ("_2", UnderDay),
        ("3", Hour12),
        ("4", Minute),
        ("5", Second),
        ("PM", PM),
        ("pm", Pm),
    ];
    'scan: while i < b.len() {
        let rest = &layout[i..];
        // `_2006` is a literal underscore followed by a year.
        if rest.starts_with("_2006") {
            lit.push('_');
            i += 1;
            continue;
        }
        if (b[i] == b'.' || b[i] == b',')
            && i + 1 < b.len()
            && (b[i + 1] == b'0' || b[i + 1] == b'9')
        {
            let ch = b[i + 1];
            let mut j = i + 1;
            while j < b.len() && b[j] == ch {
                j += 1;
            }
            if !(j < b.len() && b[j].is_ascii_digit()) {
                if !lit.is_empty() {
                    out.push(Lit(std::mem::take(&mut lit)));
                }
                out.push(Frac {
                    digits: j - i - 1,
                    trim: ch == b'9',
                    sep: b[i] as char,
                });
                i = j;
                continue;
            }
        }
        for (pat, chunk) in zones.iter().chain(fixed.iter()) {
            if let Some(after) = rest.strip_prefix(pat) {
                // `Jan`/`Mon` followed by a lowercase letter is a word, not a token.
                if matches!(chunk, Month | WeekDay)
                    && after.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                {
                    break;
                }
                if !lit.is_empty() {
                    out.push(Lit(std::mem::take(&mut lit)));
                }
                out.push(chunk.clone());
                i += pat.len();
                continue 'scan;
            }
        }
        let ch = rest.chars().next().unwrap_or(' ');
        lit.push(ch);
        i += ch.len_utf8();
    }
    if !lit.is_empty() {
        out.push(Lit(lit));
    }
    out
}

const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Formats a timestamp with a Go layout.
pub fn format_go(t: &DateTime<FixedOffset>, layout: &str) -> String {
    use Chunk::*;
    let mut out = String::new();
    let hour12 = |h: u32| if h.is_multiple_of(12) { 12 } else { h % 12 };
    for chunk in go_layout(layout) {
        match chunk {
            Lit(s) => out.push_str(&s),
            LongMonth => out.push_str(LONG_MONTHS[t.month0() as usize]),
            Month => out.push_str(&LONG_MONTHS[t.month0() as usize][..3]),
            NumMonth => out.push_str(&t.month().to_string()),
            ZeroMonth => out.push_str(&format!("{:02}", t.month())),
            LongWeekDay => out.push_str(LONG_DAYS[t.weekday().num_days_from_sunday() as usize]),
            WeekDay => out.push_str(&LONG_DAYS[t.weekday().num_days_from_sunday() as usize][..3]),
            Day => out.push_str(&t.day().to_string()),
            UnderDay => out.push_str(&format!("{:>2}", t.day())),
            ZeroDay => out.push_str(&format!("{:02}", t.day())),
            UnderYearDay => out.push_str(&format!("{:>3}", t.ordinal())),
            ZeroYearDay => out.push_str(&format!("{:03}", t.ordinal())),
            Hour => out.push_str(&format!("{:02}", t.hour())),
            Hour12 => out.push_str(&hour12(t.hour()).to_string()),
            ZeroHour12 => out.push_str(&format!("{:02}", hour12(t.hour()))),
            Minute => out.push_str(&t.minute().to_string()),
            ZeroMinute => out.push_str(&format!("{:02}", t.minute())),
            Second => out.push_str(&t.second().to_string()),
            ZeroSecond => out.push_str(&format!("{:02}", t.second())),
            LongYear => out.push_str(&format!("{:04}", t.year())),
            Year => out.push_str(&format!("{:02}", t.year().rem_euclid(100))),
            PM => out.push_str(if t.hour() >= 12 { "PM" } else { "AM" }),
            Pm => out.push_str(if t.hour() >= 12 { "pm" } else { "am" }),
            TZ => {
                let off = t.offset().local_minus_utc();
                if off == 0 {
                    out.push_str("UTC");
                } else {
                    let (sign, a) = if off < 0 { ('-', -off) } else { ('+', off) };
                    out.push_str(&format!("{}{:02}{:02}", sign, a / 3600, a % 3600 / 60));
                }
            }
            Zone {
                z,
                colon,
                secs,
                hours_only,
            } => {
                let off = t.offset().local_minus_utc();
                if z && off == 0 {
                    out.push('Z');
                    continue;
                }
                let (sign, a) = if off < 0 { ('-', -off) } else { ('+', off) };
                out.push(sign);
                out.push_str(&format!("{:02}", a / 3600));
                if !hours_only {
                    if colon {
                        out.push(':');
                    }
                    out.push_str(&format!("{:02}", a % 3600 / 60));
                }
                if secs {
                    if colon {
                        out.push(':');
                    }
                    out.push_str(&format!("{:02}", a % 60));
                }
            }
            Frac { digits, trim, sep } => {
                let nanos = format!("{:09}", t.nanosecond() % 1_000_000_000);
                let mut frac = nanos[..digits.min(9)].to_string();
                if trim {
                    frac = frac.trim_end_matches('0').to_string();
                    if frac.is_empty() {
                        continue;
                    }
                }
                out.push(sep);
                out.push_str(&frac);
            }
        }
    }
    out
}

/// Reads up to `max` digits (at least one; exactly `max` when `fixed`).
fn take_num(s: &mut &str, max: usize, fixed: bool) -> Result<u32, String> {
    let n = s
        .bytes()
        .take(max)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if n == 0 || (fixed && n != max) {
        return Err(format!("cannot parse \"{}\"", s));
    }
    let v = s[..n]
        .parse()
        .map_err(|_| format!("cannot parse \"{}\"", s))?;
    *s = &s[n..];
    Ok(v)
}

/// Reads one of `names` (case-insensitively, full or 3-letter), returning its index.
fn take_name(s: &mut &str, names: &[&str], short: bool) -> Result<usize, String> {
    for (i, name) in names.iter().enumerate() {
        let name = if short { &name[..3] } else { name };
        if s.len() >= name.len()
            && s.is_char_boundary(name.len())
            && s[..name.len()].eq_ignore_ascii_case(name)
        {
            *s = &s[name.len()..];
            return Ok(i);
        }
    }
    Err(format!("cannot parse \"{}\"", s))
}

/// Parses text with a Go layout. Without a zone in the layout the result is UTC.
pub fn parse_go(value: &str, layout: &str) -> Result<DateTime<FixedOffset>, String> {
    use Chunk::*;
    let chunks = go_layout(layout);
    let mut s = value;
    let (mut year, mut month, mut day, mut yday) = (0i32, 1u32, 1u32, 0u32);
    let (mut hour, mut min, mut sec, mut nanos) = (0u32, 0u32, 0u32, 0u32);
    let mut pm: Option<bool> = None;
    let mut offset: Option<i32> = None;
    for (idx, chunk) in chunks.iter().enumerate() {
        match chunk {
            Lit(l) => {
                s = s
                    .strip_prefix(l.as_str())
                    .ok_or_else(|| format!("cannot parse \"{}\" as \"{}\"", s, l))?;
            }
            LongMonth => month = take_name(&mut s, &LONG_MONTHS, false)? as u32 + 1,
            Month => month = take_name(&mut s, &LONG_MONTHS, true)? as u32 + 1,
            NumMonth => month = take_num(&mut s, 2, false)?,
            ZeroMonth => month = take_num(&mut s, 2, true)?,
            LongWeekDay => {
                take_name(&mut s, &LONG_DAYS, false)?;
            }
            WeekDay => {
                take_name(&mut s, &LONG_DAYS, true)?;
            }
            Day | UnderDay | ZeroDay => {
                if *chunk == UnderDay {
                    s = s.strip_prefix(' ').unwrap_or(s);
                }
                day = take_num(&mut s, 2, *chunk == ZeroDay)?;
            }
            UnderYearDay | ZeroYearDay => {
                if *chunk == UnderYearDay {
                    s = s.trim_start_matches(' ');
                }
                yday = take_num(&mut s, 3, *chunk == ZeroYearDay)?;
            }
            Hour => hour = take_num(&mut s, 2, false)?,
            Hour12 => hour = take_num(&mut s, 2, false)?,
            ZeroHour12 => hour = take_num(&mut s, 2, true)?,
            Minute => min = take_num(&mut s, 2, false)?,
            ZeroMinute => min = take_num(&mut s, 2, true)?,
            Second | ZeroSecond => {
                sec = take_num(&mut s, 2, *chunk == ZeroSecond)?;
                // A fraction may follow even when the layout has none.
                let next_is_frac = matches!(chunks.get(idx + 1), Some(Frac { .. }));
                if !next_is_frac && s.len() >= 2 && (s.starts_with('.') || s.starts_with(',')) {
                    let n = s[1..].bytes().take_while(|b| b.is_ascii_digit()).count();
                    if n > 0 {
                        nanos = frac_nanos(&s[1..1 + n]);
                        s = &s[1 + n..];
                    }
                }
            }
            LongYear => year = take_num(&mut s, 4, true)? as i32,
            Year => {
                let y = take_num(&mut s, 2, true)? as i32;
                year = if y >= 69 { 1900 + y } else { 2000 + y };
            }
            PM | Pm => {
                let p = s
                    .get(..2)
                    .ok_or_else(|| format!("cannot parse \"{}\"", s))?;
                pm = Some(match p.to_ascii_uppercase().as_str() {
                    "PM" => true,
                    "AM" => false,
                    _ => return Err(format!("cannot parse \"{}\"", s)),
                });
                s = &s[2..];
            }
            TZ => {
                let n = s.bytes().take_while(|b| b.is_ascii_uppercase()).count();
                if n < 3 {
                    return Err(format!("cannot parse \"{}\" as \"MST\"", s));
                }
                offset = Some(0);
                s = &s[n..];
            }
            Zone {
                z,
                colon,
                secs,
                hours_only,
            } => {
                if *z && s.starts_with('Z') {
                    s = &s[1..];
                    offset = Some(0);
                    continue;
                }
                let sign = match s.as_bytes().first() {
                    Some(b'+') => 1,
                    Some(b'-') => -1,
                    _ => return Err(format!("cannot parse \"{}\" as zone", s)),
                };
                s = &s[1..];
                let h = take_num(&mut s, 2, true)? as i32;
                let mut m = 0;
                let mut sc = 0;
                if !hours_only {
                    if *colon {
                        s = s
                            .strip_prefix(':')
                            .ok_or_else(|| format!("cannot parse \"{}\"", s))?;
                    }
                    m = take_num(&mut s, 2, true)? as i32;
                }
                if *secs {
                    if *colon {
                        s = s
                            .strip_prefix(':')
                            .ok_or_else(|| format!("cannot parse \"{}\"", s))?;
                    }
                    sc = take_num(&mut s, 2, true)? as i32;
                }
                offset = Some(sign * (h * 3600 + m * 60 + sc));
            }
            Frac { digits, trim, .. } => {
                let has = s.len() >= 2 && (s.starts_with('.') || s.starts_with(','));
                if !has {
                    if *trim {
                        continue;
                    }
                    return Err(format!("cannot parse \"{}\" as fractional second", s));
                }
                let n = s[1..].bytes().take_while(|b| b.is_ascii_digit()).count();
                if !*trim && n < *digits {
                    return Err(format!("cannot parse \"{}\" as fractional second", s));
                }
                let n = if *trim { n } else { *digits };
                nanos = frac_nanos(&s[1..1 + n]);
                s = &s[1 + n..];
            }
        }
    }
    if !s.is_empty() {
        return Err(format!("extra text: \"{}\"", s));
    }
    if let Some(p) = pm {
        if hour > 12 {
            return Err("hour out of range".into());
        }
        hour = match (p, hour) {
            (true, h) if h < 12 => h + 12,
            (false, 12) => 0,
            (_, h) => h,
        };
    }
    let date = if yday > 0 {
        NaiveDate::from_yo_opt(year, yday)
    } else {
        NaiveDate::from_ymd_opt(year, month, day)
    }
    .ok_or_else(|| "day out of range".to_string())?;
    let naive = date
        .and_hms_nano_opt(hour, min, sec, nanos)
        .ok_or_else(|| "time out of range".to_string())?;
    let off = FixedOffset::east_opt(offset.unwrap_or(0))
        .ok_or_else(|| "zone out of range".to_string())?;
    off.from_local_datetime(&naive)
        .single()
        .ok_or_else(|| "time out of range".to_string())
}

/// Nanoseconds from fraction digits (`371` → 371000000).
fn frac_nanos(digits: &str) -> u32 {
    let mut d: String = digits.chars().take(9).collect();
    while d.len() < 9 {
        d.push('0');
    }
    d.parse().unwrap_or(0)
}

/// Translates the reference's strftime dialect to chrono's (`%f` is microseconds).
fn strftime_items(fmt: &str) -> String {
    fmt.replace("%f", "%6f")
}

/// Formats with a strftime pattern.
pub fn format_strftime(t: &DateTime<FixedOffset>, fmt: &str) -> Result<String, EvalError> {
    use chrono::format::{Item, StrftimeItems};
    let translated = strftime_items(fmt);
    let items: Vec<Item> = StrftimeItems::new(&translated).collect();
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return Err(EvalError::new(format!("invalid strftime format: {}", fmt)));
    }
    let mut out = t.format_with_items(items.into_iter()).to_string();
    if t.offset().local_minus_utc() == 0 && fmt.contains("%Z") {
        out = out.replace("+00:00", "UTC");
    }
    Ok(out)
}

/// Parses with a strptime pattern; without a zone the result is UTC, without a time it is
/// midnight.
pub fn parse_strptime(s: &str, fmt: &str) -> Result<DateTime<FixedOffset>, EvalError> {
    use chrono::format::{parse, Parsed, StrftimeItems};
    let translated = strftime_items(fmt);
    let mut parsed = Parsed::new();
    parse(&mut parsed, s, StrftimeItems::new(&translated)).map_err(|e| {
        EvalError::new(format!("failed to parse \"{}\" with \"{}\": {}", s, fmt, e))
    })?;
    if parsed.year().is_none() && parsed.year_div_100().is_none() && parsed.timestamp().is_none() {
        let _ = parsed.set_year(1900);
    }
    if let Some(ts) = parsed.timestamp() {
        return Utc
            .timestamp_opt(ts, 0)
            .single()
            .map(|t| t.fixed_offset())
            .ok_or_else(|| EvalError::new("timestamp out of range"));
    }
    let date = parsed.to_naive_date().map_err(|e| {
        EvalError::new(format!("failed to parse \"{}\" with \"{}\": {}", s, fmt, e))
    })?;
    let time = parsed.to_naive_time().unwrap_or_default();
    let off = FixedOffset::east_opt(parsed.offset().unwrap_or(0))
        .unwrap_or(FixedOffset::east_opt(0).expect("utc"));
    off.from_local_datetime(&NaiveDateTime::new(date, time))
        .single()
        .ok_or_else(|| EvalError::new("timestamp out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn layouts_format() {
        let t = ts("2020-08-14T11:50:26.371Z");
        assert_eq!(
            format_go(&t, "2006-Jan-02 15:04:05"),
            "2020-Aug-14 11:50:26"
        );
        assert_eq!(format_go(&t, RFC3339_NANO), "2020-08-14T11:50:26.371Z");
        assert_eq!(
            format_go(&t, "2006-01-02 15:04:05.000000"),
            "2020-08-14 11:50:26.371000"
        );
        assert_eq!(
            format_go(&t, "Mon Jan _2 3:04PM -0700 MST"),
            "Fri Aug 14 11:50AM +0000 UTC"
        );
        let t = ts("2020-08-14T11:45:26.371+01:00");
        assert_eq!(format_go(&t, RFC3339_NANO), "2020-08-14T11:45:26.371+01:00");
    }

    #[test]
    fn layouts_parse() {
        assert_eq!(
            parse_go("2020-Aug-14", "2006-Jan-02").unwrap(),
            ts("2020-08-14T00:00:00Z")
        );
        assert_eq!(
            parse_go(
                "Aug 14, 2020 at 5:54am (UTC)",
                "Jan 2, 2006 at 3:04pm (MST)"
            )
            .unwrap(),
            ts("2020-08-14T05:54:00Z")
        );
        assert_eq!(
            parse_go("2020-08-14T11:45:26.371+01:00", RFC3339_NANO).unwrap(),
            ts("2020-08-14T11:45:26.371+01:00")
        );
        assert_eq!(
            parse_go("2020-08-14T11:45:26Z", "2006-01-02T15:04:05Z07:00").unwrap(),
            ts("2020-08-14T11:45:26Z")
        );
        assert!(parse_go("2020-08-14x", "2006-01-02").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_go_duration("50us").unwrap(), 50_000);
        assert_eq!(parse_go_duration("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_go_duration("-1.5s").unwrap(), -1_500_000_000);
        assert!(parse_go_duration("5").is_err());
        let p = parse_iso8601_period("P1Y2M3DT4H5M6S").unwrap();
        assert_eq!(p.days, 3.0);
        assert_eq!(
            parse_iso8601_period("PT1H").unwrap().approx_nanos(),
            3_600_000_000_000
        );
    }

    #[test]
    fn strftime_round_trip() {
        let t = ts("2020-08-14T11:45:26.371+01:00");
        assert_eq!(
            format_strftime(&t, "%Y-%b-%d %H:%M:%S").unwrap(),
            "2020-Aug-14 11:45:26"
        );
        assert_eq!(format_strftime(&t, "%f").unwrap(), "371000");
        assert_eq!(
            parse_strptime("2020-Aug-14 11:45:26", "%Y-%b-%d %H:%M:%S").unwrap(),
            ts("2020-08-14T11:45:26Z")
        );
    }
}
