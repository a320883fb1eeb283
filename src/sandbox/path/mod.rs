//! Path syntax: what a client may write as a path, and `RelPath`, the only way the rest of the crate
//! names a file inside a root.
//!
//! Everything here is pure string work: no file system access, no knowledge of which roots exist.
//! It must not import any other module of the crate.

use std::fmt;
use std::path::Path;

use percent_encoding::percent_decode_str;

mod windows;

use windows::parse_windows;

/// A normalized path relative to a root: components joined by `/`, none of them empty, `.` or `..`,
/// no leading or trailing `/`. The empty path names the root itself.
///
/// Invariant: every `RelPath` is lexically beneath its root. It does not say that the path exists or
/// that its components are not symlinks; `Root::resolve` establishes that.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RelPath(String);

/// Why a piece of client input cannot name anything inside the sandbox. `Outside` covers every
/// form that tries to leave it, so that all of them are answered with the same error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyntaxError {
    /// The input uses a form that could lead outside the roots (`..`, NUL, Windows traversal or
    /// share forms, drive letters, encoded separators).
    Outside(&'static str),
    /// The input is malformed in a way that is not an escape attempt (an empty path, a bad URI).
    Invalid(&'static str),
}

/// Client input after syntax checks: either relative to the first root, or an absolute host path
/// still to be matched against the roots. Components are already free of `.`, `..` and empties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathInput {
    /// A relative path, resolved against the first root.
    Relative(RelPath),
    /// An absolute path given as its components (`/a/b` is `["a", "b"]`).
    Absolute(Vec<String>),
    /// A path starting with `~`: components below the user's home directory.
    Home(Vec<String>),
}

impl RelPath {
    /// The root itself.
    pub fn root() -> Self {
        RelPath(String::new())
    }

    /// Parses a relative path written with `/` separators, with the same rules as client input:
    /// empty and `.` components are dropped; `..`, NUL and Windows traversal forms are refused.
    pub fn parse(text: &str) -> Result<Self, SyntaxError> {
        check_chars(text)?;
        let components = split_components(text)?;
        Ok(Self::from_components(components.iter().map(String::as_str)))
    }

    /// Builds a path from components that the caller has already validated (each non-empty, not
    /// `.` or `..`, no `/` or NUL).
    pub(crate) fn from_components<'a>(components: impl IntoIterator<Item = &'a str>) -> Self {
        let mut out = String::new();
        for component in components {
            debug_assert!(is_plain_component(component), "bad component {component:?}");
            if !out.is_empty() {
                out.push('/');
            }
            out.push_str(component);
        }
        RelPath(out)
    }

    /// Whether this is the root itself.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path as `/`-separated text; empty for the root.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path for cap-std calls on the root's `Dir`: `.` for the root itself.
    pub(crate) fn as_path(&self) -> &Path {
        if self.0.is_empty() { Path::new(".") } else { Path::new(&self.0) }
    }

    /// The components, outermost first.
    pub fn components(&self) -> impl DoubleEndedIterator<Item = &str> + Clone {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// The number of components (0 for the root).
    pub(crate) fn depth(&self) -> usize {
        self.components().count()
    }

    /// The last component, or `None` for the root.
    pub fn file_name(&self) -> Option<&str> {
        if self.0.is_empty() { None } else { self.0.rsplit('/').next() }
    }

    /// The parent directory, or `None` for the root.
    pub(crate) fn parent(&self) -> Option<RelPath> {
        if self.0.is_empty() {
            return None;
        }
        Some(match self.0.rfind('/') {
            Some(idx) => RelPath(self.0[..idx].to_owned()),
            None => RelPath::root(),
        })
    }

    /// This path with one more component. Returns `None` when `name` is not a plain component
    /// (empty, `.`, `..`, or containing `/` or NUL), so a directory entry name can never add
    /// traversal.
    pub fn join(&self, name: &str) -> Option<RelPath> {
        if !is_plain_component(name) {
            return None;
        }
        let mut out = String::with_capacity(self.0.len() + 1 + name.len());
        out.push_str(&self.0);
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(name);
        Some(RelPath(out))
    }

    /// Whether `self` is `other` or lies beneath it.
    pub(crate) fn starts_with(&self, other: &RelPath) -> bool {
        if other.is_root() {
            return true;
        }
        self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }

    /// Like `strip_prefix`, borrowed: the path below `base` (empty for `base` itself).
    pub(crate) fn str_below(&self, base: &RelPath) -> Option<&str> {
        if base.is_root() {
            Some(&self.0)
        } else if self.0 == base.0 {
            Some("")
        } else if self.starts_with(base) {
            Some(&self.0[base.0.len() + 1..])
        } else {
            None
        }
    }

    /// The part of `self` below `base`, if `self` lies beneath `base`.
    pub(crate) fn strip_prefix(&self, base: &RelPath) -> Option<RelPath> {
        if base.is_root() {
            return Some(self.clone());
        }
        if self.0 == base.0 {
            return Some(RelPath::root());
        }
        if self.starts_with(base) {
            Some(RelPath(self.0[base.0.len() + 1..].to_owned()))
        } else {
            None
        }
    }

    /// Orders paths component by component (so `a/b` sorts before `a-c`, as a tree walk visits
    /// them). This is the order of resource listings and cursors.
    pub(crate) fn cmp_components(&self, other: &RelPath) -> std::cmp::Ordering {
        self.components().cmp(other.components())
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelPath({:?})", self.0)
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyntaxError::Outside(reason) | SyntaxError::Invalid(reason) => f.write_str(reason),
        }
    }
}

