//! What every SQL component shares (on sqlx): upstream's `driver`/`dsn` fields with Go's DSN
//! forms read for `postgres`, `mysql` and `sqlite`, connection pools with the
//! `conn_*` settings that connect lazily and run `init_files`/`init_statement` once,
//! message values bound as query arguments, and rows read back as JSON objects.
//!
//! The components: [`super::sql_insert`], [`super::sql_select`], [`super::sql_raw`].

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde_json::{Map, Number, Value as Json};
use sluice_compiler::interp::Mapping;
use sluice_compiler::{Message, Value};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, Column, Row, TypeInfo};
use tokio::sync::OnceCell;

use crate::config::stream::ComponentConfig;
use crate::registry::FieldSpec as F;
use crate::stream::ComponentError;

/// Binds every argument to a query of any driver.
macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::Null => q.bind(None::<String>),
                Arg::Bool(b) => q.bind(*b),
                Arg::Int(i) => q.bind(*i),
                Arg::Float(f) => q.bind(*f),
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Bytes(b) => q.bind(b.clone()),
                Arg::Time(t) => q.bind(*t),
            };
        }
        q
    }};
}

/// Sets `v` to the column decoded as `$t` (mapped by `$f`) if nothing decoded it yet.
macro_rules! attempt {
    ($row:expr, $i:expr, $v:ident, $t:ty, $f:expr) => {
        if $v.is_none() {
            if let Ok(x) = $row.try_get::<Option<$t>, _>($i) {
                $v = Some(match x {
                    Some(x) => $f(x),
                    None => Json::Null,
                });
            }
        }
    };
}

/// A row of any driver as a JSON object: each column decoded as the first type it is
/// compatible with (booleans first only for columns declared boolean, as SQLite stores
/// them as integers); decimals as strings, bytes as (lossy) text, times as RFC 3339.
macro_rules! row_json {
    ($row:expr; $($extra:ty => $f:expr),*) => {{
        let row = $row;
        let mut obj = Map::new();
        for (i, col) in row.columns().iter().enumerate() {
            let ty = col.type_info().name().to_ascii_uppercase();
            let mut v: Option<Json> = None;
            if ty.contains("BOOL") {
                attempt!(row, i, v, bool, Json::Bool);
            }
            attempt!(row, i, v, i64, |x: i64| Json::from(x));
            attempt!(row, i, v, i32, |x: i32| Json::from(x));
            attempt!(row, i, v, i16, |x: i16| Json::from(x));
            attempt!(row, i, v, i8, |x: i8| Json::from(x));
            attempt!(row, i, v, f64, |x: f64| Number::from_f64(x).map(Json::Number).unwrap_or(Json::Null));
            attempt!(row, i, v, f32, |x: f32| Number::from_f64(x as f64).map(Json::Number).unwrap_or(Json::Null));
            attempt!(row, i, v, bool, Json::Bool);
            $(attempt!(row, i, v, $extra, $f);)*
            attempt!(row, i, v, String, Json::String);
            attempt!(row, i, v, sqlx::types::JsonValue, |x| x);
            attempt!(row, i, v, DateTime<Utc>, |x: DateTime<Utc>| Json::String(x.to_rfc3339()));
            attempt!(row, i, v, NaiveDateTime, |x: NaiveDateTime| Json::String(x.and_utc().to_rfc3339()));
            attempt!(row, i, v, NaiveDate, |x: NaiveDate| Json::String(x.to_string()));
            attempt!(row, i, v, NaiveTime, |x: NaiveTime| Json::String(x.to_string()));
            attempt!(row, i, v, sqlx::types::Uuid, |x: sqlx::types::Uuid| Json::String(x.to_string()));
            attempt!(row, i, v, Vec<u8>, |x: Vec<u8>| Json::String(String::from_utf8_lossy(&x).into_owned()));
            match v {
                Some(v) => {
                    obj.insert(col.name().to_string(), v);
                }
                None => return Err(format!("column {}: type {} is not supported", col.name(), ty)),
            }
        }
        Ok(Json::Object(obj))
    }};
}

/// The drivers sluice has (upstream's other drivers are refused with a clear error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// PostgreSQL (`$1` placeholders).
    Postgres,
    /// MySQL / MariaDB (`?` placeholders).
    Mysql,
    /// SQLite, embedded (`?` placeholders).
    Sqlite,
}

impl Driver {
    /// The placeholder of argument `i` (from 1).
    pub fn placeholder(self, i: usize) -> String {
        match self {
            Driver::Postgres => format!("${}", i),
            Driver::Mysql | Driver::Sqlite => "?".to_string(),
        }
    }
}

