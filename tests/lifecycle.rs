//! Stream lifecycle through the running binary: swaps under load lose and duplicate nothing,
//! stops are bounded and name what was stuck, API-made streams survive a restart with
//! `--state-dir`, and create/update/delete churn leaks no tasks or memory.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Sluice;

fn swap_config(url: &str, tag: &str) -> String {
    format!(
        r#"input:
  http_server:
    timeout: 20s
pipeline:
  threads: 2
  processors:
    - mapping: |
        root = this
        root.m = "{tag}"
output:
  http_client:
    url: {url}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puts_under_load_lose_and_duplicate_nothing() {
    let s = Arc::new(Sluice::start(&[]).await);
    let (url, got) = common::receiver(0).await;
    assert_eq!(
        s.req("POST", "/streams/foo", &swap_config(&url, "A"))
            .await
            .0,
        200
    );

    let stop_at = Instant::now() + Duration::from_secs(10);
    let statuses: Arc<Mutex<BTreeMap<u16, usize>>> = Arc::default();
    let acked: Arc<Mutex<Vec<usize>>> = Arc::default();
    let mut clients = Vec::new();
    for c in 0..3 {
        let (s, statuses, acked) = (s.clone(), statuses.clone(), acked.clone());
        clients.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < stop_at {
                let id = c * 1_000_000 + n;
                n += 1;
                let (code, _) = s
                    .req("POST", "/foo/post", &format!("{{\"id\":{}}}", id))
                    .await;
                *statuses.lock().unwrap().entry(code).or_default() += 1;
                if code == 200 {
                    acked.lock().unwrap().push(id);
                }
            }
        }));
    }
    for i in 0..50 {
        let tag = if i % 2 == 0 { "B" } else { "A" };
        let (code, body) = s.req("PUT", "/streams/foo", &swap_config(&url, tag)).await;
        assert_eq!((code, body.as_str()), (200, ""), "PUT {}", i);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    for c in clients {
        c.await.unwrap();
    }
    let statuses = statuses.lock().unwrap().clone();
    assert_eq!(
        statuses.keys().copied().collect::<Vec<_>>(),
        vec![200],
        "statuses: {:?}",
        statuses
    );

    let mut acked = acked.lock().unwrap().clone();
    acked.sort_unstable();
    assert!(acked.len() > 100, "only {} requests in 10 s", acked.len());
    let received = got.lock().unwrap().clone();
    let mut ids = Vec::new();
    for body in &received {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        let m = v["m"].as_str().unwrap();
        assert!(m == "A" || m == "B", "{}", body);
        assert_eq!(v.as_object().unwrap().len(), 2, "{}", body);
        ids.push(v["id"].as_u64().unwrap() as usize);
    }
    ids.sort_unstable();
    assert_eq!(ids, acked, "every acknowledged message exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_with_a_stuck_output_returns_within_the_timeout_naming_it() {
    // A server that accepts connections and never answers.
    let stuck = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = stuck.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in stuck.incoming().flatten() {
            held.push(c);
        }
    });
    let s = Arc::new(Sluice::start(&[]).await);
    let cfg = format!(
        "input:\n  http_server:\n    timeout: 60s\noutput:\n  http_client:\n    url: http://127.0.0.1:{}/\n    timeout: 60s\n",
        port
    );
    assert_eq!(s.req("POST", "/streams/stuck", &cfg).await.0, 200);
    let s2 = s.clone();
    let pending = tokio::spawn(async move { s2.req("POST", "/stuck/post", "hello").await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = Instant::now();
    let (code, body) = s.req("DELETE", "/streams/stuck?timeout=2s", "").await;
    let took = start.elapsed();
    assert_eq!(code, 200);
    assert!(took < Duration::from_secs(4), "DELETE took {:?}", took);
    assert!(
        body.contains("output http_client (root.output) was still writing"),
        "{}",
        body
    );
    assert_eq!(s.req("GET", "/streams/stuck", "").await.0, 404);
    // The stuck request is not acknowledged as delivered.
    let (code, _) = pending.await.unwrap();
    assert_ne!(code, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_come_back_after_a_restart_with_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap().to_string();
    let gen = |n: u32| {
        format!("input:\n  generate:\n    mapping: 'root = {}'\n    interval: 1h\noutput:\n  drop: {{}}\n", n)
    };
    let s = Sluice::start(&["--state-dir", &dir_arg]).await;
    assert_eq!(s.req("POST", "/streams/one", &gen(1)).await.0, 200);
    assert_eq!(s.req("POST", "/streams/two", &gen(2)).await.0, 200);
    assert_eq!(s.req("POST", "/streams/gone", &gen(3)).await.0, 200);
    assert_eq!(s.req("PUT", "/streams/one", &gen(11)).await.0, 200);
    assert_eq!(
        s.req(
            "PATCH",
            "/streams/two",
            "input:\n  generate:\n    interval: 2h\n"
        )
        .await
        .0,
        200
    );
    assert_eq!(s.req("DELETE", "/streams/gone", "").await.0, 200);
    let mut before = BTreeMap::new();
    for id in ["one", "two"] {
        let (_, body) = s.req("GET", &format!("/streams/{}", id), "").await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        before.insert(id, v["config"].clone());
    }
    s.stop();

    let s = Sluice::start(&["--state-dir", &dir_arg]).await;
    let (_, list) = s.req("GET", "/streams", "").await;
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(
        v.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["one", "two"]
    );
    for (id, config) in before {
        let (_, body) = s.req("GET", &format!("/streams/{}", id), "").await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["config"], config, "stream {}", id);
    }
    assert_eq!(before_value(&s, "one").await, "root = 11");
}

async fn before_value(s: &Sluice, id: &str) -> String {
    let (_, body) = s.req("GET", &format!("/streams/{}", id), "").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["config"]["input"]["generate"]["mapping"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A gauge's value from `/metrics`.
async fn gauge(s: &Sluice, name: &str) -> u64 {
    let (_, text) = s.req("GET", "/metrics", "").await;
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{} missing from /metrics", name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_leaks_no_tasks_or_memory() {
    let s = Arc::new(Sluice::start(&[]).await);
    let configs = [
        "input:\n  generate:\n    mapping: 'root = \"x\"'\n    interval: 1h\noutput:\n  drop: {}\n".to_string(),
        "input:\n  http_server: {}\npipeline:\n  processors:\n    - mapping: 'root = this'\noutput:\n  http_server: {}\n".to_string(),
    ];
    // Warm up (connection pool, allocator) before taking the baseline.
    for config in &configs {
        assert_eq!(s.req("POST", "/streams/warm", config).await.0, 200);
        assert_eq!(s.req("DELETE", "/streams/warm", "").await.0, 200);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let tasks_before = gauge(&s, "sluice_tokio_alive_tasks").await;
    let rss_before = gauge(&s, "process_resident_memory_bytes").await;

    let mut workers = Vec::new();
    for w in 0..50 {
        let (s, configs) = (s.clone(), configs.clone());
        workers.push(tokio::spawn(async move {
            // Each worker's own client: dropping it at the end closes its connections.
            let client = common::client();
            let id = format!("/streams/c{}", w);
            for cycle in 0..40 {
                let (a, b) = (&configs[cycle % 2], &configs[(cycle + 1) % 2]);
                assert_eq!(s.req_with(&client, "POST", &id, a).await.0, 200);
                assert_eq!(s.req_with(&client, "PUT", &id, b).await.0, 200);
                assert_eq!(s.req_with(&client, "DELETE", &id, "").await.0, 200);
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(s.req("GET", "/streams", "").await, (200, "{}".into()));
    // Tasks return to the baseline once the last stops have finished.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut tasks_after = gauge(&s, "sluice_tokio_alive_tasks").await;
    while tasks_after > tasks_before + 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        tasks_after = gauge(&s, "sluice_tokio_alive_tasks").await;
    }
    assert!(
        tasks_after <= tasks_before + 2,
        "tasks {} -> {}",
        tasks_before,
        tasks_after
    );
    let rss_after = gauge(&s, "process_resident_memory_bytes").await;
    const BOUND: u64 = 64 * 1024 * 1024;
    assert!(
        rss_after.saturating_sub(rss_before) < BOUND,
        "resident memory grew by {} bytes over 2000 cycles (bound {})",
        rss_after.saturating_sub(rss_before),
        BOUND
    );
}
