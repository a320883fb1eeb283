//! The Session's unit tests: attacks refused, limits held, calls bounded.

use super::*;

pub(super) fn database(writable: bool) -> (tempfile::TempDir, Session) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let setup = Connection::open(&path).unwrap();
    setup
        .execute_batch(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL, data BLOB);
             INSERT INTO t(name) VALUES ('a'), ('b'), ('c');
             CREATE INDEX t_name ON t(name);
             CREATE VIEW v AS SELECT name FROM t;",
        )
        .unwrap();
    drop(setup);
    let session = Session::open("t", &path, writable, DbLimits::default()).unwrap();
    (dir, session)
}

pub(super) fn flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

/// Statements that must be refused through read_query, on read-only and writable databases.
const READ_ATTACKS: &[&str] = &[
    "SELECT 1; DROP TABLE t",
    "/* c */ DELETE FROM t",
    "-- c\nDELETE FROM t",
    "WITH x AS (SELECT 1) DELETE FROM t",
    "INSERT INTO t(name) VALUES ('x') RETURNING id",
    "ATTACH DATABASE '/tmp/mcp-attack.db' AS x",
    "VACUUM INTO '/tmp/mcp-attack-vacuum.db'",
    "VACUUM",
    "ANALYZE",
    "PRAGMA writable_schema=ON",
    "PRAGMA journal_mode=WAL",
    "PRAGMA user_version=7",
    "PRAGMA query_only=0",
    "SELECT load_extension('x')",
    "CREATE TEMP VIEW t AS SELECT 'shadow'",
    "BEGIN",
    "SAVEPOINT s",
    "SELECT fts3_tokenizer('simple')",
    "SELECT zeroblob(500000000)",
    "UPDATE t SET name = 'x'",
    "DROP TABLE t",
    "CREATE TABLE u(x)",
    "REINDEX",
    "DETACH DATABASE main",
];

#[test]
fn read_attacks_are_refused_and_change_nothing() {
    for writable in [false, true] {
        let (_dir, mut session) = database(writable);
        for sql in READ_ATTACKS {
            let result = session.read(sql, &[], 0, &flag());
            assert!(result.is_err(), "{sql} was allowed (writable: {writable})");
            let rows =
                session.read("SELECT count(*), sum(name = 'x') FROM t", &[], 0, &flag()).unwrap();
            assert_eq!(rows.rows[0][0], Value::Integer(3), "{sql} changed the table");
            assert!(session.conn.is_autocommit(), "{sql} left a transaction open");
        }
        let version = session.read("PRAGMA user_version", &[], 0, &flag()).unwrap();
        assert_eq!(version.rows[0][0], Value::Integer(0));
        let temp =
            session.read("SELECT count(*) FROM sqlite_temp_schema", &[], 0, &flag()).unwrap();
        assert_eq!(temp.rows[0][0], Value::Integer(0));
    }
    assert!(
        !Path::new("/tmp/mcp-attack.db").exists()
            && !Path::new("/tmp/mcp-attack-vacuum.db").exists()
    );
}

#[test]
fn refusals_say_why() {
    let (_dir, mut session) = database(false);
    let message = |sql: &str, session: &mut Session| {
        session.read(sql, &[], 0, &flag()).unwrap_err().to_string()
    };
    assert!(message("DELETE FROM t", &mut session).contains("read_query only reads"));
    assert!(message("ATTACH 'x' AS y", &mut session).contains("ATTACH"));
    assert!(
        message("PRAGMA query_only=0", &mut session)
            .contains("PRAGMA query_only = 0 is not allowed")
    );
    assert!(message("SELECT load_extension('x')", &mut session).contains("load_extension"));
    assert!(message("SELECT 1; SELECT 2", &mut session).contains("one SQL statement"));
    assert!(message("BEGIN", &mut session).contains("transaction control"));
    assert!(message("", &mut session).contains("empty"));
    assert!(message("-- only a comment", &mut session).contains("empty"));
    assert!(message("SELECT zeroblob(500000000)", &mut session).contains("too big"));
}

