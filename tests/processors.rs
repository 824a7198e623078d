//! Processors of "Components I" that transform or measure messages (`jq`, `jmespath`,
//! `grok`, `insert_part`, `processors`, `while`, `retry`, `cached`, `command`, `metric`,
//! `sync_response`, `benchmark`), run as a user runs them: `sluice run`, or a stream made
//! over the REST API.

mod common;

use common::generated_batch as batch;

use std::process::Command;

/// Runs `sluice run` on `config` and returns (stdout, stderr).
fn run_logged(config: &str) -> (String, String) {
    run_with_env(config, &[])
}

/// Runs `sluice run` on `config` with extra environment variables; returns (stdout, stderr).
fn run_with_env(config: &str, env: &[(&str, &str)]) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "run",
            "--http-address",
            &format!("127.0.0.1:{}", common::free_port()),
        ])
        .arg(&path)
        .env("SLUICE_LOG", "info")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `sluice run` on `config` and returns the lines it wrote that are not logs.
fn run(config: &str) -> String {
    let (out, _) = run_logged(config);
    out.lines()
        .filter(|l| !l.starts_with("level="))
        .map(|l| format!("{l}\n"))
        .collect()
}

const FLAG: &str =
    "    - mapping: 'root = if errored() { \"error: \" + error() } else { content().string() }'\n";

#[test]
fn jq_filters_transforms_and_collects() {
    let out = run(&batch(
        3,
        r#"root = {"n": counter(), "tags": ["a", "b"]}"#,
        &format!("    - jq: {{query: 'select(.n != 2) | {{n: .n, t: .tags[]}}'}}\n{FLAG}"),
    ));
    // n = 2 is filtered; several outputs become an array.
    assert_eq!(
        out,
        "[{\"n\":1,\"t\":\"a\"},{\"n\":1,\"t\":\"b\"}]\n[{\"n\":3,\"t\":\"a\"},{\"n\":3,\"t\":\"b\"}]\n"
    );
    let out = run(&batch(
        1,
        r#"root = "hello""#,
        &format!("    - jq: {{query: 'ascii_upcase', raw: true, output_raw: true}}\n{FLAG}"),
    ));
    assert_eq!(out, "HELLO\n");
    let out = run(&batch(
        1,
        r#"root = "not json""#,
        &format!("    - jq: {{query: '.a'}}\n{FLAG}"),
    ));
    assert!(
        out.starts_with("error: failed to parse message as JSON"),
        "{out}"
    );
}

#[test]
fn jmespath_replaces_the_document() {
    let out = run(&batch(
        1,
        r#"root = {"people": [{"name": "a", "age": 30}, {"name": "b", "age": 20}]}"#,
        &format!("    - jmespath: {{query: 'people[?age > `25`].name'}}\n{FLAG}"),
    ));
    assert_eq!(out, "[\"a\"]\n");
}

#[test]
fn grok_parses_with_types_and_definitions() {
    let out = run(&batch(
        2,
        r#"root = if counter() == 1 { "GET /index.html 15 0.5" } else { "nothing here" }"#,
        &format!(
            "    - grok:\n        expressions: ['%{{WORD:method}} %{{URIPATH:path}} %{{NUMBER:bytes:int}} %{{NUMBER:took:float}}']\n{FLAG}"
        ),
    ));
    assert_eq!(
        out,
        "{\"bytes\":15,\"method\":\"GET\",\"path\":\"/index.html\",\"took\":0.5}\nerror: no pattern matched\n"
    );
    let out = run(&batch(
        1,
        r#"root = "id=abc-42""#,
        &format!(
            "    - grok:\n        expressions: ['id=%{{MYID:id}}']\n        pattern_definitions: {{MYID: '[a-z]+-[0-9]+'}}\n{FLAG}"
        ),
    ));
    assert_eq!(out, "{\"id\":\"abc-42\"}\n");
}

#[test]
fn insert_part_and_processors_group() {
    let out = run(&batch(
        2,
        "root = counter()",
        "    - insert_part: {index: 0, content: 'first of ${! content() }'}\n    - insert_part: {content: last}\n    - processors:\n        - mapping: 'root = content().string() + \"!\"'\n",
    ));
    assert_eq!(out, "first of 1!\n1!\n2!\nlast!\n");
}

#[test]
fn while_loops_until_the_check_fails_or_max_loops() {
    let out = run(&batch(
        1,
        r#"root = {"n": 0}"#,
        "    - while:\n        check: 'this.n < 5'\n        processors: [{mapping: 'root.n = this.n + 1'}]\n",
    ));
    assert_eq!(out, "{\"n\":5}\n");
    let out = run(&batch(
        1,
        r#"root = {"n": 0}"#,
        "    - while:\n        at_least_once: true\n        max_loops: 3\n        check: 'true'\n        processors: [{mapping: 'root.n = this.n + 1'}]\n",
    ));
    assert_eq!(out, "{\"n\":3}\n");
}

