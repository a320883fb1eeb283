//! The change journal: every change a
//! tool makes becomes one entry, committed before the change, with what it takes to reverse it.
//! The journal is a small SQLite database (`journal.db`, WAL, so several servers may share one
//! state directory) beside a content-addressed store of saved file contents (`store.rs`).
//!
//! An entry's life: `begin` commits it as pending (with the server's process id) before the
//! change; the contents it needs are saved and referenced (`save`); then `finish` marks it done,
//! or `abandon` removes it when the change did not happen. An entry still pending after its server
//! died is for the caller to settle (`pending_of_gone`): done, abandoned or incomplete.
//!
//! Bounds: `prune` removes the oldest entries past `max_age`, then until the saved contents fit
//! in `max_bytes`; `save` refuses contents over `max_file` (the change is then not undoable).
//! Imports nothing from the crate.

pub(crate) mod store;

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::Value;

use store::{Hash, Store};

/// Default of `--history-max-bytes`: saved contents kept, in bytes.
pub(crate) const DEFAULT_HISTORY_MAX_BYTES: u64 = 512 * 1024 * 1024;
/// Default of `--history-days`: how long entries are kept.
pub(crate) const DEFAULT_HISTORY_DAYS: u64 = 7;
/// The most `--history-days` accepts (ten years).
pub(crate) const MAX_HISTORY_DAYS: u64 = 3650;
/// Default of `--history-max-file`: the largest content saved for one file.
pub(crate) const DEFAULT_HISTORY_MAX_FILE: u64 = 64 * 1024 * 1024;

/// How much the journal keeps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub(crate) max_bytes: u64,
    pub(crate) max_age: Duration,
    pub(crate) max_file: u64,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_bytes: DEFAULT_HISTORY_MAX_BYTES,
            max_age: Duration::from_secs(DEFAULT_HISTORY_DAYS * 24 * 3600),
            max_file: DEFAULT_HISTORY_MAX_FILE,
        }
    }
}

/// What went wrong with the journal.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("the change journal's files: {0}")]
    Io(#[from] std::io::Error),
    #[error("the change journal's database: {0}")]
    Db(#[from] rusqlite::Error),
}

pub(crate) type Result<T> = std::result::Result<T, Error>;

/// Where an entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Committed before its change; the change may or may not have happened yet.
    Pending,
    /// The change happened.
    Done,
    /// Its server stopped in the middle: the disk matches neither side of the change.
    Incomplete,
}

impl State {
    fn parse(text: &str) -> State {
        match text {
            "pending" => State::Pending,
            "done" => State::Done,
            _ => State::Incomplete,
        }
    }
}

/// An entry about to be made.
#[derive(Debug, Clone)]
pub(crate) struct NewEntry {
    pub(crate) tool: String,
    /// The path or database the change is to.
    pub(crate) target: String,
    pub(crate) summary: String,
    /// How to reverse the change, in the caller's terms (the journal keeps it as it is).
    pub(crate) undo: Value,
}

/// An entry as kept.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) id: i64,
    /// Milliseconds since the Unix epoch.
    pub(crate) time_ms: i64,
    /// The server that made it (see `Journal::server_gone`).
    pub(crate) server: u32,
    pub(crate) tool: String,
    pub(crate) target: String,
    pub(crate) summary: String,
    pub(crate) undo: Value,
    /// Why the change cannot be undone, when it cannot.
    pub(crate) not_undoable: Option<String>,
    pub(crate) state: State,
}

/// The journal in one state directory.
pub(crate) struct Journal {
    conn: Mutex<Connection>,
    store: Store,
    bounds: Bounds,
    /// This server's id: drawn at random when the journal is opened, so that a server restarted
    /// with the same process id (PID 1 in a container) is another server.
    server: u32,
    /// `servers/<id>.lock`, locked while this server runs: how other servers sharing the
    /// directory tell that it is alive (the lock goes with the process, however it ends).
    _presence: std::fs::File,
    servers: std::path::PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS entries(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ms INTEGER NOT NULL,
    server INTEGER NOT NULL,
    tool TEXT NOT NULL,
    target TEXT NOT NULL,
    summary TEXT NOT NULL,
    undo TEXT NOT NULL,
    not_undoable TEXT,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS blobs(hash TEXT PRIMARY KEY, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS entry_blobs(
    entry INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    hash TEXT NOT NULL REFERENCES blobs(hash),
    PRIMARY KEY(entry, hash)
);
CREATE INDEX IF NOT EXISTS entry_blobs_hash ON entry_blobs(hash);
CREATE INDEX IF NOT EXISTS entries_target ON entries(target);
";

/// How long a server waits for another one sharing the journal.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// WAL mode (kept in the file once set) and the tables.
fn set_up(conn: &Connection) -> rusqlite::Result<()> {
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        conn.pragma_update(None, "journal_mode", "WAL")?;
    }
    conn.execute_batch(SCHEMA)
}

/// A server's id: random enough that two servers, or one restarted with the same process id,
/// do not share one (std's randomly keyed hasher over the process id and the time).
fn server_id() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos());
    (hasher.finish() >> 32) as u32
}

