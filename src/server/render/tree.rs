//! `directory_tree` and `search_files` answers, written as the walk goes: each entry goes once
//! into the text and once into the JSON of the structured output (`spliced` writes those bytes
//! into the response), so a 100,000-entry answer is never a list of entries, a tree of
//! `serde_json::Value`s, or serialized twice.

use rmcp::model::{CallToolResult, ContentBlock};
use serde::Serialize;

use crate::sandbox::root::Kind;
use crate::sandbox::search::{TreeSink, TreeSummary};
use crate::server::render::files::{append_walk_stats, entry_suffix, kind_name, one_line};
use crate::server::render::{structured_json, truncation_note};

/// One entry of `DirectoryTreeOutput`, borrowed.
#[derive(Serialize)]
struct TreeEntryJson<'a> {
    path: &'a str,
    kind: &'static str,
    depth: usize,
}

/// A `directory_tree` answer being written: its text lines and its JSON object, which starts
/// with the entries and gets `path` and `truncated` at the end (members of a JSON object have no
/// order; the output schema is the same).
pub(crate) struct TreeAnswer {
    text: String,
    json: Vec<u8>,
    entries: usize,
}

impl Default for TreeAnswer {
    fn default() -> Self {
        TreeAnswer { text: String::new(), json: b"{\"entries\":[".to_vec(), entries: 0 }
    }
}

impl TreeSink for TreeAnswer {
    fn start(&mut self, path: &str) {
        self.text.push_str(path.trim_end_matches('/'));
        self.text.push_str("/\n");
    }

    fn entry(&mut self, rel: &str, name: &str, kind: Kind, depth: usize) {
        for _ in 0..depth {
            self.text.push_str("  ");
        }
        self.text.push_str(&one_line(name));
        self.text.push_str(entry_suffix(kind));
        self.text.push('\n');
        if self.entries > 0 {
            self.json.push(b',');
        }
        self.entries += 1;
        let entry = TreeEntryJson { path: rel, kind: kind_name(kind), depth };
        // Writing to a Vec fails only for a map with non-string keys; there are none.
        let _ = serde_json::to_writer(&mut self.json, &entry);
    }
}

pub(crate) fn render_tree((summary, answer): (TreeSummary, TreeAnswer)) -> CallToolResult {
    let TreeAnswer { mut text, mut json, .. } = answer;
    if summary.count == 0 {
        text.push_str("(empty, or everything in it is ignored; set includeIgnored: true to see ignored entries)\n");
    }
    if summary.truncated {
        text.push_str(&truncation_note(
            summary.count,
            "entries",
            "Narrow it with maxDepth, excludePatterns, or a subdirectory.",
        ));
    }
    append_walk_stats(&mut text, &summary.stats);
    close_object(&mut json, &summary);
    text.truncate(text.trim_end().len());
    structured_json(vec![ContentBlock::text(text)], json)
}

/// Ends the entries array and the object: `],"path":…,"truncated":…}`.
fn close_object(json: &mut Vec<u8>, summary: &TreeSummary) {
    json.extend_from_slice(b"],\"path\":");
    let _ = serde_json::to_writer(&mut *json, &summary.path);
    json.extend_from_slice(if summary.truncated {
        b",\"truncated\":true}"
    } else {
        b",\"truncated\":false}"
    });
}

/// A `search_files` answer being written: one absolute path per match, in the text (with a `/`
/// after directories) and in the JSON `matches`.
pub(crate) struct SearchAnswer {
    base: String,
    text: String,
    json: Vec<u8>,
    matches: usize,
}

impl Default for SearchAnswer {
    fn default() -> Self {
        SearchAnswer {
            base: String::new(),
            text: String::new(),
            json: b"{\"matches\":[".to_vec(),
            matches: 0,
        }
    }
}

impl TreeSink for SearchAnswer {
    fn start(&mut self, path: &str) {
        self.base = path.trim_end_matches(std::path::MAIN_SEPARATOR).to_owned();
    }

    fn entry(&mut self, rel: &str, _name: &str, kind: Kind, _depth: usize) {
        let separator = std::path::MAIN_SEPARATOR;
        let mut path = String::with_capacity(self.base.len() + rel.len() + 1);
        path.push_str(&self.base);
        path.push(separator);
        if separator == '/' {
            path.push_str(rel);
        } else {
            path.extend(rel.chars().map(|c| if c == '/' { separator } else { c }));
        }
        if self.matches > 0 {
            self.text.push('\n');
            self.json.push(b',');
        }
        self.matches += 1;
        self.text.push_str(&one_line(&path));
        if kind == Kind::Dir {
            self.text.push('/');
        }
        let _ = serde_json::to_writer(&mut self.json, &path);
    }
}

