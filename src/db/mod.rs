//! `Databases`: the SQLite databases the user named, each with its own worker thread, and an async
//! API to run calls on them. The SQL rules live in `policy` (what statements may do) and `query`
//! (how each call runs). This module must not import rmcp, `server`, `sandbox` or `watch`.

pub(crate) mod error;
pub(crate) mod functions;
pub(crate) mod monitor;
pub(crate) mod policy;
pub(crate) mod query;
pub(crate) mod value;
pub(crate) mod worker;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;

pub(crate) use error::{Error, Result};
use query::{DbLimits, Session};
use worker::Job;

/// A database to open, as the command line named it.
#[derive(Debug, Clone)]
pub(crate) struct DbSpec {
    /// Its name in tools and URIs.
    pub(crate) name: String,
    /// The file (already canonical: symlinks resolved by config, so `NOFOLLOW` holds).
    pub(crate) path: PathBuf,
    /// Whether write tools may change it.
    pub(crate) writable: bool,
}

/// One open database.
pub(crate) struct Database {
    name: String,
    path: PathBuf,
    writable: bool,
    jobs: Sender<Job>,
}

/// The open databases, in command-line order.
#[derive(Default)]
pub(crate) struct Databases {
    list: Vec<Arc<Database>>,
}

/// A name usable in tools and `sqlite://` URIs: letters, digits, `_` and `-`.
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Databases {
    /// Opens every database and starts its worker. Fails on the first one that is missing, not a
    /// file, or not a SQLite database.
    pub(crate) fn open(
        specs: &[DbSpec],
        limits: &DbLimits,
    ) -> std::result::Result<Databases, (DbSpec, Error)> {
        let mut list = Vec::with_capacity(specs.len());
        for spec in specs {
            let session = Session::open(&spec.name, &spec.path, spec.writable, limits.clone())
                .map_err(|e| (spec.clone(), e))?;
            let jobs = worker::spawn(&spec.name, session).map_err(|source| {
                (spec.clone(), Error::WorkerStart { db: spec.name.clone(), source })
            })?;
            list.push(Arc::new(Database {
                name: spec.name.clone(),
                path: spec.path.clone(),
                writable: spec.writable,
                jobs,
            }));
        }
        Ok(Databases { list })
    }

    /// Whether no database is open.
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// All databases, in command-line order.
    pub(crate) fn all(&self) -> &[Arc<Database>] {
        &self.list
    }

    /// The names, in order.
    pub(crate) fn names(&self) -> Vec<String> {
        self.list.iter().map(|d| d.name.clone()).collect()
    }

    /// The database a call means: the one named, or the only one when `name` is `None`.
    ///
    /// Errors: `UnknownDatabase`, `DatabaseNeeded` (several open, none named), `NoDatabase`.
    pub(crate) fn get(&self, name: Option<&str>) -> Result<&Arc<Database>> {
        match name {
            Some(name) => self.list.iter().find(|d| d.name == name).ok_or_else(|| {
                Error::UnknownDatabase { name: name.to_owned(), available: self.names() }
            }),
            None => match self.list.as_slice() {
                [only] => Ok(only),
                [] => Err(Error::NoDatabase),
                _ => Err(Error::DatabaseNeeded { available: self.names() }),
            },
        }
    }
}

impl Database {
    /// Its name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Its file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether write tools may change it.
    pub(crate) fn writable(&self) -> bool {
        self.writable
    }

    /// Runs `work` on the database's thread and waits for it without blocking the runtime. Setting
    /// `cancel` interrupts the running statement (or skips the job if it has not started).
    ///
    /// Errors: whatever `work` returns; `WorkerGone` if the worker is gone or the job panicked.
    pub(crate) async fn run<T, W>(&self, work: W) -> Result<T>
    where
        T: Send + 'static,
        W: FnOnce(&mut Session) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |session| {
            let _ = reply.send(work(session));
        });
        let gone = || Error::WorkerGone { db: self.name.clone() };
        self.jobs.send(job).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// The (device, inode) of the file at `path`, or zeros if it cannot be read: tells a database
/// replaced by rename (a new file at the same path) from the one a connection has open.
#[cfg(unix)]
pub(crate) fn file_identity(path: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).map(|m| (m.dev(), m.ino())).unwrap_or((0, 0))
}

/// Windows: zeros. There a database cannot be replaced while it is served (Windows refuses to
/// replace a file SQLite holds open), so there is nothing to tell apart. This and its Unix twin
/// are the only platform branch outside `sandbox::platform`: the db core must not depend on the
/// sandbox, and `std` offers file identities on Windows only on nightly.
#[cfg(not(unix))]
pub(crate) fn file_identity(_path: &Path) -> (u64, u64) {
    (0, 0)
}

/// A fresh cancel flag for one call.
pub(crate) fn cancel_flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}
