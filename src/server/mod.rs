//! The MCP layer, and the only code that imports rmcp: `Server` implements `ServerHandler`,
//! declares exactly the capabilities it implements, and turns requests into calls on the cores.
//! `serve_stdio` runs it over stdin/stdout until the client closes stdin.

pub(crate) mod db_resources;
pub(crate) mod errors;
pub(crate) mod history;
pub mod host_log;
pub(crate) mod progress;
pub(crate) mod prompts;
pub(crate) mod render;
pub(crate) mod resources;
pub(crate) mod roots;
pub(crate) mod spliced;
pub(crate) mod subscriptions;
pub(crate) mod tools;
pub(crate) mod transport;
pub(crate) mod uri;

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    CompleteRequestParams, CompleteResult, GetPromptRequestParams, GetPromptResponse,
    Implementation, InitializeRequestParams, InitializeResult, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig,
    SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::{
    NotificationContext, RequestContext, ServerInitializeError, SubscriptionContext,
};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt, tool_handler};

use crate::config::Config;
use crate::db::Databases;
use crate::sandbox::Sandbox;
use crate::sandbox::root::Mode;

// Hosts show these to the model once per session: they say how the tools fit together (which to
// start with, how paging works), which the tools' own descriptions cannot.
const FILE_INSTRUCTIONS: &str = "\
Files: read, search and edit files under the allowed directories (list_allowed_directories shows \
them and which are writable). Paths may be absolute, relative to the first allowed directory, or \
file:// URIs; nothing outside the allowed directories is reachable. To find things use grep_files \
(contents) and search_files (names); read large files in parts with read_text_file's head, tail or \
offset/limit; change files with edit_file (it returns a diff; dryRun previews). Every file is also \
a file:// resource.";

const DB_INSTRUCTIONS: &str = "\
Databases: SQLite databases the user opened (list_databases shows them and which allow writes; \
pass db when several are open). Start with list_tables and describe_table, or read the \
sqlite://<db>/schema resource; answer questions with read_query (one statement, ?1 placeholders \
with params, large results a page at a time through next_cursor); check a plan with \
explain_query. Writes (write_query, create_table) exist only for databases opened with --db-rw.";

const HISTORY_INSTRUCTIONS: &str = "\
Undo: changes made by write_file, edit_file, move_file, delete_file, create_directory, \
copy_file over a file, write_query and create_table are recorded; each result gives its change \
id, or says that it cannot be undone. When the user regrets a change, or one of yours went wrong, \
find it with list_changes, check it with show_change, and reverse it with undo_change.";

/// The MCP server: shared, cheap to clone (requests run concurrently on clones). rmcp hands
/// each request a `&Server`; anything a request moves into a blocking task or a spawned future
/// must be owned, hence the `Arc`s and the clones rather than borrowed state.
#[derive(Clone)]
pub(crate) struct Server {
    shared: Arc<Shared>,
    tool_router: ToolRouter<Server>,
    offer: tools::Offer,
}

struct Shared {
    sandbox: Arc<Sandbox>,
    databases: Arc<Databases>,
    resource_page_size: usize,
    ignore_client_roots: bool,
    instructions: String,
    subscriptions: subscriptions::Subscriptions,
    progress_after: std::time::Duration,
    /// Holds file requests while a client's roots are awaited.
    roots_gate: Arc<roots::RootsGate>,
    /// Permits for file work on the blocking pool (`--max-blocking-calls`): a flood of calls
    /// waits here instead of starting a thread (and holding its buffers) each.
    blocking: Arc<tokio::sync::Semaphore>,
    /// Answers waiting to be written: file work waits while there are too many (set once the
    /// transport exists).
    backlog: std::sync::OnceLock<transport::Backlog>,
    /// The change journal, unless off.
    journal: Option<Arc<crate::journal::Journal>>,
}

