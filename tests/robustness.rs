//! Nothing a client sends can crash, wedge or starve the server (issue 12), through the real
//! binary on both back ends: hostile messages become errors on the message, spinning streams
//! leave the API responsive and stop when told, SIGTERM always ends the process, compiling
//! never blocks the API, huge YAML loads fast, and default logs hold no compiler IR.

mod common;

use std::time::{Duration, Instant};

use common::Sluice;

const BACKENDS: [&str; 2] = ["jit", "interpreter"];

/// A stream whose pipeline runs `mapping`, then turns the message's error flag into the
/// synchronous response (`error: ...`), or `ok`.
fn hostile_stream(mapping: &str) -> String {
    let indented: String = mapping
        .lines()
        .map(|l| format!("        {}\n", l))
        .collect();
    format!(
        r#"input:
  http_server:
    timeout: 60s
pipeline:
  processors:
    - mapping: |
{indented}    - mapping: |
        root = if errored() {{ "error: " + error() }} else {{ "ok" }}
output:
  sync_response: {{}}
"#
    )
}

/// A second stream that must keep flowing: it echoes what it gets.
const ECHO: &str = r#"input:
  http_server: {}
pipeline:
  processors:
    - mapping: root = this
output:
  sync_response: {}
"#;

/// A gzip stream that inflates to `n` zero bytes.
fn gzip_bomb(n: usize) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len());
        e.write_all(&chunk[..k]).unwrap();
        left -= k;
    }
    e.finish().unwrap()
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A named map that recurses while building a wide array literal (large native frames).
fn wide_recursion(width: usize) -> String {
    let items: Vec<String> = (0..width).map(|i| format!("this.n + {}", i)).collect();
    format!(
        "map r {{\n  root = if this.n > 0 {{ [{}, {{\"n\": this.n - 1}}.apply(\"r\")] }} else {{ [] }}\n}}\nroot = {{\"n\": this.depth}}.apply(\"r\")",
        items.join(", ")
    )
}

