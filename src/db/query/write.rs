//! `Session::write`: one write statement in its own savepoint, its row changes recorded for the
//! change journal when there is one (`changes`), handed to it before the commit.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::db::error::{Error, Result};
use crate::db::policy::Access;
use crate::db::query::changes::{self, Journaling};
use crate::db::query::{Session, WriteOutcome, bind, collect};
use crate::db::value::Value;

impl Session {
    /// Runs one write statement inside its own savepoint. `create_table_only` restricts it to
    /// `CREATE TABLE`. Returns the number of rows changed and any `RETURNING` rows. With a
    /// `journal`, what the statement did is recorded (`changes`) and handed to it before the
    /// commit; a statement too large to record within SQLite's memory bound is run again
    /// unrecorded, and the journal told so.
    pub(crate) fn write(
        &mut self,
        sql: &str,
        params: &[Value],
        create_table_only: bool,
        cancel: &Arc<AtomicBool>,
        mut journal: Option<&mut dyn Journaling>,
    ) -> Result<WriteOutcome> {
        self.check_writable()?;
        self.out_of_memory.set(false);
        let again = journal.as_deref_mut();
        match self.write_once(sql, params, create_table_only, cancel, again, true) {
            Err(_) if journal.is_some() && self.out_of_memory.get() => {
                self.write_once(sql, params, create_table_only, cancel, journal, false)
            }
            other => other,
        }
    }

    /// `write`, recording the row changes when `journal` is given and `record` is set. Long
    /// because the savepoint, the statement and its RETURNING rows must be handled in one scope,
    /// so that every early return rolls back.
    fn write_once(
        &mut self,
        sql: &str,
        params: &[Value],
        create_table_only: bool,
        cancel: &Arc<AtomicBool>,
        journal: Option<&mut (dyn Journaling + '_)>,
        record: bool,
    ) -> Result<WriteOutcome> {
        let access = if create_table_only { Access::CreateTable } else { Access::Write };
        let max_recorded = journal.as_ref().filter(|_| record).map(|j| j.max_bytes());
        self.call(cancel, None, |session| {
            let total_before = session.conn.total_changes();
            session.internal("SAVEPOINT mcp_call")?;
            let schema = session.schema_version()?;
            session.set_access(Some(access))?;
            let tables = changes::Tables::default();
            let result = (|| {
                let mut recording = match max_recorded {
                    Some(_) => Some(changes::start(&session.conn, &tables).map_err(Error::sql)?),
                    None => None,
                };
                let mut stmt = session.prepare_one(sql)?;
                if create_table_only && !session.auth_state().created_table {
                    return Err(Error::Refused {
                        what: "create_table runs only CREATE TABLE statements; use write_query for other statements".to_owned(),
                    });
                }
                bind(&mut stmt, params)?;
                let returned = if stmt.column_count() > 0 {
                    // RETURNING: every change happens at the first step and the rows are buffered;
                    // read a page, then step through the rest so the statement completes.
                    let mut rows = collect(&mut stmt, 0, &session.limits, true).map_err(|e| session.map_err(e))?;
                    rows.next_offset = None;
                    Some(rows)
                } else {
                    stmt.raw_execute().map_err(|e| session.map_err(e))?;
                    None
                };
                drop(stmt);
                // sqlite3_changes() is only set by INSERT, UPDATE and DELETE: after CREATE INDEX
                // or DROP it still holds the previous statement's count.
                let changes = if session.conn.total_changes() == total_before {
                    0
                } else {
                    session.conn.changes()
                };
                // The changeset is written by SQL of the session extension's own, which the
                // statement's authorizer must not judge (it is removed once the borrow ends).
                session.auth_state().finished = true;
                let changeset = match (recording.as_mut(), max_recorded) {
                    (Some(recording), Some(max)) => {
                        Some(changes::take(recording, max).map_err(|e| session.map_err(e))?)
                    }
                    _ => None,
                };
                Ok((WriteOutcome { changes, returned }, changeset))
            })();
            session.set_access(None)?;
            // An interrupt (timeout, cancel), out-of-memory, I/O error or a ROLLBACK conflict
            // clause already rolled back the whole transaction, savepoint included; only undo
            // what is still open, so the real error is the one reported.
            let undo = |session: &mut Session| {
                if !session.conn.is_autocommit() {
                    let _ = session.internal("ROLLBACK TO mcp_call; RELEASE mcp_call");
                }
            };
            match result {
                Ok((outcome, changeset)) => {
                    if let Some(journal) = journal {
                        let captured =
                            session.captured(sql, outcome.changes, changeset, &tables, schema);
                        if let Err(why) = captured.and_then(|c| {
                            journal.before_commit(&c).map_err(|what| Error::Refused { what })
                        }) {
                            undo(session);
                            return Err(why);
                        }
                    }
                    session.internal("RELEASE mcp_call").inspect_err(|_| undo(session))?;
                    Ok(outcome)
                }
                Err(e) => {
                    undo(session);
                    Err(e)
                }
            }
        })
    }
}
