//! A bounded, sparse line index per large file, so that reading lines deep into a big file a second
//! time seeks close to them instead of scanning from the start.
//!
//! A range read past line 1 scans forward counting newlines (`read.rs`); while it does, it notes
//! where every `stride`-th line starts. The next read of that file starts its scan from the last
//! noted line at or before the one it wants. An index belongs to one version of one file: it is
//! keyed by the file's identity, size and modification time, so any change drops it, and a
//! checkpoint is only used after checking that the byte before it is still a newline.
//!
//! Memory is bounded twice: at most `MAX_INDEXED_FILES` indexes (the least recently used goes
//! first), and at most `MAX_CHECKPOINTS` checkpoints in each (past that the stride doubles and
//! every other checkpoint goes). Together that is at most 4 MiB.

use std::sync::Mutex;
use std::time::SystemTime;

use cap_std::fs::Metadata;

use crate::sandbox::platform::{self, FileId};

/// Files smaller than this are scanned from the start every time: that takes well under a
/// millisecond.
pub(crate) const MIN_INDEXED_BYTES: u64 = 1 << 20;
/// Indexes kept at once (least recently used first out).
pub(crate) const MAX_INDEXED_FILES: usize = 8;
/// Checkpoints per index; past this the stride doubles.
pub(crate) const MAX_CHECKPOINTS: usize = 64 * 1024;
/// Lines between two checkpoints to begin with (a power of two).
const FIRST_STRIDE: u64 = 256;

/// Which version of which file an index describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileKey {
    /// The displayed path (one per file in the sandbox).
    path: String,
    id: Option<FileId>,
    len: u64,
    modified: Option<SystemTime>,
}

impl FileKey {
    /// The key of the file at `path` as its open handle's metadata describes it.
    pub(crate) fn new(path: &str, meta: &Metadata) -> Self {
        FileKey {
            path: path.to_owned(),
            id: platform::file_id(meta),
            len: meta.len(),
            modified: meta.modified().ok().map(cap_std::time::SystemTime::into_std),
        }
    }
}

/// Where line `line` (1-based) of a file starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineStart {
    pub(crate) line: u64,
    pub(crate) offset: u64,
}

/// The line starts a scan saw, to be merged into the file's index.
#[derive(Debug)]
pub(crate) struct Recorder {
    stride: u64,
    /// The checkpoint number the next recorded start must have (the index's length when the scan
    /// began from its last checkpoint; otherwise nothing is recorded).
    next: u64,
    starts: Vec<u64>,
}

impl Recorder {
    /// A recorder that records nothing (small files, or a scan that does not extend the index).
    pub(crate) fn off() -> Self {
        Recorder { stride: 0, next: 0, starts: Vec::new() }
    }

    /// Notes that line `line` starts at byte `offset`.
    #[inline]
    pub(crate) fn saw(&mut self, line: u64, offset: u64) {
        // The stride is a power of two (or 0: off).
        if self.stride != 0
            && (line - 1) & (self.stride - 1) == 0
            && (line - 1) / self.stride == self.next
            && self.starts.len() < MAX_CHECKPOINTS
        {
            self.starts.push(offset);
            self.next += 1;
        }
    }

    /// Whether it records anything (the scan loop can skip the per-line bookkeeping if not).
    pub(crate) fn is_on(&self) -> bool {
        self.stride != 0
    }
}

#[derive(Debug)]
struct FileLines {
    key: FileKey,
    stride: u64,
    /// `starts[i]` is where line `1 + i * stride` starts.
    starts: Vec<u64>,
    last_used: u64,
}

/// The indexes of the files read lately.
#[derive(Debug, Default)]
pub(crate) struct LineIndex {
    files: Mutex<Vec<FileLines>>,
}

impl LineIndex {
    /// Where to start scanning for line `line` of the file `key` names, and the recorder that
    /// notes what the scan passes. `None` for the start: line 1 at byte 0.
    pub(crate) fn start_for(&self, key: &FileKey, line: u64) -> (Option<LineStart>, Recorder) {
        if key.len < MIN_INDEXED_BYTES || line <= 1 {
            return (None, Recorder::off());
        }
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let tick = files.iter().map(|f| f.last_used).max().unwrap_or(0) + 1;
        let Some(entry) = files.iter_mut().find(|f| f.key == *key) else {
            return (None, Recorder { stride: FIRST_STRIDE, next: 1, starts: Vec::new() });
        };
        entry.last_used = tick;
        let wanted = (line - 1) / entry.stride;
        let have = entry.starts.len() as u64;
        let i = wanted.min(have - 1);
        let start = LineStart { line: 1 + i * entry.stride, offset: entry.starts[i as usize] };
        // Only a scan from the last checkpoint extends the index.
        let recorder = if i + 1 == have {
            Recorder { stride: entry.stride, next: have, starts: Vec::new() }
        } else {
            Recorder::off()
        };
        ((start.line > 1).then_some(start), recorder)
    }

    /// Merges what a scan of `key` recorded.
    pub(crate) fn record(&self, key: &FileKey, recorder: Recorder) {
        if recorder.starts.is_empty() {
            return;
        }
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let tick = files.iter().map(|f| f.last_used).max().unwrap_or(0) + 1;
        let first = recorder.next - recorder.starts.len() as u64;
        match files.iter_mut().find(|f| f.key == *key) {
            // Another read may have extended or thinned it meanwhile: add only what follows on
            // directly, with the same stride.
            Some(entry)
                if entry.stride == recorder.stride && entry.starts.len() as u64 == first =>
            {
                entry.starts.extend(recorder.starts);
                entry.last_used = tick;
                thin(entry);
            }
            Some(_) => {}
            None if first == 1 => {
                files.retain(|f| f.key.path != key.path);
                if files.len() >= MAX_INDEXED_FILES
                    && let Some(oldest) = files.iter().enumerate().min_by_key(|(_, f)| f.last_used)
                {
                    let oldest = oldest.0;
                    files.swap_remove(oldest);
                }
                let mut starts = Vec::with_capacity(recorder.starts.len() + 1);
                starts.push(0);
                starts.extend(recorder.starts);
                let mut entry = FileLines {
                    key: key.clone(),
                    stride: recorder.stride,
                    starts,
                    last_used: tick,
                };
                thin(&mut entry);
                files.push(entry);
            }
            None => {}
        }
    }

