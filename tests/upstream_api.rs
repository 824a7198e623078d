//! Redpanda Connect's streams-manager API tests (`internal/stream/manager/api_test.go`, as in
//! `redpanda-data/benthos`), ported to HTTP requests against the real binary, one test per
//! upstream test function and in its order. Where sluice's contract
//! (`shared/spec/sluice-contract.md`) differs, the comment says how and the assertion follows
//! the contract: `GET /streams/{id}` shows the normalised config with defaults (components as
//! `{name: {...}}`, no `type` key), and API bodies are never `${VAR}`-interpolated.
//!
//! `TestTypeAPISetResources` feeds its `inproc` input from the Go test itself; here a second
//! stream (`http_server` → `inproc`) does, so each POST returns once the message is in the
//! cache (acknowledgements cross the pipe).

mod common;

use std::time::{Duration, Instant};

use common::Sluice;

/// `harmlessConf()` as Go's JSON encoder writes it.
const HARMLESS_JSON: &str =
    r#"{"input":{"generate":{"mapping":"root = deleted()"}},"output":{"drop":{}}}"#;
/// `harmlessConf()` plus `buffer.type: memory`.
const NEW_CONF_JSON: &str = r#"{"buffer":{"type":"memory"},"input":{"generate":{"mapping":"root = deleted()"}},"output":{"drop":{}}}"#;
/// `harmlessConf()` as yaml.v3 writes it.
const HARMLESS_YAML: &str =
    "input:\n    generate:\n        mapping: root = deleted()\noutput:\n    drop: {}\n";
const NEW_CONF_YAML: &str = "buffer:\n    type: memory\ninput:\n    generate:\n        mapping: root = deleted()\noutput:\n    drop: {}\n";
/// The config the Go tests create streams with directly.
const GO_CREATED: &str =
    "input:\n  generate:\n    mapping: 'root = deleted()'\noutput:\n  drop: {}\n";

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// POSTs `body` expecting lint errors: asserts 400 with a JSON content type, returns the body.
async fn post_lint_errors(s: &Sluice, path: &str, body: &str) -> String {
    let r = s
        .client
        .post(s.url(path))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "{path}");
    assert_eq!(r.headers()["content-type"], "application/json", "{path}");
    r.text().await.unwrap()
}

/// `assert.Eventually(cond, 10s, 50ms)` on a request's status.
async fn eventually_status(s: &Sluice, path: &str, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, body) = s.req("GET", path, "").await;
        if code == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path}: wanted {want}, last {code} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn type_api_disabled() {
    // Upstream counts registered endpoints; over HTTP: with the API off only `/ready` (and the
    // service endpoints) exist.
    let s = Sluice::start(&["--no-api"]).await;
    assert_eq!(s.req("GET", "/ready", "").await, (200, "OK".into()));
    for (m, p) in [
        ("GET", "/streams"),
        ("POST", "/streams/foo"),
        ("GET", "/streams/foo/stats"),
        ("POST", "/resources/cache/x"),
    ] {
        assert_eq!(s.req(m, p, HARMLESS_JSON).await.0, 404, "{m} {p}");
    }
    let on = Sluice::start(&[]).await;
    assert_eq!(on.req("GET", "/streams", "").await.0, 200);
}

#[tokio::test]
async fn type_api_bad_methods() {
    let s = Sluice::start(&[]).await;
    assert_eq!(
        s.req("DELETE", "/streams", "").await,
        (400, "Error: method not supported\n".into())
    );
    assert_eq!(
        s.req("DERP", "/streams/foo", "").await,
        (400, "Error: verb not supported: DERP\n".into())
    );
}

