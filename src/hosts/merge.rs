//! Merging one server entry into a host's JSON config text: everything else in the file (other
//! servers, unknown keys, their order, spacing and, where the host allows them, comments) stays
//! as it was. Pure: text in, text out; `hosts::write` does the file system.

use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstInputValue, CstRootNode};
use serde_json::Value;

/// Why a merge was refused. Nothing is written in any of these cases.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MergeError {
    #[error(
        "is not valid {what} at line {line}, column {column}: {message}; fix it (or move it away) and run this again"
    )]
    Invalid { what: &'static str, line: usize, column: usize, message: String },
    #[error("holds {found} at its top level, not an object")]
    NotAnObject { found: &'static str },
    #[error("has \"{key}\" holding {found}, not an object of servers")]
    KeyNotAnObject { key: String, found: &'static str },
    #[error(
        "already has a server named \"{name}\", with another command or arguments; choose another name with --name, or replace it with --force"
    )]
    NameTaken { name: String },
}

/// What a merge did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Merged {
    /// The new text, with the entry added (or replaced, with `force`).
    Changed(String),
    /// The file already has exactly this entry under this name.
    AlreadyThere,
}

/// How strictly a host reads its file: Claude Desktop, Claude Code and Cursor parse plain JSON
/// (a trailing comma makes Claude Desktop ignore the whole file); VS Code reads its `mcp.json`
/// as JSON with comments and trailing commas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    Json,
    Jsonc,
}

impl Syntax {
    fn options(self) -> ParseOptions {
        let jsonc = self == Syntax::Jsonc;
        ParseOptions {
            allow_comments: jsonc,
            allow_trailing_commas: jsonc,
            allow_loose_object_property_names: false,
            allow_missing_commas: false,
            allow_single_quoted_strings: false,
            allow_hexadecimal_numbers: false,
            allow_unary_plus_numbers: false,
            allow_bare_decimal_point_numbers: false,
            allow_non_finite_numbers: false,
            allow_extended_string_escapes: false,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Syntax::Json => "JSON",
            Syntax::Jsonc => "JSON with comments",
        }
    }
}

/// One server's entry: its fields in the order they are written.
pub(crate) type Fields = Vec<(String, Value)>;

/// Puts `entry` under `servers_key` → `name` in `text` (the file's content; empty or blank for a
/// new file). A different entry under that name is replaced only with `force`.
pub(crate) fn merge(
    text: &str,
    syntax: Syntax,
    servers_key: &str,
    name: &str,
    entry: &Fields,
    force: bool,
) -> Result<Merged, MergeError> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    let options = syntax.options();
    let invalid = |e: jsonc_parser::errors::ParseError| MergeError::Invalid {
        what: syntax.name(),
        line: e.line_display(),
        column: e.column_display(),
        message: e.kind().to_string(),
    };
    // The values, to look at what is there; the concrete tree, to change it in place.
    let value: Value = jsonc_parser::parse_to_serde_value(text, &options).map_err(invalid)?;
    let root = CstRootNode::parse(text, &options).map_err(invalid)?;
    let Value::Object(top) = value else {
        return Err(MergeError::NotAnObject { found: kind(Some(&value)) });
    };
    let Some(root_object) = root.object_value() else {
        return Err(MergeError::NotAnObject { found: "something else" });
    };
    let servers = match top.get(servers_key) {
        None => None,
        Some(Value::Object(servers)) => Some(servers),
        Some(other) => {
            return Err(MergeError::KeyNotAnObject {
                key: servers_key.to_owned(),
                found: kind(Some(other)),
            });
        }
    };
    let wanted = Value::Object(entry.iter().cloned().collect());
    match servers.and_then(|s| s.get(name)) {
        Some(existing) if *existing == wanted => return Ok(Merged::AlreadyThere),
        Some(_) if !force => return Err(MergeError::NameTaken { name: name.to_owned() }),
        _ => {}
    }
    let fields = CstInputValue::Object(entry.iter().map(|(k, v)| (k.clone(), input(v))).collect());
    let servers_object = root_object.object_value_or_set(servers_key);
    match servers_object.get(name) {
        Some(prop) => prop.set_value(fields),
        None => {
            servers_object.append(name, fields);
        }
    }
    let mut out = root.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(Merged::Changed(out))
}

/// A JSON value as the concrete tree takes it (objects keep their order).
fn input(value: &Value) -> CstInputValue {
    match value {
        Value::Null => CstInputValue::Null,
        Value::Bool(b) => CstInputValue::Bool(*b),
        Value::Number(n) => CstInputValue::Number(n.to_string()),
        Value::String(s) => CstInputValue::String(s.clone()),
        Value::Array(items) => CstInputValue::Array(items.iter().map(input).collect()),
        Value::Object(fields) => {
            CstInputValue::Object(fields.iter().map(|(k, v)| (k.clone(), input(v))).collect())
        }
    }
}

