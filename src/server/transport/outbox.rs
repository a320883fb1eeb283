//! The writer side of the transport and what it tells the rest of the server: one writer task
//! owns stdout (so no cancelled `receive` can cut a line in half), the bytes of answers waiting
//! to be written are counted (`--max-unsent-bytes`), and file work waits while too many wait.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rmcp::model::RequestId;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

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
    pub(super) roots_list_changed: Arc<dyn Fn() + Send + Sync>,
    /// Messages waiting to be written.
    pub(super) outbox: Arc<OutboxState>,
}

/// Lets file work wait while too many answers wait to be written (see `Server::spawn_blocking`).
#[derive(Clone)]
pub(crate) struct Backlog {
    pub(super) state: Arc<OutboxState>,
    pub(super) limit: usize,
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
pub(super) struct OutboxState {
    pub(super) queued: std::sync::atomic::AtomicUsize,
    /// Their bytes: while over `--max-unsent-bytes`, stdin is not read, and no new file work
    /// starts.
    pub(super) queued_bytes: std::sync::atomic::AtomicUsize,
    /// Bytes of the requests read and not yet answered: counted against the same limit, so a
    /// flood of requests cannot pile up behind the calls in flight either.
    pub(super) request_bytes: std::sync::atomic::AtomicUsize,
    pub(super) failed: AtomicBool,
    pub(super) drained: tokio::sync::Notify,
    /// Woken whenever a message has been written (or writing failed).
    pub(super) written: tokio::sync::Notify,
    /// The work permits of answered calls whose answers are not queued yet (see
    /// `Backlog::hold`), by request id.
    pub(super) held: Mutex<HashMap<RequestId, tokio::sync::OwnedSemaphorePermit>>,
}

/// The sending side of the writer task. Enqueuing never awaits, so nothing that writes can be
/// cancelled half way through a line (rmcp polls `receive` inside a `select!`, and a write cut
/// short there would leave half a message on stdout).
#[derive(Clone)]
pub(super) struct Outbox {
    pub(super) tx: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    pub(super) state: Arc<OutboxState>,
}

impl Outbox {
    /// Starts the task that owns `writer` and writes each queued line whole, in order.
    pub(super) fn spawn<W: AsyncWrite + Unpin + Send + 'static>(
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
    pub(super) fn push(&self, mut line: Vec<u8>) -> std::io::Result<()> {
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
    pub(super) async fn below(&self, limit: usize) {
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

pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
