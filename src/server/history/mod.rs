//! The change journal seen from the tools: `Recorder`, the sandbox's `Record` for one tool call
//! (an entry committed as pending before the change, described, finished once the change is
//! made, abandoned if it is not), what a write's result says about undoing it, and the settling
//! at start of the entries a stopped server left pending. `undo.rs` reverses and shows entries.

pub(crate) mod sql;
pub(crate) mod undo;

use std::sync::Arc;
use std::time::SystemTime;

use rmcp::model::{CallToolResult, ContentBlock};
use serde::Serialize;
use serde_json::Value;

use crate::journal::{Journal, NewEntry};
use crate::sandbox::Sandbox;
use crate::sandbox::error::{Error, Result};
use crate::sandbox::write::record::{Change, Prior, Record};

/// Checks a change an undo is about to make against what the undone change left: the reason
/// it is refused (the target changed since), if it is.
pub(crate) type Guard = Box<dyn Fn(&Change) -> std::result::Result<(), String> + Send>;

/// Records one tool call's change in the journal (or nothing, with the journal off).
pub(crate) struct Recorder {
    journal: Option<Arc<Journal>>,
    tool: &'static str,
    /// Put before the summary (an undo says which change it undoes).
    label: String,
    guard: Option<Guard>,
    id: Option<i64>,
    kept: u64,
    reason: Option<String>,
    done: bool,
}

/// What a recorded change's result tells the model.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub(crate) struct Recorded {
    /// The change's id, for show_change and undo_change.
    pub(crate) id: i64,
    /// Whether undo_change can reverse it.
    pub(crate) undoable: bool,
    /// Why it cannot be undone, when it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
}

fn not_made(err: crate::journal::Error) -> Error {
    Error::NotMade(format!(
        "nothing was changed: the change could not be recorded in the change journal ({err}); free some disk space, or start the server with --history off to change files without undo"
    ))
}

impl Recorder {
    /// A recorder for a call of `tool`.
    pub(crate) fn new(journal: Option<Arc<Journal>>, tool: &'static str) -> Recorder {
        Recorder {
            journal,
            tool,
            label: String::new(),
            guard: None,
            id: None,
            kept: 0,
            reason: None,
            done: false,
        }
    }

    /// A recorder for an undo: its summary names the change undone, and `guard` may refuse.
    pub(crate) fn undoing(journal: Arc<Journal>, undone: i64, guard: Guard) -> Recorder {
        Recorder {
            label: format!("undo of #{undone}: "),
            guard: Some(guard),
            ..Recorder::new(Some(journal), "undo_change")
        }
    }

    /// A recorder for the undo of an SQL change (its conflicts are checked as it is applied).
    pub(crate) fn undoing_sql(journal: Arc<Journal>, undone: i64) -> Recorder {
        Recorder {
            label: format!("undo of #{undone}: "),
            ..Recorder::new(Some(journal), "undo_change")
        }
    }

    fn journal(&self) -> &Journal {
        self.journal.as_deref().expect("a recorder that is on has a journal")
    }

    fn begin(&mut self) -> Result<i64> {
        if let Some(id) = self.id {
            return Ok(id);
        }
        let entry = NewEntry {
            tool: self.tool.to_owned(),
            target: String::new(),
            summary: String::new(),
            undo: Value::Null,
        };
        let id = self.journal().begin(&entry).map_err(not_made)?;
        self.id = Some(id);
        Ok(id)
    }

