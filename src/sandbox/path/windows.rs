//! Windows path syntax: drive letters in either case and with either separator, UNC shares,
//! verbatim paths only where a root was given that way, and the names Windows treats specially
//! (reserved device names, alternate data streams, trailing dots and spaces, 8.3 short names),
//! which are refused. Pure, and tested on every system.

use crate::sandbox::path::{PathInput, RelPath, SyntaxError, strip_prefix_ignore_case};

pub(super) fn parse_windows(text: &str) -> Result<PathInput, SyntaxError> {
    if text.contains('\0') {
        return Err(SyntaxError::Outside("the path contains a NUL byte"));
    }
    let is_drive = |b: &[u8]| b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':';
    let drive = |b: &[u8]| format!("{}:", char::from(b[0]).to_ascii_uppercase());
    if let Some(rest) = text.strip_prefix(r"\\?\") {
        // Verbatim: no `/` separators, no normalization; only `\\?\C:\` and UNC shares.
        if rest.contains('/') {
            return Err(SyntaxError::Outside("a verbatim (\\\\?\\) path cannot use / separators"));
        }
        if let Some(unc) = strip_prefix_ignore_case(rest, r"UNC\") {
            let (share, tail) = unc_share(unc)?;
            return absolute_windows(format!(r"\\?\UNC\{share}"), tail);
        }
        let r = rest.as_bytes();
        if is_drive(r) && (r.len() == 2 || r[2] == b'\\') {
            return absolute_windows(format!(r"\\?\{}", drive(r)), &rest[2..]);
        }
        return Err(SyntaxError::Outside("verbatim paths other than \\\\?\\C:\\ are not allowed"));
    }
    let normal = text.replace('/', "\\");
    if normal.starts_with(r"\\.\") || normal.starts_with(r"\??\") || normal.starts_with(r"\\?") {
        return Err(SyntaxError::Outside("device paths (\\\\.\\) are not allowed"));
    }
    if let Some(unc) = normal.strip_prefix(r"\\") {
        let (share, tail) = unc_share(unc)?;
        return absolute_windows(format!(r"\\{share}"), tail);
    }
    let n = normal.as_bytes();
    if is_drive(n) {
        if n.len() > 2 && n[2] != b'\\' {
            return Err(SyntaxError::Outside(
                "drive-relative paths (C:x) are not allowed; write C:\\x",
            ));
        }
        return absolute_windows(drive(n), &normal[2..]);
    }
    if normal.starts_with('\\') {
        return Err(SyntaxError::Outside(
            "a path from the root of the current drive is ambiguous; start it with a drive letter",
        ));
    }
    if normal == "~" || normal.starts_with("~\\") {
        return Ok(PathInput::Home(split_windows(&normal[1..])?));
    }
    let components = split_windows(&normal)?;
    Ok(PathInput::Relative(RelPath::from_components(components.iter().map(String::as_str))))
}

/// `server\share` and the rest of a UNC path.
pub(super) fn unc_share(unc: &str) -> Result<(String, &str), SyntaxError> {
    let mut parts = unc.splitn(3, '\\');
    let server = parts.next().unwrap_or_default();
    let share = parts.next().unwrap_or_default();
    let tail = parts.next().unwrap_or_default();
    if server.is_empty() || share.is_empty() || server == "." || server == "?" {
        return Err(SyntaxError::Outside("a UNC path must be \\\\server\\share\\..."));
    }
    check_windows_component(server)?;
    check_windows_component(share)?;
    Ok((format!("{server}\\{share}"), tail))
}

pub(super) fn absolute_windows(prefix: String, rest: &str) -> Result<PathInput, SyntaxError> {
    let mut components = vec![prefix];
    components.extend(split_windows(rest)?);
    Ok(PathInput::Absolute(components))
}

/// Splits on `\`, dropping empty and `.` components, refusing `..` and every forbidden name.
pub(super) fn split_windows(text: &str) -> Result<Vec<String>, SyntaxError> {
    let mut out = Vec::new();
    for component in text.split('\\') {
        match component {
            "" | "." => {}
            ".." => return Err(SyntaxError::Outside("\"..\" is not allowed in paths")),
            other => {
                check_windows_component(other)?;
                out.push(other.to_owned());
            }
        }
    }
    Ok(out)
}

/// Device names Windows resolves in every directory, with or without an extension.
pub(super) const RESERVED_NAMES: &[&str] = &[
    "CON",
    "PRN",
    "AUX",
    "NUL",
    "CONIN$",
    "CONOUT$",
    "COM0",
    "COM1",
    "COM2",
    "COM3",
    "COM4",
    "COM5",
    "COM6",
    "COM7",
    "COM8",
    "COM9",
    "COM\u{b9}",
    "COM\u{b2}",
    "COM\u{b3}",
    "LPT0",
    "LPT1",
    "LPT2",
    "LPT3",
    "LPT4",
    "LPT5",
    "LPT6",
    "LPT7",
    "LPT8",
    "LPT9",
    "LPT\u{b9}",
    "LPT\u{b2}",
    "LPT\u{b3}",
];

/// One Windows path component: refuses what Windows would read as something else.
pub(super) fn check_windows_component(name: &str) -> Result<(), SyntaxError> {
    if name.contains(':') {
        return Err(SyntaxError::Outside(
            "\":\" is not allowed in a name (alternate data streams are never opened)",
        ));
    }
    if name.chars().any(|c| matches!(c, '<' | '>' | '"' | '|' | '?' | '*') || c < ' ') {
        return Err(SyntaxError::Invalid("the name contains a character Windows does not allow"));
    }
    if name.ends_with('.') || name.ends_with(' ') {
        return Err(SyntaxError::Outside(
            "names ending in a dot or a space are not allowed (Windows strips them, so they name another file)",
        ));
    }
    let stem = name.split('.').next().unwrap_or_default().trim_end_matches(' ');
    if RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(stem) || stem.to_uppercase() == *r) {
        return Err(SyntaxError::Outside(
            "reserved device names (CON, NUL, COM1, ...) are not allowed",
        ));
    }
    if is_short_name(name) {
        return Err(SyntaxError::Outside(
            "8.3 short names (PROGRA~1) are not accepted; use the long name",
        ));
    }
    Ok(())
}

/// Whether a name has the shape of a generated 8.3 alias: up to six characters, `~`, digits, and
/// an optional extension of up to three.
pub(super) fn is_short_name(name: &str) -> bool {
    let (base, ext) = match name.rsplit_once('.') {
        Some((base, ext)) => (base, Some(ext)),
        None => (name, None),
    };
    let Some((head, digits)) = base.rsplit_once('~') else { return false };
    !head.is_empty()
        && head.chars().count() <= 6
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && head.chars().count() + 1 + digits.len() <= 8
        && ext.is_none_or(|e| e.chars().count() <= 3)
}
