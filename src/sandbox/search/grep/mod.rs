//! Content search (`grep_files`), like `rg`: a walk on the calling thread hands the files to a
//! few searcher threads, and searches them itself while those are busy; the results are merged
//! back in walk order, so the output is the same whatever the timing. Bounded like every search: `max_entries` lines, `max_result_bytes` of
//! text, lines cut at `max_line_bytes`, and `--max-read-bytes` of heap per searched line.

use std::io;
use std::sync::Arc;

use cap_std::fs::Dir;
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder, Sink, SinkContext, SinkMatch};

use crate::sandbox::Sandbox;
use crate::sandbox::error::{Error, Result};
use crate::sandbox::filter::Globs;
use crate::sandbox::path::RelPath;
use crate::sandbox::root::{Kind, open_regular_file};
use crate::sandbox::search::Budget;
use crate::sandbox::walk::{Flow, Progress, WalkOptions, WalkStats, walk};

mod parallel;

use parallel::{MAX_GREP_SEARCHERS, grep_parallel};

/// Options for `grep`.
#[derive(Debug, Default, Clone)]
pub(crate) struct GrepOptions {
    /// Regular expression (Rust `regex` syntax), or a literal with `fixed_strings`.
    pub(crate) pattern: String,
    /// Treat `pattern` as a literal string.
    pub(crate) fixed_strings: bool,
    /// Only files whose name or path matches this glob.
    pub(crate) glob: Option<String>,
    /// Match case-insensitively.
    pub(crate) case_insensitive: bool,
    /// Lines of context before and after each match.
    pub(crate) context: usize,
    /// Also search files that ignore files exclude, and `.git`.
    pub(crate) include_ignored: bool,
    /// At most this many matching lines (capped by `max_entries`).
    pub(crate) max_results: Option<usize>,
}

/// One line of grep output.
#[derive(Debug, Clone)]
pub(crate) struct GrepLine {
    /// Client-visible path of the file.
    pub(crate) path: String,
    /// 1-based line number.
    pub(crate) line: u64,
    /// The line's text (cut at `max_line_bytes`, without its line ending).
    pub(crate) text: String,
    /// Whether this is a matching line (else context).
    pub(crate) is_match: bool,
    /// Whether a gap separates this line from the previous one in the same file.
    pub(crate) after_gap: bool,
}

/// The result of `grep`.
#[derive(Debug)]
pub(crate) struct GrepOut {
    /// The directory (or file) searched.
    pub(crate) path: String,
    /// Matching and context lines, grouped by file in walk order.
    pub(crate) lines: Vec<GrepLine>,
    /// Number of matching lines.
    pub(crate) matches: usize,
    /// Number of files with at least one match.
    pub(crate) files_matched: usize,
    /// Number of files searched.
    pub(crate) files_searched: usize,
    /// Files left unsearched from a line longer than `--max-read-bytes` on (searching one
    /// needs the whole line in memory).
    pub(crate) long_line_files: usize,
    /// Whether the search stopped at a limit.
    pub(crate) truncated: bool,
    /// What the walk could not read.
    pub(crate) stats: WalkStats,
}

impl Sandbox {
    /// The matcher grep uses for `pattern`, held to `--max-regex-bytes`; `InvalidPattern` says
    /// what is wrong with a pattern it cannot use.
    pub(crate) fn regex_matcher(
        &self,
        pattern: &str,
        case_insensitive: bool,
        fixed_strings: bool,
    ) -> Result<RegexMatcher> {
        // grep-regex allows 100 MB of compiled regex and a 1 GB search cache by default:
        // `(x{1,1000}){1000}` took 71 s and 1.2 GB. Both are held to --max-regex-bytes.
        let regex_limit = self.limits.max_regex_bytes;
        RegexMatcherBuilder::new()
            .case_insensitive(case_insensitive)
            .fixed_strings(fixed_strings)
            .line_terminator(Some(b'\n'))
            .size_limit(regex_limit)
            .dfa_size_limit(regex_limit)
            .build(pattern)
            .map_err(|e| {
                let mut message = e.to_string();
                if message.contains("size limit") {
                    message = format!(
                        "it compiles to more than the {regex_limit}-byte limit (--max-regex-bytes); simplify it (counted repetitions such as {{1,1000}} multiply its size), or use fixedStrings"
                    );
                }
                Error::InvalidPattern {
                    what: "regular expression",
                    pattern: cut_pattern(pattern),
                    message,
                }
            })
    }

