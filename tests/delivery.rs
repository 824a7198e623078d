//! Delivery through the running binary: a message whose output cannot deliver is not
//! acknowledged, and arrives once the output recovers; many streams run side by side.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Sluice;

fn stream(port: u16, retries: u32) -> String {
    format!(
        r#"input:
  http_server:
    timeout: 30s
output:
  http_client:
    url: http://127.0.0.1:{port}/in
    retries: {retries}
    retry_period: 100ms
    max_retry_backoff: 200ms
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeliverable_message_is_not_acknowledged_and_arrives_after_recovery() {
    let s = Sluice::start(&[]).await;
    let port = common::free_port();

    // The output's target is down and it gives up: the client is told (502), not 200.
    assert_eq!(
        s.req("POST", "/streams/fail", &stream(port, 1)).await.0,
        200
    );
    let (code, body) = s.req("POST", "/fail/post", "first").await;
    assert_eq!(code, 502, "{}", body);

    // With more retries, the request waits while the target is down and succeeds once it
    // comes up; the message arrives exactly once.
    assert_eq!(
        s.req("POST", "/streams/wait", &stream(port, 50)).await.0,
        200
    );
    let pending = {
        let c = s.client.clone();
        let url = s.url("/wait/post");
        tokio::spawn(async move {
            c.post(url)
                .body("second")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !pending.is_finished(),
        "answered before the output could deliver"
    );
    let (_, got) = common::receiver(port).await;
    assert_eq!(pending.await.unwrap(), 200);
    // The client retries its rejected message; now it is delivered too.
    assert_eq!(s.req("POST", "/fail/post", "first").await.0, 200);
    let mut seen = got.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, vec!["first".to_string(), "second".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_streams_created_concurrently_all_carry_data() {
    let s = Arc::new(Sluice::start(&[]).await);
    let cfg = "input:\n  http_server: {}\npipeline:\n  processors:\n    - mapping: 'root = content().uppercase()'\noutput:\n  drop: {}\n";
    let mut tasks = Vec::new();
    for i in 0..100 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("s{}", i);
            assert_eq!(s.req("POST", &format!("/streams/{}", id), cfg).await.0, 200);
            assert_eq!(
                s.req("POST", &format!("/{}/post", id), &format!("hello {}", i))
                    .await
                    .0,
                200
            );
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (_, list) = s.req("GET", "/streams", "").await;
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 100);
    for i in 0..100 {
        assert_eq!(v[format!("s{}", i)]["active"], true);
        let (_, stats) = s.req("GET", &format!("/streams/s{}/stats", i), "").await;
        let st: serde_json::Value = serde_json::from_str(&stats).unwrap();
        let key = format!(
            "output_sent{{label=\"\",path=\"root.output\",stream=\"s{}\"}}",
            i
        );
        assert_eq!(st[&key], 1, "stream s{}: {}", i, stats);
    }
}
