//! Standard library: number manipulation and the numeric type coercions (`number`, `bool`,
//! `int8`…`uint64`, `float32`, `float64`).

use super::coerce::{as_array, as_f64, as_str, int_if_integral, parse_number};
use super::{MethodSpec, Param, Type};
use crate::error::EvalError;
use crate::interp::Call;
use crate::value::Value;

/// Declares a pure method.
macro_rules! m {
    ($name:expr, [$($p:expr),*], $ret:ident, $imp:expr) => {
        MethodSpec { name: $name, params: &[$($p),*], returns: Type::$ret, pure: true, imp: $imp }
    };
}

/// The methods of this family.
pub static METHODS: &[MethodSpec] = &[
    m!("number", [Param::opt("default")], Number, number),
    m!("bool", [Param::opt("default")], Bool, to_bool),
    m!("not", [], Bool, |_, v| match v {
        Value::Bool(b) => Ok(Value::Bool(!b)),
        other => Err(EvalError::expected("bool", &other)),
    }),
    m!("abs", [], Number, |_, v| match v {
        Value::Int(i) => Ok(Value::Int(i.wrapping_abs())),
        v => Ok(Value::Float(as_f64(&v)?.abs())),
    }),
    m!("ceil", [], Number, |_, v| round_with(v, f64::ceil)),
    m!("floor", [], Number, |_, v| round_with(v, f64::floor)),
    m!("round", [], Number, |_, v| round_with(v, f64::round)),
    m!("cos", [], Number, |_, v| Ok(Value::Float(
        as_f64(&v)?.cos()
    ))),
    m!("sin", [], Number, |_, v| Ok(Value::Float(
        as_f64(&v)?.sin()
    ))),
    m!("tan", [], Number, |_, v| Ok(Value::Float(
        as_f64(&v)?.tan()
    ))),
    m!("log", [], Number, |_, v| Ok(Value::Float(as_f64(&v)?.ln()))),
    m!("log10", [], Number, |_, v| Ok(Value::Float(
        as_f64(&v)?.log10()
    ))),
    m!("pow", [Param::req("exponent")], Number, |c, v| {
        let e = c.float(0)?;
        Ok(Value::Float(as_f64(&v)?.powf(e)))
    }),
    m!("max", [], Number, |_, v| extreme(v, |a, b| b > a)),
    m!("min", [], Number, |_, v| extreme(v, |a, b| b < a)),
    m!(
        "bitwise_and",
        [Param::req("value")],
        Number,
        |c, v| bitwise(c, v, |a, b| a & b)
    ),
    m!("bitwise_or", [Param::req("value")], Number, |c, v| bitwise(
        c,
        v,
        |a, b| a | b
    )),
    m!(
        "bitwise_xor",
        [Param::req("value")],
        Number,
        |c, v| bitwise(c, v, |a, b| a ^ b)
    ),
    m!("int8", [], Number, |_, v| to_int(
        v,
        IntKind {
            name: "int8",
            min: i8::MIN as i128,
            max: i8::MAX as i128
        }
    )),
    m!("int16", [], Number, |_, v| to_int(
        v,
        IntKind {
            name: "int16",
            min: i16::MIN as i128,
            max: i16::MAX as i128
        }
    )),
    m!("int32", [], Number, |_, v| to_int(
        v,
        IntKind {
            name: "int32",
            min: i32::MIN as i128,
            max: i32::MAX as i128
        }
    )),
    m!("int64", [], Number, |_, v| to_int(
        v,
        IntKind {
            name: "int64",
            min: i64::MIN as i128,
            max: i64::MAX as i128
        }
    )),
    m!("uint8", [], Number, |_, v| to_int(
        v,
        IntKind {
            name: "uint8",
            min: 0,
            max: u8::MAX as i128
        }
    )),
    m!("uint16", [], Number, |_, v| to_int(
        v,
        IntKind {
            name: "uint16",
            min: 0,
            max: u16::MAX as i128
        }
    )),
    m!("uint32", [], Number, |_, v| to_int(
        v,
        IntKind {
            name: "uint32",
            min: 0,
            max: u32::MAX as i128
        }
    )),
    m!("uint64", [], Number, |_, v| to_int(
        v,
        IntKind {
            name: "uint64",
            min: 0,
            max: u64::MAX as i128
        }
    )),
    m!("float64", [], Number, |_, v| Ok(Value::Float(to_float(
        &v
    )?))),
    m!("float32", [], Number, |_, v| {
        let f = to_float(&v)? as f32;
        // Keep the shortest float32 digits, as the reference prints a float32.
        Ok(Value::Float(
            f.to_string().parse::<f64>().unwrap_or(f as f64),
        ))
    }),
];

