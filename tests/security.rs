//! The service keeps its security promises, tested against the real binary: the root config
//! is linted and enforced (basic auth, CORS, TLS, root path; Redpanda Connect's
//! `internal/api/api_test.go` ported to HTTP requests), outbound TLS works with a test CA and
//! fails clearly without it, dynamic mappings cannot read the host, and credentials never
//! show in GET, stats, metrics, errors or logs.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, Captured, Sluice};

/// Writes `text` to a fresh file in `dir` and returns its path.
fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// Runs `sluice streams -o ROOT` expecting it to refuse to start; returns its stderr.
fn refused(root: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "streams",
            "--http-address",
            &format!("127.0.0.1:{}", free_port()),
            "-o",
            root,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run sluice");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Password `secret` hashed as upstream's test table has it.
const SALT: &str = "EzrwNJYw2wkErVVV1P36FQ==";
const HASHES: [(&str, &str); 4] = [
    ("sha256", "K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols="),
    ("md5", "Xr4ilOzQ4PCOq3aQ0qbuaQ=="),
    (
        "bcrypt",
        "JDJhJDEwJHRDMWs2NHc5VjA0R3JIdEE2QzQ2SC5na3o3WWNUUWlQc1RNbVNCUU8yOG8uSWg4YUUvaUcu",
    ),
    ("scrypt", "eJ01V0+YCJxHraokLp79ijKS0z1jzVQ3vFtGx5UEEiY="),
];

fn auth_root(dir: &tempfile::TempDir, algorithm: &str, hash: &str, enabled: bool) -> String {
    write(
        dir,
        &format!("root-{algorithm}-{enabled}.yaml"),
        &format!(
            "http:\n  basic_auth:\n    enabled: {enabled}\n    username: myuser\n    password_hash: \"{hash}\"\n    algorithm: {algorithm}\n    salt: \"{SALT}\"\n"
        ),
    )
}

async fn status(client: &reqwest::Client, url: &str, auth: Option<(&str, &str)>) -> u16 {
    let mut r = client.get(url);
    if let Some((u, p)) = auth {
        r = r.basic_auth(u, Some(p));
    }
    r.send().await.expect("request").status().as_u16()
}

/// Upstream's TestAPIBasicAuth, every algorithm, over HTTP.
#[tokio::test]
async fn basic_auth_table_of_upstream() {
    let dir = tempfile::tempdir().unwrap();
    for (algorithm, hash) in HASHES {
        let root = auth_root(&dir, algorithm, hash, true);
        let s = Sluice::start_auth(&["-o", &root], ("myuser", "secret")).await;
        let c = common::client();
        let v = s.url("/version");
        assert_eq!(
            status(&c, &v, Some(("myuser", "secret"))).await,
            200,
            "{algorithm}"
        );
        assert_eq!(
            status(&c, &v, Some(("myuser", "wrong"))).await,
            401,
            "{algorithm}"
        );
        assert_eq!(status(&c, &v, None).await, 401, "{algorithm}");
    }
    // Disabled: anything goes.
    let root = auth_root(&dir, "sha256", HASHES[0].1, false);
    let s = Sluice::start(&["-o", &root]).await;
    let c = common::client();
    assert_eq!(
        status(&c, &s.url("/version"), Some(("myuser", "wrong"))).await,
        200
    );
    assert_eq!(status(&c, &s.url("/version"), None).await, 200);
}

/// Wrong or missing credentials get 401 (with the realm) on every API route and on stream
/// endpoints of the shared server, also under the root path; the right ones get through.
#[tokio::test]
async fn basic_auth_guards_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let root = auth_root(&dir, "sha256", HASHES[0].1, true);
    let s = Sluice::start_auth(&["-o", &root], ("myuser", "secret")).await;
    let c = common::client();
    let ok = Some(("myuser", "secret"));
    let r = c
        .post(s.url("/streams/guarded"))
        .basic_auth("myuser", Some("secret"))
        .body("input: {http_server: {}}\noutput: {drop: {}}\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for path in [
        "/ping",
        "/version",
        "/ready",
        "/endpoints",
        "/metrics",
        "/streams",
        "/streams/guarded",
        "/streams/guarded/stats",
        "/benthos/streams",
        "/guarded/ready",
    ] {
        let r = c.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert_eq!(
            r.headers()["www-authenticate"],
            "Basic realm=\"restricted\", charset=\"UTF-8\"",
            "{path}"
        );
        assert_eq!(
            status(&c, &s.url(path), Some(("myuser", "nope"))).await,
            401,
            "{path}"
        );
        assert_eq!(status(&c, &s.url(path), ok).await, 200, "{path}");
    }
    let post = |auth: bool| {
        let mut r = c.post(s.url("/guarded/post")).body("{}");
        if auth {
            r = r.basic_auth("myuser", Some("secret"));
        }
        r.send()
    };
    assert_eq!(post(false).await.unwrap().status(), 401);
    assert_eq!(post(true).await.unwrap().status(), 200);
    for (verb, path) in [("DELETE", "/streams/guarded"), ("POST", "/streams/other")] {
        let r = c
            .request(
                reqwest::Method::from_bytes(verb.as_bytes()).unwrap(),
                s.url(path),
            )
            .body("input: {generate: {mapping: 'root = 1'}}\noutput: {drop: {}}\n")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{verb} {path}");
    }
}