    /// Drops the index of `key` (a checkpoint turned out stale).
    pub(crate) fn forget(&self, key: &FileKey) {
        self.files.lock().unwrap_or_else(|e| e.into_inner()).retain(|f| f.key != *key);
    }

    #[cfg(test)]
    fn checkpoints(&self, key: &FileKey) -> Option<(u64, usize)> {
        let files = self.files.lock().unwrap();
        files.iter().find(|f| f.key == *key).map(|f| (f.stride, f.starts.len()))
    }
}

/// Halves the checkpoints (doubling the stride, which stays a power of two) until there are fewer
/// than `MAX_CHECKPOINTS`.
fn thin(entry: &mut FileLines) {
    while entry.starts.len() >= MAX_CHECKPOINTS {
        let kept: Vec<u64> = entry.starts.iter().copied().step_by(2).collect();
        entry.starts = kept;
        entry.stride *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(path: &str) -> FileKey {
        FileKey { path: path.to_owned(), id: None, len: MIN_INDEXED_BYTES, modified: None }
    }

    /// Records a file whose every line is `width` bytes, up to line `lines`, as one scan would.
    fn scan(index: &LineIndex, key: &FileKey, lines: u64, width: u64) {
        let (start, mut recorder) = index.start_for(key, lines);
        let from = start.map_or(1, |s| s.line);
        for line in from..=lines {
            recorder.saw(line, (line - 1) * width);
        }
        index.record(key, recorder);
    }

    #[test]
    fn a_scan_is_indexed_and_the_next_read_starts_near_its_line() {
        let index = LineIndex::default();
        let k = key("big.log");
        assert_eq!(index.start_for(&k, 10_000).0, None, "nothing indexed yet");
        scan(&index, &k, 10_000, 10);
        let (start, _) = index.start_for(&k, 10_000);
        let start = start.unwrap();
        assert!(start.line <= 10_000 && 10_000 - start.line < FIRST_STRIDE, "{start:?}");
        assert_eq!(start.offset, (start.line - 1) * 10);
        // A read before the indexed end starts from its checkpoint and extends nothing.
        let (early, recorder) = index.start_for(&k, 600);
        assert_eq!(early, Some(LineStart { line: 513, offset: 5120 }));
        assert!(!recorder.is_on());
        // Small files and line 1 never use the index.
        let small = FileKey { len: MIN_INDEXED_BYTES - 1, ..key("small") };
        assert!(!index.start_for(&small, 5000).1.is_on());
        assert_eq!(index.start_for(&k, 1).0, None);
    }

    #[test]
    fn a_changed_file_has_no_index() {
        let index = LineIndex::default();
        let k = key("big.log");
        scan(&index, &k, 5_000, 10);
        let grown = FileKey { len: k.len + 1, ..k.clone() };
        assert_eq!(index.start_for(&grown, 5_000).0, None);
        // Its new scan replaces the old index.
        scan(&index, &grown, 1_000, 10);
        assert_eq!(index.checkpoints(&k), None);
        assert!(index.checkpoints(&grown).is_some());
        index.forget(&grown);
        assert_eq!(index.checkpoints(&grown), None);
    }

    #[test]
    fn checkpoints_stay_under_the_bound_by_doubling_the_stride() {
        let index = LineIndex::default();
        let k = key("huge.log");
        let lines = FIRST_STRIDE * MAX_CHECKPOINTS as u64 * 3;
        // Scans go in steps, each from the last checkpoint, as successive reads do.
        for step in 1..=12 {
            scan(&index, &k, lines * step / 12, 1);
            let (stride, count) = index.checkpoints(&k).unwrap();
            assert!(count < MAX_CHECKPOINTS, "step {step}: {count} checkpoints");
            assert!(stride.is_power_of_two() && stride >= FIRST_STRIDE);
        }
        let (start, _) = index.start_for(&k, lines);
        let start = start.unwrap();
        let (stride, _) = index.checkpoints(&k).unwrap();
        assert!(lines - start.line < stride, "{start:?} with stride {stride}");
        assert_eq!(start.offset, start.line - 1);
    }

    #[test]
    fn at_most_max_indexed_files_are_kept_least_recently_used_first_out() {
        let index = LineIndex::default();
        let keys: Vec<FileKey> = (0..=MAX_INDEXED_FILES).map(|i| key(&format!("f{i}"))).collect();
        for k in &keys[..MAX_INDEXED_FILES] {
            scan(&index, k, 1_000, 10);
        }
        // Touch the first, so the second is the least recently used.
        let _ = index.start_for(&keys[0], 900);
        scan(&index, &keys[MAX_INDEXED_FILES], 1_000, 10);
        assert_eq!(index.files.lock().unwrap().len(), MAX_INDEXED_FILES);
        assert!(index.checkpoints(&keys[0]).is_some());
        assert_eq!(index.checkpoints(&keys[1]), None);
        assert!(index.checkpoints(&keys[MAX_INDEXED_FILES]).is_some());
    }
}
