//! Undo for SQL against the real binary: every kind of write (INSERT, UPDATE and DELETE, with
//! and without WHERE, and the rows a trigger wrote) undone with every row back and redone; a
//! row changed or deleted since refuses the undo, naming it, then force puts the rows back;
//! CREATE TABLE undone by dropping the table only while it is empty; other schema changes,
//! tables without a primary key, virtual tables and changesets over the bound reported as not
//! undoable in the write's own result; a server killed before and after the commit.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde_json::{Value, json};

use crate::support::{TestServer, text};

const SHOP: &str = "
    CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, qty INTEGER, note BLOB);
    CREATE TABLE audit(n INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT);
    CREATE TRIGGER items_audit AFTER UPDATE ON items BEGIN
        INSERT INTO audit(what) VALUES ('updated ' || new.name);
    END;
    CREATE TABLE plain(a, b);
    CREATE VIRTUAL TABLE docs USING fts5(body);
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
        INSERT INTO items(name, qty, note) SELECT 'item ' || i, i * 10, zeroblob(i % 3) FROM n;
    INSERT INTO plain VALUES (1, 'one');
";

/// A server over `NAME.db` (writable), made with `sql`, keeping its journal in `history`, with
/// `extra` arguments and environment.
fn db_server(
    name: &'static str,
    sql: &'static str,
    history: &Path,
    extra: &[&str],
    env: Option<(&str, &str)>,
) -> (TestServer, PathBuf) {
    let mut args = vec!["--history".to_owned(), history.display().to_string()];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let mut builder = TestServer::builder().empty().setup_args(move |base, _| {
        let db = base.join(format!("{name}.db"));
        Connection::open(&db).unwrap().execute_batch(sql).unwrap();
        args.extend(["--db-rw".to_owned(), format!("{name}={}", db.display())]);
        args
    });
    if let Some((key, value)) = env {
        builder = builder.env(key, value);
    }
    let server = builder.start();
    let db = server.base.path().join(format!("{name}.db"));
    (server, db)
}

/// A server over `shop.db`, made with `SHOP`.
fn shop_server(history: &Path, env: Option<(&str, &str)>) -> (TestServer, PathBuf) {
    db_server("shop", SHOP, history, &[], env)
}

/// Runs `work` on its own connection to `db`, again while the server's connection holds a lock
/// (under Wine a lock conflict can come back as a disk I/O error rather than busy).
fn on_db<T>(db: &Path, work: impl Fn(&Connection) -> rusqlite::Result<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let result = Connection::open(db).and_then(|conn| work(&conn));
        match result {
            Ok(value) => return value,
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy
                        | rusqlite::ErrorCode::DatabaseLocked
                        | rusqlite::ErrorCode::SystemIoFailure
                ) && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("reading {}: {e}", db.display()),
        }
    }
}

/// Every row of the tables that matter, as text, in key order.
fn rows(db: &Path) -> Vec<String> {
    on_db(db, |conn| {
        let mut out = Vec::new();
        for table in ["items", "audit", "plain"] {
            out.extend(table_rows(conn, table)?.into_iter().map(|r| format!("{table}: {r}")));
        }
        Ok(out)
    })
}

/// The rows of `table`, each as text, in key order.
fn table_rows(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("SELECT * FROM {table} ORDER BY 1"))?;
    let n = stmt.column_count();
    let mut query = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = query.next()? {
        let cells = (0..n)
            .map(|i| row.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}")))
            .collect::<rusqlite::Result<Vec<String>>>()?;
        out.push(cells.join(", "));
    }
    Ok(out)
}

/// The change a write reports, which must be undoable.
fn change_id(result: &Value) -> i64 {
    let change = &result["structuredContent"]["change"];
    assert_eq!(change["undoable"], json!(true), "{result}");
    change["id"].as_i64().unwrap_or_else(|| panic!("no change id in {result}"))
}

/// Why a write's change cannot be undone (it must say it cannot).
fn not_undoable(result: &Value) -> String {
    let change = &result["structuredContent"]["change"];
    assert_eq!(change["undoable"], json!(false), "{result}");
    assert!(text(result).contains("cannot be undone"), "{result}");
    change["reason"].as_str().unwrap().to_owned()
}

