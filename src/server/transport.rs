//! The stdio transport: our own framing in front of rmcp's service loop, so that every line a
//! client sends gets an answer or a deliberate silence, and the server learns at once when stdin
//! closes.
//!
//! rmcp's stdio transport drops lines that are not JSON and oversized lines without a word (on
//! purpose: it fears error storms with peers that echo), answers a message of the wrong shape with
//! an id-less error, and ends the whole server when a notification arrives before `initialize`.
//! A client that sent a request then waits forever. Here, per line:
//!
//! - not JSON (including invalid UTF-8 and nesting too deep to parse): `-32700` parse error;
//! - JSON that is no JSON-RPC message (an array batch, a number, a request with a malformed id):
//!   `-32600` invalid request, with the request's `id` when one can be read;
//! - a request whose params do not fit its method: `-32602`, with its id;
//! - longer than `--max-message-bytes`: `-32600` naming the limit, with the `id` if it can be read
//!   from the line's first bytes; the rest of the line is skipped without being held;
//! - a request whose id is still in flight: `-32600`; the request in flight keeps its own answer;
//! - before the session exists (no `initialize` yet, and no 2026-07-28 request carrying its
//!   `_meta`): requests other than `ping` and `server/discover` are told to send `initialize`
//!   first, and notifications and responses are ignored (logged at debug) instead of ending the
//!   server;
//! - a notification that is not valid is ignored: JSON-RPC never answers notifications.
//!
//! On the way out, rmcp's default handlers name a missing method with its bare name
//! (`"message": "prompts/list"`); those become "method not found: prompts/list".
//!
//! This module knows JSON-RPC framing and rmcp's message types, nothing of the server's tools.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rmcp::RoleServer;
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ClientRequest, ErrorCode, GetMeta, JsonRpcMessage,
    ProtocolVersion, RequestId, ServerJsonRpcMessage,
};
use rmcp::transport::Transport;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

/// Largest message (one line on stdin) the server accepts, unless `--max-message-bytes` says
/// otherwise: room for a `write_file` of a 20 MB file (rmcp's own limit, 16 MiB, is below that),
/// while bounding what one line can make the server hold.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;
/// The smallest `--max-message-bytes`: an `initialize` request must fit.
pub const MIN_MAX_MESSAGE_BYTES: usize = 4 * 1024;
/// The requests MCP defines that a client may send (both eras). One of these that rmcp could not
/// parse into its typed form had params of the wrong shape.
const STANDARD_REQUESTS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "completion/complete",
    "logging/setLevel",
    "prompts/get",
    "prompts/list",
    "resources/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "resources/templates/list",
    "subscriptions/listen",
    "tools/call",
    "tools/list",
    "tasks/get",
    "tasks/cancel",
];

/// How much of an oversized line is kept to find its `id`.
const HEAD_BYTES: usize = 4 * 1024;

/// Most bytes of answers that may wait to be written (the client is not reading them) before
/// the server stops reading requests, unless `--max-unsent-bytes` says otherwise.
pub const DEFAULT_MAX_UNSENT_BYTES: usize = 64 * 1024 * 1024;

/// The transport's limits, from the configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameLimits {
    /// `--max-message-bytes`: the longest line a client may send.
    pub(crate) max_message_bytes: usize,
    /// `--max-unsent-bytes`: answers waiting to be written before stdin stops being read.
    pub(crate) max_unsent_bytes: usize,
}

/// What the transport tells the rest of the server.
#[derive(Clone)]
pub(crate) struct Signals {
    /// Cancelled when stdin reaches its end (or fails): the client is gone.
    pub(crate) stdin_closed: CancellationToken,
    /// Called as `notifications/roots/list_changed` is read, before any later message is handed
    /// on: rmcp runs notification handlers on tasks of their own, so a request read after the
    /// notification could otherwise be served before its handler ran.
    roots_list_changed: Arc<dyn Fn() + Send + Sync>,
    /// Messages waiting to be written.
    outbox: Arc<OutboxState>,
}

/// Lets file work wait while too many answers wait to be written (see `Server::spawn_blocking`).
#[derive(Clone)]
pub(crate) struct Backlog {
    state: Arc<OutboxState>,
    limit: usize,
}

impl Backlog {
    /// Waits while more than the limit of answers wait to be written (not counting requests:
    /// the work that answers them must not wait for itself).
    pub(crate) async fn wait(&self) {
        loop {
            let written = self.state.written.notified();
            let over = self.state.queued_bytes.load(Ordering::Acquire) > self.limit;
            if !over || self.state.failed.load(Ordering::Acquire) {
                return;
            }
            written.await;
        }
    }
}