#[test]
fn retry_reruns_until_success_or_max_retries() {
    // The child fails twice (the first `counter()` counts attempts), then succeeds; the
    // second `counter()` is a call site of its own, reached only by the third attempt.
    let out = run(&batch(
        1,
        r#"root = "x""#,
        &format!(
            "    - retry:\n        backoff: {{initial_interval: 1ms, max_interval: 5ms}}\n        processors:\n          - mapping: 'root = if counter() < 3 {{ throw(\"not yet\") }} else {{ \"done after \" + counter().string() }}'\n{FLAG}"
        ),
    ));
    assert_eq!(out, "done after 1\n");
    let out = run(&batch(
        1,
        r#"root = "x""#,
        &format!(
            "    - retry:\n        max_retries: 2\n        backoff: {{initial_interval: 1ms}}\n        processors:\n          - mapping: 'root = throw(\"always\")'\n{FLAG}"
        ),
    ));
    assert!(
        out.starts_with("error: ") && out.contains("always"),
        "{out}"
    );
}

#[test]
fn cached_runs_children_once_per_key() {
    let out = run(&format!(
        "{}cache_resources:\n  - label: mem\n    memory: {{}}\n",
        batch(
            4,
            "root = if counter() % 2 == 0 { \"a\" } else { \"b\" }",
            "    - cached:\n        cache: mem\n        key: '${! content() }'\n        processors:\n          - mapping: 'root = content().string() + \"-\" + counter().string()'\n",
        )
    ));
    // b, a, b, a: the children ran once for b and once for a.
    assert_eq!(out, "b-1\na-2\nb-1\na-2\n");
}

#[test]
fn command_pipes_messages_through_a_program() {
    let out = run(&batch(
        2,
        r#"root = "hello " + counter().string()"#,
        &format!(
            "    - command:\n        name: tr\n        args_mapping: '[\"a-z\", \"A-Z\"]'\n{FLAG}"
        ),
    ));
    assert_eq!(out, "HELLO 1\nHELLO 2\n");
    let out = run(&batch(
        1,
        r#"root = "x""#,
        &format!("    - command: {{name: sh, args_mapping: '[\"-c\", \"echo bad >&2; exit 3\"]'}}\n{FLAG}"),
    ));
    assert!(
        out.starts_with("error: command 'sh' failed") && out.contains("bad"),
        "{out}"
    );
}

#[test]
fn benchmark_logs_its_totals() {
    let (out, err) = run_logged(&batch(
        3,
        r#"root = "abcd""#,
        "    - benchmark: {interval: 0s}\n",
    ));
    let logs = format!("{out}{err}");
    assert!(logs.contains("total stats: "), "{logs}");
    assert!(logs.contains("msg/sec"), "{logs}");
}

/// `metric` counts into the stream's stats with its labels; `sync_response` as a processor
/// answers an `http_server` request with the message as it was at that point.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_and_sync_response_processor_over_the_api() {
    let s = common::Sluice::start(&[]).await;
    let (code, body) = s
        .req(
            "POST",
            "/streams/m",
            "input:\n  http_server: {path: /in}\npipeline:\n  processors:\n    - metric: {type: counter, name: seen_total, labels: {kind: '${! this.kind }'}}\n    - metric: {type: counter_by, name: bytes_total, value: '${! content().length() }'}\n    - mapping: 'root = this.merge({\"stage\": \"before\"})'\n    - sync_response: {}\n    - mapping: 'root.stage = \"after\"'\noutput:\n  drop: {}\n",
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = s.req("POST", "/m/in", r#"{"kind":"a"}"#).await;
    assert_eq!(code, 200);
    assert_eq!(body, r#"{"kind":"a","stage":"before"}"#);
    let (_, _) = s.req("POST", "/m/in", r#"{"kind":"b"}"#).await;
    let (_, _) = s.req("POST", "/m/in", r#"{"kind":"a"}"#).await;
    let (code, stats) = s.req("GET", "/streams/m/stats", "").await;
    assert_eq!(code, 200);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    let key = |kind: &str| {
        format!("seen_total{{kind=\"{kind}\",label=\"\",path=\"root.pipeline.processors.0\",stream=\"m\"}}")
    };
    assert_eq!(stats[key("a")], 2, "{stats}");
    assert_eq!(stats[key("b")], 1, "{stats}");
    assert_eq!(
        stats["bytes_total{label=\"\",path=\"root.pipeline.processors.1\",stream=\"m\"}"], 36,
        "{stats}"
    );
    s.stop();
}

#[test]
fn parse_log_reads_syslog_formats() {
    let out = run(&batch(
        1,
        r#"root = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\"] An application event""#,
        &format!("    - parse_log: {{format: syslog_rfc5424}}\n{FLAG}"),
    ));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "appname": "evntslog", "facility": 20, "hostname": "mymachine.example.com",
            "message": "An application event", "msgid": "ID47", "priority": 165, "severity": 5,
            "structureddata": {"exampleSDID@32473": {"iut": "3"}},
            "timestamp": "2003-10-11T22:14:15.003Z", "version": 1
        })
    );
    let out = run(&batch(
        1,
        r#"root = "<34>Oct 11 22:14:15 mymachine su: su root failed on /dev/pts/8""#,
        &format!("    - parse_log: {{format: syslog_rfc3164, default_year: \"2020\"}}\n{FLAG}"),
    ));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["appname"], "su");
    assert_eq!(v["hostname"], "mymachine");
    assert_eq!(v["priority"], 34);
    assert_eq!(v["timestamp"], "2020-10-11T22:14:15Z");
    assert_eq!(v["message"], "su root failed on /dev/pts/8");
    let out = run(&batch(
        1,
        r#"root = "not syslog at all""#,
        &format!("    - parse_log: {{format: syslog_rfc5424, best_effort: false}}\n{FLAG}"),
    ));
    assert!(out.starts_with("error: "), "{out}");
}

