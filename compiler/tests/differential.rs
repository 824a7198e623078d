//! Differential tests: the JIT back end must agree with the reference interpreter.
//!
//! - every conformance case runs on both back ends (the JIT must compile every one of them,
//!   with no fallback) and must give the same payload, metadata, deletion or error;
//! - a generator of random well-formed mappings (paths, arithmetic, comparisons, logic,
//!   `if`/`match`, `.or`/`.catch`/`|`, lambdas, method calls, literals, variables, metadata)
//!   runs each against random JSON documents on both back ends, thousands of cases per run.

use std::path::PathBuf;

use proptest::prelude::*;
use sluice_compiler::conformance::parse_cases;
use sluice_compiler::{Backend, Mapping, Message, Value};

use sluice_compiler::interp::outcome_text as observe;

fn both(src: &str) -> Option<(Mapping, Mapping)> {
    let interp = Mapping::compile_with(src, Backend::Interpreter);
    let jit = Mapping::compile_with(src, Backend::Jit);
    match (interp, jit) {
        (Ok(i), Ok(j)) => {
            assert_eq!(
                j.backend(),
                Backend::Jit,
                "the JIT fell back on {:?}: {:?}",
                src,
                j.jit_fallback()
            );
            Some((i, j))
        }
        (Err(a), Err(b)) => {
            assert_eq!(a.to_string(), b.to_string(), "{}", src);
            None
        }
        (a, b) => panic!(
            "compile results differ for {:?}: {:?} / {:?}",
            src,
            a.err(),
            b.err()
        ),
    }
}

#[test]
fn every_conformance_case_agrees_on_both_back_ends() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("../../shared/conformance/bloblang/cases.jsonl"))
        .expect("shared/ must sit beside the repository");
    let (mut cases, bad) = parse_cases(&text);
    assert!(bad.is_empty());
    // Grouped cases share state (e.g. `counter()`): run them in order on one mapping each.
    cases.sort_by(|a, b| (&a.group, a.seq).cmp(&(&b.group, b.seq)));
    let mut compiled: Option<(String, Mapping, Mapping, Mapping)> = None;
    let mut checked = 0;
    for c in &cases {
        let reuse =
            c.group.is_some() && compiled.as_ref().is_some_and(|(src, ..)| *src == c.mapping);
        if !reuse {
            compiled = both(&c.mapping).map(|(i, j)| {
                let again = Mapping::compile_with(&c.mapping, Backend::Interpreter).unwrap();
                (c.mapping.clone(), i, j, again)
            });
        }
        let Some((_, interp, jit, again)) = &compiled else {
            continue;
        };
        let mut msg = Message::new(c.input.clone().into_bytes());
        if let Some(md) = &c.input_metadata {
            for (k, v) in md {
                msg.metadata.insert(k.clone(), Value::from_serde(v.clone()));
            }
        }
        let want = observe(interp.run(&msg));
        let got = observe(jit.run(&msg));
        // Non-deterministic functions (uuids, now(), random) differ between any two runs:
        // for those only the kind of outcome must agree.
        let deterministic = observe(again.run(&msg)) == want;
        if deterministic {
            assert_eq!(got, want, "case {} ({:?})", c.id, c.mapping);
        } else {
            assert_eq!(
                got.split(' ').next(),
                want.split(' ').next(),
                "case {} ({:?})",
                c.id,
                c.mapping
            );
        }
        checked += 1;
    }
    assert!(checked > 300, "only {} cases ran", checked);
}

/// Random JSON documents over a small key space, so that generated paths hit often.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    let leaf = prop_oneof![
        Just(json!(null)),
        any::<bool>().prop_map(|b| json!(b)),
        (-20i64..20).prop_map(|i| json!(i)),
        (-1000i64..1000).prop_map(|i| json!(i as f64 / 8.0)),
        "[a-c ]{0,4}".prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("[a-d]", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn document() -> impl Strategy<Value = String> {
    prop_oneof![
        9 => prop::collection::btree_map("[a-d]", json_value(), 0..5)
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect()).to_string()),
        1 => json_value().prop_map(|v| v.to_string()),
        1 => Just("not json".to_string()),
    ]
}

