//! `sluice compile --check` / `sluice lint` and `sluice list`, run as the real binary.

use std::path::Path;
use std::process::{Command, Output};

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .output()
        .expect("run sluice")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn walkthrough_streams_are_clean() {
    for file in ["foo.yaml", "bar.yaml", "bulk_bar.yaml", "bulk_baz.yaml"] {
        let path = Path::new("tests/fixtures/streams").join(file);
        let out = sluice(&["compile", "--check", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{file}: {}", stderr(&out));
        assert!(out.stderr.is_empty(), "{file}: {}", stderr(&out));
    }
}

#[test]
fn a_directory_is_walked() {
    let out = sluice(&["lint", "tests/fixtures/streams"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_broken_file_exits_1_with_the_lint_and_a_caret() {
    let out = sluice(&["lint", "tests/fixtures/broken/bad.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let mut lines = err.lines();
    assert_eq!(
        lines.next(),
        Some("tests/fixtures/broken/bad.yaml(4,1) field huh not recognised")
    );
    assert_eq!(lines.next(), Some("      huh: true"));
    assert_eq!(lines.next(), Some("      ^"));
}

#[test]
fn json_format_lists_lints_on_stdout() {
    let out = sluice(&[
        "compile",
        "--check",
        "--format",
        "json",
        "tests/fixtures/broken/bad.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json on stdout");
    assert_eq!(
        v,
        serde_json::json!([{
            "file": "tests/fixtures/broken/bad.yaml",
            "line": 4,
            "col": 1,
            "message": "field huh not recognised",
            "severity": "error"
        }])
    );
    let clean = sluice(&[
        "compile",
        "--check",
        "--format",
        "json",
        "tests/fixtures/streams/foo.yaml",
    ]);
    assert_eq!(clean.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&clean.stdout).trim(), "[]");
}

#[test]
fn an_unreadable_path_exits_2() {
    let out = sluice(&["lint", "tests/fixtures/does-not-exist.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("does-not-exist.yaml"));
}

#[test]
fn env_vars_are_interpolated_in_files() {
    let dir = std::env::temp_dir().join(format!("sluice-cli-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("env.yaml");
    std::fs::write(&file, "input:\n  http_client:\n    url: ${SLUICE_TEST_URL}\n    verb: ${SLUICE_TEST_UNSET_VERB}\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["lint", file.to_str().unwrap()])
        .env("SLUICE_TEST_URL", "http://localhost/x")
        .env_remove("SLUICE_TEST_UNSET_VERB")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).lines().next().unwrap(),
        format!(
            "{}(1,1) required environment variables were not set: [SLUICE_TEST_UNSET_VERB]",
            file.display()
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn list_json_has_every_component_with_fields_and_defaults() {
    let out = sluice(&["list", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let items = v.as_array().unwrap();
    let find = |kind: &str, name: &str| {
        items
            .iter()
            .find(|c| c["kind"] == kind && c["name"] == name)
            .unwrap_or_else(|| panic!("{kind} {name} not listed"))
    };
    let expected = [
        (
            "input",
            &[
                "http_server",
                "http_client",
                "kafka",
                "generate",
                "stdin",
                "file",
            ][..],
        ),
        ("buffer", &["none", "memory"]),
        (
            "processor",
            &[
                "mapping", "mutation", "bloblang", "log", "switch", "catch", "try",
            ],
        ),
        (
            "output",
            &[
                "http_server",
                "http_client",
                "elasticsearch",
                "kafka",
                "stdout",
                "drop",
                "file",
                "reject",
            ],
        ),
        ("cache", &["memory"]),
        ("rate_limit", &["local"]),
    ];
    for (kind, names) in expected {
        for name in names {
            find(kind, name);
        }
    }
    assert_eq!(
        items.len(),
        sluice_runtime::components::catalog::registry().all().len()
    );
    let generate = find("input", "generate");
    let field = |c: &serde_json::Value, f: &str| {
        c["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == f)
            .cloned()
            .unwrap()
    };
    assert_eq!(field(generate, "interval")["default"], "1s");
    assert_eq!(field(generate, "count")["default"], 0);
    assert_eq!(field(generate, "batch_size")["default"], 1);
    assert_eq!(field(generate, "auto_replay_nacks")["default"], true);
    assert_eq!(field(generate, "mapping")["bloblang"], true);
    assert_eq!(field(generate, "mapping")["required"], true);
    assert_eq!(find("cache", "memory")["default"]["default_ttl"], "5m");
    assert_eq!(
        find("rate_limit", "local")["default"],
        serde_json::json!({"count": 1000, "interval": "1s"})
    );
    assert_eq!(find("buffer", "memory")["default"]["limit"], 524_288_000);
    let es = find("output", "elasticsearch");
    assert_eq!(
        field(es, "id")["default"],
        "${!counter()}-${!timestamp_unix()}"
    );
    let auth = field(es, "basic_auth");
    let password = auth["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "password")
        .unwrap();
    assert_eq!(password["secret"], true);
    assert_eq!(find("processor", "mapping")["config"]["bloblang"], true);
    assert_eq!(find("output", "reject")["config"]["interpolated"], true);
}

#[test]
fn list_text_mentions_every_component() {
    let out = sluice(&["list"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for c in sluice_runtime::components::catalog::registry().all() {
        assert!(
            text.contains(&format!("  {}: ", c.name)),
            "{} missing",
            c.name
        );
    }
    assert!(text.contains("INPUT:") && text.contains("RATE_LIMIT:"));
}

#[test]
fn emit_clif_prints_the_native_code_of_a_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.blobl");
    std::fs::write(
        &path,
        "root.score = if this.n > 10 { this.n * 2 } else { 0 }\nroot.tags = this.tags.map_each(t -> t.uppercase())\n",
    )
    .unwrap();
    let out = sluice(&["compile", "--emit", "clif", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    // The program and the lambda body are separate functions; the arithmetic is native.
    assert!(text.contains("; function 0"), "{}", text);
    assert!(text.contains("; function 1"), "{}", text);
    assert!(text.contains("imul"), "{}", text);
    assert!(text.contains("icmp sgt"), "{}", text);

    std::fs::write(&path, "root = this.foo(\n").unwrap();
    let out = sluice(&["compile", "--emit", "clif", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
}

/// `compile --check` builds what lints clean, offline: a component that cannot be built is a
/// lint at its place in the file; nothing connects or binds while checking.
#[test]
fn check_builds_the_plan_offline() {
    let dir = tempfile::tempdir().unwrap();
    let check = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        sluice(&["compile", "--check", path.to_str().unwrap()])
    };
    let out = check(
        "cycle.yaml",
        "input:\n  generate: {mapping: 'root = 1'}\npipeline:\n  processors:\n    - noop: {}\n    - workflow:\n        branches:\n          a: {request_map: 'root = this.b', processors: [{noop: {}}], result_map: 'root.a = this'}\n          b: {request_map: 'root = this.a', processors: [{noop: {}}], result_map: 'root.b = this'}\noutput:\n  drop: {}\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!("{}(6,1) failed to init processor <no label> path root.pipeline.processors.1: failed to automatically resolve DAG, circular dependencies detected for branches: [a b]", dir.path().join("cycle.yaml").display())),
        "{err}"
    );
    let out = check(
        "grok.yaml",
        "input:\n  generate: {mapping: 'root = 1'}\npipeline:\n  processors:\n    - grok:\n        expressions: ['%{NOSUCHPATTERN:x}']\noutput:\n  drop: {}\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("failed to compile Grok pattern"),
        "{}",
        stderr(&out)
    );

    // A port in use and a broker that is not there: nothing binds or connects, so both are
    // fine; a cache that is not declared may be made over the API, so it is fine too.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let out = check(
        "offline.yaml",
        &format!("input:\n  http_server: {{address: '127.0.0.1:{port}'}}\npipeline:\n  processors:\n    - cache: {{resource: made_elsewhere, operator: get, key: k}}\noutput:\n  kafka: {{addresses: ['127.0.0.1:1'], topic: t}}\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A kafka setting librdkafka refuses is caught without a client.
    let out = check(
        "kafka.yaml",
        "input:\n  kafka: {addresses: ['127.0.0.1:1'], topics: [t], consumer_group: g, client_id: ''}\noutput:\n  kafka:\n    addresses: ['127.0.0.1:1']\n    topic: t\n    compression: bogus\n",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

/// Queries nested deeper than their parser can take are refused, not a stack overflow.
#[test]
fn deeply_nested_queries_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep.yaml");
    let n = 100_000;
    std::fs::write(
        &path,
        format!(
            "input:\n  generate: {{mapping: 'root = 1'}}\npipeline:\n  processors:\n    - jmespath:\n        query: '{}a{}'\noutput:\n  drop: {{}}\n",
            "[".repeat(n),
            "]".repeat(n)
        ),
    )
    .unwrap();
    let out = sluice(&["compile", "--check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nested deeper than 128 levels"),
        "{}",
        stderr(&out)
    );
}