#[test]
fn protobuf_round_trips_through_binary() {
    let protos = concat!(env!("CARGO_MANIFEST_DIR"), "/runtime/testdata/proto");
    let out = run(&batch(
        1,
        r#"root = {"firstName": "ann", "age": 42, "status": "ACTIVE", "seen": "2024-01-02T03:04:05Z", "tags": ["x", "y"]}"#,
        &format!(
            "    - protobuf: {{operator: from_json, message: testing.Person, import_paths: ['{protos}']}}\n    - mapping: 'meta size = content().length()'\n    - protobuf: {{operator: to_json, message: testing.Person, import_paths: ['{protos}'], use_proto_names: true}}\n{FLAG}"
        ),
    ));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"first_name": "ann", "age": "42", "status": "ACTIVE", "seen": "2024-01-02T03:04:05Z", "tags": ["x", "y"]})
    );
    let out = run(&batch(
        1,
        r#"root = {"nope": 1}"#,
        &format!("    - protobuf: {{operator: from_json, message: testing.Person, import_paths: ['{protos}']}}\n{FLAG}"),
    ));
    assert!(
        out.starts_with("error: failed to unmarshal JSON message 'testing.Person'"),
        "{out}"
    );
}

#[test]
fn avro_round_trips_binary_and_single_object() {
    let schema = r#"{"type": "record", "name": "User", "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int"}, {"name": "email", "type": ["null", "string"], "default": null}]}"#;
    for encoding in ["binary", "single", "textual"] {
        let out = run(&batch(
            1,
            r#"root = {"name": "bo", "age": 7, "email": "b@x"}"#,
            &format!(
                "    - avro: {{operator: from_json, encoding: {encoding}, schema: '{schema}'}}\n    - avro: {{operator: to_json, encoding: {encoding}, schema: '{schema}'}}\n{FLAG}"
            ),
        ));
        assert_eq!(
            out, "{\"age\":7,\"email\":\"b@x\",\"name\":\"bo\"}\n",
            "{encoding}"
        );
    }
    // Binary Avro is what the schema says: a string is its length (zigzag) and bytes.
    let out = run(&batch(
        1,
        r#"root = "\"hi\"""#,
        "    - avro: {operator: from_json, encoding: binary, schema: '{\"type\": \"string\"}'}\n    - mapping: 'root = content().encode(\"hex\")'\n",
    ));
    assert_eq!(out, "046869\n");
    let out = run(&batch(
        1,
        r#"root = {"name": 1}"#,
        &format!(
            "    - avro: {{operator: from_json, encoding: binary, schema: '{schema}'}}\n{FLAG}"
        ),
    ));
    assert!(
        out.starts_with("error: failed to convert JSON to Avro schema"),
        "{out}"
    );
}

