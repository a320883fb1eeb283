//! Logging to the host: the warnings and errors the server logs (on stderr, unchanged) also go to
//! the client as `notifications/message`, so hosts that show server logs show ours: the watcher
//! falling back to polling, a database reopened after its file was replaced, a walk or query
//! stopped at its timeout, client roots ignored.
//!
//! A `tracing` layer (`layer`) records each warning and error of this crate here, as the line
//! to send, in a short ring. The transport sends them, so that a warning a request caused is
//! written before that request's answer:
//!
//! - legacy era (`initialize`): once the session is open, every message the transport writes is
//!   preceded by the records not sent yet at or above the level `logging/setLevel` chose
//!   (warning until then), and records made while nothing else is written are sent when made;
//! - 2026-07-28: there is no session level; a request whose `_meta` carries
//!   `io.modelcontextprotocol/logLevel` gets, before its answer, the records made while it ran at
//!   or above that level; a request without it gets none (the spec forbids them).
//!
//! Records are rate-limited (`--max-log-messages` per minute); the ones over the budget are
//! counted and said in one warning when the next minute starts.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;

use crate::config::DEFAULT_MAX_LOG_MESSAGES;

/// Records kept for requests to collect; older ones are gone (a request that runs while more
/// than this many are made gets the newest).
const KEPT: usize = 256;
/// The rate limit's window.
const WINDOW: Duration = Duration::from_secs(60);
/// `LoggingLevel` as a number (debug 0 ... emergency 7): warning and error, what we send.
pub(crate) const WARNING: u8 = 3;
pub(crate) const ERROR: u8 = 4;
/// The names of the levels, by number, as MCP spells them.
const LEVEL_NAMES: [&str; 8] =
    ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

/// The server's log records for the client.
pub(crate) struct HostLog {
    state: Mutex<State>,
    /// Woken when a record is made, for the legacy sender.
    made: tokio::sync::Notify,
    /// The legacy session's level (`logging/setLevel`), as a number.
    legacy_level: AtomicU8,
    /// Whether a legacy session is open (records go out without a request).
    legacy_open: AtomicBool,
    /// `--max-log-messages`.
    per_minute: AtomicU32,
}

struct State {
    /// The number of the last record made.
    last: u64,
    /// The newest records.
    kept: VecDeque<Record>,
    /// The last record the legacy session was sent (or passed over, below its level).
    legacy_sent: u64,
    window_start: Option<Instant>,
    in_window: usize,
    suppressed: u64,
}

struct Record {
    number: u64,
    level: u8,
    /// The whole `notifications/message` line, without its newline.
    line: Vec<u8>,
}

static GLOBAL: LazyLock<HostLog> = LazyLock::new(|| HostLog::new(DEFAULT_MAX_LOG_MESSAGES));

/// The records of this process, which the `tracing` layer writes.
pub(crate) fn global() -> &'static HostLog {
    &GLOBAL
}

impl HostLog {
    pub(crate) fn new(per_minute: usize) -> HostLog {
        HostLog {
            state: Mutex::new(State {
                last: 0,
                kept: VecDeque::new(),
                legacy_sent: 0,
                window_start: None,
                in_window: 0,
                suppressed: 0,
            }),
            made: tokio::sync::Notify::new(),
            legacy_level: AtomicU8::new(WARNING),
            legacy_open: AtomicBool::new(false),
            per_minute: AtomicU32::new(u32::try_from(per_minute).unwrap_or(u32::MAX)),
        }
    }

    /// Sets `--max-log-messages`.
    pub(crate) fn set_per_minute(&self, per_minute: usize) {
        self.per_minute.store(u32::try_from(per_minute).unwrap_or(u32::MAX), Ordering::Relaxed);
    }

