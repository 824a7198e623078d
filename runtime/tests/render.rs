//! The defaults-filled, secret-scrubbed rendering of decoded configs.

use serde_json::json;
use sluice_runtime::config::{load_stream, LoadOptions};

// The walkthrough's `foo` stream, shared with the binary's tests.
const FOO: &str = include_str!("../../tests/fixtures/streams/foo.yaml");

#[test]
fn foo_renders_with_defaults() {
    let (cfg, lints) = load_stream(
        FOO,
        &LoadOptions::new(sluice_runtime::components::catalog::registry()),
    )
    .unwrap();
    assert!(lints.is_empty(), "{lints:?}");
    let v = cfg.render();
    println!("{}", serde_json::to_string_pretty(&v).unwrap());
    assert_eq!(v["input"]["http_server"]["path"], "/post");
    assert_eq!(v["input"]["http_server"]["timeout"], "5s");
    assert_eq!(v["input"]["http_server"]["address"], "");
    assert_eq!(v["input"]["http_server"]["cert_file"], "");
    assert_eq!(v["input"]["http_server"]["key_file"], "");
    assert_eq!(v["input"]["http_server"]["allowed_verbs"], json!(["POST"]));
    assert_eq!(v["buffer"]["memory"]["limit"], 524_288_000);
    assert_eq!(v["pipeline"]["threads"], 4);
    assert!(v["pipeline"]["processors"][0]["mapping"]
        .as_str()
        .unwrap()
        .starts_with("root = {"));
    assert_eq!(v["output"]["http_server"]["path"], "/get");
    assert_eq!(v["output"]["http_server"]["stream_path"], "/get/stream");
    assert!(v["input"].get("label").is_none());
}

#[test]
fn absent_sections_get_reference_defaults() {
    let (cfg, _) = load_stream(
        "{}",
        &LoadOptions::new(sluice_runtime::components::catalog::registry()),
    )
    .unwrap();
    let v = cfg.render();
    assert_eq!(v["buffer"], json!({"none": {}}));
    assert_eq!(v["pipeline"], json!({"threads": -1, "processors": []}));
    assert_eq!(
        v["input"]["stdin"]["scanner"],
        json!({"lines": {"max_buffer_size": 65536, "omit_empty": false}})
    );
    assert_eq!(v["output"], json!({"stdout": {"codec": "lines"}}));
}

#[test]
fn secrets_render_scrubbed() {
    let text = r#"input:
  kafka:
    addresses: [localhost:9092]
    topics: [t]
    sasl:
      mechanism: PLAIN
      user: me
      password: hunter2
output:
  elasticsearch:
    urls: ["http://admin:pw@localhost:9200"]
    index: things
    basic_auth:
      enabled: true
      username: elastic
      password: changeme
"#;
    let (cfg, lints) = load_stream(
        text,
        &LoadOptions::new(sluice_runtime::components::catalog::registry()),
    )
    .unwrap();
    assert!(lints.is_empty(), "{lints:?}");
    let v = cfg.render();
    assert_eq!(
        v["input"]["kafka"]["sasl"]["password"],
        "!!!SECRET_SCRUBBED!!!"
    );
    assert_eq!(v["input"]["kafka"]["sasl"]["user"], "me");
    assert_eq!(v["input"]["kafka"]["sasl"]["access_token"], "");
    assert_eq!(
        v["output"]["elasticsearch"]["basic_auth"]["password"],
        "!!!SECRET_SCRUBBED!!!"
    );
    assert_eq!(
        v["output"]["elasticsearch"]["urls"][0],
        "http://admin:!!!SECRET_SCRUBBED!!!@localhost:9200"
    );
    assert_eq!(
        v["output"]["elasticsearch"]["id"],
        "${!counter()}-${!timestamp_unix()}"
    );
    // The typed form keeps the real value for the runtime.
    assert_eq!(cfg.input.str("sasl.password"), Some("hunter2"));
}
