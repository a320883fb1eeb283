//! Resource URIs: building `file:///…` URIs from client-visible paths, opaque pagination cursors,
//! and guessing MIME types from names. Pure functions; parsing a `file://` URI back into a location
//! is the sandbox's job (`Sandbox::locate` accepts URIs), so there is one parser for paths.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use crate::sandbox::Loc;
use crate::sandbox::path::RelPath;

/// Characters escaped in a file URI's path: everything outside RFC 3986 `pchar` plus `/`.
const PATH_ESCAPES: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// The `file://` URI of a client-visible absolute path.
pub fn file_uri(absolute: &str) -> String {
    format!("file://{}", utf8_percent_encode(absolute, PATH_ESCAPES))
}

/// Encodes a resource-list position as an opaque cursor.
pub fn encode_cursor(loc: &Loc) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}\n{}", loc.root, loc.rel))
}

/// Decodes a cursor made by `encode_cursor`; `None` if it is not one (or names a root that does
/// not exist).
pub fn decode_cursor(cursor: &str, n_roots: usize) -> Option<Loc> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (root, rel) = text.split_once('\n')?;
    let root: usize = root.parse().ok()?;
    if root >= n_roots {
        return None;
    }
    let rel = RelPath::parse(rel).ok()?;
    Some(Loc { root, rel })
}

/// Extensions of text files that MIME databases get wrong or do not know (`.rs` is not
/// "application/rls-services+xml" here, `.ts` is not an MPEG stream).
const TEXT_EXTENSIONS: &[(&str, &str)] = &[
    ("rs", "text/x-rust"),
    ("py", "text/x-python"),
    ("ts", "text/x-typescript"),
    ("tsx", "text/x-typescript"),
    ("go", "text/x-go"),
    ("sql", "text/x-sql"),
    ("toml", "text/x-toml"),
    ("lock", "text/plain"),
    ("sh", "text/x-shellscript"),
    ("rb", "text/x-ruby"),
    ("kt", "text/x-kotlin"),
    ("swift", "text/x-swift"),
    ("scala", "text/x-scala"),
    ("ex", "text/plain"),
    ("exs", "text/plain"),
    ("hs", "text/x-haskell"),
    ("lua", "text/x-lua"),
    ("proto", "text/plain"),
    ("graphql", "text/plain"),
    ("tf", "text/plain"),
    ("nix", "text/plain"),
    ("zig", "text/plain"),
    ("mdx", "text/markdown"),
    ("rst", "text/x-rst"),
    ("env", "text/plain"),
    ("ini", "text/plain"),
    ("cfg", "text/plain"),
    ("conf", "text/plain"),
    ("log", "text/plain"),
];

/// The MIME type for a file name: our table of source-code extensions first, then the MIME
/// database, then `text/plain` for names without an extension or dotfiles (`Makefile`,
/// `.gitignore`), else `application/octet-stream`. Content decides text versus blob on read.
pub fn mime_for(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let extension = lower.rsplit_once('.');
    match extension {
        Some((stem, ext)) if !stem.is_empty() => {
            if let Some((_, mime)) = TEXT_EXTENSIONS.iter().find(|(e, _)| *e == ext) {
                return (*mime).to_owned();
            }
            mime_guess::from_ext(ext).first_raw().unwrap_or("application/octet-stream").to_owned()
        }
        // No extension, or a dotfile such as `.gitignore`.
        _ => "text/plain".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uri_escapes_what_must_be_escaped() {
        assert_eq!(file_uri("/srv/site/a.txt"), "file:///srv/site/a.txt");
        assert_eq!(file_uri("/srv/a b#c?.txt"), "file:///srv/a%20b%23c%3F.txt");
        assert_eq!(file_uri("/srv/ü%.md"), "file:///srv/%C3%BC%25.md");
    }

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let loc = Loc { root: 1, rel: RelPath::parse("src/main.rs").unwrap() };
        let cursor = encode_cursor(&loc);
        assert_eq!(decode_cursor(&cursor, 2), Some(loc));
        assert_eq!(decode_cursor(&cursor, 1), None);
        assert_eq!(decode_cursor("not a cursor!", 2), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("0\n../x"), 2), None);
    }

    #[test]
    fn mime_table() {
        assert_eq!(mime_for("logo.png"), "image/png");
        assert_eq!(mime_for("README.md"), "text/markdown");
        assert_eq!(mime_for("main.rs"), "text/x-rust");
        assert_eq!(mime_for("index.ts"), "text/x-typescript");
        assert_eq!(mime_for("app.js"), "text/javascript");
        assert_eq!(mime_for("Makefile"), "text/plain");
        assert_eq!(mime_for(".gitignore"), "text/plain");
        assert_eq!(mime_for("blob.bin"), "application/octet-stream");
    }
}