/// `driver` and `dsn`, the fields every SQL component starts with.
pub fn connection_fields() -> Vec<F> {
    vec![
        F::string("driver", "A database driver to use.").options(&[
            "mysql",
            "postgres",
            "clickhouse",
            "mssql",
            "sqlite",
            "oracle",
            "snowflake",
            "trino",
            "gocosmos",
            "spanner",
        ]),
        F::string("dsn", "A Data Source Name to identify the target database.").url(),
    ]
}

/// The pool settings every SQL component ends with.
pub fn pool_fields() -> Vec<F> {
    vec![
        F::string("init_files", "An optional list of file paths containing SQL statements to execute immediately upon the first connection to the target database.")
            .array()
            .optional()
            .advanced(),
        F::string("init_statement", "An optional SQL statement to execute immediately upon the first connection to the target database.")
            .optional()
            .advanced(),
        F::bool("init_verify_conn", "Whether to verify the database connection on startup by performing a simple ping.")
            .default(false)
            .advanced(),
        F::duration("conn_max_idle_time", "An optional maximum amount of time a connection may be idle.")
            .optional()
            .advanced(),
        F::duration("conn_max_life_time", "An optional maximum amount of time a connection may be reused.")
            .optional()
            .advanced(),
        F::int("conn_max_idle", "An optional maximum number of connections in the idle connection pool.")
            .default(2)
            .advanced(),
        F::int("conn_max_open", "An optional maximum number of open connections to the database.")
            .optional()
            .advanced(),
    ]
}

/// `args_mapping`.
pub fn args_mapping_field() -> F {
    F::string("args_mapping", "An optional Bloblang mapping which should evaluate to an array of values matching in size to the number of placeholder arguments in the field `query`.")
        .bloblang()
        .optional()
}

/// One query argument.
#[derive(Debug, Clone)]
pub enum Arg {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Text (strings, and objects/arrays as JSON).
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A timestamp.
    Time(DateTime<Utc>),
}

impl Arg {
    fn of(v: &Value) -> Arg {
        match v {
            Value::Null | Value::Nothing | Value::Deleted => Arg::Null,
            Value::Bool(b) => Arg::Bool(*b),
            Value::Int(i) => Arg::Int(*i),
            Value::Float(f) => Arg::Float(*f),
            Value::Str(s) => Arg::Text(s.clone()),
            Value::Bytes(b) => Arg::Bytes(b.to_vec()),
            Value::Timestamp(t) => Arg::Time(t.with_timezone(&Utc)),
            other => Arg::Text(other.to_json_string()),
        }
    }
}

/// Compiles an optional `args_mapping`.
pub fn args_mapping(cfg: &ComponentConfig) -> Result<Option<Mapping>, ComponentError> {
    match cfg.str("args_mapping").filter(|s| !s.trim().is_empty()) {
        Some(src) => Mapping::compile(src)
            .map(Some)
            .map_err(|e| ComponentError::new(format!("args_mapping: {}", e))),
        None => Ok(None),
    }
}

/// The arguments `mapping` makes of `msg` (none without a mapping).
pub fn args_of(mapping: Option<&Mapping>, msg: &Message) -> Result<Vec<Arg>, String> {
    let Some(m) = mapping else {
        return Ok(Vec::new());
    };
    match m.query(msg).map_err(|e| format!("args_mapping: {}", e))? {
        Value::Array(items) => Ok(items.iter().map(Arg::of).collect()),
        other => Err(format!(
            "args_mapping: expected an array, got {}",
            other.type_name()
        )),
    }
}

