//! Byte-stream connectors of "Components I" (`socket`, `socket_server`, `subprocess`,
//! `websocket`, `read_until`, the `retry` output) and the scanners `json_array`, `tar` and
//! `switch`, tested as a user runs them: `sluice run` and streams over the REST API, talking
//! to real peers (loopback sockets, child processes, sluice's own websocket server).

mod common;

use common::run_config as run;

use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

fn write_config(dir: &tempfile::TempDir, config: &str) -> std::path::PathBuf {
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, config).unwrap();
    path
}

/// Waits until `path` holds `lines` lines (or 10 s pass) and returns them.
fn wait_lines(path: &std::path::Path, lines: usize) -> Vec<String> {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let got: Vec<String> = text.lines().map(str::to_string).collect();
        if got.len() >= lines || Instant::now() > until {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn generate(count: usize, mapping: &str) -> String {
    format!("  generate: {{count: {count}, interval: '', mapping: '{mapping}'}}\n")
}

/// A `socket_server` stream (TCP and UDP) receives what `sluice run` writes with a `socket`
/// output; each message carries the peer's address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_output_to_socket_server_input() {
    let s = common::Sluice::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    for network in ["tcp", "udp"] {
        let port = common::free_port();
        let out = dir.path().join(format!("{network}.txt"));
        let (code, body) = s
            .req(
                "POST",
                &format!("/streams/server_{network}"),
                &format!(
                    "input:\n  socket_server: {{network: {network}, address: '127.0.0.1:{port}'}}\npipeline:\n  processors:\n    - mapping: 'root = content().string() + \" from \" + (@remote_addr.split(\":\").index(0))'\noutput:\n  file: {{path: '{}'}}\n",
                    out.display()
                ),
            )
            .await;
        assert_eq!(code, 200, "{body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let config = format!(
            "input:\n{}output:\n  socket: {{network: {network}, address: '127.0.0.1:{port}'}}\n",
            generate(3, "root = \"m\" + counter().string()")
        );
        tokio::task::spawn_blocking(move || run(&config))
            .await
            .unwrap();
        let mut got = wait_lines(&out, 3);
        got.sort();
        assert_eq!(
            got,
            vec![
                "m1 from 127.0.0.1",
                "m2 from 127.0.0.1",
                "m3 from 127.0.0.1"
            ],
            "{network}"
        );
    }
    s.stop();
}

/// The `socket` input reads from a server the test runs; `read_until` ends the stream at the
/// message its check holds for.
#[test]
fn socket_input_under_read_until() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        c.write_all(b"one\ntwo\nstop\nafter\n").unwrap();
        // Keep the connection open until the client goes.
        let mut buf = [0u8; 16];
        let _ = c.read(&mut buf);
    });
    let out = run(&format!(
        "input:\n  read_until:\n    check: 'content() == \"stop\"'\n    input:\n      socket: {{network: tcp, address: '{addr}'}}\npipeline: {{threads: 1}}\noutput:\n  stdout: {{}}\n"
    ));
    assert_eq!(out, "one\ntwo\nstop\n");
    server.join().unwrap();
}

#[test]
fn read_until_idle_timeout_and_restart() {
    // The child prints how many times it ran, then ends; it is restarted until the check
    // holds.
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let out = run(&format!(
        "input:\n  read_until:\n    restart_input: true\n    check: 'content() == \"3\"'\n    input:\n      subprocess: {{name: sh, args: ['-c', 'echo x >> {0}; wc -l < {0}']}}\npipeline: {{threads: 1}}\noutput:\n  stdout: {{}}\n",
        runs.display()
    ));
    assert_eq!(out, "1\n2\n3\n");
    let started = Instant::now();
    let out = run(
        "input:\n  read_until:\n    idle_timeout: 300ms\n    input:\n      generate: {count: 1, interval: '1h', mapping: 'root = \"only\"'}\noutput:\n  stdout: {}\n",
    );
    assert_eq!(out, "only\n");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn subprocess_input_and_output() {
    let out =
        run("input:\n  subprocess: {name: printf, args: ['x\\ny\\n']}\npipeline: {threads: 1}\noutput:\n  stdout: {}\n");
    assert_eq!(out, "x\ny\n");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.txt");
    run(&format!(
        "input:\n{}output:\n  subprocess: {{name: sh, args: ['-c', 'tr a-z A-Z > {}']}}\n",
        generate(2, "root = \"hi\" + counter().string()"),
        file.display()
    ));
    let mut got = wait_lines(&file, 2);
    got.sort();
    assert_eq!(got, vec!["HI1", "HI2"]);
}

/// A `retry` output keeps trying a `socket` output whose server is not there yet.
#[test]
fn retry_output_waits_for_the_server() {
    // A port outside the ephemeral range: a client retrying a closed ephemeral port on
    // loopback can connect to itself (TCP simultaneous open) and take the port.
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| {
            r.split_whitespace()
                .next()
                .and_then(|p| p.parse::<u16>().ok())
        })
        .unwrap_or(32768);
    let port = (low.saturating_sub(3000)..low)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port below the ephemeral range");
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        &dir,
        &format!(
            "input:\n{}pipeline: {{threads: 1}}\noutput:\n  retry:\n    backoff: {{initial_interval: 50ms, max_interval: 100ms}}\n    output:\n      socket: {{network: tcp, address: '127.0.0.1:{port}'}}\n",
            generate(2, "root = \"r\" + counter().string()")
        ),
    );
    let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "run",
            "--http-address",
            &format!("127.0.0.1:{}", common::free_port()),
        ])
        .arg(&path)
        .env("SLUICE_LOG", "error")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (mut c, _) = listener.accept().unwrap();
    let mut got = String::new();
    c.read_to_string(&mut got).unwrap();
    assert_eq!(got, "r1\nr2\n");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
}