    /// Searches file contents for a regular expression, like `rg`: line numbers, optional context,
    /// binary files skipped, ignore files honoured unless asked not to. `input` may name a single
    /// file. Stops at `max_entries` matching lines or `max_result_bytes` of output.
    ///
    /// Long because it builds the matcher and the walk from the options in one place, where each
    /// limit is checked next to what it limits.
    pub(crate) fn grep(&self, input: &str, options: &GrepOptions) -> Result<GrepOut> {
        if options.pattern.is_empty() {
            return Err(Error::InvalidArgument("pattern is empty".to_owned()));
        }
        let matcher =
            self.regex_matcher(&options.pattern, options.case_insensitive, options.fixed_strings)?;
        let glob = match &options.glob {
            Some(g) => Globs::new(std::slice::from_ref(g), "glob")?,
            None => None,
        };
        let heap_limit = usize::try_from(self.limits.max_read_bytes).unwrap_or(usize::MAX);
        let mut searcher = grep_searcher(options.context, heap_limit);
        let max = options.max_results.unwrap_or(usize::MAX).min(self.limits.max_entries);
        let mut collector = GrepCollector {
            budget: Budget::new(max, self.limits.max_result_bytes),
            lines: Vec::new(),
            matches: 0,
            files_matched: 0,
            files_searched: 0,
            long_line_files: 0,
            max_line_bytes: self.limits.max_line_bytes,
            stop: Progress::current(),
        };
        let (loc, resolved) = self.locate_resolved(input, true)?;
        let path = self.display(&loc);
        let Some(meta) = resolved.meta else { return Err(Error::NotFound { path }) };
        let mut stats = WalkStats::default();
        if meta.is_file() {
            let (file, _) = self.open_for_read(input).map(|(_, f, m)| (f, m))?;
            collector.search(&mut searcher, &matcher, file, path.clone());
        } else if meta.is_dir() {
            let walk_options = WalkOptions {
                respect_ignore: !options.include_ignored,
                exclude: None,
                max_depth: None,
                resume_after: None,
                read_ahead: false,
            };
            // The calling thread walks and searches too: one searcher fewer than the cores.
            let cores = std::thread::available_parallelism().map_or(1, usize::from);
            let searchers = (cores - 1).min(MAX_GREP_SEARCHERS);
            let mut files = |each: &mut dyn FnMut(Found) -> Flow| {
                // The directory the last file was in, and a handle to it the searchers share.
                let mut current: Option<(RelPath, Arc<Dir>)> = None;
                walk(self.root(&loc), &loc.rel, &walk_options, &mut |entry| {
                    if entry.kind != Kind::File {
                        return Flow::Continue;
                    }
                    if let Some(glob) = &glob {
                        let below = entry.rel.strip_prefix(&loc.rel).unwrap_or_default();
                        if !glob.is_match(&below) {
                            return Flow::Continue;
                        }
                    }
                    let dir = match &current {
                        Some((rel, dir)) if rel == entry.parent_rel() => Arc::clone(dir),
                        _ => {
                            let Ok(dir) = entry.parent_handle() else { return Flow::Continue };
                            let dir = Arc::new(dir);
                            current = Some((entry.parent_rel().clone(), Arc::clone(&dir)));
                            dir
                        }
                    };
                    let path = self.root(&loc).display_path(entry.rel);
                    each(Found { dir, name: entry.name.to_owned(), path })
                })
            };
            let walked = if searchers > 0 {
                let shape = SearcherShape { context: options.context, heap_limit };
                grep_parallel(&mut collector, &mut files, &matcher, shape, searchers)
            } else {
                files(&mut |found| {
                    collector.search_found(&mut searcher, &matcher, found);
                    if collector.budget.exhausted { Flow::Stop } else { Flow::Continue }
                })
            };
            stats = walked.map_err(|e| Error::io("walking", &path, e))?;
        } else {
            return Err(Error::SpecialFile { path, kind: Kind::of(meta.file_type()).name() });
        }
        Ok(GrepOut {
            path,
            truncated: collector.budget.exhausted,
            lines: collector.lines,
            matches: collector.matches,
            files_matched: collector.files_matched,
            files_searched: collector.files_searched,
            long_line_files: collector.long_line_files,
            stats,
        })
    }
}