fn now_ms(now: SystemTime) -> i64 {
    now.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Journal {
    /// Opens (creating) the journal in `dir`, which only this user may enter (mode 0700 on Unix).
    pub(crate) fn open(dir: &Path, bounds: Bounds) -> Result<Journal> {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let conn = Connection::open(dir.join("journal.db"))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // An entry must be on disk before its change is: a crash never leaves a change unrecorded.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        // Switching to WAL needs the database to itself, and SQLite may answer "busy" at once
        // (without waiting) while another server opens it too: try again for a while.
        let deadline = Instant::now() + BUSY_TIMEOUT;
        loop {
            match set_up(&conn) {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                other => break other?,
            }
        }
        let store = Store::open(dir.join("store"))?;
        let servers = dir.join("servers");
        std::fs::create_dir_all(&servers)?;
        let server = server_id();
        let presence = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(servers.join(format!("{server}.lock")))?;
        presence.try_lock().map_err(|e| match e {
            std::fs::TryLockError::Error(err) => err,
            std::fs::TryLockError::WouldBlock => {
                std::io::Error::other("another server drew the same id")
            }
        })?;
        Ok(Journal { conn: Mutex::new(conn), store, bounds, server, _presence: presence, servers })
    }

    /// Whether the server with id `server` that shared this journal is gone: its lock file is
    /// missing or no longer locked (a stale one is removed). Never this server.
    pub(crate) fn server_gone(&self, server: u32) -> bool {
        if server == self.server {
            return false;
        }
        let path = self.servers.join(format!("{server}.lock"));
        let Ok(file) = std::fs::OpenOptions::new().write(true).open(&path) else { return true };
        match file.try_lock() {
            Ok(()) => {
                drop(file);
                let _ = std::fs::remove_file(&path);
                true
            }
            Err(_) => false,
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This server's id in the journal.
    #[cfg(test)]
    pub(crate) fn server_id(&self) -> u32 {
        self.server
    }

    /// The bounds it keeps to.
    pub(crate) fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// Commits `entry` as pending, before its change, and returns its id.
    pub(crate) fn begin(&self, entry: &NewEntry) -> Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO entries(time_ms, server, tool, target, summary, undo, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending')",
            params![
                now_ms(SystemTime::now()),
                self.server,
                entry.tool,
                entry.target,
                entry.summary,
                entry.undo.to_string(),
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Sets what entry `id` (still pending) records: its target, summary and undo, and why it
    /// cannot be undone, if it cannot.
    pub(crate) fn describe(
        &self,
        id: i64,
        entry: &NewEntry,
        not_undoable: Option<&str>,
    ) -> Result<()> {
        self.conn().execute(
            "UPDATE entries SET tool = ?2, target = ?3, summary = ?4, undo = ?5, not_undoable = ?6
             WHERE id = ?1",
            params![
                id,
                entry.tool,
                entry.target,
                entry.summary,
                entry.undo.to_string(),
                not_undoable
            ],
        )?;
        Ok(())
    }

    /// Saves `bytes` for entry `id` and returns their hash; `None` when they are over
    /// `max_file` (nothing is saved: the caller says the change cannot be undone). The blob and
    /// its reference are made in one transaction that also writes the blob if it is missing, so
    /// another server's `prune` cannot remove it in between.
    pub(crate) fn save(&self, id: i64, bytes: &[u8]) -> Result<Option<Hash>> {
        if bytes.len() as u64 > self.bounds.max_file {
            return Ok(None);
        }
        let hash = Hash::of(bytes);
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT OR IGNORE INTO blobs(hash, size) VALUES (?1, ?2)",
            params![hash.0, bytes.len() as i64],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO entry_blobs(entry, hash) VALUES (?1, ?2)",
            params![id, hash.0],
        )?;
        self.store.put(bytes)?;
        tx.commit()?;
        Ok(Some(hash))
    }

    /// Whether the content saved as `hash` is there.
    pub(crate) fn has_blob(&self, hash: &str) -> bool {
        self.store.has(&Hash(hash.to_owned()))
    }

    /// The saved bytes of `hash`.
    pub(crate) fn blob(&self, hash: &Hash) -> Result<Vec<u8>> {
        Ok(self.store.get(hash)?)
    }

    /// Marks entry `id` done.
    pub(crate) fn finish(&self, id: i64) -> Result<()> {
        self.conn().execute("UPDATE entries SET state = 'done' WHERE id = ?1", params![id])?;
        Ok(())
    }

    /// Marks entry `id` incomplete: its server stopped between the entry and the change's end,
    /// and the disk matches neither side.
    pub(crate) fn mark_incomplete(&self, id: i64, why: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE entries SET state = 'incomplete', not_undoable = ?2 WHERE id = ?1",
            params![id, why],
        )?;
        Ok(())
    }

    /// Removes entry `id`: its change did not happen. Its saved contents go with the next prune.
    pub(crate) fn abandon(&self, id: i64) -> Result<()> {
        self.conn().execute("DELETE FROM entries WHERE id = ?1", params![id])?;
        Ok(())
    }

    /// The entry `id`.
    pub(crate) fn get(&self, id: i64) -> Result<Option<Entry>> {
        let conn = self.conn();
        let mut statement = conn.prepare(&format!("{SELECT} WHERE id = ?1"))?;
        Ok(statement.query_row(params![id], row_entry).optional()?)
    }

    /// The newest entries first, at most `limit`, older than entry `before` when given,
    /// optionally only those whose target is `target` or below it (`target/...`).
    pub(crate) fn list(
        &self,
        target: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Entry>> {
        let conn = self.conn();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let before = before.unwrap_or(i64::MAX);
        // Paths as this system writes them: `/` between names, `\\` on Windows.
        let below = target
            .map(|t| format!("{}{}", t.trim_end_matches(['/', '\\']), std::path::MAIN_SEPARATOR));
        let mut statement = conn.prepare(&format!(
            "{SELECT} WHERE id < ?1
             AND (?2 IS NULL OR target = ?2 OR substr(target, 1, length(?3)) = ?3)
             ORDER BY id DESC LIMIT ?4"
        ))?;
        let rows = statement
            .query_map(params![before, target, below, limit], row_entry)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Entries still pending whose server is gone (`gone(server)`): for the caller to settle.
    pub(crate) fn pending_of_gone(&self, gone: impl Fn(u32) -> bool) -> Result<Vec<Entry>> {
        let conn = self.conn();
        let mut statement = conn.prepare(&format!("{SELECT} WHERE state = 'pending'"))?;
        let pending: Vec<Entry> =
            statement.query_map([], row_entry)?.collect::<rusqlite::Result<_>>()?;
        Ok(pending.into_iter().filter(|e| e.server != self.server && gone(e.server)).collect())
    }

    /// Bytes of saved contents referenced by entries.
    #[cfg(test)]
    pub(crate) fn saved_bytes(&self) -> Result<u64> {
        let total: i64 = self.conn().query_row(
            "SELECT coalesce(sum(size), 0) FROM blobs
             WHERE hash IN (SELECT hash FROM entry_blobs)",
            [],
            |r| r.get(0),
        )?;
        Ok(total as u64)
    }

    /// Applies the bounds at `now`: entries older than `max_age`, then the oldest until the saved
    /// contents fit in `max_bytes`, are removed with the contents no other entry uses. Pending
    /// entries are kept (a change may be under way). Returns how many entries went.
    pub(crate) fn prune(&self, now: SystemTime) -> Result<usize> {
        let oldest_kept = now_ms(
            now - self.bounds.max_age.min(now.duration_since(UNIX_EPOCH).unwrap_or_default()),
        );
        let mut conn = self.conn();
        // One transaction, with the blobs' files removed inside it: another server's `save`
        // waits, and then finds a removed blob missing and writes it again.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut removed = tx.execute(
            "DELETE FROM entries WHERE state != 'pending' AND time_ms < ?1",
            params![oldest_kept],
        )?;
        let max_bytes = i64::try_from(self.bounds.max_bytes).unwrap_or(i64::MAX);
        loop {
            // Only finished entries' contents count: those of changes under way cannot be pruned,
            // and must not push out the finished ones (the newest among them just reported
            // undoable).
            let total: i64 = tx.query_row(
                "SELECT coalesce(sum(size), 0) FROM blobs WHERE hash IN (
                     SELECT hash FROM entry_blobs JOIN entries ON entries.id = entry_blobs.entry
                     WHERE entries.state != 'pending')",
                [],
                |r| r.get(0),
            )?;
            if total <= max_bytes {
                break;
            }
            let oldest: Option<i64> = tx
                .query_row(
                    "SELECT id FROM entries WHERE state != 'pending'
                     AND id IN (SELECT entry FROM entry_blobs) ORDER BY id LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(oldest) = oldest else { break };
            removed += tx.execute("DELETE FROM entries WHERE id = ?1", params![oldest])?;
        }
        let unused: Vec<String> = {
            let mut statement = tx.prepare(
                "SELECT hash FROM blobs WHERE hash NOT IN (SELECT hash FROM entry_blobs)",
            )?;
            statement.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
        };
        for hash in &unused {
            tx.execute("DELETE FROM blobs WHERE hash = ?1", params![hash])?;
            // A file that cannot be removed now is left over, harmless (a later save of the
            // same content finds it); the prune goes on, so that no entry it removed comes
            // back without its contents.
            if let Err(err) = self.store.remove(&Hash(hash.clone())) {
                tracing::warn!(%err, "removing a pruned content of the change journal");
            }
        }
        tx.commit()?;
        Ok(removed)
    }
}

const SELECT: &str =
    "SELECT id, time_ms, server, tool, target, summary, undo, not_undoable, state FROM entries";

fn row_entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    let undo: String = row.get(6)?;
    let state: String = row.get(8)?;
    Ok(Entry {
        id: row.get(0)?,
        time_ms: row.get(1)?,
        server: row.get(2)?,
        tool: row.get(3)?,
        target: row.get(4)?,
        summary: row.get(5)?,
        undo: serde_json::from_str(&undo).unwrap_or(Value::Null),
        not_undoable: row.get(7)?,
        state: State::parse(&state),
    })
}

#[cfg(test)]
mod tests;
