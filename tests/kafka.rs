//! Kafka connector tests against librdkafka's mock cluster on loopback, through the real
//! `sluice streams` binary and its REST API.

mod common;

use std::time::{Duration, Instant};

use common::{read_lines, wait_lines, Sluice};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

async fn produce(bootstrap: &str, topic: &str, from: usize, to: usize) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for i in from..to {
        let key = format!("key-{}", i);
        let payload = format!("{{\"n\":{}}}", i);
        producer
            .send(
                FutureRecord::to(topic).key(&key).payload(&payload),
                Duration::from_secs(5),
            )
            .await
            .expect("produce");
    }
}

fn stream_config(bootstrap: &str, topic: &str, group: &str, output: &str) -> String {
    format!(
        r#"input:
  kafka:
    addresses: [ "{bootstrap}" ]
    topics: [ "{topic}" ]
    consumer_group: "{group}"
    commit_period: 100ms
pipeline:
  threads: 1
  processors:
    - mapping: 'root = "%v %v %v".format(this.n, @kafka_key, @kafka_partition)'
output:
{output}
"#
    )
}

fn file_output(path: &std::path::Path) -> String {
    format!("  file:\n    path: {}\n    codec: lines\n", path.display())
}

/// The numbers (first field) of output lines, sorted and deduplicated.
fn numbers(lines: &[String]) -> Vec<usize> {
    let mut v: Vec<usize> = lines
        .iter()
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumes_every_message_with_metadata() {
    let cluster = MockCluster::new(3).unwrap();
    cluster.create_topic("in", 4, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    produce(&bootstrap, "in", 0, 200).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let s = Sluice::start(&[]).await;
    let (code, body) = s
        .req(
            "POST",
            "/streams/k",
            &stream_config(&bootstrap, "in", "g1", &file_output(&out)),
        )
        .await;
    assert_eq!(code, 200, "{}", body);
    let lines = wait_lines(&out, 200, Duration::from_secs(30)).await;
    assert_eq!(numbers(&lines), (0..200).collect::<Vec<_>>());
    for l in &lines {
        let parts: Vec<&str> = l.split(' ').collect();
        assert_eq!(parts[1], format!("key-{}", parts[0]), "{}", l);
        assert!(parts[2].parse::<i32>().unwrap() < 4);
    }
    assert_eq!(s.req("GET", "/ready", "").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_output_redelivers_from_the_last_commit() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("redo", 2, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.txt");
    let second = dir.path().join("second.txt");
    let s = Sluice::start(&[]).await;

    // 1. Messages 0..20 are delivered and committed.
    produce(&bootstrap, "redo", 0, 20).await;
    assert_eq!(
        s.req(
            "POST",
            "/streams/r",
            &stream_config(&bootstrap, "redo", "g2", &file_output(&first))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        numbers(&wait_lines(&first, 20, Duration::from_secs(30)).await),
        (0..20).collect::<Vec<_>>()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.req("DELETE", "/streams/r", "").await.0, 200);

    // 2. Messages 20..40 meet an output that rejects them: nothing is committed.
    produce(&bootstrap, "redo", 20, 40).await;
    let failing = stream_config(&bootstrap, "redo", "g2", "  reject: 'down for maintenance'");
    assert_eq!(s.req("POST", "/streams/r", &failing).await.0, 200);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(s.req("DELETE", "/streams/r?timeout=2s", "").await.0, 200);

    // 3. A working stream in the same group gets exactly the uncommitted messages again.
    assert_eq!(
        s.req(
            "POST",
            "/streams/r",
            &stream_config(&bootstrap, "redo", "g2", &file_output(&second))
        )
        .await
        .0,
        200
    );
    let lines = wait_lines(&second, 20, Duration::from_secs(30)).await;
    assert_eq!(numbers(&lines), (20..40).collect::<Vec<_>>(), "{:?}", lines);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_in_one_consumer_group_share_partitions() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("shared", 4, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
    let s = Sluice::start(&[]).await;
    assert_eq!(
        s.req(
            "POST",
            "/streams/a",
            &stream_config(&bootstrap, "shared", "g3", &file_output(&a))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        s.req(
            "POST",
            "/streams/b",
            &stream_config(&bootstrap, "shared", "g3", &file_output(&b))
        )
        .await
        .0,
        200
    );
    // Let the group settle on two members before producing.
    tokio::time::sleep(Duration::from_secs(8)).await;
    produce(&bootstrap, "shared", 0, 200).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let all: Vec<String> = read_lines(&a).into_iter().chain(read_lines(&b)).collect();
        if numbers(&all).len() == 200 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (la, lb) = (read_lines(&a), read_lines(&b));
    let all: Vec<String> = la.iter().chain(lb.iter()).cloned().collect();
    assert_eq!(numbers(&all), (0..200).collect::<Vec<_>>());
    assert!(
        !la.is_empty() && !lb.is_empty(),
        "a got {}, b got {}",
        la.len(),
        lb.len()
    );
    // Partitions are disjoint between the members.
    let parts = |ls: &[String]| -> std::collections::BTreeSet<String> {
        ls.iter()
            .filter_map(|l| l.split(' ').nth(2).map(str::to_string))
            .collect()
    };
    assert!(
        parts(&la).is_disjoint(&parts(&lb)),
        "{:?} vs {:?}",
        parts(&la),
        parts(&lb)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_brokers_keep_the_stream_active_but_not_ready() {
    let s = Sluice::start(&[]).await;
    let port = common::free_port();
    let cfg = format!(
        "input:\n  kafka:\n    addresses: [ \"127.0.0.1:{}\" ]\n    topics: [ \"nowhere\" ]\noutput:\n  drop: {{}}\n",
        port
    );
    assert_eq!(s.req("POST", "/streams/dead", &cfg).await.0, 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, list) = s.req("GET", "/streams", "").await;
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(v["dead"]["active"], true);
    let (code, body) = s.req("GET", "/ready", "").await;
    assert_eq!(
        (code, body.as_str()),
        (503, "streams dead are not connected\n")
    );
    assert_eq!(s.req("GET", "/dead/ready", "").await.0, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_output_produces_keyed_messages() {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::Message;
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("produced", 2, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let s = Sluice::start(&[]).await;
    let cfg = format!(
        "input:\n  http_server: {{}}\noutput:\n  kafka:\n    addresses: [ \"{}\" ]\n    topic: produced\n    key: '${{! this.id }}'\n",
        bootstrap
    );
    assert_eq!(s.req("POST", "/streams/p", &cfg).await.0, 200);
    for i in 0..10 {
        assert_eq!(
            s.req("POST", "/p/post", &format!("{{\"id\":\"k{}\"}}", i))
                .await
                .0,
            200
        );
    }
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "check")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset("produced", 0, rdkafka::Offset::Beginning)
        .unwrap();
    tpl.add_partition_offset("produced", 1, rdkafka::Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut keys = Vec::new();
    while keys.len() < 10 {
        let m = tokio::time::timeout(Duration::from_secs(10), consumer.recv())
            .await
            .unwrap()
            .unwrap();
        let key = String::from_utf8_lossy(m.key().unwrap()).into_owned();
        let payload = String::from_utf8_lossy(m.payload().unwrap()).into_owned();
        assert_eq!(payload, format!("{{\"id\":\"{}\"}}", key));
        keys.push(key);
    }
    keys.sort();
    assert_eq!(keys, (0..10).map(|i| format!("k{}", i)).collect::<Vec<_>>());
}

/// `redpanda` output → topic → `kafka_franz` input (consumer group) → file: 10,000
/// messages, each exactly once, headers chosen by `metadata.include_prefixes`, upstream's
/// metadata fields; then the broker goes down mid-stream and comes back: nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn franz_family_moves_every_message_and_survives_a_broker_outage() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("franz", 3, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let s = Sluice::start(&[]).await;
    let producer = |from: u64, count: u64| {
        format!(
            r#"input:
  generate:
    count: {count}
    interval: ""
    batch_size: 50
    mapping: |
      root.n = counter() - 1 + {from}
      meta h_kind = "gen"
      meta other = "no"
output:
  redpanda:
    seed_brokers: [ "{bootstrap}" ]
    topic: franz
    key: '${{! this.n }}'
    metadata:
      include_prefixes: [ "h_" ]
"#
        )
    };
    let (code, body) = s
        .req("POST", "/streams/produce", &producer(0, 10_000))
        .await;
    assert_eq!(code, 200, "{}", body);
    let consumer = format!(
        r#"input:
  kafka_franz:
    seed_brokers: [ "{bootstrap}" ]
    topics: [ franz ]
    consumer_group: franz-group
    commit_period: 100ms
pipeline:
  threads: 1
  processors:
    - mapping: 'root = "%v %v %v %v %v %v".format(this.n, @kafka_key, @h_kind, @other.or("none"), @kafka_topic, @kafka_tombstone_message)'
output:
  file:
    path: {}
    codec: lines
"#,
        out.display()
    );
    let (code, body) = s.req("POST", "/streams/consume", &consumer).await;
    assert_eq!(code, 200, "{}", body);
    let lines = wait_lines(&out, 10_000, Duration::from_secs(60)).await;
    let numbers: Vec<u64> = lines
        .iter()
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    common::assert_each_once(&numbers, 10_000, true);
    for l in &lines {
        let p: Vec<&str> = l.split(' ').collect();
        assert_eq!(p[1], p[0], "key: {}", l);
        assert_eq!(&p[2..], ["gen", "none", "franz", "false"], "{}", l);
    }
    let (_, stream) = s.req("GET", "/streams/consume", "").await;
    assert!(
        stream.contains("\"start_offset\":\"earliest\""),
        "{}",
        stream
    );

    // The broker goes away while a second run is produced, then comes back.
    let (code, body) = s
        .req("POST", "/streams/produce2", &producer(10_000, 5_000))
        .await;
    assert_eq!(code, 200, "{}", body);
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster.broker_down(1).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.broker_up(1).unwrap();
    let lines = common::wait_each(&out, 15_000, Duration::from_secs(60)).await;
    let numbers: Vec<u64> = lines
        .iter()
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    common::assert_each_once(&numbers, 15_000, false);
}
