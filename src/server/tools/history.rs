//! The change journal's tools: `list_changes`, `show_change` and `undo_change`, offered when
//! the journal is on. An undo goes through the sandbox like every write (`server::history::undo`).

use std::sync::Arc;

use rmcp::handler::server::tool::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use std::sync::atomic::AtomicBool;

use crate::db::Database;
use crate::journal::{Entry, Journal, State};
use crate::sandbox::write::record::Change;
use crate::sandbox::{Error, Sandbox};
use crate::server::Server;
use crate::server::errors::{db_tool_error, join_error, tool_error};
use crate::server::history::sql::{self, SqlChange};
use crate::server::history::undo::Undone;
use crate::server::history::{Recorded, Recorder, undo};
use crate::server::render::structured;

/// Parameters of `list_changes`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ListChangesParams {
    /// Only changes to this file or directory, or below it (any path form the file tools take).
    pub(crate) path: Option<String>,
    /// Only changes to this database (its name, as list_databases shows it).
    pub(crate) db: Option<String>,
    /// How many changes to list, newest first (default 20, at most --max-entries).
    pub(crate) limit: Option<usize>,
}

/// Parameters of `show_change`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ShowChangeParams {
    /// The change's id, from list_changes or from the result of the tool that made it.
    pub(crate) id: i64,
}

/// Parameters of `undo_change`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct UndoChangeParams {
    /// The change's id, from list_changes or from the result of the tool that made it.
    pub(crate) id: i64,
    /// Undo even though the target has changed since (what is there now is replaced; the undo
    /// is recorded, so it can itself be undone).
    #[serde(default)]
    pub(crate) force: bool,
}

/// One change, as listed.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChangeInfoOutput {
    pub(crate) id: i64,
    /// When it was made (RFC 3339, UTC).
    pub(crate) time: String,
    /// The tool that made it.
    pub(crate) tool: String,
    /// The path it changed (a move's destination), or `sqlite://DB` for a database.
    pub(crate) target: String,
    pub(crate) summary: String,
    /// "done", "pending" (being made) or "incomplete" (its server stopped in the middle).
    pub(crate) state: String,
    /// Whether undo_change can reverse it.
    pub(crate) undoable: bool,
    /// Why it cannot be undone, when it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
}

/// Output of `list_changes`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ListChangesOutput {
    /// Newest first.
    pub(crate) changes: Vec<ChangeInfoOutput>,
}

/// Output of `show_change`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ShowChangeOutput {
    pub(crate) change: ChangeInfoOutput,
    /// What it did: a unified diff for text, sizes for binary content, the entries of a removed
    /// directory, the rows an SQL statement changed (capped).
    pub(crate) details: String,
}

/// Output of `undo_change`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct UndoChangeOutput {
    /// The change undone.
    pub(crate) undone: i64,
    /// What the undo did.
    pub(crate) summary: String,
    /// The undo's own record: undoing it redoes the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) change: Option<Recorded>,
}

/// Changes listed when the call does not say.
const DEFAULT_LISTED: usize = 20;

