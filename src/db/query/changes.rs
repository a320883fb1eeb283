//! What a write did, for the change journal. Row changes are recorded with SQLite's session
//! extension: a changeset of the statement (triggers' changes included), taken before its
//! savepoint is released (`reverse.rs` applies its inverse). A table the statement created is
//! noted with its `CREATE` statement. Nothing here knows the journal: it is reached through
//! `Journaling`, called before the commit, so a change is never committed without its record.
//! `Session::standing` tells whether a change whose server stopped while committing it is in.

use std::io::Write;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
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
    over: bool,
}

impl Write for Bounded {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if (self.bytes.len() + data.len()) as u64 > self.max {
            self.over = true;
            return Err(std::io::Error::other("over the bound"));
        }
        self.bytes.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The recorded changeset, or why there is none. An interrupt (deadline, cancel) while it is
/// written is the statement's error: the write is not committed unrecorded.
pub(crate) fn take(
    recording: &mut Recording<'_>,
    max: u64,
) -> rusqlite::Result<std::result::Result<Vec<u8>, String>> {
    let mut out = Bounded { bytes: Vec::new(), max, over: false };
    match recording.changeset_strm(&mut out) {
        Ok(()) => Ok(Ok(out.bytes)),
        Err(_) if out.over => Ok(Err(format!(
            "its row changes are over the journal's bound (--history-max-file, {max} bytes)"
        ))),
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted) => {
            Err(e)
        }
        Err(e) => Ok(Err(format!("its row changes could not be recorded ({e})"))),
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

    /// A record of this database's with `summary` and nothing else yet.
    pub(super) fn captured_as(&self, summary: &str) -> Captured {
        Captured {
            db: self.name.clone(),
            file: self.path.display().to_string(),
            summary: summary.to_owned(),
            ..Captured::default()
        }
    }

    /// Refused on a database opened read-only.
    pub(super) fn check_writable(&self) -> Result<()> {
        match self.writable {
            true => Ok(()),
            false => Err(Error::ReadOnly { db: self.name.clone() }),
        }
    }

    /// The schema's version, which every schema change bumps.
    pub(super) fn schema_version(&self) -> Result<i64> {
        self.conn.query_row("PRAGMA schema_version", [], |row| row.get(0)).map_err(Error::sql)
    }

    /// Whether a table holds any row.
    pub(super) fn has_rows(&self, table: &str) -> Result<bool> {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {})", quoted(table));
        self.conn.query_row(&sql, [], |row| row.get(0)).map_err(Error::sql)
    }

