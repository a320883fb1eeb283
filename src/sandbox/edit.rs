//! Applying `edit_file` edits to text, and the unified diff of the result. Pure functions: no I/O.
//!
//! Each edit replaces `old_text` with `new_text`. An exact match is tried first; if there is none,
//! lines are compared with surrounding whitespace ignored (as the reference server does), and the
//! replacement is re-indented to the matched lines. An `old_text` that matches more than once is
//! refused unless the edit sets `replace_all`. Files with CRLF line endings keep them.

use similar::TextDiff;

/// One replacement.
#[derive(Debug, Clone)]
pub struct EditOp {
    /// Text to find.
    pub old_text: String,
    /// Text to put in its place.
    pub new_text: String,
    /// Replace every occurrence instead of requiring exactly one.
    pub replace_all: bool,
}

/// Why an edit does not apply: the edit's 1-based index and the problem, for `Error::Edit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditFailure {
    /// 1-based position of the edit in the request.
    pub index: usize,
    /// What is wrong and what to do.
    pub problem: String,
}

/// Applies `edits` in order, each to the result of the previous ones. Returns the new text and the
/// number of replacements made, or the first edit that does not apply (nothing is applied then).
pub fn apply_edits(original: &str, edits: &[EditOp]) -> Result<(String, usize), EditFailure> {
    let crlf = original.contains("\r\n");
    let mut text = original.to_owned();
    let mut replacements = 0;
    for (idx, edit) in edits.iter().enumerate() {
        let fail = |problem: String| EditFailure { index: idx + 1, problem };
        let old = with_line_endings(&edit.old_text, crlf);
        let new = with_line_endings(&edit.new_text, crlf);
        if old.is_empty() {
            return Err(fail(
                "oldText is empty; to replace a whole file use write_file".to_owned(),
            ));
        }
        let count = text.matches(old.as_str()).count();
        if count == 1 || (count > 1 && edit.replace_all) {
            text = text.replace(old.as_str(), &new);
            replacements += count;
            continue;
        }
        if count > 1 {
            return Err(fail(format!(
                "oldText matches {count} places; include more surrounding lines to make it unique, or set replaceAll: true to replace all of them"
            )));
        }
        let matches = loose_matches(&text, &old);
        match matches.len() {
            0 => {
                return Err(fail(
                    "oldText was not found (exactly, or line by line ignoring indentation); read the file again and copy the text to replace exactly".to_owned(),
                ));
            }
            n if n > 1 && !edit.replace_all => {
                return Err(fail(format!(
                    "oldText matches {n} places (ignoring indentation); include more surrounding lines to make it unique, or set replaceAll: true"
                )));
            }
            n => {
                text = replace_loose(&text, &old, &new, &matches);
                replacements += n;
            }
        }
    }
    Ok((text, replacements))
}

/// A unified diff between two texts with three lines of context, headed with `path`.
pub fn unified_diff(path: &str, before: &str, after: &str) -> String {
    TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a{path}"), &format!("b{path}"))
        .to_string()
}

/// Converts `\n` to `\r\n` when the file uses CRLF (and normalizes mixed input first).
fn with_line_endings(text: &str, crlf: bool) -> String {
    let lf = text.replace("\r\n", "\n");
    if crlf { lf.replace('\n', "\r\n") } else { lf }
}

/// Line-start byte offsets of the places where `old`'s lines match consecutive lines of `text`
/// with leading and trailing whitespace ignored. Each match is (start offset, end offset).
fn loose_matches(text: &str, old: &str) -> Vec<(usize, usize)> {
    let old_lines: Vec<&str> =
        old.trim_end_matches(['\n', '\r']).split('\n').map(str::trim).collect();
    let mut starts = Vec::new();
    let mut offset = 0;
    let lines: Vec<(usize, &str)> = text
        .split_inclusive('\n')
        .map(|l| {
            let at = offset;
            offset += l.len();
            (at, l)
        })
        .collect();
    if old_lines.iter().all(|l| l.is_empty()) {
        return starts;
    }
    let mut idx = 0;
    while idx + old_lines.len() <= lines.len() {
        let window = &lines[idx..idx + old_lines.len()];
        if window.iter().zip(&old_lines).all(|((_, line), old)| line.trim() == *old) {
            let (last_at, last) = window[window.len() - 1];
            let end = last_at + last.trim_end_matches(['\n', '\r']).len();
            starts.push((window[0].0, end));
            idx += old_lines.len();
        } else {
            idx += 1;
        }
    }
    starts
}

