//! What a write did, for the change journal. Row changes are recorded with SQLite's session
//! extension: a changeset of the statement (triggers' changes included), taken before its
//! savepoint is released (`reverse.rs` applies its inverse). A table the statement created is
//! noted with its `CREATE` statement. Nothing here knows the journal: it is reached through
//! `Journaling`, called before the commit, so a change is never committed without its record.
//! `Session::standing` tells whether a change whose server stopped while committing it is in.

use std::io::Write;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use rusqlite::config::DbConfig;
use rusqlite::session::{ConflictAction, Session as Recording, invert_strm};

use crate::db::error::{Error, Result};
use crate::db::query::Session;

/// Characters of the statement kept in a change's summary.
const SUMMARY_SQL_CHARS: usize = 120;

/// The change journal, as a write sees it.
pub(crate) trait Journaling: Send {
    /// The largest changeset the journal keeps, in bytes.
    fn max_bytes(&self) -> u64;
    /// Records what a write did, before it is committed; an error refuses the write (nothing
    /// is changed), with the error as the reason.
    fn before_commit(&mut self, change: &Captured) -> std::result::Result<(), String>;
}

/// What a write did, as the journal keeps it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Captured {
    /// The database's name and file.
    pub(crate) db: String,
    pub(crate) file: String,
    /// One line: the statement, or what an undo did.
    pub(crate) summary: String,
    /// The changeset of its row changes, when they were recorded.
    pub(crate) changeset: Option<Vec<u8>>,
    /// The table it created (name, `CREATE` statement), undone by dropping it.
    pub(crate) created: Option<(String, String)>,
    /// The table it dropped (name, `CREATE` statement), undone by creating it again.
    pub(crate) dropped: Option<(String, String)>,
    /// Why it cannot be undone, when it cannot.
    pub(crate) not_undoable: Option<String>,
}

/// Where a change stands in a database (see `Session::standing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standing {
    Made,
    NotMade,
    Neither,
}

/// The tables a recording saw changed, in order.
#[derive(Default, Clone)]
pub(crate) struct Tables(Arc<Mutex<Vec<String>>>);

impl Tables {
    fn names(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Starts recording every table's row changes on `conn`, noting each table changed.
pub(crate) fn start<'c>(conn: &'c Connection, tables: &Tables) -> rusqlite::Result<Recording<'c>> {
    let mut recording = Recording::new(conn)?;
    let seen = tables.clone();
    recording.table_filter(Some(move |table: &str| {
        let mut names = seen.0.lock().unwrap_or_else(|e| e.into_inner());
        if !names.iter().any(|t| t == table) {
            names.push(table.to_owned());
        }
        true
    }));
    recording.attach::<&str>(None)?;
    Ok(recording)
}

/// A writer that refuses to grow past `max` bytes.
struct Bounded {
    bytes: Vec<u8>,
    max: u64,
}

impl Write for Bounded {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if (self.bytes.len() + data.len()) as u64 > self.max {
            return Err(std::io::Error::other("over the bound"));
        }
        self.bytes.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The recorded changeset, or why there is none.
pub(crate) fn take(
    recording: &mut Recording<'_>,
    max: u64,
) -> std::result::Result<Vec<u8>, String> {
    let mut out = Bounded { bytes: Vec::new(), max };
    match recording.changeset_strm(&mut out) {
        Ok(()) => Ok(out.bytes),
        Err(_) if out.bytes.len() as u64 + 65536 > max => Err(format!(
            "its row changes are over the journal's bound (--history-max-file, {max} bytes)"
        )),
        Err(e) => Err(format!("its row changes could not be recorded ({e})")),
    }
}

/// A name as an SQL identifier.
pub(super) fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// One line of SQL for a summary.
fn shortened(sql: &str) -> String {
    let line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(SUMMARY_SQL_CHARS) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

impl Session {
    /// A table's `CREATE` statement, if the table exists.
    pub(super) fn create_sql(&self, table: &str) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        self.conn
            .query_row(
                "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                [table],
                |row| row.get(0),
            )
            .optional()
            .map_err(Error::sql)
    }

    /// Whether a table holds any row.
    pub(super) fn has_rows(&self, table: &str) -> Result<bool> {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {})", quoted(table));
        self.conn.query_row(&sql, [], |row| row.get(0)).map_err(Error::sql)
    }

