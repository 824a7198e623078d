//! No acknowledged message is lost or corrupted by a swap, tested against the real binary:
//! concurrent clients post while PUTs alternate two mappings, with a `file` output (lines of
//! the old and new graph never interleave) and with a memory buffer in front of a slow output
//! (what it acknowledged passes to the successor). Streams with their own `http_server`
//! address keep their port through a PUT, release it at once on DELETE, and never keep it
//! after a failed build. Plus the small contract holes: PATCH is linted, ids are checked,
//! slow clients are cut off.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{free_port, Sluice};

const MAPPINGS: [&str; 2] = ["root = this", "root = this\\nroot.v = 2"];

/// Four clients post `per_client` messages each (ids `c-i`) to `url` while `puts` PUTs
/// alternate two mappings on stream `id` with `conf(mapping)`. Returns the ids whose POST
/// was acknowledged (200).
async fn post_while_swapping(
    s: &Sluice,
    id: &str,
    url: String,
    per_client: usize,
    puts: usize,
    conf: impl Fn(&str) -> String,
) -> Vec<String> {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    for c in 0..4 {
        let url = url.clone();
        let acked = acked.clone();
        clients.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 0..per_client {
                let id = format!("{c}-{i}");
                let body = format!(r#"{{"id":"{id}"}}"#);
                if let Ok(r) = client.post(&url).body(body).send().await {
                    if r.status() == 200 {
                        acked.lock().unwrap().push(id);
                    }
                }
            }
        }));
    }
    for n in 0..puts {
        tokio::time::sleep(Duration::from_millis(40)).await;
        let (code, text) = s
            .req("PUT", &format!("/streams/{id}"), &conf(MAPPINGS[n % 2]))
            .await;
        assert_eq!(code, 200, "PUT {n}: {text}");
        assert!(!text.contains("Warning"), "PUT {n} was forced: {text}");
    }
    for c in clients {
        c.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    acked
}

/// Every line parses and carries an id; returns how often each id appears.
fn count_ids(lines: &[String]) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for l in lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("line {l:?} does not parse: {e}"));
        let id = v["id"].as_str().unwrap_or_else(|| panic!("no id in {l}"));
        *seen.entry(id.to_string()).or_insert(0) += 1;
    }
    seen
}