fn write(server: &mut TestServer, query: &str) -> Value {
    server.call_ok("write_query", json!({ "query": query }))
}

#[test]
fn every_sql_write_is_undone_with_every_row_back_and_redone() {
    let history = tempfile::tempdir().unwrap();
    let (mut server, db) = shop_server(history.path(), None);
    for query in [
        "INSERT INTO items(name, qty) VALUES ('new', 1)",
        "INSERT INTO items(name, qty) SELECT name || ' copy', qty FROM items WHERE id <= 10",
        "UPDATE items SET qty = qty + 1, note = x'00ff' WHERE id % 7 = 0",
        "UPDATE items SET qty = NULL",
        "DELETE FROM items WHERE qty > 200",
        "DELETE FROM items",
    ] {
        let before = rows(&db);
        let id = change_id(&write(&mut server, query));
        let after = rows(&db);
        assert_ne!(before, after, "{query} changed nothing");
        let undone = server.call_ok("undo_change", json!({ "id": id }));
        assert_eq!(rows(&db), before, "undoing {query}: {undone}");
        let redo = change_id(&undone);
        let redone = server.call_ok("undo_change", json!({ "id": redo }));
        assert_eq!(rows(&db), after, "redoing {query}: {redone}");
        // Back to the start for the next statement, through the undo of the redo.
        server.call_ok("undo_change", json!({ "id": change_id(&redone) }));
        assert_eq!(rows(&db), before, "undoing the redo of {query}");
    }
    // The trigger's rows came and went with the UPDATE, and the undo fired no trigger.
    let audit = rows(&db).into_iter().filter(|r| r.starts_with("audit")).count();
    assert_eq!(audit, 0, "{:?}", rows(&db));
}

#[test]
fn a_row_changed_or_deleted_since_refuses_the_undo_then_force_puts_the_rows_back() {
    let history = tempfile::tempdir().unwrap();
    let (mut server, db) = shop_server(history.path(), None);
    let before = rows(&db);
    let id = change_id(&write(&mut server, "UPDATE items SET name = 'renamed' WHERE id = 3"));
    write(&mut server, "UPDATE items SET name = 'again' WHERE id = 3");
    let now = rows(&db);
    let refused = server.call_err("undo_change", json!({ "id": id }));
    assert!(refused.contains("changed since"), "{refused}");
    assert!(refused.contains("items with primary key (3)"), "{refused}");
    assert!(refused.contains("force"), "{refused}");
    assert_eq!(rows(&db), now, "a refused undo changed rows");
    let forced = server.call_ok("undo_change", json!({ "id": id, "force": true }));
    assert!(text(&forced).contains("forced"), "{forced}");
    let name: String =
        on_db(&db, |conn| conn.query_row("SELECT name FROM items WHERE id = 3", [], |r| r.get(0)));
    assert_eq!(name, "item 3");
    // A row inserted, then deleted by another statement: its undo finds it gone.
    let id = change_id(&write(&mut server, "INSERT INTO items(id, name) VALUES (100, 'x')"));
    write(&mut server, "DELETE FROM items WHERE id = 100");
    let refused = server.call_err("undo_change", json!({ "id": id }));
    assert!(refused.contains("(100) is gone"), "{refused}");
    server.call_ok("undo_change", json!({ "id": id, "force": true }));
    // A deleted row whose key was taken again since: refused, then replaced.
    let id = change_id(&write(&mut server, "DELETE FROM items WHERE id = 5"));
    write(&mut server, "INSERT INTO items(id, name) VALUES (5, 'usurper')");
    let refused = server.call_err("undo_change", json!({ "id": id }));
    assert!(refused.contains("(5) is there again"), "{refused}");
    server.call_ok("undo_change", json!({ "id": id, "force": true }));
    let restored: Vec<String> = rows(&db).into_iter().filter(|r| r.starts_with("items")).collect();
    let expected: Vec<String> = before.into_iter().filter(|r| r.starts_with("items")).collect();
    assert_eq!(restored, expected);
}