/// How clients write paths on the system the server runs on. The sandbox passes
/// `platform::SYNTAX`; tests use both, on every system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// `/` separators; a backslash, a drive letter or a UNC form is an escape attempt.
    Unix,
    /// `\` or `/` separators; absolute paths start with a drive (`C:\`), a UNC share
    /// (`\\server\share\`) or, only to match a root given that way, a verbatim prefix
    /// (`\\?\C:\`). Device paths (`\\.\`), drive-relative paths (`C:x`), alternate data
    /// streams (`a.txt:s`), reserved device names (`CON`, `nul.txt`), names ending in a dot or a
    /// space, and 8.3 short names (`PROGRA~1`) are refused: each could name something other than
    /// what it spells.
    Windows,
}

/// Parses what a client wrote as a path: absolute, relative, `~/...` or a `file://` URI, in
/// `syntax`.
///
/// Refuses, as `SyntaxError::Outside`, every form that could name something outside the roots
/// whatever the roots are: `..` anywhere, NUL, percent-encoded separators or NUL in URIs, and for
/// each syntax the forms listed on `Syntax`.
///
/// An absolute path comes back as its components. On Windows the first one is the prefix, as
/// `platform::prefix_token` spells it for roots: `C:`, `\\server\share`, `\\?\C:`.
pub fn parse_input(text: &str, syntax: Syntax) -> Result<PathInput, SyntaxError> {
    if text.is_empty() {
        return Err(SyntaxError::Invalid("the path is empty"));
    }
    if let Some(rest) = strip_prefix_ignore_case(text, "file:") {
        return parse_file_uri(rest, syntax);
    }
    match syntax {
        Syntax::Unix => parse_unix(text),
        Syntax::Windows => parse_windows(text),
    }
}

fn parse_unix(text: &str) -> Result<PathInput, SyntaxError> {
    check_chars(text)?;
    if text.starts_with('/') {
        return Ok(PathInput::Absolute(split_components(text)?));
    }
    if text == "~" || text.starts_with("~/") {
        return Ok(PathInput::Home(split_components(&text[1..])?));
    }
    let components = split_components(text)?;
    Ok(PathInput::Relative(RelPath::from_components(components.iter().map(String::as_str))))
}

