//! `Session`: one SQLite connection, configured so that the engine enforces the rules, and every
//! operation the tools need, each run as one bounded call. Synchronous; it lives on its
//! database's worker thread.
//!
//! Each connection is opened without following symlinks and never created; read-only databases
//! are opened read-only with `query_only`. All connections run in defensive mode with untrusted
//! schema, no attached databases, and length limits. Every call installs the authorizer for its
//! access mode (see `policy`), accepts exactly one statement, runs under a deadline and a cancel
//! flag checked by a progress handler, and leaves no transaction open: writes run inside a
//! savepoint that is released on success and rolled back on any failure.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::config::DbConfig;
use rusqlite::hooks::Authorization;
use rusqlite::limits::Limit;
use rusqlite::{Connection, ErrorCode, OpenFlags, Statement};

use crate::db::error::{Error, Result};
use crate::db::policy::{
    Access, authorize, created_table, internal_write, is_create_table, is_setting_read,
    schema_change,
};
use crate::db::value::{Rows, Value};

mod changes;
mod describe;
mod reverse;
mod show;
mod write;

pub(crate) use changes::{Captured, Journaling, Standing};
pub(crate) use describe::{RowCount, Schema, TableDescription, TableEntry};

/// How long one query may run.
pub(crate) const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Rows per page of a query result.
pub(crate) const DEFAULT_MAX_ROWS: usize = 500;
/// Rows `describe_table` and the schema resource count before they stop and say "more than".
pub(crate) const DEFAULT_MAX_COUNTED_ROWS: usize = 10_000;
/// Bytes of one cell (text or BLOB) returned; longer ones are cut or summarised.
pub(crate) const DEFAULT_MAX_CELL_BYTES: usize = 2000;
/// Largest string or BLOB SQL may build (`SQLITE_LIMIT_LENGTH`), so `zeroblob(500000000)` fails.
pub(crate) const DEFAULT_MAX_VALUE_BYTES: usize = 64 * 1024 * 1024;
/// Longest SQL text accepted (`SQLITE_LIMIT_SQL_LENGTH`).
pub(crate) const MAX_SQL_BYTES: usize = 1024 * 1024;
/// Virtual-machine steps between two checks of the deadline and the cancel flag.
const PROGRESS_STEPS: i32 = 1000;

/// The limits of database calls; each has a `DEFAULT_*` and a command-line flag.
#[derive(Debug, Clone)]
pub(crate) struct DbLimits {
    /// `--query-timeout`: how long one call may run.
    pub(crate) query_timeout: Duration,
    /// `--max-rows`: rows per page.
    pub(crate) max_rows: usize,
    /// `--max-result-bytes`: approximate JSON bytes per page.
    pub(crate) max_result_bytes: usize,
    /// `--max-cell-bytes`: bytes of one cell.
    pub(crate) max_cell_bytes: usize,
    /// `--max-value-bytes`: largest string or BLOB SQL may build.
    pub(crate) max_value_bytes: usize,
    /// `--max-counted-rows`: rows a description counts before it says "more than".
    pub(crate) max_counted_rows: usize,
}

impl Default for DbLimits {
    fn default() -> Self {
        DbLimits {
            query_timeout: DEFAULT_QUERY_TIMEOUT,
            max_rows: DEFAULT_MAX_ROWS,
            max_result_bytes: 1024 * 1024,
            max_cell_bytes: DEFAULT_MAX_CELL_BYTES,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            max_counted_rows: DEFAULT_MAX_COUNTED_ROWS,
        }
    }
}

/// The outcome of a write.
#[derive(Debug, Clone)]
pub(crate) struct WriteOutcome {
    /// Rows inserted, updated or deleted.
    pub(crate) changes: u64,
    /// The rows of a `RETURNING` clause, if the statement has one.
    pub(crate) returned: Option<Rows>,
}

/// What the progress handler (and the bounded functions of `db::functions`) check: the running
/// call's deadline and cancel flag.
#[derive(Default)]
struct Watch {
    current: crate::db::functions::Deadline,
}