/// A file the walk found to grep: opened by whichever thread searches it, from a handle to its
/// directory, following no link and refusing anything but a regular file (`open_regular_file`).
struct Found {
    dir: Arc<Dir>,
    name: String,
    /// Its client-visible path.
    path: String,
}

/// Walks the files to grep, handing each to the callback.
type FileWalk<'a> = dyn FnMut(&mut dyn FnMut(Found) -> Flow) -> io::Result<WalkStats> + 'a;

/// How every searcher of one grep is built.
#[derive(Clone, Copy)]
struct SearcherShape {
    context: usize,
    /// The most memory the searcher's line buffer may grow to: a file with a longer line is
    /// left unsearched from that line on (a 1 GiB file without a newline took 1.27 GB).
    heap_limit: usize,
}

fn grep_searcher(context: usize, heap_limit: usize) -> Searcher {
    SearcherBuilder::new()
        .line_number(true)
        .before_context(context)
        .after_context(context)
        .binary_detection(BinaryDetection::quit(0))
        .heap_limit(Some(heap_limit.max(64 * 1024)))
        .build()
}

/// A pattern for an error message: at most 200 characters of it.
fn cut_pattern(pattern: &str) -> String {
    match pattern.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &pattern[..at]),
        None => pattern.to_owned(),
    }
}

/// A file read that stops when the call must stop (the client cancelled it, or it reached
/// `--tool-timeout`): checked at every buffer the searcher reads, so one huge file cannot keep a
/// grep running.
struct Checked<R> {
    inner: R,
    stop: Option<Arc<Progress>>,
}

impl<R: io::Read> io::Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stop.as_ref().is_some_and(|p| p.is_cancelled()) {
            // Not `Interrupted`: readers retry that.
            return Err(io::Error::other("the grep was stopped"));
        }
        self.inner.read(buf)
    }
}

#[derive(Clone)]
struct GrepCollector {
    budget: Budget,
    lines: Vec<GrepLine>,
    matches: usize,
    files_matched: usize,
    files_searched: usize,
    long_line_files: usize,
    max_line_bytes: usize,
    /// The call's progress, to stop inside a file.
    stop: Option<Arc<Progress>>,
}

impl GrepCollector {
    /// Opens a file the walk found and searches it; one that cannot be opened as a regular file
    /// (raced away, replaced by something else) is skipped, as the walk would have.
    fn search_found(
        &mut self,
        searcher: &mut Searcher,
        matcher: &grep_regex::RegexMatcher,
        found: Found,
    ) {
        if let Ok((file, _)) = open_regular_file(&found.dir, std::path::Path::new(&found.name)) {
            self.search(searcher, matcher, file, found.path);
        }
    }

    fn search(
        &mut self,
        searcher: &mut Searcher,
        matcher: &grep_regex::RegexMatcher,
        file: cap_std::fs::File,
        path: String,
    ) {
        self.files_searched += 1;
        let before = self.matches;
        let reader = Checked { inner: file.into_std(), stop: self.stop.clone() };
        let mut sink = GrepSink { collector: self, path, gap: false, last_line: None };
        if let Err(e) = searcher.search_reader(matcher, reader, &mut sink) {
            if e.to_string().contains("allocation limit") {
                self.long_line_files += 1;
            } else {
                tracing::debug!(error = %e, "grep: skipping unreadable file");
            }
        }
        if self.matches > before {
            self.files_matched += 1;
        }
    }

