//! The one place where core errors become MCP responses: tool failures become `isError: true`
//! results, resource failures become JSON-RPC errors, and bugs (a panicked or vanished worker)
//! become internal errors that are logged.

use rmcp::ErrorData;
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::json;

use crate::{db, sandbox};

/// A failed tool call: a result with `isError: true` and the error's message.
pub(crate) fn tool_error(err: &sandbox::Error) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(err.to_string())])
}

/// A failed `resources/read` (or subscribe) of `uri`: resource-not-found for anything missing or
/// outside the sandbox (the client cannot tell the two apart, by design), invalid-params for
/// malformed URIs and for resources that exist but cannot be returned (too large, special files),
/// internal error for I/O failures.
pub(crate) fn resource_error(uri: &str, err: &sandbox::Error) -> ErrorData {
    use sandbox::Error as E;
    let data = Some(json!({ "uri": uri }));
    match err {
        E::NotFound { .. } | E::Outside { .. } => {
            ErrorData::resource_not_found(format!("resource not found: {uri}"), data)
        }
        E::IsADirectory { .. } => ErrorData::resource_not_found(
            format!(
                "resource not found: {uri} is a directory, and directories are not resources; list it with the list_directory tool (subscribing to its URI still reports changes below it)"
            ),
            data,
        ),
        E::InvalidPath { .. }
        | E::InvalidArgument(_)
        | E::InvalidPattern { .. }
        | E::TooLarge { .. }
        | E::SpecialFile { .. }
        | E::NotText { .. }
        | E::NotADirectory { .. }
        | E::SymlinkLoop { .. } => ErrorData::invalid_params(err.to_string(), data),
        E::ReadOnly { .. }
        | E::ReadOnlyFile { .. }
        | E::Busy { .. }
        | E::ChangedOnDisk { .. }
        | E::Protected { .. }
        | E::AlreadyExists { .. }
        | E::DirectoryNotEmpty { .. }
        | E::Edit { .. }
        | E::NotMade(_)
        | E::Io { .. } => ErrorData::internal_error(err.to_string(), data),
    }
}

/// A failed database call: a tool result with `isError: true` and the error's message, which
/// says what to do about it.
pub(crate) fn db_tool_error(err: &db::Error) -> CallToolResult {
    if let db::Error::Timeout { limit } = err {
        tracing::warn!(
            "a query ran into --query-timeout ({}s) and was stopped",
            limit.as_secs_f64()
        );
    }
    argument_error(err.to_string())
}