/// State the authorizer shares with the call: the first refusal, and whether a table was created.
#[derive(Default)]
struct AuthState {
    refusal: Option<String>,
    created_table: bool,
    /// The tables the statement creates, whose automatic indexes it may create too.
    created_tables: Vec<String>,
    /// The statement reads a setting pragma (`PRAGMA journal_mode`), which SQLite does not mark
    /// read-only although, without a value, it only reports.
    reads_setting: bool,
    /// The first schema change other than creating a table (see `policy::schema_change`).
    schema_change: Option<String>,
    /// A table of SQLite's own the statement writes (`sqlite_sequence`).
    internal_write: Option<String>,
    /// The statement has run, and what follows is the server's own SQL (the session
    /// extension's reads while it writes the changeset): allowed.
    finished: bool,
}

/// An open database connection and its configuration.
pub(crate) struct Session {
    conn: Connection,
    name: String,
    path: PathBuf,
    /// The file `conn` has open (see `db::file_identity`).
    file: (u64, u64),
    writable: bool,
    limits: DbLimits,
    watch: Arc<Watch>,
    auth: Arc<Mutex<AuthState>>,
    /// Set when a statement ran out of SQLite's memory (`write` runs it again unrecorded).
    out_of_memory: std::cell::Cell<bool>,
    /// Set while an undo runs with triggers off, and foreign keys off if this says they were
    /// on: `call` turns them back on, whatever happened (see `reverse.rs`).
    switched_off: std::cell::Cell<Option<bool>>,
}

/// The most memory SQLite may use in this process: room for a few values of the largest size
/// allowed, and never less than 256 MiB.
pub(crate) fn heap_limit(max_value_bytes: usize) -> u64 {
    (max_value_bytes as u64).saturating_mul(4).max(256 << 20)
}

