//! A grep's searcher threads: the calling thread walks and hands batches of files to them (and
//! searches a batch itself when they are all busy); their results are merged back in walk order.

use std::io;

use grep_searcher::Searcher;

use super::{FileWalk, Found, GrepCollector, SearcherShape, grep_searcher};
use crate::sandbox::search::Budget;
use crate::sandbox::walk::{Flow, WalkStats};

/// Most threads one grep starts to search file contents on, besides the calling thread (which
/// walks, and searches when they are all busy).
pub(super) const MAX_GREP_SEARCHERS: usize = 4;
/// Files handed to a grep thread at once: one hand-off (a lock and a wake-up each way) per
/// batch rather than per file, which cost a fifth of a grep's time on small files.
const GREP_BATCH: usize = 8;
/// Batches of files waiting for a grep thread, at most. With the batches being searched and the
/// one being filled, this bounds the directory handles a grep holds (files are opened only by
/// the thread that searches them): `(GREP_QUEUE + searchers + 1) * GREP_BATCH`, 56 with 4,
/// and usually a few, as files of one directory share one handle.
const GREP_QUEUE: usize = 2;
/// Files a grep may have searched ahead of the first one not yet merged: bounds the results held.
const GREP_WINDOW: u64 = 64;

/// Searches the files `files` yields on `searchers` threads while the calling thread walks, and
/// merges each file's lines into `collector` in walk order, so the answer (and where the limits
/// cut it) is the same as a sequential search. When every searcher is busy and the queue is
/// full, the calling thread searches the batch itself instead of waiting: on two cores, one
/// searcher and the walk that also searches beat two searchers fed by a walk that sleeps
/// (`bench/PROFILES.md`). Each file is searched with the whole budget and
/// cut when merged; once the budget is spent, the walk stops and the threads skip what is queued.
///
/// Long because it owns the searcher threads' whole life (start, feed in walk order, merge
/// back in order, stop at the budget); split, the channels and the in-order buffer would travel
/// between functions.
pub(super) fn grep_parallel(
    collector: &mut GrepCollector,
    files: &mut FileWalk<'_>,
    matcher: &grep_regex::RegexMatcher,
    shape: SearcherShape,
    searchers: usize,
) -> io::Result<WalkStats> {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Mutex, mpsc};

    let stop = AtomicBool::new(false);
    type Batch = Vec<(u64, Found)>;
    let (job_tx, job_rx) = mpsc::sync_channel::<Batch>(GREP_QUEUE);
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::channel::<Vec<(u64, GrepCollector)>>();
    let fresh = GrepCollector {
        budget: Budget::new(collector.budget.entries_left, collector.budget.bytes_left),
        lines: Vec::new(),
        matches: 0,
        files_matched: 0,
        files_searched: 0,
        long_line_files: 0,
        max_line_bytes: collector.max_line_bytes,
        stop: collector.stop.clone(),
    };
    // Results waiting for an earlier file, and the next one to merge.
    let mut pending: BTreeMap<u64, GrepCollector> = BTreeMap::new();
    let mut next = 0u64;
    let mut merge = |collector: &mut GrepCollector, batch: Vec<(u64, GrepCollector)>| {
        pending.extend(batch);
        while let Some(found) = pending.remove(&next) {
            next += 1;
            collector.merge(found);
        }
        next
    };
    std::thread::scope(|scope| {
        for _ in 0..searchers {
            let (job_rx, done_tx, stop, fresh) = (&job_rx, done_tx.clone(), &stop, &fresh);
            scope.spawn(move || {
                let mut searcher = grep_searcher(shape.context, shape.heap_limit);
                loop {
                    let job = job_rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok(batch) = job else { return };
                    let results = search_batch(&mut searcher, matcher, shape, fresh, stop, batch);
                    if done_tx.send(results).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let mut seq = 0u64;
        let mut merged = 0u64;
        let mut batch: Batch = Vec::with_capacity(GREP_BATCH);
        let mut own = grep_searcher(shape.context, shape.heap_limit);
        let walked = files(&mut |found| {
            while let Ok(done) = done_rx.try_recv() {
                merged = merge(collector, done);
            }
            // Results may run ahead of the merge (a slow file holds back every later one) only
            // so far: memory stays bounded by the window, not by the tree.
            while seq - merged >= GREP_WINDOW && !collector.budget.exhausted {
                match done_rx.recv() {
                    Ok(done) => merged = merge(collector, done),
                    Err(_) => return Flow::Stop,
                }
            }
            if collector.budget.exhausted {
                stop.store(true, Ordering::Relaxed);
                return Flow::Stop;
            }
            batch.push((seq, found));
            seq += 1;
            if batch.len() == GREP_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(GREP_BATCH));
                match job_tx.try_send(full) {
                    Ok(()) => {}
                    // Every searcher is busy and the queue is full: search this batch here
                    // rather than sleep until a searcher takes one (a wake-up each way).
                    Err(mpsc::TrySendError::Full(full)) => {
                        let results = search_batch(&mut own, matcher, shape, &fresh, &stop, full);
                        merged = merge(collector, results);
                    }
                    Err(mpsc::TrySendError::Disconnected(_)) => return Flow::Stop,
                }
            }
            Flow::Continue
        });
        if crate::sandbox::walk::Progress::current_is_cancelled() {
            // The client gave up: do not search what is still queued.
            stop.store(true, Ordering::Relaxed);
        }
        if !batch.is_empty() {
            // The walk's last files (or those it stopped at: their results are merged and cut
            // like any other's, and `stop` makes the threads skip them).
            let _ = job_tx.send(batch);
        }
        drop(job_tx);
        for done in done_rx.iter() {
            merge(collector, done);
            if collector.budget.exhausted {
                stop.store(true, Ordering::Relaxed);
            }
        }
        walked
    })
}

/// Searches a batch of files, each with a fresh collector (its own whole budget), unless the grep
/// has stopped. Every file answers, even one whose search panicked, or the merge would wait for
/// it forever.
fn search_batch(
    searcher: &mut Searcher,
    matcher: &grep_regex::RegexMatcher,
    shape: SearcherShape,
    fresh: &GrepCollector,
    stop: &std::sync::atomic::AtomicBool,
    batch: Vec<(u64, Found)>,
) -> Vec<(u64, GrepCollector)> {
    let mut results = Vec::with_capacity(batch.len());
    for (seq, found_file) in batch {
        let mut found = GrepCollector { lines: Vec::new(), ..fresh.clone() };
        if !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let searched = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                found.search_found(searcher, matcher, found_file);
            }));
            if searched.is_err() {
                tracing::error!("grep: searching a file panicked; skipping it");
                found = GrepCollector { lines: Vec::new(), ..fresh.clone() };
                *searcher = grep_searcher(shape.context, shape.heap_limit);
            }
        }
        results.push((seq, found));
    }
    results
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cap_std::fs::Dir;

    use super::*;

    fn collector(max_entries: usize) -> GrepCollector {
        GrepCollector {
            budget: Budget::new(max_entries, usize::MAX),
            lines: Vec::new(),
            matches: 0,
            files_matched: 0,
            files_searched: 0,
            long_line_files: 0,
            max_line_bytes: 1000,
            stop: None,
        }
    }

    /// What a grep found, comparably.
    fn summary(c: &GrepCollector) -> (Vec<(String, u64, String)>, [usize; 3], bool) {
        let lines = c.lines.iter().map(|l| (l.path.clone(), l.line, l.text.clone())).collect();
        (lines, [c.matches, c.files_matched, c.files_searched], c.budget.exhausted)
    }

    /// The merge in walk order, with searcher threads and with the walking thread searching
    /// whenever they are all busy (which a walk of small files makes it do often), gives what a
    /// search on one thread gives, whole and cut by the budget anywhere.
    #[test]
    fn searching_on_several_threads_finds_what_one_thread_finds_in_the_same_order() {
        let temp = tempfile::tempdir().unwrap();
        let names: Vec<String> = (0..400).map(|n| format!("f{n:03}.txt")).collect();
        for (n, name) in names.iter().enumerate() {
            let body: String = (0..n % 7).map(|k| format!("hay\nneedle {n} {k}\n")).collect();
            std::fs::write(temp.path().join(name), body).unwrap();
        }
        let dir =
            Arc::new(Dir::open_ambient_dir(temp.path(), cap_std::ambient_authority()).unwrap());
        let matcher = grep_regex::RegexMatcher::new("needle").unwrap();
        let shape = SearcherShape { context: 0, heap_limit: 1 << 20 };
        let mut files = |each: &mut dyn FnMut(Found) -> Flow| {
            for name in &names {
                let found = Found { dir: Arc::clone(&dir), name: name.clone(), path: name.clone() };
                if each(found) == Flow::Stop {
                    break;
                }
            }
            Ok(WalkStats::default())
        };
        for max in [usize::MAX, 1000, 37, 1] {
            let mut one = collector(max);
            let mut searcher = grep_searcher(0, 1 << 20);
            files(&mut |found| {
                one.search_found(&mut searcher, &matcher, found);
                if one.budget.exhausted { Flow::Stop } else { Flow::Continue }
            })
            .unwrap();
            assert!(one.matches > 0);
            for searchers in [1, 3] {
                for _ in 0..5 {
                    let mut many = collector(max);
                    grep_parallel(&mut many, &mut files, &matcher, shape, searchers).unwrap();
                    let (got, want) = (summary(&many), summary(&one));
                    assert_eq!(got.0, want.0, "lines: max {max}, {searchers} searchers");
                    assert_eq!(got.2, want.2, "truncated: max {max}, {searchers} searchers");
                    if max == usize::MAX {
                        assert_eq!(got.1, want.1, "counts: {searchers} searchers");
                    }
                }
            }
        }
    }
}