impl Backlog {
    /// Keeps a finished call's work permit until its answer is queued for writing: between the
    /// handler's return and the queue, rmcp converts and serializes the answer, and without this
    /// a fast producer could pile up answers there that no limit counts.
    pub(crate) fn hold(&self, id: RequestId, permit: tokio::sync::OwnedSemaphorePermit) {
        lock(&self.state.held).insert(id, permit);
    }
}

impl Signals {
    /// The handle file work waits on, with `--max-unsent-bytes`.
    pub(crate) fn backlog(&self, limit: usize) -> Backlog {
        Backlog { state: Arc::clone(&self.outbox), limit }
    }

    /// Signals that call `roots_list_changed` when the client says its roots changed.
    pub(crate) fn new(roots_list_changed: Arc<dyn Fn() + Send + Sync>) -> Signals {
        Signals {
            stdin_closed: CancellationToken::new(),
            roots_list_changed,
            outbox: Arc::default(),
        }
    }

    /// Waits until every message handed to the transport has been written to stdout (or writing
    /// failed), at most `timeout`.
    pub(crate) async fn flushed(&self, timeout: std::time::Duration) {
        let state = &self.outbox;
        let _ = tokio::time::timeout(timeout, async {
            loop {
                let drained = state.drained.notified();
                if state.queued.load(Ordering::Acquire) == 0 || state.failed.load(Ordering::Acquire)
                {
                    return;
                }
                drained.await;
            }
        })
        .await;
    }
}

/// Bookkeeping of the writer task: messages queued and not yet written.
#[derive(Debug, Default)]
struct OutboxState {
    queued: std::sync::atomic::AtomicUsize,
    /// Their bytes: while over `--max-unsent-bytes`, stdin is not read, and no new file work
    /// starts.
    queued_bytes: std::sync::atomic::AtomicUsize,
    /// Bytes of the requests read and not yet answered: counted against the same limit, so a
    /// flood of requests cannot pile up behind the calls in flight either.
    request_bytes: std::sync::atomic::AtomicUsize,
    failed: AtomicBool,
    drained: tokio::sync::Notify,
    /// Woken whenever a message has been written (or writing failed).
    written: tokio::sync::Notify,
    /// The work permits of answered calls whose answers are not queued yet (see
    /// `Backlog::hold`), by request id.
    held: Mutex<HashMap<RequestId, tokio::sync::OwnedSemaphorePermit>>,
}

/// The sending side of the writer task. Enqueuing never awaits, so nothing that writes can be
/// cancelled half way through a line (rmcp polls `receive` inside a `select!`, and a write cut
/// short there would leave half a message on stdout).
#[derive(Clone)]
struct Outbox {
    tx: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    state: Arc<OutboxState>,
}

impl Outbox {
    /// Starts the task that owns `writer` and writes each queued line whole, in order.
    fn spawn<W: AsyncWrite + Unpin + Send + 'static>(
        mut writer: W,
        state: Arc<OutboxState>,
    ) -> Outbox {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        let task_state = Arc::clone(&state);
        tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                let written = async {
                    writer.write_all(&line).await?;
                    // Flush once the queue is empty, so a burst goes out in few writes.
                    if rx.is_empty() {
                        writer.flush().await?;
                    }
                    std::io::Result::Ok(())
                }
                .await;
                task_state.queued.fetch_sub(1, Ordering::AcqRel);
                task_state.queued_bytes.fetch_sub(line.len(), Ordering::AcqRel);
                task_state.written.notify_waiters();
                if let Err(err) = written {
                    tracing::debug!(error = %err, "writing to stdout failed; the client is gone");
                    task_state.failed.store(true, Ordering::Release);
                    task_state.drained.notify_waiters();
                    return;
                }
                if task_state.queued.load(Ordering::Acquire) == 0 {
                    task_state.drained.notify_waiters();
                }
            }
        });
        Outbox { tx, state }
    }

    /// Queues one message (a newline is added); an error once stdout is gone.
    fn push(&self, mut line: Vec<u8>) -> std::io::Result<()> {
        if self.state.failed.load(Ordering::Acquire) {
            return Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "stdout is closed"));
        }
        line.push(b'\n');
        let len = line.len();
        self.state.queued.fetch_add(1, Ordering::AcqRel);
        self.state.queued_bytes.fetch_add(len, Ordering::AcqRel);
        self.tx.send(line).map_err(|_| {
            self.state.queued.fetch_sub(1, Ordering::AcqRel);
            self.state.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "stdout is closed")
        })
    }

    /// Waits while more than `limit` bytes of answers wait to be written: a client that does not
    /// read its answers gets no more requests read (cancel-safe: it only waits).
    async fn below(&self, limit: usize) {
        loop {
            let written = self.state.written.notified();
            let held = self.state.queued_bytes.load(Ordering::Acquire)
                + self.state.request_bytes.load(Ordering::Acquire);
            let over = held > limit;
            if !over || self.state.failed.load(Ordering::Acquire) {
                return;
            }
            written.await;
        }
    }
}

