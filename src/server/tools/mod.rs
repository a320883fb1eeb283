//! The MCP tools: file tools in `files`, combined into one router here, and the helpers every tool
//! shares (running blocking core work off the async threads, structured results).

pub mod files;
pub mod sql;

use rmcp::ErrorData;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{CallToolResult, ContentBlock};
use serde::Serialize;

use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::service::RequestContext;

use crate::sandbox::Sandbox;
use crate::sandbox::walk::Progress;
use crate::server::Server;
use crate::server::errors::{join_error, tool_error};
use crate::server::progress::{Meter, drive};

/// Names of the tools that change files; they are not offered when every root is read-only.
pub const FILE_WRITE_TOOLS: &[&str] =
    &["write_file", "edit_file", "create_directory", "move_file", "copy_file", "delete_file"];

/// Names of the SQL tools that change databases; offered only when some database is writable.
pub const SQL_WRITE_TOOLS: &[&str] = &["write_query", "create_table"];

/// What the server has to offer tools on.
#[derive(Debug, Clone, Copy)]
pub struct Offer {
    /// Some root exists.
    pub files: bool,
    /// Some root is writable.
    pub files_writable: bool,
    /// Some database exists.
    pub databases: bool,
    /// Some database is writable.
    pub databases_writable: bool,
}

/// The tools for what the server offers: file tools with roots, SQL tools with databases, and
/// the write tools of each only when something can be written.
pub fn router(offer: &Offer) -> ToolRouter<Server> {
    let mut router = ToolRouter::new();
    if offer.files {
        let mut files = Server::file_tools();
        if !offer.files_writable {
            for name in FILE_WRITE_TOOLS {
                files.remove_route(name);
            }
        }
        router += files;
    }
    if offer.databases {
        let mut sql = Server::sql_tools();
        if !offer.databases_writable {
            for name in SQL_WRITE_TOOLS {
                sql.remove_route(name);
            }
        }
        router += sql;
    }
    router
}

impl Server {
    /// Runs sandbox work on the blocking pool and turns its outcome into a tool result: `render`
    /// on success, an `isError` result on failure. A panic in the work is an internal error for
    /// this request only.
    pub(crate) async fn run_files<T, W, R>(
        &self,
        what: &'static str,
        work: W,
        render: R,
    ) -> Result<CallToolResult, ErrorData>
    where
        T: Send + 'static,
        W: FnOnce(&Sandbox) -> crate::sandbox::Result<T> + Send + 'static,
        R: FnOnce(T) -> CallToolResult,
    {
        let sandbox = self.sandbox();
        let outcome = tokio::task::spawn_blocking(move || work(&sandbox))
            .await
            .map_err(|e| join_error(what, e))?;
        Ok(match outcome {
            Ok(value) => render(value),
            Err(err) => tool_error(&err),
        })
    }
}

impl Server {
    /// `run_files` for work that walks directories (tree, search, grep): reports the entries
    /// examined as progress once it runs long, and stops the walk when the client cancels.
    pub(crate) async fn run_walk<T, W, R>(
        &self,
        what: &'static str,
        ctx: &RequestContext<RoleServer>,
        work: W,
        render: R,
    ) -> Result<CallToolResult, ErrorData>
    where
        T: Send + 'static,
        W: FnOnce(&Sandbox) -> crate::sandbox::Result<T> + Send + 'static,
        R: FnOnce(T) -> CallToolResult,
    {
        let sandbox = self.sandbox();
        let progress = Arc::new(Progress::default());
        let scoped = Arc::clone(&progress);
        let task = tokio::task::spawn_blocking(move || scoped.scope(|| work(&sandbox)));
        let meter = Meter {
            count: || progress.entries(),
            describe: |n, elapsed: std::time::Duration| {
                format!("{what}: {n} entries examined in {:.1}s", elapsed.as_secs_f64())
            },
        };
        let Some(joined) =
            drive(ctx, self.progress_after(), task, meter, || progress.cancel()).await
        else {
            return Ok(cancelled(what));
        };
        Ok(match joined.map_err(|e| join_error(what, e))? {
            Ok(value) => render(value),
            Err(err) => tool_error(&err),
        })
    }
}

/// The result of a call the client cancelled (it will not look at it).
pub fn cancelled(what: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(format!("cancelled by the client while {what}"))])
}

/// A successful result with text for the model and the same facts as `structuredContent`.
pub fn structured<T: Serialize>(blocks: Vec<ContentBlock>, value: &T) -> CallToolResult {
    let mut result = CallToolResult::success(blocks);
    match serde_json::to_value(value) {
        Ok(json) => result.structured_content = Some(json),
        Err(err) => tracing::error!(error = %err, "could not serialize structured tool output"),
    }
    result
}

/// The note appended to any result cut short by a limit.
pub fn truncation_note(shown: usize, what: &str, hint: &str) -> String {
    format!(
        "[truncated: showing the first {shown} {what}; the limit is --max-entries / --max-result-bytes. {hint}]"
    )
}
