//! Table-driven lint tests: each broken config with the exact `(line,col) message` list the
//! linter must report (reference wording and positions).

use sluice_runtime::config::{check, LoadOptions, Scope};
use sluice_runtime::Severity;

fn env(name: &str) -> Option<String> {
    match name {
        "HOST" => Some("localhost".into()),
        "BAD64" => Some("@@@".into()),
        _ => None,
    }
}

fn lint(scope: Scope, text: &[u8]) -> Vec<String> {
    let opts = LoadOptions {
        scope,
        env: Some(&env),
        ..LoadOptions::new(sluice_runtime::components::catalog::registry())
    };
    check(text, &opts).iter().map(ToString::to_string).collect()
}

const INVALID_LABEL: &str =
    "should match the regular expression /^[a-z0-9_\\-]+$/ and must not start with an underscore";

/// (name, scope, config, expected lints)
fn cases() -> Vec<(&'static str, Scope, String, Vec<String>)> {
    use Scope::{Config, Stream};
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        ("unknown root field", Stream, "input:\n  stdin: {}\nfoo: bar\n".into(), s(&["(3,1) field foo not recognised"])),
        (
            "unknown component field",
            Stream,
            "input:\n  http_server:\n    path: /x\n    huh: 1\n".into(),
            s(&["(4,1) field huh not recognised"]),
        ),
        (
            "key beside a component",
            Stream,
            "input:\n  http_server: {}\n  foo: {}\n".into(),
            s(&["(3,1) field foo is invalid when the component type is http_server (input)"]),
        ),
        (
            "reference example: inproc beside type drop, cache_resources in a stream",
            Stream,
            "{\n  \"input\": {\n    \"generate\": {\n      \"mapping\": \"root = {}\"\n    }\n  },\n  \"output\": {\n    \"type\": \"drop\",\n    \"inproc\": \"meow\"\n  },\n  \"cache_resources\": [\n    {\"label\": \"foo\", \"memory\": {}}\n  ]\n}\n".into(),
            s(&[
                "(9,1) field inproc is invalid when the component type is drop (output)",
                "(11,1) field cache_resources not recognised",
            ]),
        ),
        (
            "required field missing",
            Stream,
            "input:\n  kafka:\n    topics: [a]\n".into(),
            s(&["(3,1) field addresses is required"]),
        ),
        (
            "required fields missing in a flow mapping",
            Stream,
            "input:\n  kafka: {}\n".into(),
            s(&["(2,1) field addresses is required", "(2,1) field topics is required"]),
        ),
        (
            "required fields with the type key form",
            Stream,
            "output:\n  type: kafka\n".into(),
            s(&["(2,1) field addresses is required", "(2,1) field topic is required"]),
        ),
        (
            "array expected",
            Stream,
            "input:\n  kafka:\n    addresses: localhost:9092\n    topics: [a]\n".into(),
            s(&["(3,1) expected array value"]),
        ),
        (
            "object expected",
            Stream,
            "input:\n  http_server:\n    cors: yes\n".into(),
            s(&["(3,1) expected object value, got !!str"]),
        ),
        (
            "string expected",
            Stream,
            "input:\n  http_server:\n    path: [a, b]\n".into(),
            s(&["(3,1) expected string value"]),
        ),
        ("int expected", Stream, "pipeline:\n  threads: four\n".into(), s(&["(2,1) expected int value"])),
        (
            "quoted number is not an int",
            Stream,
            "buffer:\n  memory:\n    limit: \"5\"\n".into(),
            s(&["(3,1) expected int value"]),
        ),
        (
            "bool expected",
            Stream,
            "input:\n  http_server:\n    cors:\n      enabled: \"true\"\n".into(),
            s(&["(4,1) expected bool value"]),
        ),
        (
            "enum option",
            Stream,
            "output:\n  kafka:\n    addresses: [a]\n    topic: t\n    compression: zip\n".into(),
            s(&["(5,1) value zip is not a valid option for this field"]),
        ),
        (
            "enum options are case-insensitive",
            Stream,
            "pipeline:\n  processors:\n    - log:\n        level: info\n".into(),
            s(&[]),
        ),
        (
            "unknown component",
            Stream,
            "input:\n  foo: {}\n".into(),
            s(&["(2,1) unable to infer component type: foo"]),
        ),
        (
            "several unknown candidates",
            Stream,
            "input:\n  foo: {}\n  bar: {}\n".into(),
            s(&["(2,1) unable to infer component type: [foo bar]"]),
        ),
        (
            "explicit unknown type",
            Stream,
            "input:\n  type: foo\n".into(),
            s(&["(2,1) failed to obtain docs for input type foo"]),
        ),
        (
            "unknown processor",
            Stream,
            "pipeline:\n  processors:\n    - nope: x\n".into(),
            s(&["(3,1) unable to infer component type: nope"]),
        ),
        (
            "invalid label",
            Stream,
            "input:\n  label: Foo\n  stdin: {}\n".into(),
            vec![format!("(2,1) invalid label 'Foo': {INVALID_LABEL}")],
        ),
        (
            "label starting with an underscore",
            Stream,
            "output:\n  label: _x\n  drop: {}\n".into(),
            vec![format!("(2,1) invalid label '_x': {INVALID_LABEL}")],
        ),
        (
            "duplicate label",
            Stream,
            "input:\n  label: a\n  stdin: {}\noutput:\n  label: a\n  drop: {}\n".into(),
            s(&["(5,1) label 'a' collides with a previously defined label at line 2"]),
        ),
        (
            "empty processors beside an input",
            Stream,
            "input:\n  stdin: {}\n  processors: []\n".into(),
            s(&["(3,1) field processors is empty and can be removed"]),
        ),
        (
            "plugin object",
            Stream,
            "input:\n  stdin: {}\n  plugin: {}\n".into(),
            s(&["(3,1) plugin object is ineffective"]),
        ),
        (
            "label on a buffer",
            Stream,
            "buffer:\n  memory: {}\n  label: x\n".into(),
            s(&["(3,1) field label is invalid when the component type is memory (buffer)"]),
        ),
        (
            "a component without fields takes none",
            Stream,
            "output:\n  drop:\n    foo: 1\n".into(),
            s(&["(3,1) field foo not recognised"]),
        ),
        ("empty document", Stream, "".into(), s(&["(0,1) expected object value, got !!null"])),
        ("root is a list", Stream, "- a\n- b\n".into(), s(&["(1,1) expected object value, got !!seq"])),
        (
            "component is a string",
            Stream,
            "input: stdin\n".into(),
            s(&["(1,1) expected object value, got !!str"]),
        ),
        (
            "duplicate key",
            Stream,
            "input:\n  stdin: {}\ninput:\n  stdin: {}\n".into(),
            s(&["(3,1) yaml: line 3: mapping key \"input\" already defined at line 1"]),
        ),
        (
            "processors is not a list",
            Stream,
            "pipeline:\n  processors:\n    mapping: root = this\n".into(),
            s(&["(3,1) expected array value"]),
        ),
        (
            "unknown field in a switch case",
            Stream,
            "pipeline:\n  processors:\n    - switch:\n        - check: this.a == 1\n          procs: []\n".into(),
            s(&["(5,1) field procs not recognised"]),
        ),
        (
            "nested processors are linted",
            Stream,
            "pipeline:\n  processors:\n    - catch:\n        - log:\n            level: LOUD\n".into(),
            s(&["(5,1) value LOUD is not a valid option for this field"]),
        ),
        (
            "resources are valid in a full config",
            Config,
            "cache_resources:\n  - label: c\n    memory:\n      default_ttl: 1m\nrate_limit_resources:\n  - label: rl\n    local:\n      count: many\n".into(),
            s(&["(8,1) expected int value"]),
        ),
        (
            "root fields of a full config",
            Config,
            "http:\n  address: 0.0.0.0:4196\n  nope: true\nlogger:\n  level: LOUD\nshutdown_timeout: 10s\n".into(),
            s(&["(3,1) field nope not recognised", "(5,1) value LOUD is not a valid option for this field"]),
        ),
        (
            "missing env vars",
            Config,
            "input:\n  http_client:\n    url: http://${HOST}/x\n    verb: ${NOPE_A}\n    timeout: ${NOPE_B:5s}\n    headers:\n      X: ${NOPE_C}\n".into(),
            s(&["(1,1) required environment variables were not set: [NOPE_A NOPE_C]"]),
        ),
        (
            "bad base64 env var",
            Config,
            "input:\n  stdin: {}\nhttp:\n  address: ${BAD64|base64decode}\n".into(),
            s(&["(1,1) failed to decode base64-encoded env var: illegal base64 data at input byte 0"]),
        ),
        (
            "env var default with unknown function",
            Config,
            "http:\n  address: ${HOST|rot13}\n".into(),
            s(&["(1,1) unknown env var decode function: rot13"]),
        ),
        (
            "a null component config is an empty one",
            Stream,
            "input:\n  kafka:\n".into(),
            s(&["(2,1) field addresses is required", "(2,1) field topics is required"]),
        ),
    ]
}