async fn preflight(s: &Sluice, origin: &str) -> reqwest::Response {
    common::client()
        .request(reqwest::Method::OPTIONS, s.url("/version"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap()
}

/// Upstream's TestAPIEnableCORS, TestAPIEnableCORSOrigins and TestAPIEnableCORSNoHeaders.
#[tokio::test]
async fn cors_as_upstream_tests_it() {
    let dir = tempfile::tempdir().unwrap();
    let any = write(
        &dir,
        "any.yaml",
        "http:\n  cors:\n    enabled: true\n    allowed_origins: ['*']\n",
    );
    let s = Sluice::start(&["-o", &any]).await;
    let r = preflight(&s, "meow").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    drop(s);

    let some = write(
        &dir,
        "some.yaml",
        "http:\n  cors:\n    enabled: true\n    allowed_origins: [foo, bar]\n",
    );
    let s = Sluice::start(&["-o", &some]).await;
    for origin in ["foo", "bar"] {
        let r = preflight(&s, origin).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["access-control-allow-origin"], origin);
    }
    let r = preflight(&s, "baz").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // A simple request from an allowed origin carries the header too.
    let r = common::client()
        .get(s.url("/version"))
        .header("Origin", "bar")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "bar");
    drop(s);

    let none = write(&dir, "none.yaml", "http:\n  cors:\n    enabled: true\n");
    let err = refused(&none);
    assert!(
        err.contains("must specify at least one allowed origin"),
        "{err}"
    );
}

/// Preflights never need credentials (CORS answers them before authentication).
#[tokio::test]
async fn cors_preflight_passes_before_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let root = write(
        &dir,
        "root.yaml",
        &format!(
            "http:\n  cors: {{enabled: true, allowed_origins: [app]}}\n  basic_auth: {{enabled: true, username: u, password_hash: '{}'}}\n",
            HASHES[0].1
        ),
    );
    let s = Sluice::start_auth(&["-o", &root], ("u", "secret")).await;
    assert_eq!(preflight(&s, "app").await.status(), 200);
    let r = common::client()
        .get(s.url("/version"))
        .header("Origin", "app")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// A bad root config refuses to start, saying where and why; nothing is silently ignored.
