//! `db::Error`: every way a database operation can fail, with what to do about it.
//! Imports nothing from the crate.

use std::time::Duration;

/// The error of every database operation.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// No database has this name.
    #[error("no database named \"{name}\"; open databases: {}", list(available))]
    UnknownDatabase { name: String, available: Vec<String> },

    /// Several databases are open and the call did not say which.
    #[error("several databases are open ({}); pass db to choose one", list(available))]
    DatabaseNeeded { available: Vec<String> },

    /// The server has no database at all.
    #[error(
        "no database is open; start the server with --db NAME=PATH (read-only) or --db-rw NAME=PATH"
    )]
    NoDatabase,

    /// A write to a database opened read-only.
    #[error(
        "database \"{db}\" is read-only; start the server with --db-rw instead of --db for it to allow writes"
    )]
    ReadOnly { db: String },

    /// The statement does something this call does not allow (the authorizer refused it).
    #[error("{what}")]
    Refused { what: String },

    /// More than one statement in one call.
    #[error("only one SQL statement per call; send the statements one at a time")]
    MultipleStatements,

    /// The SQL text holds no statement (empty, or only comments).
    #[error("the query is empty")]
    EmptyQuery,

    /// The statement ran past the query timeout and was stopped.
    #[error(
        "the query ran longer than the {}s timeout (--query-timeout) and was stopped; narrow it with WHERE or LIMIT, or aggregate",
        limit.as_secs_f64()
    )]
    Timeout { limit: Duration },

    /// The client cancelled the request.
    #[error("the query was cancelled")]
    Cancelled,

    /// Another connection holds a lock for longer than we wait.
    #[error("database \"{db}\" is busy: another process holds a lock on it; try again shortly")]
    Busy { db: String },

    /// `describe_table` and friends: the table does not exist.
    #[error("no such table \"{table}\" in database \"{db}\"; list_tables shows the tables")]
    NoSuchTable { db: String, table: String },

    /// A pagination cursor that does not belong to this query.
    #[error(
        "invalid cursor: pass the next_cursor of the previous page together with the same query and params"
    )]
    InvalidCursor,

    /// A well-formed argument that makes no sense here.
    #[error("{0}")]
    InvalidArgument(String),

    /// An error from SQLite itself (syntax, constraint, no such column, ...): SQLite's own
    /// message, which names the column, table or token, and the error it came from.
    #[error("SQL error: {message}")]
    Sql {
        message: String,
        #[source]
        source: Box<rusqlite::Error>,
    },

    /// The database file was replaced or removed, and the new one could not be opened.
    #[error(
        "the file of database \"{db}\" was replaced or removed and cannot be opened again: {source}"
    )]
    Reopen {
        db: String,
        #[source]
        source: Box<Error>,
    },

    /// The database's worker thread could not be started.
    #[error("could not start the worker thread for database \"{db}\": {source}")]
    WorkerStart {
        db: String,
        #[source]
        source: std::io::Error,
    },

    /// A call panicked (a bug); the worker rolled back and goes on.
    #[error(
        "internal error while running the statement on database \"{db}\" (the database is unchanged); this is a bug"
    )]
    Panicked { db: String },

    /// The file is not a SQLite database (or is encrypted).
    #[error("the file is not a SQLite database (its header is not \"SQLite format 3\")")]
    NotADatabase,

    /// The database's worker thread is gone (a bug).
    #[error("the worker for database \"{db}\" stopped; this is a bug")]
    WorkerGone { db: String },
}

/// The db module's result type.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

fn list(names: &[String]) -> String {
    if names.is_empty() { "none".to_owned() } else { names.join(", ") }
}

impl Error {
    /// Wraps a SQLite error, keeping SQLite's own message (it names the column, table or token).
    pub(crate) fn sql(source: rusqlite::Error) -> Self {
        let message = match &source {
            rusqlite::Error::SqliteFailure(_, Some(message)) => message.clone(),
            other => other.to_string(),
        };
        Error::Sql { message, source: Box::new(source) }
    }
}
