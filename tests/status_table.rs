//! One test per row of the reference's endpoint table (§3.3) that sluice can produce, against
//! the running binary: success and error statuses with their bodies.

mod common;

use common::Sluice;

const GEN: &str =
    "input:\n  generate:\n    mapping: 'root = \"x\"'\n    interval: 1h\noutput:\n  drop: {}\n";
const LINTY: &str =
    "input:\n  generate:\n    mapping: 'root = 1'\n    nope: 1\noutput:\n  drop: {}\n";
const BAD_YAML: &str = "input: [\n";

fn busy_port_config(port: u16) -> String {
    format!(
        "input:\n  http_server:\n    address: 127.0.0.1:{}\noutput:\n  drop: {{}}\n",
        port
    )
}

#[tokio::test]
async fn streams_collection_rows() {
    let s = Sluice::start(&[]).await;
    assert_eq!(s.req("GET", "/streams", "").await, (200, "{}".into()));
    assert_eq!(
        s.req("POST", "/streams", &format!("a:\n{}", indent(GEN)))
            .await,
        (200, String::new())
    );
    let (code, body) = s
        .req("POST", "/streams", &format!("a:\n{}", indent(LINTY)))
        .await;
    assert_eq!(code, 400);
    assert_eq!(
        body,
        r#"{"lint_errors":["stream 'a': (5,1) field nope not recognised"]}"#
    );
    let (code, body) = s.req("POST", "/streams", BAD_YAML).await;
    assert_eq!(code, 400);
    assert!(body.starts_with("Error: "), "{}", body);
    assert_eq!(
        s.req("DELETE", "/streams", "").await,
        (400, "Error: method not supported\n".into())
    );
    // An empty body removes every stream.
    assert_eq!(s.req("POST", "/streams", "").await.0, 200);
    assert_eq!(s.req("GET", "/streams", "").await, (200, "{}".into()));
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {}\n", l)).collect()
}