    /// Why the row changes of `table` cannot be reversed from a changeset, if they cannot; and
    /// whether its primary key admits NULL (a rowid table's key other than `INTEGER PRIMARY
    /// KEY`, not declared NOT NULL), whose rows the session extension skips when it is NULL.
    fn unrecordable(&self, table: &str) -> Result<(Option<String>, bool)> {
        let kind: Option<(String, bool)> = self
            .conn
            .query_row("SELECT type, wr FROM pragma_table_list WHERE name = ?1", [table], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .ok();
        if matches!(kind.as_ref().map(|(k, _)| k.as_str()), Some("shadow" | "virtual")) {
            return Ok((
                Some(format!(
                    "it changed {table}, the storage of a virtual table (full-text or R*Tree index), which cannot be put back row by row"
                )),
                false,
            ));
        }
        let without_rowid = kind.is_some_and(|(_, wr)| wr);
        let mut stmt = self
            .conn
            .prepare("SELECT name, type, \"notnull\" FROM pragma_table_info(?1) WHERE pk > 0")
            .map_err(Error::sql)?;
        let keys: Vec<(String, String, bool)> = stmt
            .query_map([table], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .and_then(|rows| rows.collect())
            .map_err(Error::sql)?;
        if keys.is_empty() {
            return Ok((
                Some(format!(
                    "table {table} has no PRIMARY KEY, and SQLite records row changes by primary key"
                )),
                false,
            ));
        }
        let rowid_alias = keys.len() == 1 && keys[0].1.eq_ignore_ascii_case("INTEGER");
        let nullable: Vec<&String> = keys
            .iter()
            .filter(|(_, _, not_null)| !not_null && !without_rowid && !rowid_alias)
            .map(|(name, _, _)| name)
            .collect();
        if nullable.is_empty() {
            return Ok((None, false));
        }
        let test = nullable.iter().map(|c| format!("{} IS NULL", quoted(c))).collect::<Vec<_>>();
        let sql =
            format!("SELECT EXISTS (SELECT 1 FROM {} WHERE {})", quoted(table), test.join(" OR "));
        let has_null: bool = self.conn.query_row(&sql, [], |row| row.get(0)).map_err(Error::sql)?;
        Ok((has_null.then(|| format!(
            "table {table} has rows whose PRIMARY KEY is NULL, which SQLite's session extension does not record"
        )), true))
    }

    /// The row changes of a changeset made by the statement itself (not by its triggers).
    fn direct_changes(changeset: &[u8]) -> Result<u64> {
        use rusqlite::fallible_streaming_iterator::FallibleStreamingIterator;
        let mut input: &[u8] = changeset;
        let reader: &mut dyn std::io::Read = &mut input;
        let mut iter = rusqlite::session::ChangesetIter::start_strm(&reader).map_err(Error::sql)?;
        let mut direct = 0;
        while let Some(item) = iter.next().map_err(Error::sql)? {
            direct += u64::from(!item.op().map_err(Error::sql)?.indirect());
        }
        Ok(direct)
    }

    /// What a write just did (still uncommitted), for the journal.
    pub(super) fn captured(
        &self,
        sql: &str,
        changes: u64,
        changeset: Option<std::result::Result<Vec<u8>, String>>,
        tables: &Tables,
        schema_before: i64,
    ) -> Result<Captured> {
        let (created, schema_change, internal_write) = {
            let auth = self.auth_state();
            let created = auth.created_tables.first().cloned();
            (created, auth.schema_change.clone(), auth.internal_write.clone())
        };
        let mut reasons = Vec::new();
        if let Some(what) = schema_change {
            reasons.push(format!(
                "{what} changes the schema, and only CREATE TABLE and row changes are recorded"
            ));
        }
        // `CREATE TABLE IF NOT EXISTS` over a table that is there creates nothing.
        let created = match created {
            Some(table) if self.schema_version()? != schema_before => {
                self.create_sql(&table)?.map(|create| (table, create))
            }
            _ => None,
        };
        if let Some((table, _)) = &created
            && self.has_rows(table)?
        {
            reasons.push(format!(
                "it filled the table {table} it created; undo drops a created table only while it is empty"
            ));
        }
        if let Some(table) = internal_write {
            reasons.push(format!("it changed {table}, SQLite's own table, which is not recorded"));
        }
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
        let mut nullable_keys = false;
        for table in tables.names() {
            if table.starts_with("sqlite_") || created.as_ref().is_some_and(|(t, _)| *t == table) {
                continue;
            }
            let (why, nullable) = self.unrecordable(&table)?;
            reasons.extend(why);
            nullable_keys |= nullable;
        }
        // A row whose key was NULL before the statement leaves no trace in the changeset.
        if nullable_keys
            && let Some(bytes) = &changeset
            && Self::direct_changes(bytes)? < changes
        {
            reasons.push(format!(
                "{} of the {changes} rows it changed were not recorded (a PRIMARY KEY that allows NULL)",
                changes - Self::direct_changes(bytes)?
            ));
        }
        let summary = match changes {
            0 => shortened(sql),
            1 => format!("{} (1 row changed)", shortened(sql)),
            n => format!("{} ({n} rows changed)", shortened(sql)),
        };
        Ok(Captured {
            changeset,
            created,
            not_undoable: (!reasons.is_empty()).then(|| reasons.join("; ")),
            ..self.captured_as(&summary)
        })
    }

    /// Where a recorded change whose server stopped while committing it stands: its inverse
    /// applies without a conflict when it is made, the changeset itself when it is not. Both
    /// are tried inside a savepoint that is always rolled back.
    pub(crate) fn standing(&mut self, changeset: &[u8]) -> Result<Standing> {
        let cancel = crate::db::cancel_flag();
        self.call(&cancel, None, |s| {
            // An empty changeset, or one whose tables changed since, tells nothing.
            if changeset.is_empty() || s.check_tables(changeset).is_err() {
                return Ok(Standing::Neither);
            }
            let mut inverse = Vec::new();
            invert_strm(&mut &changeset[..], &mut inverse).map_err(Error::sql)?;
            s.switch_off()?;
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
            if conflicts(s, &inverse)? == 0 {
                return Ok(Standing::Made);
            }
            if conflicts(s, changeset)? == 0 {
                return Ok(Standing::NotMade);
            }
            Ok(Standing::Neither)
        })
    }

    /// Whether a table of that name is in the database.
    pub(crate) fn has_table(&mut self, table: &str) -> Result<bool> {
        let cancel = crate::db::cancel_flag();
        self.call(&cancel, None, |s| Ok(s.create_sql(table)?.is_some()))
    }
}
