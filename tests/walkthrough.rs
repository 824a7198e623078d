//! The streams walkthrough (`shared/spec/streams-walkthrough.md`), every request in order and
//! verbatim (same paths, methods, bodies), against `sluice streams` on localhost:4195, each
//! response checked against the document. Stream `bar` reads Kafka at localhost:9092 and
//! writes Elasticsearch at localhost:9200; neither runs here, and the stream must still be
//! created and active.

mod common;

use std::time::Duration;

use common::Sluice;

const FOO: &str = include_str!("fixtures/streams/foo.yaml");

const BAR: &str = include_str!("fixtures/streams/bar.yaml");

const FOO_PUT: &str = include_str!("fixtures/streams/foo_put.yaml");

const BULK: &str = r#"bar:
  input:
    http_client:
      url: http://localhost:4195/baz/get
  output:
    stdout: {}
baz:
  input:
    http_server: {}
  output:
    http_server: {}
"#;

fn streams(body: &str) -> serde_json::Map<String, serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(body).expect("GET /streams is JSON");
    let m = v.as_object().unwrap().clone();
    for (id, s) in &m {
        assert_eq!(s["active"], true, "{} is active", id);
        assert!(s["uptime"].as_f64().unwrap() > 0.0);
        assert!(s["uptime_str"].as_str().unwrap().ends_with('s'));
    }
    m
}

fn ids(m: &serde_json::Map<String, serde_json::Value>) -> Vec<&str> {
    m.keys().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walkthrough_runs_verbatim() {
    let s = Sluice::start_on("127.0.0.1:4195", &[]).await;
    let base = "http://localhost:4195";
    sluice_runtime::tls::install_provider();
    let c = reqwest::Client::new();
    let send = |m: reqwest::Method, path: &str, body: Option<&str>| {
        let mut r = c.request(m, format!("{}{}", base, path));
        if let Some(b) = body {
            r = r.body(b.to_string());
        }
        async move {
            let resp = r.send().await.expect("request");
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    use reqwest::Method;

    assert_eq!(
        send(Method::POST, "/streams/foo", Some(FOO)).await,
        (200, String::new())
    );
    let (code, body) = send(Method::GET, "/streams", None).await;
    assert_eq!(code, 200);
    assert_eq!(ids(&streams(&body)), vec!["foo"]);

    // `curl -d` sends a form content type; the memory buffer acknowledges on storage.
    let r = c
        .post(format!("{}/foo/post", base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(r#"{"user":{"id":"foo"},"body":{"content":"bar"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    assert_eq!(
        send(Method::POST, "/streams/bar", Some(BAR)).await,
        (200, String::new())
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (_, body) = send(Method::GET, "/streams", None).await;
    assert_eq!(ids(&streams(&body)), vec!["bar", "foo"]);

    let (code, body) = send(Method::GET, "/streams/foo", None).await;
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["active"], true);
    assert!(v["uptime"].as_f64().unwrap() > 0.0);
    let http = &v["config"]["input"]["http_server"];
    assert_eq!(
        (
            http["address"].as_str(),
            http["cert_file"].as_str(),
            http["key_file"].as_str(),
            http["path"].as_str(),
            http["timeout"].as_str()
        ),
        (Some(""), Some(""), Some(""), Some("/post"), Some("5s"))
    );
    assert!(v["config"]["buffer"]["memory"]["limit"].as_u64().is_some());

    assert_eq!(
        send(Method::PUT, "/streams/foo", Some(FOO_PUT)).await,
        (200, String::new())
    );
    let (_, body) = send(Method::GET, "/streams/foo", None).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["config"]["input"]["http_server"]["path"], "/post");
    assert_eq!(v["config"]["buffer"], serde_json::json!({"none": {}}));

    assert_eq!(
        send(Method::DELETE, "/streams/bar", None).await,
        (200, String::new())
    );
    let (_, body) = send(Method::GET, "/streams", None).await;
    assert_eq!(ids(&streams(&body)), vec!["foo"]);

    assert_eq!(
        send(Method::POST, "/streams", Some(BULK)).await,
        (200, String::new())
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (_, body) = send(Method::GET, "/streams", None).await;
    assert_eq!(ids(&streams(&body)), vec!["bar", "baz"]);
    drop(s);
}
