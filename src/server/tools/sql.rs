//! SQL tools: the reference SQLite server's `list_tables`, `describe_table`, `read_query`,
//! `write_query` and `create_table` (same names and parameters), plus `list_databases`,
//! `explain_query`, bound `params`, pagination cursors, and a `db` argument when several
//! databases are open. Each handler parses its params, runs one call on the database's worker,
//! and renders the result with a pure function below.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD};
use rmcp::handler::server::tool::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Resource};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use crate::db::query::{Session, TableDescription, WriteOutcome};
use crate::db::value::{Rows, Value};
use crate::db::{self, Database, cancel_flag};
use crate::server::Server;
use crate::server::progress::{Meter, drive};
use crate::server::tools::structured;

/// Integers beyond this magnitude lose precision in JavaScript numbers, so they go out as strings.
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

// ---------------------------------------------------------------------------------------------
// Parameters

/// Which database, when several are open.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct DbParams {
    /// The database name (see list_databases); needed only when several databases are open.
    pub db: Option<String>,
}

/// Parameters of `describe_table`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DescribeTableParams {
    /// The table or view to describe.
    pub table_name: String,
    /// The database name; needed only when several databases are open.
    pub db: Option<String>,
}

/// How `read_query` shows rows in its text (structured output is always columnar JSON).
#[derive(Debug, Default, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Compact columnar JSON (the default).
    #[default]
    Json,
    /// A Markdown table.
    Markdown,
    /// CSV with a header row.
    Csv,
}

/// Parameters of `read_query`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReadQueryParams {
    /// One SQL statement that reads (SELECT, WITH ... SELECT, introspection PRAGMAs).
    pub query: String,
    /// Values for the ?1, ?2, ... placeholders: null, numbers, strings, booleans, or
    /// {"$base64": true, "encoded": "..."} for BLOBs.
    #[schemars(schema_with = "param_values_schema")]
    pub params: Option<Vec<Json>>,
    /// The database name; needed only when several databases are open.
    pub db: Option<String>,
    /// How to show rows in the text: "json" (default), "markdown" or "csv".
    #[serde(default)]
    pub format: Format,
    /// The next_cursor of the previous page, to get the next page (send the same query and params).
    pub cursor: Option<String>,
}

/// Parameters of `write_query` and `explain_query`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WriteQueryParams {
    /// One SQL statement.
    pub query: String,
    /// Values for the ?1, ?2, ... placeholders (as in read_query).
    #[schemars(schema_with = "param_values_schema")]
    pub params: Option<Vec<Json>>,
    /// The database name; needed only when several databases are open.
    pub db: Option<String>,
}

/// Parameters of `create_table`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateTableParams {
    /// One CREATE TABLE statement.
    pub query: String,
    /// The database name; needed only when several databases are open.
    pub db: Option<String>,
}

/// The schema of `params`: an optional array of SQL values as JSON (what `parse_params` takes).
fn param_values_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": ["array", "null"],
        "items": {
            "anyOf": [
                { "type": ["null", "boolean", "number", "string"] },
                {
                    "type": "object",
                    "description": "A BLOB, base64-encoded.",
                    "properties": {
                        "$base64": { "const": true },
                        "encoded": { "type": "string" }
                    },
                    "required": ["$base64", "encoded"]
                }
            ]
        }
    })
}

/// The schema of `rows`: arrays of cells as `db::value` renders them.
fn rows_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {
            "type": "array",
            "items": {
                "anyOf": [
                    { "type": ["null", "number", "string"] },
                    {
                        "type": "object",
                        "description": "A BLOB: base64 ($base64, encoded), or only its size ($blob, size) when larger than --max-cell-bytes.",
                        "properties": {
                            "$base64": { "const": true },
                            "encoded": { "type": "string" },
                            "$blob": { "const": true },
                            "size": { "type": "integer", "minimum": 0 }
                        }
                    }
                ]
            }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Structured outputs

/// A page of query results: compact columnar JSON.
#[derive(Debug, Serialize, JsonSchema)]
pub struct QueryOutput {
    /// Column names.
    pub columns: Vec<String>,
    /// Declared column types (null for expressions).
    pub types: Vec<Option<String>>,
    /// Rows as arrays, in column order. NULL is null; integers beyond 2^53 are strings; BLOBs are
    /// {"$base64": true, "encoded": ...}, or {"$blob": true, "size": N} when too large; long text
    /// is cut with a "…[cut: N more bytes]" marker.
    #[schemars(schema_with = "rows_schema")]
    pub rows: Vec<Vec<Json>>,
    /// Rows in this page.
    pub row_count: usize,
    /// Whether more rows follow.
    pub truncated: bool,
    /// Pass this as `cursor` (with the same query and params) for the next page.
    pub next_cursor: Option<String>,
}

/// Output of `write_query` and `create_table`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WriteOutput {
    /// Rows inserted, updated or deleted.
    pub rows_changed: u64,
    /// The rows of a RETURNING clause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub returning: Option<QueryOutput>,
}

