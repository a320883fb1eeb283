//! Client roots (the legacy era's MCP roots feature): asking the client for them, narrowing the
//! sandbox to them, and holding file requests until the answer is in.
//!
//! A client that declares the roots capability in `initialize` will narrow the allowed
//! directories once it answers `roots/list`. A file request that arrives before that answer must
//! not be served against the wider configured directories, so file requests wait at the
//! `RootsGate` until the answer is applied, at most `ROOTS_WAIT`; after that the server uses the
//! configured directories and says so. SQL requests never wait. The same holds after
//! `notifications/roots/list_changed`, until the new answer is applied.
//!
//! An empty answer, or one with no usable `file://` root, narrows nothing: hosts such as the MCP
//! Inspector declare the capability and answer `[]`, which must not lock every file out.

use std::time::Duration;

use rmcp::RoleServer;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::sandbox::path::{PathInput, parse_input};
use crate::sandbox::platform;
use crate::server::Server;

/// The longest a file request waits for the client's answer to `roots/list`.
pub(crate) const ROOTS_WAIT: Duration = Duration::from_secs(5);

/// Whether file requests may go ahead, or must wait for the client's roots.
#[derive(Debug)]
pub(crate) struct RootsGate {
    state: watch::Sender<Gate>,
    /// The client declared roots (and they are not ignored): set at `initialize`.
    expected: std::sync::atomic::AtomicBool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// No answer is awaited: serve.
    Open,
    /// An answer is awaited; serve anyway after this instant.
    Waiting { until: Instant },
}

impl RootsGate {
    /// An open gate (no client roots awaited).
    pub(crate) fn new() -> RootsGate {
        RootsGate { state: watch::Sender::new(Gate::Open), expected: Default::default() }
    }

    /// At `initialize`: the client's roots will come (and are to be honoured), so file requests
    /// wait for them from now on.
    pub(crate) fn expect_roots(&self) {
        self.expected.store(true, std::sync::atomic::Ordering::Release);
        self.close();
    }

    /// On `notifications/roots/list_changed`, as the transport reads it (before any request read
    /// after it is handled): file requests wait for the new roots.
    pub(crate) fn roots_changed(&self) {
        if self.expected.load(std::sync::atomic::Ordering::Acquire) {
            self.close();
        }
    }

    /// From now on, file requests wait for the client's roots (at most `ROOTS_WAIT`).
    pub(crate) fn close(&self) {
        self.state.send_replace(Gate::Waiting { until: Instant::now() + ROOTS_WAIT });
    }

    /// The roots are applied (or will not come): file requests go ahead.
    pub(crate) fn open(&self) {
        self.state.send_replace(Gate::Open);
    }

    /// Waits until the gate opens, or its deadline passes; then it is open for everyone, with a
    /// warning that the configured directories are used.
    pub(crate) async fn wait(&self) {
        let mut rx = self.state.subscribe();
        loop {
            let until = match *rx.borrow_and_update() {
                Gate::Open => return,
                Gate::Waiting { until } => until,
            };
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = tokio::time::sleep_until(until) => {
                    let timed_out = self.state.send_if_modified(|gate| {
                        let expired = matches!(gate, Gate::Waiting { until: u } if *u <= Instant::now());
                        if expired {
                            *gate = Gate::Open;
                        }
                        expired
                    });
                    if timed_out {
                        tracing::warn!(
                            "the client did not answer roots/list within {}s; serving the configured directories until it does",
                            ROOTS_WAIT.as_secs()
                        );
                    }
                }
            }
        }
    }
}

impl Server {
    /// Waits until file requests may be served (see `RootsGate`).
    pub(crate) async fn roots_ready(&self) {
        self.shared.roots_gate.wait().await;
    }

    /// Whether a legacy client's roots will narrow the sandbox: it declared the capability and
    /// the user did not pass `--ignore-client-roots`.
    pub(crate) fn expects_client_roots(&self, declares_roots: bool) -> bool {
        declares_roots && !self.shared.ignore_client_roots
    }