#[tokio::test]
async fn single_stream_rows() {
    let s = Sluice::start(&[]).await;
    // POST: 200, lint 400, Error 400, exists 400, build failure 502.
    assert_eq!(s.req("POST", "/streams/a", GEN).await, (200, String::new()));
    assert_eq!(s.req("POST", "/streams/b", LINTY).await.0, 400);
    let (code, body) = s.req("POST", "/streams/b", BAD_YAML).await;
    assert!(
        code == 400 && body.starts_with("Error: "),
        "{} {}",
        code,
        body
    );
    assert_eq!(
        s.req("POST", "/streams/a", GEN).await,
        (400, "Stream already exists\n".into())
    );
    let hold = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hold.local_addr().unwrap().port();
    assert_eq!(
        s.req("POST", "/streams/b", &busy_port_config(port)).await.0,
        502
    );

    // GET: 200, 404.
    assert_eq!(s.req("GET", "/streams/a", "").await.0, 200);
    assert_eq!(
        s.req("GET", "/streams/zz", "").await,
        (404, "Stream not found\n".into())
    );

    // PUT: 200, lint 400, Error 400, 404, 502 (and the old stream keeps running).
    assert_eq!(s.req("PUT", "/streams/a", GEN).await, (200, String::new()));
    assert_eq!(s.req("PUT", "/streams/a", LINTY).await.0, 400);
    assert!(s
        .req("PUT", "/streams/a", BAD_YAML)
        .await
        .1
        .starts_with("Error: "));
    assert_eq!(s.req("PUT", "/streams/zz", GEN).await.0, 404);
    assert_eq!(
        s.req("PUT", "/streams/a", &busy_port_config(port)).await.0,
        502
    );
    let (_, list) = s.req("GET", "/streams", "").await;
    assert!(list.contains(r#""a":{"active":true"#), "{}", list);

    // PATCH: 200, 404, 400 (bad body / bad result), 502.
    assert_eq!(
        s.req(
            "PATCH",
            "/streams/a",
            "input:\n  generate:\n    interval: 2h\n"
        )
        .await
        .0,
        200
    );
    assert_eq!(s.req("PATCH", "/streams/zz", "{}").await.0, 404);
    assert_eq!(s.req("PATCH", "/streams/a", BAD_YAML).await.0, 400);
    assert_eq!(
        s.req(
            "PATCH",
            "/streams/a",
            "input:\n  generate:\n    interval: [1]\n"
        )
        .await
        .0,
        400
    );
    let own = common::free_port();
    assert_eq!(
        s.req("POST", "/streams/p", &busy_port_config(own)).await.0,
        200
    );
    let patch = format!("input:\n  http_server:\n    address: 127.0.0.1:{}\n", port);
    assert_eq!(s.req("PATCH", "/streams/p", &patch).await.0, 502);

    // Other verbs: 400.
    assert_eq!(s.req("HEAD", "/streams/a", "").await.0, 400);
    assert_eq!(
        s.req("TRACE", "/streams/a", "").await,
        (400, "Error: verb not supported: TRACE\n".into())
    );

    // Stats: 200, 404, 400.
    assert_eq!(s.req("GET", "/streams/a/stats", "").await.0, 200);
    assert_eq!(
        s.req("GET", "/streams/zz/stats", "").await,
        (404, "Stream not found\n".into())
    );
    assert_eq!(s.req("PUT", "/streams/a/stats", "").await.0, 400);

    // DELETE: 200, 404.
    assert_eq!(
        s.req("DELETE", "/streams/a", "").await,
        (200, String::new())
    );
    assert_eq!(
        s.req("DELETE", "/streams/a", "").await,
        (404, "Stream not found\n".into())
    );
    drop(hold);
}

#[tokio::test]
async fn resource_rows() {
    let s = Sluice::start(&[]).await;
    assert_eq!(
        s.req(
            "POST",
            "/resources/cache/c1",
            "memory:\n  default_ttl: 5m\n"
        )
        .await,
        (200, String::new())
    );
    assert_eq!(
        s.req(
            "POST",
            "/resources/rate_limit/r1",
            "local:\n  count: 10\n  interval: 1s\n"
        )
        .await
        .0,
        200
    );
    assert_eq!(
        s.req("POST", "/resources/widget/w", "memory: {}\n").await,
        (400, "Var `type` must be set to one of `cache`, `input`, `output`, `processor` or `rate_limit`\n".into())
    );
    assert_eq!(
        s.req("GET", "/resources/cache/c1", "").await,
        (400, "Error: verb not supported: GET\n".into())
    );
    let (code, body) = s
        .req("POST", "/resources/cache/c2", "memory:\n  nope: 1\n")
        .await;
    assert_eq!(code, 400);
    assert!(body.starts_with(r#"{"lint_errors":["#), "{}", body);
    let (code, body) = s
        .req("POST", "/resources/output/o1", "label: other\ndrop: {}\n")
        .await;
    assert_eq!(
        (code, body.as_str()),
        (
            502,
            "Error: label 'other' must be empty or match the resource name 'o1'\n"
        )
    );
}

#[tokio::test]
async fn service_rows() {
    let s = Sluice::start(&[]).await;
    assert_eq!(s.req("GET", "/ping", "").await, (200, "pong".into()));
    assert_eq!(s.req("POST", "/ready", "").await, (200, "OK".into()));
    assert!(s.req("GET", "/version", "").await.1.contains(r#""built":"#));
    let (code, eps) = s.req("GET", "/endpoints", "").await;
    assert_eq!(code, 200);
    assert!(eps.contains("\"/streams\""));
    assert_eq!(s.req("GET", "/metrics", "").await.0, 200);
    assert_eq!(s.req("GET", "/stats", "").await.0, 200);
    // Every route also answers under the root path, as upstream registers each at both.
    assert_eq!(
        s.req("GET", "/benthos/ping", "").await,
        (200, "pong".into())
    );
}

#[tokio::test]
async fn rate_limit_resources_throttle_http_server_inputs() {
    let s = Sluice::start(&[]).await;
    let cfg = "input:\n  http_server:\n    rate_limit: rl\noutput:\n  drop: {}\n";
    let (code, body) = s.req("POST", "/streams/limited", cfg).await;
    assert_eq!(code, 502);
    assert!(
        body.contains("rate limit resource 'rl' was not found"),
        "{}",
        body
    );
    assert_eq!(
        s.req(
            "POST",
            "/resources/rate_limit/rl",
            "local:\n  count: 2\n  interval: 60s\n"
        )
        .await
        .0,
        200
    );
    assert_eq!(s.req("POST", "/streams/limited", cfg).await.0, 200);
    assert_eq!(s.req("POST", "/limited/post", "a").await.0, 200);
    assert_eq!(s.req("POST", "/limited/post", "b").await.0, 200);
    let r = s
        .client
        .post(s.url("/limited/post"))
        .body("c")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{}", retry);
    // Replacing the resource applies at once.
    assert_eq!(
        s.req(
            "POST",
            "/resources/rate_limit/rl",
            "local:\n  count: 100\n  interval: 1s\n"
        )
        .await
        .0,
        200
    );
    assert_eq!(s.req("POST", "/limited/post", "d").await.0, 200);
}