#[tokio::test]
async fn bad_root_configs_refuse_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let unknown = write(&dir, "unknown.yaml", "http:\n  nope: 1\n");
    let err = refused(&unknown);
    assert!(
        err.contains(&format!("{unknown}:2:1")) && err.contains("field nope not recognised"),
        "{err}"
    );

    let no_hash = write(
        &dir,
        "nohash.yaml",
        "http:\n  basic_auth:\n    enabled: true\n    username: u\n",
    );
    let err = refused(&no_hash);
    assert!(
        err.contains("both username and password_hash are required"),
        "{err}"
    );
    assert!(err.contains(&format!("{no_hash}:3:")), "{err}");

    let bad_algo = write(
        &dir,
        "algo.yaml",
        "http:\n  basic_auth: {enabled: true, username: u, password_hash: x, algorithm: sha1}\n",
    );
    let err = refused(&bad_algo);
    assert!(err.contains("sha1"), "{err}");

    let half_tls = write(&dir, "tls.yaml", "http:\n  cert_file: /nonexistent.pem\n");
    let err = refused(&half_tls);
    assert!(
        err.contains("both cert_file and key_file must be specified"),
        "{err}"
    );
}

/// The root path (`/benthos` by default) is configurable: every route answers under it.
#[tokio::test]
async fn root_path_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let root = write(&dir, "root.yaml", "http:\n  root_path: /custom\n");
    let s = Sluice::start(&["-o", &root]).await;
    assert_eq!(s.req("GET", "/custom/ping", "").await, (200, "pong".into()));
    assert_eq!(s.req("GET", "/custom/streams", "").await.0, 200);
    assert_eq!(s.req("GET", "/benthos/ping", "").await.0, 404);
}

/// `sluice -c ROOT streams` reads the root config as older Benthos command lines give it.
#[tokio::test]
async fn dash_c_is_the_root_config_of_streams() {
    let dir = tempfile::tempdir().unwrap();
    let root = auth_root(&dir, "sha256", HASHES[0].1, true);
    let addr = format!("127.0.0.1:{}", free_port());
    let child = common::KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["-c", &root, "streams", "--http-address", &addr])
            .env("SLUICE_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let c = common::client();
    let url = format!("http://{addr}/ping");
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Ok(r) = c.get(&url).send().await {
            break r.status().as_u16();
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    drop(child);
    assert_eq!(code, 401);
}

/// A certificate authority and a server certificate for 127.0.0.1/localhost, as PEM files.
struct TestPki {
    ca: String,
    cert: String,
    key: String,
}

fn pki(dir: &tempfile::TempDir) -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "sluice test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let cert = params.signed_by(&key, &issuer).unwrap();
    TestPki {
        ca: write(dir, "ca.pem", &ca.pem()),
        cert: write(dir, "cert.pem", &cert.pem()),
        key: write(dir, "key.pem", &key.serialize_pem()),
    }
}