/// Replaces each loose match with `new`, re-indented: where a line of `new` starts with the
/// indentation of `old`'s first line, that prefix becomes the matched text's indentation.
fn replace_loose(text: &str, old: &str, new: &str, matches: &[(usize, usize)]) -> String {
    let old_indent = indentation(old.lines().find(|l| !l.trim().is_empty()).unwrap_or(""));
    let mut out = String::with_capacity(text.len() + new.len());
    let mut pos = 0;
    for &(start, end) in matches {
        out.push_str(&text[pos..start]);
        let matched_indent = indentation(&text[start..end]);
        let replaced: Vec<String> = new
            .split('\n')
            .map(|line| match line.strip_prefix(old_indent) {
                Some(rest) if !line.trim().is_empty() => format!("{matched_indent}{rest}"),
                _ => line.to_owned(),
            })
            .collect();
        out.push_str(replaced.join("\n").trim_end_matches(['\n', '\r']));
        pos = end;
    }
    out.push_str(&text[pos..]);
    out
}

fn indentation(line: &str) -> &str {
    let trimmed = line.trim_start_matches([' ', '\t']);
    &line[..line.len() - trimmed.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(old: &str, new: &str, all: bool) -> EditOp {
        EditOp { old_text: old.to_owned(), new_text: new.to_owned(), replace_all: all }
    }

    fn check(original: &str, edits: &[EditOp], expected: Result<&str, &str>) {
        let got = apply_edits(original, edits);
        match (got, expected) {
            (Ok((text, _)), Ok(want)) => assert_eq!(text, want),
            (Err(e), Err(want)) => assert!(e.problem.contains(want), "{e:?} lacks {want:?}"),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn edits_table() {
        check("a\nb\nc\n", &[op("b", "B", false)], Ok("a\nB\nc\n"));
        check("x x x", &[op("x", "y", false)], Err("matches 3 places"));
        check("x x x", &[op("x", "y", true)], Ok("y y y"));
        check("abc", &[op("zzz", "y", false)], Err("was not found"));
        check("abc", &[op("", "y", false)], Err("is empty"));
        check("a\r\nb\r\nc\r\n", &[op("a\nb", "A\nB", false)], Ok("A\r\nB\r\nc\r\n"));
        check("one\ntwo\n", &[op("one", "1", false), op("two", "2", false)], Ok("1\n2\n"));
        check("one\ntwo\n", &[op("one", "1", false), op("one", "x", false)], Err("was not found"));
        // Whitespace-insensitive fallback keeps the file's indentation.
        check(
            "fn f() {\n        let a = 1;\n        let b = 2;\n}\n",
            &[op("let a = 1;\nlet b = 2;", "let a = 10;\nlet b = 20;", false)],
            Ok("fn f() {\n        let a = 10;\n        let b = 20;\n}\n"),
        );
        check(
            "if x {\n    call();\n}\n",
            &[op(
                "  if x {\n      call();\n  }",
                "  if x {\n      call();\n      more();\n  }",
                false,
            )],
            Ok("if x {\n    call();\n    more();\n}\n"),
        );
        check("  a\n  a\n", &[op(" a ", "b", false)], Err("matches 2 places"));
    }

    #[test]
    fn diff_has_headers_and_hunks() {
        let diff = unified_diff("/r/f.txt", "a\nb\n", "a\nc\n");
        assert!(diff.starts_with("--- a/r/f.txt\n+++ b/r/f.txt\n@@"), "{diff}");
        assert!(diff.contains("-b\n+c\n"), "{diff}");
    }
}