/// Tool arguments rejected before any core call (for example SQL `params` of the wrong shape): a
/// tool result with `isError: true`, so the model can correct them.
pub(crate) fn argument_error(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

/// A failed read of a `sqlite://` resource: resource-not-found for an unknown database or table,
/// internal error for anything else.
pub(crate) fn db_resource_error(uri: &str, err: &db::Error) -> ErrorData {
    match err {
        db::Error::NoSuchTable { .. } | db::Error::UnknownDatabase { .. } => {
            ErrorData::resource_not_found(format!("{err} ({uri})"), Some(json!({ "uri": uri })))
        }
        other => ErrorData::internal_error(format!("reading {uri}: {other}"), None),
    }
}

/// Listing a database's tables for `resources/list` failed: an internal error naming it.
pub(crate) fn db_listing_error(db: &str, err: &db::Error) -> ErrorData {
    ErrorData::internal_error(format!("listing the tables of database \"{db}\": {err}"), None)
}

/// Listing the files for `resources/list` failed: an internal error.
pub(crate) fn file_listing_error(err: &sandbox::Error) -> ErrorData {
    ErrorData::internal_error(format!("listing files: {err}"), None)
}

/// A database worker that is gone: a bug, logged, and an internal error for this request.
pub(crate) fn worker_gone(db: &str) -> ErrorData {
    tracing::error!(db = %db, "database worker gone");
    ErrorData::internal_error(
        format!("the worker for database \"{db}\" failed; this is a bug"),
        None,
    )
}

/// A response that could not be serialised: a bug, logged, and an internal error.
pub(crate) fn serialize_error(what: &str, err: &serde_json::Error) -> ErrorData {
    tracing::error!(operation = what, error = %err, "could not serialize a response");
    ErrorData::internal_error(
        format!("internal error while {what}; the server keeps running"),
        None,
    )
}

/// A task that panicked or was cancelled by the runtime: a bug, logged, and reported as an
/// internal error for this one request.
pub(crate) fn join_error(what: &str, err: tokio::task::JoinError) -> ErrorData {
    tracing::error!(operation = what, error = %err, "a worker task failed");
    ErrorData::internal_error(
        format!("internal error while {what}; the server keeps running"),
        None,
    )
}

#[cfg(test)]
mod tests {
    use std::io;

    use rmcp::model::ErrorCode;

    use super::*;

    fn all_errors() -> Vec<sandbox::Error> {
        use sandbox::Error as E;
        let path = || "/r/a".to_owned();
        vec![
            E::Outside { input: "../x".into(), reason: Some("\"..\" is not allowed in paths") },
            E::InvalidPath { input: "".into(), reason: "the path is empty" },
            E::NotFound { path: path() },
            E::IsADirectory { path: path() },
            E::NotADirectory { path: path() },
            E::SpecialFile { path: path(), kind: "FIFO" },
            E::ReadOnly { root: "/r".into() },
            E::ReadOnlyFile { path: path() },
            E::Busy { path: path(), outcome: "nothing was written" },
            E::ChangedOnDisk { path: path() },
            E::Protected {
                path: path(),
                what: "is the database \"shop\"".into(),
                hint: "change it with write_query",
            },
            E::TooLarge {
                path: path(),
                size: 10,
                limit: 5,
                flag: "--max-read-bytes",
                hint: "use head",
            },
            E::NotText { path: path(), at: Some(3) },
            E::AlreadyExists { path: path(), hint: "choose another name" },
            E::DirectoryNotEmpty { path: path() },
            E::SymlinkLoop { path: path() },
            E::Edit { path: path(), index: 2, problem: "oldText matches 2 places".into() },
            E::InvalidPattern { what: "glob", pattern: "a[".into(), message: "unclosed".into() },
            E::InvalidArgument("use only one of head, tail".into()),
            E::NotMade("not written: the change journal failed".into()),
            E::Io { op: "reading", path: path(), source: io::Error::other("disk on fire") },
        ]
    }

    #[test]
    fn every_error_is_a_tool_error_with_its_message() {
        for err in all_errors() {
            let result = tool_error(&err);
            assert_eq!(result.is_error, Some(true), "{err:?}");
            let text = serde_json::to_value(&result.content).unwrap().to_string();
            let message = err.to_string();
            assert!(text.contains(&message.replace('"', "\\\"")), "{text} lacks {message}");
            assert!(
                message.chars().next().unwrap().is_lowercase() || message.starts_with('"'),
                "{message}"
            );
            assert!(!message.ends_with('.'), "{message}");
        }
    }

    #[test]
    fn resource_errors_map_by_kind() {
        let code = |err: &sandbox::Error| resource_error("file:///r/a", err).code;
        for err in all_errors() {
            let expected = match &err {
                sandbox::Error::NotFound { .. }
                | sandbox::Error::Outside { .. }
                | sandbox::Error::IsADirectory { .. } => ErrorCode::RESOURCE_NOT_FOUND,
                sandbox::Error::ReadOnly { .. }
                | sandbox::Error::ReadOnlyFile { .. }
                | sandbox::Error::Busy { .. }
                | sandbox::Error::ChangedOnDisk { .. }
                | sandbox::Error::Protected { .. }
                | sandbox::Error::AlreadyExists { .. }
                | sandbox::Error::DirectoryNotEmpty { .. }
                | sandbox::Error::Edit { .. }
                | sandbox::Error::NotMade(_)
                | sandbox::Error::Io { .. } => ErrorCode::INTERNAL_ERROR,
                _ => ErrorCode::INVALID_PARAMS,
            };
            assert_eq!(code(&err), expected, "{err:?}");
        }
    }

    #[test]
    fn messages_say_what_to_do() {
        let read_only = sandbox::Error::ReadOnly { root: "/home/u/site".into() }.to_string();
        assert!(read_only.contains("--root instead of --ro-root"), "{read_only}");
        let outside = all_errors().remove(0).to_string();
        assert!(outside.contains("outside the allowed directories"), "{outside}");
        assert!(outside.contains("list_allowed_directories"), "{outside}");
    }

    /// Every `db::Error` variant; the match makes a new variant fail to compile here until it
    /// is listed.
    fn all_db_errors() -> Vec<db::Error> {
        use db::Error as E;
        let sql = || {
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(1),
                Some("no such column: x".into()),
            )
        };
        let all = vec![
            E::UnknownDatabase { name: "x".into(), available: vec!["shop".into()] },
            E::DatabaseNeeded { available: vec!["a".into(), "b".into()] },
            E::NoDatabase,
            E::ReadOnly { db: "shop".into() },
            E::Refused { what: "writing is not allowed here".into() },
            E::MultipleStatements,
            E::EmptyQuery,
            E::Timeout { limit: std::time::Duration::from_secs(2) },
            E::Cancelled,
            E::Busy { db: "shop".into() },
            E::NoSuchTable { db: "shop".into(), table: "t".into() },
            E::InvalidCursor,
            E::InvalidArgument("bad".into()),
            E::sql(sql()),
            E::Reopen { db: "shop".into(), source: Box::new(E::NotADatabase) },
            E::WorkerStart { db: "shop".into(), source: io::Error::other("no threads") },
            E::Panicked { db: "shop".into() },
            E::NotADatabase,
            E::WorkerGone { db: "shop".into() },
        ];
        for err in &all {
            match err {
                E::UnknownDatabase { .. }
                | E::DatabaseNeeded { .. }
                | E::NoDatabase
                | E::ReadOnly { .. }
                | E::Refused { .. }
                | E::MultipleStatements
                | E::EmptyQuery
                | E::Timeout { .. }
                | E::Cancelled
                | E::Busy { .. }
                | E::NoSuchTable { .. }
                | E::InvalidCursor
                | E::InvalidArgument(_)
                | E::Sql { .. }
                | E::Reopen { .. }
                | E::WorkerStart { .. }
                | E::Panicked { .. }
                | E::NotADatabase
                | E::WorkerGone { .. } => {}
            }
        }
        all
    }

    #[test]
    fn every_database_error_is_a_tool_error_with_its_message() {
        for err in all_db_errors() {
            let result = db_tool_error(&err);
            assert_eq!(result.is_error, Some(true), "{err:?}");
            let text = serde_json::to_value(&result.content).unwrap();
            assert_eq!(text[0]["text"], json!(err.to_string()), "{err:?}");
        }
    }

    #[test]
    fn database_resource_errors_map_by_kind() {
        for err in all_db_errors() {
            let mapped = db_resource_error("sqlite://shop/table/t", &err);
            let expected = match &err {
                db::Error::NoSuchTable { .. } | db::Error::UnknownDatabase { .. } => {
                    ErrorCode::RESOURCE_NOT_FOUND
                }
                _ => ErrorCode::INTERNAL_ERROR,
            };
            assert_eq!(mapped.code, expected, "{err:?}");
            assert!(mapped.message.contains(&err.to_string()), "{err:?}: {}", mapped.message);
        }
        let listing = db_listing_error("shop", &db::Error::Busy { db: "shop".into() });
        assert_eq!(listing.code, ErrorCode::INTERNAL_ERROR);
        assert!(listing.message.contains("shop") && listing.message.contains("busy"));
    }

    #[test]
    fn database_errors_keep_their_cause() {
        use std::error::Error as _;
        let err = db::Error::sql(rusqlite::Error::InvalidQuery);
        assert!(err.source().is_some(), "SQLite's error is kept as the source");
        let reopen =
            db::Error::Reopen { db: "shop".into(), source: Box::new(db::Error::NotADatabase) };
        assert!(reopen.source().is_some() && reopen.to_string().contains("not a SQLite database"));
    }
}
