//! `sql_raw` input (runs `query` once, a message per row, then ends), output (runs each of
//! its queries per message, within one transaction-less batch; the batch is acknowledged
//! when every statement succeeded) and processor (per message: the rows as a JSON array
//! replace it, or with `exec_only` the statement only runs). Queries use the driver's own
//! placeholders (`$1` for PostgreSQL, `?` otherwise); with `unsafe_dynamic_query` the query
//! is an interpolation rendered per message.

use std::sync::Arc;

use async_trait::async_trait;
use sluice_compiler::interp::{Interpolation, Mapping};

use super::sql::{args_mapping_field, args_of, connection_fields, pool_fields, Database};
use super::sql_select::{RowsInput, RowsProcessor, RowsQuery};
use crate::config::stream::ComponentConfig;
use crate::registry::{shared, ComponentKind, ComponentSpec, FieldSpec as F};
use crate::stream::{
    Batch, BuildContext, ComponentError, Input, Nack, Output, ResponseStore, SharedOutput,
    SharedProcessor,
};

fn fields(kind: ComponentKind) -> Vec<F> {
    let mut fields = connection_fields();
    fields.extend([
        F::string("query", "The query to execute.").optional(),
        args_mapping_field(),
    ]);
    if kind != ComponentKind::Input {
        fields.push(
            F::bool("unsafe_dynamic_query", "Whether to enable interpolation functions in the query. Great care should be made to ensure your queries are defended against injection attacks.")
                .default(false)
                .advanced(),
        );
        fields.push(
            F::object(
                "queries",
                "A list of statements to run in addition to `query`.",
                vec![
                    F::string("query", "The query to execute."),
                    args_mapping_field(),
                    F::bool("exec_only", "Whether discard the query result.").default(false),
                ],
            )
            .array()
            .optional()
            .advanced(),
        );
    }
    match kind {
        ComponentKind::Processor => fields.push(
            F::bool("exec_only", "Whether the query result should be discarded. When set to `true` the message contents will remain unchanged.")
                .default(false),
        ),
        ComponentKind::Output => {
            fields.push(shared::max_in_flight());
            fields.push(shared::batching("batching", false));
        }
        _ => fields.push(shared::auto_replay_nacks()),
    }
    fields.extend(pool_fields());
    fields
}

/// `sql_raw` input spec.
pub fn input_spec() -> ComponentSpec {
    ComponentSpec::new(
        "sql_raw",
        ComponentKind::Input,
        "Executes a select query and creates a message for each row received.",
        fields(ComponentKind::Input),
    )
}

/// `sql_raw` output spec.
pub fn output_spec() -> ComponentSpec {
    ComponentSpec::new(
        "sql_raw",
        ComponentKind::Output,
        "Executes an arbitrary SQL query for each message.",
        fields(ComponentKind::Output),
    )
}

/// `sql_raw` processor spec.
pub fn processor_spec() -> ComponentSpec {
    ComponentSpec::new(
        "sql_raw",
        ComponentKind::Processor,
        "Runs an arbitrary SQL query against a database and (optionally) returns the result as an array of objects, one for each row returned.",
        fields(ComponentKind::Processor),
    )
}

fn query_of(cfg: &ComponentConfig) -> Result<String, ComponentError> {
    cfg.str("query")
        .filter(|q| !q.trim().is_empty())
        .map(str::to_string)
        .ok_or_else(|| ComponentError::new("query must not be empty"))
}

/// Builds the input.
pub fn build_input(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<Box<dyn Input>, ComponentError> {
    Ok(Box::new(RowsInput {
        query: RowsQuery {
            db: Database::of(cfg)?,
            sql: query_of(cfg)?,
            args: super::sql::args_mapping(cfg)?,
        },
        replay: cfg.bool("auto_replay_nacks").unwrap_or(true),
    }))
}

/// Builds the processor.
pub fn build_processor(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedProcessor, ComponentError> {
    if cfg.bool("unsafe_dynamic_query").unwrap_or(false)
        || cfg
            .field("queries")
            .and_then(|f| f.as_array())
            .is_some_and(|q| !q.is_empty())
    {
        return Err(ComponentError::new(
            "the sql_raw processor does not support unsafe_dynamic_query or queries yet",
        ));
    }
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|_| ComponentError::new("the sql_raw processor needs a runtime"))?;
    Ok(Arc::new(RowsProcessor {
        query: RowsQuery {
            db: Database::of(cfg)?,
            sql: query_of(cfg)?,
            args: super::sql::args_mapping(cfg)?,
        },
        exec_only: cfg.bool("exec_only").unwrap_or(false),
        handle,
        name: "sql_raw",
    }))
}

/// The text of an output statement: fixed, or rendered per message.
enum QueryText {
    Static(String),
    Dynamic(Interpolation),
}

/// One statement of the output.
struct Statement {
    query: QueryText,
    args: Option<Mapping>,
}

/// Builds the output.
pub fn build_output(
    cfg: &ComponentConfig,
    _ctx: &BuildContext,
) -> Result<SharedOutput, ComponentError> {
    let dynamic = cfg.bool("unsafe_dynamic_query").unwrap_or(false);
    let compile = |q: &str| -> Result<QueryText, ComponentError> {
        if dynamic {
            Interpolation::compile(q)
                .map(QueryText::Dynamic)
                .map_err(|e| ComponentError::new(format!("query: {}", e)))
        } else {
            Ok(QueryText::Static(q.to_string()))
        }
    };
    let mut statements = Vec::new();
    if let Some(q) = cfg.str("query").filter(|q| !q.trim().is_empty()) {
        statements.push(Statement {
            query: compile(q)?,
            args: super::sql::args_mapping(cfg)?,
        });
    }
    for entry in cfg
        .field("queries")
        .and_then(|f| f.as_array())
        .unwrap_or(&[])
    {
        let q = entry.path("query").and_then(|f| f.as_str()).unwrap_or("");
        let args = match entry
            .path("args_mapping")
            .and_then(|f| f.as_str())
            .filter(|s| !s.trim().is_empty())
        {
            Some(src) => Some(
                Mapping::compile(src)
                    .map_err(|e| ComponentError::new(format!("queries: args_mapping: {}", e)))?,
            ),
            None => None,
        };
        statements.push(Statement {
            query: compile(q)?,
            args,
        });
    }
    if statements.is_empty() {
        return Err(ComponentError::new("either query or queries must be set"));
    }
    Ok(Arc::new(SqlRawOutput {
        db: Database::of(cfg)?,
        statements,
    }))
}

struct SqlRawOutput {
    db: Arc<Database>,
    statements: Vec<Statement>,
}

#[async_trait]
impl Output for SqlRawOutput {
    async fn write(&self, batch: Batch, _r: Option<&ResponseStore>) -> Result<(), Nack> {
        for m in &batch {
            for s in &self.statements {
                let sql = match &s.query {
                    QueryText::Static(q) => q.clone(),
                    QueryText::Dynamic(i) => {
                        i.render(m).map_err(|e| Nack(format!("query: {}", e)))?
                    }
                };
                let args = args_of(s.args.as_ref(), m).map_err(Nack)?;
                self.db
                    .execute(&sql, &args)
                    .await
                    .map_err(|e| Nack(format!("sql_raw: {}", e)))?;
            }
        }
        Ok(())
    }

    async fn close(&self) {
        self.db.close().await;
    }
}
