//! `mqtt` against the machine's Mosquitto (127.0.0.1:1883), through the real binary.
//! Connection loss goes through a TCP proxy the test controls.

mod common;

use std::time::Duration;

use common::proxy::TcpProxy;
use common::{
    assert_each_once, file_output, first_numbers, read_lines, unique, wait_each, wait_lines, Sluice,
};

const MQTT: &str = "127.0.0.1:1883";

async fn wait_ready(s: &Sluice) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while s.req("GET", "/ready", "").await.0 != 200 {
        assert!(std::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The publisher is paced (a broker drops QoS 1 messages beyond a slow subscriber's queue:
/// Mosquitto keeps 1,000 by default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos1_round_trip_survives_cut_connections_on_both_sides() {
    let topic = unique("t");
    let in_proxy = TcpProxy::start(MQTT).await;
    let out_proxy = TcpProxy::start(MQTT).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let s = Sluice::start(&[]).await;
    s.post_stream("sub",
        &format!(
            "input:\n  mqtt:\n    urls: [ tcp://{} ]\n    client_id: {topic}-in\n    clean_session: false\n    topics: [ '{topic}/#' ]\n{}",
            in_proxy.addr,
            file_output(&out, r#"root = "%v %v %v".format(this.n, @mqtt_topic, @mqtt_qos)"#)
        ),
    )
    .await;
    wait_ready(&s).await;
    s.post_stream("pub",
        &format!(
            "input:\n  generate:\n    count: 10000\n    interval: 1ms\n    mapping: |\n      root.n = counter() - 1\n      meta tag = \"t\" + (counter() % 3).string()\n\
             output:\n  mqtt:\n    urls: [ tcp://{} ]\n    topic: '{topic}/${{! @tag }}'\n    qos: 1\n",
            out_proxy.addr
        ),
    )
    .await;
    let _ = wait_lines(&out, 2_000, Duration::from_secs(30)).await;
    // The publisher loses its connection mid-stream: unacknowledged publishes are retried.
    out_proxy.cut();
    tokio::time::sleep(Duration::from_secs(1)).await;
    out_proxy.restore();
    let lines = wait_each(&out, 10_000, Duration::from_secs(90)).await;
    let numbers = first_numbers(&lines);
    assert_each_once(&numbers, 10_000, false);
    for l in &lines {
        let p: Vec<&str> = l.split(' ').collect();
        let n: u64 = p[0].parse().unwrap();
        assert_eq!(p[1], format!("{topic}/t{}", (n + 1) % 3), "{}", l);
        assert_eq!(p[2], "1", "{}", l);
    }
    // The subscriber loses its connection: it comes back by itself, and its persistent
    // session gets what was published meanwhile.
    in_proxy.cut();
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.post_stream("more",
        &format!(
            "input:\n  generate:\n    count: 100\n    interval: ''\n    mapping: 'root.n = counter() + 9999'\n\
             output:\n  mqtt:\n    urls: [ tcp://{MQTT} ]\n    topic: '{topic}/more'\n    qos: 1\n"
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    in_proxy.restore();
    let lines = wait_each(&out, 10_100, Duration::from_secs(30)).await;
    let numbers = first_numbers(&lines);
    assert_each_once(&numbers, 10_100, false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_messages_come_back_to_a_persistent_session() {
    let topic = unique("nack");
    let s = Sluice::start(&[]).await;
    let input = format!(
        "input:\n  mqtt:\n    urls: [ tcp://{MQTT} ]\n    client_id: {topic}\n    clean_session: false\n    topics: [ '{topic}' ]\n    auto_replay_nacks: false\n"
    );
    s.post_stream("rejecting", &format!("{input}output:\n  reject: nope\n"))
        .await;
    wait_ready(&s).await;
    s.post_stream("pub",
        &format!(
            "input:\n  generate:\n    count: 3\n    interval: ''\n    mapping: 'root = (counter() - 1).string()'\n\
             output:\n  mqtt:\n    urls: [ tcp://{MQTT} ]\n    topic: '{topic}'\n    qos: 1\n"
        ),
    )
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
                r#"root = content().string() + " " + @mqtt_duplicate.string()"#
            )
        ),
    )
    .await;
    let mut lines = wait_lines(&out, 3, Duration::from_secs(30)).await;
    lines.sort();
    assert_eq!(
        lines,
        ["0 true", "1 true", "2 true"],
        "{:?}",
        read_lines(&out)
    );
}
