//! Unix (Linux, macOS, the BSDs): special files, inodes, mode bits, `renameat2`.

use std::io;

use cap_std::fs::{Dir, FileType, FileTypeExt, Metadata, MetadataExt};
use rustix::fs::RenameFlags;
use rustix::io::Errno;

use crate::sandbox::platform::FileId;
use crate::sandbox::platform::Kind;

pub(super) fn special_kind(file_type: FileType) -> Kind {
    if file_type.is_fifo() {
        Kind::Fifo
    } else if file_type.is_socket() {
        Kind::Socket
    } else if file_type.is_char_device() {
        Kind::CharDevice
    } else if file_type.is_block_device() {
        Kind::BlockDevice
    } else {
        Kind::Unknown
    }
}

pub(super) fn file_id(meta: &Metadata) -> Option<FileId> {
    Some(FileId { device: meta.dev(), index: meta.ino() })
}

pub(super) fn change_stamp(meta: &Metadata) -> u64 {
    (meta.ctime() as u64).wrapping_mul(1_000_000_000).wrapping_add(meta.ctime_nsec() as u64)
}

pub(super) fn permission_bits(meta: &Metadata) -> u32 {
    meta.mode() & 0o7777
}

pub(super) fn permissions_with_bits(
    _current: cap_std::fs::Permissions,
    bits: u32,
) -> cap_std::fs::Permissions {
    use cap_std::fs::PermissionsExt;
    cap_std::fs::Permissions::from_mode(bits & 0o7777)
}

/// `renameat2(RENAME_NOREPLACE)` on Linux, `renameatx_np(RENAME_EXCL)` on macOS (both through
/// rustix). Where the kernel or file system lacks it, a check and a plain rename: a race there
/// can only replace an entry created in that instant.
pub(super) fn rename_noreplace(
    from_dir: &Dir,
    from: &str,
    to_dir: &Dir,
    to: &str,
) -> io::Result<()> {
    match rustix::fs::renameat_with(from_dir, from, to_dir, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP) => {
            if to_dir.symlink_metadata(to).is_ok() {
                return Err(io::ErrorKind::AlreadyExists.into());
            }
            from_dir.rename(from, to_dir, to)
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) fn is_cross_device(err: &io::Error) -> bool {
    err.raw_os_error() == Some(Errno::XDEV.raw_os_error())
}

pub(super) fn is_symlink_loop(err: &io::Error) -> bool {
    err.raw_os_error() == Some(Errno::LOOP.raw_os_error())
}

pub(super) fn is_sharing_violation(_err: &io::Error) -> bool {
    false
}

pub(super) fn process_alive(pid: u32) -> Option<bool> {
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).ok()?)?;
    match rustix::process::test_kill_process(pid) {
        Ok(()) | Err(Errno::PERM) => Some(true),
        Err(Errno::SRCH) => Some(false),
        Err(_) => None,
    }
}

pub(super) fn state_dir(
    home: Option<&std::path::Path>,
    var: &dyn Fn(&str) -> Option<std::ffi::OsString>,
) -> Option<std::path::PathBuf> {
    if cfg!(target_os = "macos") {
        return home.map(|home| home.join("Library").join("Application Support"));
    }
    // The XDG base directory rules: a relative value is invalid and ignored.
    var("XDG_STATE_HOME")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home.map(|home| home.join(".local").join("state")))
}

pub(super) fn sync_dir(dir: &Dir) -> io::Result<()> {
    dir.open(".")?.sync_all()
}

pub(super) fn ancestry(dir: &Dir, limit: usize) -> Option<Vec<FileId>> {
    use rustix::fs::{Mode, OFlags, fstat, openat};
    // The field types differ between systems (`st_dev` is an `i32` on macOS).
    #[allow(clippy::unnecessary_cast)]
    let id = |st: &rustix::fs::Stat| FileId { device: st.st_dev as u64, index: st.st_ino as u64 };
    let mut ids = vec![id(&fstat(dir).ok()?)];
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut current = openat(dir, "..", flags, Mode::empty()).ok()?;
    while ids.len() < limit {
        let here = id(&fstat(&current).ok()?);
        if ids.last() == Some(&here) {
            break; // "/" is its own parent
        }
        ids.push(here);
        current = openat(&current, "..", flags, Mode::empty()).ok()?;
    }
    Some(ids)
}
