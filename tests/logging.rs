//! The `logger` section of the root config, through the real binary: logfmt by default on
//! stdout, `json` with static fields and timestamps, `file.path`, and `sluice run` of a stream
//! whose output is stdout keeping its logs on stderr.

mod common;

use std::process::Command;

/// Runs `sluice streams` with `-o root`, creates one stream, stops it; returns stdout.
async fn run_with_root(root: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("root.yaml");
    std::fs::write(&path, root).unwrap();
    let s = common::Captured::start(&["-o", &path.display().to_string()]).await;
    let conf = "input:\n  generate:\n    count: 1\n    mapping: root = {}\noutput:\n  drop: {}\n";
    s.create("logged", conf).await;
    s.stop().0
}

#[tokio::test]
async fn default_logs_are_logfmt_on_stdout() {
    let out = run_with_root("http:\n  enabled: true\n").await;
    let line = out
        .lines()
        .find(|l| l.contains("stream created"))
        .unwrap_or_else(|| panic!("no creation line in {out:?}"));
    assert!(
        line.starts_with("level=info msg=\"stream created\""),
        "{line}"
    );
    assert!(line.contains("@service=sluice"), "{line}");
    assert!(line.contains("stream=logged"), "{line}");
}

#[tokio::test]
async fn json_logs_with_static_fields_and_timestamps() {
    let out = run_with_root(
        "logger:\n  level: INFO\n  format: json\n  add_timestamp: true\n  static_fields:\n    app: demo\n",
    )
    .await;
    let line = out
        .lines()
        .find(|l| l.contains("stream created"))
        .unwrap_or_else(|| panic!("no creation line in {out:?}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["level"], "info");
    assert_eq!(v["msg"], "stream created");
    assert_eq!(v["app"], "demo");
    assert!(
        v.get("@service").is_none(),
        "static_fields replace the default: {v}"
    );
    assert!(
        v["time"].as_str().is_some_and(|t| t.starts_with("20")),
        "{v}"
    );
}

#[tokio::test]
async fn logs_go_to_the_configured_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sluice.log");
    let out = run_with_root(&format!(
        "logger:\n  level: debug\n  file:\n    path: {}\n",
        file.display()
    ))
    .await;
    assert!(!out.contains("stream created"), "{out}");
    let logged = std::fs::read_to_string(&file).unwrap();
    assert!(logged.contains("stream created"), "{logged}");
}

#[test]
fn run_with_a_stdout_output_keeps_logs_off_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.yaml");
    std::fs::write(
        &path,
        "input:\n  generate:\n    count: 2\n    interval: ''\n    mapping: 'root = {\"n\": counter()}'\noutput:\n  stdout: {}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "run",
            "--http-address",
            &format!("127.0.0.1:{}", common::free_port()),
        ])
        .arg(&path)
        .env_remove("SLUICE_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout, "{\"n\":1}\n{\"n\":2}\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("level="));
}

/// `sluice -c FILE` (older Benthos command lines) runs a whole config: its `logger` and
/// `http` sections apply beside the stream; `-c` with another subcommand is refused.
#[test]
fn dash_c_runs_a_whole_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.yaml");
    std::fs::write(
        &path,
        format!(
            "http:\n  address: 127.0.0.1:{}\nlogger:\n  level: warn\n  format: json\ninput:\n  generate:\n    count: 2\n    interval: ''\n    mapping: 'root = {{\"n\": counter()}}'\noutput:\n  stdout: {{}}\n",
            common::free_port()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("-c")
        .arg(&path)
        .env_remove("SLUICE_LOG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\"n\":1}\n{\"n\":2}\n"
    );
    // Level warn: the info lines of a normal run are not there.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("stream created"), "{stderr}");

    let refused = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("-c")
        .arg(&path)
        .args(["list"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
}
