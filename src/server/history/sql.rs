//! The change journal for SQL: a write's record (`Captured`, from the database layer) kept as an
//! entry whose saved content is the statement's changeset, and how such an entry is undone and
//! shown on its database's worker.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::db::Database;
use crate::db::query::{Captured, Journaling, Session};
use crate::journal::store::Hash;
use crate::journal::{Entry, Journal, NewEntry, State};
use crate::sandbox::write::record::Record;
use crate::server::history::{Recorder, crash_point};

/// How an SQL entry is reversed, as kept in the journal (`{"sql": {...}}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SqlUndo {
    pub(crate) sql: SqlChange,
}

/// One SQL change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SqlChange {
    /// The database's name, and its file (which tells servers sharing a journal apart).
    pub(crate) db: String,
    pub(crate) file: String,
    #[serde(flatten)]
    pub(crate) op: SqlOp,
}

/// What it did.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum SqlOp {
    /// Row changes, whose changeset was kept under this name (none: not kept).
    Rows { changeset: Option<String> },
    /// A table created (undone by dropping it while empty).
    CreateTable { table: String, create: String },
    /// A table dropped by an undo (undone by creating it again).
    DropTable { table: String, create: String },
}

/// The SQL change an entry records, if it is one.
pub(crate) fn parse(entry: &Entry) -> Option<SqlChange> {
    serde_json::from_value::<SqlUndo>(entry.undo.clone()).ok().map(|u| u.sql)
}

/// The served database an SQL change is to, if this server serves that file.
pub(crate) fn database_of<'a>(
    databases: &'a [Arc<Database>],
    change: &SqlChange,
) -> Option<&'a Arc<Database>> {
    databases.iter().find(|d| d.path().display().to_string() == change.file)
}

/// The journal target of a database's changes.
pub(crate) fn target(db: &str) -> String {
    format!("sqlite://{db}")
}

impl Journaling for Recorder {
    fn max_bytes(&self) -> u64 {
        self.max_file()
    }

    fn before_commit(&mut self, change: &Captured) -> Result<(), String> {
        let nothing = change.changeset.as_ref().is_some_and(Vec::is_empty)
            && change.created.is_none()
            && change.dropped.is_none()
            && change.not_undoable.is_none();
        // A statement that changed nothing (an UPDATE matching no row) is no change to undo.
        if !self.on() || nothing {
            return Ok(());
        }
        let id = self.begin().map_err(|e| e.to_string())?;
        let mut reason = change.not_undoable.clone();
        let op = if let Some((table, create)) = &change.dropped {
            SqlOp::DropTable { table: table.clone(), create: create.clone() }
        } else if let (Some((table, create)), None) = (&change.created, &change.changeset) {
            SqlOp::CreateTable { table: table.clone(), create: create.clone() }
        } else if let (Some((table, create)), Some(bytes)) = (&change.created, &change.changeset)
            && bytes.is_empty()
        {
            SqlOp::CreateTable { table: table.clone(), create: create.clone() }
        } else {
            let kept = match &change.changeset {
                Some(bytes) => {
                    let kept = self.keep(bytes).map_err(|e| e.to_string())?;
                    if kept.is_none() {
                        reason.get_or_insert_with(|| format!(
                            "its row changes ({} bytes) are over the journal's bounds (--history-max-file, {} bytes, and --history-max-bytes)",
                            bytes.len(),
                            self.max_file()
                        ));
                    }
                    kept
                }
                None => None,
            };
            SqlOp::Rows { changeset: kept }
        };
        let undo =
            SqlUndo { sql: SqlChange { db: change.db.clone(), file: change.file.clone(), op } };
        let entry = NewEntry {
            tool: self.tool.to_owned(),
            target: target(&change.db),
            summary: format!("{}{}", self.label, change.summary),
            undo: serde_json::to_value(&undo).unwrap_or(Value::Null),
        };
        self.journal().describe(id, &entry, reason.as_deref()).map_err(|e| e.to_string())?;
        self.reason = reason;
        crash_point("after-record");
        Ok(())
    }
}

