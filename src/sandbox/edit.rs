//! Applying `edit_file` edits to text, and the unified diff of the result. Pure functions: no I/O.
//!
//! Each edit replaces `old_text` with `new_text`. An exact match is tried first; if there is none,
//! lines are compared with surrounding whitespace ignored (as the reference server does), and the
//! replacement is re-indented to the matched lines. An `old_text` that matches more than once is
//! refused unless the edit sets `replace_all`. Files with CRLF line endings keep them.

/// One replacement.
#[derive(Debug, Clone)]
pub(crate) struct EditOp {
    /// Text to find.
    pub(crate) old_text: String,
    /// Text to put in its place.
    pub(crate) new_text: String,
    /// Replace every occurrence instead of requiring exactly one.
    pub(crate) replace_all: bool,
}

/// Why an edit does not apply: the edit's 1-based index and the problem, for `Error::Edit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EditFailure {
    /// 1-based position of the edit in the request.
    pub(crate) index: usize,
    /// What is wrong and what to do.
    pub(crate) problem: String,
}

/// Applies `edits` in order, each to the result of the previous ones. Returns the new text and the
/// number of replacements made, or the first edit that does not apply (nothing is applied then).
pub(crate) fn apply_edits(
    original: &str,
    edits: &[EditOp],
) -> Result<(String, usize), EditFailure> {
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

/// A unified diff between two texts with three lines of context, headed with `path`. Computing
/// a minimal diff is quadratic in the number of changed lines (a `replaceAll` over 160,000 lines
/// took 162 s), so after `deadline` the diff settles for a coarser (still correct) answer; and a
/// diff longer than `max_bytes` is cut at a line, with a note. The edit itself is never cut.
pub(crate) fn unified_diff(
    path: &str,
    before: &str,
    after: &str,
    deadline: std::time::Instant,
    max_bytes: usize,
) -> String {
    let diff = similar::TextDiff::configure().deadline(deadline).diff_lines(before, after);
    let mut text = diff
        .unified_diff()
        .context_radius(3)
        .header(&format!("a{path}"), &format!("b{path}"))
        .to_string();
    if text.len() > max_bytes {
        let cut = text[..max_bytes].rfind('\n').map_or(0, |at| at + 1);
        let rest = text.len() - cut;
        text.truncate(cut);
        text.push_str(&format!(
            "[diff truncated: {rest} more bytes not shown (--max-result-bytes); the edit itself is complete]\n"
        ));
    }
    text
}

/// Converts `\n` to `\r\n` when the file uses CRLF (and normalizes mixed input first).
fn with_line_endings(text: &str, crlf: bool) -> String {
    let lf = text.replace("\r\n", "\n");
    if crlf { lf.replace('\n', "\r\n") } else { lf }
}

/// Line-start byte offsets of the places where `old`'s lines match consecutive lines of `text`
/// with leading and trailing whitespace ignored. Each match is (start offset, end offset).
/// Knuth-Morris-Pratt over lines: linear in the bytes of both (a naive window over every line
/// made a non-matching 80,000-line `oldText` take 56 s).
fn loose_matches(text: &str, old: &str) -> Vec<(usize, usize)> {
    let old_lines: Vec<&str> =
        old.trim_end_matches(['\n', '\r']).split('\n').map(str::trim).collect();
    let mut starts = Vec::new();
    if old_lines.iter().all(|l| l.is_empty()) {
        return starts;
    }
    let mut offset = 0;
    let lines: Vec<(usize, &str)> = text
        .split_inclusive('\n')
        .map(|l| {
            let at = offset;
            offset += l.len();
            (at, l)
        })
        .collect();
    // failure[i]: the length of the longest proper prefix of old_lines[..=i] that is also its
    // suffix.
    let mut failure = vec![0usize; old_lines.len()];
    let mut k = 0;
    for i in 1..old_lines.len() {
        while k > 0 && old_lines[i] != old_lines[k] {
            k = failure[k - 1];
        }
        if old_lines[i] == old_lines[k] {
            k += 1;
        }
        failure[i] = k;
    }
    let mut matched = 0;
    for (idx, (_, line)) in lines.iter().enumerate() {
        let line = line.trim();
        while matched > 0 && line != old_lines[matched] {
            matched = failure[matched - 1];
        }
        if line == old_lines[matched] {
            matched += 1;
        }
        if matched == old_lines.len() {
            let first = idx + 1 - old_lines.len();
            let (last_at, last) = lines[idx];
            let end = last_at + last.trim_end_matches(['\n', '\r']).len();
            starts.push((lines[first].0, end));
            // Matches do not overlap: start over after this one.
            matched = 0;
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

    fn later() -> std::time::Instant {
        std::time::Instant::now() + std::time::Duration::from_secs(60)
    }

    #[test]
    fn diff_has_headers_and_hunks() {
        let diff = unified_diff("/r/f.txt", "a\nb\n", "a\nc\n", later(), 1 << 20);
        assert!(diff.starts_with("--- a/r/f.txt\n+++ b/r/f.txt\n@@"), "{diff}");
        assert!(diff.contains("-b\n+c\n"), "{diff}");
    }

    #[test]
    fn a_long_diff_is_cut_at_a_line_with_a_note() {
        let before: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        let after = before.replace("line", "LINE");
        let diff = unified_diff("/r/f.txt", &before, &after, later(), 2000);
        assert!(diff.len() < 2200, "{}", diff.len());
        assert!(diff.ends_with("the edit itself is complete]\n"), "{diff}");
        let cut = diff.lines().rev().nth(1).unwrap();
        assert!(cut.starts_with('-') || cut.starts_with('+') || cut.starts_with('@'), "{cut}");
    }

    #[test]
    fn loose_matching_is_linear_and_finds_every_match() {
        // Repetitive lines are the worst case for a window that restarts at every line.
        let text = "  a\n".repeat(50_000) + "  b\n";
        let old = "a\n".repeat(20_000) + "b";
        let matches = loose_matches(&text, &old);
        assert_eq!(matches.len(), 1);
        assert_eq!(matches[0].0, 30_000 * 4);
        let overlapping = loose_matches("x\nx\nx\nx\n", "x\nx");
        assert_eq!(overlapping.len(), 2, "matches do not overlap");
    }
}
