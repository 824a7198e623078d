//! Test harness: runs the real `sluice` binary on a free loopback port and talks to it over
//! HTTP.

#![allow(dead_code)]

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `sluice streams` process.
pub struct Sluice {
    pub child: Child,
    pub base: String,
    pub client: reqwest::Client,
}

/// An HTTP client that does not keep idle connections (so the server's connection tasks end
/// with each request, and task counts are comparable).
pub fn client() -> reqwest::Client {
    sluice_runtime::tls::install_provider();
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Sluice {
    /// Starts `sluice streams` with extra arguments and waits until it answers `/ping`.
    pub async fn start(extra: &[&str]) -> Sluice {
        let addr = format!("127.0.0.1:{}", free_port());
        Sluice::start_on(&addr, extra).await
    }

    /// Starts `sluice streams` on `addr`.
    pub async fn start_on(addr: &str, extra: &[&str]) -> Sluice {
        Sluice::start_full(addr, extra, &[]).await
    }

    /// Starts `sluice streams` with extra arguments and environment variables.
    pub async fn start_env(extra: &[&str], env: &[(&str, &str)]) -> Sluice {
        let addr = format!("127.0.0.1:{}", free_port());
        Sluice::start_full(&addr, extra, env).await
    }

    /// Starts `sluice streams` whose server requires basic authentication; waits for `/ping`
    /// with `auth`.
    pub async fn start_auth(extra: &[&str], auth: (&str, &str)) -> Sluice {
        let addr = format!("127.0.0.1:{}", free_port());
        Sluice::start_with(&addr, extra, &[], Some(auth)).await
    }

    async fn start_full(addr: &str, extra: &[&str], env: &[(&str, &str)]) -> Sluice {
        Sluice::start_with(addr, extra, env, None).await
    }

    async fn start_with(
        addr: &str,
        extra: &[&str],
        env: &[(&str, &str)],
        auth: Option<(&str, &str)>,
    ) -> Sluice {
        sluice_runtime::tls::install_provider();
        let mut args = vec!["streams", "--http-address", addr];
        args.extend_from_slice(extra);
        let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(&args)
            .env("SLUICE_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn sluice");
        let s = Sluice {
            child,
            base: format!("http://{}", addr),
            client: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let mut ping = s.client.get(s.url("/ping"));
            if let Some((u, p)) = auth {
                ping = ping.basic_auth(u, Some(p));
            }
            if let Ok(r) = ping.send().await {
                if r.status() == 200 {
                    return s;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("sluice did not start");
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request; returns status and body text.
    pub async fn req(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        self.req_with(&self.client, method, path, body).await
    }

    /// Sends a request with `client` (dropping a client closes its connections).
    pub async fn req_with(
        &self,
        client: &reqwest::Client,
        method: &str,
        path: &str,
        body: &str,
    ) -> (u16, String) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = client
            .request(m, self.url(path))
            .body(body.to_string())
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.text().await.unwrap_or_default())
    }

    /// Stops the process (SIGTERM) and returns what it printed on stdout.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let mut out = String::new();
        if let Some(mut so) = self.child.stdout.take() {
            let _ = so.read_to_string(&mut out);
        }
        out
    }
}

impl Drop for Sluice {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// A server on loopback that records the body of every POST to `/in`; returns its URL and
/// what it received. `port` 0 picks a free port.
pub async fn receiver(port: u16) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::body::Bytes;
    use axum::extract::State;
    type Got = std::sync::Arc<std::sync::Mutex<Vec<String>>>;
    let got: Got = Default::default();
    let app = axum::Router::new()
        .route(
            "/in",
            axum::routing::post(|State(got): State<Got>, body: Bytes| async move {
                got.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
                "ok"
            }),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let url = format!("http://{}/in", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

/// A `sluice streams` process at its default log settings (no `SLUICE_LOG`) whose stdout and
/// stderr are captured: both pipes are drained while it runs, so its logging never blocks.
pub struct Captured {
    pub child: Child,
    pub base: String,
    pub client: reqwest::Client,
    out: Option<std::thread::JoinHandle<String>>,
    err: Option<std::thread::JoinHandle<String>>,
}

impl Captured {
    /// Starts `sluice streams --http-address <free port>` plus `extra`; waits for `/ping`.
    pub async fn start(extra: &[&str]) -> Captured {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["streams", "--http-address", &addr])
            .args(extra)
            .env_remove("SLUICE_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sluice");
        fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = r.read_to_string(&mut s);
                s
            })
        }
        let out = drain(child.stdout.take().expect("stdout"));
        let err = drain(child.stderr.take().expect("stderr"));
        let c = Captured {
            child,
            base: format!("http://{addr}"),
            client: client(),
            out: Some(out),
            err: Some(err),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while c
            .client
            .get(format!("{}/ping", c.base))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "sluice did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        c
    }

    /// POSTs a stream config; asserts 200.
    pub async fn create(&self, id: &str, conf: &str) {
        let r = self
            .client
            .post(format!("{}/streams/{id}", self.base))
            .body(conf.to_string())
            .send()
            .await
            .expect("request");
        let status = r.status();
        assert_eq!(
            status,
            200,
            "creating {id}: {}",
            r.text().await.unwrap_or_default()
        );
    }

    /// Stops the process (SIGTERM) and returns what it printed: (stdout, stderr).
    pub fn stop(mut self) -> (String, String) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let join = |h: Option<std::thread::JoinHandle<String>>| {
            h.and_then(|h| h.join().ok()).unwrap_or_default()
        };
        (join(self.out.take()), join(self.err.take()))
    }
}

impl Drop for Captured {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// A child process killed when dropped (so a failing test leaves nothing running).
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `sluice run` on `config` (a whole stream config) and returns what it wrote to stdout;
/// fails the test when it exits unsuccessfully.
pub fn run_config(config: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "run",
            "--http-address",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .arg(&path)
        .env("SLUICE_LOG", "error")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A stream config: `count` messages made by `mapping`, generated as one batch, through
/// `processors` (YAML list items indented by four spaces) on one pipeline thread, to stdout.
pub fn generated_batch(count: usize, mapping: &str, processors: &str) -> String {
    format!(
        "input:\n  generate: {{count: {count}, batch_size: {count}, interval: '', mapping: '{mapping}'}}\n\
         pipeline:\n  threads: 1\n  processors:\n{processors}\
         output:\n  stdout: {{}}\n"
    )
}

pub mod proxy;

/// The lines of a file (none when it does not exist yet).
pub fn read_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Waits until `path` holds at least `n` lines, or `within` passed; returns its lines.
pub async fn wait_lines(path: &std::path::Path, n: usize, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let lines = read_lines(path);
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Checks that `numbers` holds each of `0..n` exactly once (`exactly`) or at least once;
/// the message names what is missing or repeated.
pub fn assert_each_once(numbers: &[u64], n: u64, exactly: bool) {
    let mut counts = vec![0u32; n as usize];
    let mut stray = Vec::new();
    for &x in numbers {
        match counts.get_mut(x as usize) {
            Some(c) => *c += 1,
            None => stray.push(x),
        }
    }
    let missing: Vec<u64> = (0..n).filter(|&i| counts[i as usize] == 0).collect();
    let repeated: Vec<u64> = (0..n).filter(|&i| counts[i as usize] > 1).collect();
    assert!(
        missing.is_empty(),
        "{} of {} missing, e.g. {:?}",
        missing.len(),
        n,
        &missing[..missing.len().min(10)]
    );
    assert!(
        stray.is_empty(),
        "unexpected numbers {:?}",
        &stray[..stray.len().min(10)]
    );
    if exactly {
        assert!(
            repeated.is_empty(),
            "{} duplicated, e.g. {:?}",
            repeated.len(),
            &repeated[..repeated.len().min(10)]
        );
    }
}

/// A name no other test (or earlier run) uses: a key, queue, topic, table or bucket.
pub fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "sluice_{}_{}_{}",
        name,
        std::process::id(),
        nanos % 1_000_000_000
    )
}

/// The rest of a stream config after its input: one pipeline thread running `mapping`,
/// then a `file` output of lines at `path`.
pub fn file_output(path: &std::path::Path, mapping: &str) -> String {
    format!(
        "pipeline:\n  threads: 1\n  processors:\n    - mapping: '{mapping}'\noutput:\n  file:\n    path: {}\n    codec: lines\n",
        path.display()
    )
}

/// The leading number of each line (`"17 rest"` → 17).
pub fn first_numbers(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect()
}

impl Sluice {
    /// Creates stream `id` from `cfg`; fails the test unless the API answers 200.
    pub async fn post_stream(&self, id: &str, cfg: &str) {
        let (code, body) = self.req("POST", &format!("/streams/{}", id), cfg).await;
        assert_eq!(code, 200, "{}: {}", id, body);
    }
}

/// Waits until the leading numbers of `path`'s lines cover `0..n` (duplicates allowed), or
/// `within` passed; returns its lines.
pub async fn wait_each(path: &std::path::Path, n: u64, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let lines = read_lines(path);
        let seen: std::collections::HashSet<u64> = lines
            .iter()
            .filter_map(|l| l.split(' ').next()?.parse().ok())
            .filter(|x| *x < n)
            .collect();
        if seen.len() as u64 >= n || Instant::now() > deadline {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
