//! `Monitor`: notices commits to a database by any process, cheaply. `PRAGMA data_version` on a
//! connection of its own changes whenever another connection commits (the server's own worker
//! included, and WAL-mode commits that only touch `-wal`), and stays put for reads and passive
//! checkpoints (a truncating checkpoint may count as one change); `PRAGMA schema_version` tells whether to re-read the list of tables. The file watcher
//! says when to ask, so an idle database costs nothing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use crate::db::error::{Error, Result};
use crate::db::file_identity;

/// How long a check waits for a writer's lock before giving up (and reporting a change).
const BUSY_WAIT: Duration = Duration::from_secs(2);

/// What changed since the last check.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DbChange {
    /// Some transaction committed.
    pub(crate) data: bool,
    /// The set of tables and views changed.
    pub(crate) tables: bool,
}

/// A read-only connection that watches one database's version counters.
pub(crate) struct Monitor {
    path: PathBuf,
    /// The file the connection has open (device, inode): a database replaced by rename is a
    /// new file, which the old connection would never see change.
    file: (u64, u64),
    conn: Connection,
    data_version: i64,
    schema_version: i64,
    tables: Vec<String>,
}

impl Monitor {
    /// Opens a second, read-only connection (no symlinks followed, defensive, untrusted schema)
    /// and notes the current versions.
    pub(crate) fn open(path: &Path) -> Result<Monitor> {
        let file = file_identity(path);
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NOFOLLOW
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let sql = |e: rusqlite::Error| Error::sql(e);
        let conn = Connection::open_with_flags(path, flags).map_err(sql)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true).map_err(sql)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false).map_err(sql)?;
        conn.execute_batch("PRAGMA query_only = 1").map_err(sql)?;
        conn.busy_timeout(BUSY_WAIT).map_err(sql)?;
        let mut monitor = Monitor {
            path: path.to_path_buf(),
            file,
            conn,
            data_version: 0,
            schema_version: 0,
            tables: Vec::new(),
        };
        monitor.data_version = monitor.pragma("data_version")?;
        monitor.schema_version = monitor.pragma("schema_version")?;
        monitor.tables = monitor.table_names()?;
        Ok(monitor)
    }

    /// What changed since the last check (or since opening).
    ///
    /// Errors: the database could not be read (busy beyond the wait, removed, corrupted).
    pub(crate) fn check(&mut self) -> Result<DbChange> {
        if file_identity(&self.path) != self.file {
            // Replaced (or removed): follow the new file, and call it a change.
            let reopened = Monitor::open(&self.path)?;
            let tables = reopened.tables != self.tables;
            *self = reopened;
            return Ok(DbChange { data: true, tables });
        }
        let data_version = self.pragma("data_version")?;
        let mut change = DbChange::default();
        if data_version == self.data_version {
            return Ok(change);
        }
        self.data_version = data_version;
        change.data = true;
        let schema_version = self.pragma("schema_version")?;
        if schema_version != self.schema_version {
            self.schema_version = schema_version;
            let tables = self.table_names()?;
            change.tables = tables != self.tables;
            self.tables = tables;
        }
        Ok(change)
    }

    fn pragma(&self, name: &str) -> Result<i64> {
        self.conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get(0)).map_err(Error::sql)
    }

    fn table_names(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
            )
            .map_err(Error::sql)?;
        let names =
            stmt.query_map([], |row| row.get(0)).and_then(Iterator::collect).map_err(Error::sql)?;
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_sees_commits_by_other_connections_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let writer = Connection::open(&path).unwrap();
        writer.execute_batch("CREATE TABLE t(x)").unwrap();
        let mut monitor = Monitor::open(&path).unwrap();
        assert_eq!(monitor.check().unwrap(), DbChange::default());
        writer.execute("INSERT INTO t VALUES (1)", []).unwrap();
        assert_eq!(monitor.check().unwrap(), DbChange { data: true, tables: false });
        assert_eq!(monitor.check().unwrap(), DbChange::default());
        writer.execute_batch("CREATE INDEX i ON t(x)").unwrap();
        assert_eq!(monitor.check().unwrap(), DbChange { data: true, tables: false });
        writer.execute_batch("CREATE TABLE u(y)").unwrap();
        assert_eq!(monitor.check().unwrap(), DbChange { data: true, tables: true });
        writer.execute_batch("PRAGMA journal_mode=WAL; INSERT INTO t VALUES (2)").unwrap();
        assert!(monitor.check().unwrap().data);
        writer.execute_batch("INSERT INTO t VALUES (3)").unwrap();
        assert_eq!(monitor.check().unwrap(), DbChange { data: true, tables: false });
        // The automatic checkpoint (passive) is not a change; a truncating one resets the log,
        // which readers cannot tell from a commit: at worst one extra update.
        writer.execute_batch("PRAGMA wal_checkpoint(PASSIVE)").unwrap();
        assert_eq!(monitor.check().unwrap(), DbChange::default());
        // Replaced by another file (as a tool that writes a copy and renames it does). Windows
        // refuses to replace a file SQLite holds open, so this happens only on Unix.
        #[cfg(unix)]
        replaced(writer, dir.path(), &path, &mut monitor);
    }

    #[cfg(unix)]
    fn replaced(writer: Connection, dir: &std::path::Path, path: &Path, monitor: &mut Monitor) {
        drop(writer);
        let other = dir.join("other.db");
        Connection::open(&other).unwrap().execute_batch("CREATE TABLE only_here(z)").unwrap();
        std::fs::rename(&other, path).unwrap();
        assert_eq!(monitor.check().unwrap(), DbChange { data: true, tables: true });
        assert_eq!(monitor.check().unwrap(), DbChange::default());
    }
}
