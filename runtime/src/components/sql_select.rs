//! `sql_select` input (runs `SELECT columns FROM table WHERE ...` once and emits a message
//! per row, then ends) and processor (runs it per message; the rows, as a JSON array,
//! replace the message). `where` takes `?` placeholders for every driver, as upstream's
//! query builder does; they become `$n` for PostgreSQL.

use std::sync::Arc;

use async_trait::async_trait;
use sluice_compiler::interp::Mapping;
use sluice_compiler::Message;
use tokio::task::JoinSet;

use super::kafka::strings;
use super::reading::send_tracked;
use super::sql::{args_mapping_field, args_of, connection_fields, pool_fields, Database, Driver};
use crate::config::stream::ComponentConfig;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, BuildContext, ComponentError, Input, InputSink, Processor, SharedProcessor,
};

fn fields(input: bool) -> Vec<F> {
    let mut fields = connection_fields();
    fields.extend([
        F::string("table", "The table to select from."),
        F::string("columns", "A list of columns to select.").array(),
        F::string("where", "An optional where clause to add. Placeholder arguments are populated with the `args_mapping` field. Placeholders should always be question marks, and will automatically be converted to dollar syntax when the postgres or clickhouse drivers are used.")
            .optional(),
        args_mapping_field(),
        F::string("prefix", "An optional prefix to prepend to the select query (before SELECT).")
            .optional()
            .advanced(),
        F::string("suffix", "An optional suffix to append to the select query.")
            .optional()
            .advanced(),
    ]);
    if input {
        fields.push(shared::auto_replay_nacks());
    }
    fields.extend(pool_fields());
    fields
}

/// `sql_select` input spec.
pub fn input_spec() -> ComponentSpec {
    ComponentSpec::new(
        "sql_select",
        ComponentKind::Input,
        "Executes a select query and creates a message for each row received.",
        fields(true),
    )
}

/// `sql_select` processor spec.
pub fn processor_spec() -> ComponentSpec {
    ComponentSpec::new(
        "sql_select",
        ComponentKind::Processor,
        "Runs an SQL select query against a database and returns the result as an array of objects, one for each row returned.",
        fields(false),
    )
}

/// `?` placeholders as the driver wants them.
pub fn placeholders(driver: Driver, sql: &str) -> String {
    if driver != Driver::Postgres {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len());
    let mut n = 0;
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => {
                n += 1;
                out.push_str(&format!("${}", n));
            }
            _ => out.push(c),
        }
    }
    out
}

/// The query and its arguments' mapping.
struct Select {
    db: Arc<Database>,
    sql: String,
    args: Option<Mapping>,
}

impl Select {
    fn new(cfg: &ComponentConfig) -> Result<Select, ComponentError> {
        let table = cfg.str("table").unwrap_or("");
        let columns = strings(cfg, "columns");
        if table.is_empty() || columns.is_empty() {
            return Err(ComponentError::new("table and columns are required"));
        }
        let db = Database::of(cfg)?;
        let mut sql = String::new();
        if let Some(p) = cfg.str("prefix").filter(|p| !p.is_empty()) {
            sql.push_str(p);
            sql.push(' ');
        }
        sql.push_str(&format!("SELECT {} FROM {}", columns.join(", "), table));
        if let Some(w) = cfg.str("where").filter(|w| !w.is_empty()) {
            sql.push_str(" WHERE ");
            sql.push_str(w);
        }
        if let Some(s) = cfg.str("suffix").filter(|s| !s.is_empty()) {
            sql.push(' ');
            sql.push_str(s);
        }
        Ok(Select {
            sql: placeholders(db.driver, &sql),
            db,
            args: super::sql::args_mapping(cfg)?,
        })
    }
}

/// Builds the input.
pub fn build_input(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<Box<dyn Input>, ComponentError> {
    Ok(Box::new(RowsInput {
        query: Select::new(cfg)?.into(),
        replay: cfg.bool("auto_replay_nacks").unwrap_or(true),
    }))
}

/// A query run once whose rows become messages (`sql_select` and `sql_raw` inputs).
pub struct RowsInput {
    /// The query.
    pub query: RowsQuery,
    /// Replay nacked rows.
    pub replay: bool,
}

/// What a rows input runs.
pub struct RowsQuery {
    /// The database.
    pub db: Arc<Database>,
    /// The statement.
    pub sql: String,
    /// Its arguments (evaluated against an empty message).
    pub args: Option<Mapping>,
}

impl From<Select> for RowsQuery {
    fn from(s: Select) -> RowsQuery {
        RowsQuery {
            db: s.db,
            sql: s.sql,
            args: s.args,
        }
    }
}

#[async_trait]
impl Input for RowsInput {
    async fn run(self: Box<Self>, sink: InputSink) -> Result<(), ComponentError> {
        let q = &self.query;
        let args = args_of(q.args.as_ref(), &Message::new(bytes::Bytes::new()))
            .map_err(ComponentError::new)?;
        let rows = tokio::select! {
            r = q.db.fetch(&q.sql, &args) => r.map_err(|e| ComponentError::new(format!("query failed: {}", e)))?,
            _ = sink.stopped() => return Ok(()),
        };
        let mut pending = JoinSet::new();
        for row in rows {
            let m = Message::new(bytes::Bytes::from(row.to_string()));
            if !send_tracked(&sink, vec![m], self.replay, &mut pending).await {
                break;
            }
        }
        while pending.join_next().await.is_some() {}
        q.db.close().await;
        Ok(())
    }
}

/// Builds the processor.
pub fn build_processor(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|_| ComponentError::new("the sql_select processor needs a runtime"))?;
    Ok(Arc::new(RowsProcessor {
        query: Select::new(cfg)?.into(),
        exec_only: false,
        handle,
        name: "sql_select",
    }))
}

/// A query per message whose rows (a JSON array) replace it (`sql_select`, `sql_raw`).
pub struct RowsProcessor {
    /// The query.
    pub query: RowsQuery,
    /// Only execute: the message stays as it is.
    pub exec_only: bool,
    /// The data runtime.
    pub handle: tokio::runtime::Handle,
    /// The component, for error messages.
    pub name: &'static str,
}

impl Processor for RowsProcessor {
    fn process(&self, mut batch: Batch) -> Batch {
        let q = &self.query;
        for m in batch.iter_mut() {
            let result = args_of(q.args.as_ref(), m).and_then(|args| {
                // Processors run on the blocking pool, where waiting on the runtime is allowed.
                self.handle.block_on(async {
                    if self.exec_only {
                        q.db.execute(&q.sql, &args).await.map(|_| None)
                    } else {
                        q.db.fetch(&q.sql, &args).await.map(Some)
                    }
                })
            });
            match result {
                Ok(Some(rows)) => {
                    m.payload = bytes::Bytes::from(serde_json::Value::Array(rows).to_string())
                }
                Ok(None) => {}
                Err(e) => m.error = Some(format!("{}: {}", self.name, e)),
            }
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_marks_become_dollars_for_postgres() {
        assert_eq!(
            placeholders(Driver::Postgres, "a = ? AND b = '?' AND c > ?"),
            "a = $1 AND b = '?' AND c > $2"
        );
        assert_eq!(placeholders(Driver::Mysql, "a = ?"), "a = ?");
    }
}
