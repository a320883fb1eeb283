//! The atomic write underneath every change to a file's content: a temporary file in the
//! target's directory, synced, given its permission bits, then renamed over the target (or, where
//! nothing may be replaced, linked in without replacing). The temporary files are named by
//! `sandbox::temp`, so that every listing hides them.
//! Where Windows refuses a change because another program holds the file open, it is tried again
//! for about a second.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use cap_std::fs::{Dir, Metadata, OpenOptions, Permissions};

use crate::sandbox::error::Error;
use crate::sandbox::platform;
use crate::sandbox::root::open_regular_file;
use crate::sandbox::temp::TEMP_PREFIX;

/// Whether an atomic write may replace an existing file.
#[derive(Clone, Copy)]
pub(super) enum Replace<'a> {
    /// Replace whatever regular file is there.
    Allow,
    /// Fail with `AlreadyExists` if anything is there.
    Never,
    /// Replace only if the current file passes the check (else `WriteFailure::ChangedOnDisk`).
    IfUnchanged(&'a dyn Fn(&Metadata) -> bool),
}

/// Why an atomic write did not happen. Nothing was written in either case.
#[derive(Debug)]
pub(super) enum WriteFailure {
    /// The file system refused (or the destination exists, for `Replace::Never`).
    Io(io::Error),
    /// `Replace::IfUnchanged`: the file is no longer the version that was read.
    ChangedOnDisk,
}

impl From<io::Error> for WriteFailure {
    fn from(err: io::Error) -> Self {
        WriteFailure::Io(err)
    }
}

impl WriteFailure {
    /// The sandbox error for this failure while doing `op` at `path`.
    pub(super) fn at(self, op: &'static str, path: &str) -> Error {
        match self {
            WriteFailure::Io(err) => Error::io(op, path, err),
            WriteFailure::ChangedOnDisk => Error::ChangedOnDisk { path: path.to_owned() },
        }
    }
}

/// The permissions an atomic write gives its file.
#[derive(Clone)]
pub(super) enum Perms {
    /// A new file's (the system's default).
    New,
    /// These (the replaced file's).
    Set(Permissions),
    /// Those `platform::permission_bits` reported (a file an undo restores).
    Bits(u32),
}

/// Writes `content` to a temporary file in `dir`, syncs it, applies `permissions`, and renames it
/// to `name`. The temporary file is removed if anything fails.
pub(super) fn atomic_write(
    dir: &Dir,
    name: &str,
    content: &[u8],
    permissions: Perms,
    replace: Replace<'_>,
) -> Result<(), WriteFailure> {
    write_temp_then_rename(dir, name, replace, |file| {
        file.write_all(content)?;
        match permissions {
            Perms::New => Ok(()),
            Perms::Set(permissions) => file.set_permissions(permissions),
            Perms::Bits(bits) => {
                let current = file.metadata()?.permissions();
                file.set_permissions(platform::permissions_with_bits(current, bits))
            }
        }
    })
}

/// Copies the regular file `from_name` in `from_dir` to `to_name` in `to_dir` through a temporary
/// file, keeping its permission bits. Returns the bytes copied.
pub(super) fn copy_file_into(
    from_dir: &Dir,
    from_name: &str,
    to_dir: &Dir,
    to_name: &str,
    replace: Replace<'_>,
) -> Result<u64, WriteFailure> {
    let (mut source, meta) = open_regular_file(from_dir, from_name.as_ref())?;
    let mut copied = 0;
    write_temp_then_rename(to_dir, to_name, replace, |file| {
        copied = io::copy(&mut source, file)?;
        file.set_permissions(meta.permissions())
    })?;
    Ok(copied)
}

pub(super) fn write_temp_then_rename(
    dir: &Dir,
    name: &str,
    replace: Replace<'_>,
    fill: impl FnOnce(&mut cap_std::fs::File) -> io::Result<()>,
) -> Result<(), WriteFailure> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let temp =
        format!("{TEMP_PREFIX}{}.{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    let mut file = dir.open_with(&temp, &options)?;
    let result = (|| -> Result<(), WriteFailure> {
        fill(&mut file)?;
        file.sync_all()?;
        drop(file);
        match replace {
            Replace::Allow => rename_over(dir, &temp, name),
            Replace::Never => platform::rename_noreplace(dir, &temp, dir, name),
            Replace::IfUnchanged(check) => {
                let current = dir.symlink_metadata(name)?;
                if !check(&current) {
                    return Err(WriteFailure::ChangedOnDisk);
                }
                rename_over(dir, &temp, name)
            }
        }?;
        // The rename is the write: make it survive a power loss before it is reported done.
        if let Err(err) = platform::sync_dir(dir) {
            tracing::debug!(error = %err, "syncing a directory after a write");
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = dir.remove_file(&temp);
    }
    result
}

/// How often, and how far apart, replacing or deleting a file that another program holds open
/// is tried (Windows refuses it while the other program has the file open; editors and indexers
/// often hold a file for a moment). About a second in all, then the change fails with
/// `ResourceBusy`.
pub(super) const BUSY_RETRIES: u32 = 10;
pub(super) const BUSY_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// Runs `op`, trying again a few times while the system refuses it because another program holds
/// a file open (never on Unix, where nothing refuses that). Then `ResourceBusy`.
pub(super) fn retry_while_busy<T>(mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let mut tries = 0;
    loop {
        match op() {
            Err(err) if platform::is_sharing_violation(&err) => {
                tries += 1;
                if tries > BUSY_RETRIES {
                    return Err(io::Error::new(io::ErrorKind::ResourceBusy, err));
                }
                std::thread::sleep(BUSY_PAUSE);
            }
            other => return other,
        }
    }
}

/// Renames the finished temporary file over `name`, trying again while another program holds
/// the file open; the old file stays whole throughout.
pub(super) fn rename_over(dir: &Dir, temp: &str, name: &str) -> io::Result<()> {
    retry_while_busy(|| dir.rename(temp, dir, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> (tempfile::TempDir, Dir) {
        let temp = tempfile::tempdir().unwrap();
        let dir = Dir::open_ambient_dir(temp.path(), cap_std::ambient_authority()).unwrap();
        (temp, dir)
    }

    #[test]
    fn a_file_changed_since_it_was_read_is_not_replaced_and_no_temporary_file_is_left() {
        let (_temp, dir) = dir();
        dir.write("a.txt", "theirs").unwrap();
        let changed = |_: &Metadata| false;
        let result =
            atomic_write(&dir, "a.txt", b"ours", Perms::New, Replace::IfUnchanged(&changed));
        assert!(matches!(result, Err(WriteFailure::ChangedOnDisk)), "{result:?}");
        assert_eq!(dir.read_to_string("a.txt").unwrap(), "theirs");
        let names: Vec<String> =
            dir.entries().unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(names, ["a.txt"], "the temporary file is gone");
        let error = WriteFailure::ChangedOnDisk.at("writing", "/r/a.txt");
        assert!(matches!(error, Error::ChangedOnDisk { .. }), "{error}");
        // Unchanged, it is replaced.
        let unchanged = |_: &Metadata| true;
        atomic_write(&dir, "a.txt", b"ours", Perms::New, Replace::IfUnchanged(&unchanged)).unwrap();
        assert_eq!(dir.read_to_string("a.txt").unwrap(), "ours");
    }
}