impl Session {
    /// Opens an existing SQLite database (never creating one), without following symlinks, and
    /// configures it. Fails if the file is missing, a directory, or not a SQLite database.
    ///
    /// Long because it is the list of the connection's safety settings, each with its reason;
    /// they read best one after another.
    pub(crate) fn open(
        name: &str,
        path: &Path,
        writable: bool,
        limits: DbLimits,
    ) -> Result<Session> {
        let file = crate::db::file_identity(path);
        let mode = if writable {
            OpenFlags::SQLITE_OPEN_READ_WRITE
        } else {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        };
        let flags = mode | OpenFlags::SQLITE_OPEN_NOFOLLOW | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).map_err(Error::sql)?;
        let sql_err = |e: rusqlite::Error| Error::sql(e);
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true).map_err(sql_err)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false).map_err(sql_err)?;
        conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0).map_err(sql_err)?;
        let value_limit = i32::try_from(limits.max_value_bytes).unwrap_or(i32::MAX);
        conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, value_limit).map_err(sql_err)?;
        conn.set_limit(Limit::SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_BYTES as i32).map_err(sql_err)?;
        conn.busy_timeout(limits.query_timeout).map_err(sql_err)?;
        // One value may be as large as max_value_bytes, but nothing else bounds the sum: a
        // query selecting a hundred 64 MiB blobs would make the process run out of memory and
        // take every database and file tool down with it. SQLite's heap limit (process-wide)
        // turns that into an "out of memory" error for that query.
        let heap_limit = heap_limit(limits.max_value_bytes);
        conn.query_row(&format!("PRAGMA hard_heap_limit = {heap_limit}"), [], |_| Ok(()))
            .map_err(sql_err)?;
        if !writable {
            conn.execute_batch("PRAGMA query_only = 1").map_err(sql_err)?;
        }
        // Reading the schema proves the file is a database (SQLITE_NOTADB otherwise).
        conn.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get::<_, i64>(0))
            .map_err(|e| match e.sqlite_error_code() {
                Some(ErrorCode::NotADatabase) => Error::NotADatabase,
                _ => Error::sql(e),
            })?;
        let watch = Arc::new(Watch::default());
        crate::db::functions::register(&conn, &watch.current, limits.max_value_bytes)
            .map_err(sql_err)?;
        let progress = Arc::clone(&watch);
        conn.progress_handler(
            PROGRESS_STEPS,
            Some(move || {
                let current = progress.current.lock().unwrap_or_else(|e| e.into_inner());
                match &*current {
                    Some((deadline, cancel)) => {
                        cancel.load(Ordering::Relaxed) || Instant::now() >= *deadline
                    }
                    None => false,
                }
            }),
        )
        .map_err(sql_err)?;
        Ok(Session {
            conn,
            name: name.to_owned(),
            path: path.to_path_buf(),
            file,
            writable,
            limits,
            watch,
            auth: Arc::new(Mutex::new(AuthState::default())),
            out_of_memory: std::cell::Cell::new(false),
            switched_off: std::cell::Cell::new(None),
        })
    }

    /// Runs one read-only statement and returns one page of its rows, starting at row `offset`.
    /// Refused: anything that writes, more than one statement, and what the read policy denies.
    pub(crate) fn read(
        &mut self,
        sql: &str,
        params: &[Value],
        offset: u64,
        cancel: &Arc<AtomicBool>,
    ) -> Result<Rows> {
        self.call(cancel, Some(Access::Read), |session| {
            let mut stmt = session.prepare_one(sql)?;
            if !stmt.readonly() && !session.auth_state().reads_setting {
                return Err(Error::Refused {
                    what: "read_query only reads, and this statement writes; use write_query on a database opened with --db-rw".to_owned(),
                });
            }
            bind(&mut stmt, params)?;
            collect(&mut stmt, offset, &session.limits, false).map_err(|e| session.map_err(e))
        })
    }

    /// `EXPLAIN QUERY PLAN` of one statement, checked against the policy of the tool that would
    /// run it (read, or write on a writable database); nothing is executed.
    pub(crate) fn explain(
        &mut self,
        sql: &str,
        params: &[Value],
        cancel: &Arc<AtomicBool>,
    ) -> Result<Rows> {
        let access = if self.writable { Access::Write } else { Access::Read };
        let text = format!("EXPLAIN QUERY PLAN {sql}");
        self.call(cancel, Some(access), |session| {
            let mut stmt = session.prepare_one(&text)?;
            bind(&mut stmt, params)?;
            collect(&mut stmt, 0, &session.limits, false).map_err(|e| session.map_err(e))
        })
    }

    /// Runs `work` as one call: deadline and cancel flag armed, the authorizer for `access`
    /// installed (if any), and afterwards no authorizer, no deadline, and no open transaction.
    fn call<T>(
        &mut self,
        cancel: &Arc<AtomicBool>,
        access: Option<Access>,
        work: impl FnOnce(&mut Session) -> Result<T>,
    ) -> Result<T> {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        if crate::db::file_identity(&self.path) != self.file {
            // Replaced by rename (a tool that writes a copy and swaps it in): the connection
            // still reads the old, unlinked file. Follow the path, as the user would expect.
            tracing::warn!(db = %self.name, "the database file was replaced on disk; reopening it");
            let path = self.path.clone();
            *self = Session::open(&self.name, &path, self.writable, self.limits.clone())
                .map_err(|e| Error::Reopen { db: self.name.clone(), source: Box::new(e) })?;
        }
        let deadline = Instant::now() + self.limits.query_timeout;
        *self.watch.current.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((deadline, Arc::clone(cancel)));
        *self.auth.lock().unwrap_or_else(|e| e.into_inner()) = AuthState::default();
        let read_only_switch = access == Some(Access::Read) && self.writable;
        let mut result = Ok(());
        if read_only_switch {
            result = self.internal("PRAGMA query_only = 1");
        }
        // A panic in the work (a bug, or rusqlite meeting a column name that is not UTF-8) must
        // not skip the cleanup below: it becomes this call's error.
        let result = result.and_then(|()| self.set_access(access)).and_then(|()| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&mut *self)))
                .unwrap_or_else(|_| {
                    tracing::error!(db = %self.name, "a database call panicked");
                    Err(Error::Panicked { db: self.name.clone() })
                })
        });
        let cleanup = self.set_access(None);
        if read_only_switch {
            let _ = self.internal("PRAGMA query_only = 0");
        }
        if !self.conn.is_autocommit() {
            tracing::warn!(db = %self.name, "a call left a transaction open; rolling back");
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        if let Some(keys) = self.switched_off.take() {
            self.switch_back_on(keys);
        }
        *self.watch.current.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let result = result.and_then(|value| cleanup.map(|()| value));
        // An interrupt or a lock that reached us unmapped (through `Error::sql`) is this call's
        // cancel, timeout or busy database; any other SQL error stays what it is, even when a
        // cancel came meanwhile.
        result.map_err(|e| match e {
            Error::Sql { source, .. } if is_interrupt(&source) => {
                if cancel.load(Ordering::Relaxed) {
                    Error::Cancelled
                } else {
                    Error::Timeout { limit: self.limits.query_timeout }
                }
            }
            Error::Sql { source, .. }
                if matches!(
                    source.sqlite_error_code(),
                    Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
                ) =>
            {
                Error::Busy { db: self.name.clone() }
            }
            other => other,
        })
    }

    /// Installs the authorizer for `access`, or removes it (`None`) for the server's own
    /// statements.
    fn set_access(&mut self, access: Option<Access>) -> Result<()> {
        let Some(access) = access else {
            return self
                .conn
                .authorizer(None::<fn(rusqlite::hooks::AuthContext<'_>) -> Authorization>)
                .map_err(Error::sql);
        };
        let state = Arc::clone(&self.auth);
        self.conn
            .authorizer(Some(move |ctx: rusqlite::hooks::AuthContext<'_>| {
                let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
                if state.finished {
                    return Authorization::Allow;
                }
                match authorize(access, &ctx, &state.created_tables) {
                    Ok(()) => {
                        state.created_table |= is_create_table(&ctx);
                        if let Some(table) = created_table(&ctx) {
                            state.created_tables.push(table.to_owned());
                        }
                        state.reads_setting |= is_setting_read(&ctx);
                        if state.schema_change.is_none() {
                            state.schema_change = schema_change(&ctx, &state.created_tables);
                        }
                        if state.internal_write.is_none() {
                            state.internal_write = internal_write(&ctx).map(str::to_owned);
                        }
                        Authorization::Allow
                    }
                    Err(reason) => {
                        state.refusal.get_or_insert(reason);
                        Authorization::Deny
                    }
                }
            }))
            .map_err(Error::sql)
    }

    fn auth_state(&self) -> std::sync::MutexGuard<'_, AuthState> {
        self.auth.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs the server's own SQL (no authorizer must be installed).
    fn internal(&mut self, sql: &str) -> Result<()> {
        self.conn.execute_batch(sql).map_err(|e| self.map_err(e))
    }

    /// Compiles exactly one statement. The first statement is compiled (and authorized) on its
    /// own, so its refusal is what the caller hears; anything after it that compiles to a
    /// statement, or fails to compile, means several statements, which is refused whatever
    /// they are.
    fn prepare_one(&self, sql: &str) -> Result<Statement<'_>> {
        use rusqlite::fallible_iterator::FallibleIterator;
        let mut batch = rusqlite::Batch::new(&self.conn, sql);
        let first = match batch.next() {
            Ok(Some(stmt)) => stmt,
            // Empty or comment-only SQL compiles to no statement.
            Ok(None) => return Err(Error::EmptyQuery),
            Err(e) => return Err(self.map_err(e)),
        };
        match batch.next() {
            Ok(None) => Ok(first),
            Ok(Some(_)) | Err(_) => Err(Error::MultipleStatements),
        }
    }

    /// Maps a SQLite error: a refusal to the policy's reason, an interrupt to timeout or
    /// cancellation, a lock to busy, anything else to SQLite's message.
    fn map_err(&self, err: rusqlite::Error) -> Error {
        let code = err.sqlite_error_code();
        if code == Some(ErrorCode::AuthorizationForStatementDenied) {
            let reason = self.auth_state().refusal.clone();
            return Error::Refused {
                what: reason.unwrap_or_else(|| "this statement is not allowed".to_owned()),
            };
        }
        if is_interrupt(&err) {
            let current = self.watch.current.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, cancel)) = &*current
                && cancel.load(Ordering::Relaxed)
            {
                return Error::Cancelled;
            }
            return Error::Timeout { limit: self.limits.query_timeout };
        }
        if code == Some(ErrorCode::OutOfMemory) {
            self.out_of_memory.set(true);
            return Error::Refused {
                what: format!(
                    "the query needs more memory than the server allows SQLite ({} MiB); select fewer or smaller values (large BLOBs and strings count in full, even when results show them cut)",
                    heap_limit(self.limits.max_value_bytes) >> 20
                ),
            };
        }
        if matches!(code, Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)) {
            return Error::Busy { db: self.name.clone() };
        }
        if matches!(err, rusqlite::Error::InvalidQuery)
            || matches!(err, rusqlite::Error::MultipleStatement)
        {
            return Error::MultipleStatements;
        }
        Error::sql(err)
    }
}

