//! The MCP tools: file tools in `files`, combined into one router here, and the helpers every tool
//! shares (running blocking core work off the async threads, structured results).

pub(crate) mod files;
pub(crate) mod history;
pub(crate) mod sql;

use rmcp::ErrorData;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{CallToolResult, ContentBlock};

use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::service::RequestContext;

use crate::sandbox::Sandbox;
use crate::sandbox::walk::Progress;
use crate::sandbox::write::record::Record;
use crate::server::Server;
use crate::server::errors::{join_error, tool_error};
use crate::server::history::{Recorder, annotate};
use crate::server::progress::{Meter, drive};

/// Names of the tools that change files; they are not offered when every root is read-only.
pub(crate) const FILE_WRITE_TOOLS: &[&str] =
    &["write_file", "edit_file", "create_directory", "move_file", "copy_file", "delete_file"];

/// Names of the SQL tools that change databases; offered only when some database is writable.
pub(crate) const SQL_WRITE_TOOLS: &[&str] = &["write_query", "create_table"];

/// What the server has to offer tools on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Offer {
    /// Some root exists.
    pub(crate) files: bool,
    /// Some root is writable.
    pub(crate) files_writable: bool,
    /// Some database exists.
    pub(crate) databases: bool,
    /// Some database is writable.
    pub(crate) databases_writable: bool,
    /// The change journal is on (so something is writable).
    pub(crate) history: bool,
}

/// The tools for what the server offers: file tools with roots, SQL tools with databases, and
/// the write tools of each only when something can be written.
pub(crate) fn router(offer: &Offer) -> ToolRouter<Server> {
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
    if offer.history {
        router += Server::history_tools();
    }
    for route in router.map.values_mut() {
        route.attr.input_schema = Arc::new(standard_schema(&route.attr.input_schema));
        if let Some(output) = &route.attr.output_schema {
            route.attr.output_schema = Some(Arc::new(standard_schema(output)));
        }
    }
    router
}

/// The formats JSON Schema 2020-12 defines. schemars adds its own for Rust number types
/// (`uint64`, `int32`, `double`, ...), which strict validators (ajv in the TypeScript SDK, the
/// Inspector's `--strict`) report as unknown; the range they imply is already in `minimum`.
const STANDARD_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// A tool schema with only standard JSON Schema 2020-12 formats: every other `format` is
/// dropped, wherever it is nested.
fn standard_schema(schema: &rmcp::model::JsonObject) -> rmcp::model::JsonObject {
    fn clean(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(object) => {
                let nonstandard = object
                    .get("format")
                    .and_then(serde_json::Value::as_str)
                    .is_some_and(|f| !STANDARD_FORMATS.contains(&f));
                if nonstandard {
                    object.remove("format");
                }
                object.values_mut().for_each(clean);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(clean),
            _ => {}
        }
    }
    let mut value = serde_json::Value::Object(schema.clone());
    clean(&mut value);
    match value {
        serde_json::Value::Object(object) => object,
        _ => unreachable!("cleaning keeps an object an object"),
    }
}

impl Server {
    /// Runs sandbox work on the blocking pool and turns its outcome into a tool result: `render`
    /// on success, an `isError` result on failure. A panic in the work is an internal error for
    /// this request only.
    pub(crate) async fn run_files<T, W, R>(
        &self,
        ctx: &RequestContext<RoleServer>,
        what: &'static str,
        work: W,
        render: R,
    ) -> Result<CallToolResult, ErrorData>
    where
        T: Send + 'static,
        W: FnOnce(&Sandbox) -> crate::sandbox::Result<T> + Send + 'static,
        R: FnOnce(T) -> CallToolResult,
    {
        self.roots_ready().await;
        let sandbox = self.sandbox();
        let outcome = self
            .spawn_blocking_for(Some(&ctx.id), move || work(&sandbox))
            .await
            .map_err(|e| join_error(what, e))?;
        Ok(rendered(outcome, render))
    }
}

impl Server {
    /// `run_files` for work that changes files: the change is recorded in the change journal
    /// (`tool` names it there), and the result says how to undo it, or that it cannot be undone.
    pub(crate) async fn run_recorded<T, W, R>(
        &self,
        ctx: &RequestContext<RoleServer>,
        what: &'static str,
        tool: &'static str,
        work: W,
        render: R,
    ) -> Result<CallToolResult, ErrorData>
    where
        T: Send + 'static,
        W: FnOnce(&Sandbox, &mut dyn Record) -> crate::sandbox::Result<T> + Send + 'static,
        R: FnOnce(T) -> CallToolResult,
    {
        let journal = self.journal();
        self.run_files(
            ctx,
            what,
            move |sandbox| {
                let mut recorder = Recorder::new(journal, tool);
                let out = work(sandbox, &mut recorder);
                let recorded = recorder.finish();
                out.map(|out| (out, recorded))
            },
            |(out, recorded)| {
                let mut result = render(out);
                annotate(&mut result, recorded);
                result
            },
        )
        .await
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
        self.roots_ready().await;
        let sandbox = self.sandbox();
        let timeout = sandbox.limits().tool_timeout;
        let progress = Arc::new(Progress::default());
        let scoped = Arc::clone(&progress);
        let task = self.spawn_blocking_for(Some(&ctx.id), move || {
            scoped.start_clock(timeout);
            scoped.scope(|| work(&sandbox))
        });
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
        let mut result = rendered(joined.map_err(|e| join_error(what, e))?, render);
        if progress.timed_out() && result.is_error != Some(true) {
            stopped_early(&mut result, what, timeout);
        }
        Ok(result)
    }
}