#[tokio::test]
async fn type_api_basic_operations() {
    let s = Sluice::start_env(&[], &[("__TEST_INPUT_MAPPING", "root.meow = 5")]).await;
    assert_eq!(
        s.req("PUT", "/streams/foo", HARMLESS_JSON).await,
        (404, "Stream not found\n".into())
    );
    assert_eq!(s.req("GET", "/streams/foo", "").await.0, 404);
    assert_eq!(
        s.req("POST", "/streams/foo", HARMLESS_JSON).await,
        (200, String::new())
    );
    assert_eq!(
        s.req("POST", "/streams/foo", HARMLESS_JSON).await,
        (400, "Stream already exists\n".into())
    );
    eventually_status(&s, "/ready", 200).await;
    assert_eq!(s.req("GET", "/streams/bar", "").await.0, 404);
    let (code, body) = s.req("GET", "/streams/foo", HARMLESS_JSON).await;
    assert_eq!(code, 200);
    let v = json(&body);
    assert_eq!(v["active"], true);
    assert_eq!(
        v["config"]["input"]["generate"]["mapping"],
        "root = deleted()"
    );

    assert_eq!(s.req("PUT", "/streams/foo", NEW_CONF_JSON).await.0, 200);
    let v = json(&s.req("GET", "/streams/foo", "").await.1);
    assert_eq!(v["active"], true);
    // Upstream echoes `buffer.type == "memory"`; sluice renders `buffer.memory` with defaults.
    assert!(v["config"]["buffer"]["memory"].is_object(), "{v}");

    assert_eq!(s.req("DELETE", "/streams/foo", HARMLESS_JSON).await.0, 200);
    assert_eq!(
        s.req("DELETE", "/streams/foo", "").await,
        (404, "Stream not found\n".into())
    );

    // Upstream interpolates `${__TEST_INPUT_MAPPING}` in the body; sluice never interpolates
    // API bodies (contract), so the text stays literal.
    let env_conf = r#"{"input":{"generate":{"mapping":"root = \"${__TEST_INPUT_MAPPING}\""}},"output":{"type":"drop"}}"#;
    assert_eq!(
        s.req("POST", "/streams/fooEnv?chilled=true", env_conf)
            .await
            .0,
        200
    );
    let v = json(&s.req("GET", "/streams/fooEnv", "").await.1);
    assert_eq!(v["active"], true);
    assert_eq!(
        v["config"]["input"]["generate"]["mapping"],
        "root = \"${__TEST_INPUT_MAPPING}\""
    );
    assert!(v["config"]["output"]["drop"].is_object(), "{v}");
    assert_eq!(s.req("DELETE", "/streams/fooEnv", "").await.0, 200);
}

#[tokio::test]
async fn type_api_patch() {
    let s = Sluice::start(&[]).await;
    assert_eq!(s.req("PATCH", "/streams/foo", HARMLESS_JSON).await.0, 404);
    assert_eq!(
        s.req("POST", "/streams/foo?chilled=true", HARMLESS_JSON)
            .await
            .0,
        200
    );
    assert_eq!(
        s.req(
            "PATCH",
            "/streams/foo",
            r#"{"input":{"generate":{"interval":"2s"}}}"#
        )
        .await
        .0,
        200
    );
    let v = json(&s.req("GET", "/streams/foo", "").await.1);
    assert_eq!(v["active"], true);
    assert_eq!(v["config"]["input"]["generate"]["interval"], "2s");
    assert_eq!(
        v["config"]["input"]["generate"]["mapping"],
        "root = deleted()"
    );
}