/// Reads Go's DSN forms for `driver`.
fn pool_for(driver: Driver, dsn: &str, cfg: &ComponentConfig) -> Result<Pool, ComponentError> {
    let bad = |e: sqlx::Error| {
        ComponentError::new(format!(
            "dsn: {}",
            crate::secrets::scrub_text(&e.to_string())
        ))
    };
    let max_open = cfg.int("conn_max_open").filter(|n| *n > 0).unwrap_or(10) as u32;
    let idle = cfg
        .str("conn_max_idle_time")
        .and_then(|s| crate::duration::parse(s).ok());
    let life = cfg
        .str("conn_max_life_time")
        .and_then(|s| crate::duration::parse(s).ok());
    macro_rules! options {
        ($o:expr) => {
            $o.max_connections(max_open)
                .min_connections(0)
                .acquire_timeout(Duration::from_secs(10))
                .idle_timeout(idle)
                .max_lifetime(life)
        };
    }
    Ok(match driver {
        Driver::Postgres => {
            let opts: PgConnectOptions = if dsn.contains("://") {
                dsn.parse().map_err(bad)?
            } else {
                key_value_pg(dsn)?
            };
            Pool::Postgres(options!(PgPoolOptions::new()).connect_lazy_with(opts))
        }
        Driver::Mysql => {
            let url = if dsn.contains("://") {
                dsn.to_string()
            } else {
                go_mysql_url(dsn)?
            };
            let opts: MySqlConnectOptions = url.parse().map_err(bad)?;
            Pool::Mysql(options!(MySqlPoolOptions::new()).connect_lazy_with(opts))
        }
        Driver::Sqlite => {
            let path = dsn
                .strip_prefix("sqlite://")
                .or_else(|| dsn.strip_prefix("file:"))
                .unwrap_or(dsn);
            let path = path.split('?').next().unwrap_or(path);
            let opts = if path == ":memory:" || path.is_empty() {
                SqliteConnectOptions::new().in_memory(true)
            } else {
                SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
            };
            // One connection: an in-memory database is per connection, and SQLite writes
            // one at a time anyway.
            Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_lazy_with(opts.busy_timeout(Duration::from_secs(5))),
            )
        }
    })
}

/// libpq's `key=value` DSN form.
fn key_value_pg(dsn: &str) -> Result<PgConnectOptions, ComponentError> {
    let mut o = PgConnectOptions::new_without_pgpass();
    for kv in dsn.split_whitespace() {
        let Some((k, v)) = kv.split_once('=') else {
            return Err(ComponentError::new(format!(
                "dsn: expected key=value, got {:?}",
                kv
            )));
        };
        let v = v.trim_matches('\'');
        o = match k {
            "host" => o.host(v),
            "port" => o.port(
                v.parse()
                    .map_err(|_| ComponentError::new("dsn: bad port"))?,
            ),
            "user" => o.username(v),
            "password" => o.password(v),
            "dbname" => o.database(v),
            "sslmode" => o.ssl_mode(
                v.parse()
                    .map_err(|_| ComponentError::new(format!("dsn: bad sslmode {}", v)))?,
            ),
            "application_name" => o.application_name(v),
            _ => o,
        };
    }
    Ok(o)
}

/// Go's MySQL DSN (`user:pass@tcp(host:3306)/db?params`) as a `mysql://` URL. Go-driver
/// parameters (`parseTime`, `charset`, ...) have no meaning here and are dropped.
fn go_mysql_url(dsn: &str) -> Result<String, ComponentError> {
    let (auth, rest) = match dsn.rfind('@') {
        Some(i) => (&dsn[..i], &dsn[i + 1..]),
        None => ("", dsn),
    };
    let (addr, db) = match rest.split_once('/') {
        Some((a, d)) => (a, d.split('?').next().unwrap_or("")),
        None => (rest, ""),
    };
    let host = if let Some(inner) = addr.strip_prefix("tcp(").and_then(|a| a.strip_suffix(')')) {
        inner.to_string()
    } else if addr.is_empty() {
        "127.0.0.1:3306".to_string()
    } else if addr.starts_with("unix(") {
        return Err(ComponentError::new(
            "dsn: unix sockets are not supported yet",
        ));
    } else {
        addr.to_string()
    };
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{:02X}", b),
            })
            .collect::<String>()
    };
    let auth = match auth.split_once(':') {
        Some((u, p)) => format!("{}:{}@", enc(u), enc(p)),
        None if auth.is_empty() => String::new(),
        None => format!("{}@", enc(auth)),
    };
    Ok(format!("mysql://{}{}/{}", auth, host, db))
}

/// A connection pool of one of the drivers.
#[derive(Clone)]
pub enum Pool {
    /// PostgreSQL.
    Postgres(PgPool),
    /// MySQL / MariaDB.
    Mysql(MySqlPool),
    /// SQLite.
    Sqlite(SqlitePool),
}

/// A database a component talks to: the pool and what runs once before its first query.
pub struct Database {
    /// The driver.
    pub driver: Driver,
    pool: Pool,
    init: Vec<String>,
    ready: OnceCell<()>,
}

