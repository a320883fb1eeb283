//! The one seam where the sandbox meets the operating system's differences. Nothing else in the
//! crate branches on the platform; everything here has the same signature on every system.
//!
//! - What an entry is (`kind_of`): FIFOs, sockets and devices exist only on Unix.
//! - Which file an entry is (`file_id`): device and inode on Unix, volume serial number and file
//!   index on Windows.
//! - Renaming without replacing (`rename_noreplace`): `renameat2(RENAME_NOREPLACE)` (or
//!   `renameatx_np(RENAME_EXCL)` on macOS) where the kernel has it; a hard link and an unlink for
//!   files on Windows.
//! - Replacing a file that another program holds open (`is_sharing_violation`): Windows refuses
//!   it for a moment; Unix never does.
//! - Error kinds that `std` does not name (`is_cross_device`, `is_symlink_loop`).
//! - Permission bits for `get_file_info` (`permission_bits`).
//! - How names compare (`names_match`): case-insensitively on Windows and macOS, whose usual file
//!   systems (NTFS, APFS) ignore case, so a path spelled `C:\Users\Me\Proj\x` or
//!   `/users/me/proj/x` is matched against its root, a read-only root nested in a writable one,
//!   a protected database and the client's roots the way the file system will resolve it.
//! - How clients write paths (`SYNTAX`): Unix syntax, or Windows syntax with drive letters,
//!   backslashes, UNC and verbatim prefixes, and its forbidden names. The parser for both lives in
//!   `sandbox::path` and is tested for both on every system.
//! - How a host path becomes components (`prefix_token`): Windows prefixes (`C:`, `\\server\share`,
//!   `\\?\C:`) become one leading component.
//!
//! Defines `Kind`, the kind of an entry, since telling kinds apart is platform work. Imports
//! nothing from the crate but `sandbox::path::Syntax`.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as native;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as native;

use std::io;
use std::path::PrefixComponent;

use cap_std::fs::{Dir, FileType, Metadata, Permissions};

use crate::sandbox::path::Syntax;

/// The path syntax clients use on this system.
pub const SYNTAX: Syntax = if cfg!(windows) { Syntax::Windows } else { Syntax::Unix };

/// Whether this system's usual file systems ignore case in names (NTFS, APFS).
pub(crate) const CASE_INSENSITIVE: bool =
    cfg!(any(windows, target_os = "macos", target_os = "ios"));

/// What kind of file system object an entry is. Listings show special kinds; reads refuse them.
/// Windows never finds FIFOs, sockets or devices in a directory; their variants stay there too, so
/// that the code which names them is the same on every system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(windows, allow(dead_code))]
pub(crate) enum Kind {
    File,
    Dir,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Unknown,
}

impl Kind {
    /// The kind of an entry from its (not followed) metadata or directory-entry type.
    pub(crate) fn of(file_type: FileType) -> Kind {
        kind_of(file_type)
    }

    /// A short lowercase name for messages and listings (`file`, `directory`, `FIFO`, ...).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "directory",
            Kind::Symlink => "symlink",
            Kind::Fifo => "FIFO",
            Kind::Socket => "socket",
            Kind::CharDevice => "character device",
            Kind::BlockDevice => "block device",
            Kind::Unknown => "special file",
        }
    }

    /// Whether this kind is never opened (FIFOs, sockets, devices, unknown types).
    pub(crate) fn is_special(self) -> bool {
        !matches!(self, Kind::File | Kind::Dir | Kind::Symlink)
    }
}

/// Which file an entry is: two entries with the same id are the same file (hard links included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FileId {
    /// The device (Unix) or volume serial number (Windows).
    pub(crate) device: u64,
    /// The inode (Unix) or file index (Windows).
    pub(crate) index: u64,
}