#[test]
fn create_table_is_undone_by_dropping_it_while_empty_and_other_schema_changes_are_not_undoable() {
    let history = tempfile::tempdir().unwrap();
    let (mut server, db) = shop_server(history.path(), None);
    let tables = || -> Vec<String> {
        on_db(&db, |conn| {
            let sql =
                "SELECT name || ': ' || sql FROM sqlite_schema WHERE type = 'table' ORDER BY name";
            let mut stmt = conn.prepare(sql)?;
            stmt.query_map([], |r| r.get(0))?.collect()
        })
    };
    let before = tables();
    let made = server.call_ok(
        "create_table",
        json!({ "query": "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT UNIQUE)" }),
    );
    let after = tables();
    let undone = server.call_ok("undo_change", json!({ "id": change_id(&made) }));
    assert_eq!(tables(), before, "{undone}");
    server.call_ok("undo_change", json!({ "id": change_id(&undone) }));
    assert_eq!(tables(), after, "the redo makes the same table");
    // Rows added since: the table is not dropped, even with force.
    let listed = server.call_ok("list_changes", json!({ "db": "shop", "limit": 1 }));
    let redo = listed["structuredContent"]["changes"][0]["id"].as_i64().unwrap();
    write(&mut server, "INSERT INTO notes(body) VALUES ('keep me')");
    for force in [false, true] {
        let refused = server.call_err("undo_change", json!({ "id": redo, "force": force }));
        assert!(refused.contains("has rows now"), "{refused}");
    }
    assert_eq!(tables(), after);
    // What cannot be undone says so, and why, in the write's own result.
    let index = not_undoable(&write(&mut server, "CREATE INDEX by_qty ON items(qty)"));
    assert!(index.contains("CREATE INDEX by_qty"), "{index}");
    let plain = not_undoable(&write(&mut server, "INSERT INTO plain VALUES (2, 'two')"));
    assert!(plain.contains("no PRIMARY KEY"), "{plain}");
    let docs = not_undoable(&write(&mut server, "INSERT INTO docs(body) VALUES ('hello')"));
    assert!(docs.contains("virtual table"), "{docs}");
    let filled = not_undoable(&write(&mut server, "CREATE TABLE copy AS SELECT * FROM items"));
    assert!(filled.contains("filled the table copy"), "{filled}");
    // And the undo refuses them, changing nothing.
    let listed = server.call_ok("list_changes", json!({ "db": "shop" }));
    let changes = listed["structuredContent"]["changes"].as_array().unwrap().clone();
    let state = rows(&db);
    for change in changes.iter().take(4) {
        assert_eq!(change["undoable"], json!(false), "{change}");
        let refused = server.call_err("undo_change", json!({ "id": change["id"], "force": true }));
        assert!(refused.contains("cannot be undone"), "{refused}");
    }
    assert_eq!(rows(&db), state);
}