    /// After the call: an entry whose change was not made is removed; the journal is pruned to
    /// its bounds. Returns what the result should say, for a change made.
    pub(crate) fn finish(self) -> Option<Recorded> {
        let (journal, id) = (self.journal.as_ref()?, self.id?);
        if !self.done {
            if let Err(err) = journal.abandon(id) {
                tracing::warn!(%err, "removing the journal entry of a change not made");
            }
            return None;
        }
        if let Err(err) = journal.prune(SystemTime::now()) {
            tracing::warn!(%err, "pruning the change journal");
        }
        // Never claimed undoable unless the entry is there to undo it.
        let kept = matches!(journal.get(id), Ok(Some(_)));
        let reason = match (kept, self.reason) {
            (true, reason) => reason,
            (false, _) => Some(
                "the change journal could not keep it (see --history-max-bytes and the server's log)"
                    .to_owned(),
            ),
        };
        Some(Recorded { id, undoable: reason.is_none(), reason })
    }
}

impl Record for Recorder {
    fn on(&self) -> bool {
        self.journal.is_some()
    }

    fn max_file(&self) -> u64 {
        self.journal.as_ref().map_or(0, |j| j.bounds().max_file)
    }

    fn max_total(&self) -> u64 {
        self.journal.as_ref().map_or(0, |j| j.bounds().max_bytes)
    }

    fn keep(&mut self, bytes: &[u8]) -> Result<Option<String>> {
        if !self.on() || self.kept + bytes.len() as u64 > self.max_total() {
            return Ok(None);
        }
        let id = self.begin()?;
        let saved = self.journal().save(id, bytes).map_err(not_made)?;
        if saved.is_some() {
            self.kept += bytes.len() as u64;
        }
        Ok(saved.map(|hash| hash.0))
    }

    fn before(&mut self, change: &Change) -> Result<()> {
        if let Some(guard) = &self.guard {
            guard(change).map_err(Error::NotMade)?;
        }
        if !self.on() {
            return Ok(());
        }
        let id = self.begin()?;
        let (target, summary) = describe(change, self.tool);
        let reason = not_undoable(change, self.max_file());
        let entry = NewEntry {
            tool: self.tool.to_owned(),
            target,
            summary: format!("{}{summary}", self.label),
            undo: serde_json::to_value(change).unwrap_or(Value::Null),
        };
        self.journal().describe(id, &entry, reason.as_deref()).map_err(not_made)?;
        self.reason = reason;
        crash_point("after-record");
        Ok(())
    }

    fn done(&mut self) {
        crash_point("after-change");
        if let (Some(journal), Some(id)) = (&self.journal, self.id) {
            if let Err(err) = journal.finish(id) {
                // The change is made and its entry stays pending: the next start settles it.
                tracing::warn!(%err, id, "marking a journal entry done");
            }
            self.done = true;
        }
    }
}

/// Fault injection for the tests of a server killed in the middle of a change: with
/// `MCP_FILES_SQLITE_CRASH_AT` set to `point`, the process ends at once there, as under
/// `kill -9` (no destructor runs, nothing is flushed). Debug builds only.
pub(crate) fn crash_point(point: &str) {
    #[cfg(debug_assertions)]
    if std::env::var_os("MCP_FILES_SQLITE_CRASH_AT").is_some_and(|at| at == point) {
        std::process::abort();
    }
    #[cfg(not(debug_assertions))]
    let _ = point;
}