fn assert_exactly_once(acked: &[String], seen: &HashMap<String, usize>) {
    assert!(acked.len() > 1000, "too few acknowledged: {}", acked.len());
    for id in acked {
        assert_eq!(
            seen.get(id),
            Some(&1),
            "acknowledged id {id} appears {:?} times",
            seen.get(id)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_output_lines_never_interleave_across_puts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let s = Sluice::start(&[]).await;
    let conf = |mapping: &str| {
        format!(
            "input: {{http_server: {{path: /in}}}}\npipeline:\n  threads: 4\n  processors:\n    - mapping: \"{mapping}\"\noutput: {{file: {{path: {}, codec: lines}}}}\n",
            path.display()
        )
    };
    assert_eq!(s.req("POST", "/streams/f", &conf(MAPPINGS[0])).await.0, 200);
    let acked = post_while_swapping(&s, "f", s.url("/f/in"), 2500, 50, conf).await;
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let seen = count_ids(&lines);
    assert_exactly_once(&acked, &seen);
}

/// A receiver that takes `delay` per request and records each body's lines.
async fn slow_receiver(delay: Duration) -> (String, Arc<Mutex<Vec<String>>>) {
    use axum::body::Bytes;
    use axum::extract::State;
    type Got = Arc<Mutex<Vec<String>>>;
    let got: Got = Default::default();
    let app = axum::Router::new()
        .route(
            "/in",
            axum::routing::post(move |State(got): State<Got>, body: Bytes| async move {
                tokio::time::sleep(delay).await;
                let text = String::from_utf8_lossy(&body).into_owned();
                got.lock()
                    .unwrap()
                    .extend(text.lines().filter(|l| !l.is_empty()).map(str::to_string));
                "ok"
            }),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/in", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_buffer_contents_survive_puts() {
    let (sink, got) = slow_receiver(Duration::from_millis(2)).await;
    let s = Sluice::start(&["--shutdown-timeout", "10s"]).await;
    let conf = |mapping: &str| {
        format!(
            "input: {{http_server: {{path: /in}}}}\nbuffer: {{memory: {{}}}}\npipeline:\n  processors:\n    - mapping: \"{mapping}\"\noutput: {{http_client: {{url: '{sink}', verb: POST, max_in_flight: 1}}}}\n"
        )
    };
    assert_eq!(s.req("POST", "/streams/b", &conf(MAPPINGS[0])).await.0, 200);
    let acked = post_while_swapping(&s, "b", s.url("/b/in"), 2500, 50, conf).await;
    // The buffer acknowledged them all; the slow output drains it.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let n = got.lock().unwrap().len();
        if n >= acked.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {n} of {} arrived",
            acked.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let lines = got.lock().unwrap().clone();
    let seen = count_ids(&lines);
    assert_exactly_once(&acked, &seen);
}

fn own_conf(port: u16, reply: &str) -> String {
    format!(
        "input: {{http_server: {{address: '127.0.0.1:{port}', path: /x}}}}\n\
         pipeline: {{processors: [{{mapping: 'root = \"{reply}\"'}}]}}\n\
         output: {{sync_response: {{}}}}\n"
    )
}

/// Whether a listener can bind `port` now (the port is free).
fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

async fn wait_port_free(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if port_free(port) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn own_address_streams_keep_their_port_through_a_put() {
    let s = Sluice::start(&[]).await;
    let port = free_port();
    assert_eq!(
        s.req("POST", "/streams/own", &own_conf(port, "one"))
            .await
            .0,
        200
    );
    let url = format!("http://127.0.0.1:{port}/x");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let replies = Arc::new(Mutex::new(Vec::<Result<String, String>>::new()));
    let poster = {
        let (stop, replies, url) = (stop.clone(), replies.clone(), url.clone());
        tokio::spawn(async move {
            let c = reqwest::Client::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let r = match c.post(&url).body("{}").send().await {
                    Ok(r) if r.status() == 200 => Ok(r.text().await.unwrap_or_default()),
                    Ok(r) => Err(format!("status {}", r.status())),
                    Err(e) => Err(format!("{e:?}")),
                };
                replies.lock().unwrap().push(r);
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (n, reply) in ["two", "three", "four"].into_iter().enumerate() {
        let (code, text) = s.req("PUT", "/streams/own", &own_conf(port, reply)).await;
        assert_eq!(code, 200, "PUT {n}: {text}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    poster.await.unwrap();
    let replies = replies.lock().unwrap().clone();
    let failures: Vec<_> = replies.iter().filter(|r| r.is_err()).collect();
    assert!(
        failures.is_empty(),
        "{} refused or failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert_eq!(replies.last().unwrap().as_deref(), Ok("four"));

    // DELETE returns at once (the default timeout is 30 s) and frees the port.
    let start = Instant::now();
    let (code, text) = s.req("DELETE", "/streams/own", "").await;
    assert_eq!(code, 200, "{text}");
    assert!(!text.contains("Warning"), "{text}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "DELETE took {:?}",
        start.elapsed()
    );
    assert!(
        wait_port_free(port).await,
        "port {port} still bound after DELETE"
    );
}

#[tokio::test]
async fn a_failed_build_leaves_no_port_bound() {
    let s = Sluice::start(&[]).await;
    let port = free_port();
    // The input binds, then the output fails to build (its CA file does not exist).
    let conf = format!(
        "input: {{http_server: {{address: '127.0.0.1:{port}'}}}}\n\
         output: {{http_client: {{url: 'https://127.0.0.1:1/x', tls: {{enabled: true, root_cas_file: /nonexistent/ca.pem}}}}}}\n"
    );
    let (code, text) = s.req("POST", "/streams/broken", &conf).await;
    assert_eq!(code, 502, "{text}");
    assert!(text.contains("/nonexistent/ca.pem"), "{text}");
    assert!(wait_port_free(port).await, "port {port} left bound");
    // And another stream can take it.
    assert_eq!(
        s.req("POST", "/streams/next", &own_conf(port, "ok"))
            .await
            .0,
        200
    );
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/x"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn patch_is_linted_and_ids_are_checked() {
    let s = Sluice::start(&[]).await;
    let conf = "input: {generate: {mapping: 'root = 1', interval: 1s}}\noutput: {drop: {}}\n";
    assert_eq!(s.req("POST", "/streams/p", conf).await.0, 200);
    let (code, text) = s
        .req("PATCH", "/streams/p", r#"{"input": {"nosuchinput": {}}}"#)
        .await;
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("lint_errors"), "{text}");
    // The stream still runs its old config.
    let (_, get) = s.req("GET", "/streams/p", "").await;
    assert!(
        get.contains("\"active\":true") && !get.contains("nosuchinput"),
        "{get}"
    );
    // chilled=true lets a lint-only problem through, as for PUT.
    let (code, _) = s
        .req(
            "PATCH",
            "/streams/p?chilled=true",
            r#"{"input": {"generate": {"interval": "2s"}}}"#,
        )
        .await;
    assert_eq!(code, 200);

    for bad in ["..", ".", ".hidden", "_under", "-dash"] {
        // Raw HTTP: clients would normalise `..` and `.` away.
        let reply = raw_request(&s, &format!("POST /streams/{bad} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{conf}", conf.len())).await;
        assert!(reply.starts_with("HTTP/1.1 400"), "{bad}: {reply}");
        assert!(
            reply.ends_with("Error: invalid stream id\n"),
            "{bad}: {reply}"
        );
    }
    assert_eq!(s.req("POST", "/streams/Foo", conf).await.0, 200);
    let (code, text) = s.req("POST", "/streams/foo", conf).await;
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("differs only in case"), "{text}");
}

/// Sends raw request bytes and returns the whole reply.
async fn raw_request(s: &Sluice, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(s.base.trim_start_matches("http://"))
        .await
        .unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tcp.read_to_end(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf).into_owned()
}

/// A client that sends half a request and stalls is cut off after the header timeout.
#[tokio::test]
async fn slow_clients_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root.yaml");
    std::fs::write(
        &root,
        "http:\n  read_header_timeout: 1s\n  read_body_timeout: 1s\n",
    )
    .unwrap();
    let s = Sluice::start(&["-o", root.to_str().unwrap()]).await;
    let addr = s.base.trim_start_matches("http://").to_string();
    // Headers that never end.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut buf)).await;
    assert!(
        read.is_ok(),
        "the connection with unfinished headers stayed open"
    );
    // A body that stalls.
    let mut stall = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stall
        .write_all(b"POST /streams/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stall.read_to_end(&mut buf)).await;
    assert!(
        read.is_ok(),
        "the connection with a stalled body stayed open"
    );
    // An idle keep-alive connection is closed too.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), idle.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the idle connection stayed open");
    assert!(String::from_utf8_lossy(&buf).contains("pong"));
}

/// Bulk `POST /streams` stops the streams it replaces concurrently: two streams stuck on an
/// output that never answers are forced once each in parallel, not one after the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bulk_post_stops_replaced_streams_concurrently() {
    let (sink, _) = slow_receiver(Duration::from_secs(3600)).await;
    let s = Sluice::start(&["--shutdown-timeout", "6s"]).await;
    let stuck = format!(
        "input: {{generate: {{count: 1, interval: '', mapping: 'root = {{}}'}}}}\n\
         output: {{http_client: {{url: '{sink}', verb: POST, timeout: 1h}}}}\n"
    );
    for id in ["a", "b"] {
        assert_eq!(
            s.req("POST", &format!("/streams/{id}"), &stuck).await.0,
            200
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let body = serde_json::json!({"a": {"input": {"generate": {"mapping": "root = 1", "interval": "1s"}}, "output": {"drop": {}}}, "b": {"input": {"generate": {"mapping": "root = 2", "interval": "1s"}}, "output": {"drop": {}}}}).to_string();
    let start = Instant::now();
    let (code, text) = s.req("POST", "/streams", &body).await;
    let took = start.elapsed();
    assert_eq!(code, 200, "{text}");
    // Each stop is forced after ¾ of 6 s; one after the other would take at least 9 s.
    assert!(took < Duration::from_secs(8), "bulk replace took {took:?}");
}