    /// Asks a legacy client for its roots and narrows the sandbox to them (never widening it),
    /// then opens the gate, whatever the outcome.
    pub(crate) async fn apply_client_roots(&self, peer: &rmcp::Peer<RoleServer>) {
        let declares = peer.peer_info().is_some_and(|info| info.capabilities.roots.is_some());
        if !self.expects_client_roots(declares) {
            self.shared.roots_gate.open();
            return;
        }
        self.shared.roots_gate.close();
        let answer = client_root_uris(peer).await;
        match answer {
            Ok(roots) => self.narrow_to(&roots).await,
            Err(err) => tracing::warn!(
                error = %err,
                "the client offers roots but roots/list failed; keeping the configured directories"
            ),
        }
        self.shared.roots_gate.open();
    }

    /// Narrows the sandbox to the client's roots, unless none of them is a usable `file://` URI
    /// (then the configured directories stay, said once at info).
    async fn narrow_to(&self, roots: &[String]) {
        let usable = roots.iter().any(|uri| is_file_root(uri));
        let sandbox = &self.shared.sandbox;
        if !usable {
            sandbox.set_client_roots(None);
            self.recheck_subscriptions().await;
            if roots.is_empty() {
                tracing::info!("the client lists no roots; serving the configured directories");
            } else {
                tracing::warn!(
                    ?roots,
                    "none of the client's roots is a file:// directory, so they are ignored; serving the configured directories"
                );
            }
            return;
        }
        let unmatched = sandbox.set_client_roots(Some(roots));
        self.recheck_subscriptions().await;
        for uri in &unmatched {
            tracing::warn!(root = %uri, "client root is outside every configured directory; it grants nothing (start the server with --root for it)");
        }
        let allowed: Vec<String> = sandbox.allowed().into_iter().map(|d| d.path).collect();
        if allowed.is_empty() {
            tracing::warn!(
                "the client's roots do not overlap the configured directories: no file is accessible (pass --ignore-client-roots to use the configured ones)"
            );
        } else {
            tracing::info!(?allowed, "narrowed to the client's roots");
        }
    }
}

/// Whether a client root is an absolute `file://` directory URI this server can match.
fn is_file_root(uri: &str) -> bool {
    uri.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("file://"))
        && matches!(parse_input(uri, platform::SYNTAX), Ok(PathInput::Absolute(_)))
}

/// The URIs of the client's roots (`roots/list`).
// The roots feature is deprecated in protocol 2026-07-28, but the legacy hosts that offer it still
// rely on it to scope servers to a workspace, so we honour it where it exists.
#[allow(deprecated)]
async fn client_root_uris(
    peer: &rmcp::Peer<RoleServer>,
) -> Result<Vec<String>, rmcp::service::ServiceError> {
    let result = peer.list_roots().await?;
    Ok(result.roots.into_iter().map(|root| root.uri).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_file_uris_are_usable_roots() {
        let absolute = if cfg!(windows) { "file:///C:/u/proj" } else { "file:///home/u/proj" };
        assert!(is_file_root(absolute));
        assert!(is_file_root(&absolute.replace("file", "FILE")));
        assert!(!is_file_root("https://example.com/repo"));
        assert!(!is_file_root("file://relative"));
        assert!(!is_file_root(""));
    }

    #[tokio::test(start_paused = true)]
    async fn the_gate_holds_until_opened_or_its_deadline() {
        let gate = std::sync::Arc::new(RootsGate::new());
        gate.wait().await;
        gate.close();
        let waiter = tokio::spawn({
            let gate = std::sync::Arc::clone(&gate);
            async move { gate.wait().await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiter.is_finished(), "a closed gate holds");
        gate.open();
        waiter.await.unwrap();
        gate.close();
        let started = Instant::now();
        gate.wait().await;
        assert!(started.elapsed() >= ROOTS_WAIT, "an unanswered gate opens at its deadline");
        gate.wait().await;
    }
}