/// Whether `name` can be one component of a `RelPath`.
pub(crate) fn is_plain_component(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

/// Parses the part of a `file:` URI after the scheme. Only local files are accepted: an empty
/// authority or `localhost` (and, in Windows syntax, a host that names a UNC share:
/// `file://server/share/x`).
fn parse_file_uri(rest: &str, syntax: Syntax) -> Result<PathInput, SyntaxError> {
    let Some(after_slashes) = rest.strip_prefix("//") else {
        return Err(SyntaxError::Invalid("a file URI must start with file:///"));
    };
    let (unc_host, path) = if after_slashes.starts_with('/') {
        (None, after_slashes)
    } else if let Some(path) = strip_prefix_ignore_case(after_slashes, "localhost/") {
        // Keep the slash that starts the path.
        (None, &after_slashes[after_slashes.len() - path.len() - 1..])
    } else if syntax == Syntax::Windows && after_slashes.contains('/') {
        let (host, path) = after_slashes.split_at(after_slashes.find('/').unwrap_or_default());
        (Some(host), path)
    } else {
        return Err(SyntaxError::Outside("a file URI must name a local file (file:///path)"));
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    // An encoded separator or NUL would change the path's structure after decoding.
    let lowered = path.to_ascii_lowercase();
    // `%5C` is a backslash: a separator on Windows, an ordinary character on Unix.
    let encoded_backslash = syntax == Syntax::Windows && lowered.contains("%5c");
    if lowered.contains("%2f") || encoded_backslash || lowered.contains("%00") {
        return Err(SyntaxError::Outside("encoded separators are not allowed in file URIs"));
    }
    let decoded = percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| SyntaxError::Invalid("the file URI does not decode to UTF-8"))?;
    match syntax {
        Syntax::Unix => {
            check_chars(&decoded)?;
            Ok(PathInput::Absolute(split_components(&decoded)?))
        }
        Syntax::Windows => {
            if decoded.contains('\\') {
                return Err(SyntaxError::Outside("backslashes are not allowed in file URIs"));
            }
            let path = match unc_host {
                Some(host) => format!("//{host}{decoded}"),
                // file:///C:/x is the drive path C:/x.
                None => decoded.strip_prefix('/').unwrap_or(&decoded).to_owned(),
            };
            match parse_windows(&path)? {
                absolute @ PathInput::Absolute(_) => Ok(absolute),
                _ => Err(SyntaxError::Invalid("a file URI must name an absolute path")),
            }
        }
    }
}

/// Refuses characters and prefixes that have no business in a Unix path given to this server.
fn check_chars(text: &str) -> Result<(), SyntaxError> {
    if text.contains('\0') {
        return Err(SyntaxError::Outside("the path contains a NUL byte"));
    }
    // On Unix a backslash is an ordinary character in a name (`back\slash.txt` exists, and its
    // URI must read back), but the shapes of Windows traversal and shares are refused, so a
    // client thinking in Windows paths cannot be surprised: `..\x`, `a\..\b`, `\\server\share`.
    if text.starts_with("\\\\") || text.split(['/', '\\']).any(|piece| piece == "..") {
        return Err(SyntaxError::Outside(
            "backslashes are not path separators here, and \"..\" is not allowed; use /",
        ));
    }
    let bytes = text.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err(SyntaxError::Outside("Windows drive paths are not supported; use /"));
    }
    Ok(())
}