fn number(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let parsed = match &v {
        Value::Int(_) | Value::Float(_) => Ok(v.clone()),
        Value::Str(_) | Value::Bytes(_) => {
            let s = as_str(&v)?;
            parse_number(s).ok_or_else(|| {
                EvalError::new(format!(
                    "strconv.ParseFloat: parsing \"{}\": invalid syntax",
                    s
                ))
            })
        }
        Value::Bool(b) => Ok(Value::Int(*b as i64)),
        Value::Timestamp(t) => Ok(Value::Int(t.timestamp())),
        other => Err(EvalError::expected("number", other)),
    };
    match (parsed, c.opt_value(0)?) {
        (Ok(n), _) => Ok(n),
        (Err(_), Some(d)) => Ok(d),
        (Err(e), None) => Err(e),
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn to_bool(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let parsed = match &v {
        Value::Bool(b) => Ok(*b),
        Value::Int(i) => Ok(*i != 0),
        Value::Float(f) => Ok(*f != 0.0),
        Value::Str(_) | Value::Bytes(_) => {
            let s = as_str(&v)?;
            parse_bool(s).ok_or_else(|| {
                EvalError::new(format!(
                    "strconv.ParseBool: parsing \"{}\": invalid syntax",
                    s
                ))
            })
        }
        other => Err(EvalError::expected("bool", other)),
    };
    match (parsed, c.opt_value(0)?) {
        (Ok(b), _) => Ok(Value::Bool(b)),
        (Err(_), Some(d)) => Ok(d),
        (Err(e), None) => Err(e),
    }
}

fn round_with(v: Value, f: fn(f64) -> f64) -> Result<Value, EvalError> {
    match v {
        Value::Int(i) => Ok(Value::Int(i)),
        v => Ok(int_if_integral(f(as_f64(&v)?))),
    }
}

fn extreme(v: Value, better: fn(f64, f64) -> bool) -> Result<Value, EvalError> {
    let items = as_array(&v)?;
    let mut best: Option<f64> = None;
    for i in items {
        let f = as_f64(i)?;
        if best.is_none_or(|b| better(b, f)) {
            best = Some(f);
        }
    }
    best.map(Value::Float)
        .ok_or_else(|| EvalError::new("the array was empty"))
}

fn bitwise(c: &mut Call, v: Value, op: fn(i64, i64) -> i64) -> Result<Value, EvalError> {
    let rhs = c.value(0)?;
    let (a, b) = (int_operand(&v)?, int_operand(&rhs)?);
    Ok(Value::Int(op(a, b)))
}

fn int_operand(v: &Value) -> Result<i64, EvalError> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Float(f) if f.fract() == 0.0 => Ok(*f as i64),
        other => Err(EvalError::expected("integer", other)),
    }
}

/// The range and name of a fixed-width integer type.
#[derive(Clone, Copy)]
struct IntKind {
    name: &'static str,
    min: i128,
    max: i128,
}

/// Parses an integer the way Go's `strconv.ParseInt(s, 0, 64)` does: optional sign, and a
/// `0x`, `0o`, `0b` or leading-`0` (octal) base prefix; underscores allowed with a prefix.
pub fn parse_go_int(s: &str) -> Option<i128> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.replace('_', ""))
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.replace('_', ""))
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.replace('_', ""))
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].replace('_', ""))
    } else {
        (10, lower.clone())
    };
    if digits.is_empty() || digits.starts_with('+') || digits.starts_with('-') {
        return None;
    }
    let n = i128::from_str_radix(&digits, radix).ok()?;
    Some(if neg { -n } else { n })
}

fn to_int(v: Value, kind: IntKind) -> Result<Value, EvalError> {
    let n: i128 = match &v {
        Value::Int(i) => *i as i128,
        Value::Float(f) => {
            if f.fract() != 0.0 || !f.is_finite() {
                return Err(EvalError::new(format!(
                    "cannot convert non-integer float {} to {}",
                    v.to_json_string(),
                    kind.name
                )));
            }
            *f as i128
        }
        Value::Str(_) | Value::Bytes(_) => {
            let s = as_str(&v)?;
            parse_go_int(s).ok_or_else(|| {
                EvalError::new(format!(
                    "strconv.ParseInt: parsing \"{}\": invalid syntax",
                    s
                ))
            })?
        }
        other => return Err(EvalError::expected("number", other)),
    };
    if n < kind.min || n > kind.max {
        return Err(EvalError::new(format!(
            "value {} does not fit into {}",
            n, kind.name
        )));
    }
    if n > i64::MAX as i128 {
        // uint64 above int64: the value model has no unsigned integers.
        return Ok(Value::Float(n as f64));
    }
    Ok(Value::Int(n as i64))
}

fn to_float(v: &Value) -> Result<f64, EvalError> {
    match v {
        Value::Int(_) | Value::Float(_) => as_f64(v),
        Value::Str(_) | Value::Bytes(_) => {
            let s = as_str(v)?;
            s.trim().parse::<f64>().map_err(|_| {
                EvalError::new(format!(
                    "strconv.ParseFloat: parsing \"{}\": invalid syntax",
                    s
                ))
            })
        }
        other => Err(EvalError::expected("number", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_int_prefixes() {
        assert_eq!(parse_go_int("0xDEADBEEF"), Some(3735928559));
        assert_eq!(parse_go_int("-12"), Some(-12));
        assert_eq!(parse_go_int("0b101"), Some(5));
        assert_eq!(parse_go_int("017"), Some(15));
        assert_eq!(parse_go_int("0"), Some(0));
        assert_eq!(parse_go_int("abc"), None);
    }

    #[test]
    fn int_ranges() {
        let u8k = IntKind {
            name: "uint8",
            min: 0,
            max: 255,
        };
        assert!(to_int(Value::Int(-12), u8k).is_err());
        assert_eq!(to_int(Value::str("0xD"), u8k).unwrap(), Value::Int(13));
        assert!(to_int(Value::Float(12.5), u8k).is_err());
        assert_eq!(to_int(Value::Float(12.0), u8k).unwrap(), Value::Int(12));
    }
}