    /// Adds one file's search (made with its own collector) to this one, within this budget.
    fn merge(&mut self, found: GrepCollector) {
        if self.budget.exhausted {
            // A sequential search would have stopped before this file.
            return;
        }
        self.files_searched += found.files_searched;
        self.long_line_files += found.long_line_files;
        let mut matched = false;
        for line in found.lines {
            if !self.budget.take(line.path.len() + line.text.len() + 16) {
                break;
            }
            if line.is_match {
                self.matches += 1;
                matched = true;
            }
            self.lines.push(line);
        }
        if found.budget.exhausted {
            // The file alone filled the whole budget: the answer is cut here either way.
            self.budget.exhausted = true;
        }
        if matched {
            self.files_matched += 1;
        }
    }

    fn push(
        &mut self,
        path: &str,
        line: u64,
        bytes: &[u8],
        is_match: bool,
        after_gap: bool,
    ) -> bool {
        let text = line_text(bytes, self.max_line_bytes);
        if !self.budget.take(path.len() + text.len() + 16) {
            return false;
        }
        if is_match {
            self.matches += 1;
        }
        self.lines.push(GrepLine { path: path.to_owned(), line, text, is_match, after_gap });
        true
    }
}

struct GrepSink<'a> {
    collector: &'a mut GrepCollector,
    path: String,
    gap: bool,
    last_line: Option<u64>,
}

impl GrepSink<'_> {
    fn line(&mut self, line: Option<u64>, bytes: &[u8], is_match: bool) -> bool {
        let line = line.unwrap_or(0);
        let gap = std::mem::take(&mut self.gap) && self.last_line.is_some();
        self.last_line = Some(line);
        self.collector.push(&self.path, line, bytes, is_match, gap)
    }
}

impl Sink for GrepSink<'_> {
    type Error = io::Error;

    fn matched(&mut self, _: &Searcher, found: &SinkMatch<'_>) -> io::Result<bool> {
        // A match may span several lines only with multi-line search, which is off; still, report
        // each line of it.
        let first = found.line_number();
        for (idx, line) in found.bytes().split_inclusive(|b| *b == b'\n').enumerate() {
            if !self.line(first.map(|n| n + idx as u64), line, true) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn context(&mut self, _: &Searcher, context: &SinkContext<'_>) -> io::Result<bool> {
        Ok(self.line(context.line_number(), context.bytes(), false))
    }

    fn context_break(&mut self, _: &Searcher) -> io::Result<bool> {
        self.gap = true;
        Ok(true)
    }
}

/// A line's text without its line ending, cut at a character boundary after `max` bytes.
fn line_text(bytes: &[u8], max: usize) -> String {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    if bytes.len() <= max {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let mut cut = String::from_utf8_lossy(&bytes[..max]).into_owned();
    if cut.ends_with('\u{FFFD}') {
        cut.pop();
    }
    cut.push_str(&format!(" …[line cut: {} more bytes]", bytes.len() - max));
    cut
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn a_stopped_call_stops_reading_inside_a_file() {
        let progress = Arc::new(Progress::default());
        let mut reader =
            Checked { inner: std::io::repeat(b'a'), stop: Some(Arc::clone(&progress)) };
        let mut buf = [0u8; 16];
        assert_eq!(reader.read(&mut buf).unwrap(), 16);
        progress.cancel();
        let err = reader.read(&mut buf).unwrap_err();
        assert_ne!(err.kind(), io::ErrorKind::Interrupted, "readers retry Interrupted");
        let timed = Arc::new(Progress::default());
        timed.start_clock(std::time::Duration::ZERO);
        let mut reader = Checked { inner: std::io::repeat(b'a'), stop: Some(timed) };
        assert!(reader.read(&mut buf).is_err(), "past its deadline");
    }
}