/// Random well-formed expressions.
fn expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (-5i64..30).prop_map(|i| i.to_string()),
        (-40i64..40).prop_map(|i| format!("{:.2}", i as f64 / 4.0)),
        "[a-c]{0,3}".prop_map(|s| format!("{:?}", s)),
        Just("true".to_string()),
        Just("false".to_string()),
        Just("null".to_string()),
        "[a-d]".prop_map(|k| format!("this.{}", k)),
        ("[a-d]", "[a-d]").prop_map(|(a, b)| format!("this.{}.{}", a, b)),
        "[a-d]".prop_map(|k| format!("this.{}.0", k)),
        Just("this".to_string()),
        Just("root".to_string()),
        "[a-b]".prop_map(|k| format!("root.{}", k)),
        Just("$v".to_string()),
        Just("@m".to_string()),
        Just("@".to_string()),
    ];
    leaf.prop_recursive(4, 48, 3, |e| {
        let bin = prop_oneof![
            Just("+"),
            Just("-"),
            Just("*"),
            Just("/"),
            Just("%"),
            Just("=="),
            Just("!="),
            Just(">"),
            Just(">="),
            Just("<"),
            Just("<="),
            Just("&&"),
            Just("||"),
            Just("|"),
        ];
        prop_oneof![
            (e.clone(), bin, e.clone()).prop_map(|(a, op, b)| format!("({} {} {})", a, op, b)),
            e.clone().prop_map(|a| format!("!{}", a)),
            e.clone().prop_map(|a| format!("-{}", a)),
            (e.clone(), e.clone(), e.clone())
                .prop_map(|(c, a, b)| format!("if {} {{ {} }} else {{ {} }}", c, a, b)),
            (e.clone(), e.clone()).prop_map(|(c, a)| format!("if {} {{ {} }}", c, a)),
            (e.clone(), "[a-c]", e.clone(), e.clone()).prop_map(|(s, lit, a, b)| format!(
                "match {} {{ {:?} => {}, 3 => this, this > 2 => {}, _ => null }}",
                s, lit, a, b
            )),
            (e.clone(), e.clone()).prop_map(|(a, b)| format!("match {{ {} => {}, _ => 0 }}", a, b)),
            (e.clone(), e.clone()).prop_map(|(a, b)| format!("{}.or({})", a, b)),
            (e.clone(), e.clone()).prop_map(|(a, b)| format!("{}.catch({})", a, b)),
            e.clone()
                .prop_map(|a| format!("{}.catch(err -> err.length())", a)),
            e.clone().prop_map(|a| format!("{}.type()", a)),
            e.clone().prop_map(|a| format!("{}.string()", a)),
            e.clone().prop_map(|a| format!("{}.number()", a)),
            e.clone().prop_map(|a| format!("{}.uppercase()", a)),
            e.clone().prop_map(|a| format!("{}.length()", a)),
            e.clone().prop_map(|a| format!("{}.not_null()", a)),
            (e.clone(), e.clone()).prop_map(|(a, b)| format!("{}.map_each(x -> {})", a, b)),
            (e.clone(), e.clone()).prop_map(|(a, b)| format!("{}.filter(x -> x != {})", a, b)),
            (e.clone(), e.clone()).prop_map(|(a, b)| format!("{}.({})", a, b)),
            (e.clone(), e.clone()).prop_map(|(a, b)| format!("{}.(y -> [y, {}])", a, b)),
            (e.clone(), e.clone()).prop_map(|(a, b)| format!("[{}, {}]", a, b)),
            (e.clone(), e.clone()).prop_map(|(a, b)| format!("{{\"k\": {}, \"j\": {}}}", a, b)),
            e.clone().prop_map(|a| format!("{}.a", a)),
            e.clone().prop_map(|a| format!("{}.apply(\"m1\")", a)),
        ]
    })
}

fn statement() -> impl Strategy<Value = String> {
    prop_oneof![
        ("[a-c]", expr()).prop_map(|(k, e)| format!("root.{} = {}", k, e)),
        expr().prop_map(|e| format!("root = {}", e)),
        expr().prop_map(|e| format!("let v = {}", e)),
        expr().prop_map(|e| format!("meta m = {}", e)),
        (expr(), expr(), expr()).prop_map(|(c, a, b)| format!(
            "if {} {{\n  root.x = {}\n}} else {{\n  root.y = {}\n}}",
            c, a, b
        )),
        Just("root = deleted()".to_string()),
    ]
}

