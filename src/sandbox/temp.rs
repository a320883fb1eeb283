//! The server's temporary files: how they are named (so that every listing hides them, and the
//! user never sees a write in flight) and how the ones a killed server left behind are swept
//! away as walks and listings meet them.

use cap_std::fs::Dir;

use crate::sandbox::platform;
use crate::sandbox::root::{Mode, Root};

/// Names of temporary files start with this, so watchers and listings can recognise them.
pub(crate) const TEMP_PREFIX: &str = ".mcp-tmp.";

/// How old one of the server's temporary files must be to be removed even when the process that
/// made it may still run (process ids are reused).
const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

/// Removes `name` from `dir` (a directory of `root`) if it is a temporary file a killed server
/// left behind: its process is gone, or it is more than a day old. Our own files in flight are
/// left alone, and nothing in a read-only root is touched. Walks and listings call this for the
/// temporary names they skip, so stale files go away as they are met.
pub(crate) fn sweep_temp(root: &Root, dir: &Dir, name: &str) {
    if root.mode() != Mode::Writable {
        return;
    }
    let Some(rest) = name.strip_prefix(TEMP_PREFIX) else { return };
    let pid: Option<u32> = rest.split('.').next().and_then(|p| p.parse().ok());
    if pid == Some(std::process::id()) {
        return;
    }
    let Ok(meta) = dir.symlink_metadata(name) else { return };
    if !meta.is_file() {
        return;
    }
    let old = meta
        .modified()
        .ok()
        .and_then(|m| m.into_std().elapsed().ok())
        .is_some_and(|age| age > STALE_TEMP_AGE);
    let orphaned = pid.and_then(platform::process_alive) == Some(false);
    if old || orphaned {
        match dir.remove_file(name) {
            Ok(()) => {
                tracing::debug!(file = name, "removed a temporary file a stopped server left")
            }
            Err(err) => {
                tracing::debug!(file = name, error = %err, "could not remove a stale temporary file")
            }
        }
    }
}

/// Whether a directory entry is one of the server's temporary files (a write in flight, or one
/// left by a killed server). Walks, listings, searches, resources and the watcher leave these out:
/// they are never the user's files.
pub(crate) fn is_temp_name(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX)
}