    /// Why the row changes of `table` cannot be reversed from a changeset, if they cannot.
    fn unrecordable(&self, table: &str) -> Result<Option<String>> {
        let kind: Option<String> = self
            .conn
            .query_row("SELECT type FROM pragma_table_list WHERE name = ?1", [table], |row| {
                row.get(0)
            })
            .ok();
        if matches!(kind.as_deref(), Some("shadow" | "virtual")) {
            return Ok(Some(format!(
                "it changed {table}, the storage of a virtual table (full-text or R*Tree index), which cannot be put back row by row"
            )));
        }
        let keys: i64 = self
            .conn
            .query_row("SELECT count(*) FROM pragma_table_info(?1) WHERE pk > 0", [table], |row| {
                row.get(0)
            })
            .map_err(Error::sql)?;
        Ok((keys == 0).then(|| {
            format!(
                "table {table} has no PRIMARY KEY, and SQLite records row changes by primary key"
            )
        }))
    }

    /// What a write just did (still uncommitted), for the journal.
    pub(super) fn captured(
        &self,
        sql: &str,
        changes: u64,
        changeset: Option<std::result::Result<Vec<u8>, String>>,
        tables: &Tables,
    ) -> Result<Captured> {
        let (created, schema_change) = {
            let auth = self.auth_state();
            (auth.created_tables.first().cloned(), auth.schema_change.clone())
        };
        let mut reasons = Vec::new();
        if let Some(what) = schema_change {
            reasons.push(format!(
                "{what} changes the schema, and only CREATE TABLE and row changes are recorded"
            ));
        }
        let created = match created {
            Some(table) => match self.create_sql(&table)? {
                Some(create) => {
                    if self.has_rows(&table)? {
                        reasons.push(format!(
                            "it filled the table {table} it created; undo drops a created table only while it is empty"
                        ));
                    }
                    Some((table, create))
                }
                None => None,
            },
            None => None,
        };
        let changeset = match changeset {
            Some(Ok(bytes)) => Some(bytes),
            Some(Err(why)) => {
                reasons.push(why);
                None
            }
            None => {
                reasons.push("its row changes were too many to record within SQLite's memory bound (the statement ran unrecorded)".to_owned());
                None
            }
        };
        for table in tables.names() {
            if table.starts_with("sqlite_") || created.as_ref().is_some_and(|(t, _)| *t == table) {
                continue;
            }
            if let Some(why) = self.unrecordable(&table)? {
                reasons.push(why);
            }
        }
        let rows = if changes == 1 { "1 row" } else { "rows" };
        let summary = match changes {
            0 => shortened(sql),
            n => format!("{} ({n} {rows} changed)", shortened(sql)).replace("(1 1 row", "(1 row"),
        };
        Ok(Captured {
            db: self.name.clone(),
            file: self.path.display().to_string(),
            summary,
            changeset,
            created,
            dropped: None,
            not_undoable: (!reasons.is_empty()).then(|| reasons.join("; ")),
        })
    }

    /// Where a recorded change whose server stopped while committing it stands: its inverse
    /// applies without a conflict when it is made, the changeset itself when it is not. Both
    /// are tried inside a savepoint that is always rolled back.
    pub(crate) fn standing(&mut self, changeset: &[u8]) -> Result<Standing> {
        let cancel = crate::db::cancel_flag();
        self.call(&cancel, None, |s| {
            let mut inverse = Vec::new();
            invert_strm(&mut &changeset[..], &mut inverse).map_err(Error::sql)?;
            s.conn
                .set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, false)
                .map_err(Error::sql)?;
            let conflicts = |s: &mut Session, bytes: &[u8]| -> Result<u64> {
                s.internal("SAVEPOINT mcp_check")?;
                let count = Arc::new(Mutex::new(0u64));
                let seen = Arc::clone(&count);
                let applied =
                    s.conn.apply_strm(&mut &bytes[..], None::<fn(&str) -> bool>, move |_, _| {
                        *seen.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                        ConflictAction::SQLITE_CHANGESET_OMIT
                    });
                let _ = s.internal("ROLLBACK TO mcp_check; RELEASE mcp_check");
                applied.map_err(Error::sql)?;
                Ok(*count.lock().unwrap_or_else(|e| e.into_inner()))
            };
            let result = (|| {
                if conflicts(s, &inverse)? == 0 {
                    return Ok(Standing::Made);
                }
                if conflicts(s, changeset)? == 0 {
                    return Ok(Standing::NotMade);
                }
                Ok(Standing::Neither)
            })();
            let _ = s.conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, true);
            result
        })
    }

    /// Whether a table of that name is in the database.
    pub(crate) fn has_table(&mut self, table: &str) -> Result<bool> {
        let cancel = crate::db::cancel_flag();
        self.call(&cancel, None, |s| Ok(s.create_sql(table)?.is_some()))
    }
}