#[test]
fn list_changes_filters_by_database_and_show_change_shows_the_rows() {
    let history = tempfile::tempdir().unwrap();
    let (mut server, db) = shop_server(history.path(), None);
    server.call_ok("write_file", json!({ "path": "a.txt", "content": "a\n" }));
    let id = change_id(&write(&mut server, "UPDATE items SET name = 'first' WHERE id = 1"));
    let listed = server.call_ok("list_changes", json!({ "db": "shop" }));
    let changes = listed["structuredContent"]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{listed}");
    assert_eq!(changes[0]["target"], "sqlite://shop");
    assert!(changes[0]["summary"].as_str().unwrap().contains("UPDATE items"), "{listed}");
    let all = server.call_ok("list_changes", json!({}));
    assert_eq!(all["structuredContent"]["changes"].as_array().unwrap().len(), 2, "{all}");
    let shown = server.call_ok("show_change", json!({ "id": id }));
    let details = shown["structuredContent"]["details"].as_str().unwrap();
    assert!(details.contains("~ items (id=1): name 'item 1' → 'first'"), "{details}");
    assert!(details.contains("+ audit: n=1, what='updated first'"), "{details}");
    let refused = server.call_err("list_changes", json!({ "db": "nope" }));
    assert!(refused.contains("nope"), "{refused}");
    let refused = server.call_err("list_changes", json!({ "db": "shop", "path": "a.txt" }));
    assert!(refused.contains("not both"), "{refused}");
    // A server sharing the journal that serves the database read-only sees the change, and its
    // undo is refused as a write to a read-only database, changing nothing.
    let db_arg = format!("shop={}", db.display());
    let mut reader = TestServer::builder()
        .empty()
        .args(["--db".to_owned(), db_arg, "--history".to_owned()])
        .args([history.path().display().to_string()])
        .start();
    let before = rows(&db);
    let refused = reader.call_err("undo_change", json!({ "id": id }));
    assert!(refused.contains("read-only"), "{refused}");
    assert_eq!(rows(&db), before);
    // Capped: a change of many rows shows a page and says how many more.
    let id = change_id(&write(&mut server, "DELETE FROM items"));
    let shown = server.call_ok("show_change", json!({ "id": id }));
    let details = shown["structuredContent"]["details"].as_str().unwrap();
    assert!(details.contains("- items: id=2, name='item 2'"), "{details}");
    assert!(details.lines().count() < 60, "{details}");
}

#[test]
fn a_changeset_over_history_max_file_is_reported_not_undoable() {
    let history = tempfile::tempdir().unwrap();
    let (mut server, _) =
        db_server("shop", SHOP, history.path(), &["--history-max-file", "1KiB"], None);
    change_id(&write(&mut server, "UPDATE items SET qty = 1 WHERE id = 1"));
    let reason = not_undoable(&write(&mut server, "UPDATE items SET name = name || ' (old)'"));
    assert!(reason.contains("--history-max-file"), "{reason}");
}

#[test]
fn a_server_killed_before_or_after_the_commit_leaves_journal_and_database_agreeing() {
    for (point, made) in [("after-record", false), ("after-change", true)] {
        let history = tempfile::tempdir().unwrap();
        let (mut server, db) =
            shop_server(history.path(), Some(("MCP_FILES_SQLITE_CRASH_AT", point)));
        let before = rows(&db);
        server.send_request(
            "tools/call",
            json!({"name": "write_query", "arguments": {"query": "DELETE FROM items WHERE id < 10"}}),
        );
        server.wait_exit();
        assert_eq!(rows(&db) != before, made, "{point}: the change made or not");
        let db_arg = format!("shop={}", db.display());
        let mut again = TestServer::builder()
            .empty()
            .args(["--db-rw".to_owned(), db_arg, "--history".to_owned()])
            .args([history.path().display().to_string()])
            .start();
        let listed = again.call_ok("list_changes", json!({}));
        let changes = listed["structuredContent"]["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 1, "{point}: {listed}");
        let entry = &changes[0];
        if made {
            assert_eq!(entry["state"], "done", "{listed}");
            again.call_ok("undo_change", json!({"id": entry["id"]}));
        } else {
            assert_eq!(entry["state"], "incomplete", "{listed}");
            assert!(entry["reason"].as_str().unwrap().contains("nothing was changed"), "{listed}");
            let refused = again.call_err("undo_change", json!({"id": entry["id"]}));
            assert!(refused.contains("cannot be undone"), "{refused}");
        }
        assert_eq!(rows(&db), before, "{point}");
        drop(server);
    }
}

const KEYS: &str = "
    CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT);
    CREATE TABLE child(id INTEGER PRIMARY KEY,
        parent INTEGER REFERENCES parent(id) ON DELETE CASCADE);
    CREATE TABLE tags(name TEXT PRIMARY KEY, n INTEGER);
    CREATE TABLE swap(a INTEGER PRIMARY KEY, b TEXT);
    INSERT INTO parent VALUES (1, 'one'), (2, 'two');
    INSERT INTO child VALUES (10, 1), (11, 1), (20, 2);
    INSERT INTO tags VALUES ('x', 1);
    INSERT INTO swap VALUES (1, 'a');
";

fn dump(db: &Path, table: &str) -> Vec<String> {
    on_db(db, |conn| table_rows(conn, table))
}