/// One table or view.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TableOutput {
    /// Its name.
    pub name: String,
    /// "table" or "view".
    #[serde(rename = "type")]
    pub kind: String,
}

/// Output of `list_tables`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ListTablesOutput {
    /// The database.
    pub db: String,
    /// Its tables and views, by name.
    pub tables: Vec<TableOutput>,
}

/// One column.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ColumnOutput {
    pub name: String,
    #[serde(rename = "type")]
    pub declared_type: String,
    pub not_null: bool,
    pub default: Option<String>,
    /// Position in the primary key (1-based), 0 if not part of it.
    pub primary_key: u32,
}

/// One index.
#[derive(Debug, Serialize, JsonSchema)]
pub struct IndexOutput {
    pub name: String,
    pub unique: bool,
    pub columns: Vec<String>,
}

/// One foreign key column.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ForeignKeyOutput {
    pub column: String,
    pub references_table: String,
    pub references_column: Option<String>,
    pub on_update: String,
    pub on_delete: String,
}

/// Output of `describe_table`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DescribeTableOutput {
    pub db: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub columns: Vec<ColumnOutput>,
    pub indexes: Vec<IndexOutput>,
    pub foreign_keys: Vec<ForeignKeyOutput>,
    /// Rows in the table (null for views).
    pub row_count: Option<u64>,
    /// The CREATE statement.
    pub sql: Option<String>,
}

/// One database.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DatabaseOutput {
    pub name: String,
    pub path: String,
    pub writable: bool,
    pub size_bytes: u64,
    pub tables: usize,
}

/// Output of `list_databases`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ListDatabasesOutput {
    pub databases: Vec<DatabaseOutput>,
}

/// One step of a query plan.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PlanStepOutput {
    pub id: i64,
    pub parent: i64,
    pub detail: String,
}

/// Output of `explain_query`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ExplainOutput {
    pub plan: Vec<PlanStepOutput>,
}

// ---------------------------------------------------------------------------------------------
// Handlers

#[tool_router(router = sql_tools, vis = "pub(crate)")]
impl Server {
    /// List the databases this server can query: name, file, whether writes are allowed, size
    /// and number of tables.
    #[tool(
        title = "List databases",
        output_schema = schema_for_output::<ListDatabasesOutput>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_databases(
        &self,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let mut databases = Vec::new();
        for database in self.databases().all() {
            let summary = self
                .run_db(database, &ctx, |s, cancel| {
                    let tables = s.table_count(cancel)?;
                    let size = s.size_bytes()?;
                    Ok((tables, size))
                })
                .await?;
            let (tables, size_bytes) = match summary {
                Ok(summary) => summary,
                Err(err) => return Ok(db_error(&err)),
            };
            databases.push(DatabaseOutput {
                name: database.name().to_owned(),
                path: database.path().display().to_string(),
                writable: database.writable(),
                size_bytes,
                tables,
            });
        }
        Ok(render_databases(databases))
    }

    /// List the tables and views of a database.
    #[tool(
        title = "List tables",
        output_schema = schema_for_output::<ListTablesOutput>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_tables(
        &self,
        Parameters(p): Parameters<DbParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let database = match self.databases().get(p.db.as_deref()) {
            Ok(database) => Arc::clone(database),
            Err(err) => return Ok(db_error(&err)),
        };
        let name = database.name().to_owned();
        Ok(match self.run_db(&database, &ctx, |s, cancel| s.tables(cancel)).await? {
            Ok(tables) => render_tables(&name, tables),
            Err(err) => db_error(&err),
        })
    }

