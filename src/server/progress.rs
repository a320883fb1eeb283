//! Long calls: progress notifications and cancellation. A call that runs past `--progress-after`
//! (default one second) and whose request carries a progress token gets
//! `notifications/progress` about once per that interval, with a count that only grows and a
//! message a person can read; a `notifications/cancelled` for it stops the work at once (walks at
//! their next entry, queries through SQLite's interrupt).

use std::future::Future;
use std::time::{Duration, Instant};

use rmcp::RoleServer;
use rmcp::model::ProgressNotificationParam;
use rmcp::service::RequestContext;

/// How long one progress notification may take to send before it is given up.
const SEND_TIMEOUT: Duration = Duration::from_millis(100);

/// How a call reports progress.
pub(crate) struct Meter<C, D> {
    /// The progress so far (it must grow between notifications; none is sent otherwise).
    pub(crate) count: C,
    /// The message for a count after an elapsed time.
    pub(crate) describe: D,
}

/// Drives `work` to completion, reporting progress per `meter` every `every` once it has run that
/// long (if the request carries a progress token), and calling `cancel` and returning `None` as
/// soon as the client cancels the request.
pub(crate) async fn drive<T, C, D>(
    ctx: &RequestContext<RoleServer>,
    every: Duration,
    work: impl Future<Output = T>,
    meter: Meter<C, D>,
    cancel: impl FnOnce(),
) -> Option<T>
where
    C: Fn() -> u64,
    D: Fn(u64, Duration) -> String,
{
    let token = ctx.meta.get_progress_token();
    let started = Instant::now();
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_sent: Option<u64> = None;
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return Some(out),
            () = ctx.ct.cancelled() => {
                cancel();
                return None;
            }
            _ = ticks.tick(), if token.is_some() => {
                let count = (meter.count)();
                if last_sent.is_some_and(|last| count <= last) {
                    continue;
                }
                last_sent = Some(count);
                let Some(token) = token.clone() else { continue };
                let param = ProgressNotificationParam::new(token, count as f64)
                    .with_message((meter.describe)(count, started.elapsed()));
                // A client that cannot take the notification (or a stuck pipe) must not hold
                // up the work's completion or its cancellation for long.
                let send = ctx.peer.notify_progress(param);
                let _ = tokio::time::timeout(SEND_TIMEOUT, send).await;
            }
        }
    }
}