fn mapping() -> impl Strategy<Value = String> {
    // The named map's body must not apply itself: unbounded recursion is a depth error whose
    // depth depends on the stack, not a semantic question.
    let body = expr().prop_filter("no recursion", |m| !m.contains("apply"));
    (prop::collection::vec(statement(), 1..5), body).prop_map(|(stmts, m)| {
        format!(
            "map m1 {{\n  root.in = this\n  root.out = {}\n}}\nlet v = 1\n{}",
            m,
            stmts.join("\n")
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn random_mappings_agree_on_both_back_ends(src in mapping(), docs in prop::collection::vec(document(), 1..4), mutation in any::<bool>()) {
        if let Some((interp, jit)) = both(&src) {
            for d in docs {
                let mut msg = Message::new(d.into_bytes());
                msg.metadata.insert("m".into(), Value::Int(2));
                let (want, got) = if mutation {
                    (observe(interp.run_mutation(&msg)), observe(jit.run_mutation(&msg)))
                } else {
                    (observe(interp.run(&msg)), observe(jit.run(&msg)))
                };
                prop_assert_eq!(got, want, "mapping:\n{}\ninput: {:?}", src, String::from_utf8_lossy(&msg.payload));
            }
        }
    }
}

/// Documents that stress raw-payload handling: unsorted and duplicate keys, escapes, floats,
/// big integers, whitespace, non-objects, nesting.
fn raw_document() -> impl Strategy<Value = String> {
    // Twenty members with keys in descending order.
    let descending = (0..20)
        .rev()
        .map(|i| format!("\"k{}\":{}", i, i))
        .collect::<Vec<_>>()
        .join(",");
    let fixed = prop::sample::select(vec![
        r#"{"z":1,"a":2,"a":3,"user":{"id":"u\"1","id":"u2"},"c":[1.50,-0,1e3]}"#.to_string(),
        " { \"user\" : { \"id\" : \"\\u00e9\\u2028\" } , \"b\" : 12345678901234567890 } "
            .to_string(),
        r#"{"user":{"id":{"y":1,"x":[{"q":2,"p":1}]}},"a":"<&>","d":"line\nbreak"}"#.to_string(),
        r#"[{"user":{"id":1}}]"#.to_string(),
        r#""a string""#.to_string(),
        "42".to_string(),
        r#"{"user":null,"a":{"0":"zero"}}"#.to_string(),
        r#"{"a":[10,20,30],"b":{"c":"\t"}}"#.to_string(),
        r#"{"a":1,}"#.to_string(),
        r#"{"a":1e999,"b":1}"#.to_string(),
        r#"{"a":"\ud83d\ude00","b":-0,"c":-0.0,"d":1E2}"#.to_string(),
        r#"{"b":{"y":[1, 2],"x":{}},"a":[],"c":{"z":"\/"}}"#.to_string(),
        "{\"a\":\"\u{2028}\",\"b\":\"\u{e9}\"}".to_string(),
        String::new(),
        r#"{"u":{"b":1,"a":2,"b":{"y":1,"x":2},"a\u0062":3},"z":{"\u2028":1,"c":[ 1.0 ]},"e":{}}"#
            .to_string(),
        format!("{{\"big\":{{{}}},\"a\":1}}", descending),
        // Many top-level members, unsorted, with duplicates.
        format!(
            "{{{},\"a\":\"first\",\"user\":{{\"id\":1}},\"a\":\"last\",\"c\":\"b\"}}",
            descending
        ),
    ]);
    prop_oneof![2 => fixed, 3 => document(), 2 => unsorted_document()]
}

/// Objects written with keys in random order (duplicates too) at the top level and one
/// level down, the shapes whose canonical rewrite the raw plans must get right.
fn unsorted_document() -> impl Strategy<Value = String> {
    fn members(value: BoxedStrategy<String>) -> impl Strategy<Value = String> {
        // Key literals as written: plain, escaped, and one the serialiser re-encodes.
        let key = prop::sample::select(vec![
            r#""a""#,
            r#""b""#,
            r#""c""#,
            r#""d""#,
            r#""user""#,
            r#""ab""#,
            r#""a\u0062""#,
            "\"\u{2028}\"",
        ]);
        prop::collection::vec((key, value), 0..6).prop_map(|ms| {
            let body: Vec<String> = ms.iter().map(|(k, v)| format!("{}:{}", k, v)).collect();
            format!("{{{}}}", body.join(","))
        })
    }
    let leaf = json_value().prop_map(|v| v.to_string()).boxed();
    let inner = prop_oneof![2 => leaf.clone(), 1 => members(leaf).boxed()].boxed();
    members(inner)
}

const PLAN_MAPPINGS: &[(&str, bool)] = &[
    (r#"root = {"id": this.user.id, "content": this.a, "x": this.a.0, "id": this.b}"#, false),
    (r#"root = {"d": this.d, "c": this.c.1}"#, true),
    (r#"root = {"a": this.a, "b": this.a.0, "u": this.user.id.y}"#, false),
    ("root = this\nroot.score = if this.a > 1 { this.a * 2 } else { this.b }\nroot.k = match this.c { \"a\" => 1, _ => 0 }", false),
    ("root = this\nroot.a = deleted()\nroot.zz = this.user.id.or(\"none\")\nmeta m = this.b", false),
    ("root.a = this.b\nroot.user = deleted()\nlet v = this.a\nroot.v = $v", true),
    ("root = this\nif this.a == null { root.a = \"was null\" } else { root.b = deleted() }", true),
    ("root = this\nroot.n = this.a.number()", false),
    ("root = this\nroot.had = this.d.or(\"missing\")\nroot.t = this.d.type()", false),
    // A named map applied inside a splice builds its own root (deletions included).
    ("map m {\n  root.b = 1\n  root.a = deleted()\n  root.c = this\n}\nroot = this\nroot.m = this.a.apply(\"m\")", false),
];

/// One compiled mapping runs many documents: whatever a plan keeps between runs (the `this`
/// object a splice reuses) must not carry anything of one document into the next.
#[test]
fn raw_payload_plans_keep_nothing_between_documents() {
    let docs = [
        r#"{"a":5,"b":"x","c":"a","user":{"id":"u1"},"d":"dee"}"#,
        r#"{"z":1}"#,
        r#"{"a":null,"c":"b"}"#,
        r#"{"user":{"id":{"y":2}},"b":[1,2]}"#,
        "not json",
        r#"{"a":2,"a":3,"b":{"k":1}}"#,
        r#"{}"#,
    ];
    for (src, mutation) in PLAN_MAPPINGS {
        let (interp, jit) = both(src).expect("plan mappings compile");
        for doc in docs.iter().chain(docs.iter().rev()) {
            let msg = Message::new(doc.as_bytes().to_vec());
            let (want, got) = if *mutation {
                (
                    observe(interp.run_mutation(&msg)),
                    observe(jit.run_mutation(&msg)),
                )
            } else {
                (observe(interp.run(&msg)), observe(jit.run(&msg)))
            };
            assert_eq!(got, want, "mapping:\n{}\ninput: {}", src, doc);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    /// The raw-payload plans (projection, splice) must produce the interpreter's bytes.
    #[test]
    fn raw_payload_plans_agree_with_the_interpreter(which in 0..PLAN_MAPPINGS.len(), doc in raw_document()) {
        let (src, mutation) = PLAN_MAPPINGS[which];
        let (interp, jit) = both(src).expect("plan mappings compile");
        let msg = Message::new(doc.into_bytes());
        let (want, got) = if mutation {
            (observe(interp.run_mutation(&msg)), observe(jit.run_mutation(&msg)))
        } else {
            (observe(interp.run(&msg)), observe(jit.run(&msg)))
        };
        prop_assert_eq!(got, want, "mapping:\n{}\ninput: {:?}", src, String::from_utf8_lossy(&msg.payload));
    }
}

/// Inputs the fuzzers found where the back ends disagreed (`fuzz/`, `benches/fuzz.sh`).
#[test]
fn fuzz_regressions_agree_on_both_back_ends() {
    let cases = [
        // json_scanner: negative zero inside an array read whole, in mutation mode.
        (
            "root.a = this.a\nroot.b = this.b.c\nroot.d = this.d.0",
            r#"{"a":[-0,3,4,5]}"#,
        ),
        ("root.a = this.a", r#"{"a":-0,"b":[-0.0,-0]}"#),
        ("root = this\nroot.x = this.a", r#"{"a":{"b":-0}}"#),
        // json_scanner: a float past 2^53 inside an array read whole, in mutation mode.
        (
            "root.a = this.a\nroot.b = this.b.c\nroot.d = this.d.0",
            r#"{"a":[{"values":[0]},-2,3,89606288660628862.4,0]}"#,
        ),
        (
            "root.a = this.a",
            r#"{"a":[1e17,-4.5e18,123456789012345678.9]}"#,
        ),
    ];
    for (src, payload) in cases {
        let (interp, jit) = both(src).expect("compiles");
        let msg = Message::new(payload.as_bytes().to_vec());
        assert_eq!(
            observe(interp.run(&msg)),
            observe(jit.run(&msg)),
            "mapping {src:?} on {payload}"
        );
        assert_eq!(
            observe(interp.run_mutation(&msg)),
            observe(jit.run_mutation(&msg)),
            "mutation {src:?} on {payload}"
        );
    }
}
