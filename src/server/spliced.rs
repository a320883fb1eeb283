//! Structured tool output serialized once, straight from the output struct into the line the
//! client reads.
//!
//! rmcp's `CallToolResult` holds `structuredContent` as a `serde_json::Value`. For a tree or a
//! query page that is a second copy of the whole answer as a tree of small allocations (about
//! 100 bytes per entry, built, serialized and dropped), which cost more time and memory than the
//! walk or the query. So `render::structured` serializes the output to JSON bytes here and puts a
//! token in its place; the transport, serializing the response, takes the bytes back and writes
//! them where the token was. The JSON on the wire is the same object (keys in declaration order).
//!
//! A result that is never sent (its request was cancelled) leaves its bytes behind: they are
//! dropped once `ABANDONED_AFTER` has passed, at the next stash.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

/// The one key of a token: `{"\u0000structured-output": 12}`. An object, because rmcp drops
/// structured content that is not one for peers of older protocol versions; a NUL in the key, so
/// that no output of ours looks like it.
const TOKEN_KEY: &str = "\u{0}structured-output";

/// How long stashed bytes wait for their response to be sent. Sending follows the tool's return
/// at once, so only a cancelled call's bytes ever wait this long.
const ABANDONED_AFTER: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Stash {
    next: u64,
    waiting: HashMap<u64, (Instant, Vec<u8>)>,
}

static STASH: Mutex<Option<Stash>> = Mutex::new(None);

fn stash_lock() -> MutexGuard<'static, Option<Stash>> {
    STASH.lock().unwrap_or_else(|e| e.into_inner())
}

/// Serializes `output` once and returns the token that stands for it in `structuredContent`.
pub(crate) fn stash<T: Serialize>(output: &T) -> serde_json::Result<Value> {
    serde_json::to_vec(output).map(stash_json)
}

/// Stashes output already serialized (a JSON object) and returns its token.
pub(crate) fn stash_json(json: Vec<u8>) -> Value {
    let now = Instant::now();
    let mut guard = stash_lock();
    let stash = guard.get_or_insert_with(Stash::default);
    stash.waiting.retain(|_, (at, _)| now.duration_since(*at) < ABANDONED_AFTER);
    stash.next += 1;
    let id = stash.next;
    stash.waiting.insert(id, (now, json));
    let mut token = serde_json::Map::new();
    token.insert(TOKEN_KEY.to_owned(), Value::from(id));
    Value::Object(token)
}

/// The bytes `value` stands for, if it is a token and they are still there (each only once).
pub(crate) fn take(value: &Value) -> Option<Vec<u8>> {
    let token = value.as_object().filter(|token| token.len() == 1)?;
    let id = token.get(TOKEN_KEY)?.as_u64()?;
    stash_lock().as_mut()?.waiting.remove(&id).map(|(_, json)| json)
}

/// Turns a token back into the value it stands for, for the rare result changed after rendering
/// (a walk stopped at its deadline). Anything else is left as it is.
pub(crate) fn materialize(value: &mut Option<Value>) {
    if let Some(json) = value.as_ref().and_then(take) {
        *value = serde_json::from_slice(&json).ok();
    }
}

/// Puts `structured` into a serialized JSON-RPC response as its result's `structuredContent`.
/// The response was serialized without one; its result object is the last member, so the line
/// ends with the result's `}` and the message's `}`. `None` if it does not.
pub(crate) fn splice(message: Vec<u8>, structured: &[u8]) -> Option<Vec<u8>> {
    let body = message.strip_suffix(b"}}")?;
    let separator: &[u8] = if body.ends_with(b"{") { b"" } else { b"," };
    let mut out = Vec::with_capacity(message.len() + structured.len() + 24);
    out.extend_from_slice(body);
    out.extend_from_slice(separator);
    out.extend_from_slice(b"\"structuredContent\":");
    out.extend_from_slice(structured);
    out.extend_from_slice(b"}}");
    Some(out)
}

#[cfg(test)]
mod tests {
    use rmcp::model::{
        CallToolResult, ContentBlock, JsonRpcMessage, JsonRpcResponse, JsonRpcVersion2_0,
        NumberOrString, ServerJsonRpcMessage, ServerResult,
    };
    use serde_json::json;

    use super::*;

    fn response(result: CallToolResult) -> ServerJsonRpcMessage {
        JsonRpcMessage::Response(JsonRpcResponse {
            jsonrpc: JsonRpcVersion2_0,
            id: NumberOrString::Number(7),
            result: ServerResult::CallToolResult(result),
        })
    }

    #[test]
    fn a_spliced_response_is_the_response_rmcp_would_have_written() {
        let output = json!({ "path": "a\"b", "entries": [{ "path": "x", "depth": 1 }], "n": 2 });
        let text = vec![ContentBlock::text("some \"text\"\n}}")];
        let mut whole = CallToolResult::success(text.clone());
        whole.structured_content = Some(output.clone());
        let expected: Value = serde_json::to_value(response(whole)).unwrap();

        let token = stash(&output).unwrap();
        let bytes = take(&token).expect("stashed");
        assert_eq!(take(&token), None, "taken once");
        let without = serde_json::to_vec(&response(CallToolResult::success(text))).unwrap();
        let spliced = splice(without, &bytes).unwrap();
        let got: Value = serde_json::from_slice(&spliced).unwrap();
        assert_eq!(got, expected);
        assert!(!spliced.contains(&b'\n'), "one line");
    }

    #[test]
    fn only_tokens_are_taken_and_materialize_restores_the_value() {
        assert_eq!(take(&json!("plain text")), None);
        assert_eq!(take(&json!({ "a": 1 })), None);
        assert_eq!(take(&json!({ TOKEN_KEY: 999_999_999 })), None);
        assert_eq!(take(&json!({ TOKEN_KEY: 1, "other": 2 })), None);
        let mut value = Some(stash(&json!({ "truncated": false })).unwrap());
        materialize(&mut value);
        assert_eq!(value, Some(json!({ "truncated": false })));
        let mut plain = Some(json!({ "x": 1 }));
        materialize(&mut plain);
        assert_eq!(plain, Some(json!({ "x": 1 })));
    }

    #[test]
    fn a_message_that_does_not_end_in_its_result_is_not_spliced() {
        assert_eq!(splice(b"{\"a\":1}".to_vec(), b"{}"), None);
        assert_eq!(
            splice(b"{\"result\":{}}".to_vec(), b"{}").unwrap(),
            b"{\"result\":{\"structuredContent\":{}}}"
        );
    }
}