impl Database {
    /// The database a component's `driver`, `dsn` and pool fields describe; nothing
    /// connects until the first query.
    pub fn of(cfg: &ComponentConfig) -> Result<Arc<Database>, ComponentError> {
        let driver = match cfg.str("driver").unwrap_or("") {
            "postgres" | "pgx" => Driver::Postgres,
            "mysql" => Driver::Mysql,
            "sqlite" => Driver::Sqlite,
            other => {
                return Err(ComponentError::new(format!(
                    "driver {} is not supported yet (postgres, mysql and sqlite are)",
                    other
                )))
            }
        };
        let dsn = cfg.str("dsn").unwrap_or("");
        let mut init = Vec::new();
        for path in super::kafka::strings(cfg, "init_files") {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| ComponentError::new(format!("init_files: {}: {}", path, e)))?;
            init.push(text);
        }
        if let Some(s) = cfg.str("init_statement").filter(|s| !s.trim().is_empty()) {
            init.push(s.to_string());
        }
        Ok(Arc::new(Database {
            driver,
            pool: pool_for(driver, dsn, cfg)?,
            init,
            ready: OnceCell::new(),
        }))
    }

    async fn ensure_init(&self) -> Result<(), String> {
        self.ready
            .get_or_try_init(|| async {
                for text in &self.init {
                    self.run_script(text).await?;
                }
                Ok::<(), String>(())
            })
            .await
            .map(|_| ())
    }

    /// Runs a script of several statements (init files).
    async fn run_script(&self, text: &str) -> Result<(), String> {
        let e = |e: sqlx::Error| describe(&e);
        match &self.pool {
            Pool::Postgres(p) => sqlx::raw_sql(AssertSqlSafe(text.to_string()))
                .execute(p)
                .await
                .map(|_| ())
                .map_err(e),
            Pool::Mysql(p) => sqlx::raw_sql(AssertSqlSafe(text.to_string()))
                .execute(p)
                .await
                .map(|_| ())
                .map_err(e),
            Pool::Sqlite(p) => sqlx::raw_sql(AssertSqlSafe(text.to_string()))
                .execute(p)
                .await
                .map(|_| ())
                .map_err(e),
        }
    }

    /// Executes one statement with arguments; the rows it affected.
    pub async fn execute(&self, sql: &str, args: &[Arg]) -> Result<u64, String> {
        self.ensure_init().await?;
        macro_rules! run {
            ($p:expr) => {{
                let q = bind_args!(sqlx::query(AssertSqlSafe(sql.to_string())), args);
                q.execute($p)
                    .await
                    .map(|r| r.rows_affected())
                    .map_err(|e| describe(&e))
            }};
        }
        match &self.pool {
            Pool::Postgres(p) => run!(p),
            Pool::Mysql(p) => run!(p),
            Pool::Sqlite(p) => run!(p),
        }
    }

    /// Runs a query with arguments; its rows as JSON objects, columns in order.
    pub async fn fetch(&self, sql: &str, args: &[Arg]) -> Result<Vec<Json>, String> {
        self.ensure_init().await?;
        macro_rules! run {
            ($p:expr) => {{
                let q = bind_args!(sqlx::query(AssertSqlSafe(sql.to_string())), args);
                let rows = q.fetch_all($p).await.map_err(|e| describe(&e))?;
                rows
            }};
        }
        type Dec = rust_decimal::Decimal;
        let dec = |x: Dec| Json::String(x.to_string());
        match &self.pool {
            Pool::Postgres(p) => run!(p).iter().map(|r| row_json!(r; Dec => dec)).collect(),
            Pool::Mysql(p) => run!(p)
                .iter()
                .map(|r| row_json!(r; Dec => dec, u64 => |x: u64| Json::from(x)))
                .collect(),
            Pool::Sqlite(p) => run!(p).iter().map(|r| row_json!(r;)).collect(),
        }
    }

    /// Closes the pool.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Postgres(p) => p.close().await,
            Pool::Mysql(p) => p.close().await,
            Pool::Sqlite(p) => p.close().await,
        }
    }
}

/// A database error as text, credentials scrubbed.
pub fn describe(e: &sqlx::Error) -> String {
    crate::secrets::scrub_text(&e.to_string())
}

#[cfg(test)]
mod tests {
    use super::go_mysql_url;

    #[test]
    fn go_mysql_dsns() {
        assert_eq!(
            go_mysql_url("root:@tcp(127.0.0.1:3306)/test?parseTime=true").unwrap(),
            "mysql://root:@127.0.0.1:3306/test"
        );
        assert_eq!(
            go_mysql_url("u:p@w@tcp(h:1)/d").unwrap(),
            "mysql://u:p%40w@h:1/d"
        );
        assert_eq!(go_mysql_url("/db").unwrap(), "mysql://127.0.0.1:3306/db");
    }
}