#[test]
fn reads_and_introspection_keep_working() {
    let (_dir, mut session) = database(false);
    for sql in [
        "SELECT * FROM t",
        "SELECT * FROM v",
        "PRAGMA table_info(t)",
        "PRAGMA index_list('t')",
        "SELECT * FROM pragma_table_list",
        "SELECT * FROM pragma_table_info('t')",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 5) SELECT sum(x) FROM c",
        "SELECT upper(name), length(name), json_object('n', name) FROM t",
        "SELECT zeroblob(1000)",
        "EXPLAIN QUERY PLAN SELECT * FROM t WHERE name = 'a'",
    ] {
        session.read(sql, &[], 0, &flag()).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

#[test]
fn writes_run_in_a_savepoint_and_honour_the_write_policy() {
    let (_dir, mut session) = database(true);
    let out = session
        .write(
            "INSERT INTO t(name) VALUES (?1), (?2)",
            &[Value::text("d"), Value::text("e")],
            false,
            &flag(),
            None,
        )
        .unwrap();
    assert_eq!(out.changes, 2);
    let out = session
        .write("DELETE FROM t WHERE name = 'd' RETURNING id, name", &[], false, &flag(), None)
        .unwrap();
    assert_eq!(out.returned.unwrap().rows, vec![vec![Value::Integer(4), Value::text("d")]]);
    for sql in [
        "ATTACH DATABASE '/tmp/mcp-attack.db' AS x",
        "VACUUM INTO '/tmp/mcp-attack-vacuum.db'",
        "PRAGMA writable_schema=ON",
        "PRAGMA user_version=7",
        "BEGIN",
        "COMMIT",
        "SAVEPOINT s",
        "CREATE TEMP VIEW t AS SELECT 'shadow'",
        "CREATE TEMP TABLE x(y)",
        "SELECT load_extension('x')",
        "INSERT INTO sqlite_master VALUES ('table', 'x', 'x', 0, 'CREATE TABLE x(y)')",
        "SELECT 1; DELETE FROM t",
    ] {
        assert!(session.write(sql, &[], false, &flag(), None).is_err(), "{sql} was allowed");
        assert!(session.conn.is_autocommit(), "{sql} left a transaction open");
    }
    // A failing statement leaves nothing half-done (the constraint fails on the second row).
    let err = session
        .write("INSERT INTO t(name) VALUES ('ok'), (NULL)", &[], false, &flag(), None)
        .unwrap_err();
    assert!(err.to_string().contains("NOT NULL"), "{err}");
    let count = session.read("SELECT count(*) FROM t WHERE name = 'ok'", &[], 0, &flag()).unwrap();
    assert_eq!(count.rows[0][0], Value::Integer(0));
    // read_query on a writable database is still read-only.
    assert!(session.read("DELETE FROM t", &[], 0, &flag()).is_err());
    session.write("CREATE INDEX t_data ON t(data)", &[], false, &flag(), None).unwrap();
    session.write("CREATE VIRTUAL TABLE docs USING fts5(body)", &[], false, &flag(), None).unwrap();
}

#[test]
fn create_table_runs_only_create_table() {
    let (_dir, mut session) = database(true);
    session
        .write(
            "CREATE TABLE u(id INTEGER PRIMARY KEY AUTOINCREMENT, x TEXT)",
            &[],
            true,
            &flag(),
            None,
        )
        .unwrap();
    session.write("CREATE TABLE w AS SELECT name FROM t", &[], true, &flag(), None).unwrap();
    // Constraints that make SQLite create automatic indexes are part of CREATE TABLE
    // (issue 10: these were refused as "CREATE INDEX sqlite_autoindex_..."), including the
    // shape of the sample database's own order_items.
    for sql in [
        "CREATE TABLE kv (k TEXT PRIMARY KEY, v)",
        "CREATE TABLE pair (a, b, UNIQUE(a, b))",
        "CREATE TABLE composite (a, b, c, PRIMARY KEY (a, b))",
        "CREATE TABLE items (order_id INTEGER, line INTEGER, qty INTEGER, PRIMARY KEY (order_id, line)) WITHOUT ROWID",
        "CREATE TABLE \"odd name\" (x TEXT UNIQUE, y TEXT UNIQUE)",
    ] {
        session.write(sql, &[], true, &flag(), None).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    for sql in [
        "DROP TABLE t",
        "INSERT INTO t(name) VALUES ('x')",
        "SELECT 1",
        "CREATE INDEX i ON t(name)",
        "CREATE TEMP TABLE z(x)",
    ] {
        let err = session.write(sql, &[], true, &flag(), None).unwrap_err();
        assert!(
            err.to_string().contains("create_table") || err.to_string().contains("temporary"),
            "{sql}: {err}"
        );
    }
    let (_dir, mut read_only) = database(false);
    let err = read_only.write("CREATE TABLE u(x)", &[], true, &flag(), None).unwrap_err();
    assert!(matches!(err, Error::ReadOnly { .. }), "{err}");
}

#[test]
fn runaway_query_times_out_and_the_connection_stays_usable() {
    let (_dir, mut session) = database(false);
    session.limits.query_timeout = Duration::from_millis(200);
    let started = Instant::now();
    let err = session
        .read("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c", &[], 0, &flag())
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(session.read("SELECT 42", &[], 0, &flag()).unwrap().rows[0][0], Value::Integer(42));
}

#[test]
fn pages_resume_at_the_offset() {
    let (_dir, mut session) = database(false);
    session.limits.max_rows = 2;
    let sql =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 5) SELECT x FROM c";
    let first = session.read(sql, &[], 0, &flag()).unwrap();
    assert_eq!((first.rows.len(), first.truncated, first.next_offset), (2, true, Some(2)));
    let last = session.read(sql, &[], 4, &flag()).unwrap();
    assert_eq!((last.rows.clone(), last.truncated), (vec![vec![Value::Integer(5)]], false));
}

/// A database file replaced by something that is not a database: the next call says so, as a
/// reopen failure that keeps its cause, and nothing panics.
#[cfg(unix)]
#[test]
fn a_database_replaced_by_a_file_that_cannot_be_opened_is_a_reopen_error() {
    use std::error::Error as _;
    let (dir, mut session) = database(false);
    let other = dir.path().join("other");
    std::fs::write(&other, "not a database at all, just text that is long enough").unwrap();
    std::fs::rename(&other, dir.path().join("t.db")).unwrap();
    let err = session.read("SELECT 1", &[], 0, &flag()).unwrap_err();
    assert!(matches!(err, Error::Reopen { .. }), "{err}");
    assert!(err.source().is_some() && err.to_string().contains("replaced or removed"), "{err}");
}
