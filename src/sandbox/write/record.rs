//! Telling the caller what a change replaces, before the change happens, so that it can be kept
//! and reversed (the change journal, issue 16). The sandbox reads the previous state through the
//! handle the change then uses, and replaces only the version it read; the caller keeps the
//! contents (`Record::keep`), commits its record (`Record::before`) and hears when the change has
//! happened (`Record::done`). The sandbox knows nothing of where or how records are kept.

use std::io::{self, Read};

use cap_std::fs::{Dir, Metadata};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::sandbox::error::{Error, Result};
use crate::sandbox::platform::{self, Kind};
use crate::sandbox::root::open_regular_file;
use crate::sandbox::write::atomic::retry_while_busy;

/// What was at a path before a change, or is there after one. Serialized into the journal, so
/// its field names are a stored format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Prior {
    /// Nothing.
    Absent,
    /// A regular file: its SHA-256, size and permission bits, and the name it was kept under by
    /// `Record::keep` (`None`: not kept, over the bounds).
    File { hash: String, size: u64, mode: u32, kept: Option<String> },
    /// A directory.
    Dir,
    /// A symlink or a special file, which is not kept.
    Other { what: String },
}

/// One entry of a removed directory: its path below the directory (`/`-separated; empty for the
/// directory itself) and what it was.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Removed {
    pub(crate) rel: String,
    pub(crate) prior: Prior,
}

/// A change about to happen, with client-visible paths. Serialized into the journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Change {
    /// `path`'s content replaced or created (write_file, edit_file, copy_file over a file),
    /// with the directories created to hold it, outermost first.
    Write {
        path: String,
        prior: Prior,
        after: Prior,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        parents: Vec<String>,
    },
    /// Directories created, outermost first (`path` is the one asked for).
    CreateDirs { path: String, created: Vec<String> },
    /// An entry moved, with the directories created to hold it, outermost first.
    Move {
        from: String,
        to: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        parents: Vec<String>,
    },
    /// `path` removed; for a directory, every entry in it (outermost first) as far as the
    /// bounds allowed (`complete` false past them).
    Delete { path: String, removed: Vec<Removed>, complete: bool },
    /// Entries of a removed directory put back by an undo: those that were missing (the
    /// directory itself among them, as `""`, when it was missing).
    Restore { path: String, created: Vec<Removed> },
}

/// The caller's side of a recorded change.
pub(crate) trait Record {
    /// Whether anything is recorded (when not, the sandbox reads nothing extra).
    fn on(&self) -> bool;
    /// The largest content kept for one file.
    fn max_file(&self) -> u64;
    /// Most bytes kept for one change (contents and the list of a removed directory).
    fn max_total(&self) -> u64;
    /// Keeps `bytes` for the change about to be described; returns the name they are kept
    /// under, or `None` when they are over the bounds.
    fn keep(&mut self, bytes: &[u8]) -> Result<Option<String>>;
    /// Commits the change's description before it happens; an error stops the change.
    fn before(&mut self, change: &Change) -> Result<()>;
    /// The change has happened (perhaps only in part, for a directory's removal).
    fn done(&mut self);
}

/// Records nothing: `--history off`, and the sandbox's own tests.
pub(crate) struct Unrecorded;

impl Record for Unrecorded {
    fn on(&self) -> bool {
        false
    }
    fn max_file(&self) -> u64 {
        0
    }
    fn max_total(&self) -> u64 {
        0
    }
    fn keep(&mut self, _: &[u8]) -> Result<Option<String>> {
        Ok(None)
    }
    fn before(&mut self, _: &Change) -> Result<()> {
        Ok(())
    }
    fn done(&mut self) {}
}

