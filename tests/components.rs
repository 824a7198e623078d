//! Components of "Components I", tested as a user runs them (`sluice run` with a `stdout`
//! output, `sluice compile --check`).

mod common;

use common::run_config as run;

use std::process::Command;

fn pipeline(processors: &str) -> String {
    format!(
        "input:\n  generate: {{count: 1, interval: '', mapping: 'root = \"hello\"'}}\n\
         pipeline:\n  processors:\n{processors}\
         output:\n  stdout: {{}}\n"
    )
}

#[test]
fn compress_decompress_noop_and_sleep_round_trip() {
    for algorithm in ["gzip", "zlib", "flate", "snappy", "lz4", "zstd", "pgzip"] {
        let out = run(&pipeline(&format!(
            "    - compress: {{algorithm: {algorithm}, level: 5}}\n\
             \x20   - mapping: 'root = if content() == \"hello\" {{ \"not compressed\" }} else {{ content() }}'\n\
             \x20   - decompress: {{algorithm: {algorithm}}}\n\
             \x20   - noop: {{}}\n\
             \x20   - sleep: {{duration: 10ms}}\n"
        )));
        assert_eq!(out, "hello\n", "{algorithm}");
    }
}

#[test]
fn compress_output_is_what_bloblang_decompresses() {
    let out = run(&pipeline(
        "    - compress: {algorithm: zstd}\n    - mapping: 'root = content().decompress(\"zstd\").string().uppercase()'\n",
    ));
    assert_eq!(out, "HELLO\n");
}

#[test]
fn decompressing_garbage_flags_the_message() {
    let out = run(&pipeline(
        "    - decompress: {algorithm: gzip}\n    - mapping: 'root = if errored() { \"flagged\" } else { \"not flagged\" }'\n",
    ));
    assert_eq!(out, "flagged\n");
}

#[test]
fn unknown_algorithms_and_missing_fields_are_lint_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(
        &path,
        pipeline("    - decompress: {algorithm: bzip3}\n    - sleep: {}\n"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["compile", "--check"])
        .arg(&path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("value bzip3 is not a valid option"), "{text}");
    assert!(text.contains("field duration is required"), "{text}");
}

