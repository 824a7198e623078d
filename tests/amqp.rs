//! `amqp_0_9` against the machine's RabbitMQ (127.0.0.1:5672, guest/guest), through the
//! real binary. Connection loss goes through a TCP proxy the test controls.

mod common;

use std::time::Duration;

use common::proxy::TcpProxy;
use common::{assert_each_once, file_output, first_numbers, unique, wait_each, wait_lines, Sluice};

const AMQP: &str = "127.0.0.1:5672";

async fn delete_queue(queue: &str) {
    let conn = lapin::Connection::connect(
        &format!("amqp://guest:guest@{AMQP}/%2f"),
        lapin::ConnectionProperties::default(),
    )
    .await
    .unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.queue_delete(queue.into(), Default::default())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_round_trip_with_confirms_acks_and_a_cut_connection() {
    let queue = unique("q");
    let proxy = TcpProxy::start(AMQP).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let s = Sluice::start(&[]).await;
    s.post_stream("consume",
        &format!(
            "input:\n  amqp_0_9:\n    urls: [ 'amqp://guest:guest@{}/' ]\n    queue: {queue}\n    queue_declare:\n      enabled: true\n    prefetch_count: 100\n{}",
            proxy.addr,
            file_output(&out, r#"root = "%v %v %v %v %v".format(this.n, @amqp_routing_key, @tag, @amqp_content_type, @amqp_message_id)"#)
        ),
    )
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while s.req("GET", "/ready", "").await.0 != 200 {
        assert!(std::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.post_stream("produce",
        &format!(
            "input:\n  generate:\n    count: 10000\n    interval: ''\n    batch_size: 100\n    mapping: |\n      root.n = counter() - 1\n      meta tag = \"t\" + (counter() % 3).string()\n\
             output:\n  amqp_0_9:\n    urls: [ 'amqp://guest:guest@{AMQP}/' ]\n    exchange: ''\n    key: {queue}\n    message_id: 'id-${{! this.n }}'\n    mandatory: true\n    persistent: true\n"
        ),
    )
    .await;
    let _ = wait_lines(&out, 2_000, Duration::from_secs(30)).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.restore();
    let lines = wait_each(&out, 10_000, Duration::from_secs(60)).await;
    let numbers = first_numbers(&lines);
    assert_each_once(&numbers, 10_000, false);
    for l in &lines {
        let p: Vec<&str> = l.split(' ').collect();
        let n: u64 = p[0].parse().unwrap();
        assert_eq!(p[1], queue);
        assert_eq!(p[2], format!("t{}", (n + 1) % 3), "{}", l);
        assert_eq!(p[3], "application/octet-stream");
        assert_eq!(p[4], format!("id-{}", n));
    }
    assert_eq!(s.req("DELETE", "/streams/consume", "").await.0, 200);
    delete_queue(&queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_deliveries_are_requeued() {
    let queue = unique("nack");
    let s = Sluice::start(&[]).await;
    s.post_stream("produce",
        &format!(
            "input:\n  generate:\n    count: 3\n    interval: ''\n    mapping: 'root = (counter() - 1).string()'\n\
             output:\n  amqp_0_9:\n    urls: [ 'amqp://guest:guest@{AMQP}/' ]\n    exchange: ''\n    key: {queue}\n    mandatory: true\n"
        ),
    )
    .await;
    let input = format!(
        "input:\n  amqp_0_9:\n    urls: [ 'amqp://guest:guest@{AMQP}/' ]\n    queue: {queue}\n    queue_declare:\n      enabled: true\n    auto_replay_nacks: false\n"
    );
    s.post_stream("rejecting", &format!("{input}output:\n  reject: nope\n"))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(s.req("DELETE", "/streams/rejecting", "").await.0, 200);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    s.post_stream(
        "accepting",
        &format!(
            "{input}{}",
            file_output(
                &out,
                r#"root = content().string() + " " + @amqp_redelivered.string()"#
            )
        ),
    )
    .await;
    let mut lines = wait_lines(&out, 3, Duration::from_secs(30)).await;
    lines.sort();
    assert_eq!(lines, ["0 true", "1 true", "2 true"]);
    assert_eq!(s.req("DELETE", "/streams/accepting", "").await.0, 200);
    delete_queue(&queue).await;
}