fn info(entry: &Entry) -> ChangeInfoOutput {
    let time = chrono::DateTime::from_timestamp_millis(entry.time_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    let state = match entry.state {
        State::Done => "done",
        State::Pending => "pending",
        State::Incomplete => "incomplete",
    };
    ChangeInfoOutput {
        id: entry.id,
        time,
        tool: entry.tool.clone(),
        target: entry.target.clone(),
        summary: entry.summary.clone(),
        state: state.to_owned(),
        undoable: entry.state == State::Done && entry.not_undoable.is_none(),
        reason: entry.not_undoable.clone(),
    }
}

fn line(info: &ChangeInfoOutput) -> String {
    let undo = match (&info.reason, info.state.as_str()) {
        (_, "pending") => " [being made]".to_owned(),
        (Some(reason), _) => format!(" [cannot be undone: {reason}]"),
        (None, _) => String::new(),
    };
    format!("#{} {} {}: {}{undo}", info.id, info.time, info.tool, info.summary)
}

/// Whether this server may show `entry`: its target is inside the allowed directories (as the
/// client narrowed them), or a database this server serves. Servers sharing a state directory
/// share one journal, and one never shows another's changes outside its own roots.
fn visible(sandbox: &Sandbox, databases: &[Arc<Database>], entry: &Entry) -> bool {
    if let Some(change) = sql::parse(entry) {
        return sql::database_of(databases, &change).is_some();
    }
    match serde_json::from_value::<Change>(entry.undo.clone()) {
        Ok(change) => undo::reachable(sandbox, &change),
        Err(_) => sandbox.locate(&entry.target).is_ok(),
    }
}

/// The newest `limit` entries this server may show, at or below `target` when given.
fn visible_changes(
    sandbox: &Sandbox,
    databases: &[Arc<Database>],
    journal: &Journal,
    target: Option<&str>,
    limit: usize,
) -> crate::sandbox::Result<Vec<Entry>> {
    let mut shown = Vec::new();
    let mut before = None;
    loop {
        let page = journal.list(target, before, limit).map_err(journal_error)?;
        let Some(last) = page.last() else { return Ok(shown) };
        before = Some(last.id);
        shown.extend(page.into_iter().filter(|e| visible(sandbox, databases, e)));
        if shown.len() >= limit {
            shown.truncate(limit);
            return Ok(shown);
        }
    }
}

/// Entry `id`, if this server may show it.
fn visible_entry(
    sandbox: &Sandbox,
    databases: &[Arc<Database>],
    journal: &Journal,
    id: i64,
) -> crate::sandbox::Result<Entry> {
    match journal.get(id).map_err(journal_error)? {
        Some(entry) if visible(sandbox, databases, &entry) => Ok(entry),
        _ => Err(no_such_change(id)),
    }
}

fn no_such_change(id: i64) -> Error {
    Error::InvalidArgument(format!(
        "there is no change #{id} here (list_changes shows the changes kept for the allowed directories and databases)"
    ))
}

fn journal_error(err: crate::journal::Error) -> Error {
    Error::NotMade(format!("reading the change journal: {err}"))
}

/// An SQL change found by id, with the database it is to.
struct SqlFound {
    entry: Entry,
    change: SqlChange,
    database: Arc<Database>,
}

impl Server {
    fn journal_or_off(&self) -> Arc<Journal> {
        self.journal().expect("the history tools are offered only with a journal")
    }

    /// Change `id` when it is an SQL change: `Ok(None)` when it is not (or does not exist), an
    /// error result when it is another server's database.
    async fn sql_change(
        &self,
        journal: &Arc<Journal>,
        id: i64,
    ) -> Result<Result<Option<SqlFound>, CallToolResult>, ErrorData> {
        let reading = Arc::clone(journal);
        let entry = tokio::task::spawn_blocking(move || reading.get(id))
            .await
            .map_err(|e| join_error("reading the change journal", e))?;
        let entry = match entry {
            Ok(Some(entry)) => entry,
            Ok(None) => return Ok(Ok(None)),
            Err(err) => return Ok(Err(tool_error(&journal_error(err)))),
        };
        let Some(change) = sql::parse(&entry) else { return Ok(Ok(None)) };
        let databases = self.databases();
        Ok(match sql::database_of(databases.all(), &change) {
            Some(database) => Ok(Some(SqlFound { entry, change, database: Arc::clone(database) })),
            None => Err(tool_error(&no_such_change(id))),
        })
    }
}

#[tool_router(router = history_tools, vis = "pub(crate)")]
impl Server {
    /// List recent changes made through this server's tools (writes, edits, moves, copies over
    /// a file, deletes, new directories, SQL writes and created tables), newest first, with an
    /// id each and whether it can be undone; path or db narrows the list. When the user says something went wrong or asks to go back, look here, then
    /// use show_change and undo_change.
    #[tool(
        title = "List changes",
        output_schema = schema_for_output::<ListChangesOutput>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_changes(
        &self,
        Parameters(p): Parameters<ListChangesParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let journal = self.journal_or_off();
        let databases = self.databases();
        self.run_files(
            &ctx,
            "listing changes",
            move |sandbox| {
                let most = sandbox.limits().max_entries;
                let limit = p.limit.unwrap_or(DEFAULT_LISTED).clamp(1, most);
                let target = match (&p.path, &p.db) {
                    (Some(_), Some(_)) => {
                        return Err(Error::InvalidArgument("give path or db, not both".to_owned()));
                    }
                    (Some(path), None) => Some(sandbox.display(&sandbox.locate(path)?)),
                    (None, Some(db)) => match databases.get(Some(db)) {
                        Ok(database) => Some(sql::target(database.name())),
                        Err(err) => return Err(Error::InvalidArgument(err.to_string())),
                    },
                    (None, None) => None,
                };
                visible_changes(sandbox, databases.all(), &journal, target.as_deref(), limit)
            },
            |entries| {
                let changes: Vec<ChangeInfoOutput> = entries.iter().map(info).collect();
                let text = if changes.is_empty() {
                    "No changes recorded.".to_owned()
                } else {
                    changes.iter().map(line).collect::<Vec<_>>().join("\n")
                };
                structured(vec![ContentBlock::text(text)], &ListChangesOutput { changes })
            },
        )
        .await
    }

    /// Show what one change did: a unified diff for a text file, sizes for a binary one, the
    /// entries of a deleted directory, the rows an SQL statement changed. Use it before undo_change to confirm the right change.
    #[tool(
        title = "Show change",
        output_schema = schema_for_output::<ShowChangeOutput>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn show_change(
        &self,
        Parameters(p): Parameters<ShowChangeParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let journal = self.journal_or_off();
        let found = match self.sql_change(&journal, p.id).await? {
            Ok(found) => found,
            Err(refused) => return Ok(refused),
        };
        if let Some(SqlFound { entry, change, database }) = found {
            let limits = self.sandbox().limits().clone();
            let info = info(&entry);
            let work = move |s: &mut crate::db::query::Session, _: &Arc<AtomicBool>| {
                Ok(sql::show(s, &journal, &change, limits.max_entries, limits.max_result_bytes))
            };
            return Ok(match self.run_db(&database, &ctx, work).await? {
                Ok(details) => {
                    let text = format!("{}\n{details}", line(&info));
                    structured(
                        vec![ContentBlock::text(text)],
                        &ShowChangeOutput { change: info, details },
                    )
                }
                Err(err) => db_tool_error(&err),
            });
        }
        let databases = self.databases();
        self.run_files(
            &ctx,
            "showing a change",
            move |sandbox| {
                let entry = visible_entry(sandbox, databases.all(), &journal, p.id)?;
                let limits = sandbox.limits();
                let details =
                    undo::show(&journal, &entry, limits.max_result_bytes, limits.max_entries);
                Ok((info(&entry), details))
            },
            |(change, details)| {
                let text = format!("{}\n{details}", line(&change));
                structured(vec![ContentBlock::text(text)], &ShowChangeOutput { change, details })
            },
        )
        .await
    }

    /// Undo one change by id (from list_changes or the result of the tool that made it): puts
    /// back what it replaced or deleted, deletes what it created, moves back what it moved,
    /// reverses the rows an SQL statement changed.
    /// Refused if the target has changed since, saying how, unless force is set. The undo is
    /// itself recorded as a change, so undoing it redoes the original. Offer it when the user
    /// regrets a change, or after a change of yours went wrong.
    #[tool(
        title = "Undo change",
        output_schema = schema_for_output::<UndoChangeOutput>(),
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = false)
    )]
    async fn undo_change(
        &self,
        Parameters(p): Parameters<UndoChangeParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let journal = self.journal_or_off();
        let UndoChangeParams { id, force } = p;
        let found = match self.sql_change(&journal, id).await? {
            Ok(found) => found,
            Err(refused) => return Ok(refused),
        };
        if let Some(SqlFound { entry, change, database }) = found {
            if let Some(why) = sql::refusal(&entry, &change) {
                return Ok(tool_error(&Error::NotMade(why)));
            }
            let recorder = Recorder::undoing_sql(Arc::clone(&journal), id);
            let work = move |s: &mut crate::db::query::Session, cancel: &Arc<AtomicBool>| {
                sql::undo(s, cancel, &journal, &change, force, recorder)
            };
            return Ok(match self.run_db(&database, &ctx, work).await? {
                Ok((summary, recorded)) => undone_result(id, Undone { summary, recorded }),
                Err(err) => db_tool_error(&err),
            });
        }
        let databases = self.databases();
        self.run_files(
            &ctx,
            "undoing a change",
            move |sandbox| {
                visible_entry(sandbox, databases.all(), &journal, id)?;
                undo::undo(sandbox, &journal, id, force)
            },
            move |undone| undone_result(id, undone),
        )
        .await
    }
}

/// The result of an undo.
fn undone_result(id: i64, undone: Undone) -> CallToolResult {
    let mut text = format!("Undid change #{id}: {}", undone.summary);
    if let Some(recorded) = &undone.recorded {
        text.push_str(&format!(
            "\n[recorded as change #{}: undo_change with id {} redoes #{id}]",
            recorded.id, recorded.id
        ));
    }
    let value = UndoChangeOutput { undone: id, summary: undone.summary, change: undone.recorded };
    structured(vec![ContentBlock::text(text)], &value)
}