#[test]
fn foreign_keys_cascades_null_keys_and_replaced_tables_are_undone_or_refused_never_half_done() {
    let history = tempfile::tempdir().unwrap();
    let (mut server, db) = db_server("keys", KEYS, history.path(), &[], None);
    // A cascading delete is undone with its children, and foreign keys still hold after.
    let (parents, children) = (dump(&db, "parent"), dump(&db, "child"));
    let id = change_id(&write(&mut server, "DELETE FROM parent WHERE id = 1"));
    assert_eq!(dump(&db, "child").len(), 1, "the cascade ran");
    server.call_ok("undo_change", json!({ "id": id }));
    assert_eq!((dump(&db, "parent"), dump(&db, "child")), (parents.clone(), children.clone()));
    let refused =
        server.call_err("write_query", json!({ "query": "INSERT INTO child VALUES (99, 7)" }));
    assert!(refused.contains("FOREIGN KEY"), "foreign keys are off after an undo: {refused}");
    // An undo that would leave a child pointing nowhere is refused, even with force.
    let id = change_id(&write(&mut server, "INSERT INTO parent VALUES (3, 'three')"));
    write(&mut server, "INSERT INTO child VALUES (30, 3)");
    for force in [false, true] {
        let refused = server.call_err("undo_change", json!({ "id": id, "force": force }));
        assert!(refused.contains("foreign keys point nowhere"), "{refused}");
    }
    assert_eq!(dump(&db, "parent").len(), 3);
    // A key that is NULL is not recorded: said so, never claimed undoable.
    let null = not_undoable(&write(&mut server, "INSERT INTO tags VALUES (NULL, 2)"));
    assert!(null.contains("NULL"), "{null}");
    let null = not_undoable(&write(&mut server, "UPDATE tags SET name = NULL WHERE name = 'x'"));
    assert!(null.contains("NULL"), "{null}");
    let null = not_undoable(&write(&mut server, "DELETE FROM tags"));
    assert!(null.contains("NULL"), "{null}");
    // A table replaced by another of the same columns but another key: the undo is refused.
    let id = change_id(&write(&mut server, "UPDATE swap SET b = 'b' WHERE a = 1"));
    on_db(&db, |conn| {
        conn.execute_batch(
            "BEGIN IMMEDIATE; DROP TABLE swap; CREATE TABLE swap(a INTEGER, b TEXT PRIMARY KEY); COMMIT;",
        )
    });
    let refused = server.call_err("undo_change", json!({ "id": id, "force": true }));
    assert!(refused.contains("another primary key"), "{refused}");
    // CREATE TABLE IF NOT EXISTS over a table that is there created nothing: nothing to undo.
    let before = dump(&db, "swap");
    let none = write(&mut server, "CREATE TABLE IF NOT EXISTS swap(x)");
    assert!(none["structuredContent"].get("change").is_none(), "{none}");
    assert_eq!(dump(&db, "swap"), before);
    // A created table dropped and made again differently since is not dropped by the undo.
    let made = server
        .call_ok("create_table", json!({ "query": "CREATE TABLE fresh(id INTEGER PRIMARY KEY)" }));
    on_db(&db, |conn| {
        conn.execute_batch(
            "BEGIN IMMEDIATE; DROP TABLE fresh; CREATE TABLE fresh(other TEXT); COMMIT;",
        )
    });
    let refused = server.call_err("undo_change", json!({ "id": change_id(&made), "force": true }));
    assert!(refused.contains("not the one the change created"), "{refused}");
    // A write that changed nothing makes no entry; an undo done twice is refused the second time.
    let nothing = write(&mut server, "UPDATE parent SET name = 'none' WHERE id = 999");
    assert!(nothing["structuredContent"].get("change").is_none(), "{nothing}");
    let id = change_id(&write(&mut server, "UPDATE parent SET name = 'uno' WHERE id = 1"));
    server.call_ok("undo_change", json!({ "id": id }));
    let again = server.call_err("undo_change", json!({ "id": id }));
    assert!(again.contains("changed since"), "{again}");
}