/// Newline-delimited JSON-RPC over any reader and writer (stdin and stdout in the binary).
pub(crate) struct LineTransport<R> {
    reader: BufReader<R>,
    line: Vec<u8>,
    /// While skipping the rest of an oversized line: its first bytes (for its id) and its length
    /// so far. Kept here, not in `read_line`, because a cancelled read resumes where it stopped.
    oversized: Option<(Vec<u8>, usize)>,
    max_message_bytes: usize,
    /// Most bytes of answers waiting to be written before stdin stops being read.
    max_unsent_bytes: usize,
    outbox: Outbox,
    /// Requests read and not yet answered, with their size in bytes.
    in_flight: Arc<Mutex<HashMap<RequestId, usize>>>,
    /// Whether the session exists (`initialize`, or a complete 2026-07-28 request, went through).
    established: Arc<AtomicBool>,
    signals: Signals,
}

/// One read from the client.
enum Read {
    /// A whole line is in `line`.
    Line,
    /// A line over the limit; its first bytes, for its id.
    Oversized { head: Vec<u8>, len: usize },
    /// The end of stdin, or an error reading it.
    Closed,
}

impl<R> LineTransport<R>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    /// A transport reading `reader` and writing `writer` (on a task of its own), accepting lines
    /// up to `max_message_bytes`. Must be called inside the runtime.
    pub(crate) fn new<W: AsyncWrite + Unpin + Send + 'static>(
        reader: R,
        writer: W,
        limits: FrameLimits,
        signals: Signals,
    ) -> Self {
        LineTransport {
            reader: BufReader::with_capacity(64 * 1024, reader),
            line: Vec::new(),
            oversized: None,
            max_message_bytes: limits.max_message_bytes,
            max_unsent_bytes: limits.max_unsent_bytes,
            outbox: Outbox::spawn(writer, Arc::clone(&signals.outbox)),
            in_flight: Arc::default(),
            established: Arc::default(),
            signals,
        }
    }

    /// Reads one line into `self.line` without letting it grow past the limit. Cancel-safe: the
    /// service loop polls `receive` in a `select!`, so a partial line stays in `self.line` for the
    /// next call, and bytes are consumed from the reader only once copied.
    async fn read_line(&mut self) -> Read {
        loop {
            let available = match self.reader.fill_buf().await {
                Ok(available) => available,
                Err(err) => {
                    tracing::debug!(error = %err, "reading stdin failed; ending the session");
                    return Read::Closed;
                }
            };
            if available.is_empty() {
                return Read::Closed;
            }
            let newline = memchr::memchr(b'\n', available);
            let take = newline.map_or(available.len(), |at| at + 1);
            let chunk = &available[..take];
            // The message's bytes, not counting the newline that ends it.
            let content = take - usize::from(newline.is_some());
            if let Some((_, len)) = &mut self.oversized {
                *len += content;
            } else if self.line.len() + content > self.max_message_bytes {
                // Keep the head (for the id); drop everything else up to the newline.
                let len = self.line.len() + content;
                let mut head = std::mem::take(&mut self.line);
                head.truncate(HEAD_BYTES);
                let room = HEAD_BYTES - head.len();
                head.extend_from_slice(&chunk[..room.min(chunk.len())]);
                self.oversized = Some((head, len));
            } else {
                self.line.extend_from_slice(chunk);
            }
            self.reader.consume(take);
            if newline.is_some() {
                return match self.oversized.take() {
                    Some((head, len)) => Read::Oversized { head, len },
                    None => Read::Line,
                };
            }
        }
    }

    /// Answers a line that never reached rmcp. A client that stopped reading is not an error
    /// here: the next read ends the session.
    fn reply(&self, id: Option<Value>, code: ErrorCode, message: String) {
        tracing::debug!(code = code.0, %message, "answering a message rmcp never sees");
        let reply = json!({
            "jsonrpc": "2.0",
            "id": id.unwrap_or(Value::Null),
            "error": { "code": code.0, "message": message },
        });
        let _ = self.outbox.push(reply.to_string().into_bytes());
    }

    /// Decides what to do with one parsed message: `Some` to hand it to rmcp.
    /// A request is answered (or cancelled, so it gets no answer): its id is free again and its
    /// bytes no longer count.
    fn answered(&self, id: &RequestId) {
        // Its answer is queued (or it was cancelled): the work permit it held is free.
        drop(lock(&self.outbox.state.held).remove(id));
        if let Some(size) = lock(&self.in_flight).remove(id) {
            self.outbox.state.request_bytes.fetch_sub(size, Ordering::AcqRel);
            self.outbox.state.written.notify_waiters();
        }
    }

    /// Decides what to do with one parsed message (`size` bytes on the wire): `Some` to hand it
    /// to rmcp.
    fn admit(
        &mut self,
        message: ClientJsonRpcMessage,
        size: usize,
    ) -> Option<ClientJsonRpcMessage> {
        let established = self.established.load(Ordering::Acquire);
        match &message {
            JsonRpcMessage::Request(request) => {
                // rmcp parses a standard method whose params do not fit (`"arguments": [1]` in a
                // tools/call) as a custom request, and then answers "method not found".
                if let ClientRequest::CustomRequest(custom) = &request.request
                    && STANDARD_REQUESTS.contains(&custom.method.as_str())
                {
                    let id = request.id.clone().into_json_value();
                    let message = format!(
                        "invalid params for {}: they do not have the shape the method takes (for example, tools/call needs a \"name\" string and an \"arguments\" object)",
                        custom.method
                    );
                    self.reply(Some(id), ErrorCode::INVALID_PARAMS, message);
                    return None;
                }
                if !established && !self.opens_session(&request.request) {
                    let id = request.id.clone().into_json_value();
                    let message = format!(
                        "send initialize first: {} came before the session exists (or, for protocol 2026-07-28, put io.modelcontextprotocol/protocolVersion and clientCapabilities in the request's _meta)",
                        request.request.method()
                    );
                    self.reply(Some(id), ErrorCode::INVALID_REQUEST, message);
                    return None;
                }
                let fresh = match lock(&self.in_flight).entry(request.id.clone()) {
                    std::collections::hash_map::Entry::Occupied(_) => false,
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(size);
                        self.outbox.state.request_bytes.fetch_add(size, Ordering::AcqRel);
                        true
                    }
                };
                if !fresh {
                    let id = request.id.clone().into_json_value();
                    let message = format!(
                        "request id {} is already used by a request still in flight; use a new id for each request",
                        request.id
                    );
                    self.reply(Some(id), ErrorCode::INVALID_REQUEST, message);
                    return None;
                }
            }
            JsonRpcMessage::Notification(notification) => {
                if !established {
                    tracing::debug!("ignoring a notification that came before initialize");
                    return None;
                }
                match &notification.notification {
                    // A cancelled request gets no answer, so its id is free again.
                    ClientNotification::CancelledNotification(cancelled) => {
                        if let Some(id) = &cancelled.params.request_id {
                            self.answered(id);
                        }
                    }
                    ClientNotification::RootsListChangedNotification(_) => {
                        (self.signals.roots_list_changed)();
                    }
                    _ => {}
                }
            }
            JsonRpcMessage::Response(_) | JsonRpcMessage::Error(_) => {
                if !established {
                    tracing::debug!("ignoring a response that came before initialize");
                    return None;
                }
            }
        }
        Some(message)
    }

    /// Whether a request may come before the session exists, and whether it opens it: `ping` and
    /// `server/discover` may (and open nothing); `initialize` opens a legacy session; a request
    /// whose `_meta` names a supported protocol version with the fields 2026-07-28 requires opens a
    /// modern one. Any other request with a protocol version in its `_meta` is let through, so
    /// rmcp can say what is missing or unsupported.
    fn opens_session(&self, request: &ClientRequest) -> bool {
        match request {
            ClientRequest::PingRequest(_) | ClientRequest::DiscoverRequest(_) => true,
            ClientRequest::InitializeRequest(_) => {
                self.established.store(true, Ordering::Release);
                true
            }
            other => {
                let meta = other.get_meta();
                let Some(version) = meta.protocol_version() else { return false };
                let complete =
                    meta.missing_required_keys(&ProtocolVersion::V_2026_07_28).is_empty();
                if complete && ProtocolVersion::KNOWN_VERSIONS.contains(&version) {
                    self.established.store(true, Ordering::Release);
                }
                true
            }
        }
    }

    /// Parses one line; answers what cannot be handed to rmcp.
    fn parse(&self, line: &[u8]) -> Option<ClientJsonRpcMessage> {
        let mut line = line;
        line = line.strip_suffix(b"\n").unwrap_or(line);
        line = line.strip_suffix(b"\r").unwrap_or(line);
        line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        let error = match serde_json::from_slice::<ClientJsonRpcMessage>(line) {
            Ok(message) => return Some(message),
            Err(error) => error,
        };
        if matches!(
            error.classify(),
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof
        ) || std::str::from_utf8(line).is_err()
        {
            let message = format!("parse error: the line is not valid JSON ({error})");
            self.reply(None, ErrorCode::PARSE_ERROR, message);
            return None;
        }
        // Valid JSON but not a message we know: say why, with its id when it has a usable one.
        let value: Value = serde_json::from_slice(line).unwrap_or(Value::Null);
        let (code, message, id) = classify_invalid(&value, &error)?;
        self.reply(id, code, message);
        None
    }
}

