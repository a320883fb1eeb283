//! Windows: no special files in directories, volume serial numbers and file indexes, the
//! read-only attribute, and renames that replace unless told otherwise.

use std::io;

use cap_primitives::fs::_WindowsByHandle;
use cap_std::fs::{Dir, FileType, Metadata, OpenOptions, OpenOptionsExt};

use crate::sandbox::platform::FileId;
use crate::sandbox::platform::Kind;

/// `ERROR_SHARING_VIOLATION`: another program has the file open without sharing it.
const ERROR_SHARING_VIOLATION: i32 = 32;
/// `ERROR_LOCK_VIOLATION`.
const ERROR_LOCK_VIOLATION: i32 = 33;
/// `ERROR_ACCESS_DENIED`: also what replacing a file that is open (without `FILE_SHARE_DELETE`)
/// or marked for deletion reports.
const ERROR_ACCESS_DENIED: i32 = 5;
/// `ERROR_NOT_SAME_DEVICE`.
const ERROR_NOT_SAME_DEVICE: i32 = 17;
/// The `DELETE` and `FILE_READ_ATTRIBUTES` access rights.
const DELETE: u32 = 0x0001_0000;
const FILE_READ_ATTRIBUTES: u32 = 0x0080;
/// `FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE`: others may do anything meanwhile.
const FILE_SHARE_ALL: u32 = 0x7;
/// `ERROR_CANT_RESOLVE_FILENAME`: too many levels of reparse points.
const ERROR_CANT_RESOLVE_FILENAME: i32 = 1921;

pub(super) fn special_kind(_file_type: FileType) -> Kind {
    // Named pipes and devices live in their own namespaces (`\\.\`), never in a directory.
    Kind::Unknown
}

pub(super) fn file_id(meta: &Metadata) -> Option<FileId> {
    Some(FileId {
        device: u64::from(_WindowsByHandle::volume_serial_number(meta)?),
        index: _WindowsByHandle::file_index(meta)?,
    })
}

pub(super) fn change_stamp(meta: &Metadata) -> u64 {
    u64::from(_WindowsByHandle::file_attributes(meta))
}

pub(super) fn permission_bits(meta: &Metadata) -> u32 {
    if meta.permissions().readonly() { 0o444 } else { 0o666 }
}

/// Windows keeps one permission: read-only, when no write bit is set.
pub(super) fn permissions_with_bits(
    current: cap_std::fs::Permissions,
    bits: u32,
) -> cap_std::fs::Permissions {
    let mut permissions = current;
    permissions.set_readonly(bits & 0o222 == 0);
    permissions
}

/// A file is renamed by hard-linking it under the new name (which fails if the name exists) and
/// removing the old name: no instant in which an existing destination could be replaced. A
/// directory cannot be hard-linked: it is checked and renamed, and Windows refuses to replace an
/// existing directory anyway.
pub(super) fn rename_noreplace(
    from_dir: &Dir,
    from: &str,
    to_dir: &Dir,
    to: &str,
) -> io::Result<()> {
    let meta = from_dir.symlink_metadata(from)?;
    // Windows refuses to remove a name of a read-only file, so a link to one could not be taken
    // back: such a file takes the checked rename below, which Windows allows.
    if meta.is_file() && !meta.permissions().readonly() {
        // Claim the right to delete the old name first. If another program holds the file open
        // without letting it be deleted, this fails now with a sharing violation (the caller
        // tries again), before a second name exists; while the claim is held, no program can
        // open the file in that way.
        let _claim = from_dir.open_with(
            from,
            OpenOptions::new()
                .read(true)
                .access_mode(DELETE | FILE_READ_ATTRIBUTES)
                .share_mode(FILE_SHARE_ALL),
        )?;
        match from_dir.hard_link(from, to_dir, to) {
            // The claim makes this all but certain. Should it fail anyway, the new name goes
            // again, so that the move can be tried from the start.
            Ok(()) => {
                return from_dir.remove_file(from).inspect_err(|_| {
                    let _ = to_dir.remove_file(to);
                });
            }
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => return Err(err),
            // File systems without hard links (FAT) fall through to the checked rename.
            Err(_) => {}
        }
    }
    if to_dir.symlink_metadata(to).is_ok() {
        return Err(io::ErrorKind::AlreadyExists.into());
    }
    from_dir.rename(from, to_dir, to)
}

pub(super) fn is_cross_device(err: &io::Error) -> bool {
    err.raw_os_error() == Some(ERROR_NOT_SAME_DEVICE)
}

pub(super) fn is_symlink_loop(err: &io::Error) -> bool {
    err.raw_os_error() == Some(ERROR_CANT_RESOLVE_FILENAME)
}

pub(super) fn is_sharing_violation(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(ERROR_SHARING_VIOLATION | ERROR_LOCK_VIOLATION | ERROR_ACCESS_DENIED)
    )
}

pub(super) fn process_alive(_pid: u32) -> Option<bool> {
    // Asking needs a process handle (an unsafe Win32 call): stale files are told by age alone.
    None
}

pub(super) fn state_dir(
    home: Option<&std::path::Path>,
    var: &dyn Fn(&str) -> Option<std::ffi::OsString>,
) -> Option<std::path::PathBuf> {
    var("LOCALAPPDATA")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home.map(|home| home.join("AppData").join("Local")))
}

pub(super) fn sync_dir(_dir: &Dir) -> io::Result<()> {
    Ok(())
}

pub(super) fn ancestry(_dir: &Dir, _limit: usize) -> Option<Vec<FileId>> {
    // cap-std gives no safe way to open `..` of a handle here; directories are opened one
    // component at a time without following reparse points instead.
    None
}
