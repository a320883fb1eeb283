//! Reading the shape of a line that is not a message rmcp accepts: which JSON-RPC error it gets,
//! with which id, and the id of a line too long to parse. Pure functions.

use rmcp::model::ErrorCode;
use serde_json::{Value, json};

/// The requests MCP defines that a client may send (both eras). One of these that rmcp could not
/// parse into its typed form had params of the wrong shape.
pub(super) const STANDARD_REQUESTS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "completion/complete",
    "logging/setLevel",
    "prompts/get",
    "prompts/list",
    "resources/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "resources/templates/list",
    "subscriptions/listen",
    "tools/call",
    "tools/list",
    "tasks/get",
    "tasks/cancel",
];

/// rmcp's default handlers answer a method they do not serve with the bare method name as the
/// message; say what happened.
pub(super) fn name_missing_method(error: &mut rmcp::ErrorData) {
    if error.code == ErrorCode::METHOD_NOT_FOUND && !error.message.contains(' ') {
        error.message = format!("method not found: {}", error.message).into();
    }
}

/// The error for valid JSON that is not a message rmcp accepts, or `None` to stay silent (a
/// notification: JSON-RPC never answers those).
pub(super) fn classify_invalid(
    value: &Value,
    error: &serde_json::Error,
) -> Option<(ErrorCode, String, Option<Value>)> {
    let Some(object) = value.as_object() else {
        let what = if value.is_array() {
            "batches (JSON arrays) are not supported; send one message per line"
        } else {
            "a message must be a JSON object"
        };
        return Some((ErrorCode::INVALID_REQUEST, format!("invalid request: {what}"), None));
    };
    let id = object.get("id").filter(|id| id.is_string() || id.is_i64() || id.is_u64()).cloned();
    let method = object.get("method").and_then(Value::as_str);
    match (object.get("id"), method) {
        // A notification (no id), valid or not, gets no answer.
        (None, Some(_)) => {
            tracing::debug!(error = %error, "ignoring a notification that is not valid");
            None
        }
        (Some(_), Some(method)) if id.is_some() && object.get("jsonrpc") == Some(&json!("2.0")) => {
            Some((ErrorCode::INVALID_PARAMS, format!("invalid params for {method}: {error}"), id))
        }
        _ => Some((
            ErrorCode::INVALID_REQUEST,
            format!(
                "invalid request: a request needs \"jsonrpc\": \"2.0\", a \"method\" and an \"id\" that is a string or an integer ({error})"
            ),
            id,
        )),
    }
}

/// The `id` of a message cut short, if its first bytes show one: `"id":` followed by a number or
/// a string, at the top level of the object (depth 1).
pub(super) fn id_from_head(head: &[u8]) -> Option<Value> {
    let text = String::from_utf8_lossy(head);
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut idx = 0;
    while idx < bytes.len() {
        match bytes[idx] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let end = string_end(bytes, idx)?;
                if depth == 1 && &bytes[idx..=end] == b"\"id\"" {
                    let rest = text[end + 1..].trim_start().strip_prefix(':')?.trim_start();
                    return leading_id(rest);
                }
                idx = end;
            }
            _ => {}
        }
        idx += 1;
    }
    None
}

/// The index of the quote that closes the string starting at `start`.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut idx = start + 1;
    while idx < bytes.len() {
        match bytes[idx] {
            b'\\' => idx += 2,
            b'"' => return Some(idx),
            _ => idx += 1,
        }
    }
    None
}

/// A number or string id at the start of `text`.
fn leading_id(text: &str) -> Option<Value> {
    if text.starts_with('"') {
        let end = string_end(text.as_bytes(), 0)?;
        return serde_json::from_str::<Value>(&text[..=end]).ok().filter(Value::is_string);
    }
    let digits = text
        .char_indices()
        .find(|(idx, c)| !(c.is_ascii_digit() || (*idx == 0 && *c == '-')))
        .map_or(text.len(), |(idx, _)| idx);
    serde_json::from_str::<Value>(&text[..digits]).ok().filter(|v| v.is_i64() || v.is_u64())
}

#[cfg(test)]
mod tests {
    use rmcp::model::ClientJsonRpcMessage;

    use super::*;

    #[test]
    fn ids_are_found_in_the_head_of_a_cut_message() {
        let check = |head: &str, expected: Option<Value>| {
            assert_eq!(id_from_head(head.as_bytes()), expected, "{head}");
        };
        check(
            r#"{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"x":"aaaa"#,
            Some(json!(17)),
        );
        check(r#"{"id": "abc", "params": {"#, Some(json!("abc")));
        check(r#"{"jsonrpc":"2.0","method":"tools/call","params":{"id":5,"content":"#, None);
        check(r#"{"params":{"content":"\"id\":9"},"id":-3}"#, Some(json!(-3)));
        check(r#"{"jsonrpc":"2.0","method":"x","id":"#, None);
        check(r#"{"id":{"nested":1}}"#, None);
        check(r#"{"id":"unterminated"#, None);
        check("not json at all", None);
    }

    #[test]
    fn invalid_messages_are_classified() {
        let check = |line: &str, expected: Option<(i32, Option<Value>)>| {
            let value: Value = serde_json::from_str(line).unwrap();
            let error = serde_json::from_str::<ClientJsonRpcMessage>(line).unwrap_err();
            let got = classify_invalid(&value, &error).map(|(code, _, id)| (code.0, id));
            assert_eq!(got, expected, "{line}");
        };
        check("[1, 2]", Some((-32600, None)));
        check("42", Some((-32600, None)));
        check(r#"{"id": 5}"#, Some((-32600, Some(json!(5)))));
        check(r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#, Some((-32600, None)));
        check(
            r#"{"jsonrpc":"2.0","id":"x","method":"tools/call","params":7}"#,
            Some((-32602, Some(json!("x")))),
        );
        check(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":7}"#, None);
    }

    #[test]
    fn missing_methods_are_named() {
        let mut error = rmcp::ErrorData::new(ErrorCode::METHOD_NOT_FOUND, "prompts/list", None);
        name_missing_method(&mut error);
        assert_eq!(error.message, "method not found: prompts/list");
        let mut error = rmcp::ErrorData::new(ErrorCode::METHOD_NOT_FOUND, "no tool named x", None);
        name_missing_method(&mut error);
        assert_eq!(error.message, "no tool named x");
    }
}