impl Server {
    /// A server over the configured roots and databases. Write tools are offered only if
    /// something is writable.
    pub(crate) fn new(config: Config) -> Self {
        // A tool that could only ever fail (a write tool with every root read-only, SQL tools
        // without a database) is not offered at all: models pick tools from the list, and an
        // unusable one costs them a call and the user a confusing error.
        let offer = tools::Offer {
            files: !config.sandbox.roots().is_empty(),
            files_writable: config.sandbox.roots().iter().any(|r| r.mode() == Mode::Writable),
            databases: !config.databases.is_empty(),
            databases_writable: config.databases.all().iter().any(|d| d.writable()),
            history: config.journal.is_some(),
        };
        // The instructions describe only what is offered, for the same reason.
        let instructions = [
            (offer.files, FILE_INSTRUCTIONS),
            (offer.databases, DB_INSTRUCTIONS),
            (offer.history, HISTORY_INSTRUCTIONS),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, text)| *text)
        .collect::<Vec<_>>()
        .join("\n\n");
        let shared = Shared {
            instructions,
            databases: Arc::new(config.databases),
            sandbox: Arc::new(config.sandbox),
            resource_page_size: config.resource_page_size,
            ignore_client_roots: config.ignore_client_roots,
            subscriptions: subscriptions::Subscriptions::new(config.watch),
            progress_after: config.progress_after,
            roots_gate: Arc::new(roots::RootsGate::new()),
            blocking: Arc::new(tokio::sync::Semaphore::new(config.max_blocking_calls)),
            backlog: std::sync::OnceLock::new(),
            journal: config.journal,
        };
        Server { shared: Arc::new(shared), tool_router: tools::router(&offer), offer }
    }

    /// The sandbox, for moving into blocking tasks.
    pub(crate) fn sandbox(&self) -> Arc<Sandbox> {
        Arc::clone(&self.shared.sandbox)
    }

    /// The change journal, unless off.
    pub(crate) fn journal(&self) -> Option<Arc<crate::journal::Journal>> {
        self.shared.journal.clone()
    }

    /// The databases.
    pub(crate) fn databases(&self) -> Arc<Databases> {
        Arc::clone(&self.shared.databases)
    }

    /// How long a call runs before it reports progress, and how often after that.
    pub(crate) fn progress_after(&self) -> std::time::Duration {
        self.shared.progress_after
    }

    /// Runs file work on the blocking pool once one of the `--max-blocking-calls` permits is
    /// free. The permit travels with the work, so a call whose client gave up still counts until
    /// its thread is done.
    pub(crate) async fn spawn_blocking<T, F>(&self, work: F) -> Result<T, tokio::task::JoinError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.spawn_blocking_for(None, work).await
    }

    /// `spawn_blocking` for the call with request id `id`: its permit is then held until its
    /// answer is queued for writing (see `transport::Backlog::hold`), so answers in the making
    /// count against `--max-blocking-calls` too.
    pub(crate) async fn spawn_blocking_for<T, F>(
        &self,
        id: Option<&rmcp::model::RequestId>,
        work: F,
    ) -> Result<T, tokio::task::JoinError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permit = Arc::clone(&self.shared.blocking)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        // A client that does not read its answers gets no new file work done for it: every call
        // would add an answer to those waiting. Checked with the permit held, so the calls that
        // queued for one while the backlog was small do not all start at once later.
        let backlog = self.shared.backlog.get();
        if let Some(backlog) = backlog {
            backlog.wait().await;
        }
        let (value, permit) = tokio::task::spawn_blocking(move || (work(), permit)).await?;
        match (backlog, id) {
            (Some(backlog), Some(id)) => backlog.hold(id.clone(), permit),
            _ => drop(permit),
        }
        Ok(value)
    }

    pub(crate) fn resource_page_size(&self) -> usize {
        self.shared.resource_page_size
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Server {
    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        // A client that declares roots will narrow the sandbox once it answers roots/list; file
        // requests wait for that from now on (see `roots`).
        if self.expects_client_roots(request.capabilities.roots.is_some()) {
            self.shared.roots_gate.expect_roots();
        }
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    // `logging` is deprecated in 2026-07-28 (the level comes per request); legacy hosts use it.
    #[allow(deprecated)]
    fn get_info(&self) -> ServerConfig {
        // Subscriptions and list_changed are declared only when the watcher is on.
        let capabilities = if self.shared.subscriptions.enabled() {
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_resources_list_changed()
                .enable_prompts()
                .enable_completions()
                .enable_logging()
                .build()
        } else {
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .enable_completions()
                .enable_logging()
                .build()
        };
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new(
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(self.shared.instructions.clone())
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.list_resources_page(request.and_then(|r| r.cursor), &ctx).await
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(resources::templates(self.offer.files, self.offer.databases))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri;
        let result = if uri.starts_with("sqlite:") {
            self.read_database_resource(uri, &ctx).await?
        } else {
            self.read_file_resource(uri).await?
        };
        Ok(result.into())
    }

    // Legacy hosts choose the level of the log messages sent to them (see `host_log`).
    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        host_log::global().set_legacy_level(request.level as u8);
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(prompts::list(&self.offer))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        Ok(self.get_prompt_messages(request, &ctx).await?.into())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        Ok(CompleteResult::new(self.complete_argument(request, &ctx).await?))
    }

    // `resources/subscribe` is the legacy era's mechanism (deprecated in 2026-07-28, which uses
    // `subscriptions/listen`); legacy hosts are most hosts today, so we serve both.
    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscribe_uri(request.uri).await
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.unsubscribe_uri(&request.uri);
        Ok(())
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        self.accept_filter(requested)
    }

    async fn listen(&self, cx: SubscriptionContext) -> Result<(), ErrorData> {
        self.listen_loop(cx).await
    }

    async fn on_initialized(&self, ctx: NotificationContext<RoleServer>) {
        self.apply_client_roots(&ctx.peer).await;
    }

    async fn on_roots_list_changed(&self, ctx: NotificationContext<RoleServer>) {
        // Until the new roots are applied, file requests wait: they may be narrower.
        self.apply_client_roots(&ctx.peer).await;
    }
}