/// Scanners of the `file` input: `lines` (empty lines kept unless `omit_empty`, custom
/// delimiters), `chunker`, `to_the_end`, `skip_bom`; an unknown scanner is a lint error.
#[test]
fn file_scanners_cut_bytes_into_messages() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.txt");
    std::fs::write(&data, "\u{feff}a\n\nbb|c\n").unwrap();
    let conf = |scanner: &str| {
        format!(
            "input:\n  file: {{paths: [{}], scanner: {scanner}}}\n\
             pipeline:\n  threads: 1\n  processors:\n    - mapping: 'root = content().string().escape_url_query()'\n\
             output:\n  stdout: {{}}\n",
            data.display()
        )
    };
    assert_eq!(run(&conf("{lines: {}}")), "%EF%BB%BFa\n\nbb%7Cc\n");
    assert_eq!(
        run(&conf("{lines: {omit_empty: true}}")),
        "%EF%BB%BFa\nbb%7Cc\n"
    );
    assert_eq!(
        run(&conf("{lines: {custom_delimiter: '|'}}")),
        "%EF%BB%BFa%0A%0Abb\nc%0A\n"
    );
    assert_eq!(
        run(&conf("{chunker: {size: 4}}")),
        "%EF%BB%BFa\n%0A%0Abb\n%7Cc%0A\n"
    );
    assert_eq!(
        run(&conf("{skip_bom: {into: {lines: {omit_empty: true}}}}")),
        "a\nbb%7Cc\n"
    );
    assert_eq!(
        run(&conf("{to_the_end: {}}")),
        "%EF%BB%BFa%0A%0Abb%7Cc%0A\n"
    );

    std::fs::write(dir.path().join("bad.yaml"), conf("{bogus: {}}")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["compile", "--check"])
        .arg(dir.path().join("bad.yaml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("bogus"), "{text}");
}

/// A generated batch of three messages (`1`, `2`, `3`) through `processors`.
fn batch_of_three(processors: &str) -> String {
    format!(
        "input:\n  generate: {{count: 3, batch_size: 3, interval: '', mapping: 'root = counter()'}}\n\
         pipeline:\n  threads: 1\n  processors:\n{processors}\
         output:\n  stdout: {{}}\n"
    )
}

#[test]
fn batch_processors_select_bound_and_split_per_message() {
    assert_eq!(
        run(&batch_of_three(
            "    - select_parts: {parts: [2, 0, -1, 7]}\n"
        )),
        "3\n1\n3\n"
    );
    assert_eq!(
        run(&batch_of_three("    - bounds_check: {max_parts: 2}\n")),
        ""
    );
    assert_eq!(
        run(&batch_of_three("    - bounds_check: {max_parts: 5}\n")),
        "1\n2\n3\n"
    );
    // Each message is a batch of one inside for_each: selecting the first keeps them all.
    assert_eq!(
        run(&batch_of_three("    - select_parts: {parts: [0]}\n")),
        "1\n"
    );
    assert_eq!(
        run(&batch_of_three(
            "    - for_each:\n        - select_parts: {parts: [0]}\n"
        )),
        "1\n2\n3\n"
    );
}

#[test]
fn document_processors_convert_and_validate() {
    let one = |mapping: &str, processors: &str| {
        run(&format!(
            "input:\n  generate: {{count: 1, interval: '', mapping: '{mapping}'}}\n\
             pipeline:\n  processors:\n{processors}\
             output:\n  stdout: {{}}\n"
        ))
    };
    assert_eq!(
        one(
            r#"root = "<a><b>1</b></a>""#,
            "    - xml: {operator: to_json, cast: true}\n"
        ),
        "{\"a\":{\"b\":1}}\n"
    );
    assert_eq!(
        one(
            r#"root = {"a": 1, "b": [true]}"#,
            "    - msgpack: {operator: from_json}\n    - mapping: 'root = if content().string().contains(\"{\") { \"still json\" } else { content() }'\n    - msgpack: {operator: to_json}\n"
        ),
        "{\"a\":1,\"b\":[true]}\n"
    );
    let schema = r#"    - json_schema: {schema: '{"type": "object", "properties": {"a": {"type": "integer"}}}'}
    - mapping: 'root = if errored() { "bad" } else { "good" }'
"#;
    assert_eq!(one(r#"root = {"a": 1}"#, schema), "good\n");
    assert_eq!(one(r#"root = {"a": "x"}"#, schema), "bad\n");
}

/// `dedupe` over a `memory` cache declared in the config's `cache_resources` (`sluice run`
/// takes a whole config).
#[test]
fn dedupe_drops_keys_already_seen() {
    let out = run(
        "cache_resources:\n  - label: seen\n    memory: {}\n\
         input:\n  generate: {count: 4, interval: '', mapping: 'root = {\"id\": counter() % 2}'}\n\
         pipeline:\n  threads: 1\n  processors:\n    - dedupe: {cache: seen, key: '${! json(\"id\") }'}\n\
         output:\n  stdout: {}\n",
    );
    assert_eq!(out, "{\"id\":1}\n{\"id\":0}\n");
}

/// The `cache` processor against a cache resource set over the REST API: get, a missing key
/// flagged (and caught), set then get, and a replaced resource applying at once.
#[tokio::test]
async fn cache_processor_uses_api_resources() {
    let s = common::Sluice::start(&[]).await;
    let set_cache = |greeting: &'static str| {
        let s = &s;
        async move {
            s.req(
                "POST",
                "/resources/cache/shared",
                &format!("memory:\n  init_values:\n    a: {greeting}\n"),
            )
            .await
        }
    };
    assert_eq!(set_cache("hello").await.0, 200);
    let conf = "input: {http_server: {path: /c}}\n\
                pipeline:\n  processors:\n\
                \x20   - switch:\n\
                \x20       - check: 'content().string().has_prefix(\"set:\")'\n\
                \x20         processors:\n\
                \x20           - cache: {resource: shared, operator: set, key: '${! content().string().trim_prefix(\"set:\") }', value: 'v-${! content().string().trim_prefix(\"set:\") }'}\n\
                \x20           - mapping: 'root = content().string().trim_prefix(\"set:\")'\n\
                \x20   - cache: {resource: shared, operator: get, key: '${! content() }'}\n\
                \x20   - catch:\n\
                \x20       - mapping: 'root = \"missing\"'\n\
                output: {sync_response: {}}\n";
    let (code, text) = s.req("POST", "/streams/cached", conf).await;
    assert_eq!(code, 200, "{text}");
    assert_eq!(s.req("POST", "/cached/c", "a").await, (200, "hello".into()));
    assert_eq!(
        s.req("POST", "/cached/c", "b").await,
        (200, "missing".into())
    );
    assert_eq!(
        s.req("POST", "/cached/c", "set:x").await,
        (200, "v-x".into())
    );
    assert_eq!(set_cache("bye").await.0, 200);
    assert_eq!(s.req("POST", "/cached/c", "a").await, (200, "bye".into()));
    // A stream naming a cache that does not exist is refused when it is built.
    let bad = "input: {generate: {mapping: 'root = 1'}}\npipeline: {processors: [{dedupe: {cache: nope, key: k}}]}\noutput: {drop: {}}\n";
    let (code, text) = s.req("POST", "/streams/bad", bad).await;
    assert_eq!(code, 502, "{text}");
    assert!(
        text.contains("cache resource 'nope' was not found"),
        "{text}"
    );
}

/// `inproc` between two API-created streams: acknowledgements cross the pipe (the writer's
/// request returns only once the reader's output wrote the message), and a PUT of the reader
/// takes the name over without losing what the writer sends meanwhile.
#[tokio::test]
async fn inproc_connects_streams_end_to_end() {
    let s = common::Sluice::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let reader = |tag: &str| {
        format!(
            "input: {{inproc: pipe}}\npipeline: {{processors: [{{mapping: 'root = content().string() + \" {tag}\"'}}]}}\noutput: {{file: {{path: {}}}}}\n",
            out.display()
        )
    };
    assert_eq!(s.req("POST", "/streams/reader", &reader("a")).await.0, 200);
    let writer = "input: {http_server: {path: /in}}\noutput: {inproc: pipe}\n";
    assert_eq!(s.req("POST", "/streams/writer", writer).await.0, 200);
    assert_eq!(s.req("POST", "/writer/in", "one").await.0, 200);
    // Acknowledged means written.
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "one a\n");
    let (code, text) = s.req("PUT", "/streams/reader", &reader("b")).await;
    assert_eq!(code, 200, "{text}");
    for n in 0..20 {
        assert_eq!(s.req("POST", "/writer/in", &format!("m{n}")).await.0, 200);
    }
    let text = std::fs::read_to_string(&out).unwrap();
    for n in 0..20 {
        assert!(text.contains(&format!("m{n} b\n")), "{text}");
    }
    // Without a reader, a write waits briefly, then fails: the request gets the error.
    assert_eq!(s.req("DELETE", "/streams/reader", "").await.0, 200);
    let (code, body) = s.req("POST", "/writer/in", "lost?").await;
    assert_eq!(code, 502, "{body}");
    assert!(body.contains("no input is connected"), "{body}");
}

/// `switch` output with `continue: true`: a message goes to every passing case until one
/// without `continue`; messages no case takes are dropped.
#[test]
fn switch_output_routes_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    run(&format!(
        "input:\n  generate: {{count: 3, interval: '', mapping: 'root = {{\"n\": counter()}}'}}\n\
         pipeline: {{threads: 1}}\n\
         output:\n  switch:\n    cases:\n\
         \x20     - check: 'this.n == 1'\n        continue: true\n        output: {{file: {{path: {a}}}}}\n\
         \x20     - check: 'this.n <= 2'\n        output: {{file: {{path: {b}}}}}\n",
        a = a.display(),
        b = b.display()
    ));
    assert_eq!(std::fs::read_to_string(&a).unwrap(), "{\"n\":1}\n");
    assert_eq!(
        std::fs::read_to_string(&b).unwrap(),
        "{\"n\":1}\n{\"n\":2}\n"
    );
}

/// A receiver that fails its first `failures` requests, then records bodies.
async fn flaky_receiver(
    failures: usize,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::body::Bytes;
    use axum::http::StatusCode;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let got: Arc<Mutex<Vec<String>>> = Default::default();
    let seen = Arc::new(AtomicUsize::new(0));
    let g = got.clone();
    let app = axum::Router::new().route(
        "/in",
        axum::routing::post(move |body: Bytes| {
            let (g, seen) = (g.clone(), seen.clone());
            async move {
                if seen.fetch_add(1, Ordering::SeqCst) < failures {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                g.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/in", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

/// `broker` `fan_out` where one output fails at first: it is retried alone until it
/// succeeds, so nothing is lost and the other output gets each message once. `fallback`
/// tries outputs in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_fan_out_retries_the_failing_output_and_fallback_goes_in_order() {
    let (url, got) = flaky_receiver(3).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fan.txt");
    let s = common::Sluice::start(&[]).await;
    let conf = format!(
        "input: {{http_server: {{path: /in}}}}\n\
         output:\n  broker:\n    pattern: fan_out\n    outputs:\n\
         \x20     - file: {{path: {}}}\n\
         \x20     - http_client: {{url: '{url}', verb: POST, retries: 0}}\n",
        file.display()
    );
    assert_eq!(s.req("POST", "/streams/fan", &conf).await.0, 200);
    for n in 0..2 {
        assert_eq!(s.req("POST", "/fan/in", &format!("m{n}")).await.0, 200);
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "m0\nm1\n");
    assert_eq!(
        *got.lock().unwrap(),
        vec!["m0".to_string(), "m1".to_string()]
    );

    let (first, second) = (dir.path().join("first.txt"), dir.path().join("second.txt"));
    let conf = format!(
        "input: {{http_server: {{path: /in}}}}\n\
         output:\n  fallback:\n\
         \x20   - http_client: {{url: 'http://127.0.0.1:1/x', retries: 0, timeout: 1s}}\n\
         \x20   - file: {{path: {}}}\n\
         \x20   - file: {{path: {}}}\n",
        first.display(),
        second.display()
    );
    assert_eq!(s.req("POST", "/streams/fb", &conf).await.0, 200);
    assert_eq!(s.req("POST", "/fb/in", "x").await.0, 200);
    assert_eq!(std::fs::read_to_string(&first).unwrap(), "x\n");
    assert!(!second.exists());
}

/// Caches by kind, through `dedupe`: `lru` evicts the least recently used key (so a key seen
/// long enough ago passes again), `multilevel` reads and writes through its levels, `noop`
/// remembers nothing.
#[test]
fn lru_multilevel_and_noop_caches() {
    let dedupe_over = |caches: &str, cache: &str| {
        run(&format!(
            "cache_resources:\n{caches}\
             input:\n  generate: {{count: 3, interval: '', mapping: 'root = [\"a\", \"b\", \"a\"].index(counter() - 1)'}}\n\
             pipeline:\n  threads: 1\n  processors:\n    - dedupe: {{cache: {cache}, key: '${{! content() }}'}}\n\
             output:\n  stdout: {{}}\n"
        ))
    };
    assert_eq!(
        dedupe_over("  - label: l\n    lru: {cap: 1}\n", "l"),
        "a\nb\na\n"
    );
    assert_eq!(
        dedupe_over("  - label: l\n    lru: {cap: 2}\n", "l"),
        "a\nb\n"
    );
    assert_eq!(
        dedupe_over("  - label: t\n    ttlru: {cap: 5}\n", "t"),
        "a\nb\n"
    );
    assert_eq!(
        dedupe_over(
            "  - label: m1\n    memory: {}\n  - label: m2\n    memory: {}\n  - label: ml\n    multilevel: [m1, m2]\n",
            "ml"
        ),
        "a\nb\n"
    );
    assert_eq!(
        dedupe_over("  - label: n\n    noop: {}\n", "n"),
        "a\nb\na\n"
    );
}

/// Decoding scanners of the `file` input: `csv` (header row), `json_documents`, `re_match`,
/// and `decompress` into `lines`.
#[test]
fn decoding_scanners() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let read = |path: &std::path::Path, scanner: &str| {
        run(&format!(
            "input:\n  file: {{paths: [{}], scanner: {scanner}}}\npipeline: {{threads: 1}}\noutput:\n  stdout: {{}}\n",
            path.display()
        ))
    };
    let csv = file("a.csv", b"name,n\nfoo,1\nbar,2\n");
    assert_eq!(
        read(&csv, "{csv: {}}"),
        "{\"n\":\"1\",\"name\":\"foo\"}\n{\"n\":\"2\",\"name\":\"bar\"}\n"
    );
    assert_eq!(
        read(&csv, "{csv: {parse_header_row: false}}"),
        "[\"name\",\"n\"]\n[\"foo\",\"1\"]\n[\"bar\",\"2\"]\n"
    );
    let docs = file("d.json", b"{\"a\":1} {\"b\":\n2}\n[3]");
    assert_eq!(
        read(&docs, "{json_documents: {}}"),
        "{\"a\":1}\n{\"b\":2}\n[3]\n"
    );
    let log = file("l.log", b"2024 one\ncont\n2025 two\n");
    assert_eq!(
        read(&log, "{re_match: {pattern: '(?m)^\\d{4} '}}"),
        "2024 one\ncont\n\n2025 two\n\n"
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, b"x\ny\n").unwrap();
    let gz = file("z.gz", &gz.finish().unwrap());
    assert_eq!(
        read(&gz, "{decompress: {algorithm: gzip, into: {lines: {}}}}"),
        "x\ny\n"
    );
}

/// `sequence` reads its inputs one after another; `broker` merges them.
#[test]
fn sequence_and_broker_inputs() {
    let gen = |count: u32, value: &str| {
        format!("{{generate: {{count: {count}, interval: '', mapping: 'root = \"{value}\"'}}}}")
    };
    let out = run(&format!(
        "input:\n  sequence:\n    inputs: [{}, {}]\npipeline: {{threads: 1}}\noutput:\n  stdout: {{}}\n",
        gen(2, "a"),
        gen(1, "b")
    ));
    assert_eq!(out, "a\na\nb\n");
    let out = run(&format!(
        "input:\n  broker:\n    copies: 2\n    inputs: [{}, {}]\noutput:\n  stdout: {{}}\n",
        gen(2, "a"),
        gen(1, "b")
    ));
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(lines, vec!["a", "a", "a", "a", "b", "b"]);
}

/// The `http` processor: each message is a request; the response body replaces it and the
/// status becomes metadata; a failing request flags the message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_processor_replaces_messages_with_responses() {
    use axum::body::Bytes;
    let app = axum::Router::new().route(
        "/up",
        axum::routing::post(|body: Bytes| async move {
            (
                [("x-echo", "yes")],
                String::from_utf8_lossy(&body).to_uppercase(),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/up", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let conf = format!(
        "input:\n  generate: {{count: 2, interval: '', mapping: 'root = [\"hello\", \"fail\"].index(counter() - 1)'}}\n\
         pipeline:\n  threads: 1\n  processors:\n\
         \x20   - mapping: |\n        root = content()\n        meta target = if content() == \"fail\" {{ \"http://127.0.0.1:1/x\" }} else {{ \"{url}\" }}\n\
         \x20   - http: {{url: '${{! @target }}', verb: POST, retries: 0}}\n\
         \x20   - mapping: 'root = if errored() {{ \"flagged\" }} else {{ content().string() + \" \" + @http_status_code.string() + \" \" + meta(\"x-echo\") }}'\n\
         output:\n  stdout: {{}}\n"
    );
    let out = tokio::task::spawn_blocking(move || run(&conf))
        .await
        .unwrap();
    assert_eq!(out, "HELLO 200 yes\nflagged\n");
}

/// `parallel` keeps input order and treats each message as a batch of one; `rate_limit`
/// lets every message through (waiting for its resource).
#[test]
fn parallel_and_rate_limit_processors() {
    let out = run(&batch_of_three(
        "    - parallel:\n        cap: 2\n        processors:\n          - select_parts: {parts: [0]}\n          - mapping: 'root = content().string() + \"!\"'\n",
    ));
    assert_eq!(out, "1!\n2!\n3!\n");
    let out = run(&format!(
        "rate_limit_resources:\n  - label: slow\n    local: {{count: 2, interval: 50ms}}\n{}",
        batch_of_three("    - rate_limit: {resource: slow}\n")
    ));
    assert_eq!(out, "1\n2\n3\n");
}

/// `archive` then `unarchive` round trips a batch for each format, with `archive_filename`
/// metadata for tar and zip (keeping only the first message after `archive` proves the batch
/// became one message).
#[test]
fn archive_unarchive_round_trips() {
    for format in ["lines", "json_array", "tar", "zip"] {
        let out = run(&format!(
            "input:\n  generate: {{count: 3, batch_size: 3, interval: '', mapping: 'root = {{\"n\": counter()}}'}}\n\
             pipeline:\n  threads: 1\n  processors:\n\
             \x20   - archive: {{format: {format}, path: 'f${{! json(\"n\") }}.json'}}\n\
             \x20   - select_parts: {{parts: [0]}}\n\
             \x20   - unarchive: {{format: {format}}}\n\
             \x20   - mapping: 'root = this.merge({{\"file\": @archive_filename}})'\n\
             output:\n  stdout: {{}}\n"
        ));
        let expected: Vec<String> = (1..=3)
            .map(|n| {
                if matches!(format, "tar" | "zip") {
                    format!("{{\"file\":\"f{n}.json\",\"n\":{n}}}")
                } else {
                    format!("{{\"file\":null,\"n\":{n}}}")
                }
            })
            .collect();
        assert_eq!(out, expected.join("\n") + "\n", "{format}");
    }
}
