//! Redis connectors against the machine's Redis (127.0.0.1:6379), through the real binary:
//! `redis_list`, `redis_streams`, `redis_pubsub` in and out, and the `redis` cache. Each
//! test uses keys of its own; connection loss goes through a TCP proxy the test controls.

mod common;

use std::time::Duration;

use common::proxy::TcpProxy;
use common::{
    assert_each_once, file_output, first_numbers, read_lines, unique, wait_each, wait_lines, Sluice,
};

const REDIS: &str = "127.0.0.1:6379";

fn redis() -> redis::Connection {
    redis::Client::open(format!("redis://{}", REDIS))
        .unwrap()
        .get_connection()
        .unwrap()
}

fn generate(count: u64, output: &str) -> String {
    format!(
        "input:\n  generate:\n    count: {count}\n    interval: ''\n    batch_size: 100\n    mapping: |\n      root.n = counter() - 1\n      meta tag = \"t\" + (counter() % 3).string()\n{output}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_moves_every_message_once_and_survives_a_cut_output() {
    let key = unique("list");
    let proxy = TcpProxy::start(REDIS).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let s = Sluice::start(&[]).await;
    // The producer writes through the proxy, which is cut while it runs.
    s.post_stream(
        "produce",
        &generate(
            10_000,
            &format!(
                "output:\n  redis_list:\n    url: redis://{}\n    key: {key}\n",
                proxy.addr
            ),
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.restore();
    s.post_stream(
        "consume",
        &format!(
            "input:\n  redis_list:\n    url: redis://{REDIS}\n    key: {key}\n{}",
            file_output(&out, "root = this.n.string()")
        ),
    )
    .await;
    let lines = wait_each(&out, 10_000, Duration::from_secs(60)).await;
    // A push whose reply the cut lost is retried: at least once.
    assert_each_once(&first_numbers(&lines), 10_000, false);
    assert_eq!(s.req("GET", "/ready", "").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_input_returns_rejected_items_to_the_list() {
    let key = unique("list-nack");
    let mut r = redis();
    for i in 0..5 {
        redis::cmd("RPUSH")
            .arg(&key)
            .arg(i.to_string())
            .query::<i64>(&mut r)
            .unwrap();
    }
    let s = Sluice::start(&[]).await;
    s.post_stream("rejecting",
        &format!(
            "input:\n  redis_list:\n    url: redis://{REDIS}\n    key: {key}\n    auto_replay_nacks: false\noutput:\n  reject: 'not today'\n"
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(s.req("DELETE", "/streams/rejecting", "").await.0, 200);
    let len: i64 = redis::cmd("LLEN").arg(&key).query(&mut r).unwrap();
    assert_eq!(len, 5, "every rejected item is back in the list");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    s.post_stream(
        "accepting",
        &format!(
            "input:\n  redis_list:\n    url: redis://{REDIS}\n    key: {key}\n{}",
            file_output(&out, "root = content()")
        ),
    )
    .await;
    let mut lines = wait_lines(&out, 5, Duration::from_secs(20)).await;
    lines.sort();
    assert_eq!(lines, ["0", "1", "2", "3", "4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_consumer_group_survives_a_cut_connection() {
    let stream = unique("stream");
    let proxy = TcpProxy::start(REDIS).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let s = Sluice::start(&[]).await;
    s.post_stream("consume",
        &format!(
            "input:\n  redis_streams:\n    url: redis://{}\n    streams: [ {stream} ]\n    consumer_group: g\n    client_id: c1\n    commit_period: 100ms\n{}",
            proxy.addr,
            file_output(&out, r#"root = "%v %v %v".format(this.n, @tag, @redis_stream.re_match("^[0-9]+-[0-9]+$"))"#)
        ),
    )
    .await;
    s.post_stream(
        "produce",
        &generate(
            10_000,
            &format!("output:\n  redis_streams:\n    url: redis://{REDIS}\n    stream: {stream}\n"),
        ),
    )
    .await;
    let _ = wait_lines(&out, 2_000, Duration::from_secs(30)).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        s.req("GET", "/ready", "").await.0,
        503,
        "not ready while cut"
    );
    proxy.restore();
    let lines = wait_each(&out, 10_000, Duration::from_secs(60)).await;
    assert_each_once(&first_numbers(&lines), 10_000, false);
    for l in &lines {
        let p: Vec<&str> = l.split(' ').collect();
        let n: u64 = p[0].parse().unwrap();
        assert_eq!(p[1], format!("t{}", (n + 1) % 3), "{}", l);
        assert_eq!(p[2], "true", "{}", l);
    }
    // Everything read was acknowledged to the group.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut r = redis();
    let pending: Vec<redis::Value> = redis::cmd("XPENDING")
        .arg(&stream)
        .arg("g")
        .query(&mut r)
        .unwrap();
    assert_eq!(pending[0], redis::Value::Int(0), "{:?}", pending);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_redeliver_what_an_output_rejected() {
    let stream = unique("stream-nack");
    let mut r = redis();
    for i in 0..3 {
        redis::cmd("XADD")
            .arg(&stream)
            .arg("*")
            .arg("body")
            .arg(i.to_string())
            .query::<String>(&mut r)
            .unwrap();
    }
    let s = Sluice::start(&[]).await;
    let input = format!(
        "input:\n  redis_streams:\n    url: redis://{REDIS}\n    streams: [ {stream} ]\n    consumer_group: g\n    client_id: c1\n    auto_replay_nacks: false\n"
    );
    s.post_stream("rejecting", &format!("{input}output:\n  reject: nope\n"))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(s.req("DELETE", "/streams/rejecting", "").await.0, 200);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    s.post_stream(
        "accepting",
        &format!("{input}{}", file_output(&out, "root = content()")),
    )
    .await;
    let mut lines = wait_lines(&out, 3, Duration::from_secs(20)).await;
    lines.sort();
    assert_eq!(lines, ["0", "1", "2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_delivers_to_a_subscriber_and_resubscribes() {
    let channel = unique("chan");
    let proxy = TcpProxy::start(REDIS).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let s = Sluice::start(&[]).await;
    s.post_stream(
        "sub",
        &format!(
            "input:\n  redis_pubsub:\n    url: redis://{}\n    channels: [ {channel} ]\n{}",
            proxy.addr,
            file_output(
                &out,
                "root = this.n.string() + \" \" + @redis_pubsub_channel"
            )
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.post_stream(
        "pub",
        &generate(
            10_000,
            &format!(
                "output:\n  redis_pubsub:\n    url: redis://{REDIS}\n    channel: {channel}\n"
            ),
        ),
    )
    .await;
    let lines = wait_lines(&out, 10_000, Duration::from_secs(60)).await;
    assert_each_once(&first_numbers(&lines), 10_000, true);
    assert!(lines.iter().all(|l| l.ends_with(&channel)));
    // Cut: the subscriber comes back by itself and sees what is published afterwards.
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.restore();
    let mut r = redis();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let receivers: i64 = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg("{\"n\":10000}")
            .query(&mut r)
            .unwrap();
        if receivers > 0 && read_lines(&out).len() > 10_000 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no resubscription");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cache_backs_dedupe_and_hides_its_password() {
    let prefix = unique("cache");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let s = Sluice::start(&[]).await;
    let (code, body) = s
        .req(
            "POST",
            "/resources/cache/r",
            &format!("redis:\n  url: redis://{REDIS}\n  prefix: {prefix}-\n  default_ttl: 60s\n"),
        )
        .await;
    assert_eq!(code, 200, "{}", body);
    s.post_stream(
        "dedupe",
        &format!(
            r#"input:
  generate:
    count: 20
    interval: ""
    mapping: 'root.k = counter() % 5'
pipeline:
  threads: 1
  processors:
    - dedupe:
        cache: r
        key: '${{! this.k }}'
    - mapping: 'root = this.k.string()'
output:
  file:
    path: {}
    codec: lines
"#,
            out.display()
        ),
    )
    .await;
    let mut lines = wait_lines(&out, 5, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    lines = if lines.len() == 5 {
        read_lines(&out)
    } else {
        lines
    };
    lines.sort();
    assert_eq!(lines, ["0", "1", "2", "3", "4"]);
    let mut r = redis();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}-3"))
        .query(&mut r)
        .unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "{}", ttl);

    s.post_stream("secret",
        "input:\n  redis_list:\n    url: 'redis://:hunter2@127.0.0.1:1/0'\n    key: k\noutput:\n  drop: {}\n",
    )
    .await;
    let (_, body) = s.req("GET", "/streams/secret", "").await;
    assert!(!body.contains("hunter2"), "{}", body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_output_scan_input_and_redis_processor() {
    let prefix = unique("hash");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let s = Sluice::start(&[]).await;
    // redis_hash: one hash per message, from metadata, the JSON object and explicit fields.
    s.post_stream("hash",
        &format!(
            "input:\n  generate:\n    count: 3\n    interval: ''\n    mapping: |\n      root = {{\"n\": counter(), \"name\": \"x\" + counter().string()}}\n      meta m = \"meta\"\n\
             output:\n  redis_hash:\n    url: redis://{REDIS}\n    key: '{prefix}-${{! this.n }}'\n    walk_metadata: true\n    walk_json_object: true\n    fields:\n      doubled: '${{! this.n * 2 }}'\n"
        ),
    )
    .await;
    let mut r = redis();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
            .arg(format!("{prefix}-3"))
            .query(&mut r)
            .unwrap();
        if !got.is_empty() {
            assert_eq!(got["m"], "meta");
            assert_eq!(got["name"], "x3");
            assert_eq!(got["n"], "3");
            assert_eq!(got["doubled"], "6");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no hash written");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // redis_scan reads string keys matching a pattern; the redis processor runs commands.
    for i in 0..5 {
        redis::cmd("SET")
            .arg(format!("{prefix}-s{i}"))
            .arg(format!("v{i}"))
            .query::<()>(&mut r)
            .unwrap();
    }
    s.post_stream("scan",
        &format!(
            "input:\n  redis_scan:\n    url: redis://{REDIS}\n    match: '{prefix}-s*'\n\
             pipeline:\n  threads: 1\n  processors:\n    - mapping: 'root = content().string() + \" \" + @redis_key'\n\
             \x20   - redis:\n        url: redis://{REDIS}\n        command: incrby\n        args_mapping: 'root = [ \"{prefix}-count\", 10 ]'\n\
             output:\n  file:\n    path: {}\n    codec: lines\n",
            out.display()
        ),
    )
    .await;
    let lines = wait_lines(&out, 5, Duration::from_secs(20)).await;
    let mut replies: Vec<i64> = lines.iter().map(|l| l.parse().unwrap()).collect();
    replies.sort();
    assert_eq!(
        replies,
        [10, 20, 30, 40, 50],
        "incrby's replies replace the messages"
    );
    let count: i64 = redis::cmd("GET")
        .arg(format!("{prefix}-count"))
        .query(&mut r)
        .unwrap();
    assert_eq!(count, 50);
}
