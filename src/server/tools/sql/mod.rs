//! SQL tools: the reference SQLite server's `list_tables`, `describe_table`, `read_query`,
//! `write_query` and `create_table` (same names and parameters), plus `list_databases`,
//! `explain_query`, bound `params`, pagination cursors, and a `db` argument when several
//! databases are open. Each handler parses its params, runs one call on the database's worker,
//! and renders the result with a pure function of `server::render::sql`. The parameters are in
//! `params`.

mod params;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rmcp::handler::server::tool::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, tool, tool_router};

use crate::db::query::Session;
use crate::db::value::Value;
use crate::db::{self, Database, cancel_flag};
use crate::server::Server;
use crate::server::errors::{argument_error, db_tool_error, worker_gone};
use crate::server::history::{self, Recorder, annotate};
use crate::server::progress::{Meter, drive};
use crate::server::render::sql::*;
pub(crate) use params::*;

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
                Err(err) => return Ok(db_tool_error(&err)),
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
        let database = match self.database_for(p.db.as_deref()) {
            Ok(database) => database,
            Err(refused) => return Ok(refused),
        };
        self.on_database(&database, &ctx, |s, cancel| s.tables(cancel), render_tables).await
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
        let database = match self.database_for(p.db.as_deref()) {
            Ok(database) => database,
            Err(refused) => return Ok(refused),
        };
        let table = p.table_name;
        let work = move |s: &mut Session, cancel: &Arc<AtomicBool>| s.describe(&table, cancel);
        self.on_database(&database, &ctx, work, render_description).await
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
        let (database, params) =
            match self.database_and_params(p.db.as_deref(), p.params.as_deref()) {
                Ok(found) => found,
                Err(refused) => return Ok(refused),
            };
        let fingerprint = fingerprint(database.name(), &p.query, p.params.as_deref());
        let offset = match p.cursor.as_deref().map(|c| decode_cursor(c, fingerprint)) {
            None => 0,
            Some(Some(offset)) => offset,
            Some(None) => return Ok(db_tool_error(&db::Error::InvalidCursor)),
        };
        let query = p.query;
        let format = p.format;
        let work = move |s: &mut Session, cancel: &Arc<AtomicBool>| {
            s.read(&query, &params, offset, cancel)
        };
        self.on_database(&database, &ctx, work, |_, rows| render_rows(rows, fingerprint, format))
            .await
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
            Err(message) => return Ok(argument_error(message)),
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
        let (database, params) =
            match self.database_and_params(p.db.as_deref(), p.params.as_deref()) {
                Ok(found) => found,
                Err(refused) => return Ok(refused),
            };
        let query = p.query;
        let work =
            move |s: &mut Session, cancel: &Arc<AtomicBool>| s.explain(&query, &params, cancel);
        self.on_database(&database, &ctx, work, |_, rows| render_plan(rows)).await
    }
}

impl Server {
    /// The database a call names (`db`), or the tool result that says why there is none (no
    /// database, an unknown name, or several open and none chosen).
    fn database_for(&self, db: Option<&str>) -> Result<Arc<Database>, CallToolResult> {
        self.databases().get(db).map(Arc::clone).map_err(|err| db_tool_error(&err))
    }

    /// `database_for`, and the call's JSON `params` as SQL values.
    fn database_and_params(
        &self,
        db: Option<&str>,
        params: Option<&[serde_json::Value]>,
    ) -> Result<(Arc<Database>, Vec<Value>), CallToolResult> {
        let database = self.database_for(db)?;
        let params = parse_params(params).map_err(argument_error)?;
        Ok((database, params))
    }

    /// Runs `work` on `database`'s worker and renders what it returns with `render` (given the
    /// database's name); a failed call is the tool's error result.
    async fn on_database<T, W>(
        &self,
        database: &Arc<Database>,
        ctx: &RequestContext<RoleServer>,
        work: W,
        render: impl FnOnce(&str, T) -> CallToolResult,
    ) -> Result<CallToolResult, ErrorData>
    where
        T: Send + 'static,
        W: FnOnce(&mut Session, &Arc<AtomicBool>) -> db::Result<T> + Send + 'static,
    {
        Ok(match self.run_db(database, ctx, work).await? {
            Ok(value) => render(database.name(), value),
            Err(err) => db_tool_error(&err),
        })
    }

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
            Err(db::Error::WorkerGone { db }) => Err(worker_gone(&db)),
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
        let database = match self.database_for(db) {
            Ok(database) => database,
            Err(refused) => return Ok(refused),
        };
        if !database.writable() {
            return Ok(db_tool_error(&db::Error::ReadOnly { db: database.name().to_owned() }));
        }
        let tool = if create_table { "create_table" } else { "write_query" };
        let recorder = Recorder::new(self.journal(), tool);
        let work = move |s: &mut Session, cancel: &Arc<AtomicBool>| {
            history::sql::recorded(s, cancel, recorder, |s, cancel, journal| {
                s.write(&query, &params, create_table, cancel, journal)
            })
        };
        self.on_database(&database, ctx, work, |db, (outcome, recorded)| {
            let mut result = render_write(db, outcome);
            annotate(&mut result, recorded);
            result
        })
        .await
    }
}
