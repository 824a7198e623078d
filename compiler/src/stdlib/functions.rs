//! Functions (`name(args)`) and the general methods that drive evaluation (`apply`,
//! `bloblang`, `type`, `not_null`).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use super::{Default, FunctionSpec, MethodSpec, Param, Type};
use crate::error::EvalError;
use crate::interp::Call;
use crate::value::Value;

/// Every function.
pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "deleted",
        params: &[],
        returns: Type::Any,
        pure: false,
        imp: |_| Ok(Value::Deleted),
    },
    FunctionSpec {
        name: "nothing",
        params: &[],
        returns: Type::Any,
        pure: false,
        imp: |_| Ok(Value::Nothing),
    },
    FunctionSpec {
        name: "throw",
        params: &[Param::req("why")],
        returns: Type::Any,
        pure: false,
        imp: throw,
    },
    FunctionSpec {
        name: "content",
        params: &[],
        returns: Type::Bytes,
        pure: false,
        imp: content,
    },
    FunctionSpec {
        name: "json",
        params: &[Param::opt("path")],
        returns: Type::Any,
        pure: false,
        imp: json,
    },
    FunctionSpec {
        name: "meta",
        params: &[Param::req("key")],
        returns: Type::Any,
        pure: false,
        imp: meta,
    },
    FunctionSpec {
        name: "root_meta",
        params: &[Param::req("key")],
        returns: Type::Any,
        pure: false,
        imp: root_meta,
    },
    FunctionSpec {
        name: "metadata",
        params: &[Param::opt("key")],
        returns: Type::Any,
        pure: false,
        imp: metadata,
    },
    FunctionSpec {
        name: "var",
        params: &[Param::req("name")],
        returns: Type::Any,
        pure: false,
        imp: var,
    },
    FunctionSpec {
        name: "error",
        params: &[],
        returns: Type::Any,
        pure: false,
        imp: error,
    },
    FunctionSpec {
        name: "errored",
        params: &[],
        returns: Type::Bool,
        pure: false,
        imp: |c| Ok(Value::Bool(c.input().error.is_some())),
    },
    FunctionSpec {
        name: "error_source_label",
        params: &[],
        returns: Type::Str,
        pure: false,
        imp: |_| Ok(Value::Str(String::new())),
    },
    FunctionSpec {
        name: "error_source_name",
        params: &[],
        returns: Type::Str,
        pure: false,
        imp: |_| Ok(Value::Str(String::new())),
    },
    FunctionSpec {
        name: "error_source_path",
        params: &[],
        returns: Type::Str,
        pure: false,
        imp: |_| Ok(Value::Str(String::new())),
    },
    FunctionSpec {
        name: "batch_index",
        params: &[],
        returns: Type::Number,
        pure: false,
        imp: |_| Ok(Value::Int(crate::batch::position().0 as i64)),
    },
    FunctionSpec {
        name: "batch_size",
        params: &[],
        returns: Type::Number,
        pure: false,
        imp: |_| Ok(Value::Int(crate::batch::position().1 as i64)),
    },
    FunctionSpec {
        name: "counter",
        params: &[
            Param::def("min", Default::Int(1)),
            Param::def("max", Default::Int(i64::MAX)),
            Param::opt("set"),
        ],
        returns: Type::Number,
        pure: false,
        imp: counter,
    },
    FunctionSpec {
        name: "count",
        params: &[Param::req("name")],
        returns: Type::Number,
        pure: false,
        imp: count,
    },
    FunctionSpec {
        name: "range",
        params: &[
            Param::req("start"),
            Param::req("stop"),
            Param::def("step", Default::Int(1)),
        ],
        returns: Type::Array,
        pure: true,
        imp: range,
    },
    FunctionSpec {
        name: "pi",
        params: &[],
        returns: Type::Number,
        pure: true,
        imp: |_| Ok(Value::Float(std::f64::consts::PI)),
    },
];

/// The general methods that need the evaluator itself.
pub static METHODS: &[MethodSpec] = &[
    MethodSpec {
        name: "apply",
        params: &[Param::req("mapping")],
        returns: Type::Any,
        pure: false,
        imp: apply,
    },
    MethodSpec {
        name: "bloblang",
        params: &[Param::req("mapping")],
        returns: Type::Any,
        pure: false,
        imp: bloblang,
    },
    MethodSpec {
        name: "type",
        params: &[],
        returns: Type::Str,
        pure: true,
        imp: |_, v| Ok(Value::str(v.type_name())),
    },
    MethodSpec {
        name: "not_null",
        params: &[],
        returns: Type::Any,
        pure: true,
        imp: not_null,
    },
    MethodSpec {
        name: "map",
        params: &[Param::query("query")],
        returns: Type::Any,
        pure: true,
        imp: |c, v| c.apply(0, &v),
    },
];

fn throw(c: &mut Call) -> Result<Value, EvalError> {
    Err(EvalError::new(c.string(0)?))
}

