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
        self.check_writable()?;
        self.call(cancel, None, |s| {
            let mut inverse = Vec::new();
            invert_strm(&mut &changeset[..], &mut inverse).map_err(Error::sql)?;
            let (rows, tables) = s.check_tables(&inverse)?;
            let keys = s.switch_off()?;
            s.apply_inverse(&inverse, force, keys, journal, rows, &tables)
        })
    }

    /// Turns triggers off (their rows are in the changeset) and foreign keys too (a cascade
    /// would delete rows the changeset deletes itself); returns whether foreign keys were on.
    /// `call` turns both back on when the call ends, however it ends.
    pub(super) fn switch_off(&mut self) -> Result<bool> {
        let keys: bool =
            self.conn.query_row("PRAGMA foreign_keys", [], |row| row.get(0)).map_err(Error::sql)?;
        self.switched_off.set(Some(keys));
        if keys {
            self.internal("PRAGMA foreign_keys = 0")?;
        }
        self.conn
            .set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, false)
            .map_err(Error::sql)?;
        Ok(keys)
    }

    /// Undoes `switch_off` (outside any transaction, where the foreign-keys pragma applies).
    pub(super) fn switch_back_on(&mut self, keys: bool) {
        if self.conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, true).is_err() {
            tracing::error!(db = %self.name, "could not turn triggers back on after an undo");
        }
        if keys {
            let on = self.conn.execute_batch("PRAGMA foreign_keys = 1").and_then(|()| {
                self.conn.query_row("PRAGMA foreign_keys", [], |row| row.get::<_, bool>(0))
            });
            if !matches!(on, Ok(true)) {
                tracing::error!(db = %self.name, "could not turn foreign keys back on after an undo");
            }
        }
    }

    /// Rows whose foreign keys point nowhere, in `tables` and in the tables that refer to them.
    fn broken_keys(&self, tables: &[String]) -> Result<i64> {
        let mut checked: Vec<String> = tables.to_vec();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT DISTINCT s.name FROM sqlite_schema AS s, pragma_foreign_key_list(s.name) AS f
                 WHERE s.type = 'table' AND f.\"table\" = ?1",
            )
            .map_err(Error::sql)?;
        for table in tables {
            let children = stmt
                .query_map([table], |row| row.get::<_, String>(0))
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(Error::sql)?;
            checked.extend(children);
        }
        checked.sort();
        checked.dedup();
        let mut broken = 0;
        for table in &checked {
            let n: i64 = self
                .conn
                .query_row("SELECT count(*) FROM pragma_foreign_key_check(?1)", [table], |row| {
                    row.get(0)
                })
                .map_err(Error::sql)?;
            broken += n;
        }
        Ok(broken)
    }

    /// The row changes a changeset holds, and its tables; refused when a table is gone, is not
    /// a table now, or has other columns or another primary key (SQLite would skip its changes
    /// silently).
    pub(super) fn check_tables(&self, changeset: &[u8]) -> Result<(u64, Vec<String>)> {
        let mut input: &[u8] = changeset;
        let reader: &mut dyn std::io::Read = &mut input;
        let mut iter = ChangesetIter::start_strm(&reader).map_err(Error::sql)?;
        let mut tables: Vec<(String, Vec<bool>)> = Vec::new();
        let mut rows = 0u64;
        while let Some(item) = iter.next().map_err(Error::sql)? {
            rows += 1;
            let op = item.op().map_err(Error::sql)?;
            if !tables.iter().any(|(t, _)| t == op.table_name()) {
                let keys = item.pk().map_err(Error::sql)?.iter().map(|&b| b != 0).collect();
                tables.push((op.table_name().to_owned(), keys));
            }
        }
        for (table, keys) in &tables {
            let is_table = self
                .conn
                .query_row(
                    "SELECT count(*) FROM pragma_table_list WHERE name = ?1 AND type = 'table'",
                    [table],
                    |row| row.get::<_, i64>(0),
                )
                .map_err(Error::sql)?
                == 1;
            let mut stmt = self
                .conn
                .prepare("SELECT pk > 0 FROM pragma_table_info(?1) ORDER BY cid")
                .map_err(Error::sql)?;
            let now: Vec<bool> = stmt
                .query_map([table], |row| row.get(0))
                .and_then(|rows| rows.collect())
                .map_err(Error::sql)?;
            if !is_table || now != *keys {
                let what = if !is_table {
                    "is not there as a table"
                } else {
                    "has other columns or another primary key now"
                };
                return Err(Error::Refused {
                    what: format!(
                        "the change cannot be undone: {table} {what} (the change left {} columns)",
                        keys.len()
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
            let broken_before = if keys { self.broken_keys(tables)? } else { 0 };
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
            applied.map_err(Error::sql)?;
            if keys {
                let broken = self.broken_keys(tables)? - broken_before;
                if broken > 0 {
                    return Err(Error::Refused {
                        what: format!(
                            "the change cannot be undone: putting the rows back would leave {broken} more row(s) whose foreign keys point nowhere"
                        ),
                    });
                }
            }
            let changeset = match (recording.as_mut(), max) {
                (Some(recording), Some(max)) => Some(take(recording, max).map_err(Error::sql)?),
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
                let mut captured = self.captured_as(&summary);
                match changeset {
                    Some(Ok(bytes)) => captured.changeset = Some(bytes),
                    Some(Err(why)) => captured.not_undoable = Some(why),
                    None => {}
                }
                journal.before_commit(&captured).map_err(|what| Error::Refused { what })?;
            }
            Ok(summary)
        })();
        let result = result.and_then(|summary| self.internal("RELEASE mcp_undo").map(|()| summary));
        if result.is_err() && !self.conn.is_autocommit() {
            let _ = self.internal("ROLLBACK TO mcp_undo; RELEASE mcp_undo");
        }
        result
    }

    /// Undoes a `CREATE TABLE`: drops the table, refused unless it is still empty and nothing
    /// was built on it since (indexes, triggers).
    pub(crate) fn drop_created(
        &mut self,
        table: &str,
        recorded: &str,
        cancel: &Arc<AtomicBool>,
        journal: Option<&mut dyn Journaling>,
    ) -> Result<String> {
        self.check_writable()?;
        self.call(cancel, None, |s| {
            let refuse = |why: String| Err(Error::Refused { what: format!("the change cannot be undone: {why}") });
            let Some(create) = s.create_sql(table)? else {
                return refuse(format!("table {table} is not there any more"));
            };
            if create != recorded {
                return refuse(format!(
                    "table {table} is not the one the change created (its definition is another now)"
                ));
            }
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
            let captured =
                Captured { dropped: Some((table.to_owned(), create)), ..s.captured_as(&summary) };
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
        self.check_writable()?;
        self.call(cancel, None, |s| {
            if s.create_sql(table)?.is_some() {
                return Err(Error::Refused {
                    what: format!("the change cannot be undone: a table {table} is there now"),
                });
            }
            let summary = format!("created the table {table} again");
            let captured = Captured {
                created: Some((table.to_owned(), create.to_owned())),
                ..s.captured_as(&summary)
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
        let result = result.and_then(|()| self.internal("RELEASE mcp_undo"));
        if result.is_err() && !self.conn.is_autocommit() {
            let _ = self.internal("ROLLBACK TO mcp_undo; RELEASE mcp_undo");
        }
        result
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
        // A foreign-key conflict comes with no row (SQLite passes an empty iterator).
        if self.named.len() < NAMED_CONFLICTS {
            let row = match kind {
                Kind::SQLITE_CHANGESET_FOREIGN_KEY => "a row".to_owned(),
                _ => row_of(item),
            };
            self.named.push(format!("{row} {what}"));
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
