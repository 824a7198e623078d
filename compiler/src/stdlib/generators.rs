//! Standard library: impure functions: the environment (`env`, `file`, `hostname`), the
//! clock (`now`, `timestamp_unix*`), random identifiers (`uuid_v4`, `uuid_v7`, `ulid`,
//! `ksuid`, `nanoid`, `snowflake_id`, `random_int`), `bytes`, `fake` data and tracing.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{Local, Utc};
use rand::Rng;

use super::coerce::{as_i64, bytes_value};
use super::{Default, FunctionSpec, Param, Type};
use crate::error::EvalError;
use crate::interp::Call;
use crate::value::Value;

/// Declares an impure function.
macro_rules! f {
    ($name:expr, [$($p:expr),*], $ret:ident, $imp:expr) => {
        FunctionSpec { name: $name, params: &[$($p),*], returns: Type::$ret, pure: false, imp: $imp }
    };
}

/// The functions of this family.
pub static FUNCTIONS: &[FunctionSpec] = &[
    f!(
        "env",
        [
            Param::req("name"),
            Param::def("no_cache", Default::Bool(false))
        ],
        Any,
        |c| {
            let name = c.string(0)?;
            Ok(std::env::var(name).map(Value::Str).unwrap_or(Value::Null))
        }
    ),
    f!(
        "file",
        [
            Param::req("path"),
            Param::def("no_cache", Default::Bool(false))
        ],
        Bytes,
        read_file
    ),
    f!(
        "file_rel",
        [
            Param::req("path"),
            Param::def("no_cache", Default::Bool(false))
        ],
        Bytes,
        read_file
    ),
    f!("hostname", [], Str, |_| {
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .map(|s| s.trim().to_string())
            .or_else(|_| std::env::var("HOSTNAME"))
            .map_err(|e| EvalError::new(format!("failed to read hostname: {}", e)))?;
        Ok(Value::Str(name))
    }),
    f!("now", [], Str, |_| Ok(Value::Str(super::time::format_go(
        &Local::now().fixed_offset(),
        super::time::RFC3339_NANO
    )))),
    f!("timestamp_unix", [], Number, |_| Ok(Value::Int(
        Utc::now().timestamp()
    ))),
    f!("timestamp_unix_milli", [], Number, |_| Ok(Value::Int(
        Utc::now().timestamp_millis()
    ))),
    f!("timestamp_unix_micro", [], Number, |_| Ok(Value::Int(
        Utc::now().timestamp_micros()
    ))),
    f!("timestamp_unix_nano", [], Number, |_| Ok(Value::Int(
        Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
    ))),
    f!("bytes", [Param::req("length")], Bytes, |c| {
        let n = c.int(0)?;
        if n < 0 {
            return Err(EvalError::new("length must be a non-negative integer"));
        }
        crate::limits::reserve(n as usize)?;
        Ok(bytes_value(vec![0; n as usize]))
    }),
    f!("uuid_v4", [], Str, |_| Ok(Value::Str(
        uuid::Uuid::new_v4().to_string()
    ))),
    f!("uuid_v7", [Param::opt("time")], Str, uuid_v7),
    f!(
        "ulid",
        [
            Param::def("encoding", Default::Str("crockford")),
            Param::def("random_source", Default::Str("secure_random"))
        ],
        Str,
        ulid
    ),
    f!("ksuid", [], Str, |_| Ok(Value::Str(ksuid()))),
    f!(
        "nanoid",
        [
            Param::def("length", Default::Int(21)),
            Param::opt("alphabet")
        ],
        Str,
        nanoid
    ),
    f!(
        "snowflake_id",
        [Param::def("node_id", Default::Int(1))],
        Number,
        snowflake_id
    ),
    f!(
        "random_int",
        [
            Param::opt("seed"),
            Param::def("min", Default::Int(0)),
            Param::def("max", Default::Int(i64::MAX - 1))
        ],
        Number,
        random_int
    ),
    f!(
        "fake",
        [Param::def("function", Default::Str(""))],
        Str,
        fake
    ),
    f!("tracing_id", [], Str, |_| Ok(Value::str(""))),
    f!("tracing_span", [], Any, |_| Ok(Value::Null)),
];