/// Serves MCP on stdin/stdout until the client closes stdin. A client that closes stdin before
/// choosing a protocol era is a normal exit, not an error.
///
/// Long because it wires the whole server in order (signals, transport, service, roots,
/// subscriptions, shutdown); each step needs the ones before it.
pub async fn serve_stdio(config: Config) -> anyhow::Result<()> {
    let roots: Vec<String> = config
        .sandbox
        .allowed()
        .into_iter()
        .map(|d| format!("{} ({})", d.path, if d.writable { "rw" } else { "ro" }))
        .collect();
    let databases: Vec<String> = config
        .databases
        .all()
        .iter()
        .map(|d| {
            let mode = if d.writable() { "rw" } else { "ro" };
            format!("{}={} ({mode})", d.name(), d.path().display())
        })
        .collect();
    tracing::info!(?roots, ?databases, "serving on stdio");
    let limits = transport::FrameLimits {
        max_message_bytes: config.max_message_bytes,
        max_unsent_bytes: config.max_unsent_bytes,
    };
    host_log::global().set_per_minute(config.max_log_messages);
    let server = Server::new(config);
    // Changes a stopped server left half made are settled before any tool can list or undo
    // them (a read of the journal, quick when there are none).
    if let Some(journal) = server.journal() {
        let sandbox = server.sandbox();
        let databases = server.databases();
        let settling = Arc::clone(&journal);
        let on_databases = tokio::task::spawn_blocking(move || {
            history::settle(&settling, &sandbox, databases.all())
        })
        .await?;
        let databases = server.databases();
        for (id, change) in on_databases {
            history::settle_sql(&journal, databases.all(), id, change).await;
        }
        // Pruning may take a while on a large journal; serving need not wait for it.
        drop(tokio::task::spawn_blocking(move || history::prune(&journal)));
    }
    let gate = Arc::clone(&server.shared.roots_gate);
    let signals = transport::Signals::new(Arc::new(move || gate.roots_changed()));
    let (stdin, stdout) = rmcp::transport::stdio_pipes();
    let _ = server.shared.backlog.set(signals.backlog(limits.max_unsent_bytes));
    let transport = transport::LineTransport::new(stdin, stdout, limits, signals.clone());
    let running = match server.clone().serve(transport).await {
        Ok(running) => running,
        Err(ServerInitializeError::ConnectionClosed(_)) => return Ok(()),
        Err(err) => return Err(err.into()),
    };
    // The session exists: start watching (in the background) and, for a legacy session, forward
    // its subscriptions' notifications. Modern clients get theirs through subscriptions/listen.
    server.shared.subscriptions.start(server.sandbox(), server.databases());
    let peer = running.peer().clone();
    if peer.peer_info().is_some() {
        host_log::global().open_legacy();
        tokio::spawn(subscriptions::forward_legacy(server.clone(), peer));
    }
    // When stdin closes, the client is gone: calls about to finish get `EXIT_GRACE` to answer,
    // then the server exits without waiting for the rest (a long query, a grep, an open
    // subscriptions/listen). rmcp would wait up to 5 s for them. Returning drops the service,
    // which cancels every call; `main` then leaves blocking work behind.
    let mut waiting = std::pin::pin!(running.waiting());
    let reason = tokio::select! {
        reason = &mut waiting => Some(reason?),
        () = signals.stdin_closed.cancelled() => {
            match tokio::time::timeout(EXIT_GRACE, &mut waiting).await {
                Ok(reason) => Some(reason?),
                Err(_) => None,
            }
        }
    };
    // Answers already made go out before the process ends (`printf ... | mcp-files-sqlite`).
    signals.flushed(EXIT_GRACE).await;
    match reason {
        Some(reason) => tracing::info!(?reason, "client disconnected"),
        None => tracing::info!("client disconnected; stopped the calls still running"),
    }
    Ok(())
}

/// How long calls still running when stdin closes may take to answer before the server exits,
/// and then how long writing the answers may take: together well inside the 100 ms in which the
/// server exits after stdin's end.
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_millis(30);
