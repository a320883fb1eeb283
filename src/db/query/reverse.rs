//! Reversing a recorded SQL change: a changeset's inverse applied with triggers off (their rows
//! are in the changeset) and foreign keys checked after, every row not as the change left it
//! named by primary key (refused unless forced); a created table dropped while empty, and
//! created again when that is undone. Each is recorded through `Journaling` before it commits.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use rusqlite::config::DbConfig;
use rusqlite::fallible_streaming_iterator::FallibleStreamingIterator;
use rusqlite::session::{ChangesetItem, ChangesetIter, ConflictAction, ConflictType, invert_strm};

use crate::db::error::{Error, Result};
use crate::db::query::Session;
use crate::db::query::changes::{Captured, Journaling, Tables, quoted, start, take};
use crate::db::query::show::shown_value;

/// Rows a refusal names before it says how many more.
const NAMED_CONFLICTS: usize = 3;

impl Session {
    /// Reverses a recorded changeset: its inverse is applied with triggers off (their changes
    /// are in the changeset) and foreign keys checked after. Any row that is not what the
    /// change left refuses the undo, naming it, unless `force` (then rows changed since are
    /// replaced and rows gone skipped). A row that would break a constraint always refuses it.
    pub(crate) fn undo_rows(
        &mut self,
        changeset: &[u8],
        force: bool,
        cancel: &Arc<AtomicBool>,
        journal: Option<&mut dyn Journaling>,
    ) -> Result<String> {
        if !self.writable {
            return Err(Error::ReadOnly { db: self.name.clone() });
        }
        self.call(cancel, None, |s| {
            let mut inverse = Vec::new();
            invert_strm(&mut &changeset[..], &mut inverse).map_err(Error::sql)?;
            let (rows, tables) = s.check_tables(&inverse)?;
            let keys: bool = s
                .conn
                .query_row("PRAGMA foreign_keys", [], |row| row.get(0))
                .map_err(Error::sql)?;
            if keys {
                s.internal("PRAGMA foreign_keys = 0")?;
            }
            let triggers = s.conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, false);
            let result = triggers
                .map_err(Error::sql)
                .and_then(|_| s.apply_inverse(&inverse, force, keys, journal, rows, &tables));
            let _ = s.conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, true);
            if keys {
                let _ = s.internal("PRAGMA foreign_keys = 1");
            }
            result
        })
    }

    /// The row changes a changeset holds, and its tables; refused when a table is gone or has
    /// another number of columns now (SQLite would skip its changes silently).
    fn check_tables(&self, changeset: &[u8]) -> Result<(u64, Vec<String>)> {
        let mut input: &[u8] = changeset;
        let reader: &mut dyn std::io::Read = &mut input;
        let mut iter = ChangesetIter::start_strm(&reader).map_err(Error::sql)?;
        let mut tables: Vec<(String, i32)> = Vec::new();
        let mut rows = 0u64;
        while let Some(item) = iter.next().map_err(Error::sql)? {
            rows += 1;
            let op = item.op().map_err(Error::sql)?;
            if !tables.iter().any(|(t, _)| t == op.table_name()) {
                tables.push((op.table_name().to_owned(), op.number_of_columns()));
            }
        }
        for (table, columns) in &tables {
            let now: i32 = self
                .conn
                .query_row("SELECT count(*) FROM pragma_table_info(?1)", [table], |row| row.get(0))
                .map_err(Error::sql)?;
            if now != *columns {
                let what = if now == 0 { "was dropped" } else { "has other columns now" };
                return Err(Error::Refused {
                    what: format!(
                        "the change cannot be undone: table {table} {what} (the change left {columns} columns)"
                    ),
                });
            }
        }
        Ok((rows, tables.into_iter().map(|(t, _)| t).collect()))
    }

    /// `undo_rows` inside its savepoint.
    fn apply_inverse(
        &mut self,
        inverse: &[u8],
        force: bool,
        keys: bool,
        journal: Option<&mut dyn Journaling>,
        rows: u64,
        tables: &[String],
    ) -> Result<String> {
        self.internal("SAVEPOINT mcp_undo")?;
        let result = (|| {
            let seen = Tables::default();
            let max = journal.as_ref().map(|j| j.max_bytes());
            let mut recording = match max {
                Some(_) => Some(start(&self.conn, &seen).map_err(Error::sql)?),
                None => None,
            };
            let conflicts = Arc::new(Mutex::new(Conflicts::default()));
            let decide = Arc::clone(&conflicts);
            let applied = self.conn.apply_strm(
                &mut &inverse[..],
                None::<fn(&str) -> bool>,
                move |kind, item| {
                    decide.lock().unwrap_or_else(|e| e.into_inner()).decide(kind, item, force)
                },
            );
            let report = std::mem::take(&mut *conflicts.lock().unwrap_or_else(|e| e.into_inner()));
            if let Some(why) = report.refusal(force) {
                return Err(Error::Refused { what: why });
            }
            applied.map_err(|e| self.map_err(e))?;
            if keys {
                let broken: i64 = self
                    .conn
                    .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |row| {
                        row.get(0)
                    })
                    .map_err(Error::sql)?;
                if broken > 0 {
                    return Err(Error::Refused {
                        what: format!(
                            "the change cannot be undone: putting the rows back would leave {broken} row(s) whose foreign keys point nowhere"
                        ),
                    });
                }
            }
            let changeset = match (recording.as_mut(), max) {
                (Some(recording), Some(max)) => Some(take(recording, max)),
                _ => None,
            };
            drop(recording);
            let mut summary = format!(
                "reversed {rows} row change{} in {}",
                if rows == 1 { "" } else { "s" },
                tables.join(", ")
            );
            if report.replaced + report.skipped > 0 {
                summary.push_str(&format!(
                    " (forced: {} row(s) changed since replaced, {} row(s) gone since skipped)",
                    report.replaced, report.skipped
                ));
            }
            if let Some(journal) = journal {
                let mut captured = Captured {
                    db: self.name.clone(),
                    file: self.path.display().to_string(),
                    summary: summary.clone(),
                    ..Captured::default()
                };
                match changeset {
                    Some(Ok(bytes)) => captured.changeset = Some(bytes),
                    Some(Err(why)) => captured.not_undoable = Some(why),
                    None => {}
                }
                journal.before_commit(&captured).map_err(|what| Error::Refused { what })?;
            }
            Ok(summary)
        })();
        match result {
            Ok(summary) => {
                self.internal("RELEASE mcp_undo")?;
                Ok(summary)
            }
            Err(e) => {
                if !self.conn.is_autocommit() {
                    let _ = self.internal("ROLLBACK TO mcp_undo; RELEASE mcp_undo");
                }
                Err(e)
            }
        }
    }

    /// Undoes a `CREATE TABLE`: drops the table, refused unless it is still empty and nothing
    /// was built on it since (indexes, triggers).
    pub(crate) fn drop_created(
        &mut self,
        table: &str,
        cancel: &Arc<AtomicBool>,
        journal: Option<&mut dyn Journaling>,
    ) -> Result<String> {
        if !self.writable {
            return Err(Error::ReadOnly { db: self.name.clone() });
        }
        self.call(cancel, None, |s| {
            let refuse = |why: String| Err(Error::Refused { what: format!("the change cannot be undone: {why}") });
            let Some(create) = s.create_sql(table)? else {
                return refuse(format!("table {table} is not there any more"));
            };
            if s.has_rows(table)? {
                return refuse(format!(
                    "table {table} has rows now; dropping it would lose them (delete them first, each delete can be undone)"
                ));
            }
            let built: i64 = s
                .conn
                .query_row(
                    "SELECT count(*) FROM sqlite_schema WHERE tbl_name = ?1 AND type IN ('index', 'trigger') AND sql IS NOT NULL",
                    [table],
                    |row| row.get(0),
                )
                .map_err(Error::sql)?;
            if built > 0 {
                return refuse(format!(
                    "{built} index(es) or trigger(s) were made on table {table} since; drop them first"
                ));
            }
            let summary = format!("dropped the empty table {table}");
            let captured = Captured {
                db: s.name.clone(),
                file: s.path.display().to_string(),
                summary: summary.clone(),
                dropped: Some((table.to_owned(), create)),
                ..Captured::default()
            };
            s.schema_step(&format!("DROP TABLE {}", quoted(table)), &captured, journal)?;
            Ok(summary)
        })
    }

    /// Undoes a dropped table's undo (a redo of `CREATE TABLE`): creates it again from its
    /// recorded statement, refused when a table of that name is there.
    pub(crate) fn recreate(
        &mut self,
        table: &str,
        create: &str,
        cancel: &Arc<AtomicBool>,
        journal: Option<&mut dyn Journaling>,
    ) -> Result<String> {
        if !self.writable {
            return Err(Error::ReadOnly { db: self.name.clone() });
        }
        self.call(cancel, None, |s| {
            if s.create_sql(table)?.is_some() {
                return Err(Error::Refused {
                    what: format!("the change cannot be undone: a table {table} is there now"),
                });
            }
            let summary = format!("created the table {table} again");
            let captured = Captured {
                db: s.name.clone(),
                file: s.path.display().to_string(),
                summary: summary.clone(),
                created: Some((table.to_owned(), create.to_owned())),
                ..Captured::default()
            };
            s.schema_step(create, &captured, journal)?;
            Ok(summary)
        })
    }

    /// Runs the server's own schema statement in a savepoint, recorded before it commits.
    fn schema_step(
        &mut self,
        sql: &str,
        captured: &Captured,
        journal: Option<&mut dyn Journaling>,
    ) -> Result<()> {
        self.internal("SAVEPOINT mcp_undo")?;
        let result = self.internal(sql).and_then(|()| match journal {
            Some(journal) => {
                journal.before_commit(captured).map_err(|what| Error::Refused { what })
            }
            None => Ok(()),
        });
        match result {
            Ok(()) => self.internal("RELEASE mcp_undo"),
            Err(e) => {
                if !self.conn.is_autocommit() {
                    let _ = self.internal("ROLLBACK TO mcp_undo; RELEASE mcp_undo");
                }
                Err(e)
            }
        }
    }
}