/// Runs `work` with the journal's recorder on a database's worker: the entry is marked done
/// once the write committed, removed when it did not.
pub(crate) fn recorded<T>(
    session: &mut Session,
    cancel: &Arc<AtomicBool>,
    mut recorder: Recorder,
    work: impl FnOnce(
        &mut Session,
        &Arc<AtomicBool>,
        Option<&mut dyn Journaling>,
    ) -> crate::db::Result<T>,
) -> crate::db::Result<(T, Option<super::Recorded>)> {
    let journal: Option<&mut dyn Journaling> =
        if recorder.on() { Some(&mut recorder) } else { None };
    let out = work(session, cancel, journal);
    if out.is_ok() {
        recorder.done();
    }
    let recorded = recorder.finish();
    out.map(|out| (out, recorded))
}

/// Why an entry cannot be undone now, judged on its state and record alone.
pub(crate) fn refusal(entry: &Entry, change: &SqlChange) -> Option<String> {
    let id = entry.id;
    match entry.state {
        State::Pending => Some(format!(
            "change #{id} is still being made (or its server stopped while making it); try again in a moment"
        )),
        State::Incomplete => Some(format!(
            "change #{id} cannot be undone: its server stopped while making it ({})",
            entry.not_undoable.as_deref().unwrap_or("the database may hold it or not")
        )),
        State::Done => match (&entry.not_undoable, &change.op) {
            (Some(reason), _) => Some(format!("change #{id} cannot be undone: {reason}")),
            (None, SqlOp::Rows { changeset: None }) => {
                Some(format!("change #{id} cannot be undone: its row changes were not kept"))
            }
            (None, _) => None,
        },
    }
}

/// Undoes `change` on its database's worker (`session`), recorded by `recorder`.
pub(crate) fn undo(
    session: &mut Session,
    cancel: &Arc<AtomicBool>,
    journal: &Journal,
    change: &SqlChange,
    force: bool,
    recorder: Recorder,
) -> crate::db::Result<(String, Option<super::Recorded>)> {
    let changeset = match &change.op {
        SqlOp::Rows { changeset: Some(hash) } => {
            Some(journal.blob(&Hash(hash.clone())).map_err(|e| crate::db::Error::Refused {
                what: format!("the change cannot be undone: its saved row changes are gone ({e})"),
            })?)
        }
        _ => None,
    };
    let op = change.op.clone();
    recorded(session, cancel, recorder, move |s, cancel, journal| match (&op, &changeset) {
        (SqlOp::Rows { .. }, Some(bytes)) => s.undo_rows(bytes, force, cancel, journal),
        (SqlOp::CreateTable { table, create }, _) => s.drop_created(table, create, cancel, journal),
        (SqlOp::DropTable { table, create }, _) => s.recreate(table, create, cancel, journal),
        (SqlOp::Rows { .. }, None) => Err(crate::db::Error::Refused {
            what: "the change cannot be undone: its row changes were not kept".to_owned(),
        }),
    })
}

/// What an SQL change did, for `show_change`: its rows (capped), or its table.
pub(crate) fn show(
    session: &mut Session,
    journal: &Journal,
    change: &SqlChange,
    max_rows: usize,
    max_bytes: usize,
) -> String {
    match &change.op {
        SqlOp::Rows { changeset: Some(hash) } => match journal.blob(&Hash(hash.clone())) {
            Ok(bytes) => session
                .show_changeset(&bytes, max_rows, max_bytes)
                .unwrap_or_else(|e| format!("its row changes cannot be read: {e}")),
            Err(e) => format!("its saved row changes are gone ({e})"),
        },
        SqlOp::Rows { changeset: None } => "Its row changes were not kept.".to_owned(),
        SqlOp::CreateTable { create, .. } => format!("Created the table:\n{create}"),
        SqlOp::DropTable { create, .. } => format!("Dropped the empty table:\n{create}"),
    }
}