/// Deeply nested arithmetic inside a recursive map (deep interpreter frames per level).
fn nested_recursion() -> String {
    let mut e = String::from("this.n");
    for _ in 0..60 {
        e = format!("({} + 1 - 1)", e);
    }
    format!(
        "map r {{\n  root = if this.n > 0 {{ {{\"n\": {e} - 1}}.apply(\"r\") }} else {{ 0 }}\n}}\nroot = {{\"n\": this.depth}}.apply(\"r\")"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_messages_are_errors_on_both_back_ends() {
    let bomb = base64(&gzip_bomb(64 << 20));
    let cases: Vec<(String, String)> = vec![
        (wide_recursion(160), r#"{"depth":99}"#.into()),
        (wide_recursion(40), r#"{"depth":5000}"#.into()),
        (nested_recursion(), r#"{"depth":99}"#.into()),
        (nested_recursion(), r#"{"depth":100000}"#.into()),
        (
            "root = this.bloblang(this)".into(),
            r#""root = this.bloblang(this)""#.into(),
        ),
        (
            "root = this.bloblang(this.m)".into(),
            r#"{"m":"root = this.bloblang(this.m)"}"#.into(),
        ),
        (
            "root = this.s.repeat(this.n)".into(),
            r#"{"s":"a","n":100000000000}"#.into(),
        ),
        (
            "root = this.s.repeat(this.n)".into(),
            r#"{"s":"abcdefgh","n":4611686018427387904}"#.into(),
        ),
        (
            "root = range(0, this.n).fold(\"ab\", x -> x.tally + x.tally).length()".into(),
            r#"{"n":64}"#.into(),
        ),
        (
            "root = range(0, this.n).length()".into(),
            r#"{"n":9000000000000000000}"#.into(),
        ),
        (
            "root = this.s.replace_all(\"a\", this.s).replace_all(\"a\", this.s).length()".into(),
            format!(r#"{{"s":"{}"}}"#, "a".repeat(100_000)),
        ),
        (
            "root = \"%0*d\".format(1) + \"%099999999999d\".format(1)".into(),
            "{}".into(),
        ),
        (
            "root = range(0, this.n).fold({}, x -> {\"a\": x.tally}).keys()".into(),
            r#"{"n":200000}"#.into(),
        ),
        (
            "root = range(0, this.n).fold([], x -> [x.tally, x.tally]).length()".into(),
            r#"{"n":40}"#.into(),
        ),
        (
            format!("root = [{}].length()", vec!["this.s"; 60].join(", ")),
            format!(r#"{{"s":"{}"}}"#, "a".repeat(1_000_000)),
        ),
        (
            format!(
                "let s = this.s\nroot = [{}].length()",
                vec!["$s"; 60].join(", ")
            ),
            format!(r#"{{"s":"{}"}}"#, "a".repeat(1_000_000)),
        ),
        (
            "root = this.x.parse_xml()".into(),
            format!(
                r#"{{"x":"{}{}"}}"#,
                "<a>".repeat(100_000),
                "</a>".repeat(100_000)
            ),
        ),
        (
            "root = this.b.decode(\"base64\").decompress(\"gzip\").length()".into(),
            format!(r#"{{"b":"{}"}}"#, bomb),
        ),
    ];
    for backend in BACKENDS {
        let s = Sluice::start_env(
            &[],
            &[
                ("SLUICE_BACKEND", backend),
                ("SLUICE_MESSAGE_MEMORY_LIMIT", "33554432"),
            ],
        )
        .await;
        assert_eq!(s.req("POST", "/streams/echo", ECHO).await.0, 200);
        for (i, (mapping, msg)) in cases.iter().enumerate() {
            let id = format!("h{}", i);
            let (code, body) = s
                .req(
                    "POST",
                    &format!("/streams/{}", id),
                    &hostile_stream(mapping),
                )
                .await;
            assert_eq!(code, 200, "{backend} case {i}: {body}");
            let (code, body) = s.req("POST", &format!("/{}/post", id), msg).await;
            assert_eq!(code, 200, "{backend} case {i} ({mapping}): {body}");
            eprintln!(
                "{backend} case {i}: {} bytes ...{}",
                body.len(),
                &body[body.len().saturating_sub(160)..]
            );
            assert!(
                body.starts_with("error: ") || body == "ok",
                "{backend} case {i} ({mapping}): {}",
                &body[..body.len().min(300)]
            );
            assert_eq!(
                s.req("GET", "/ping", "").await,
                (200, "pong".into()),
                "{backend} case {i}"
            );
            assert_eq!(
                s.req("POST", "/echo/post", r#"{"still":"here"}"#).await,
                (200, r#"{"still":"here"}"#.into()),
                "{backend} case {i}"
            );
            assert_eq!(
                s.req("DELETE", &format!("/streams/{}", id), "").await.0,
                200
            );
        }
    }
}

/// Three streams that keep the data plane busy: two `generate` whose mapping deletes every
/// message (the upstream API tests' "harmless" stream) and one hot loop.
fn spinning_streams() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "spin1",
            "input:\n  generate:\n    interval: \"\"\n    mapping: root = deleted()\noutput:\n  drop: {}\n",
        ),
        (
            "spin2",
            "input:\n  generate:\n    mapping: root = deleted()\noutput:\n  drop: {}\n",
        ),
        (
            "hot",
            "input:\n  generate:\n    interval: \"\"\n    mapping: root = range(0, 2000).fold(0, x -> x.tally + x.value)\npipeline:\n  threads: 2\n  processors:\n    - mapping: root = range(0, 3000).map_each(x -> x * 2).sum()\noutput:\n  drop: {}\n",
        ),
    ]
}

/// CPU time (user + system) the process has used, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid)).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_streams_leave_the_api_responsive_and_stop() {
    let s = Sluice::start(&[]).await;
    for (id, conf) in spinning_streams() {
        assert_eq!(
            s.req("POST", &format!("/streams/{}", id), conf).await.0,
            200
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut pings = Vec::new();
    for _ in 0..40 {
        let t = Instant::now();
        assert_eq!(s.req("GET", "/ping", "").await.0, 200);
        pings.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    pings.sort();
    let p95 = pings[pings.len() * 95 / 100];
    eprintln!(
        "/ping with 3 spinning streams: p50 {:?} p95 {:?} max {:?}",
        pings[pings.len() / 2],
        p95,
        pings.last().unwrap()
    );
    assert!(p95 < Duration::from_millis(250), "ping p95 {:?}", p95);
    assert!(
        *pings.last().unwrap() < Duration::from_secs(2),
        "{:?}",
        pings
    );
    let t = Instant::now();
    let (code, list) = s.req("GET", "/streams", "").await;
    assert_eq!(code, 200);
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert!(list.contains("\"hot\""), "{}", list);

    for (id, _) in spinning_streams() {
        let t = Instant::now();
        let (code, body) = s
            .req("DELETE", &format!("/streams/{}?timeout=2s", id), "")
            .await;
        assert_eq!(code, 200, "{}", body);
        eprintln!(
            "DELETE {} ?timeout=2s: {:?} {}",
            id,
            t.elapsed(),
            body.trim()
        );
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "DELETE {} took {:?}",
            id,
            t.elapsed()
        );
    }
    // Afterwards the process is idle: under 20% of a core over two seconds.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = s.child.id();
    let hz = 100.0;
    let before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = (cpu_ticks(pid) - before) as f64 / hz / 2.0;
    eprintln!("CPU after the deletes: {:.1}% of a core", used * 100.0);
    assert!(used < 0.2, "process used {:.0}% of a core", used * 100.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_the_process_within_the_shutdown_timeout() {
    let mut s = Sluice::start(&["--shutdown-timeout", "2s"]).await;
    for (id, conf) in spinning_streams() {
        assert_eq!(
            s.req("POST", &format!("/streams/{}", id), conf).await.0,
            200
        );
    }
    // A stream whose messages take long: its stop has to be forced.
    let slow = hostile_stream(
        "root = range(0, 400).map_each(i -> range(0, 4000).map_each(j -> j * i).sum()).sum()",
    );
    assert_eq!(s.req("POST", "/streams/slow", &slow).await.0, 200);
    let client = s.client.clone();
    let url = s.url("/slow/post");
    let _pending = tokio::spawn(async move { client.post(url).body("{}").send().await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = Instant::now();
    std::process::Command::new("kill")
        .arg("-TERM")
        .arg(s.child.id().to_string())
        .status()
        .unwrap();
    loop {
        if s.child.try_wait().unwrap().is_some() {
            eprintln!(
                "exited {:?} after SIGTERM (--shutdown-timeout 2s)",
                t.elapsed()
            );
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "still running {:?} after SIGTERM",
            t.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A config with `n` mapping processors of `stmts` statements each.
fn big_mappings(n: usize, stmts: usize) -> String {
    let mut out = String::from(
        "input:\n  generate:\n    count: 1\n    mapping: root = {}\npipeline:\n  processors:\n",
    );
    for p in 0..n {
        out.push_str("    - mapping: |\n");
        for i in 0..stmts {
            out.push_str(&format!(
                "        root.f{p}_{i} = if this.a{i}.or(0) > {i} {{ (this.b{i}.or(\"x\") + \"{i}\").uppercase() }} else {{ this.c{i}.or([]).map_each(v -> v * {i}).sum() }}\n"
            ));
        }
    }
    out.push_str("output:\n  drop: {}\n");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiling_a_stream_never_blocks_the_api() {
    let s = std::sync::Arc::new(Sluice::start(&[]).await);
    let conf = big_mappings(6, 40);
    for round in 0..3 {
        let s2 = s.clone();
        let conf = conf.clone();
        let id = format!("big{}", round);
        let post =
            tokio::spawn(async move { s2.req("POST", &format!("/streams/{}", id), &conf).await });
        let mut worst = Duration::ZERO;
        while !post.is_finished() {
            let t = Instant::now();
            assert_eq!(s.req("GET", "/streams", "").await.0, 200);
            worst = worst.max(t.elapsed());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (code, body) = post.await.unwrap();
        assert_eq!(code, 200, "{}", body);
        eprintln!("GET /streams while compiling: worst {:?}", worst);
        assert!(
            worst < Duration::from_secs(1),
            "GET /streams took {:?}",
            worst
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_yaml_bodies_load_or_are_refused_fast() {
    let s = Sluice::start(&[]).await;
    let mut keys = String::from("input:\n  generate:\n    count: 1\n    mapping: root = {}\noutput:\n  drop: {}\nmetadata:\n");
    for i in 0..100_000 {
        keys.push_str(&format!("  k{}: v\n", i));
    }
    let mut items = String::from(
        "input:\n  generate:\n    count: 1\n    mapping: root = {}\noutput:\n  drop: {}\nlist: [",
    );
    for i in 0..100_000 {
        items.push_str(if i == 0 { "1" } else { ",1" });
    }
    items.push_str("]\n");
    // Linear time: a release build loads each in well under a second (the note of issue 12
    // has the numbers); this debug-build bound only catches a return to quadratic loading
    // (35 s and 10 s before).
    for (name, body) in [("keys", keys), ("items", items)] {
        let t = Instant::now();
        let (code, text) = s.req("POST", &format!("/streams/{}", name), &body).await;
        assert!(code == 200 || code == 400, "{} {}", code, text);
        eprintln!("{} body: {} in {:?}", name, code, t.elapsed());
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{} body took {:?}",
            name,
            t.elapsed()
        );
        assert_eq!(s.req("GET", "/ping", "").await.0, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_logs_hold_no_compiler_ir() {
    let s = common::Captured::start(&[]).await;
    for i in 0..10 {
        let conf = format!(
            "input:\n  generate:\n    count: 1\n    mapping: 'root = {{\"n\": {i}}}'\npipeline:\n  processors:\n    - mapping: root = this.n + counter()\n    - mapping: 'root = this.string().uppercase()'\noutput:\n  drop: {{}}\n"
        );
        s.create(&format!("s{i}"), &conf).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (out, err) = s.stop();
    let all = format!("{out}{err}");
    assert!(
        all.contains("stream created") || all.contains("Listening"),
        "{all}"
    );
    for needle in ["function u0:", "block0", "v0 =", "iconst", "cranelift"] {
        assert!(
            !all.contains(needle),
            "log holds compiler IR ({needle}):\n{all}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_counts_what_a_mapping_makes_not_its_input() {
    let s = Sluice::start_env(&[], &[("SLUICE_MESSAGE_MEMORY_LIMIT", "33554432")]).await;
    // A 4 MiB document parses into far more than 4 MiB of values (about 8 times): mapping it
    // whole is fine.
    let items: Vec<String> = (0..100_000)
        .map(|i| format!(r#"{{"id":{i},"name":"item {i}","tags":["a","b"]}}"#))
        .collect();
    let doc = format!(r#"{{"items":[{}]}}"#, items.join(","));
    assert!(doc.len() > 4 << 20, "{}", doc.len());
    // (Copies the mapping makes of parts of its input do count: `this.items.length()` copies
    // the array on the interpreter.)
    let conf = hostile_stream("root.x = this.items.5.name\nroot.y = this.items.99999.id");
    assert_eq!(s.req("POST", "/streams/big", &conf).await.0, 200);
    let (code, body) = s.req("POST", "/big/post", &doc).await;
    assert_eq!((code, body.as_str()), (200, "ok"));
    assert_eq!(s.req("DELETE", "/streams/big", "").await.0, 200);
    // Constant folding is held to the budget too: two 20 MB constants do not fit in 32 MiB.
    let conf = hostile_stream(
        "root.a = \"x\".repeat(20000000)\nroot.b = \"y\".repeat(20000000)\nroot.c = \"z\".repeat(20000000)",
    );
    // (What folding cannot keep is evaluated per message, and fails there.)
    let (code, body) = s.req("POST", "/streams/consts", &conf).await;
    if code == 200 {
        let (code, b) = s.req("POST", "/consts/post", "{}").await;
        assert_eq!(code, 200);
        assert!(b.contains("memory limit"), "{}", &b[..b.len().min(300)]);
    } else {
        assert!(
            body.contains("memory limit"),
            "{}",
            &body[..body.len().min(300)]
        );
    }
    // Numbers in a format string's text are not widths.
    let conf = hostile_stream("root = \"at 1700000000: %s\".format(\"x\")");
    assert_eq!(s.req("POST", "/streams/fmt", &conf).await.0, 200);
    assert_eq!(s.req("POST", "/fmt/post", "{}").await, (200, "ok".into()));
    assert_eq!(s.req("GET", "/ping", "").await, (200, "pong".into()));
}

/// Logs go through a bounded, lossy queue: a process whose stdout nobody reads (the harness
/// pipes it and never drains it) keeps answering, and a stream logging every message can
/// still be stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undrained_log_pipe_does_not_wedge_the_server() {
    let s = common::Sluice::start(&[]).await;
    let cfg = "input:\n  generate:\n    interval: ''\n    mapping: 'root = \"x\".repeat(300)'\n\
               pipeline:\n  processors:\n    - log:\n        level: WARN\n        message: '${! content() }'\n\
               output:\n  drop: {}\n";
    let (code, body) = s.req("POST", "/streams/noisy", cfg).await;
    assert_eq!(code, 200, "{}", body);
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let sent = |stats: &str| {
        let v: serde_json::Value = serde_json::from_str(stats).unwrap();
        v["output_sent{label=\"\",path=\"root.output\",stream=\"noisy\"}"]
            .as_u64()
            .unwrap_or(0)
    };
    let before = sent(&s.req("GET", "/streams/noisy/stats", "").await.1);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let after = sent(&s.req("GET", "/streams/noisy/stats", "").await.1);
    assert!(
        after > before + 100,
        "the stream stalled: {} then {}",
        before,
        after
    );
    let deleted = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        s.req("DELETE", "/streams/noisy", ""),
    )
    .await
    .expect("DELETE answered");
    assert_eq!(deleted.0, 200, "{}", deleted.1);
    assert_eq!(s.req("GET", "/ping", "").await.0, 200);
}