/// Splits on `/`, dropping empty and `.` components and refusing `..` in any position.
fn split_components(text: &str) -> Result<Vec<String>, SyntaxError> {
    let mut out = Vec::new();
    for component in text.split('/') {
        match component {
            "" | "." => {}
            ".." => return Err(SyntaxError::Outside("\"..\" is not allowed in paths")),
            other => out.push(other.to_owned()),
        }
    }
    Ok(out)
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) { Some(&text[prefix.len()..]) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(s: &str) -> PathInput {
        PathInput::Relative(RelPath(s.to_owned()))
    }

    fn abs(parts: &[&str]) -> PathInput {
        PathInput::Absolute(parts.iter().map(|p| (*p).to_owned()).collect())
    }

    fn outside() -> Result<PathInput, &'static str> {
        Err("outside")
    }

    fn check(input: &str, expected: Result<PathInput, &'static str>) {
        check_with(Syntax::Unix, input, expected);
    }

    fn check_with(syntax: Syntax, input: &str, expected: Result<PathInput, &'static str>) {
        let got = parse_input(input, syntax).map_err(|e| match e {
            SyntaxError::Outside(_) => "outside",
            SyntaxError::Invalid(_) => "invalid",
        });
        assert_eq!(got, expected, "{syntax:?} input {input:?}");
    }

    #[test]
    fn parse_input_table() {
        check("a/b.txt", Ok(rel("a/b.txt")));
        check("./a", Ok(rel("a")));
        check("a//b", Ok(rel("a/b")));
        check("a/", Ok(rel("a")));
        check(".", Ok(rel("")));
        check("/srv/site/a", Ok(abs(&["srv", "site", "a"])));
        check("//srv//site/", Ok(abs(&["srv", "site"])));
        check("/", Ok(abs(&[])));
        check("~/notes.md", Ok(PathInput::Home(vec!["notes.md".to_owned()])));
        check("~", Ok(PathInput::Home(vec![])));
        check("~bob/x", Ok(rel("~bob/x")));
        check("", Err("invalid"));
        check("..", outside());
        check("a/../../x", outside());
        check("./../x", outside());
        check("//../x", outside());
        check("a/b/..", outside());
        check("/etc/../etc/passwd", outside());
        check("a\0b", outside());
        check("C:\\x", outside());
        check("c:/x", outside());
        check("\\\\server\\share", outside());
        check("a\\b", Ok(rel("a\\b")));
        check("back\\slash.txt", Ok(rel("back\\slash.txt")));
        check("a\\..\\b", outside());
        check("..\\x", outside());
        check("a b/ü.txt", Ok(rel("a b/ü.txt")));
        check("...", Ok(rel("...")));
        check("..a/b..", Ok(rel("..a/b..")));
    }

    #[test]
    fn parse_file_uri_table() {
        check("file:///srv/site/a.txt", Ok(abs(&["srv", "site", "a.txt"])));
        check("FILE:///srv/x", Ok(abs(&["srv", "x"])));
        check("file://localhost/srv/x", Ok(abs(&["srv", "x"])));
        check("file:///srv/a%20b.txt", Ok(abs(&["srv", "a b.txt"])));
        check("file:///srv/%C3%BC", Ok(abs(&["srv", "ü"])));
        check("file:///srv/x?query#frag", Ok(abs(&["srv", "x"])));
        check("file:///srv/%2e%2e/etc/passwd", outside());
        check("file:///srv/%2E%2E/etc", outside());
        check("file:///srv/a%2fb", outside());
        check("file:///srv/a%2Fb", outside());
        check("file:///srv/a%5cb", Ok(abs(&["srv", "a\\b"])));
        check("file:///srv/%5c..%5cx", outside());
        check("file:///srv/a%00b", outside());
        check("file://evil.example/srv/x", outside());
        check("file:relative", Err("invalid"));
        check("file:///srv/%ff", Err("invalid"));
    }

    #[test]
    fn parse_windows_table() {
        let w = |input: &str, expected: Result<PathInput, &'static str>| {
            check_with(Syntax::Windows, input, expected);
        };
        // Drive paths, either separator, either case of drive letter.
        w(r"C:\proj\a.txt", Ok(abs(&["C:", "proj", "a.txt"])));
        w("c:/proj/a.txt", Ok(abs(&["C:", "proj", "a.txt"])));
        w(r"c:\proj/sub\\a.txt", Ok(abs(&["C:", "proj", "sub", "a.txt"])));
        w("C:", Ok(abs(&["C:"])));
        w(r"C:\", Ok(abs(&["C:"])));
        w("C:x", outside());
        w(r"\proj\x", outside());
        // Relative, home, URIs.
        w(r"src\main.rs", Ok(rel("src/main.rs")));
        w("src/main.rs", Ok(rel("src/main.rs")));
        w(r"~\notes.md", Ok(PathInput::Home(vec!["notes.md".to_owned()])));
        w("file:///C:/proj/a%20b.txt", Ok(abs(&["C:", "proj", "a b.txt"])));
        w("file:///c:/proj/a.txt", Ok(abs(&["C:", "proj", "a.txt"])));
        w("file://server/share/x.txt", Ok(abs(&[r"\\server\share", "x.txt"])));
        w("file:///C:/proj/%2e%2e/x", outside());
        w("file:///C:/proj/a%5cb", outside());
        w("file:///proj/a.txt", Err("invalid"));
        // UNC, verbatim, device.
        w(r"\\server\share\dir\a.txt", Ok(abs(&[r"\\server\share", "dir", "a.txt"])));
        w("//server/share/a", Ok(abs(&[r"\\server\share", "a"])));
        w(r"\\server", outside());
        w(r"\\?\C:\proj\a.txt", Ok(abs(&[r"\\?\C:", "proj", "a.txt"])));
        w(r"\\?\c:\proj", Ok(abs(&[r"\\?\C:", "proj"])));
        w(r"\\?\UNC\server\share\a", Ok(abs(&[r"\\?\UNC\server\share", "a"])));
        w(r"\\?\C:/proj", outside());
        w(r"\\?\GLOBALROOT\Device\x", outside());
        w(r"\\.\C:\proj", outside());
        w(r"\\.\pipe\x", outside());
        w("//./C:/x", outside());
        w(r"\??\C:\x", outside());
        // Traversal.
        w(r"C:\proj\..\x", outside());
        w(r"..\x", outside());
        w("a/../b", outside());
        // Reserved names in any component, with or without an extension, any case.
        for name in [
            "CON",
            "con",
            "PRN",
            "AUX",
            "NUL",
            "nul.txt",
            "COM1",
            "com9.log",
            "LPT1",
            "lpt9",
            "NUL .txt",
            "CONIN$",
            "COM\u{b9}",
        ] {
            w(&format!(r"C:\proj\{name}"), outside());
            w(&format!(r"{name}\a"), outside());
        }
        w(r"C:\proj\console.txt", Ok(abs(&["C:", "proj", "console.txt"])));
        w(r"C:\proj\COM10", Ok(abs(&["C:", "proj", "COM10"])));
        // Alternate data streams.
        w(r"C:\proj\a.txt:secret", outside());
        w(r"C:\proj\a.txt::$DATA", outside());
        w("a.txt:secret", outside());
        // Trailing dots and spaces.
        w(r"C:\proj\a.txt.", outside());
        w(r"C:\proj\a.txt ", outside());
        w(r"C:\proj\dir.\a", outside());
        w(r"C:\proj\.hidden", Ok(abs(&["C:", "proj", ".hidden"])));
        // 8.3 short names.
        w(r"C:\PROGRA~1\x", outside());
        w(r"C:\proj\BOOKSH~1.DB", outside());
        w(r"C:\proj\a~b.txt", Ok(abs(&["C:", "proj", "a~b.txt"])));
        w(r"C:\proj\notes~.md", Ok(abs(&["C:", "proj", "notes~.md"])));
        w(r"C:\proj\long-name~1.txt", Ok(abs(&["C:", "proj", "long-name~1.txt"])));
        // Characters Windows does not allow.
        w(r"C:\proj\a?.txt", Err("invalid"));
        w(r"C:\proj\a*", Err("invalid"));
        w("a\0b", outside());
        w("", Err("invalid"));
    }

    #[test]
    fn relpath_operations() {
        let p = RelPath::parse("src/lib/a.rs").unwrap();
        assert_eq!(p.file_name(), Some("a.rs"));
        assert_eq!(p.parent().unwrap().as_str(), "src/lib");
        assert_eq!(p.depth(), 3);
        assert_eq!(RelPath::root().parent(), None);
        assert_eq!(RelPath::parse("a").unwrap().parent(), Some(RelPath::root()));
        assert!(p.starts_with(&RelPath::parse("src").unwrap()));
        assert!(p.starts_with(&RelPath::root()));
        assert!(!RelPath::parse("src-old/a").unwrap().starts_with(&RelPath::parse("src").unwrap()));
        assert_eq!(p.strip_prefix(&RelPath::parse("src").unwrap()).unwrap().as_str(), "lib/a.rs");
        assert_eq!(RelPath::root().join(".."), None);
        assert_eq!(RelPath::root().join("a/b"), None);
        assert_eq!(RelPath::root().join("a").unwrap().as_str(), "a");
        assert_eq!(RelPath::root().as_path(), Path::new("."));
        let (a, b) = (RelPath::parse("a/b").unwrap(), RelPath::parse("a-c").unwrap());
        assert_eq!(a.cmp_components(&b), std::cmp::Ordering::Less);
        assert_eq!(a.as_str().cmp(b.as_str()), std::cmp::Ordering::Greater);
    }
}