fn read_file(c: &mut Call) -> Result<Value, EvalError> {
    let path = c.string(0)?;
    std::fs::read(&path)
        .map(bytes_value)
        .map_err(|e| EvalError::new(format!("failed to read file {}: {}", path, e)))
}

fn uuid_v7(c: &mut Call) -> Result<Value, EvalError> {
    let id = match c.opt_value(0)? {
        None => uuid::Uuid::now_v7(),
        Some(t) => {
            let t = super::time::to_timestamp(&t)?;
            let ts = uuid::Timestamp::from_unix(
                uuid::NoContext,
                t.timestamp() as u64,
                t.timestamp_subsec_nanos(),
            );
            uuid::Uuid::new_v7(ts)
        }
    };
    Ok(Value::Str(id.to_string()))
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Encodes a 128-bit value as 26 Crockford base32 characters.
fn crockford(mut n: u128) -> String {
    let mut out = [0u8; 26];
    for c in out.iter_mut().rev() {
        *c = CROCKFORD[(n & 31) as usize];
        n >>= 5;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn ulid(c: &mut Call) -> Result<Value, EvalError> {
    let encoding = c.string(0)?;
    let source = c.string(1)?;
    if !matches!(source.as_str(), "secure_random" | "fast_random") {
        return Err(EvalError::new(format!("invalid random source: {}", source)));
    }
    let ms = Utc::now().timestamp_millis() as u128 & ((1 << 48) - 1);
    let rand: u128 = rand::thread_rng().gen::<u128>() & ((1 << 80) - 1);
    let n = (ms << 80) | rand;
    match encoding.as_str() {
        "crockford" => Ok(Value::Str(crockford(n))),
        "hex" => Ok(Value::Str(format!("{:032x}", n))),
        other => Err(EvalError::new(format!("invalid ulid encoding: {}", other))),
    }
}

fn ksuid() -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let ts = (Utc::now().timestamp() - 1_400_000_000).max(0) as u32;
    let mut bytes = [0u8; 20];
    bytes[..4].copy_from_slice(&ts.to_be_bytes());
    rand::thread_rng().fill(&mut bytes[4..]);
    // Base62 of the 160-bit number, left-padded to 27 characters.
    let mut digits = bytes.to_vec();
    let mut out = Vec::new();
    while digits.iter().any(|&d| d != 0) {
        let mut rem = 0u32;
        for d in digits.iter_mut() {
            let acc = rem * 256 + *d as u32;
            *d = (acc / 62) as u8;
            rem = acc % 62;
        }
        out.push(BASE62[rem as usize]);
    }
    while out.len() < 27 {
        out.push(b'0');
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

fn nanoid(c: &mut Call) -> Result<Value, EvalError> {
    let len = c.int(0)?;
    let alphabet: Vec<char> = match c.opt_value(1)? {
        Some(a) => super::coerce::as_str(&a)?.chars().collect(),
        None => "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
            .chars()
            .collect(),
    };
    if len <= 0 || alphabet.is_empty() || alphabet.len() > 255 {
        return Err(EvalError::new("nanoid: invalid length or alphabet"));
    }
    let mut rng = rand::thread_rng();
    Ok(Value::Str(
        (0..len)
            .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
            .collect(),
    ))
}

fn snowflake_id(c: &mut Call) -> Result<Value, EvalError> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let node = c.int(0)?;
    if !(0..1024).contains(&node) {
        return Err(EvalError::new("node_id must be between 0 and 1023"));
    }
    const EPOCH_MS: i64 = 1_288_834_974_657;
    let ms = (Utc::now().timestamp_millis() - EPOCH_MS).max(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed) & 0xfff;
    Ok(Value::Int((ms << 22) | (node << 12) | seq as i64))
}

/// One step of SplitMix64, for seeded `random_int` sequences.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn random_int(c: &mut Call) -> Result<Value, EvalError> {
    let seed = c.opt_value(0)?;
    let (min, max) = (c.int(1)?, c.int(2)?);
    if min > max {
        return Err(EvalError::new(format!(
            "min ({}) must be less than or equal to max ({})",
            min, max
        )));
    }
    let span = (max as i128 - min as i128 + 1) as u128;
    let r: u64 = match seed {
        None => rand::thread_rng().gen(),
        Some(s) => {
            // A seeded generator per call site: the same seed gives the same sequence.
            let seed = as_i64(&s)? as u64;
            let mut state = c.site().lock().unwrap_or_else(|p| p.into_inner());
            let mut cur = match &*state {
                Value::Int(i) => *i as u64,
                _ => seed,
            };
            let r = splitmix(&mut cur);
            *state = Value::Int(cur as i64);
            r
        }
    };
    Ok(Value::Int(
        (min as i128 + (r as u128 % span) as i128) as i64,
    ))
}

const FIRST_NAMES: &[&str] = &[
    "Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy",
];
const LAST_NAMES: &[&str] = &[
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
];
const WORDS: &[&str] = &[
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
];
const DOMAINS: &[&str] = &["example.com", "example.org", "example.net"];

fn fake(c: &mut Call) -> Result<Value, EvalError> {
    let what = c.string(0)?;
    let mut rng = rand::thread_rng();
    let mut pick = |list: &[&'static str]| list[rng.gen_range(0..list.len())];
    let first = pick(FIRST_NAMES);
    let last = pick(LAST_NAMES);
    let word = pick(WORDS);
    let domain = pick(DOMAINS);
    let mut rng = rand::thread_rng();
    let s = match what.as_str() {
        "" | "name" => format!("{} {}", first, last),
        "first_name" => first.to_string(),
        "last_name" => last.to_string(),
        "email" => format!(
            "{}.{}@{}",
            first.to_lowercase(),
            last.to_lowercase(),
            domain
        ),
        "username" | "user_name" => format!("{}{}", first.to_lowercase(), rng.gen_range(1..1000)),
        "domain_name" => domain.to_string(),
        "url" => format!("https://{}/{}", domain, word),
        "ipv4" => format!(
            "{}.{}.{}.{}",
            rng.gen_range(1..255),
            rng.gen::<u8>(),
            rng.gen::<u8>(),
            rng.gen_range(1..255)
        ),
        "ipv6" => (0..8)
            .map(|_| format!("{:x}", rng.gen::<u16>()))
            .collect::<Vec<_>>()
            .join(":"),
        "phone_number" => format!(
            "{:03}-{:03}-{:04}",
            rng.gen_range(200..999),
            rng.gen_range(100..999),
            rng.gen_range(0..10000)
        ),
        "uuid_digit" | "uuid_hyphenated" | "uuid" => uuid::Uuid::new_v4().to_string(),
        "word" => word.to_string(),
        "sentence" => {
            let mut s = (0..6)
                .map(|_| WORDS[rng.gen_range(0..WORDS.len())])
                .collect::<Vec<_>>()
                .join(" ");
            if let Some(f) = s.get_mut(0..1) {
                f.make_ascii_uppercase();
            }
            format!("{}.", s)
        }
        "unix_time" => Utc::now().timestamp().to_string(),
        "date" => Utc::now().format("%Y-%m-%d").to_string(),
        other => return Err(EvalError::new(format!("unknown fake function: {}", other))),
    };
    Ok(Value::Str(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_their_shapes() {
        assert_eq!(ksuid().len(), 27);
        assert_eq!(crockford(0).len(), 26);
        assert_eq!(crockford(31), "0000000000000000000000000Z");
    }

    #[test]
    fn seeded_sequences_repeat() {
        let (mut a, mut b) = (7u64, 7u64);
        assert_eq!(splitmix(&mut a), splitmix(&mut b));
    }
}
