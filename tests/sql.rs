//! SQL components against the machine's PostgreSQL (127.0.0.1:5432, db `test`) and
//! MariaDB (127.0.0.1:3306, db `test`), and an embedded SQLite, through the real binary:
//! `sql_insert`, `sql_select` and `sql_raw` as inputs, outputs and processors.

mod common;

use std::time::Duration;

use common::proxy::TcpProxy;
use common::{assert_each_once, first_numbers, run_config, unique, wait_lines, Sluice};

/// 10,000 rows into `table` through `dsn` (a proxy the test cuts mid-stream), then read
/// back with `sql_select` into a file: each row once, columns typed.
async fn insert_then_select(
    driver: &str,
    dsn_via: &dyn Fn(&str) -> String,
    target: &str,
    create: &str,
    conflict: (&str, &str),
) {
    let table = unique(driver);
    let proxy = TcpProxy::start(target).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let s = Sluice::start(&[]).await;
    let (options, suffix) = conflict;
    s.post_stream(
        "insert",
        &format!(
            r#"input:
  generate:
    count: 10000
    interval: 20ms
    batch_size: 250
    mapping: |
      root.n = counter() - 1
      root.name = "row-" + (counter() - 1).string()
output:
  sql_insert:
    driver: {driver}
    dsn: '{dsn}'
    table: {table}
    columns: [ n, name, ok ]
    args_mapping: 'root = [ this.n, this.name, this.n % 2 == 0 ]'
    options: [ {options} ]
    suffix: '{suffix}'
    init_statement: '{create}'
"#,
            dsn = dsn_via(&proxy.addr),
            create = create.replace("{t}", &table),
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.restore();
    // Wait for the insert stream to finish (its input ends after 10,000).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = s.req("GET", "/streams/insert", "").await;
        if body.contains("\"active\":false") {
            let (_, stats) = s.req("GET", "/streams/insert/stats", "").await;
            let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
            let errors = v["output_error{label=\"\",path=\"root.output\",stream=\"insert\"}"]
                .as_u64()
                .unwrap_or(0);
            assert!(errors > 0, "the cut missed the inserts: {}", stats);
            break;
        }
        if std::time::Instant::now() > deadline {
            let (_, stats) = s.req("GET", "/streams/insert/stats", "").await;
            panic!(
                "insert never finished: {}\n{}",
                &body[..body.len().min(300)],
                stats
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    s.post_stream(
        "select",
        &format!(
            r#"input:
  sql_select:
    driver: {driver}
    dsn: '{dsn}'
    table: {table}
    columns: [ n, name, ok ]
    where: n >= ? AND name LIKE ?
    args_mapping: 'root = [ 0, "row-%" ]'
pipeline:
  threads: 1
  processors:
    - mapping: 'root = "%v %v %v %v".format(this.n, this.name, this.ok, this.n.type())'
output:
  file:
    path: {out}
    codec: lines
"#,
            dsn = dsn_via(target),
            out = out.display()
        ),
    )
    .await;
    let lines = wait_lines(&out, 10_000, Duration::from_secs(60)).await;
    let numbers = first_numbers(&lines);
    // The primary key and the conflict clause make retried batches harmless: exactly once.
    assert_each_once(&numbers, 10_000, true);
    for l in &lines {
        let p: Vec<&str> = l.split(' ').collect();
        let n: u64 = p[0].parse().unwrap();
        assert_eq!(p[1], format!("row-{}", n));
        assert!(matches!(p[2], "true" | "false" | "1" | "0"), "{}", l);
        assert_eq!(p[3], "number", "{}", l);
    }
    // sql_raw drops the table.
    let dropped = run_config(&format!(
        "input:\n  generate:\n    count: 1\n    interval: ''\n    mapping: 'root = {{}}'\noutput:\n  sql_raw:\n    driver: {driver}\n    dsn: '{}'\n    query: 'DROP TABLE {table}'\n",
        dsn_via(target)
    ));
    assert_eq!(dropped, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_insert_and_select_survive_a_cut_connection() {
    insert_then_select(
        "postgres",
        &|addr| format!("postgres://postgres@{addr}/test?sslmode=disable"),
        "127.0.0.1:5432",
        "CREATE TABLE IF NOT EXISTS {t} (n BIGINT PRIMARY KEY, name TEXT NOT NULL, ok BOOLEAN)",
        ("", "ON CONFLICT DO NOTHING"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_insert_and_select_survive_a_cut_connection() {
    insert_then_select(
        "mysql",
        &|addr| format!("root:@tcp({addr})/test?parseTime=true"),
        "127.0.0.1:3306",
        "CREATE TABLE IF NOT EXISTS {t} (n BIGINT PRIMARY KEY, name VARCHAR(64) NOT NULL, ok BOOLEAN)",
        ("IGNORE", ""),
    )
    .await;
}

#[test]
fn sqlite_processors_insert_select_and_raw() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let out = run_config(&format!(
        r#"input:
  generate:
    count: 3
    interval: ""
    mapping: 'root = {{"id": counter(), "v": "x" + counter().string()}}'
pipeline:
  threads: 1
  processors:
    - sql_insert:
        driver: sqlite
        dsn: 'file:{db}?_pragma=busy_timeout(5000)'
        table: items
        columns: [ id, v ]
        args_mapping: 'root = [ this.id, this.v ]'
        init_statement: CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, v TEXT, at DATETIME DEFAULT CURRENT_TIMESTAMP)
    - sql_select:
        driver: sqlite
        dsn: '{db}'
        table: items
        columns: [ id, v ]
        where: id <= ?
        args_mapping: 'root = [ this.id ]'
        suffix: ORDER BY id
    - sql_raw:
        driver: sqlite
        dsn: '{db}'
        query: 'SELECT count(*) AS c FROM items WHERE id <= ?'
        args_mapping: 'root = [ this.length() ]'
    - mapping: 'root = this.index(0).c'
output:
  stdout: {{}}
"#,
        db = db.display()
    ));
    assert_eq!(out, "1\n2\n3\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dsn_passwords_are_scrubbed() {
    let s = Sluice::start(&[]).await;
    for (id, dsn) in [
        ("pg", "postgres://u:hunter2@127.0.0.1:1/x"),
        ("my", "u:hunter2@tcp(127.0.0.1:1)/x"),
        (
            "kv",
            "host=127.0.0.1 port=1 user=u password=hunter2 dbname=x",
        ),
    ] {
        let driver = if id == "my" { "mysql" } else { "postgres" };
        s.post_stream(id,
            &format!("input:\n  generate:\n    interval: 1h\n    mapping: 'root = {{}}'\noutput:\n  sql_raw:\n    driver: {driver}\n    dsn: '{dsn}'\n    query: 'SELECT 1'\n"),
        )
        .await;
        let (_, body) = s.req("GET", &format!("/streams/{}", id), "").await;
        assert!(!body.contains("hunter2"), "{}", body);
        assert!(body.contains("127.0.0.1"), "{}", body);
    }
}
