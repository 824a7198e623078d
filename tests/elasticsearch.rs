//! Elasticsearch output tests: an HTTP server on loopback implements the `_bulk` endpoint's
//! contract (NDJSON action/document pairs, per-item results) and can inject 429s and per-item
//! failures; sluice's stream writes to it and we assert exactly what was indexed.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use common::Sluice;

/// What the fake server does and has seen.
#[derive(Default)]
struct Bulk {
    /// Indexed documents by (index, id).
    docs: BTreeMap<(String, String), serde_json::Value>,
    /// Whole requests to answer with 429 before accepting.
    reject_requests: usize,
    /// Document ids to fail with a per-item 429 once.
    throttle_once: Vec<String>,
    /// Document ids to fail permanently (400 mapper_parsing_exception).
    bad_ids: Vec<String>,
    requests: usize,
}

async fn bulk(State(st): State<Arc<Mutex<Bulk>>>, body: Bytes) -> (StatusCode, String) {
    let mut st = st.lock().unwrap();
    st.requests += 1;
    if st.reject_requests > 0 {
        st.reject_requests -= 1;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            r#"{"error":"too many requests"}"#.into(),
        );
    }
    let text = String::from_utf8(body.to_vec()).unwrap();
    let mut lines = text.lines();
    let mut items = Vec::new();
    let mut errors = false;
    while let Some(action_line) = lines.next() {
        let action: serde_json::Value =
            serde_json::from_str(action_line).expect("action line is JSON");
        let (verb, meta) = action.as_object().unwrap().iter().next().unwrap();
        let index = meta["_index"].as_str().unwrap().to_string();
        let id = meta["_id"].as_str().unwrap().to_string();
        let doc: serde_json::Value = if verb == "delete" {
            serde_json::Value::Null
        } else {
            serde_json::from_str(lines.next().expect("document line")).expect("document is JSON")
        };
        let item = if let Some(pos) = st.throttle_once.iter().position(|x| *x == id) {
            st.throttle_once.remove(pos);
            errors = true;
            serde_json::json!({verb: {"_index": index, "_id": id, "status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}})
        } else if st.bad_ids.contains(&id) {
            errors = true;
            serde_json::json!({verb: {"_index": index, "_id": id, "status": 400, "error": {"type": "mapper_parsing_exception", "reason": "failed to parse field [n]"}}})
        } else {
            st.docs.insert((index.clone(), id.clone()), doc);
            serde_json::json!({verb: {"_index": index, "_id": id, "status": 201, "result": "created"}})
        };
        items.push(item);
    }
    (
        StatusCode::OK,
        serde_json::json!({"took": 1, "errors": errors, "items": items}).to_string(),
    )
}

async fn fake_es(state: Arc<Mutex<Bulk>>) -> String {
    let app = axum::Router::new()
        .route("/_bulk", post(bulk))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{}", addr)
}

fn stream(url: &str) -> String {
    format!(
        r#"input:
  http_server: {{}}
output:
  elasticsearch:
    urls: [ "{url}" ]
    index: 'docs-${{! this.kind }}'
    id: '${{! this.id }}'
    backoff:
      initial_interval: 10ms
      max_interval: 50ms
      max_elapsed_time: 5s
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexes_documents_retrying_only_throttled_items() {
    let state = Arc::new(Mutex::new(Bulk {
        reject_requests: 1,
        throttle_once: vec!["d3".into()],
        ..Default::default()
    }));
    let url = fake_es(state.clone()).await;
    let s = Sluice::start(&[]).await;
    assert_eq!(s.req("POST", "/streams/es", &stream(&url)).await.0, 200);
    for i in 0..6 {
        let doc = format!(
            "{{\"id\":\"d{}\",\"kind\":\"{}\",\"n\":{}}}",
            i,
            if i % 2 == 0 { "even" } else { "odd" },
            i
        );
        assert_eq!(
            s.req("POST", "/es/post", &doc).await,
            (200, String::new()),
            "doc {}",
            i
        );
    }
    let st = state.lock().unwrap();
    let got: Vec<(String, String)> = st.docs.keys().cloned().collect();
    let mut want: Vec<(String, String)> = (0..6)
        .map(|i| {
            (
                format!("docs-{}", if i % 2 == 0 { "even" } else { "odd" }),
                format!("d{}", i),
            )
        })
        .collect();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(st.docs[&("docs-odd".to_string(), "d3".to_string())]["n"], 3);
    // 6 documents, one whole-request 429, one per-item retry.
    assert_eq!(st.requests, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_document_is_nacked_with_the_reason() {
    let state = Arc::new(Mutex::new(Bulk {
        bad_ids: vec!["bad".into()],
        ..Default::default()
    }));
    let url = fake_es(state.clone()).await;
    let s = Sluice::start(&[]).await;
    assert_eq!(s.req("POST", "/streams/es", &stream(&url)).await.0, 200);
    let (code, body) = s
        .req("POST", "/es/post", r#"{"id":"bad","kind":"x","n":"oops"}"#)
        .await;
    assert_eq!(code, 502);
    assert!(body.contains("failed to parse field [n]"), "{}", body);
    assert_eq!(
        s.req("POST", "/es/post", r#"{"id":"good","kind":"x","n":1}"#)
            .await
            .0,
        200
    );
    let st = state.lock().unwrap();
    assert_eq!(
        st.docs.keys().cloned().collect::<Vec<_>>(),
        vec![("docs-x".to_string(), "good".to_string())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batching_groups_documents_into_one_bulk_request() {
    let state = Arc::new(Mutex::new(Bulk::default()));
    let url = fake_es(state.clone()).await;
    let s = Arc::new(Sluice::start(&[]).await);
    let cfg = format!(
        "{}    batching:\n      count: 3\n      period: 300ms\n",
        stream(&url)
    );
    assert_eq!(s.req("POST", "/streams/es", &cfg).await.0, 200);
    let mut posts = Vec::new();
    for i in 0..3 {
        let s = s.clone();
        posts.push(tokio::spawn(async move {
            s.req(
                "POST",
                "/es/post",
                &format!("{{\"id\":\"b{}\",\"kind\":\"k\",\"n\":{}}}", i, i),
            )
            .await
            .0
        }));
    }
    for p in posts {
        assert_eq!(p.await.unwrap(), 200);
    }
    assert_eq!(
        state.lock().unwrap().requests,
        1,
        "three documents, one bulk request"
    );
    // A lone document is flushed by the period.
    let start = std::time::Instant::now();
    assert_eq!(
        s.req("POST", "/es/post", r#"{"id":"lone","kind":"k","n":9}"#)
            .await
            .0,
        200
    );
    assert!(start.elapsed() >= std::time::Duration::from_millis(250));
    let st = state.lock().unwrap();
    assert_eq!(st.requests, 2);
    assert_eq!(st.docs.len(), 4);
}