    /// Describe a table or view: columns with types, nullability, defaults and primary key;
    /// indexes; foreign keys; row count; and its CREATE statement.
    #[tool(
        title = "Describe table",
        output_schema = schema_for_output::<DescribeTableOutput>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn describe_table(
        &self,
        Parameters(p): Parameters<DescribeTableParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let database = match self.databases().get(p.db.as_deref()) {
            Ok(database) => Arc::clone(database),
            Err(err) => return Ok(db_error(&err)),
        };
        let name = database.name().to_owned();
        let table = p.table_name;
        Ok(
            match self.run_db(&database, &ctx, move |s, cancel| s.describe(&table, cancel)).await? {
                Ok(description) => render_description(&name, description),
                Err(err) => db_error(&err),
            },
        )
    }

    /// Run one read-only SQL statement (SELECT, WITH ... SELECT, introspection PRAGMA) and return
    /// rows as compact columnar JSON: {columns, types, rows, row_count, truncated, next_cursor}.
    /// Use ?1, ?2 placeholders with params instead of splicing values into SQL. Large results come
    /// a page at a time: pass next_cursor back with the same query for the next page. Anything that
    /// writes, attaches files or changes settings is refused.
    #[tool(
        title = "Read query",
        output_schema = schema_for_output::<QueryOutput>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn read_query(
        &self,
        Parameters(p): Parameters<ReadQueryParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let database = match self.databases().get(p.db.as_deref()) {
            Ok(database) => Arc::clone(database),
            Err(err) => return Ok(db_error(&err)),
        };
        let params = match parse_params(p.params.as_deref()) {
            Ok(params) => params,
            Err(message) => return Ok(error_text(message)),
        };
        let fingerprint = fingerprint(database.name(), &p.query, p.params.as_deref());
        let offset = match p.cursor.as_deref().map(|c| decode_cursor(c, fingerprint)) {
            None => 0,
            Some(Some(offset)) => offset,
            Some(None) => return Ok(db_error(&db::Error::InvalidCursor)),
        };
        let query = p.query;
        let format = p.format;
        Ok(
            match self
                .run_db(&database, &ctx, move |s, cancel| s.read(&query, &params, offset, cancel))
                .await?
            {
                Ok(rows) => render_rows(rows, fingerprint, format),
                Err(err) => db_error(&err),
            },
        )
    }

    /// Run one SQL statement that changes data (INSERT, UPDATE, DELETE, CREATE/DROP INDEX or VIEW,
    /// ALTER TABLE, ...) on a database opened with --db-rw. It runs in its own transaction: on any
    /// error nothing is changed. Returns the number of rows changed, and the rows of a RETURNING
    /// clause.
    #[tool(
        title = "Write query",
        output_schema = schema_for_output::<WriteOutput>(),
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = false)
    )]
    async fn write_query(
        &self,
        Parameters(p): Parameters<WriteQueryParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let params = match parse_params(p.params.as_deref()) {
            Ok(params) => params,
            Err(message) => return Ok(error_text(message)),
        };
        self.write(p.db.as_deref(), p.query, params, false, &ctx).await
    }

    /// Create a table with one CREATE TABLE statement, on a database opened with --db-rw.
    #[tool(
        title = "Create table",
        output_schema = schema_for_output::<WriteOutput>(),
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = false)
    )]
    async fn create_table(
        &self,
        Parameters(p): Parameters<CreateTableParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.write(p.db.as_deref(), p.query, Vec::new(), true, &ctx).await
    }

    /// Show how SQLite would run a statement (EXPLAIN QUERY PLAN): which indexes it uses, where it
    /// scans whole tables. Nothing is executed.
    #[tool(
        title = "Explain query",
        output_schema = schema_for_output::<ExplainOutput>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn explain_query(
        &self,
        Parameters(p): Parameters<WriteQueryParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let database = match self.databases().get(p.db.as_deref()) {
            Ok(database) => Arc::clone(database),
            Err(err) => return Ok(db_error(&err)),
        };
        let params = match parse_params(p.params.as_deref()) {
            Ok(params) => params,
            Err(message) => return Ok(error_text(message)),
        };
        let query = p.query;
        Ok(
            match self
                .run_db(&database, &ctx, move |s, cancel| s.explain(&query, &params, cancel))
                .await?
            {
                Ok(rows) => render_plan(rows),
                Err(err) => db_error(&err),
            },
        )
    }
}

