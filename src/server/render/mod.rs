//! Rendering shared by tools and resources: pure functions from core results to what a client
//! reads. The tool-specific renderers live in `files` and `sql`, next to the structured outputs
//! they fill (the tools' `outputSchema`), so that resources can reuse them without importing a
//! tool module.

pub(crate) mod file_outputs;
pub(crate) mod files;
pub(crate) mod sql;
pub(crate) mod sql_outputs;
pub(crate) mod tree;

use std::time::SystemTime;

use rmcp::model::{CallToolResult, ContentBlock};
use serde::Serialize;

/// A successful result with text for the model and the same facts as `structuredContent`.
pub(crate) fn structured<T: Serialize>(blocks: Vec<ContentBlock>, value: &T) -> CallToolResult {
    let mut result = CallToolResult::success(blocks);
    // Serialized once, here, and written into the response by the transport (`spliced`).
    match crate::server::spliced::stash(value) {
        Ok(token) => result.structured_content = Some(token),
        Err(err) => tracing::error!(error = %err, "could not serialize structured tool output"),
    }
    result
}

/// Like `structured`, for output already serialized as JSON (`json` must be a JSON object).
pub(crate) fn structured_json(blocks: Vec<ContentBlock>, json: Vec<u8>) -> CallToolResult {
    let mut result = CallToolResult::success(blocks);
    result.structured_content = Some(crate::server::spliced::stash_json(json));
    result
}

/// The note appended to any result cut short by a limit.
pub(crate) fn truncation_note(shown: usize, what: &str, hint: &str) -> String {
    format!(
        "[truncated: showing the first {shown} {what}; the limit is --max-entries / --max-result-bytes. {hint}]"
    )
}

/// "1 file", "2 files".
pub(crate) fn plural(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// A size as the reference server shows it: bytes, KB, MB, GB, TB (powers of 1024), two decimals.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let exponent = ((bytes as f64).log(1024.0).floor() as usize).min(UNITS.len() - 1);
    format!("{:.2} {}", bytes as f64 / 1024f64.powi(exponent as i32), UNITS[exponent])
}

/// RFC 3339 in UTC with second precision.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_size_table() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1.00 KB");
        assert_eq!(human_size(1536), "1.50 KB");
        assert_eq!(human_size(5 * 1024 * 1024), "5.00 MB");
    }

    #[test]
    fn rfc3339_is_utc_seconds() {
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