/// The kind of an entry from its (not followed) file type.
pub(crate) fn kind_of(file_type: FileType) -> Kind {
    if file_type.is_file() {
        Kind::File
    } else if file_type.is_dir() {
        Kind::Dir
    } else if file_type.is_symlink() {
        Kind::Symlink
    } else {
        native::special_kind(file_type)
    }
}

/// Which file `meta` describes, when the system says (metadata read from a directory listing on
/// Windows may not carry it).
pub(crate) fn file_id(meta: &Metadata) -> Option<FileId> {
    native::file_id(meta)
}

/// A number that changes whenever the entry's status changes (Unix's ctime), or 0 where there is
/// none; pollers hash it with the size and modification time.
pub(crate) fn change_stamp(meta: &Metadata) -> u64 {
    native::change_stamp(meta)
}

/// The permission bits shown by `get_file_info`: the Unix mode's low 12 bits; on Windows, `0o444`
/// for a read-only entry and `0o666` otherwise.
pub(crate) fn permission_bits(meta: &Metadata) -> u32 {
    native::permission_bits(meta)
}

/// Permissions with the bits `permission_bits` reported (a file restored by an undo): the mode on
/// Unix; on Windows `current` with the read-only attribute set when no write bit is.
pub(crate) fn permissions_with_bits(current: Permissions, bits: u32) -> Permissions {
    native::permissions_with_bits(current, bits)
}

/// Renames `from` (in `from_dir`) to `to` (in `to_dir`), failing with `AlreadyExists` if `to`
/// exists, whatever races with it where the system allows (see the module comment).
pub(crate) fn rename_noreplace(
    from_dir: &Dir,
    from: &str,
    to_dir: &Dir,
    to: &str,
) -> io::Result<()> {
    native::rename_noreplace(from_dir, from, to_dir, to)
}

/// Whether an error says source and destination are on different file systems.
pub(crate) fn is_cross_device(err: &io::Error) -> bool {
    native::is_cross_device(err)
}

/// Whether an error says a path has too many levels of symbolic links.
pub(crate) fn is_symlink_loop(err: &io::Error) -> bool {
    native::is_symlink_loop(err)
}

/// The size and modification time of a file outside every root, by its host path (a database
/// and its journals, which SQLite itself opens by path), not following a final symlink; `None`
/// if it cannot be read. The watcher polls databases with it.
pub(crate) fn host_stamp(path: &std::path::Path) -> Option<(u64, Option<std::time::SystemTime>)> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()))
}

/// Whether an error says another program holds the file open in a way that forbids the change
/// (Windows); such a change may succeed if retried a moment later.
pub(crate) fn is_sharing_violation(err: &io::Error) -> bool {
    native::is_sharing_violation(err)
}

/// Whether the process with this id is alive: `Some(false)` only when it certainly is not (so a
/// temporary file it left can be removed); `None` where the system cannot say cheaply.
pub(crate) fn process_alive(pid: u32) -> Option<bool> {
    native::process_alive(pid)
}

/// The directory this user's programs keep state in, where the change journal goes by default
/// (with this program's name appended): `$XDG_STATE_HOME` or `~/.local/state` on Linux and other
/// Unix systems, `~/Library/Application Support` on macOS, `%LOCALAPPDATA%` on Windows. `var`
/// reads the environment. `None` when it cannot be told.
pub(crate) fn state_dir(
    home: Option<&std::path::Path>,
    var: &dyn Fn(&str) -> Option<std::ffi::OsString>,
) -> Option<std::path::PathBuf> {
    native::state_dir(home, var)
}

/// Makes a rename or a new entry in `dir` durable: the directory itself is synced (Unix). On
/// Windows the file system journals directory changes itself, and a directory handle cannot be
/// flushed, so this does nothing there.
pub(crate) fn sync_dir(dir: &Dir) -> io::Result<()> {
    native::sync_dir(dir)
}