impl Server {
    /// Runs a call on a database's worker, interrupting it if the client cancels the request.
    /// A vanished worker is a protocol-level internal error; everything else is the call's result.
    pub(crate) async fn run_db<T, W>(
        &self,
        database: &Arc<Database>,
        ctx: &RequestContext<RoleServer>,
        work: W,
    ) -> Result<db::Result<T>, ErrorData>
    where
        T: Send + 'static,
        W: FnOnce(&mut Session, &Arc<AtomicBool>) -> db::Result<T> + Send + 'static,
    {
        let cancel = cancel_flag();
        let flag = Arc::clone(&cancel);
        let call = database.run(move |session| work(session, &flag));
        let started = std::time::Instant::now();
        // A statement's progress cannot be counted from outside it; the elapsed time (in
        // milliseconds, so it grows) tells the client the call is alive.
        let meter = Meter {
            count: || started.elapsed().as_millis() as u64,
            describe: |_, elapsed: std::time::Duration| {
                format!("query running for {:.1}s", elapsed.as_secs_f64())
            },
        };
        let interrupt = || cancel.store(true, Ordering::Relaxed);
        let result = drive(ctx, self.progress_after(), call, meter, interrupt)
            .await
            .unwrap_or(Err(db::Error::Cancelled));
        match result {
            Err(db::Error::WorkerGone { db }) => {
                tracing::error!(db = %db, "database worker gone");
                Err(ErrorData::internal_error(
                    format!("the worker for database \"{db}\" failed; this is a bug"),
                    None,
                ))
            }
            other => Ok(other),
        }
    }

