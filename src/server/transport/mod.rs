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
    ProtocolVersion, RequestId, ServerJsonRpcMessage, ServerResult,
};
use rmcp::transport::Transport;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader};

mod frames;
mod outbox;

use frames::{STANDARD_REQUESTS, classify_invalid, id_from_head, name_missing_method};
pub(crate) use outbox::{Backlog, FrameLimits, Signals};
use outbox::{Outbox, lock};

use crate::server::{host_log, spliced};

/// How much of an oversized line is kept to find its `id`.
const HEAD_BYTES: usize = 4 * 1024;

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
    /// 2026-07-28 requests that asked for log messages (`_meta` logLevel): the level, and the
    /// last record made before they came (see `host_log`). At most one per request in flight.
    log_windows: Mutex<HashMap<RequestId, (u8, u64)>>,
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
        let outbox = Outbox::spawn(writer, Arc::clone(&signals.outbox));
        // A legacy session's log messages made while nothing else is written go out at once.
        let sender = outbox.clone();
        tokio::spawn(async move {
            let log = host_log::global();
            loop {
                log.made().await;
                let mut gone = false;
                log.send_legacy(&mut |line| gone |= sender.push(line).is_err());
                if gone {
                    return;
                }
            }
        });
        LineTransport {
            reader: BufReader::with_capacity(64 * 1024, reader),
            line: Vec::new(),
            oversized: None,
            max_message_bytes: limits.max_message_bytes,
            max_unsent_bytes: limits.max_unsent_bytes,
            outbox,
            in_flight: Arc::default(),
            established: Arc::default(),
            signals,
            log_windows: Mutex::default(),
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
        // As in `send`: a warning about this message comes before its answer.
        host_log::global().send_legacy(&mut |line| {
            let _ = self.outbox.push(line);
        });
        let _ = self.outbox.push(reply.to_string().into_bytes());
    }

    /// Decides what to do with one parsed message: `Some` to hand it to rmcp.
    /// A request is answered (or cancelled, so it gets no answer): its id is free again and its
    /// bytes no longer count.
    fn answered(&self, id: &RequestId) {
        // Its answer is queued (or it was cancelled): the work permit it held is free.
        drop(lock(&self.outbox.state.held).remove(id));
        lock(&self.log_windows).remove(id);
        if let Some(size) = lock(&self.in_flight).remove(id) {
            self.outbox.state.request_bytes.fetch_sub(size, Ordering::AcqRel);
            self.outbox.state.written.notify_waiters();
        }
    }

    /// Decides what to do with one parsed message (`size` bytes on the wire): `Some` to hand it
    /// to rmcp.
    ///
    /// Long because it is the table of what each kind of message gets before a session, during
    /// one, and with an id already in flight; one place keeps the cases apart.
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
                // A 2026-07-28 request asks for the log messages made while it runs (a legacy
                // session has its own level, and gets every message once).
                let meta = request.request.get_meta();
                #[allow(deprecated)]
                if !host_log::global().legacy_is_open()
                    && meta.protocol_version().is_some()
                    && let Some(level) = meta.log_level()
                {
                    let mark = host_log::global().mark();
                    lock(&self.log_windows).insert(request.id.clone(), (level as u8, mark));
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

/// A tool result's structured output, serialized by `render::structured` and waiting in
/// `spliced`: taken out of the message (which then carries none).
fn take_structured(item: &mut ServerJsonRpcMessage) -> Option<Vec<u8>> {
    let JsonRpcMessage::Response(response) = item else { return None };
    let ServerResult::CallToolResult(result) = &mut response.result else { return None };
    let json = result.structured_content.as_ref().and_then(spliced::take)?;
    result.structured_content = None;
    Some(json)
}

/// The line for `item`, with `structured` (if any) spliced in as its `structuredContent`.
fn serialize(
    item: &mut ServerJsonRpcMessage,
    structured: Option<Vec<u8>>,
) -> serde_json::Result<Vec<u8>> {
    let bytes = serde_json::to_vec(&*item)?;
    let Some(json) = structured else { return Ok(bytes) };
    if let Some(line) = spliced::splice(bytes, &json) {
        return Ok(line);
    }
    // Not the shape splicing expects (never, with rmcp's types): build it the slow way.
    if let JsonRpcMessage::Response(response) = item
        && let ServerResult::CallToolResult(result) = &mut response.result
    {
        result.structured_content = Some(serde_json::from_slice(&json)?);
    }
    serde_json::to_vec(&*item)
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
        // Log messages first: a warning a request caused comes before its answer.
        let log = host_log::global();
        log.send_legacy(&mut |line| {
            let _ = self.outbox.push(line);
        });
        let window = id.as_ref().and_then(|id| lock(&self.log_windows).remove(id));
        if let Some((level, mark)) = window {
            for line in log.since(mark, level) {
                let _ = self.outbox.push(line);
            }
        }
        let structured = take_structured(&mut item);
        let queued = serialize(&mut item, structured)
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
