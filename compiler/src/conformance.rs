//! The Bloblang conformance runner: runs `.jsonl` case files (format in
//! `shared/conformance/README.md`) against the interpreter and reports what failed.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::interp::{Mapping, MappingOutcome, Message};
use crate::value::Value;

/// One conformance case.
#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    /// Unique name.
    pub id: String,
    /// The mapping text.
    pub mapping: String,
    /// The input payload.
    #[serde(default)]
    pub input: String,
    /// Metadata on the input message.
    #[serde(default)]
    pub input_metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Expected output payload.
    #[serde(default)]
    pub output: Option<String>,
    /// Expected error (the mapping must fail).
    #[serde(default)]
    pub error: Option<String>,
    /// The mapping must delete the message.
    #[serde(default)]
    pub deleted: bool,
    /// Exact expected metadata.
    #[serde(default)]
    pub output_metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// `exact` or `json`.
    #[serde(default)]
    pub compare: Option<String>,
    /// Cases of one group share one compiled mapping.
    #[serde(default)]
    pub group: Option<String>,
    /// Order within the group.
    #[serde(default)]
    pub seq: Option<i64>,
}

/// The result of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case id.
    pub id: String,
    /// `None` when it passed, else why it failed.
    pub failure: Option<String>,
}

/// Parses a `.jsonl` file's text into cases; bad lines are reported as failures by id
/// `<line N>`.
pub fn parse_cases(text: &str) -> (Vec<Case>, Vec<CaseResult>) {
    let mut cases = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Case>(line) {
            Ok(c) => cases.push(c),
            Err(e) => bad.push(CaseResult {
                id: format!("<line {}>", i + 1),
                failure: Some(e.to_string()),
            }),
        }
    }
    (cases, bad)
}

/// Runs cases: grouped cases in `seq` order against one compiled mapping, the others alone.
pub fn run_cases(cases: &[Case]) -> Vec<CaseResult> {
    let mut groups: BTreeMap<String, Vec<&Case>> = BTreeMap::new();
    let mut singles = Vec::new();
    for c in cases {
        match &c.group {
            Some(g) => groups.entry(g.clone()).or_default().push(c),
            None => singles.push(c),
        }
    }
    let mut out = Vec::new();
    for c in singles {
        let m = Mapping::compile(&c.mapping);
        out.push(run_one(c, m.as_ref().map_err(|e| e.render())));
    }
    for (_, mut g) in groups {
        g.sort_by_key(|c| c.seq.unwrap_or(0));
        let m = Mapping::compile(&g[0].mapping);
        let first = g[0].mapping.clone();
        for c in g {
            if c.mapping == first {
                out.push(run_one(c, m.as_ref().map_err(|e| e.render())));
            } else {
                let own = Mapping::compile(&c.mapping);
                out.push(run_one(c, own.as_ref().map_err(|e| e.render())));
            }
        }
    }
    out
}

fn run_one(c: &Case, m: Result<&Mapping, String>) -> CaseResult {
    let fail = |why: String| CaseResult {
        id: c.id.clone(),
        failure: Some(why),
    };
    let m = match m {
        Ok(m) => m,
        Err(e) => {
            return if c.error.is_some() {
                CaseResult {
                    id: c.id.clone(),
                    failure: None,
                }
            } else {
                fail(format!("compile error: {}", e))
            }
        }
    };
    let mut msg = Message::new(c.input.clone().into_bytes());
    if let Some(md) = &c.input_metadata {
        for (k, v) in md {
            msg.metadata.insert(k.clone(), Value::from_serde(v.clone()));
        }
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.run(&msg)));
    let result = match result {
        Ok(r) => r,
        Err(_) => return fail("panicked".into()),
    };
    match (result, &c.error) {
        (Err(_), Some(_)) => CaseResult {
            id: c.id.clone(),
            failure: None,
        },
        (Err(e), None) => fail(format!("error: {}", e)),
        (Ok(_), Some(want)) => fail(format!("expected error {:?}, got success", want)),
        (Ok(MappingOutcome::Deleted), None) => {
            if c.deleted {
                CaseResult {
                    id: c.id.clone(),
                    failure: None,
                }
            } else {
                fail("message was deleted".into())
            }
        }
        (Ok(MappingOutcome::Message(out)), None) => {
            if c.deleted {
                return fail("expected the message to be deleted".into());
            }
            let got = String::from_utf8_lossy(&out.payload).into_owned();
            let want = c.output.clone().unwrap_or_default();
            let equal = if c.compare.as_deref() == Some("json") {
                match (
                    Value::from_json_slice(got.as_bytes()),
                    Value::from_json_slice(want.as_bytes()),
                ) {
                    (Ok(a), Ok(b)) => a == b,
                    _ => got == want,
                }
            } else {
                got == want
            };
            if !equal {
                return fail(format!("output {:?}, expected {:?}", got, want));
            }
            if let Some(md) = &c.output_metadata {
                let want: crate::value::Object = md
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from_serde(v.clone())))
                    .collect();
                if want != out.metadata {
                    return fail(format!(
                        "metadata {}, expected {}",
                        Value::Object(out.metadata.clone()).to_json_string(),
                        Value::Object(want).to_json_string()
                    ));
                }
            }
            CaseResult {
                id: c.id.clone(),
                failure: None,
            }
        }
    }
}