    async fn write(
        &self,
        db: Option<&str>,
        query: String,
        params: Vec<Value>,
        create_table: bool,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let database = match self.databases().get(db) {
            Ok(database) => Arc::clone(database),
            Err(err) => return Ok(db_error(&err)),
        };
        if !database.writable() {
            return Ok(db_error(&db::Error::ReadOnly { db: database.name().to_owned() }));
        }
        let name = database.name().to_owned();
        let outcome = self
            .run_db(&database, ctx, move |s, cancel| s.write(&query, &params, create_table, cancel))
            .await?;
        Ok(match outcome {
            Ok(outcome) => render_write(&name, outcome),
            Err(err) => db_error(&err),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing and rendering

/// Converts JSON params to SQL values: null, booleans (as 0/1), integers, floats, strings, and
/// {"$base64": true, "encoded": "..."} BLOBs.
pub fn parse_params(params: Option<&[Json]>) -> Result<Vec<Value>, String> {
    let Some(params) = params else { return Ok(Vec::new()) };
    params
        .iter()
        .enumerate()
        .map(|(idx, param)| match param {
            Json::Null => Ok(Value::Null),
            Json::Bool(b) => Ok(Value::Integer(i64::from(*b))),
            Json::Number(n) => n.as_i64().map(Value::Integer).or_else(|| n.as_f64().map(Value::Real)).ok_or_else(|| format!("params[{idx}]: {n} is out of range")),
            Json::String(s) => Ok(Value::text(s.clone())),
            Json::Object(o) if o.get("$base64") == Some(&Json::Bool(true)) => {
                let encoded = o.get("encoded").and_then(Json::as_str).ok_or_else(|| format!("params[{idx}]: a BLOB needs \"encoded\""))?;
                BASE64.decode(encoded).map(Value::blob).map_err(|e| format!("params[{idx}]: invalid base64: {e}"))
            }
            _ => Err(format!(
                "params[{idx}]: use null, a number, a string, a boolean, or {{\"$base64\": true, \"encoded\": \"...\"}} for a BLOB"
            )),
        })
        .collect()
}

/// A cell as JSON, per the result contract.
pub fn cell_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Integer(i) if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(i) => json!(i),
        Value::Integer(i) => json!(i.to_string()),
        Value::Real(f) if f.is_finite() => json!(f),
        Value::Real(f) => json!(f.to_string()),
        Value::Text { text, omitted: 0 } => json!(text),
        Value::Text { text, omitted } => json!(format!("{text}…[cut: {omitted} more bytes]")),
        Value::Blob { bytes, omitted: 0 } => {
            json!({"$base64": true, "encoded": BASE64.encode(bytes)})
        }
        Value::Blob { omitted, .. } => json!({"$blob": true, "size": omitted}),
    }
}

/// A page of rows as columnar JSON; `fingerprint` (the query's) makes a cursor when more follow.
pub fn query_output(rows: Rows, fingerprint: Option<u64>) -> QueryOutput {
    let next_cursor = match (rows.next_offset, fingerprint) {
        (Some(offset), Some(fp)) => Some(encode_cursor(offset, fp)),
        _ => None,
    };
    QueryOutput {
        row_count: rows.rows.len(),
        truncated: rows.truncated,
        next_cursor,
        columns: rows.columns,
        types: rows.types,
        rows: rows.rows.iter().map(|r| r.iter().map(cell_json).collect()).collect(),
    }
}

fn render_rows(rows: Rows, fingerprint: u64, format: Format) -> CallToolResult {
    let output = query_output(rows, Some(fingerprint));
    let mut text = match format {
        Format::Json => serde_json::to_string(&output).unwrap_or_default(),
        Format::Markdown => markdown(&output),
        Format::Csv => csv(&output),
    };
    if !matches!(format, Format::Json) && output.truncated {
        text.push_str(&format!(
            "\n[{} rows shown; more follow: call again with cursor \"{}\" (--max-rows / --max-result-bytes)]",
            output.row_count,
            output.next_cursor.clone().unwrap_or_default()
        ));
    }
    structured(vec![ContentBlock::text(text)], &output)
}

fn render_write(db: &str, outcome: WriteOutcome) -> CallToolResult {
    let output = WriteOutput {
        rows_changed: outcome.changes,
        returning: outcome.returned.map(|rows| query_output(rows, None)),
    };
    let mut text = format!(
        "{} row{} changed in database \"{db}\"",
        output.rows_changed,
        if output.rows_changed == 1 { "" } else { "s" }
    );
    if let Some(returning) = &output.returning {
        text.push_str("\nRETURNING: ");
        text.push_str(&serde_json::to_string(returning).unwrap_or_default());
    }
    let link = Resource::new(format!("sqlite://{db}/schema"), format!("{db} schema"))
        .with_mime_type("application/sql");
    structured(vec![ContentBlock::text(text), ContentBlock::resource_link(link)], &output)
}

fn render_tables(db: &str, tables: Vec<db::query::TableEntry>) -> CallToolResult {
    let text = if tables.is_empty() {
        format!("database \"{db}\" has no tables")
    } else {
        tables
            .iter()
            .map(|t| {
                if t.kind == "table" { t.name.clone() } else { format!("{} ({})", t.name, t.kind) }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let output = ListTablesOutput {
        db: db.to_owned(),
        tables: tables.into_iter().map(|t| TableOutput { name: t.name, kind: t.kind }).collect(),
    };
    structured(vec![ContentBlock::text(text)], &output)
}

fn render_description(db: &str, d: TableDescription) -> CallToolResult {
    let mut text = format!("{} {} in database \"{db}\"", d.kind, d.name);
    if let Some(rows) = d.row_count {
        text.push_str(&format!(", {rows} rows"));
    }
    text.push_str("\ncolumns:\n");
    for c in d.columns.iter().filter(|c| !c.hidden) {
        let mut flags = Vec::new();
        if c.primary_key > 0 {
            flags.push("PRIMARY KEY".to_owned());
        }
        if c.not_null {
            flags.push("NOT NULL".to_owned());
        }
        if let Some(default) = &c.default {
            flags.push(format!("DEFAULT {default}"));
        }
        let declared = if c.declared_type.is_empty() { "(no type)" } else { &c.declared_type };
        text.push_str(&format!(
            "  {} {declared}{}{}\n",
            c.name,
            if flags.is_empty() { "" } else { " " },
            flags.join(" ")
        ));
    }
    if !d.indexes.is_empty() {
        text.push_str("indexes:\n");
        for i in &d.indexes {
            text.push_str(&format!(
                "  {}{} ({})\n",
                i.name,
                if i.unique { " UNIQUE" } else { "" },
                i.columns.join(", ")
            ));
        }
    }
    if !d.foreign_keys.is_empty() {
        text.push_str("foreign keys:\n");
        for f in &d.foreign_keys {
            text.push_str(&format!(
                "  {} -> {}({})\n",
                f.from,
                f.table,
                f.to.clone().unwrap_or_else(|| "primary key".to_owned())
            ));
        }
    }
    if let Some(sql) = &d.sql {
        text.push_str(&format!("sql:\n  {sql}"));
    }
    structured(vec![ContentBlock::text(text.trim_end().to_owned())], &describe_output(db, d))
}

/// A table description as structured output (also the table resource's body).
pub fn describe_output(db: &str, d: TableDescription) -> DescribeTableOutput {
    DescribeTableOutput {
        db: db.to_owned(),
        name: d.name,
        kind: d.kind,
        row_count: d.row_count,
        sql: d.sql,
        columns: d
            .columns
            .into_iter()
            .filter(|c| !c.hidden)
            .map(|c| ColumnOutput {
                name: c.name,
                declared_type: c.declared_type,
                not_null: c.not_null,
                default: c.default,
                primary_key: c.primary_key,
            })
            .collect(),
        indexes: d
            .indexes
            .into_iter()
            .map(|i| IndexOutput { name: i.name, unique: i.unique, columns: i.columns })
            .collect(),
        foreign_keys: d
            .foreign_keys
            .into_iter()
            .map(|f| ForeignKeyOutput {
                column: f.from,
                references_table: f.table,
                references_column: f.to,
                on_update: f.on_update,
                on_delete: f.on_delete,
            })
            .collect(),
    }
}

fn render_databases(databases: Vec<DatabaseOutput>) -> CallToolResult {
    let text = databases
        .iter()
        .map(|d| {
            format!(
                "{}: {} ({}, {} tables, {})",
                d.name,
                d.path,
                if d.writable { "read-write" } else { "read-only" },
                d.tables,
                crate::server::tools::files::human_size(d.size_bytes)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    structured(vec![ContentBlock::text(text)], &ListDatabasesOutput { databases })
}

fn render_plan(rows: Rows) -> CallToolResult {
    let plan: Vec<PlanStepOutput> = rows
        .rows
        .iter()
        .map(|r| {
            let int = |v: Option<&Value>| if let Some(Value::Integer(i)) = v { *i } else { 0 };
            let detail = match r.get(3) {
                Some(Value::Text { text, .. }) => text.clone(),
                _ => String::new(),
            };
            PlanStepOutput { id: int(r.first()), parent: int(r.get(1)), detail }
        })
        .collect();
    let mut text = String::from("QUERY PLAN\n");
    fn walk(plan: &[PlanStepOutput], parent: i64, depth: usize, text: &mut String) {
        for step in plan.iter().filter(|s| s.parent == parent) {
            text.push_str(&format!("{}- {}\n", "  ".repeat(depth), step.detail));
            if step.id != parent {
                walk(plan, step.id, depth + 1, text);
            }
        }
    }
    walk(&plan, 0, 0, &mut text);
    structured(vec![ContentBlock::text(text.trim_end().to_owned())], &ExplainOutput { plan })
}

fn markdown(output: &QueryOutput) -> String {
    let escape = |s: String| s.replace('|', "\\|").replace('\n', " ");
    let mut text = format!(
        "| {} |\n|{}|\n",
        output.columns.iter().map(|c| escape(c.clone())).collect::<Vec<_>>().join(" | "),
        vec!["---"; output.columns.len()].join("|")
    );
    for row in &output.rows {
        text.push_str(&format!(
            "| {} |\n",
            row.iter().map(|v| escape(plain(v))).collect::<Vec<_>>().join(" | ")
        ));
    }
    text.trim_end().to_owned()
}

fn csv(output: &QueryOutput) -> String {
    let field = |s: String| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    };
    let mut text = output.columns.iter().map(|c| field(c.clone())).collect::<Vec<_>>().join(",");
    for row in &output.rows {
        text.push('\n');
        text.push_str(&row.iter().map(|v| field(plain(v))).collect::<Vec<_>>().join(","));
    }
    text
}

/// A cell for Markdown or CSV: strings bare, NULL empty, everything else as JSON.
fn plain(value: &Json) -> String {
    match value {
        Json::Null => String::new(),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Identifies a query (database, SQL, params) so a cursor cannot be replayed on another one.
fn fingerprint(db: &str, query: &str, params: Option<&[Json]>) -> u64 {
    let mut hasher = DefaultHasher::new();
    db.hash(&mut hasher);
    query.hash(&mut hasher);
    serde_json::to_string(&params).unwrap_or_default().hash(&mut hasher);
    hasher.finish()
}

fn encode_cursor(offset: u64, fingerprint: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{offset}:{fingerprint:x}"))
}

fn decode_cursor(cursor: &str, fingerprint: u64) -> Option<u64> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let (offset, fp) = text.split_once(':')?;
    (u64::from_str_radix(fp, 16).ok()? == fingerprint).then_some(())?;
    offset.parse().ok()
}

/// A failed database call as a tool error.
pub fn db_error(err: &db::Error) -> CallToolResult {
    error_text(err.to_string())
}

fn error_text(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_follow_the_json_contract() {
        assert_eq!(cell_json(&Value::Null), Json::Null);
        assert_eq!(cell_json(&Value::Integer(42)), json!(42));
        assert_eq!(cell_json(&Value::Integer(MAX_SAFE_INTEGER)), json!(MAX_SAFE_INTEGER));
        assert_eq!(cell_json(&Value::Integer(MAX_SAFE_INTEGER + 1)), json!("9007199254740992"));
        assert_eq!(cell_json(&Value::Integer(i64::MIN)), json!("-9223372036854775808"));
        assert_eq!(cell_json(&Value::Real(1.5)), json!(1.5));
        assert_eq!(cell_json(&Value::Real(f64::INFINITY)), json!("inf"));
        assert_eq!(cell_json(&Value::text("1")), json!("1"));
        assert_eq!(
            cell_json(&Value::Text { text: "ab".into(), omitted: 3 }),
            json!("ab…[cut: 3 more bytes]")
        );
        assert_eq!(
            cell_json(&Value::blob(vec![0, 255])),
            json!({"$base64": true, "encoded": "AP8="})
        );
        assert_eq!(
            cell_json(&Value::Blob { bytes: vec![], omitted: 9000 }),
            json!({"$blob": true, "size": 9000})
        );
    }

    #[test]
    fn params_parse_every_json_kind() {
        let params = vec![
            json!(null),
            json!(true),
            json!(7),
            json!(2.5),
            json!("x"),
            json!({"$base64": true, "encoded": "AP8="}),
        ];
        assert_eq!(
            parse_params(Some(&params)).unwrap(),
            vec![
                Value::Null,
                Value::Integer(1),
                Value::Integer(7),
                Value::Real(2.5),
                Value::text("x"),
                Value::blob(vec![0, 255])
            ]
        );
        assert!(parse_params(Some(&[json!([1])])).unwrap_err().contains("params[0]"));
        assert!(
            parse_params(Some(&[json!({"$base64": true, "encoded": "!!"})]))
                .unwrap_err()
                .contains("base64")
        );
    }

    #[test]
    fn cursors_are_bound_to_their_query() {
        let fp = fingerprint("shop", "SELECT 1", None);
        let cursor = encode_cursor(500, fp);
        assert_eq!(decode_cursor(&cursor, fp), Some(500));
        assert_eq!(decode_cursor(&cursor, fingerprint("shop", "SELECT 2", None)), None);
        assert_eq!(
            decode_cursor(&cursor, fingerprint("shop", "SELECT 1", Some(&[json!(1)]))),
            None
        );
        assert_eq!(decode_cursor("garbage", fp), None);
    }

    #[test]
    fn markdown_and_csv_escape() {
        let output = QueryOutput {
            columns: vec!["a".into(), "b".into()],
            types: vec![None, None],
            rows: vec![vec![json!("x|y"), json!(null)], vec![json!("q\"uote,d"), json!(3)]],
            row_count: 2,
            truncated: false,
            next_cursor: None,
        };
        assert_eq!(markdown(&output), "| a | b |\n|---|---|\n| x\\|y |  |\n| q\"uote,d | 3 |");
        assert_eq!(csv(&output), "a,b\nx|y,\n\"q\"\"uote,d\",3");
    }
}