    /// Records one message at `level` (a number, see `LEVEL_NAMES`) with `data`, within the
    /// rate limit.
    pub(crate) fn record(&self, level: u8, data: Value) {
        let now = Instant::now();
        let per_minute = self.per_minute.load(Ordering::Relaxed) as usize;
        let mut state = lock(&self.state);
        let window_over = state.window_start.is_none_or(|start| now - start >= WINDOW);
        if window_over {
            let suppressed = std::mem::take(&mut state.suppressed);
            state.window_start = Some(now);
            state.in_window = 0;
            if suppressed > 0 && per_minute > 0 {
                let message = format!(
                    "{suppressed} more log messages were not sent in the last minute (at most {per_minute} a minute: --max-log-messages); stderr has them all"
                );
                state.push(WARNING, json!({ "message": message }));
            }
        }
        if state.in_window >= per_minute {
            state.suppressed += 1;
            return;
        }
        state.in_window += 1;
        state.push(level, data);
        drop(state);
        self.made.notify_one();
    }

    /// Opens the legacy session: from now on its records are sent without a request. Records
    /// made before are sent too (the watcher may have fallen back while the client initialized).
    pub(crate) fn open_legacy(&self) {
        self.legacy_open.store(true, Ordering::Release);
        self.made.notify_one();
    }

    /// Whether a legacy session is open (its log messages go by its level, not per request).
    pub(crate) fn legacy_is_open(&self) -> bool {
        self.legacy_open.load(Ordering::Acquire)
    }

    /// `logging/setLevel` of a legacy session.
    pub(crate) fn set_legacy_level(&self, level: u8) {
        self.legacy_level.store(level, Ordering::Relaxed);
    }

    /// Gives `push` the lines the legacy session has not been sent yet at or above its level
    /// (none before it opens). The records are locked meanwhile, so lines taken by two callers
    /// are pushed in order, and one that returns before another's answer is pushed has pushed
    /// its lines first.
    pub(crate) fn send_legacy(&self, push: &mut dyn FnMut(Vec<u8>)) {
        if !self.legacy_open.load(Ordering::Acquire) {
            return;
        }
        let level = self.legacy_level.load(Ordering::Relaxed);
        let mut state = lock(&self.state);
        let after = state.legacy_sent;
        state.legacy_sent = state.last;
        for line in state.lines(after, level) {
            push(line);
        }
    }

    #[cfg(test)]
    fn take_legacy(&self) -> Vec<Vec<u8>> {
        let mut lines = Vec::new();
        self.send_legacy(&mut |line| lines.push(line));
        lines
    }

    /// Waits until a record is made.
    pub(crate) async fn made(&self) {
        self.made.notified().await;
    }

    /// The number of the last record made: a request's starting mark.
    pub(crate) fn mark(&self) -> u64 {
        lock(&self.state).last
    }

    /// The lines of the records made after `mark` at or above `level`.
    pub(crate) fn since(&self, mark: u64, level: u8) -> Vec<Vec<u8>> {
        lock(&self.state).lines(mark, level)
    }
}

impl State {
    fn push(&mut self, level: u8, data: Value) {
        self.last += 1;
        let notification = json!({
            "jsonrpc": "2.0",
            "method": "notifications/message",
            "params": {
                "level": LEVEL_NAMES[usize::from(level.min(7))],
                "logger": env!("CARGO_PKG_NAME"),
                "data": data,
            }
        });
        let line = serde_json::to_vec(&notification).unwrap_or_default();
        self.kept.push_back(Record { number: self.last, level, line });
        if self.kept.len() > KEPT {
            self.kept.pop_front();
        }
    }

