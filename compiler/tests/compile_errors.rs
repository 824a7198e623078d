//! Compile errors of broken mappings: position (line, column) and message, as a user sees them.

use sluice_compiler::Mapping;

/// (mapping, line, column, message)
const CASES: &[(&str, usize, usize, &str)] = &[
    ("root = ", 1, 8, "expected an expression, got end of input"),
    (
        "root.a = 1 root.b = 2",
        1,
        12,
        "expected line break, got 'r'",
    ),
    (
        "root = this.foo.not_nul()",
        1,
        17,
        "unknown method 'not_nul', did you mean 'not_null'?",
    ),
    (
        "root = contnt()",
        1,
        8,
        "unknown function 'contnt', did you mean 'content'?",
    ),
    (
        "root = this.(",
        1,
        14,
        "expected an expression, got end of input",
    ),
    (
        "root = {\"a\": 1",
        1,
        15,
        "expected a method or field path or an operator, got end of input",
    ),
    (
        "root = [1, 2",
        1,
        13,
        "expected a method or field path or an operator, got end of input",
    ),
    (
        "root = \"unterminated",
        1,
        8,
        "unterminated quoted string: expected a closing '\"'",
    ),
    (
        "root = 5 +",
        1,
        11,
        "expected an expression, got end of input",
    ),
    (
        "root = this.foo.apply(\"nope\")",
        1,
        23,
        "map nope was not found",
    ),
    (
        "map foo {\n  meta bar = \"x\"\n}",
        2,
        3,
        "setting meta fields from within a map is not allowed",
    ),
    (
        "root = deleted(1)",
        1,
        8,
        "wrong number of arguments for 'deleted': expected at most 0, got 1",
    ),
    (
        "root = range(1)",
        1,
        8,
        "missing required parameter 'stop' of 'range'",
    ),
    (
        "root = range(start: 1, stop: 2, stp: 1)",
        1,
        38,
        "unknown parameter 'stp' for 'range', did you mean 'stop'?",
    ),
    (
        "root = range(1, stop: 2)",
        1,
        14,
        "cannot mix named and positional arguments",
    ),
    (
        "root = match this {\n  \"a\" => 1\n  \"b\" 2\n}",
        3,
        7,
        "expected a method or field path or an operator, got '2'",
    ),
    (
        "meta \"a\" \"b\" = 5",
        1,
        6,
        "expected line break, got '\"'",
    ),
    (
        "root = 5 - \"a\"",
        1,
        8,
        "cannot apply '-' to number and string: expected numbers",
    ),
    (
        "root = \"a\" * 2",
        1,
        8,
        "cannot apply '*' to string and number: expected numbers",
    ),
    (
        "root = !5",
        1,
        8,
        "cannot apply '!' to a value of type number: expected a boolean",
    ),
    (
        "root = {5: \"a\"}",
        1,
        9,
        "object keys must be strings, got number",
    ),
    (
        "root = geoip_city()",
        1,
        8,
        "function 'geoip_city' is not supported by sluice: it needs a MaxMind GeoIP database",
    ),
    (
        "root = this.foo.geoip_country()",
        1,
        17,
        "method 'geoip_country' is not supported by sluice: it needs a MaxMind GeoIP database",
    ),
    (
        "import \"foo.blobl\"",
        1,
        1,
        "importing mappings from files is not supported here: inline the maps",
    ),
    (
        "root = this.a\nthis.b",
        2,
        1,
        "a bare expression mapping must be the only statement of the mapping",
    ),
    (
        "root = 1\n  root.x = )",
        2,
        12,
        "expected an expression, got ')'",
    ),
    ("root = $", 1, 9, "expected a name, got end of input"),
    (
        "root = @\"unterminated",
        1,
        9,
        "unterminated quoted string: expected a closing '\"'",
    ),
    (
        "root.a.b = 1 +* 2",
        1,
        15,
        "expected an expression, got '*'",
    ),
    (
        "root = throw()",
        1,
        8,
        "missing required parameter 'why' of 'throw'",
    ),
    (
        "map a {\n  root = 1\n}\nmap a {\n  root = 2\n}",
        4,
        1,
        "map name collision: a",
    ),
    (
        "root = 1 / 0 +",
        1,
        15,
        "expected an expression, got end of input",
    ),
];

#[test]
fn broken_mappings_report_position_and_message() {
    let mut failures = Vec::new();
    for (src, line, col, msg) in CASES {
        match Mapping::compile(src) {
            Ok(_) => failures.push(format!("{:?}: compiled, expected an error", src)),
            Err(e) => {
                if (e.line, e.col, e.message.as_str()) != (*line, *col, *msg) {
                    failures.push(format!(
                        "{:?}: got ({}:{}) {:?}, expected ({}:{}) {:?}",
                        src, e.line, e.col, e.message, line, col, msg
                    ));
                }
            }
        }
    }
    assert!(CASES.len() >= 25);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn errors_render_a_caret_under_the_column() {
    let e = Mapping::compile("root = this.foo.not_nul()").unwrap_err();
    assert_eq!(e.snippet, "root = this.foo.not_nul()\n                ^");
    assert!(e.render().starts_with("line 1 char 17: unknown method"));
}