impl<R> Transport<RoleServer> for LineTransport<R>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    type Error = std::io::Error;

    fn send(
        &mut self,
        mut item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let id = match &mut item {
            JsonRpcMessage::Response(response) => Some(response.id.clone()),
            JsonRpcMessage::Error(error) => {
                name_missing_method(&mut error.error);
                error.id.clone()
            }
            _ => None,
        };
        let queued = serde_json::to_vec(&item)
            .map_err(std::io::Error::other)
            .and_then(|bytes| self.outbox.push(bytes));
        if let Some(id) = &id {
            self.answered(id);
        }
        std::future::ready(queued)
    }

    async fn receive(&mut self) -> Option<rmcp::service::RxJsonRpcMessage<RoleServer>> {
        loop {
            self.outbox.below(self.max_unsent_bytes).await;
            match self.read_line().await {
                Read::Closed => {
                    self.signals.stdin_closed.cancel();
                    return None;
                }
                Read::Oversized { head, len } => {
                    self.line.clear();
                    let limit = self.max_message_bytes;
                    let message = format!(
                        "message too large: {len} bytes, over the {limit}-byte limit; send less per request (read or write large files in parts), or start the server with a larger --max-message-bytes"
                    );
                    let id = id_from_head(&head);
                    tracing::warn!(
                        bytes = len,
                        limit,
                        "refused a message over --max-message-bytes"
                    );
                    self.reply(id, ErrorCode::INVALID_REQUEST, message);
                }
                Read::Line => {
                    // Taken out before anything else, so the next read starts a fresh line.
                    let line = std::mem::take(&mut self.line);
                    let size = line.len();
                    let parsed = self.parse(&line);
                    // Reuse the buffer, unless one huge line grew it.
                    if line.capacity() <= 1024 * 1024 {
                        self.line = line;
                        self.line.clear();
                    }
                    let Some(message) = parsed else { continue };
                    if let Some(message) = self.admit(message, size) {
                        return Some(message);
                    }
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// rmcp's default handlers answer a method they do not serve with the bare method name as the
/// message; say what happened.
fn name_missing_method(error: &mut rmcp::ErrorData) {
    if error.code == ErrorCode::METHOD_NOT_FOUND && !error.message.contains(' ') {
        error.message = format!("method not found: {}", error.message).into();
    }
}

/// The error for valid JSON that is not a message rmcp accepts, or `None` to stay silent (a
/// notification: JSON-RPC never answers those).
fn classify_invalid(
    value: &Value,
    error: &serde_json::Error,
) -> Option<(ErrorCode, String, Option<Value>)> {
    let Some(object) = value.as_object() else {
        let what = if value.is_array() {
            "batches (JSON arrays) are not supported; send one message per line"
        } else {
            "a message must be a JSON object"
        };
        return Some((ErrorCode::INVALID_REQUEST, format!("invalid request: {what}"), None));
    };
    let id = object.get("id").filter(|id| id.is_string() || id.is_i64() || id.is_u64()).cloned();
    let method = object.get("method").and_then(Value::as_str);
    match (object.get("id"), method) {
        // A notification (no id), valid or not, gets no answer.
        (None, Some(_)) => {
            tracing::debug!(error = %error, "ignoring a notification that is not valid");
            None
        }
        (Some(_), Some(method)) if id.is_some() && object.get("jsonrpc") == Some(&json!("2.0")) => {
            Some((ErrorCode::INVALID_PARAMS, format!("invalid params for {method}: {error}"), id))
        }
        _ => Some((
            ErrorCode::INVALID_REQUEST,
            format!(
                "invalid request: a request needs \"jsonrpc\": \"2.0\", a \"method\" and an \"id\" that is a string or an integer ({error})"
            ),
            id,
        )),
    }
}

/// The `id` of a message cut short, if its first bytes show one: `"id":` followed by a number or
/// a string, at the top level of the object (depth 1).
fn id_from_head(head: &[u8]) -> Option<Value> {
    let text = String::from_utf8_lossy(head);
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut idx = 0;
    while idx < bytes.len() {
        match bytes[idx] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let end = string_end(bytes, idx)?;
                if depth == 1 && &bytes[idx..=end] == b"\"id\"" {
                    let rest = text[end + 1..].trim_start().strip_prefix(':')?.trim_start();
                    return leading_id(rest);
                }
                idx = end;
            }
            _ => {}
        }
        idx += 1;
    }
    None
}

/// The index of the quote that closes the string starting at `start`.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut idx = start + 1;
    while idx < bytes.len() {
        match bytes[idx] {
            b'\\' => idx += 2,
            b'"' => return Some(idx),
            _ => idx += 1,
        }
    }
    None
}

/// A number or string id at the start of `text`.
fn leading_id(text: &str) -> Option<Value> {
    if text.starts_with('"') {
        let end = string_end(text.as_bytes(), 0)?;
        return serde_json::from_str::<Value>(&text[..=end]).ok().filter(Value::is_string);
    }
    let digits = text
        .char_indices()
        .find(|(idx, c)| !(c.is_ascii_digit() || (*idx == 0 && *c == '-')))
        .map_or(text.len(), |(idx, _)| idx);
    serde_json::from_str::<Value>(&text[..digits]).ok().filter(|v| v.is_i64() || v.is_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_found_in_the_head_of_a_cut_message() {
        let check = |head: &str, expected: Option<Value>| {
            assert_eq!(id_from_head(head.as_bytes()), expected, "{head}");
        };
        check(
            r#"{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"x":"aaaa"#,
            Some(json!(17)),
        );
        check(r#"{"id": "abc", "params": {"#, Some(json!("abc")));
        check(r#"{"jsonrpc":"2.0","method":"tools/call","params":{"id":5,"content":"#, None);
        check(r#"{"params":{"content":"\"id\":9"},"id":-3}"#, Some(json!(-3)));
        check(r#"{"jsonrpc":"2.0","method":"x","id":"#, None);
        check(r#"{"id":{"nested":1}}"#, None);
        check(r#"{"id":"unterminated"#, None);
        check("not json at all", None);
    }

    #[test]
    fn invalid_messages_are_classified() {
        let check = |line: &str, expected: Option<(i32, Option<Value>)>| {
            let value: Value = serde_json::from_str(line).unwrap();
            let error = serde_json::from_str::<ClientJsonRpcMessage>(line).unwrap_err();
            let got = classify_invalid(&value, &error).map(|(code, _, id)| (code.0, id));
            assert_eq!(got, expected, "{line}");
        };
        check("[1, 2]", Some((-32600, None)));
        check("42", Some((-32600, None)));
        check(r#"{"id": 5}"#, Some((-32600, Some(json!(5)))));
        check(r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#, Some((-32600, None)));
        check(
            r#"{"jsonrpc":"2.0","id":"x","method":"tools/call","params":7}"#,
            Some((-32602, Some(json!("x")))),
        );
        check(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":7}"#, None);
    }

    #[test]
    fn missing_methods_are_named() {
        let mut error = rmcp::ErrorData::new(ErrorCode::METHOD_NOT_FOUND, "prompts/list", None);
        name_missing_method(&mut error);
        assert_eq!(error.message, "method not found: prompts/list");
        let mut error = rmcp::ErrorData::new(ErrorCode::METHOD_NOT_FOUND, "no tool named x", None);
        name_missing_method(&mut error);
        assert_eq!(error.message, "no tool named x");
    }
}