/// Binds positional parameters, refusing a count that does not match the statement.
fn bind(stmt: &mut Statement<'_>, params: &[Value]) -> Result<()> {
    let expected = stmt.parameter_count();
    if expected != params.len() {
        return Err(Error::InvalidArgument(format!(
            "the statement has {expected} parameter(s) but params has {} value(s)",
            params.len()
        )));
    }
    for (idx, value) in params.iter().enumerate() {
        stmt.raw_bind_parameter(idx + 1, value).map_err(Error::sql)?;
    }
    Ok(())
}

/// Steps past `offset` rows, then collects up to `max_rows` rows and about `max_result_bytes`,
/// noting whether more follow. With `drain`, the rows after the page are stepped through and
/// dropped, so the statement runs to completion (RETURNING). Never holds more than one page.
fn collect(
    stmt: &mut Statement<'_>,
    offset: u64,
    limits: &DbLimits,
    drain: bool,
) -> rusqlite::Result<Rows> {
    let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let types: Vec<Option<String>> =
        stmt.columns().map(|c| c.decl_type().map(str::to_owned)).collect();
    let n_columns = columns.len();
    let mut out = Rows { columns, types, ..Rows::default() };
    let mut rows = stmt.raw_query();
    for _ in 0..offset {
        if rows.next()?.is_none() {
            return Ok(out);
        }
    }
    let mut bytes = 0usize;
    while let Some(row) = rows.next()? {
        if out.rows.len() >= limits.max_rows {
            out.truncated = true;
            break;
        }
        let mut cells = Vec::with_capacity(n_columns);
        let mut row_bytes = 2;
        for idx in 0..n_columns {
            let cell = Value::cell(row.get_ref(idx)?, limits.max_cell_bytes);
            row_bytes += cell.approx_json_len() + 1;
            cells.push(cell);
        }
        if bytes + row_bytes > limits.max_result_bytes && !out.rows.is_empty() {
            out.truncated = true;
            break;
        }
        bytes += row_bytes;
        out.rows.push(cells);
    }
    if out.truncated {
        out.next_offset = Some(offset + out.rows.len() as u64);
        if drain {
            while rows.next()?.is_some() {}
        }
    }
    Ok(out)
}

/// Whether SQLite stopped the statement from outside: the progress handler (cancel or deadline)
/// or one of the bounded functions (`db::functions`), which the progress handler cannot reach.
fn is_interrupt(err: &rusqlite::Error) -> bool {
    err.sqlite_error_code() == Some(ErrorCode::OperationInterrupted)
        || err.to_string().contains(crate::db::functions::INTERRUPTED)
}

#[cfg(test)]
mod tests;