#[test]
fn table_of_broken_configs() {
    let cases = cases();
    assert!(cases.len() >= 30);
    let mut failures = Vec::new();
    for (name, scope, text, expected) in &cases {
        let got = lint(*scope, text.as_bytes());
        if &got != expected {
            failures.push(format!(
                "{name}:\n  expected {expected:?}\n  got      {got:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn invalid_utf8_is_a_warning() {
    let opts = LoadOptions {
        scope: Scope::Config,
        env: Some(&env),
        ..LoadOptions::new(sluice_runtime::components::catalog::registry())
    };
    let lints = check(b"input:\n  stdin: {}\nhttp:\n  address: \"\xff\"\n", &opts);
    assert_eq!(lints.len(), 1, "{lints:?}");
    assert_eq!(
        lints[0].to_string(),
        "(1,1) detected invalid utf-8 encoding in config, this may result in interpolation functions not working as expected"
    );
    assert_eq!(lints[0].severity, Severity::Warning);
}

#[test]
fn inference_lints_are_warnings() {
    let lints = check(
        "input:\n  foo: {}\n",
        &LoadOptions::new(sluice_runtime::components::catalog::registry()),
    );
    assert_eq!(lints[0].severity, Severity::Warning);
}

#[test]
fn yaml_syntax_errors_are_positioned() {
    let lints = check(
        "input:\n  stdin: {\n",
        &LoadOptions::new(sluice_runtime::components::catalog::registry()),
    );
    assert_eq!(lints.len(), 1);
    assert!(
        lints[0].message.starts_with("yaml: line "),
        "{:?}",
        lints[0]
    );
    assert!(lints[0].line >= 2, "{:?}", lints[0]);
}

/// The Bloblang cases: the lint sits at the field's line plus the error's line - 1, at the
/// field's column plus the error's column, with the compiler's message.
mod bloblang {
    use super::*;

    fn expected(src: &str, line: usize, col: usize, interpolation: bool) -> Vec<String> {
        let err = if interpolation {
            sluice_compiler::check_interpolation(src)
        } else {
            sluice_compiler::check_mapping(src)
        }
        .expect_err("the compiler should reject this");
        vec![format!(
            "({},{}) {}",
            line + err.line - 1,
            col + err.col,
            err
        )]
    }

    #[test]
    fn bad_method_in_a_quoted_mapping() {
        let text = "pipeline:\n  processors:\n    - mapping: 'root = this.foo.uppercas()'\n";
        assert_eq!(
            lint(Scope::Stream, text.as_bytes()),
            expected("root = this.foo.uppercas()", 3, 16, false)
        );
    }

    #[test]
    fn bad_mapping_in_a_block_scalar() {
        let text = "pipeline:\n  processors:\n    - mapping: |\n        root.a = this.a\n        root.b = this.b.nope_nope()\n";
        // `|` is at (3,16); the block's first line is line 4.
        let src = "root.a = this.a\nroot.b = this.b.nope_nope()\n";
        assert_eq!(
            lint(Scope::Stream, text.as_bytes()),
            expected(src, 4, 16, false)
        );
    }

    #[test]
    fn bad_interpolation() {
        let text = "output:\n  kafka:\n    addresses: [a]\n    topic: '${! meta( }'\n";
        assert_eq!(
            lint(Scope::Stream, text.as_bytes()),
            expected("${! meta( }", 4, 12, true)
        );
    }

    #[test]
    fn good_mapping_is_clean() {
        let text = "pipeline:\n  processors:\n    - mapping: 'root = this.foo.uppercase()'\n";
        assert_eq!(lint(Scope::Stream, text.as_bytes()), Vec::<String>::new());
    }
}