    fn lines(&self, after: u64, level: u8) -> Vec<Vec<u8>> {
        self.kept
            .iter()
            .filter(|r| r.number > after && r.level >= level)
            .map(|r| r.line.clone())
            .collect()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `tracing` layer that records this crate's warnings and errors in `global()`.
pub struct HostLogLayer;

/// The layer for `main`'s subscriber.
pub fn layer() -> HostLogLayer {
    HostLogLayer
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for HostLogLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let metadata = event.metadata();
        let level = match *metadata.level() {
            tracing::Level::ERROR => ERROR,
            tracing::Level::WARN => WARNING,
            _ => return,
        };
        if !metadata.target().starts_with(env!("CARGO_CRATE_NAME")) {
            return;
        }
        let mut fields = Fields(Map::new());
        event.record(&mut fields);
        global().record(level, Value::Object(fields.0));
    }
}

/// An event's fields as JSON: `message` and the rest by name.
struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), Value::from(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(lines: &[Vec<u8>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| {
                let v: Value = serde_json::from_slice(l).unwrap();
                format!(
                    "{}:{}",
                    v["params"]["level"].as_str().unwrap(),
                    v["params"]["data"]["message"]
                )
            })
            .collect()
    }

    #[test]
    fn legacy_records_wait_for_the_session_and_follow_its_level() {
        let log = HostLog::new(100);
        log.record(WARNING, json!({ "message": "early" }));
        assert!(log.take_legacy().is_empty(), "nothing before the session opens");
        log.open_legacy();
        assert_eq!(levels(&log.take_legacy()), ["warning:\"early\""]);
        assert!(log.take_legacy().is_empty(), "each record goes once");
        log.set_legacy_level(ERROR);
        log.record(WARNING, json!({ "message": "w" }));
        log.record(ERROR, json!({ "message": "e" }));
        assert_eq!(levels(&log.take_legacy()), ["error:\"e\""]);
    }

    #[test]
    fn a_request_gets_what_was_made_while_it_ran_at_its_level() {
        let log = HostLog::new(100);
        log.record(ERROR, json!({ "message": "before" }));
        let mark = log.mark();
        log.record(WARNING, json!({ "message": "w" }));
        log.record(ERROR, json!({ "message": "e" }));
        assert_eq!(levels(&log.since(mark, WARNING)), ["warning:\"w\"", "error:\"e\""]);
        assert_eq!(levels(&log.since(mark, ERROR)), ["error:\"e\""]);
        assert!(log.since(log.mark(), 0).is_empty());
    }

    #[test]
    fn the_rate_limit_holds_at_its_edge_and_counts_the_rest() {
        let log = HostLog::new(3);
        let mark = log.mark();
        for i in 0..5 {
            log.record(WARNING, json!({ "message": i }));
        }
        assert_eq!(log.since(mark, 0).len(), 3, "exactly the budget");
        // The next window says how many were left out.
        lock(&log.state).window_start = Some(Instant::now() - WINDOW);
        log.record(ERROR, json!({ "message": "next" }));
        let lines = levels(&log.since(mark, 0));
        assert_eq!(lines.len(), 5, "{lines:?}");
        assert!(lines[3].contains("2 more log messages were not sent"), "{lines:?}");
        assert_eq!(lines[4], "error:\"next\"");
    }

    #[test]
    fn only_the_newest_records_are_kept() {
        let log = HostLog::new(10 * KEPT);
        for i in 0..KEPT + 10 {
            log.record(WARNING, json!({ "message": i }));
        }
        let lines = log.since(0, 0);
        assert_eq!(lines.len(), KEPT);
        assert!(levels(&lines)[0].contains(&format!("{}", 10)), "the oldest are gone");
    }

    #[test]
    fn the_layer_records_this_crates_warnings_and_errors_only() {
        use tracing_subscriber::prelude::*;
        let subscriber = tracing_subscriber::registry().with(layer());
        let mark = global().mark();
        tracing::subscriber::with_default(subscriber, || {
            // As the watcher says it fell back to polling (its own thread, the same layer).
            tracing::warn!(
                target: "mcp_files_sqlite::watch::state",
                "file watching: the system ran out of inotify watches while watching /r; polled instead"
            );
            tracing::error!(target: "mcp_files_sqlite::db::worker", db = "shop", "a job panicked");
            tracing::info!(target: "mcp_files_sqlite::server", "serving");
            tracing::warn!(target: "rmcp::service", "not ours");
        });
        let lines: Vec<Value> =
            global().since(mark, 0).iter().map(|l| serde_json::from_slice(l).unwrap()).collect();
        let ours: Vec<&Value> = lines
            .iter()
            .filter(|l| {
                let m = l["params"]["data"]["message"].as_str().unwrap_or_default();
                m.contains("inotify watches while watching /r")
                    || m == "a job panicked"
                    || m == "serving"
                    || m == "not ours"
            })
            .collect();
        assert_eq!(ours.len(), 2, "{lines:?}");
        assert_eq!(ours[0]["params"]["level"], "warning");
        assert_eq!(ours[1]["params"]["level"], "error");
        assert_eq!(ours[1]["params"]["data"]["db"], "shop", "fields go with the message");
    }
}