/// The API over TLS (curl with the test CA), and an `http_client` output delivering to it
/// over HTTPS with the CA; without the CA, a clear TLS error and nothing delivered.
#[tokio::test]
async fn tls_in_and_out() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(&dir);
    let port = free_port();
    let root = write(
        &dir,
        "root.yaml",
        &format!(
            "http:\n  cert_file: {}\n  key_file: {}\n",
            pki.cert, pki.key
        ),
    );
    let sink = dir.path().join("sink.jsonl");
    let server = common::KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args([
                "streams",
                "--http-address",
                &format!("127.0.0.1:{port}"),
                "-o",
                &root,
            ])
            .env("SLUICE_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let curl = |args: &[&str]| {
        Command::new("curl")
            .args(["-s", "--max-time", "5", "--cacert", &pki.ca])
            .args(args)
            .output()
            .expect("curl")
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = curl(&[&format!("https://127.0.0.1:{port}/ping")]);
        if out.stdout == b"pong" {
            break;
        }
        assert!(Instant::now() < deadline, "TLS API did not answer: {out:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let conf = format!(
        "input: {{http_server: {{path: /in}}}}\noutput: {{file: {{path: {}, codec: lines}}}}\n",
        sink.display()
    );
    let out = curl(&[
        "-X",
        "POST",
        "--data-binary",
        &conf,
        &format!("https://127.0.0.1:{port}/streams/sink"),
    ]);
    assert!(out.status.success(), "{out:?}");

    let client = Captured::start(&[]).await;
    client
        .create(
            "trusted",
            &format!(
                "input: {{generate: {{count: 3, interval: '', mapping: 'root.n = counter()'}}}}\n\
                 output: {{http_client: {{url: 'https://127.0.0.1:{port}/sink/in', verb: POST, tls: {{enabled: true, root_cas_file: {}}}}}}}\n",
                pki.ca
            ),
        )
        .await;
    client
        .create(
            "untrusted",
            &format!(
                "input: {{generate: {{count: 1, interval: '', mapping: 'root.untrusted = true'}}}}\n\
                 output: {{http_client: {{url: 'https://127.0.0.1:{port}/sink/in', verb: POST, retries: 0}}}}\n"
            ),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&sink).unwrap_or_default();
        if text.lines().count() >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "delivered: {text:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (out, err) = client.stop();
    drop(server);
    let text = std::fs::read_to_string(&sink).unwrap();
    let mut got: Vec<&str> = text.lines().collect();
    got.sort();
    assert_eq!(got, vec![r#"{"n":1}"#, r#"{"n":2}"#, r#"{"n":3}"#]);
    let logs = format!("{out}{err}");
    assert!(
        logs.contains("invalid peer certificate") && logs.contains("UnknownIssuer"),
        "no clear TLS error in the logs: {logs}"
    );
}

/// A mapping whose text comes from a message cannot read the host: `env`, `file` and
/// `hostname` are compile errors there, and the values never appear.
#[tokio::test]
async fn dynamic_mappings_cannot_read_the_host() {
    let s = Sluice::start_env(&[], &[("SLUICE_TEST_SECRET", "hunter2-env")]).await;
    let conf = "input: {http_server: {path: /m}}\n\
                pipeline:\n  processors:\n    - mapping: 'root = this.body.bloblang(this.mapping).catch(e -> {\"error\": e})'\n\
                output: {sync_response: {}}\n";
    assert_eq!(s.req("POST", "/streams/dyn", conf).await.0, 200);
    for (mapping, leak) in [
        (r#"root = env("SLUICE_TEST_SECRET")"#, "hunter2-env"),
        (
            r#"root = file("/proc/self/environ").string()"#,
            "hunter2-env",
        ),
        (r#"root = hostname()"#, ""),
    ] {
        let body = serde_json::json!({"body": {}, "mapping": mapping}).to_string();
        let (code, text) = s.req("POST", "/dyn/m", &body).await;
        assert_eq!(code, 200, "{text}");
        assert!(text.contains("reads the host"), "{mapping}: {text}");
        if !leak.is_empty() {
            assert!(!text.contains(leak), "{mapping}: {text}");
        }
    }
    // Pure functions still work.
    let body = serde_json::json!({"body": {"a": 2}, "mapping": "root = this.a * 21"}).to_string();
    assert_eq!(s.req("POST", "/dyn/m", &body).await, (200, "42".into()));
}

/// Credentials in a posted config (headers, URL user info and query tokens, secret fields)
/// never appear in GET, stats, metrics, error responses or logs; state files are private.
#[tokio::test]
async fn secrets_never_leave() {
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("state");
    let c = Captured::start(&["--state-dir", state_dir.to_str().unwrap()]).await;
    let secrets = [
        "s3cr3t-bearer",
        "k3y-value",
        "c00kie-value",
        "url-pa55word",
        "t0ken-in-query",
        "es-pa55word",
        "basic-pa55word",
    ];
    c.create(
        "leaky",
        "input: {generate: {count: 2, interval: '', mapping: 'root = {}'}}\n\
         output:\n  http_client:\n    url: 'http://user:url-pa55word@127.0.0.1:1/x?a=1&token=t0ken-in-query'\n    verb: POST\n    retries: 0\n    retry_period: 10ms\n    headers:\n      Authorization: 'Bearer s3cr3t-bearer'\n      X-Api-Key: k3y-value\n      Cookie: 'session=c00kie-value'\n      Content-Type: application/json\n    basic_auth: {enabled: true, username: u, password: basic-pa55word}\n",
    )
    .await;
    c.create(
        "es",
        "input: {generate: {count: 1, interval: '', mapping: 'root = {}'}}\n\
         output: {elasticsearch: {urls: ['http://elastic:es-pa55word@127.0.0.1:1'], index: x, max_retries: 0}}\n",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut seen = String::new();
    for path in [
        "/streams/leaky",
        "/streams/es",
        "/streams/leaky/stats",
        "/metrics",
        "/streams",
    ] {
        let r = c
            .client
            .get(format!("{}{path}", c.base))
            .send()
            .await
            .unwrap();
        seen.push_str(&r.text().await.unwrap());
    }
    let get = c
        .client
        .get(format!("{}/streams/leaky", c.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(get.contains("!!!SECRET_SCRUBBED!!!"), "{get}");
    assert!(
        get.contains("application/json"),
        "non-secret headers stay: {get}"
    );
    // An error response that echoes the config (a bad PATCH).
    let r = c
        .client
        .patch(format!("{}/streams/leaky", c.base))
        .body(r#"{"output": {"http_client": {"nosuchfield": 1}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    seen.push_str(&r.text().await.unwrap());
    // State files are readable by the owner only, in an owner-only directory.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state_dir), 0o700);
        assert_eq!(mode(&state_dir.join("leaky.yaml")), 0o600);
    }
    let (out, err) = c.stop();
    assert!(
        out.contains("HTTP request failed"),
        "the output did fail: {out}"
    );
    seen.push_str(&out);
    seen.push_str(&err);
    for s in secrets {
        assert!(!seen.contains(s), "{s} leaked:\n{seen}");
    }
}

/// An `http_server` input on its own address serves HTTPS with its `cert_file`/`key_file`
/// and answers CORS preflights with its `cors` settings.
#[tokio::test]
async fn own_address_http_server_has_tls_and_cors() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(&dir);
    let s = Sluice::start(&[]).await;
    let port = free_port();
    let conf = format!(
        "input:\n  http_server:\n    address: 127.0.0.1:{port}\n    path: /in\n    cert_file: {}\n    key_file: {}\n    cors: {{enabled: true, allowed_origins: [app]}}\n\
         pipeline: {{processors: [{{mapping: 'root = \"got \" + content().string()'}}]}}\n\
         output: {{sync_response: {{}}}}\n",
        pki.cert, pki.key
    );
    let (code, text) = s.req("POST", "/streams/tls", &conf).await;
    assert_eq!(code, 200, "{text}");
    let url = format!("https://127.0.0.1:{port}/in");
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "5",
            "--cacert",
            &pki.ca,
            "--data-binary",
            "hello",
            &url,
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got hello", "{out:?}");
    let out = Command::new("curl")
        .args([
            "-s",
            "-i",
            "--max-time",
            "5",
            "--cacert",
            &pki.ca,
            "-X",
            "OPTIONS",
            "-H",
            "Origin: app",
            "-H",
            "Access-Control-Request-Method: POST",
            &url,
        ])
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(
        head.starts_with("http/2 200") || head.starts_with("http/1.1 200"),
        "{head}"
    );
    assert!(head.contains("access-control-allow-origin: app"), "{head}");
    // Plain HTTP to the TLS port does not get through.
    let plain = common::client()
        .post(format!("http://127.0.0.1:{port}/in"))
        .body("x")
        .send()
        .await;
    assert!(plain.map(|r| r.status() != 200).unwrap_or(true));
}