#[tokio::test]
async fn type_api_basic_operations_yaml() {
    let s = Sluice::start(&[]).await;
    assert_eq!(
        s.req("PUT", "/streams/foo?chilled=true", HARMLESS_YAML)
            .await
            .0,
        404
    );
    assert_eq!(s.req("GET", "/streams/foo", "").await.0, 404);
    assert_eq!(
        s.req("POST", "/streams/foo?chilled=true", HARMLESS_YAML)
            .await
            .0,
        200
    );
    assert_eq!(
        s.req("POST", "/streams/foo", HARMLESS_YAML).await,
        (400, "Stream already exists\n".into())
    );
    assert_eq!(s.req("GET", "/streams/bar", "").await.0, 404);
    let v = json(&s.req("GET", "/streams/foo", "").await.1);
    assert_eq!(v["active"], true);
    assert_eq!(
        v["config"]["input"]["generate"]["mapping"],
        "root = deleted()"
    );
    assert_eq!(
        s.req("PUT", "/streams/foo?chilled=true", NEW_CONF_YAML)
            .await
            .0,
        200
    );
    let v = json(&s.req("GET", "/streams/foo", "").await.1);
    assert_eq!(v["active"], true);
    assert!(v["config"]["buffer"]["memory"].is_object(), "{v}");
    assert_eq!(s.req("DELETE", "/streams/foo", "").await.0, 200);
    assert_eq!(s.req("DELETE", "/streams/foo", "").await.0, 404);
}

#[tokio::test]
async fn type_api_list() {
    let s = Sluice::start(&[]).await;
    let (code, body) = s.req("GET", "/streams", "").await;
    assert_eq!(code, 200);
    assert_eq!(json(&body), serde_json::json!({}));
    assert_eq!(s.req("POST", "/streams/foo", GO_CREATED).await.0, 200);
    let v = json(&s.req("GET", "/streams", "").await.1);
    assert_eq!(v["foo"]["active"], true, "{v}");
}

#[tokio::test]
async fn type_api_set_streams() {
    let s = Sluice::start(&[]).await;
    for id in ["foo", "bar"] {
        assert_eq!(
            s.req("POST", &format!("/streams/{id}"), GO_CREATED).await.0,
            200
        );
    }
    let v = json(&s.req("GET", "/streams", "").await.1);
    assert_eq!(v["foo"]["active"], true);
    assert_eq!(v["bar"]["active"], true);
    let body = r#"{"bar":{"input":{"generate":{"mapping":"root = this.BAR_ONE"}},"output":{"drop":{}}},"bar2":{"input":{"generate":{"mapping":"root = this.BAR_TWO"}},"output":{"drop":{}}},"baz":{"input":{"generate":{"mapping":"root = this.BAZ_ONE"}},"output":{"drop":{}}}}"#;
    assert_eq!(s.req("POST", "/streams", body).await, (200, String::new()));
    let v = json(&s.req("GET", "/streams", "").await.1);
    assert!(v.get("foo").is_none(), "{v}");
    assert!(v.get("bar").is_some(), "{v}");
    assert!(v.get("baz").is_some(), "{v}");
    for (id, mapping) in [
        ("bar", "root = this.BAR_ONE"),
        ("bar2", "root = this.BAR_TWO"),
        ("baz", "root = this.BAZ_ONE"),
    ] {
        let (code, body) = s.req("GET", &format!("/streams/{id}"), "").await;
        assert_eq!(code, 200);
        assert_eq!(
            json(&body)["config"]["input"]["generate"]["mapping"],
            mapping
        );
    }
}

#[tokio::test]
async fn type_api_streams_default_conf() {
    let s = Sluice::start(&[]).await;
    let body = "{\n\t\"foo\": {\n\t\t\"input\": {\n\t\t\t\"generate\": {\n\t\t\t\t\"mapping\": \"root = deleted()\"\n\t\t\t}\n\t\t},\n\t\t\"output\": {\n\t\t\t\"drop\": {}\n\t\t}\n\t}\n}";
    assert_eq!(s.req("POST", "/streams", body).await.0, 200);
    // Upstream asserts `interval` is absent (raw echo); sluice's GET fills defaults.
    let v = json(&s.req("GET", "/streams/foo", "").await.1);
    assert_eq!(v["config"]["input"]["generate"]["interval"], "1s", "{v}");
}