fn kind(value: Option<&Value>) -> &'static str {
    match value {
        None | Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "a boolean",
        Some(Value::Number(_)) => "a number",
        Some(Value::String(_)) => "a string",
        Some(Value::Array(_)) => "an array",
        Some(Value::Object(_)) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry() -> Fields {
        vec![
            ("command".to_owned(), json!("/opt/bin/mcp-files-sqlite")),
            ("args".to_owned(), json!(["--root", "/home/me/code"])),
        ]
    }

    fn value() -> Value {
        json!({"command": "/opt/bin/mcp-files-sqlite", "args": ["--root", "/home/me/code"]})
    }

    fn changed(merged: Merged) -> String {
        match merged {
            Merged::Changed(text) => text,
            Merged::AlreadyThere => panic!("expected a change"),
        }
    }

    #[test]
    fn an_entry_is_written_in_its_own_order() {
        let text =
            changed(merge("", Syntax::Json, "mcpServers", "files", &entry(), false).unwrap());
        let (command, args) = (text.find("\"command\""), text.find("\"args\""));
        assert!(command.is_some() && command < args, "{text}");
    }

    #[test]
    fn a_new_file_gets_just_the_entry() {
        let text =
            changed(merge("", Syntax::Json, "mcpServers", "files", &entry(), false).unwrap());
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, json!({"mcpServers": {"files": value()}}));
    }

    #[test]
    fn other_servers_unknown_keys_and_their_order_and_spacing_stay() {
        let before = "{\n    \"preferences\": {\"zoom\": 2},\n    \"mcpServers\": {\n        \"other\": {\"command\": \"x\"}\n    },\n    \"alpha\": [1, 2]\n}\n";
        let after =
            changed(merge(before, Syntax::Json, "mcpServers", "files", &entry(), false).unwrap());
        let back: Value = serde_json::from_str(&after).unwrap();
        assert_eq!(back["preferences"], json!({"zoom": 2}));
        assert_eq!(back["alpha"], json!([1, 2]));
        assert_eq!(back["mcpServers"]["other"], json!({"command": "x"}));
        assert_eq!(back["mcpServers"]["files"], value());
        // Untouched text stays byte for byte, in its order.
        assert!(after.starts_with("{\n    \"preferences\": {\"zoom\": 2},\n    \"mcpServers\": {\n        \"other\": {\"command\": \"x\"},"), "{after}");
        assert!(after.contains("\"alpha\": [1, 2]\n}"), "{after}");
        let (p, m, a) = (after.find("preferences"), after.find("mcpServers"), after.find("alpha"));
        assert!(p < m && m < a, "{after}");
    }

    #[test]
    fn a_file_without_the_servers_key_gets_it() {
        let after = changed(
            merge("{\"theme\": \"dark\"}", Syntax::Json, "servers", "files", &entry(), false)
                .unwrap(),
        );
        let back: Value = serde_json::from_str(&after).unwrap();
        assert_eq!(back, json!({"theme": "dark", "servers": {"files": value()}}));
    }

    #[test]
    fn invalid_json_is_refused_with_its_line_and_column() {
        let text = "{\n  \"mcpServers\": {\n    \"a\": {\"command\": \"x\",}\n  }\n}\n";
        let err = merge(text, Syntax::Json, "mcpServers", "files", &entry(), false).unwrap_err();
        let MergeError::Invalid { line, column, .. } = err else { panic!("{err}") };
        assert_eq!((line, column), (3, 25), "{err}");
        let comment = "// mine\n{}";
        let err = merge(comment, Syntax::Json, "mcpServers", "files", &entry(), false).unwrap_err();
        assert!(matches!(err, MergeError::Invalid { line: 1, column: 1, .. }), "{err}");
        for bad in ["[1]", "\"text\"", "{\"mcpServers\": [1]}", "{\"a\": 1} {\"b\": 2}"] {
            assert!(merge(bad, Syntax::Json, "mcpServers", "f", &entry(), false).is_err(), "{bad}");
        }
    }

    #[test]
    fn vs_code_files_keep_their_comments_and_trailing_commas() {
        let before = "{\n  // my servers\n  \"servers\": {\n    \"db\": {\"type\": \"stdio\", \"command\": \"x\"}, // the db one\n  },\n  \"inputs\": [],\n}\n";
        let after =
            changed(merge(before, Syntax::Jsonc, "servers", "files", &entry(), false).unwrap());
        assert!(after.contains("// my servers") && after.contains("// the db one"), "{after}");
        let back: Value =
            jsonc_parser::parse_to_serde_value(&after, &Syntax::Jsonc.options()).unwrap();
        assert_eq!(back["servers"]["files"], value());
        assert_eq!(back["servers"]["db"]["command"], "x");
        assert_eq!(back["inputs"], json!([]));
        assert!(merge(before, Syntax::Json, "servers", "files", &entry(), false).is_err());
    }

    #[test]
    fn a_taken_name_is_refused_unless_forced_and_the_same_entry_is_left_alone() {
        let before =
            serde_json::to_string_pretty(&json!({"mcpServers": {"files": {"command": "old"}}}))
                .unwrap();
        let err = merge(&before, Syntax::Json, "mcpServers", "files", &entry(), false).unwrap_err();
        assert!(matches!(err, MergeError::NameTaken { .. }), "{err}");
        let forced =
            changed(merge(&before, Syntax::Json, "mcpServers", "files", &entry(), true).unwrap());
        let back: Value = serde_json::from_str(&forced).unwrap();
        assert_eq!(back, json!({"mcpServers": {"files": value()}}));
        assert_eq!(
            merge(&forced, Syntax::Json, "mcpServers", "files", &entry(), false).unwrap(),
            Merged::AlreadyThere
        );
    }

    #[test]
    fn windows_paths_are_written_with_escaped_backslashes_and_read_back_whole() {
        let windows = json!({
            "command": r"C:\Program Files\mcp\mcp-files-sqlite.exe",
            "args": ["--root", r"C:\Users\me\code", "--db", r"shop=\\server\share\shop.db"]
        });
        let fields: Fields = windows.as_object().unwrap().clone().into_iter().collect();
        let after =
            changed(merge("{}", Syntax::Json, "mcpServers", "files", &fields, false).unwrap());
        assert!(after.contains(r#""C:\\Program Files\\mcp\\mcp-files-sqlite.exe""#), "{after}");
        assert!(after.contains(r#""shop=\\\\server\\share\\shop.db""#), "{after}");
        let back: Value = serde_json::from_str(&after).unwrap();
        assert_eq!(back["mcpServers"]["files"], windows);
    }
}
