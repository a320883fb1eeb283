//! Resource URIs: building `file:///…` URIs from client-visible paths, `sqlite://` URIs for
//! databases (both ways), opaque pagination cursors, and guessing MIME types from names. Pure
//! functions; parsing a `file://` URI back into a location is the sandbox's job (`Sandbox::locate`
//! accepts URIs), so there is one parser for paths.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use percent_encoding::{
    AsciiSet, CONTROLS, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode,
};

use crate::sandbox::path::RelPath;

/// The template for files that are not listed (ignored files, or beyond what a client paged).
pub(crate) const FILE_TEMPLATE: &str = "file:///{+path}";

/// The template for one table of one database.
pub(crate) const TABLE_TEMPLATE: &str = "sqlite://{db}/table/{table}";

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

/// The `file://` URI of a client-visible absolute path: `/srv/a b` is `file:///srv/a%20b`; a
/// Windows drive path `C:\proj\a` is `file:///C:/proj/a`, a UNC path `\\server\share\a` is
/// `file://server/share/a` (RFC 8089). Only Windows produces paths of those shapes.
pub(crate) fn file_uri(absolute: &str) -> String {
    let bytes = absolute.as_bytes();
    let is_drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if is_drive {
        let path = absolute.replace('\\', "/");
        return format!("file:///{}", utf8_percent_encode(&path, PATH_ESCAPES));
    }
    if let Some(unc) = absolute.strip_prefix(r"\\") {
        let path = unc.replace('\\', "/");
        return format!("file://{}", utf8_percent_encode(&path, PATH_ESCAPES));
    }
    format!("file://{}", utf8_percent_encode(absolute, PATH_ESCAPES))
}

/// Characters escaped in a table name inside a `sqlite://` URI: all but RFC 3986 unreserved.
const NAME_ESCAPES: &AsciiSet =
    &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// A database resource named by a `sqlite://` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SqliteUri {
    /// `sqlite://<db>/schema`: every object's DDL.
    Schema { db: String },
    /// `sqlite://<db>/table/<table>`: one table or view.
    Table { db: String, table: String },
}

/// The URI of a database's schema resource.
pub(crate) fn sqlite_schema_uri(db: &str) -> String {
    format!("sqlite://{db}/schema")
}

/// The URI of a table's resource; the table name is percent-encoded, so any name round-trips.
pub(crate) fn sqlite_table_uri(db: &str, table: &str) -> String {
    format!("sqlite://{db}/table/{}", utf8_percent_encode(table, NAME_ESCAPES))
}

/// Parses a `sqlite://` URI; `None` for anything that is not one of ours (wrong shape, a bad
/// database name, an undecodable table name). Whether the database and table exist is the
/// caller's question.
pub(crate) fn parse_sqlite_uri(uri: &str) -> Option<SqliteUri> {
    let rest = uri.strip_prefix("sqlite://")?;
    let (db, path) = rest.split_once('/')?;
    if !crate::db::is_valid_name(db) {
        return None;
    }
    let db = db.to_owned();
    if path == "schema" {
        return Some(SqliteUri::Schema { db });
    }
    let encoded = path.strip_prefix("table/")?;
    if encoded.is_empty() || encoded.contains(['/', '?', '#']) {
        return None;
    }
    let table = percent_decode_str(encoded).decode_utf8().ok()?.into_owned();
    if table.contains('\0') {
        return None;
    }
    Some(SqliteUri::Table { db, table })
}

/// Where a `resources/list` page starts: the databases' resources come first (schema, then
/// tables, per database, by position), then the files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListCursor {
    /// At this position in the sequence of database resources.
    Databases { offset: usize },
    /// After this file, a root's index and a path below it (or at the first file).
    Files { after: Option<(usize, RelPath)> },
}

/// Encodes a resource-list position as an opaque cursor.
pub(crate) fn encode_cursor(cursor: &ListCursor) -> String {
    let text = match cursor {
        ListCursor::Databases { offset } => format!("d\n{offset}"),
        ListCursor::Files { after: None } => "f\n".to_owned(),
        ListCursor::Files { after: Some((root, rel)) } => format!("{root}\n{rel}"),
    };
    URL_SAFE_NO_PAD.encode(text)
}

/// Decodes a cursor made by `encode_cursor`; `None` if it is not one (or names a root that does
/// not exist).
pub(crate) fn decode_cursor(cursor: &str, n_roots: usize) -> Option<ListCursor> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (head, rest) = text.split_once('\n')?;
    match head {
        "d" => Some(ListCursor::Databases { offset: rest.parse().ok()? }),
        "f" if rest.is_empty() => Some(ListCursor::Files { after: None }),
        _ => {
            let root: usize = head.parse().ok()?;
            if root >= n_roots {
                return None;
            }
            let rel = RelPath::parse(rest).ok()?;
            Some(ListCursor::Files { after: Some((root, rel)) })
        }
    }
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
pub(crate) fn mime_for(name: &str) -> String {
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
        assert_eq!(file_uri(r"C:\proj\a b.txt"), "file:///C:/proj/a%20b.txt");
        assert_eq!(file_uri(r"\\server\share\a.txt"), "file://server/share/a.txt");
    }

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let loc = ListCursor::Files { after: Some((1, RelPath::parse("src/main.rs").unwrap())) };
        let cursor = encode_cursor(&loc);
        assert_eq!(decode_cursor(&cursor, 2), Some(loc));
        assert_eq!(decode_cursor(&cursor, 1), None);
        for other in [ListCursor::Databases { offset: 7 }, ListCursor::Files { after: None }] {
            assert_eq!(decode_cursor(&encode_cursor(&other), 1), Some(other));
        }
        assert_eq!(decode_cursor("not a cursor!", 2), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("0\n../x"), 2), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("d\n-1"), 2), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("f\nx"), 2), None);
    }

    #[test]
    fn sqlite_uris_round_trip() {
        assert_eq!(sqlite_schema_uri("shop"), "sqlite://shop/schema");
        let odd = "order items/ü%?";
        let uri = sqlite_table_uri("shop", odd);
        assert_eq!(uri, "sqlite://shop/table/order%20items%2F%C3%BC%25%3F");
        assert_eq!(
            parse_sqlite_uri(&uri),
            Some(SqliteUri::Table { db: "shop".into(), table: odd.into() })
        );
        assert_eq!(
            parse_sqlite_uri("sqlite://shop/schema"),
            Some(SqliteUri::Schema { db: "shop".into() })
        );
        for bad in [
            "sqlite://shop",
            "sqlite://shop/",
            "sqlite://shop/tables/x",
            "sqlite://shop/table/",
            "sqlite://shop/table/a/b",
            "sqlite://../table/x",
            "sqlite://sh op/schema",
            "sqlite://shop/table/%FF",
            "sqlite://shop/table/a%00",
            "file:///shop/schema",
        ] {
            assert_eq!(parse_sqlite_uri(bad), None, "{bad}");
        }
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
