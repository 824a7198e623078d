//! Lifecycle benchmark (run with `benches/lifecycle.sh`): PUT latency p50/p99 while clients
//! keep posting to the stream, and the time and resident memory to create 10,000 idle streams
//! (`generate` every hour → `drop`), per stream. Talks to a `sluice streams` it starts on
//! loopback; every loop is bounded.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SWAP_A: &str = "input:\n  http_server: {}\npipeline:\n  processors:\n    - mapping: |\n        root = this\n        root.m = \"A\"\noutput:\n  drop: {}\n";
const SWAP_B: &str = "input:\n  http_server: {}\npipeline:\n  processors:\n    - mapping: |\n        root = this\n        root.m = \"B\"\noutput:\n  drop: {}\n";
const IDLE: &str =
    "input:\n  generate:\n    mapping: 'root = \"x\"'\n    interval: 1h\noutput:\n  drop: {}\n";

async fn gauge(c: &reqwest::Client, base: &str, name: &str) -> u64 {
    let text = c
        .get(format!("{}/metrics", base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

#[tokio::main]
async fn main() {
    let bin = std::env::var("SLUICE_BIN").unwrap_or_else(|_| "target/release/sluice".into());
    let streams: usize = std::env::var("STREAMS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let addr = "127.0.0.1:14197";
    let base = format!("http://{}", addr);
    let mut child = Command::new(&bin)
        .args(["streams", "--http-address", addr, "--log.level", "error"])
        .stdout(Stdio::null())
        .spawn()
        .expect("start sluice");
    sluice_runtime::tls::install_provider();
    let c = reqwest::Client::new();
    for _ in 0..100 {
        if c.get(format!("{}/ping", base)).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // 1. PUT latency under load.
    c.post(format!("{}/streams/foo", base))
        .body(SWAP_A)
        .send()
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (c, base, stop, sent, failed) = (
            c.clone(),
            base.clone(),
            stop.clone(),
            sent.clone(),
            failed.clone(),
        );
        load.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let r = c
                    .post(format!("{}/foo/post", base))
                    .body(format!("{{\"id\":{}}}", n))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => sent.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    let mut lat = Vec::new();
    let load_start = Instant::now();
    for i in 0..100 {
        let body = if i % 2 == 0 { SWAP_B } else { SWAP_A };
        let t = Instant::now();
        let r = c
            .put(format!("{}/streams/foo", base))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        lat.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for l in load {
        let _ = l.await;
    }
    let load_secs = load_start.elapsed().as_secs_f64();
    lat.sort();
    println!(
        "PUT latency under load ({} PUTs, 4 clients, {:.0} req/s, {} failed requests): p50 {:.2} ms, p99 {:.2} ms",
        lat.len(),
        sent.load(Ordering::Relaxed) as f64 / load_secs,
        failed.load(Ordering::Relaxed),
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3
    );
    c.delete(format!("{}/streams/foo", base))
        .send()
        .await
        .unwrap();

    // 2. Many idle streams.
    let rss_before = gauge(&c, &base, "process_resident_memory_bytes").await;
    let t = Instant::now();
    let mut tasks = Vec::new();
    let per = streams / 16;
    for w in 0..16 {
        let (c, base) = (c.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                let r = c
                    .post(format!("{}/streams/idle-{}-{}", base, w, i))
                    .body(IDLE)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let took = t.elapsed();
    let n = per * 16;
    let rss_after = gauge(&c, &base, "process_resident_memory_bytes").await;
    let tasks_alive = gauge(&c, &base, "sluice_tokio_alive_tasks").await;
    println!(
        "{} idle streams: created in {:.2} s ({:.1} µs per stream), resident memory +{:.1} MiB ({:.1} KiB per stream), {} live tasks",
        n,
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / n as f64,
        (rss_after.saturating_sub(rss_before)) as f64 / 1048576.0,
        (rss_after.saturating_sub(rss_before)) as f64 / 1024.0 / n as f64,
        tasks_alive
    );
    let _ = child.kill();
    let _ = child.wait();
}
