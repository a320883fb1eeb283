//! The content-addressed store of the journal: saved file contents under `store/xx/yyyy...`,
//! named by their SHA-256, so identical contents are kept once. A blob is written to a temporary
//! file beside its final name, synced, and renamed into place, so a reader never sees half of
//! one; a blob already present is not written again. Imports nothing from the crate.

use std::fs;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

/// A blob's name: the lowercase hex SHA-256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Hash(pub(crate) String);

impl Hash {
    /// The hash of `bytes`.
    pub(crate) fn of(bytes: &[u8]) -> Hash {
        Hash(hex(&Sha256::digest(bytes)))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The store's directory.
pub(crate) struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store in `dir` (created if missing).
    pub(crate) fn open(dir: PathBuf) -> io::Result<Store> {
        fs::create_dir_all(&dir)?;
        Ok(Store { dir })
    }

    fn path(&self, hash: &Hash) -> PathBuf {
        self.dir.join(&hash.0[..2]).join(&hash.0[2..])
    }

    /// Whether the blob is present.
    pub(crate) fn has(&self, hash: &Hash) -> bool {
        self.path(hash).is_file()
    }

    /// Saves `bytes` (unless a blob with their hash is present) and returns their hash.
    pub(crate) fn put(&self, bytes: &[u8]) -> io::Result<Hash> {
        let hash = Hash::of(bytes);
        if self.has(&hash) {
            return Ok(hash);
        }
        let path = self.path(&hash);
        let parent = path.parent().expect("a blob's path has a parent");
        fs::create_dir_all(parent)?;
        let temp = parent.join(format!(".{}.{}.tmp", &hash.0[2..], std::process::id()));
        let written = (|| {
            let mut file = fs::File::create(&temp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            // Another server may have put the same blob meanwhile: either copy is the same bytes.
            fs::rename(&temp, &path)?;
            // The name must survive a power loss as the content does (the change it lets be
            // undone is made durable too). Windows cannot open a directory this way, and
            // journals its directories itself: there this is skipped.
            for dir in [parent, &self.dir] {
                if let Ok(handle) = fs::File::open(dir) {
                    handle.sync_all()?;
                }
            }
            Ok(())
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written.map(|()| hash)
    }

    /// The blob's bytes, checked against its hash (a store damaged on disk is an error, never
    /// wrong content restored).
    pub(crate) fn get(&self, hash: &Hash) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        fs::File::open(self.path(hash))?.read_to_end(&mut bytes)?;
        if Hash::of(&bytes) != *hash {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the saved content {} is damaged (its hash does not match)", hash.0),
            ));
        }
        Ok(bytes)
    }

    /// Removes the blob (absent is fine).
    pub(crate) fn remove(&self, hash: &Hash) -> io::Result<()> {
        match fs::remove_file(self.path(hash)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The store's directory.
    #[cfg(test)]
    pub(crate) fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_contents_are_kept_once_and_read_back_checked() {
        let temp = tempfile::tempdir().unwrap();
        let store = Store::open(temp.path().join("store")).unwrap();
        let a = store.put(b"hello").unwrap();
        let b = store.put(b"hello").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.0, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        let files: Vec<_> = walk(store.dir());
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(store.get(&a).unwrap(), b"hello");
        // Damage on disk is found, not restored.
        fs::write(store.path(&a), b"jello").unwrap();
        assert_eq!(store.get(&a).unwrap_err().kind(), io::ErrorKind::InvalidData);
        store.remove(&a).unwrap();
        store.remove(&a).unwrap();
        assert!(!store.has(&a));
    }

    fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
        }
        out
    }
}