/// The identities of `dir` and each directory above it, nearest first, up to `limit` levels or
/// the file system's root, found through the handle itself (`..` from its descriptor), never
/// through a path. `None` where the system cannot say (Windows): callers then rely on opening
/// paths one component at a time without following links.
pub(crate) fn ancestry(dir: &Dir, limit: usize) -> Option<Vec<FileId>> {
    native::ancestry(dir, limit)
}

/// Whether two names (path components) name the same entry on this system's usual file systems.
pub(crate) fn names_match(a: &str, b: &str) -> bool {
    names_match_with(CASE_INSENSITIVE, a, b)
}

/// `names_match` with the case rule given, so both rules are tested on every system. Case is
/// folded with Unicode's simple lowercase mapping (what NTFS and APFS approximate).
pub(crate) fn names_match_with(case_insensitive: bool, a: &str, b: &str) -> bool {
    if !case_insensitive || a == b {
        return a == b;
    }
    a.chars().flat_map(char::to_lowercase).eq(b.chars().flat_map(char::to_lowercase))
}

/// Whether the component list `path` is `prefix` or lies below it, names compared as this system
/// compares them.
pub(crate) fn components_start_with(path: &[String], prefix: &[String]) -> bool {
    path.len() >= prefix.len() && path.iter().zip(prefix).all(|(a, b)| names_match(a, b))
}

/// A canonical path in the form users write: Windows' `canonicalize` answers `\\?\C:\x` and
/// `\\?\UNC\server\share\x`; these become `C:\x` and `\\server\share\x`, so that verbatim
/// client paths match a root only when the user gave the root that way. Other paths are
/// returned unchanged.
pub fn simplified(path: std::path::PathBuf) -> std::path::PathBuf {
    use std::path::{Component, Prefix};
    let mut components = path.components();
    let Some(Component::Prefix(prefix)) = components.next() else { return path };
    let rest: std::path::PathBuf = components.collect();
    let head = match prefix.kind() {
        Prefix::VerbatimDisk(letter) => format!("{}:\\", char::from(letter)),
        Prefix::VerbatimUNC(server, share) => match (server.to_str(), share.to_str()) {
            (Some(server), Some(share)) => format!(r"\\{server}\{share}\"),
            _ => return path,
        },
        _ => return path,
    };
    let rest = rest.strip_prefix(std::path::MAIN_SEPARATOR_STR).unwrap_or(&rest).to_owned();
    std::path::PathBuf::from(head).join(rest)
}

/// The leading component for a Windows path prefix, in the form client paths are parsed into
/// (`sandbox::path`): `C:` (drive letter upper-cased), `\\server\share`, `\\?\C:`,
/// `\\?\UNC\server\share`. `None` for device namespaces (`\\.\`), which never name a root.
pub(crate) fn prefix_token(prefix: PrefixComponent<'_>) -> Option<String> {
    use std::path::Prefix;
    let text = |s: &std::ffi::OsStr| s.to_str().map(str::to_owned);
    Some(match prefix.kind() {
        Prefix::Disk(letter) => format!("{}:", char::from(letter).to_ascii_uppercase()),
        Prefix::VerbatimDisk(letter) => {
            format!(r"\\?\{}:", char::from(letter).to_ascii_uppercase())
        }
        Prefix::UNC(server, share) => format!(r"\\{}\{}", text(server)?, text(share)?),
        Prefix::VerbatimUNC(server, share) => {
            format!(r"\\?\UNC\{}\{}", text(server)?, text(share)?)
        }
        Prefix::Verbatim(name) => format!(r"\\?\{}", text(name)?),
        Prefix::DeviceNS(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_by_the_case_rule() {
        assert!(names_match_with(false, "Proj", "Proj"));
        assert!(!names_match_with(false, "Proj", "proj"));
        assert!(names_match_with(true, "Proj", "pROJ"));
        assert!(names_match_with(true, "ÄRGER.txt", "ärger.TXT"));
        assert!(!names_match_with(true, "a", "b"));
        assert!(!names_match_with(true, "ab", "a"));
    }
}