fn content(c: &mut Call) -> Result<Value, EvalError> {
    Ok(Value::Bytes(c.input().payload.clone()))
}

fn json(c: &mut Call) -> Result<Value, EvalError> {
    let doc = c.input_doc()?.clone();
    match c.opt_value(0)? {
        None => Ok(doc),
        Some(Value::Str(p)) if p.is_empty() => Ok(doc),
        Some(Value::Str(p)) => {
            let path: Vec<String> = p.split('.').map(str::to_string).collect();
            Ok(crate::interp::get_path(&doc, &path)
                .cloned()
                .unwrap_or(Value::Null))
        }
        Some(other) => Err(EvalError::expected("string", &other)),
    }
}

fn meta(c: &mut Call) -> Result<Value, EvalError> {
    let key = c.string(0)?;
    Ok(match c.input().metadata.get(&key) {
        Some(v) => Value::Str(v.to_display_string()),
        None => Value::Null,
    })
}

fn root_meta(c: &mut Call) -> Result<Value, EvalError> {
    let key = c.string(0)?;
    Ok(match c.metadata().get(&key) {
        Some(v) => Value::Str(v.to_display_string()),
        None => Value::Null,
    })
}

fn metadata(c: &mut Call) -> Result<Value, EvalError> {
    match c.opt_value(0)? {
        None => Ok(Value::Object(c.input().metadata.clone())),
        Some(Value::Str(k)) => Ok(c.input().metadata.get(&k).cloned().unwrap_or(Value::Null)),
        Some(other) => Err(EvalError::expected("string", &other)),
    }
}

fn var(c: &mut Call) -> Result<Value, EvalError> {
    let name = c.string(0)?;
    c.var(&name)
        .cloned()
        .ok_or_else(|| EvalError::new(format!("variable '{}' undefined", name)))
}

fn error(c: &mut Call) -> Result<Value, EvalError> {
    Ok(c.input()
        .error
        .clone()
        .map(Value::Str)
        .unwrap_or(Value::Null))
}

fn counter(c: &mut Call) -> Result<Value, EvalError> {
    let min = c.int(0)?;
    let max = c.int(1)?;
    // `set`: nothing → increment, null → read without incrementing, a number → reset to it.
    let set = c.value(2)?;
    let mut state = c.site().lock().unwrap_or_else(|p| p.into_inner());
    let next = match (&set, &*state) {
        (Value::Nothing, Value::Int(cur)) if *cur >= max => min,
        (Value::Nothing, Value::Int(cur)) => cur + 1,
        (Value::Nothing, _) => min,
        (Value::Null, Value::Int(cur)) => *cur,
        (Value::Null, _) => min - 1,
        (v, _) => match v.as_f64() {
            Some(f) => f as i64,
            None => return Err(EvalError::expected("number", v)),
        },
    };
    *state = Value::Int(next);
    Ok(Value::Int(next))
}

fn count(c: &mut Call) -> Result<Value, EvalError> {
    static COUNTERS: OnceLock<Mutex<HashMap<String, i64>>> = OnceLock::new();
    let name = c.string(0)?;
    let mut m = COUNTERS
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let n = m.entry(name).or_insert(0);
    *n += 1;
    Ok(Value::Int(*n))
}

fn range(c: &mut Call) -> Result<Value, EvalError> {
    let (start, stop, step) = (c.int(0)?, c.int(1)?, c.int(2)?);
    if step == 0 {
        return Err(EvalError::new("step must be greater than or less than 0"));
    }
    if (step > 0 && start > stop) || (step < 0 && start < stop) {
        return Err(EvalError::new(format!(
            "with positive step arg start ({}) must be < stop ({})",
            start, stop
        )));
    }
    let span = (i128::from(stop) - i128::from(start)).unsigned_abs();
    let count = span.div_ceil(i128::from(step).unsigned_abs());
    crate::limits::reserve_items(
        usize::try_from(count).unwrap_or(usize::MAX),
        std::mem::size_of::<Value>(),
    )?;
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        out.push(Value::Int(i));
        if out.len() > 10_000_000 {
            return Err(EvalError::new("range is too large"));
        }
        i += step;
    }
    Ok(Value::Array(out))
}

fn apply(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let name = c.string(0)?;
    c.apply_map(&name, &v)
}

fn bloblang(c: &mut Call, v: Value) -> Result<Value, EvalError> {
    let src = c.string(0)?;
    // Dynamic mappings run on the interpreter: compiling native code per message costs more
    // than it saves, and the interpreter checks the evaluation limits at every step. Their
    // text comes from a message, so functions that read the host are unavailable.
    let m = crate::Mapping::compile_untrusted(&src)
        .map_err(|e| EvalError::new(format!("failed to parse mapping: {}", e)))?;
    let out = m.run_on_value(&v)?;
    crate::limits::check_depth(&out)?;
    Ok(out)
}

fn not_null(_c: &mut Call, v: Value) -> Result<Value, EvalError> {
    match v {
        Value::Null => Err(EvalError::new("value is null")),
        v => Ok(v),
    }
}