#[tokio::test]
async fn type_api_streams_linting() {
    let s = Sluice::start(&[]).await;
    // Upstream's `bar` is an `inproc` input; sluice has no `inproc` yet, so `bar` names
    // `http_server` (the lint is the same rule).
    let body = "{\n\t\"foo\": {\n\t\t\"input\": {\n\t\t\t\"generate\": {\n\t\t\t\t\"mapping\": \"root = deleted()\"\n\t\t\t}\n\t\t},\n\t\t\"output\": {\n\t\t\t\"type\":\"drop\",\n\t\t\t\"inproc\": \"meow\"\n\t\t}\n\t},\n\t\"bar\": {\n\t\t\"input\": {\n\t\t\t\"generate\": {\n\t\t\t\t\"mapping\": \"root = deleted()\"\n\t\t\t},\n\t\t\t\"type\": \"http_server\"\n\t\t},\n\t\t\"output\": {\n\t\t\t\"drop\": {}\n\t\t}\n\t}\n}";
    let v = json(&post_lint_errors(&s, "/streams", body).await);
    let mut got: Vec<String> = v["lint_errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    got.sort();
    let mut want = vec![
        "stream 'foo': (10,1) field inproc is invalid when the component type is drop (output)"
            .to_string(),
        "stream 'bar': (15,1) field generate is invalid when the component type is http_server (input)"
            .to_string(),
    ];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(s.req("GET", "/streams", "").await.1, "{}");
    assert_eq!(
        s.req("POST", "/streams?chilled=true", body).await,
        (200, String::new())
    );
}

#[tokio::test]
async fn type_api_default_conf() {
    let s = Sluice::start(&[]).await;
    let body = "{\n\t\"input\": {\n\t\t\"generate\": {\n\t\t\t\"mapping\": \"root = deleted()\"\n\t\t}\n\t},\n\t\"output\": {\n\t\t\"drop\": {}\n\t}\n}";
    assert_eq!(s.req("POST", "/streams/foo", body).await.0, 200);
    let v = json(&s.req("GET", "/streams/foo", "").await.1);
    assert_eq!(v["config"]["input"]["generate"]["interval"], "1s", "{v}");
}

#[tokio::test]
async fn type_api_linting() {
    let s = Sluice::start(&[]).await;
    let body = "{\n\t\"input\": {\n\t\t\"generate\": {\n\t\t\t\"mapping\": \"root = deleted()\"\n\t\t}\n\t},\n\t\"output\": {\n\t\t\"type\":\"drop\",\n\t\t\"inproc\": \"meow\"\n\t},\n\t\"cache_resources\": [\n\t\t{\"label\":\"not_interested\",\"memory\":{}}\n\t]\n}";
    assert_eq!(
        post_lint_errors(&s, "/streams/foo", body).await,
        r#"{"lint_errors":["(9,1) field inproc is invalid when the component type is drop (output)","(11,1) field cache_resources not recognised"]}"#
    );
    assert_eq!(
        s.req("POST", "/streams/foo?chilled=true", body).await.0,
        200
    );
}

#[tokio::test]
async fn resource_api_linting() {
    // The output and processor cases use components sluice has (`file`, `log`) instead of
    // upstream's `retry` and `split`; the rule (an unknown field inside a component) is the
    // same.
    let cases = [
        (
            "cache",
            "memory:\n  default_ttl: 123s\n  nope: nah\n  compaction_interval: 1s",
            r#"{"lint_errors":["(3,1) field nope not recognised"]}"#,
        ),
        (
            "input",
            "generate:\n  mapping: root = deleted()\n  nope: nah",
            r#"{"lint_errors":["(3,1) field nope not recognised"]}"#,
        ),
        (
            "output",
            "file:\n  path: /tmp/sluice-lint-x\n  nope: nah",
            r#"{"lint_errors":["(3,1) field nope not recognised"]}"#,
        ),
        (
            "processor",
            "log:\n  message: hi\n  nope: nah",
            r#"{"lint_errors":["(3,1) field nope not recognised"]}"#,
        ),
        (
            "rate_limit",
            "local:\n  count: 10\n  nope: nah",
            r#"{"lint_errors":["(3,1) field nope not recognised"]}"#,
        ),
    ];
    for (kind, body, lints) in cases {
        let s = Sluice::start(&[]).await;
        assert_eq!(
            post_lint_errors(&s, &format!("/resources/{kind}/foo"), body).await,
            lints,
            "{kind}"
        );
        assert_eq!(
            s.req("POST", &format!("/resources/{kind}/foo?chilled=true"), body)
                .await
                .0,
            200,
            "{kind}"
        );
    }
}

#[tokio::test]
async fn type_api_get_stats() {
    let s = Sluice::start(&[]).await;
    assert_eq!(s.req("POST", "/streams/foo", GO_CREATED).await.0, 200);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        s.req("GET", "/streams/not_exist/stats", "").await,
        (404, "Stream not found\n".into())
    );
    assert_eq!(
        s.req("POST", "/streams/foo/stats", "").await,
        (400, "Error: verb not supported: POST\n".into())
    );
    let (code, body) = s.req("GET", "/streams/foo/stats", "").await;
    assert_eq!(code, 200);
    let v = json(&body);
    assert!(!v.as_object().unwrap().is_empty(), "{v}");
}