pub(crate) fn render_search(
    pattern: &str,
    (summary, answer): (TreeSummary, SearchAnswer),
) -> CallToolResult {
    let SearchAnswer { mut text, mut json, .. } = answer;
    if summary.count == 0 {
        text = format!(
            "No matches for \"{pattern}\" under {} (ignored files are skipped; set includeIgnored: true to search them)",
            summary.path
        );
    }
    if summary.truncated {
        text.push('\n');
        text.push_str(&truncation_note(
            summary.count,
            "matches",
            "Use a more specific pattern, excludePatterns, or a subdirectory.",
        ));
    }
    append_walk_stats(&mut text, &summary.stats);
    close_object(&mut json, &summary);
    structured_json(vec![ContentBlock::text(text)], json)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::sandbox::walk::WalkStats;
    use crate::server::render::file_outputs::{
        DirectoryTreeOutput, SearchFilesOutput, TreeEntryOutput,
    };

    const ENTRIES: [(&str, &str, Kind, usize); 4] = [
        ("a \"quoted\" dir", "a \"quoted\" dir", Kind::Dir, 1),
        ("a \"quoted\" dir/tab\there", "tab\there", Kind::File, 2),
        ("a \"quoted\" dir/é\\x", "é\\x", Kind::Symlink, 2),
        ("z", "z", Kind::File, 1),
    ];

    fn summary(count: usize, truncated: bool) -> TreeSummary {
        TreeSummary { path: "/r/p\"q".to_owned(), count, truncated, stats: WalkStats::default() }
    }

    /// The structured output a result carries, as the client will parse it.
    fn structured_of(result: &CallToolResult) -> Value {
        let bytes = crate::server::spliced::take(result.structured_content.as_ref().unwrap());
        serde_json::from_slice(&bytes.unwrap()).unwrap()
    }

    #[test]
    fn a_streamed_tree_is_the_output_struct_serialized() {
        for (count, truncated) in [(0, false), (1, false), (4, true)] {
            let mut answer = TreeAnswer::default();
            answer.start("/r/p\"q");
            for (rel, name, kind, depth) in &ENTRIES[..count] {
                answer.entry(rel, name, *kind, *depth);
            }
            let result = render_tree((summary(count, truncated), answer));
            let expected = DirectoryTreeOutput {
                path: "/r/p\"q".to_owned(),
                truncated,
                entries: ENTRIES[..count]
                    .iter()
                    .map(|(rel, _, kind, depth)| TreeEntryOutput {
                        path: (*rel).to_owned(),
                        kind: kind_name(*kind).to_owned(),
                        depth: *depth,
                    })
                    .collect(),
            };
            assert_eq!(structured_of(&result), serde_json::to_value(&expected).unwrap());
            let text = result.content[0].as_text().unwrap().text.clone();
            assert!(text.starts_with("/r/p\"q/\n") || count == 0, "{text}");
            assert_eq!(text.contains("[truncated"), truncated, "{text}");
        }
    }

    #[test]
    fn a_streamed_search_is_the_output_struct_serialized() {
        let sep = std::path::MAIN_SEPARATOR;
        let mut answer = SearchAnswer::default();
        answer.start(&format!("/base{sep}"));
        for (rel, name, kind, depth) in &ENTRIES {
            answer.entry(rel, name, *kind, *depth);
        }
        let result = render_search("*", (summary(ENTRIES.len(), false), answer));
        let matches: Vec<String> = ENTRIES
            .iter()
            .map(|(rel, ..)| format!("/base{sep}{}", rel.replace('/', &sep.to_string())))
            .collect();
        let text = result.content[0].as_text().unwrap().text.clone();
        assert_eq!(text.lines().count(), ENTRIES.len(), "{text}");
        assert!(text.lines().next().unwrap().ends_with('/'), "a directory ends in /: {text}");
        let expected = SearchFilesOutput { path: "/r/p\"q".to_owned(), matches, truncated: false };
        assert_eq!(structured_of(&result), serde_json::to_value(&expected).unwrap());
    }
}