/// The entry's target (the path changed; a move's destination) and its one-line summary.
pub(crate) fn describe(change: &Change, tool: &str) -> (String, String) {
    match change {
        Change::Write { path, prior, after, .. } => {
            let size = |p: &Prior| match p {
                Prior::File { size, .. } => *size,
                _ => 0,
            };
            let summary = match prior {
                Prior::Absent => format!("created {path} ({} bytes)", size(after)),
                _ => {
                    let verb = match tool {
                        "edit_file" => "edited",
                        "copy_file" => "copied over",
                        "undo_change" => "restored",
                        _ => "replaced",
                    };
                    format!("{verb} {path} ({} → {} bytes)", size(prior), size(after))
                }
            };
            (path.clone(), summary)
        }
        Change::CreateDirs { path, created } => {
            let parents = created.len().saturating_sub(1);
            let more =
                if parents > 0 { format!(" (and {parents} above it)") } else { String::new() };
            (path.clone(), format!("created directory {path}{more}"))
        }
        Change::Move { from, to, .. } => (to.clone(), format!("moved {from} to {to}")),
        Change::Delete { path, removed, .. } => {
            let summary = match removed.first().map(|r| &r.prior) {
                Some(Prior::Dir) => {
                    let files =
                        removed.iter().filter(|r| matches!(r.prior, Prior::File { .. })).count();
                    let dirs = removed.iter().filter(|r| matches!(r.prior, Prior::Dir)).count() - 1;
                    format!("deleted directory {path} ({files} files, {dirs} directories in it)")
                }
                Some(Prior::File { size, .. }) => format!("deleted {path} ({size} bytes)"),
                Some(Prior::Other { what }) => format!("deleted the {what} {path}"),
                _ => format!("deleted {path}"),
            };
            (path.clone(), summary)
        }
        Change::Restore { path, created } => {
            (path.clone(), format!("put back directory {path} ({} entries)", created.len()))
        }
    }
}

/// Why `change` cannot be undone, if it cannot.
pub(crate) fn not_undoable(change: &Change, max_file: u64) -> Option<String> {
    let over = format!(
        "over the journal's bounds (--history-max-file, {max_file} bytes per file, and --history-max-bytes)"
    );
    match change {
        Change::Write { prior: Prior::File { kept: None, size, .. }, .. } => Some(format!(
            "the content it replaced ({size} bytes) was not saved: it is {over}"
        )),
        Change::Write { prior: Prior::Other { what }, .. } => {
            Some(format!("it replaced a {what}, which the journal does not save"))
        }
        Change::Delete { removed, complete, .. } => {
            let unsaved: Vec<u64> = removed
                .iter()
                .filter_map(|r| match r.prior {
                    Prior::File { kept: None, size, .. } => Some(size),
                    _ => None,
                })
                .collect();
            let others = removed.iter().filter(|r| matches!(r.prior, Prior::Other { .. })).count();
            let mut reasons = Vec::new();
            if !unsaved.is_empty() {
                reasons.push(format!(
                    "{} file(s), {} bytes, were not saved: {over}",
                    unsaved.len(),
                    unsaved.iter().sum::<u64>()
                ));
            }
            if others > 0 {
                reasons.push(format!(
                    "{others} symlink(s) or special file(s) were not saved (the journal keeps files and directories)"
                ));
            }
            if !complete {
                reasons.push("not every entry of the directory could be listed (a list longer than --history-max-file or --history-max-bytes allow, an unreadable folder, or names that are not UTF-8)".to_owned());
            }
            (!reasons.is_empty()).then(|| reasons.join("; "))
        }
        Change::Restore { created, .. } if !created.iter().any(|r| r.rel.is_empty()) => Some(
            "it put entries back into a directory that was there, which a delete cannot tell apart from what was there before".to_owned(),
        ),
        _ => None,
    }
}

/// Adds to a change's result what the journal says about it: its id and that undo_change
/// reverses it, or that it cannot be undone and why (before the model relies on it).
pub(crate) fn annotate(result: &mut CallToolResult, recorded: Option<Recorded>) {
    let Some(recorded) = recorded else { return };
    let text = match &recorded.reason {
        None => format!(
            "[recorded as change #{}: undo_change with id {} reverses it]",
            recorded.id, recorded.id
        ),
        Some(reason) => format!(
            "[this change cannot be undone: {reason}. It is recorded as change #{}]",
            recorded.id
        ),
    };
    result.content.push(ContentBlock::text(text));
    crate::server::spliced::materialize(&mut result.structured_content);
    if let Some(Value::Object(fields)) = &mut result.structured_content {
        fields.insert("change".to_owned(), serde_json::to_value(&recorded).unwrap_or(Value::Null));
    }
}