/// `websocket` output into an `http_server` input's `ws_path`, and `websocket` input from an
/// `http_server` output's `ws_path`, both on sluice's own server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_input_and_output_against_http_server() {
    let s = common::Sluice::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ws.txt");
    let (code, body) = s
        .req(
            "POST",
            "/streams/wsin",
            &format!(
                "input:\n  http_server: {{ws_path: /ws}}\noutput:\n  file: {{path: '{}'}}\n",
                out.display()
            ),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let url = s.url("/wsin/ws").replace("http://", "ws://");
    let config = format!(
        "input:\n{}output:\n  websocket: {{url: '{url}'}}\n",
        generate(3, "root = \"w\" + counter().string()")
    );
    tokio::task::spawn_blocking(move || run(&config))
        .await
        .unwrap();
    let mut got = wait_lines(&out, 3);
    got.sort();
    assert_eq!(got, vec!["w1", "w2", "w3"]);

    // The other way: sluice run reads from a stream's websocket output until "done".
    let (code, body) = s
        .req(
            "POST",
            "/streams/wsout",
            "input:\n  generate: {interval: 50ms, mapping: 'root = if counter() < 3 { \"tick\" } else { \"done\" }'}\noutput:\n  http_server: {ws_path: /ws}\n",
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let url = s.url("/wsout/ws").replace("http://", "ws://");
    let config = format!(
        "input:\n  read_until:\n    check: 'content() == \"done\"'\n    input:\n      websocket: {{url: '{url}'}}\npipeline: {{threads: 1}}\noutput:\n  stdout: {{}}\n"
    );
    let got = tokio::task::spawn_blocking(move || run(&config))
        .await
        .unwrap();
    assert!(got.ends_with("done\n"), "{got}");
    s.stop();
}

#[test]
fn json_array_tar_and_switch_scanners() {
    let dir = tempfile::tempdir().unwrap();
    let array = dir.path().join("a.json");
    std::fs::write(&array, r#"[{"a":1}, 2, "three"]"#).unwrap();
    let tarball = dir.path().join("b.tar");
    {
        let mut b = tar::Builder::new(std::fs::File::create(&tarball).unwrap());
        for (name, body) in [("x.txt", "first file"), ("y.txt", "second file")] {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, body.as_bytes()).unwrap();
        }
        b.finish().unwrap();
    }
    let out = run(&format!(
        "input:\n  file:\n    paths: ['{}']\n    scanner: {{json_array: {{}}}}\npipeline: {{threads: 1}}\noutput:\n  stdout: {{}}\n",
        array.display()
    ));
    assert_eq!(out, "{\"a\":1}\n2\n\"three\"\n");
    let out = run(&format!(
        "input:\n  file:\n    paths: ['{}', '{}']\n    scanner:\n      switch:\n        - re_match_name: '\\.json$'\n          scanner: {{json_array: {{}}}}\n        - re_match_name: '\\.tar$'\n          scanner: {{tar: {{}}}}\npipeline: {{threads: 1}}\noutput:\n  stdout: {{}}\n",
        array.display(),
        tarball.display()
    ));
    assert_eq!(out, "{\"a\":1}\n2\n\"three\"\nfirst file\nsecond file\n");
}