/// The conflicts met while applying an inverse changeset.
#[derive(Default)]
struct Conflicts {
    /// Rows not as the change left them (changed, gone, or a row in the way).
    changed: u64,
    /// Rows that would break a constraint.
    broken: u64,
    named: Vec<String>,
    replaced: u64,
    skipped: u64,
}

impl Conflicts {
    fn decide(&mut self, kind: ConflictType, item: &ChangesetItem, force: bool) -> ConflictAction {
        use ConflictAction as Do;
        use ConflictType as Kind;
        let what = match kind {
            Kind::SQLITE_CHANGESET_DATA => "holds other values than the change left",
            Kind::SQLITE_CHANGESET_NOTFOUND => "is gone",
            Kind::SQLITE_CHANGESET_CONFLICT => {
                "is there again (a row with its key was added since)"
            }
            Kind::SQLITE_CHANGESET_CONSTRAINT => {
                "would break a constraint (NOT NULL, UNIQUE or CHECK)"
            }
            _ => "would break a foreign key",
        };
        if self.named.len() < NAMED_CONFLICTS {
            self.named.push(format!("{} {what}", row_of(item)));
        }
        match kind {
            Kind::SQLITE_CHANGESET_DATA | Kind::SQLITE_CHANGESET_CONFLICT if force => {
                self.replaced += 1;
                Do::SQLITE_CHANGESET_REPLACE
            }
            Kind::SQLITE_CHANGESET_NOTFOUND if force => {
                self.skipped += 1;
                Do::SQLITE_CHANGESET_OMIT
            }
            Kind::SQLITE_CHANGESET_DATA
            | Kind::SQLITE_CHANGESET_CONFLICT
            | Kind::SQLITE_CHANGESET_NOTFOUND => {
                self.changed += 1;
                Do::SQLITE_CHANGESET_OMIT
            }
            _ => {
                self.broken += 1;
                Do::SQLITE_CHANGESET_ABORT
            }
        }
    }

    /// Why the undo is refused, if it is.
    fn refusal(&self, force: bool) -> Option<String> {
        let named = self.named.join("; ");
        if self.broken > 0 {
            return Some(format!("the change cannot be undone, even with force: {named}"));
        }
        if self.changed > 0 && !force {
            return Some(format!(
                "{} row(s) changed since the change: {named}. Look at them first (read_query, or show_change for what the change did); undo_change with force: true puts the rows back anyway",
                self.changed
            ));
        }
        None
    }
}

/// "the row of t with id=3": a conflicting row by its primary key.
fn row_of(item: &ChangesetItem) -> String {
    let Ok(op) = item.op() else { return "a row".to_owned() };
    let table = op.table_name().to_owned();
    let n = usize::try_from(op.number_of_columns()).unwrap_or(0);
    let pk = item.pk().map(<[u8]>::to_vec).unwrap_or_default();
    let key = (0..n)
        .filter(|&i| pk.get(i).is_some_and(|&b| b != 0))
        .filter_map(|i| item.old_value(i).or_else(|_| item.new_value(i)).ok().map(shown_value))
        .collect::<Vec<_>>()
        .join(", ");
    format!("the row of {table} with primary key ({key})")
}
