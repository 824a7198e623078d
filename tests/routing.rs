//! Composition processors of "Components I" (`branch`, `workflow`, `split`, `group_by`,
//! `group_by_value`, `resource`), run as a user runs them: `sluice run` with a `stdout`
//! output.

mod common;

use common::{generated_batch as batch, run_config as run};

use std::process::Command;

/// The batch position each message was seen at, after the processors under test.
const POSITION: &str =
    "    - mapping: 'root = content().string() + \"@\" + batch_index().string() + \"/\" + batch_size().string()'\n";

#[test]
fn branch_request_map_deletes_and_result_map_merges() {
    let out = run(&batch(
        3,
        r#"root = {"id": counter()}"#,
        r#"    - branch:
        request_map: 'root = if this.id == 2 { deleted() } else { {"value": this.id} }'
        processors:
          - mapping: |
              root = {"doubled": this.value * 2}
              meta code = "ok"
        result_map: |
          root.result = this.doubled
          meta code = metadata("code")
    - mapping: 'root = this.merge({"code": @code})'
"#,
    ));
    assert_eq!(
        out,
        "{\"id\":1,\"result\":2,\"code\":\"ok\"}\n{\"id\":2,\"code\":null}\n{\"id\":3,\"result\":6,\"code\":\"ok\"}\n"
            .replace("{\"id\":1,\"result\":2,\"code\":\"ok\"}", "{\"code\":\"ok\",\"id\":1,\"result\":2}")
            .replace("{\"id\":2,\"code\":null}", "{\"code\":null,\"id\":2}")
            .replace("{\"id\":3,\"result\":6,\"code\":\"ok\"}", "{\"code\":\"ok\",\"id\":3,\"result\":6}")
    );
}