/// The lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The SHA-256 of everything `reader` yields, and how many bytes that was.
pub(crate) fn sha256_of(reader: &mut impl Read) -> io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            return Ok((hex(&hasher.finalize()), size));
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What is at `name` in `dir` (not following a symlink), for the record, with the metadata of
/// the file read (through the handle the change then uses) when it is a regular file. The file
/// is closed again before the change (Windows cannot replace a file this process holds open).
pub(crate) fn read_existing(
    dir: &Dir,
    name: &str,
    path: &str,
    record: &mut dyn Record,
) -> Result<(Prior, Option<Metadata>)> {
    // Another program holding the file open (Windows) is waited for, as the change would be.
    match retry_while_busy(|| open_regular_file(dir, name.as_ref())) {
        Ok((mut file, meta)) => {
            let mode = platform::permission_bits(&meta);
            let prior = read_prior(&mut file, meta.len(), mode, path, record)?;
            Ok((prior, Some(meta)))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((Prior::Absent, None)),
        // Not a regular file (a directory, a symlink, a special file): what it is. A regular
        // file that cannot be read is an error: the change is not made without its record.
        Err(e) => match dir.symlink_metadata(name) {
            Ok(meta) if meta.is_dir() => Ok((Prior::Dir, None)),
            Ok(meta) if !meta.is_file() => {
                Ok((Prior::Other { what: Kind::of(meta.file_type()).name().to_owned() }, None))
            }
            _ => Err(Error::io("reading", path, e)),
        },
    }
}

/// A file's content the change has in hand, kept.
pub(crate) fn kept_file(bytes: &[u8], mode: u32, record: &mut dyn Record) -> Result<Prior> {
    let kept = if bytes.len() as u64 <= record.max_file() { record.keep(bytes)? } else { None };
    Ok(Prior::File { hash: sha256(bytes), size: bytes.len() as u64, mode, kept })
}

/// Reads a file for the record: its content kept when it fits `max_file` (read once, hashed and
/// kept), otherwise only hashed as it streams by.
pub(crate) fn read_prior(
    file: &mut impl Read,
    size: u64,
    mode: u32,
    path: &str,
    record: &mut dyn Record,
) -> Result<Prior> {
    read_prior_with(file, size, mode, record).map_err(|e| Error::io("reading", path, e))?
}

fn read_prior_with(
    file: &mut impl Read,
    size: u64,
    mode: u32,
    record: &mut dyn Record,
) -> io::Result<Result<Prior>> {
    if size <= record.max_file() {
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(record.max_file().saturating_add(1)).read_to_end(&mut bytes)?;
        if bytes.len() as u64 <= record.max_file() {
            let hash = sha256(&bytes);
            let size = bytes.len() as u64;
            return Ok(record.keep(&bytes).map(|kept| Prior::File { hash, size, mode, kept }));
        }
        // It grew past the bound while being read: hash what was read and the rest.
        let mut hasher = Sha256::new();
        hasher.update(&bytes);
        let mut rest = Vec::new();
        file.read_to_end(&mut rest)?;
        hasher.update(&rest);
        let size = (bytes.len() + rest.len()) as u64;
        return Ok(Ok(Prior::File { hash: hex(&hasher.finalize()), size, mode, kept: None }));
    }
    let (hash, size) = sha256_of(file)?;
    Ok(Ok(Prior::File { hash, size, mode, kept: None }))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Keeper {
        max_file: u64,
        kept: Vec<Vec<u8>>,
    }

    impl Record for Keeper {
        fn on(&self) -> bool {
            true
        }
        fn max_file(&self) -> u64 {
            self.max_file
        }
        fn max_total(&self) -> u64 {
            u64::MAX
        }
        fn keep(&mut self, bytes: &[u8]) -> Result<Option<String>> {
            self.kept.push(bytes.to_vec());
            Ok(Some(sha256(bytes)))
        }
        fn before(&mut self, _: &Change) -> Result<()> {
            Ok(())
        }
        fn done(&mut self) {}
    }

    #[test]
    fn a_file_at_the_bound_is_kept_and_one_byte_more_is_only_hashed() {
        let mut keeper = Keeper { max_file: 5, kept: Vec::new() };
        let prior = read_prior(&mut &b"hello"[..], 5, 0o644, "/a", &mut keeper).unwrap();
        let hello = sha256(b"hello");
        assert_eq!(
            prior,
            Prior::File { hash: hello.clone(), size: 5, mode: 0o644, kept: Some(hello) }
        );
        let prior = read_prior(&mut &b"hello!"[..], 6, 0o600, "/a", &mut keeper).unwrap();
        assert_eq!(
            prior,
            Prior::File { hash: sha256(b"hello!"), size: 6, mode: 0o600, kept: None }
        );
        // A file that grows between its stat and its read is hashed whole, not kept.
        let prior = read_prior(&mut &b"hello!!"[..], 5, 0o600, "/a", &mut keeper).unwrap();
        assert_eq!(
            prior,
            Prior::File { hash: sha256(b"hello!!"), size: 7, mode: 0o600, kept: None }
        );
        assert_eq!(keeper.kept, [b"hello".to_vec()]);
    }
}