/// A sandbox call's outcome as a tool result: rendered, or the error's result.
fn rendered<T>(
    outcome: crate::sandbox::Result<T>,
    render: impl FnOnce(T) -> CallToolResult,
) -> CallToolResult {
    match outcome {
        Ok(value) => render(value),
        Err(err) => tool_error(&err),
    }
}

/// Marks a walk's result as partial: it stopped at `--tool-timeout`.
fn stopped_early(result: &mut CallToolResult, what: &str, timeout: std::time::Duration) {
    tracing::warn!(
        "{what} ran into --tool-timeout ({}s) and returned a partial result",
        timeout.as_secs_f64()
    );
    result.content.push(ContentBlock::text(format!(
        "[stopped early: {what} reached --tool-timeout ({}s), so this result is partial; narrow the path or the pattern, or raise --tool-timeout]",
        timeout.as_secs_f64()
    )));
    crate::server::spliced::materialize(&mut result.structured_content);
    if let Some(serde_json::Value::Object(fields)) = &mut result.structured_content
        && fields.contains_key("truncated")
    {
        fields.insert("truncated".to_owned(), serde_json::Value::Bool(true));
    }
}

/// The result of a call the client cancelled (it will not look at it).
pub(crate) fn cancelled(what: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(format!("cancelled by the client while {what}"))])
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// Every place a subschema sits, with the keywords that hold one, a list of them, or a map of
    /// them.
    const SCHEMA_KEYWORDS: &[&str] =
        &["items", "additionalProperties", "not", "if", "then", "else", "contains"];
    const SCHEMA_LIST_KEYWORDS: &[&str] = &["anyOf", "oneOf", "allOf", "prefixItems"];
    const SCHEMA_MAP_KEYWORDS: &[&str] = &["properties", "$defs", "patternProperties"];

    /// Collects what a strict validator would reject: formats outside 2020-12, and schemas that
    /// are bare `true` or `{}` (no type where one is known).
    fn problems(schema: &Value, at: &str, found: &mut Vec<String>) {
        match schema {
            Value::Bool(_) => found.push(format!("{at}: a bare boolean schema")),
            Value::Object(object) => {
                if object.is_empty() {
                    found.push(format!("{at}: an empty schema"));
                }
                if let Some(format) = object.get("format").and_then(Value::as_str)
                    && !STANDARD_FORMATS.contains(&format)
                {
                    found.push(format!("{at}: format {format}"));
                }
                for (key, value) in object {
                    let here = format!("{at}/{key}");
                    if SCHEMA_KEYWORDS.contains(&key.as_str()) {
                        problems(value, &here, found);
                    } else if SCHEMA_LIST_KEYWORDS.contains(&key.as_str()) {
                        for (idx, item) in value.as_array().into_iter().flatten().enumerate() {
                            problems(item, &format!("{here}/{idx}"), found);
                        }
                    } else if SCHEMA_MAP_KEYWORDS.contains(&key.as_str()) {
                        for (name, item) in value.as_object().into_iter().flatten() {
                            problems(item, &format!("{here}/{name}"), found);
                        }
                    }
                }
            }
            other => found.push(format!("{at}: {other} is not a schema")),
        }
    }

    #[test]
    fn every_tool_schema_is_standard_json_schema() {
        let offer = Offer {
            files: true,
            files_writable: true,
            databases: true,
            databases_writable: true,
            history: true,
        };
        let tools = router(&offer).list_all();
        assert!(tools.len() > 20, "{} tools", tools.len());
        let mut found = Vec::new();
        for tool in &tools {
            let input = Value::Object((*tool.input_schema).clone());
            problems(&input, &format!("{}.inputSchema", tool.name), &mut found);
            if let Some(output) = &tool.output_schema {
                let output = Value::Object((**output).clone());
                problems(&output, &format!("{}.outputSchema", tool.name), &mut found);
            }
        }
        assert!(found.is_empty(), "schemas a strict validator rejects:\n{}", found.join("\n"));
    }

    #[test]
    fn the_checker_finds_what_it_looks_for() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {
                "n": { "type": "integer", "format": "uint64" },
                "any": true,
                "list": { "type": "array", "items": {} },
                "when": { "type": "string", "format": "date-time" }
            }
        });
        let mut found = Vec::new();
        problems(&schema, "t", &mut found);
        assert_eq!(found.len(), 3, "{found:?}");
    }
}