#[test]
fn branch_keeps_the_original_and_its_errors_reach_catch() {
    // Without a result map the original is untouched; the branch's own result is dropped.
    let out = run(&batch(
        1,
        r#"root = {"a": 1}"#,
        "    - branch:\n        processors: [{mapping: 'root = \"replaced\"'}]\n",
    ));
    assert_eq!(out, "{\"a\":1}\n");
    let out = run(&batch(
        2,
        r#"root = {"n": counter()}"#,
        r#"    - branch:
        request_map: 'root = this'
        processors:
          - mapping: 'root = if this.n == 2 { throw("boom") } else { this }'
        result_map: 'root.seen = true'
    - catch:
        - mapping: 'root = "caught: " + error()'
"#,
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "{\"n\":1,\"seen\":true}");
    assert!(
        lines[1].starts_with("caught: processors failed: ") && lines[1].contains("boom"),
        "{out}"
    );
    // A branch whose children change the number of messages fails every message it sent.
    let out = run(&batch(
        2,
        r#"root = {"n": counter()}"#,
        "    - branch:\n        processors: [{mapping: 'root = deleted()'}]\n        result_map: 'root.x = 1'\n    - catch: [{mapping: 'root = error()'}]\n",
    ));
    assert_eq!(
        out,
        "child processors resulted in zero messages\n".repeat(2)
    );
}

#[test]
fn workflow_orders_branches_by_their_dependencies() {
    // `b` reads what `a` writes, so `a` runs first although `b` is listed first; `c` skips
    // every message; the record lands at meta.workflow.
    let out = run(&batch(
        1,
        r#"root = {"x": 10}"#,
        r#"    - workflow:
        branches:
          b:
            request_map: 'root = this.a'
            processors: [{mapping: 'root = this + 1'}]
            result_map: 'root.b = this'
          a:
            request_map: 'root = this.x'
            processors: [{mapping: 'root = this * 2'}]
            result_map: 'root.a = this'
          c:
            request_map: 'root = deleted()'
            processors: [{noop: {}}]
            result_map: 'root.c = this'
"#,
    ));
    assert_eq!(
        out,
        "{\"a\":20,\"b\":21,\"meta\":{\"workflow\":{\"skipped\":[\"c\"],\"succeeded\":[\"a\",\"b\"]}},\"x\":10}\n"
    );
    // Circular dependencies are a build error naming the branches.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(
        &path,
        batch(
            1,
            "root = 1",
            "    - workflow:\n        branches:\n          a: {request_map: 'root = this.b', processors: [{noop: {}}], result_map: 'root.a = this'}\n          b: {request_map: 'root = this.a', processors: [{noop: {}}], result_map: 'root.b = this'}\n",
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("run")
        .arg(&path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success());
    assert!(
        text.contains("circular dependencies detected for branches: [a b]"),
        "{text}"
    );
}

#[test]
fn workflow_with_explicit_order_and_branch_resources() {
    let out = run(&format!(
        "{}processor_resources:\n  - label: up\n    branch:\n      request_map: 'root.n = this.name'\n      processors: [{{mapping: 'root = this.n.uppercase()'}}]\n      result_map: 'root.upper = content().string()'\n",
        batch(
            1,
            r#"root = {"name": "ann"}"#,
            r#"    - workflow:
        meta_path: ''
        order: [[up], [len]]
        branches:
          len:
            request_map: 'root.u = this.upper'
            processors: [{mapping: 'root = this.u.length()'}]
            result_map: 'root.len = this'
"#,
        )
    ));
    assert_eq!(out, "{\"len\":3,\"name\":\"ann\",\"upper\":\"ANN\"}\n");
}

#[test]
fn split_makes_batches_of_size_and_bytes() {
    let out = run(&batch(
        6,
        "root = counter()",
        &format!("    - split: {{size: 4}}\n{POSITION}"),
    ));
    assert_eq!(out, "1@0/4\n2@1/4\n3@2/4\n4@3/4\n5@0/2\n6@1/2\n");
    let out = run(&batch(
        3,
        "root = \"abc\"",
        &format!("    - split: {{size: 0, byte_size: 6}}\n{POSITION}"),
    ));
    assert_eq!(out, "abc@0/2\nabc@1/2\nabc@0/1\n");
    // Without a split the batch stays whole.
    let out = run(&batch(2, "root = counter()", POSITION));
    assert_eq!(out, "1@0/2\n2@1/2\n");
}

#[test]
fn group_by_and_group_by_value_form_batches() {
    let out = run(&batch(
        6,
        "root = counter()",
        &format!("    - group_by:\n        - check: 'this % 2 == 0'\n          processors: [{{mapping: 'root = this * 10'}}]\n{POSITION}"),
    ));
    assert_eq!(out, "20@0/3\n40@1/3\n60@2/3\n1@0/3\n3@1/3\n5@2/3\n");
    let out = run(&batch(
        5,
        "root = counter() % 3",
        &format!("    - group_by_value: {{value: '${{! content() }}'}}\n{POSITION}"),
    ));
    assert_eq!(out, "1@0/2\n1@1/2\n2@0/2\n2@1/2\n0@0/1\n");
}

#[test]
fn resources_of_a_config_are_used_by_resource_components() {
    let out = run(
        "input:\n  resource: src\n\
         pipeline:\n  processors:\n    - resource: up\n\
         output:\n  resource: out\n\
         input_resources:\n  - label: src\n    generate: {count: 2, interval: '', mapping: 'root = \"hi\"'}\n\
         processor_resources:\n  - label: up\n    mapping: 'root = content().uppercase()'\n\
         output_resources:\n  - label: out\n    stdout: {}\n    processors: [{mapping: 'root = content().string() + \"!\"'}]\n",
    );
    assert_eq!(out, "HI!\nHI!\n");
    // A missing resource fails the build, naming it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, batch(1, "root = 1", "    - resource: nope\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("run")
        .arg(&path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success());
    assert!(
        text.contains("processor resource 'nope' was not found"),
        "{text}"
    );
}

/// A request `split` into several batches is answered (acknowledged) only when every batch
/// was delivered: one rejected part fails the whole request, so the client retries it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_batches_are_acknowledged_together() {
    let s = common::Sluice::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let (code, body) = s
        .req(
            "POST",
            "/streams/parts",
            &format!(
                "input:\n  http_server: {{path: /in}}\npipeline:\n  processors:\n    - insert_part: {{content: 'second of ${{! content() }}'}}\n    - split: {{size: 1}}\noutput:\n  switch:\n    cases:\n      - check: 'content().string().contains(\"second of bad\")'\n        output: {{reject: 'refused ${{! content() }}'}}\n      - output: {{file: {{path: '{}'}}}}\n",
                out.display()
            ),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = s.req("POST", "/parts/in", "good").await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = s.req("POST", "/parts/in", "bad").await;
    assert_ne!(code, 200, "a rejected part must fail the request: {body}");
    let text = std::fs::read_to_string(&out).unwrap();
    // Both parts of the good request, and the delivered first part of the bad one (at least
    // once: its client is told to send it again).
    assert_eq!(text, "good\nsecond of good\nbad\n");
    s.stop();
}
