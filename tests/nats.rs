//! NATS connectors against the machine's NATS server with JetStream (127.0.0.1:4222),
//! through the real binary: core `nats` and `nats_jetstream`, in and out. Connection loss
//! goes through a TCP proxy the test controls.

mod common;

use std::time::Duration;

use common::proxy::TcpProxy;
use common::{
    assert_each_once, file_output, first_numbers, read_lines, unique, wait_each, wait_lines, Sluice,
};

const NATS: &str = "127.0.0.1:4222";

fn generate(count: u64, output: &str) -> String {
    format!(
        "input:\n  generate:\n    count: {count}\n    interval: ''\n    batch_size: 100\n    mapping: |\n      root.n = counter() - 1\n      meta tag = \"t\" + (counter() % 3).string()\n      meta hidden = \"no\"\n{output}"
    )
}

async fn jetstream_stream(subjects: &str) -> (async_nats::jetstream::Context, String) {
    let client = async_nats::connect(NATS).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let name = unique("S");
    js.create_stream(async_nats::jetstream::stream::Config {
        name: name.clone(),
        subjects: vec![subjects.to_string()],
        ..Default::default()
    })
    .await
    .unwrap();
    (js, name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_nats_moves_every_message_with_headers_and_resubscribes() {
    let subject = unique("core");
    let proxy = TcpProxy::start(NATS).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let s = Sluice::start(&[]).await;
    s.post_stream("sub",
        &format!(
            "input:\n  nats:\n    urls: [ nats://{} ]\n    subject: {subject}\n    queue: q\n{}",
            proxy.addr,
            file_output(&out, r#"root = "%v %v %v %v %v".format(this.n, @nats_subject, @tag, @extra, @hidden.or("none"))"#)
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.post_stream("pub",
        &generate(
            10_000,
            &format!(
                "output:\n  nats:\n    urls: [ nats://{NATS} ]\n    subject: {subject}\n    headers:\n      extra: 'x${{! this.n % 2 }}'\n    metadata:\n      include_prefixes: [ tag ]\n"
            ),
        ),
    )
    .await;
    let lines = wait_lines(&out, 10_000, Duration::from_secs(60)).await;
    assert_each_once(&first_numbers(&lines), 10_000, true);
    for l in &lines {
        let p: Vec<&str> = l.split(' ').collect();
        let n: u64 = p[0].parse().unwrap();
        assert_eq!(p[1], subject);
        assert_eq!(p[2], format!("t{}", (n + 1) % 3), "{}", l);
        assert_eq!(p[3], format!("x{}", n % 2), "{}", l);
        assert_eq!(p[4], "none", "{}", l);
    }
    assert_eq!(s.req("GET", "/ready", "").await.0, 200);
    // Cut: the subscriber reconnects by itself and sees what is published afterwards.
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        s.req("GET", "/ready", "").await.0,
        503,
        "not ready while cut"
    );
    proxy.restore();
    let client = async_nats::connect(NATS).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while read_lines(&out).len() <= 10_000 {
        client
            .publish(subject.clone(), "{\"n\":10000}".into())
            .await
            .unwrap();
        client.flush().await.unwrap();
        assert!(std::time::Instant::now() < deadline, "no resubscription");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_durable_consumer_loses_nothing_across_a_cut() {
    let subject = unique("js");
    let (js, stream) = jetstream_stream(&format!("{subject}.>")).await;
    let proxy = TcpProxy::start(NATS).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let s = Sluice::start(&[]).await;
    s.post_stream("pub",
        &generate(
            10_000,
            &format!(
                "output:\n  nats_jetstream:\n    urls: [ nats://{NATS} ]\n    subject: {subject}.${{! @tag }}\n    metadata:\n      include_patterns: [ '^ta' ]\n"
            ),
        ),
    )
    .await;
    s.post_stream("sub",
        &format!(
            "input:\n  nats_jetstream:\n    urls: [ nats://{} ]\n    subject: {subject}.>\n    durable: d1\n    ack_wait: 2s\n{}",
            proxy.addr,
            file_output(&out, r#"root = "%v %v %v %v".format(this.n, @nats_subject, @tag, @nats_sequence_stream > 0)"#)
        ),
    )
    .await;
    let _ = wait_lines(&out, 2_000, Duration::from_secs(30)).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.restore();
    let lines = wait_each(&out, 10_000, Duration::from_secs(90)).await;
    assert_each_once(&first_numbers(&lines), 10_000, false);
    for l in &lines {
        let p: Vec<&str> = l.split(' ').collect();
        assert_eq!(p[1], format!("{subject}.{}", p[2]), "{}", l);
        assert_eq!(p[3], "true", "{}", l);
    }
    js.delete_stream(&stream).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_redelivers_what_an_output_rejected() {
    let subject = unique("jsnack");
    let (js, stream) = jetstream_stream(&subject).await;
    for i in 0..3 {
        js.publish(subject.clone(), i.to_string().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let s = Sluice::start(&[]).await;
    let input = format!(
        "input:\n  nats_jetstream:\n    urls: [ nats://{NATS} ]\n    stream: {stream}\n    durable: d\n    ack_wait: 3s\n    auto_replay_nacks: false\n"
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
                "root = content().string() + \" \" + (@nats_num_delivered > 1).string()"
            )
        ),
    )
    .await;
    let lines = wait_lines(&out, 3, Duration::from_secs(30)).await;
    let mut bodies: Vec<&str> = lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies, ["0", "1", "2"]);
    assert!(
        lines.iter().any(|l| l.ends_with("true")),
        "nothing was redelivered: {:?}",
        lines
    );
    js.delete_stream(&stream).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_value_output_watch_input_processor_and_cache() {
    let bucket = unique("kv");
    let client = async_nats::connect(NATS).await.unwrap();
    let js = async_nats::jetstream::new(client);
    // The bucket's backing stream, made by hand: the machine's nats-server (2.9) does not
    // parse this client's key-value create request.
    js.create_stream(async_nats::jetstream::stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 5,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: async_nats::jetstream::stream::DiscardPolicy::New,
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let s = Sluice::start(&[]).await;
    s.post_stream("watch",
        &format!(
            "input:\n  nats_kv:\n    urls: [ nats://{NATS} ]\n    bucket: {bucket}\n    key: 'k.>'\n{}",
            file_output(&out, r#"root = "%v %v %v %v".format(this.n, @nats_kv_key, @nats_kv_operation, @nats_kv_bucket)"#)
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.post_stream("put",
        &generate(
            10_000,
            &format!("output:\n  nats_kv:\n    urls: [ nats://{NATS} ]\n    bucket: {bucket}\n    key: 'k.${{! this.n }}'\n"),
        ),
    )
    .await;
    let lines = wait_lines(&out, 10_000, Duration::from_secs(60)).await;
    assert_each_once(&first_numbers(&lines), 10_000, true);
    for l in &lines {
        let p: Vec<&str> = l.split(' ').collect();
        assert_eq!(p[1], format!("k.{}", p[0]));
        assert_eq!(&p[2..], ["PUT", bucket.as_str()], "{}", l);
    }
    // The processor reads a key back; the cache backs dedupe.
    let (code, body) = s
        .req(
            "POST",
            "/resources/cache/kvc",
            &format!("nats_kv:\n  urls: [ nats://{NATS} ]\n  bucket: {bucket}\n"),
        )
        .await;
    assert_eq!(code, 200, "{}", body);
    let out2 = dir.path().join("out2.txt");
    s.post_stream("get",
        &format!(
            "input:\n  generate:\n    count: 4\n    interval: ''\n    mapping: 'root.k = \"dedupe.\" + (counter() % 2).string()'\n\
             pipeline:\n  threads: 1\n  processors:\n    - dedupe:\n        cache: kvc\n        key: '${{! this.k }}'\n\
             \x20   - mapping: 'root = {{\"k\": \"k.\" + this.k.split(\".\").index(1)}}'\n\
             \x20   - nats_kv:\n        urls: [ nats://{NATS} ]\n        bucket: {bucket}\n        operation: get\n        key: '${{! this.k }}'\n\
             \x20   - mapping: 'root = this.n.string() + \" \" + @nats_kv_key'\n\
             output:\n  file:\n    path: {}\n    codec: lines\n",
            out2.display()
        ),
    )
    .await;
    let mut got = wait_lines(&out2, 2, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    got.extend(read_lines(&out2).into_iter().skip(got.len()));
    got.sort();
    assert_eq!(
        got,
        ["0 k.0", "1 k.1"],
        "dedupe through the kv cache, then get"
    );
    js.delete_stream(format!("KV_{bucket}")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reply_processor_gets_the_responders_answer() {
    use futures::StreamExt;
    let subject = unique("rr");
    let client = async_nats::connect(NATS).await.unwrap();
    let mut requests = client.subscribe(subject.clone()).await.unwrap();
    let responder = client.clone();
    tokio::spawn(async move {
        while let Some(m) = requests.next().await {
            let body = String::from_utf8_lossy(&m.payload).to_uppercase();
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("answered-by", "test");
            if let Some(reply) = m.reply {
                responder
                    .publish_with_headers(reply, headers, body.into())
                    .await
                    .unwrap();
            }
        }
    });
    client.flush().await.unwrap();
    let out = common::run_config(&format!(
        "input:\n  generate:\n    count: 3\n    interval: ''\n    mapping: 'root = \"hi \" + counter().string()'\n\
         pipeline:\n  threads: 1\n  processors:\n    - nats_request_reply:\n        urls: [ nats://{NATS} ]\n        subject: {subject}\n\
         \x20   - mapping: 'root = content().string() + \" \" + meta(\"answered-by\")'\n\
         output:\n  stdout: {{}}\n"
    ));
    assert_eq!(out, "HI 1 test\nHI 2 test\nHI 3 test\n");
}
