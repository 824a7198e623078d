//! `aws_s3` against a local S3-compatible server the test starts itself (moto's server mode,
//! installed by `.ci/run`), through the real binary.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{assert_each_once, free_port, wait_lines, KillOnDrop, Sluice};

/// Starts moto on a free port (installing it from PyPI first when this machine lacks it, so
/// `cargo test --workspace` alone suffices); the endpoint URL.
async fn moto() -> (KillOnDrop, String) {
    let present = Command::new("python3")
        .args(["-c", "import moto.server, flask"])
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        let installed = Command::new("python3")
            .args(["-m", "pip", "install", "-q", "moto[server]"])
            .status()
            .expect("python3 with pip");
        assert!(installed.success(), "pip install 'moto[server]' failed");
    }
    let port = free_port();
    let child = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto (pip install 'moto[server]')");
    let endpoint = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while client.get(&endpoint).send().await.is_err() {
        assert!(std::time::Instant::now() < deadline, "moto did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (KillOnDrop(child), endpoint)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_round_trip_with_metadata_and_deletion() {
    sluice_runtime::tls::install_provider();
    let (_moto, endpoint) = moto().await;
    let client = reqwest::Client::new();
    let created = client.put(format!("{endpoint}/bkt")).send().await.unwrap();
    assert!(created.status().is_success(), "{:?}", created);
    let session = format!(
        "    region: us-east-1\n    endpoint: {endpoint}\n    force_path_style_urls: true\n    credentials:\n      id: test\n      secret: test-secret\n"
    );
    let s = Sluice::start(&[]).await;
    let (code, body) = s
        .req(
            "POST",
            "/streams/put",
            &format!(
                "input:\n  generate:\n    count: 10000\n    interval: ''\n    batch_size: 100\n    mapping: |\n      root.n = counter() - 1\n      meta tag = \"t\" + (counter() % 3).string()\n\
                 output:\n  aws_s3:\n    bucket: bkt\n    path: 'obj/${{! this.n }}.json'\n    content_type: application/json\n{session}"
            ),
        )
        .await;
    assert_eq!(code, 200, "{}", body);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !s
        .req("GET", "/streams/put", "")
        .await
        .1
        .contains("\"active\":false")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "uploads never finished"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let (code, body) = s
        .req(
            "POST",
            "/streams/get",
            &format!(
                "input:\n  aws_s3:\n    bucket: bkt\n    prefix: obj/\n    delete_objects: true\n{session}\
                 pipeline:\n  threads: 1\n  processors:\n    - mapping: 'root = \"%v %v %v %v %v\".format(this.n, @s3_key, @s3_content_type, @tag, @s3_bucket)'\n\
                 output:\n  file:\n    path: {}\n    codec: lines\n",
                out.display()
            ),
        )
        .await;
    assert_eq!(code, 200, "{}", body);
    let lines = wait_lines(&out, 10_000, Duration::from_secs(120)).await;
    let numbers: Vec<u64> = lines
        .iter()
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_each_once(&numbers, 10_000, true);
    for l in &lines {
        let p: Vec<&str> = l.split(' ').collect();
        let n: u64 = p[0].parse().unwrap();
        assert_eq!(p[1], format!("obj/{n}.json"));
        assert_eq!(p[2], "application/json");
        assert_eq!(p[3], format!("t{}", (n + 1) % 3), "{}", l);
        assert_eq!(p[4], "bkt");
    }
    // Every object was deleted once its message was written.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let listing = client
            .get(format!("{endpoint}/bkt?list-type=2&prefix=obj/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if !listing.contains("<Key>") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "objects were not deleted"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (_, rendered) = s.req("GET", "/streams/get", "").await;
    assert!(!rendered.contains("test-secret"), "{}", rendered);
}
