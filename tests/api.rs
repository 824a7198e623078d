//! HTTP API tests against a running `sluice streams`: the streams walkthrough's HTTP streams,
//! status codes and bodies of the reference, and sluice's contract (validate before swap,
//! id rules, body limit).

mod common;

use std::time::Duration;

use common::Sluice;

const FOO: &str = include_str!("fixtures/streams/foo.yaml");

const FOO_NO_BUFFER: &str = include_str!("fixtures/streams/foo_put.yaml");

/// Posts `body` to `/{id}/post` while a client waits on `/{id}/get`; returns what the GET
/// received and the POST's status.
async fn post_and_get(s: &Sluice, id: &str, body: &str) -> (u16, String, u16) {
    let getter = {
        let c = s.client.clone();
        let url = s.url(&format!("/{}/get", id));
        tokio::spawn(async move {
            let r = c.get(url).send().await.unwrap();
            let st = r.status().as_u16();
            (st, r.text().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (post_status, _) = s.req("POST", &format!("/{}/post", id), body).await;
    let (get_status, got) = getter.await.unwrap();
    (get_status, got, post_status)
}

#[tokio::test]
async fn walkthrough_http_streams() {
    let s = Sluice::start(&[]).await;
    assert_eq!(
        s.req("POST", "/streams/foo", FOO).await,
        (200, String::new())
    );

    let (code, list) = s.req("GET", "/streams", "").await;
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(v["foo"]["active"], true);
    assert!(v["foo"]["uptime"].as_f64().unwrap() >= 0.0);
    assert!(v["foo"]["uptime_str"].as_str().unwrap().ends_with('s'));

    let (get_status, got, post_status) = post_and_get(
        &s,
        "foo",
        r#"{"user":{"id":"foo"},"body":{"content":"bar"}}"#,
    )
    .await;
    assert_eq!((get_status, post_status), (200, 200));
    assert_eq!(got, r#"{"content":"bar","id":"foo"}"#);

    let (code, body) = s.req("GET", "/streams/foo", "").await;
    assert_eq!(code, 200);
    assert!(body.starts_with(r#"{"active":true,"uptime":"#), "{}", body);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let input = &v["config"]["input"]["http_server"];
    assert_eq!(input["address"], "");
    assert_eq!(input["cert_file"], "");
    assert_eq!(input["key_file"], "");
    assert_eq!(input["path"], "/post");
    assert_eq!(input["timeout"], "5s");
    assert_eq!(v["config"]["buffer"]["memory"]["limit"], 524288000);
    assert_eq!(v["config"]["pipeline"]["threads"], 4);
    assert_eq!(v["config"]["output"]["http_server"]["path"], "/get");

    assert_eq!(s.req("PUT", "/streams/foo", FOO_NO_BUFFER).await.0, 200);
    let (_, body) = s.req("GET", "/streams/foo", "").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["config"]["buffer"], serde_json::json!({"none": {}}));

    let bulk = r#"bar:
  input:
    http_client:
      url: BAZ_GET
  output:
    stdout: {}
baz:
  input:
    http_server: {}
  output:
    http_server: {}
"#
    .replace("BAZ_GET", &s.url("/baz/get"));
    assert_eq!(s.req("POST", "/streams", &bulk).await, (200, String::new()));
    let (_, list) = s.req("GET", "/streams", "").await;
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    let ids: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(ids, vec!["bar", "baz"]);
    assert_eq!(v["bar"]["active"], true);

    // baz's output feeds bar's http_client input, which writes to stdout.
    let (code, _) = s.req("POST", "/baz/post", "hello from baz").await;
    assert_eq!(code, 200);
    // The POST is acknowledged once baz's output holds the message; bar picks it up on its
    // next poll. Wait for bar to have written it before deleting bar.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (_, stats) = s.req("GET", "/streams/bar/stats", "").await;
        let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
        let sent = v["output_sent{label=\"\",path=\"root.output\",stream=\"bar\"}"]
            .as_u64()
            .unwrap_or(0);
        if sent >= 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "bar never wrote: {}",
            stats
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    assert_eq!(s.req("DELETE", "/streams/bar", "").await.0, 200);
    assert_eq!(
        s.req("GET", "/streams/bar", "").await,
        (404, "Stream not found\n".into())
    );
    let out = s.stop();
    assert!(out.contains("hello from baz\n"), "stdout was {:?}", out);
}

#[tokio::test]
async fn reference_status_codes_and_bodies() {
    let s = Sluice::start(&[]).await;
    assert_eq!(s.req("GET", "/ping", "").await, (200, "pong".into()));
    let (code, v) = s.req("GET", "/version", "").await;
    assert_eq!(code, 200);
    assert!(v.starts_with(r#"{"version":""#));
    assert_eq!(s.req("GET", "/ready", "").await, (200, "OK".into()));
    assert_eq!(s.req("GET", "/streams", "").await, (200, "{}".into()));
    assert_eq!(
        s.req("GET", "/streams/nope", "").await,
        (404, "Stream not found\n".into())
    );
    assert_eq!(
        s.req("DELETE", "/streams/nope", "").await,
        (404, "Stream not found\n".into())
    );
    assert_eq!(
        s.req("PUT", "/streams/nope", FOO).await,
        (404, "Stream not found\n".into())
    );
    assert_eq!(
        s.req("PATCH", "/streams/nope", "{}").await,
        (404, "Stream not found\n".into())
    );
    assert_eq!(
        s.req("GET", "/nope/nothing", "").await,
        (404, "404 page not found\n".into())
    );
    assert_eq!(
        s.req("PUT", "/streams", "").await,
        (400, "Error: method not supported\n".into())
    );

    let gen =
        "input:\n  generate:\n    mapping: 'root = \"x\"'\n    interval: 1h\noutput:\n  drop: {}\n";
    assert_eq!(s.req("POST", "/streams/g1", gen).await.0, 200);
    assert_eq!(
        s.req("POST", "/streams/g1", gen).await,
        (400, "Stream already exists\n".into())
    );
    assert_eq!(
        s.req("OPTIONS", "/streams/g1", "").await,
        (400, "Error: verb not supported: OPTIONS\n".into())
    );
    assert_eq!(
        s.req("POST", "/streams/g1/stats", "").await,
        (400, "Error: verb not supported: POST\n".into())
    );
    let (code, stats) = s.req("GET", "/streams/g1/stats", "").await;
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert!(v["uptime_ns"].as_u64().unwrap() > 0);

    // Lint errors: the reference's body.
    let bad = "input:\n  generate:\n    mapping: 'root = 1'\n    nope: 1\noutput:\n  drop: {}\n";
    let (code, body) = s.req("POST", "/streams/g2", bad).await;
    assert_eq!(code, 400);
    assert_eq!(
        body,
        r#"{"lint_errors":["(4,1) field nope not recognised"]}"#
    );
    // Chilled skips linting.
    assert_eq!(s.req("POST", "/streams/g2?chilled=true", bad).await.0, 200);

    // sluice's contract: invalid ids, oversized bodies.
    assert_eq!(
        s.req("POST", "/streams/a%20b", gen).await,
        (400, "Error: invalid stream id\n".into())
    );
    let huge = format!("# {}\n{}", "x".repeat(5 * 1024 * 1024), gen);
    assert_eq!(s.req("POST", "/streams/big", &huge).await.0, 413);

    // PATCH merges into the stored document.
    assert_eq!(
        s.req(
            "PATCH",
            "/streams/g1",
            "input:\n  generate:\n    interval: 2h\n"
        )
        .await
        .0,
        200
    );
    let (_, body) = s.req("GET", "/streams/g1", "").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["config"]["input"]["generate"]["interval"], "2h");
    assert_eq!(v["config"]["input"]["generate"]["mapping"], "root = \"x\"");

    let (code, eps) = s.req("GET", "/endpoints", "").await;
    assert_eq!(code, 200);
    assert!(eps.contains("/g1/ready"));
    let (code, metrics) = s.req("GET", "/metrics", "").await;
    assert_eq!(code, 200);
    assert!(metrics.contains(r#"stream="g1""#), "{}", metrics);
    assert!(
        metrics.contains("sluice_jit_fallbacks_total 0"),
        "{}",
        metrics
    );
}

#[tokio::test]
async fn processor_metrics_say_which_back_end_runs_the_mapping() {
    let s = Sluice::start(&[]).await;
    assert_eq!(s.req("POST", "/streams/foo", FOO_NO_BUFFER).await.0, 200);
    let (code, stats) = s.req("GET", "/streams/foo/stats", "").await;
    assert_eq!(code, 200);
    assert!(
        stats.contains(r#"processor_backend_jit{label=\"\",path=\"root.pipeline.processors.0\",stream=\"foo\"}":1"#),
        "{}",
        stats
    );
    assert!(
        stats.contains(r#"processor_backend_interpreter{label=\"\",path=\"root.pipeline.processors.0\",stream=\"foo\"}":0"#),
        "{}",
        stats
    );
    // A mapping of constants has nothing to compile: the interpreter runs it.
    let constant = "input:\n  http_server: {}\npipeline:\n  processors:\n    - mapping: 'root = \"x\"'\noutput:\n  drop: {}\n";
    assert_eq!(s.req("POST", "/streams/k", constant).await.0, 200);
    let (_, stats) = s.req("GET", "/streams/k/stats", "").await;
    assert!(
        stats.contains(r#"processor_backend_interpreter{label=\"\",path=\"root.pipeline.processors.0\",stream=\"k\"}":1"#),
        "{}",
        stats
    );
}

#[tokio::test]
async fn a_rejected_update_leaves_the_running_stream_untouched() {
    let s = Sluice::start(&[]).await;
    assert_eq!(s.req("POST", "/streams/foo", FOO_NO_BUFFER).await.0, 200);
    let bad = FOO_NO_BUFFER.replace("this.user.id", "this.user.id.uppercas()");
    let (code, body) = s.req("PUT", "/streams/foo", &bad).await;
    assert_eq!(code, 400);
    assert!(
        body.contains("unknown method 'uppercas', did you mean 'uppercase'?"),
        "{}",
        body
    );
    let (get_status, got, post_status) = post_and_get(
        &s,
        "foo",
        r#"{"user":{"id":"still"},"body":{"content":"old"}}"#,
    )
    .await;
    assert_eq!((get_status, post_status), (200, 200));
    assert_eq!(got, r#"{"content":"old","id":"still"}"#);
    let (_, body) = s.req("GET", "/streams/foo", "").await;
    assert!(!body.contains("uppercas"));
}

#[tokio::test]
async fn nacks_and_processing_errors_reach_the_client() {
    let s = Sluice::start(&[]).await;
    // A rejecting output: the http_server input answers 502 with the reason.
    let reject = "input:\n  http_server: {}\noutput:\n  reject: 'no thanks: ${! content() }'\n";
    assert_eq!(s.req("POST", "/streams/r", reject).await.0, 200);
    assert_eq!(
        s.req("POST", "/r/post", "abc").await,
        (502, "no thanks: abc\n".into())
    );

    // A message that fails a processor is flagged, not dropped: `catch` sees the error.
    let flagged = r#"input:
  http_server: {}
pipeline:
  processors:
    - mapping: 'root = this.a.number()'
    - catch:
        - mapping: 'root = "caught: " + error()'
output:
  http_server: {}
"#;
    assert_eq!(s.req("POST", "/streams/f", flagged).await.0, 200);
    let (_, got, post_status) = post_and_get(&s, "f", r#"{"a":"x"}"#).await;
    assert_eq!(post_status, 200);
    assert!(
        got.starts_with("caught: failed assignment (line 1):"),
        "{}",
        got
    );

    // A filtered message is acknowledged.
    let filter = "input:\n  http_server: {}\npipeline:\n  processors:\n    - mapping: 'root = deleted()'\noutput:\n  reject: nope\n";
    assert_eq!(s.req("POST", "/streams/d", filter).await.0, 200);
    assert_eq!(s.req("POST", "/d/post", "gone").await.0, 200);

    // A construction failure is a 502 naming the component.
    let port = common::free_port();
    let _hold = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let busy = format!(
        "input:\n  http_server:\n    address: 127.0.0.1:{}\noutput:\n  drop: {{}}\n",
        port
    );
    let (code, body) = s.req("POST", "/streams/busy", &busy).await;
    assert_eq!(code, 502);
    assert!(
        body.starts_with("Error: failed to init input <no label> path root.input: failed to bind"),
        "{}",
        body
    );
}

#[tokio::test]
async fn a_replace_hands_undelivered_messages_to_the_new_stream() {
    let s = Sluice::start(&[]).await;
    assert_eq!(s.req("POST", "/streams/foo", FOO).await.0, 200);
    // The memory buffer takes the message; no client reads it yet.
    assert_eq!(
        s.req(
            "POST",
            "/foo/post",
            r#"{"user":{"id":"early"},"body":{"content":"kept"}}"#
        )
        .await
        .0,
        200
    );
    let start = std::time::Instant::now();
    assert_eq!(
        s.req("PUT", "/streams/foo", FOO_NO_BUFFER).await,
        (200, String::new())
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the replace waited {:?}",
        start.elapsed()
    );
    let (code, got) = s.req("GET", "/foo/get", "").await;
    assert_eq!(
        (code, got.as_str()),
        (200, r#"{"content":"kept","id":"early"}"#)
    );
}

#[tokio::test]
async fn websocket_endpoints_carry_messages_both_ways() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as Ws;
    let s = Sluice::start(&[]).await;
    let echo = "input:\n  http_server: {}\npipeline:\n  processors:\n    - mapping: 'root = content().uppercase()'\noutput:\n  sync_response: {}\n";
    assert_eq!(s.req("POST", "/streams/echo", echo).await.0, 200);
    let url = s.url("/echo/post/ws").replace("http://", "ws://");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Ws::Text("hello".into())).await.unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(reply.into_text().unwrap().as_str(), "HELLO");

    let out = "input:\n  http_server: {}\noutput:\n  http_server: {}\n";
    assert_eq!(s.req("POST", "/streams/out", out).await.0, 200);
    let url = s.url("/out/get/ws").replace("http://", "ws://");
    let (mut reader, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(s.req("POST", "/out/post", "over the socket").await.0, 200);
    let frame = tokio::time::timeout(Duration::from_secs(5), reader.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(frame.into_data().as_ref(), b"over the socket");
}

#[tokio::test]
async fn memory_buffer_batch_policy_groups_messages() {
    let s = Sluice::start(&[]).await;
    let cfg = "input:\n  http_server: {}\nbuffer:\n  memory:\n    batch_policy:\n      enabled: true\n      count: 3\n      period: 300ms\noutput:\n  http_server: {}\n";
    assert_eq!(s.req("POST", "/streams/b", cfg).await.0, 200);
    for i in 0..3 {
        assert_eq!(s.req("POST", "/b/post", &format!("m{}", i)).await.0, 200);
    }
    let r = s.client.get(s.url("/b/get")).send().await.unwrap();
    let ctype = r.headers()["content-type"].to_str().unwrap().to_string();
    let body = r.text().await.unwrap();
    assert!(ctype.starts_with("multipart/form-data"), "{}", ctype);
    for i in 0..3 {
        assert!(body.contains(&format!("m{}", i)), "{}", body);
    }
    // A lone message is released by the period, on its own.
    assert_eq!(s.req("POST", "/b/post", "alone").await.0, 200);
    assert_eq!(s.req("GET", "/b/get", "").await, (200, "alone".into()));
}