#[tokio::test]
async fn type_api_set_resources() {
    let s = Sluice::start(&[]).await;
    let (dir1, dir2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let file_cache =
        |d: &tempfile::TempDir| format!("file:\n  directory: {}\n", d.path().display());
    let (code, text) = s
        .req(
            "POST",
            "/resources/cache/foocache?chilled=true",
            &file_cache(&dir1),
        )
        .await;
    assert_eq!(code, 200, "{text}");
    let (code, text) = s
        .req(
            "POST",
            "/streams/foo?chilled=true",
            "input:\n  inproc: feed_in\noutput:\n  cache:\n    target: foocache\n    key: '${! content() }'\n",
        )
        .await;
    assert_eq!(code, 200, "{text}");
    let feeder = "input: {http_server: {path: /send}}\noutput: {inproc: feed_in}\n";
    assert_eq!(s.req("POST", "/streams/feeder", feeder).await.0, 200);
    assert_eq!(s.req("POST", "/feeder/send", "first").await.0, 200);
    let (code, text) = s
        .req(
            "POST",
            "/resources/cache/foocache?chilled=true",
            &file_cache(&dir2),
        )
        .await;
    assert_eq!(code, 200, "{text}");
    assert_eq!(s.req("POST", "/feeder/send", "second").await.0, 200);
    let read = |d: &tempfile::TempDir, f: &str| std::fs::read_to_string(d.path().join(f)).ok();
    assert_eq!(read(&dir1, "first").as_deref(), Some("first"));
    assert_eq!(read(&dir2, "second").as_deref(), Some("second"));
    assert_eq!(read(&dir1, "second"), None);
}

#[tokio::test]
async fn api_ready() {
    let s = Sluice::start(&[]).await;
    let done = "\ninput:\n  generate:\n    count: 1\n    mapping: 'root = {}'\n    interval: \"\"\n\noutput:\n  drop: {}\n";
    assert_eq!(s.req("POST", "/streams/foo", done).await.0, 200);
    eventually_status(&s, "/ready", 200).await;
    // Upstream's output is a websocket to an invalid URL (never connects); sluice's is a
    // Kafka output whose broker does not exist.
    let never = "\ninput:\n  generate:\n    count: 1\n    mapping: 'root = {}'\n    interval: \"\"\n\noutput:\n  kafka:\n    addresses: [ 127.0.0.1:1 ]\n    topic: nope\n";
    assert_eq!(s.req("POST", "/streams/bar", never).await.0, 200);
    eventually_status(&s, "/ready", 503).await;
    let (_, body) = s.req("GET", "/ready", "").await;
    assert!(body.contains("bar"), "{body}");
}
