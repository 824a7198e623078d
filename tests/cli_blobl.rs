//! `sluice blobl` against the real binary: one result line per input line, errors on stderr
//! with the input line number, deleted documents print nothing; `compile --emit`.

use std::io::Write;
use std::process::{Command, Stdio};

fn blobl(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("blobl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn maps_the_walkthrough_document() {
    let (code, out, _) = blobl(
        &[r#"root = {"id": this.user.id, "content": this.body.content}"#],
        "{\"user\":{\"id\":\"foo\"},\"body\":{\"content\":\"bar\"}}\n",
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "{\"content\":\"bar\",\"id\":\"foo\"}\n")
    );
}

#[test]
fn reports_failing_lines_and_goes_on() {
    let (code, out, err) = blobl(&["root.b = this.a + 1"], "{\"a\":1}\nnot json\n{\"a\":2}\n");
    assert_eq!(code, 1);
    assert_eq!(out, "{\"b\":2}\n{\"b\":3}\n");
    assert!(err.contains("line 2"), "{}", err);
}

#[test]
fn deleted_documents_print_nothing_and_files_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.blobl");
    std::fs::write(&path, "root = if this.level != \"error\" { deleted() }\n").unwrap();
    let (code, out, _) = blobl(
        &["--file", path.to_str().unwrap()],
        "{\"level\":\"info\"}\n{\"level\":\"error\"}\n",
    );
    assert_eq!((code, out.as_str()), (0, "{\"level\":\"error\"}\n"));
}

#[test]
fn compile_errors_exit_2_with_position() {
    let (code, _, err) = blobl(&["root = this.foo.uppercas()"], "");
    assert_eq!(code, 2);
    assert!(
        err.contains("line 1 char 17: unknown method 'uppercas', did you mean 'uppercase'?"),
        "{}",
        err
    );
}

#[test]
fn compile_emits_ast_and_ir() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.blobl");
    std::fs::write(&path, "root.n = 1 + 2\n").unwrap();
    for (stage, needle) in [("ast", "Binary"), ("ir", "Const(\n")] {
        let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["compile", "--emit", stage, path.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(needle), "{}: {}", stage, text);
    }
}

#[test]
fn threads_keep_the_input_order() {
    let input: String = (0..10_000).map(|i| format!("{{\"n\":{}}}\n", i)).collect();
    let (code, out, _) = blobl(&["--threads", "2", "root = this.n * 2"], &input);
    assert_eq!(code, 0);
    let want: String = (0..10_000).map(|i| format!("{}\n", i * 2)).collect();
    assert_eq!(out, want);
}