/// A jq query can recurse or allocate without bound; it runs in a worker process, so the
/// message is flagged, the next one is served by a new worker, and sluice stays up.
#[test]
fn hostile_jq_queries_flag_the_message_and_sluice_survives() {
    for query in ["def f: 1 + f; f", "[repeat(1)]"] {
        // A small message budget makes the worker's memory limit small (and the test quick).
        let (out, _) = run_with_env(
            &batch(
                2,
                r#"root = {"n": counter()}"#,
                &format!("    - jq: {{query: '{query}'}}\n{FLAG}"),
            ),
            &[("SLUICE_MESSAGE_MEMORY_LIMIT", "4194304")],
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{query}: {out}");
        for l in lines {
            assert!(
                l.starts_with("error: jq query failed: the evaluation crashed its worker"),
                "{query}: {l}"
            );
        }
    }
}

/// A jq query that never ends holds its message until the stream is deleted; the forced
/// stop kills the worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_jq_query_is_stopped_with_its_stream() {
    let s = common::Sluice::start(&[]).await;
    let (code, body) = s
        .req(
            "POST",
            "/streams/spin",
            "input:\n  generate: {count: 1, interval: '', mapping: 'root = 1'}\npipeline:\n  processors:\n    - jq: {query: 'until(false; .)'}\noutput:\n  drop: {}\n",
        )
        .await;
    assert_eq!(code, 200, "{body}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let server = s.child.id().to_string();
    let workers = || {
        let out = Command::new("pgrep")
            .args(["-P", &server, "-f", "__jq-worker"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    assert!(workers() >= 1);
    let started = std::time::Instant::now();
    let (code, _) = s.req("DELETE", "/streams/spin?timeout=1s", "").await;
    assert_eq!(code, 200);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let (code, _) = s.req("GET", "/ping", "").await;
    assert_eq!(code, 200);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while workers() > 0 && std::time::Instant::now() < until {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(workers(), 0, "the worker outlived its stream");
    s.stop();
}

/// Upstream's `config/test/protobuf/people.yaml`: JSON to protobuf and back, a mapping in
/// between, and a document with an unknown field caught.
#[test]
fn protobuf_people_as_upstream_tests_it() {
    let protos = concat!(env!("CARGO_MANIFEST_DIR"), "/runtime/testdata/proto_people");
    let step = |op: &str| {
        format!("        - protobuf: {{operator: {op}, message: testing.Person, import_paths: ['{protos}']}}\n")
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.ndjson");
    std::fs::write(
        &input,
        concat!(
            "{\"firstName\":\"john\",\"lastName\":\"oates\",\"age\":10}\n",
            "{\"firstName\":\"daryl\",\"lastName\":\"hall\"}\n",
            "{\"firstName\":\"caleb\",\"lastName\":\"quaye\",\"email\":\"caleb@myspace.com\"}\n",
            "{\"firstName\":\"bad\",\"lastName\":\"data\",\"contains\":\"unrecognized fields\"}\n",
        ),
    )
    .unwrap();
    let out = run(&format!(
        "input:\n  file: {{paths: ['{}']}}\npipeline:\n  threads: 1\n  processors:\n    - try:\n{}{}        - mapping: |\n            root = this\n            root.age = (this.age | 0) + 10\n            root.fullName = this.firstName + \" \" + this.lastName\n{}{}    - catch:\n        - mapping: 'root = \"error: %v\".format(error())'\noutput:\n  stdout: {{}}\n",
        input.display(),
        step("from_json"),
        step("to_json"),
        step("from_json"),
        step("to_json"),
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(
        lines[0],
        r#"{"firstName":"john","lastName":"oates","fullName":"john oates","age":20}"#
    );
    assert_eq!(
        lines[1],
        r#"{"firstName":"daryl","lastName":"hall","fullName":"daryl hall","age":10}"#
    );
    assert_eq!(
        lines[2],
        r#"{"firstName":"caleb","lastName":"quaye","fullName":"caleb quaye","age":10,"email":"caleb@myspace.com"}"#
    );
    assert!(
        lines[3].starts_with("error: failed to unmarshal JSON message 'testing.Person'")
            && lines[3].contains("contains"),
        "{}",
        lines[3]
    );
}

/// Upstream's `config/test/bloblang/message_expansion.yaml`: one document expanded into a
/// message per item with `unarchive` (`json_array`).
#[test]
fn message_expansion_as_upstream_tests_it() {
    let out = run(&batch(
        1,
        r#"root = {"id": "foobar", "items": [{"content":"foo"},{"content":"bar"},{"content":"baz"}]}"#,
        "    - bloblang: |\n        let doc_root = this.map_each(if key == \"items\" { deleted() })\n        root = items.map_each($doc_root.merge(this))\n    - unarchive:\n        format: json_array\n",
    ));
    assert_eq!(
        out,
        "{\"content\":\"foo\",\"id\":\"foobar\"}\n{\"content\":\"bar\",\"id\":\"foobar\"}\n{\"content\":\"baz\",\"id\":\"foobar\"}\n"
    );
}
