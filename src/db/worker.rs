//! One thread per database owns its `Session`; jobs come in on a channel and answer on a oneshot.
//! So a long query blocks only later calls to the same database, never the async runtime, other
//! databases, or file tools. A job that panics fails alone: the worker catches it and goes on.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Sender, channel};

use crate::db::query::Session;

/// Work for a database's thread.
pub(crate) type Job = Box<dyn FnOnce(&mut Session) + Send>;

/// Starts the worker thread for `session`; returns where to send jobs. The thread ends when every
/// sender is dropped.
pub(crate) fn spawn(name: &str, session: Session) -> std::io::Result<Sender<Job>> {
    let (jobs, inbox) = channel::<Job>();
    let db = name.to_owned();
    std::thread::Builder::new().name(format!("db-{name}")).spawn(move || {
        let mut session = session;
        while let Ok(job) = inbox.recv() {
            if catch_unwind(AssertUnwindSafe(|| job(&mut session))).is_err() {
                tracing::error!(db = %db, "a database job panicked; the request failed, the database stays open");
            }
        }
    })?;
    Ok(jobs)
}
