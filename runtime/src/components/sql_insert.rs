//! `sql_insert` output and processor: one multi-row `INSERT INTO table (columns) VALUES
//! (...), (...)` per batch, each row's values from `args_mapping`, with upstream's `prefix`
//! and `suffix` (e.g. `ON CONFLICT DO NOTHING`). The output acknowledges a batch once the
//! statement succeeded; the processor leaves messages as they are (flagged on failure).

use std::sync::Arc;

use async_trait::async_trait;
use sluice_compiler::interp::Mapping;
use sluice_compiler::Message;

use super::kafka::strings;
use super::sql::{args_mapping_field, args_of, connection_fields, pool_fields, Arg, Database};
use crate::config::stream::ComponentConfig;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, BuildContext, ComponentError, Nack, Output, Processor, ResponseStore, SharedOutput,
    SharedProcessor,
};

fn fields(output: bool) -> Vec<F> {
    let mut fields = connection_fields();
    fields.extend([
        F::string("table", "The table to insert to."),
        F::string("columns", "A list of columns to insert.").array(),
        args_mapping_field(),
        F::string(
            "prefix",
            "An optional prefix to prepend to the insert query (before INSERT).",
        )
        .optional()
        .advanced(),
        F::string(
            "suffix",
            "An optional suffix to append to the insert query.",
        )
        .optional()
        .advanced(),
        F::string(
            "options",
            "A list of keyword options to add before the INTO clause of the query.",
        )
        .array()
        .optional()
        .advanced(),
    ]);
    if output {
        fields.push(shared::max_in_flight());
        fields.push(shared::batching("batching", false));
    }
    fields.extend(pool_fields());
    fields
}

/// `sql_insert` output spec.
pub fn output_spec() -> ComponentSpec {
    ComponentSpec::new(
        "sql_insert",
        ComponentKind::Output,
        "Inserts a row into an SQL database for each message.",
        fields(true),
    )
}

/// `sql_insert` processor spec.
pub fn processor_spec() -> ComponentSpec {
    ComponentSpec::new(
        "sql_insert",
        ComponentKind::Processor,
        "Inserts rows into an SQL database for each message, and leaves the message unchanged.",
        fields(false),
    )
}

/// What both forms share.
struct Inserter {
    db: Arc<Database>,
    head: String,
    width: usize,
    suffix: String,
    args: Option<Mapping>,
}

impl Inserter {
    fn new(cfg: &ComponentConfig) -> Result<Inserter, ComponentError> {
        let table = cfg.str("table").unwrap_or("");
        if table.is_empty() {
            return Err(ComponentError::new("table must not be empty"));
        }
        let columns = strings(cfg, "columns");
        if columns.is_empty() {
            return Err(ComponentError::new("at least one column is required"));
        }
        let args = super::sql::args_mapping(cfg)?;
        if args.is_none() {
            return Err(ComponentError::new("args_mapping is required"));
        }
        let options = strings(cfg, "options");
        let prefix = cfg.str("prefix").unwrap_or("");
        let head = format!(
            "{}{}INSERT {}INTO {} ({}) VALUES ",
            prefix,
            if prefix.is_empty() { "" } else { " " },
            options
                .iter()
                .map(|o| format!("{} ", o))
                .collect::<String>(),
            table,
            columns.join(", ")
        );
        Ok(Inserter {
            db: Database::of(cfg)?,
            head,
            width: columns.len(),
            suffix: cfg.str("suffix").unwrap_or("").to_string(),
            args,
        })
    }

    /// The statement and arguments for a batch.
    fn statement(&self, batch: &[Message]) -> Result<(String, Vec<Arg>), String> {
        let mut sql = self.head.clone();
        let mut all = Vec::with_capacity(batch.len() * self.width);
        for (row, m) in batch.iter().enumerate() {
            let args = args_of(self.args.as_ref(), m)?;
            if args.len() != self.width {
                return Err(format!(
                    "args_mapping returned {} values for {} columns",
                    args.len(),
                    self.width
                ));
            }
            if row > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for i in 0..self.width {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&self.db.driver.placeholder(all.len() + i + 1));
            }
            sql.push(')');
            all.extend(args);
        }
        if !self.suffix.is_empty() {
            sql.push(' ');
            sql.push_str(&self.suffix);
        }
        Ok((sql, all))
    }

    async fn insert(&self, batch: &[Message]) -> Result<(), String> {
        if batch.is_empty() {
            return Ok(());
        }
        let (sql, args) = self.statement(batch)?;
        self.db.execute(&sql, &args).await.map(|_| ())
    }
}

/// Builds the output.
pub fn build_output(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedOutput, ComponentError> {
    Ok(Arc::new(SqlInsertOutput(Inserter::new(cfg)?)))
}

struct SqlInsertOutput(Inserter);

#[async_trait]
impl Output for SqlInsertOutput {
    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        self.0
            .insert(&batch)
            .await
            .map_err(|e| Nack(format!("sql_insert: {}", e)))
    }

    async fn close(&self) {
        self.0.db.close().await;
    }
}

/// Builds the processor.
pub fn build_processor(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|_| ComponentError::new("the sql_insert processor needs a runtime"))?;
    Ok(Arc::new(SqlInsertProcessor {
        inserter: Inserter::new(cfg)?,
        handle,
    }))
}

struct SqlInsertProcessor {
    inserter: Inserter,
    handle: tokio::runtime::Handle,
}

impl Processor for SqlInsertProcessor {
    fn process(&self, mut batch: Batch) -> Batch {
        // Processors run on the blocking pool, where waiting on the data runtime is allowed.
        if let Err(e) = self.handle.block_on(self.inserter.insert(&batch)) {
            for m in batch.iter_mut() {
                m.error = Some(format!("sql_insert: {}", e));
            }
        }
        batch
    }
}
