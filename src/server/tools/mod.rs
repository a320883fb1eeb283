//! The MCP tools: file tools in `files`, combined into one router here, and the helpers every tool
//! shares (running blocking core work off the async threads, structured results).

pub mod files;

use rmcp::ErrorData;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{CallToolResult, ContentBlock};
use serde::Serialize;

use crate::sandbox::Sandbox;
use crate::server::Server;
use crate::server::errors::{join_error, tool_error};

/// Names of the tools that change files; they are not offered when every root is read-only.
pub const FILE_WRITE_TOOLS: &[&str] =
    &["write_file", "edit_file", "create_directory", "move_file", "copy_file", "delete_file"];

/// All tools, minus the write tools when `writable` is false.
pub fn router(writable: bool) -> ToolRouter<Server> {
    let mut router = Server::file_tools();
    if !writable {
        for name in FILE_WRITE_TOOLS {
            router.remove_route(name);
        }
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