/// At start: settles the entries still pending whose server stopped: done when the disk shows
/// the change made, removed when it shows it not made, incomplete otherwise. SQL entries of the
/// databases served here are returned, to be settled on their databases (`settle_sql`).
pub(crate) fn settle(
    journal: &Journal,
    sandbox: &Sandbox,
    databases: &[Arc<crate::db::Database>],
) -> Vec<(i64, sql::SqlChange)> {
    let pending = match journal.pending_of_gone(|pid| journal.server_gone(pid)) {
        Ok(pending) => pending,
        Err(err) => {
            tracing::warn!(%err, "reading the change journal");
            return Vec::new();
        }
    };
    let mut on_databases = Vec::new();
    for entry in pending {
        if let Some(change) = sql::parse(&entry) {
            // Another server's database: it settles it when it starts.
            if sql::database_of(databases, &change).is_some() {
                on_databases.push((entry.id, change));
            }
            continue;
        }
        let result = match serde_json::from_value::<Change>(entry.undo.clone()) {
            // Another server's change, outside these roots: it settles it when it starts.
            Ok(change) if !undo::reachable(sandbox, &change) => continue,
            Ok(change) => match undo::settled(sandbox, &change) {
                undo::Settled::Made => journal.finish(entry.id),
                // Kept, so that the journal says what happened to it.
                undo::Settled::NotMade => journal.mark_incomplete(entry.id, NOT_MADE),
                undo::Settled::Neither(why) => journal.mark_incomplete(entry.id, &why),
            },
            // Stopped before the change was even described: nothing was changed.
            Err(_) => journal.abandon(entry.id),
        };
        if let Err(err) = result {
            tracing::warn!(%err, id = entry.id, "settling a journal entry");
        }
    }
    on_databases
}

const NOT_MADE: &str =
    "its server stopped before making it: nothing was changed, so there is nothing to undo";

/// Settles one SQL entry a stopped server left pending, on its database: done when the
/// database holds the change, incomplete otherwise.
pub(crate) async fn settle_sql(
    journal: &Arc<Journal>,
    databases: &[Arc<crate::db::Database>],
    id: i64,
    change: sql::SqlChange,
) {
    use crate::db::query::Standing;
    let Some(database) = sql::database_of(databases, &change) else { return };
    let blob = match &change.op {
        sql::SqlOp::Rows { changeset: Some(hash) } => {
            journal.blob(&crate::journal::store::Hash(hash.clone())).ok()
        }
        _ => None,
    };
    let op = change.op.clone();
    let standing = database
        .run(move |s| match (&op, blob) {
            (sql::SqlOp::Rows { .. }, Some(bytes)) => s.standing(&bytes),
            (sql::SqlOp::CreateTable { table, .. }, _) => {
                Ok(if s.has_table(table)? { Standing::Made } else { Standing::NotMade })
            }
            (sql::SqlOp::DropTable { table, .. }, _) => {
                Ok(if s.has_table(table)? { Standing::NotMade } else { Standing::Made })
            }
            (sql::SqlOp::Rows { .. }, None) => Ok(Standing::Neither),
        })
        .await;
    let result = match standing {
        Ok(Standing::Made) => journal.finish(id),
        Ok(Standing::NotMade) => journal.mark_incomplete(id, NOT_MADE),
        Ok(Standing::Neither) => journal.mark_incomplete(
            id,
            "its server stopped while committing it, and whether the database holds it cannot be told (its rows match neither side, or it changed no rows)",
        ),
        Err(err) => {
            tracing::warn!(%err, id, "settling a journal entry on its database");
            return;
        }
    };
    if let Err(err) = result {
        tracing::warn!(%err, id, "settling a journal entry");
    }
}

/// Prunes the journal to its bounds (at start, after settling).
pub(crate) fn prune(journal: &Journal) {
    if let Err(err) = journal.prune(SystemTime::now()) {
        tracing::warn!(%err, "pruning the change journal");
    }
}
