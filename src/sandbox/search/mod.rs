//! Looking at many entries: directory listings, trees, glob search, content search (grep), file
//! information, and the paginated list of every file for resources.
//!
//! All of them are bounded: at most `max_entries` results and about `max_result_bytes` of text,
//! with `truncated` set when more was left out, and walks that hold one directory handle at a time
//! (see `walk`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use cap_std::fs::Metadata;

use crate::sandbox::error::{Error, Result};
use crate::sandbox::filter::Globs;
use crate::sandbox::path::RelPath;
use crate::sandbox::root::{Kind, Mode};
use crate::sandbox::walk::{Flow, WalkOptions, WalkState, WalkStats, walk};
use crate::sandbox::{Loc, Sandbox};

mod grep;

pub(crate) use grep::{GrepOptions, GrepOut};

/// One entry of a directory listing.
#[derive(Debug, Clone)]
pub(crate) struct ListEntry {
    /// The entry's name.
    pub(crate) name: String,
    /// Its kind (symlinks are not followed).
    pub(crate) kind: Kind,
    /// Size in bytes (files only), when sizes were asked for.
    pub(crate) size: Option<u64>,
}

/// Sort order for `list_directory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SortBy {
    /// By name, bytewise.
    Name,
    /// Largest first, then by name.
    Size,
}

/// A directory listing.
#[derive(Debug)]
pub(crate) struct Listing {
    /// Client-visible path.
    pub(crate) path: String,
    /// Entries, sorted; at most `max_entries`.
    pub(crate) entries: Vec<ListEntry>,
    /// How many entries the directory has.
    pub(crate) total: usize,
    /// Whether `entries` is shorter than `total`.
    pub(crate) truncated: bool,
}

/// Options for `directory_tree`.
#[derive(Debug, Default, Clone)]
pub(crate) struct TreeOptions {
    /// Globs to leave out (see `Globs`).
    pub(crate) exclude: Vec<String>,
    /// Deepest level to show (1 = the directory's own entries).
    pub(crate) max_depth: Option<usize>,
    /// Also show entries that ignore files exclude, and `.git`.
    pub(crate) include_ignored: bool,
}

/// Where a tree or a search puts what it finds, in walk order, as it finds it: the server writes
/// each entry straight into its answer, so no list of entries is held on the way.
pub(crate) trait TreeSink {
    /// Called once, before any entry, with the client-visible path of the walked directory.
    fn start(&mut self, path: &str);
    /// One entry: `rel` is its path relative to the walked directory (with `/`), `depth` 1 for
    /// the directory's own entries.
    fn entry(&mut self, rel: &str, name: &str, kind: Kind, depth: usize);
    /// Whether the sink wants no more entries: the walk then stops, as at a limit.
    fn full(&self) -> bool {
        false
    }
}

/// What a tree or a search found, besides the entries it gave its sink.
#[derive(Debug)]
pub(crate) struct TreeSummary {
    /// Client-visible path of the walked directory.
    pub(crate) path: String,
    /// Entries given to the sink.
    pub(crate) count: usize,
    /// Whether entries were left out because of the limits.
    pub(crate) truncated: bool,
    /// What the walk could not read.
    pub(crate) stats: WalkStats,
}

/// Options for `search_files`.
#[derive(Debug, Default, Clone)]
pub(crate) struct SearchOptions {
    /// The glob to find (see `Globs`).
    pub(crate) pattern: String,
    /// Globs to leave out.
    pub(crate) exclude: Vec<String>,
    /// Also search entries that ignore files exclude, and `.git`.
    pub(crate) include_ignored: bool,
    /// At most this many results (capped by `max_entries`).
    pub(crate) max_results: Option<usize>,
}

/// Information about one file or directory.
#[derive(Debug)]
pub(crate) struct FileInfo {
    /// Client-visible path.
    pub(crate) path: String,
    /// Its kind.
    pub(crate) kind: Kind,
    /// Size in bytes.
    pub(crate) size: u64,
    /// Last modification.
    pub(crate) modified: Option<SystemTime>,
    /// Last access.
    pub(crate) accessed: Option<SystemTime>,
    /// Creation, where the file system records it.
    pub(crate) created: Option<SystemTime>,
    /// Unix permission bits.
    pub(crate) permissions: u32,
    /// Whether the path given was a symlink (inside the root) that was followed.
    pub(crate) via_symlink: bool,
    /// Whether write tools may change it.
    pub(crate) writable: bool,
}

/// One file for `resources/list`.
#[derive(Debug, Clone)]
pub(crate) struct FileItem {
    /// Where it is.
    pub(crate) loc: Loc,
    /// Size in bytes.
    pub(crate) size: u64,
    /// Last modification.
    pub(crate) modified: Option<SystemTime>,
}

impl Sandbox {
    /// Lists a directory's entries (not following symlinks, not applying ignore files), sorted by
    /// name or size, at most `max_entries`. Memory stays bounded for huge directories.
    ///
    /// Errors: locate/resolve errors, `NotFound`, `NotADirectory`.
    pub(crate) fn list_directory(&self, input: &str, sizes: bool, sort: SortBy) -> Result<Listing> {
        let (loc, path) = self.existing_dir(input)?;
        let max = self.limits.max_entries;
        let dir = self
            .root(&loc)
            .open_dir_strict(&loc.rel)
            .map_err(|e| Error::io("opening", &path, e))?;
        let mut entries = Vec::new();
        let mut total = 0;
        let read_err = |e| Error::io("listing", &path, e);
        for entry in dir.entries().map_err(read_err)? {
            let entry = entry.map_err(read_err)?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            if crate::sandbox::filter::is_hidden(&name) {
                crate::sandbox::temp::sweep_temp(self.root(&loc), &dir, &name);
                continue;
            }
            let meta = entry.metadata().ok();
            let kind = match entry.file_type() {
                Ok(ft) if Kind::of(ft) != Kind::Unknown => Kind::of(ft),
                _ => meta.as_ref().map_or(Kind::Unknown, |m| Kind::of(m.file_type())),
            };
            let size = if sizes && kind == Kind::File { meta.map(|m| m.len()) } else { None };
            entries.push(ListEntry { name, kind, size });
            total += 1;
            if entries.len() >= 2 * max.max(1) {
                sort_entries(&mut entries, sort);
                entries.truncate(max);
            }
        }
        sort_entries(&mut entries, sort);
        entries.truncate(max);
        Ok(Listing { truncated: entries.len() < total, path, entries, total })
    }

    /// Walks a directory recursively for `directory_tree`, honouring ignore files unless asked not
    /// to, giving `sink` at most `max_entries` entries and about `max_result_bytes` of names.
    pub(crate) fn directory_tree(
        &self,
        input: &str,
        options: &TreeOptions,
        sink: &mut dyn TreeSink,
    ) -> Result<TreeSummary> {
        let (loc, path) = self.existing_dir(input)?;
        let exclude = Globs::new(&options.exclude, "excludePatterns")?;
        let walk_options = WalkOptions {
            respect_ignore: !options.include_ignored,
            exclude: exclude.as_ref(),
            max_depth: options.max_depth,
            resume_after: None,
            read_ahead: true,
        };
        let mut budget = Budget::new(self.limits.max_entries, self.limits.max_result_bytes);
        let mut count = 0;
        sink.start(&path);
        let stats = walk(self.root(&loc), &loc.rel, &walk_options, &mut |entry| {
            if sink.full() {
                return Flow::Stop;
            }
            let below = entry.rel.str_below(&loc.rel).unwrap_or_default();
            if !budget.take(below.len() + entry.depth * 2 + 2) {
                return Flow::Stop;
            }
            sink.entry(below, entry.name, entry.kind, entry.depth);
            count += 1;
            Flow::Continue
        })
        .map_err(|e| Error::io("walking", &path, e))?;
        Ok(TreeSummary { path, count, truncated: budget.exhausted, stats })
    }

    /// Finds files and directories under a directory whose name (pattern without `/`) or relative
    /// path (pattern with `/`) matches a glob, giving each to `sink`.
    pub(crate) fn search_files(
        &self,
        input: &str,
        options: &SearchOptions,
        sink: &mut dyn TreeSink,
    ) -> Result<TreeSummary> {
        let (loc, path) = self.existing_dir(input)?;
        let Some(pattern) = Globs::new(std::slice::from_ref(&options.pattern), "pattern")? else {
            return Err(Error::InvalidArgument(
                "pattern is empty; give a glob such as **/*.rs".to_owned(),
            ));
        };
        let exclude = Globs::new(&options.exclude, "excludePatterns")?;
        let walk_options = WalkOptions {
            respect_ignore: !options.include_ignored,
            exclude: exclude.as_ref(),
            max_depth: None,
            resume_after: None,
            read_ahead: true,
        };
        let max = options.max_results.unwrap_or(usize::MAX).min(self.limits.max_entries);
        let mut budget = Budget::new(max, self.limits.max_result_bytes);
        let mut count = 0;
        sink.start(&path);
        let stats = walk(self.root(&loc), &loc.rel, &walk_options, &mut |entry| {
            let below = entry.rel.strip_prefix(&loc.rel).unwrap_or_default();
            if pattern.is_match(&below) {
                if !budget.take(path.len() + below.as_str().len() + 2) {
                    return Flow::Stop;
                }
                sink.entry(below.as_str(), entry.name, entry.kind, entry.depth);
                count += 1;
            }
            Flow::Continue
        })
        .map_err(|e| Error::io("walking", &path, e))?;
        Ok(TreeSummary { path, count, truncated: budget.exhausted, stats })
    }

    /// Size, times, kind and permissions of a file or directory (following symlinks inside the
    /// root, and saying so).
    pub(crate) fn file_info(&self, input: &str) -> Result<FileInfo> {
        let (_, unfollowed) = self.locate_resolved(input, false)?;
        let via_symlink = unfollowed.meta.as_ref().is_some_and(|m| m.file_type().is_symlink());
        let (loc, resolved) = self.locate_resolved(input, true)?;
        let path = self.display(&loc);
        let Some(meta) = resolved.meta else { return Err(Error::NotFound { path }) };
        Ok(FileInfo {
            kind: Kind::of(meta.file_type()),
            size: meta.len(),
            modified: meta.modified().ok().map(|t| t.into_std()),
            accessed: meta.accessed().ok().map(|t| t.into_std()),
            created: meta.created().ok().map(|t| t.into_std()),
            permissions: crate::sandbox::platform::permission_bits(&meta),
            via_symlink,
            writable: self.root(&loc).mode() == Mode::Writable,
            path,
        })
    }

    /// One page of every regular file under the allowed directories, in a stable order (roots in
    /// command-line order, then walk order), ignore files honoured. Starts after `after` (the last
    /// item of the previous page: a root's index and a path below it, as a cursor carries them).
    /// Returns the page and whether more files follow.
    ///
    /// A page that ends inside a walk pauses it and keeps it (`PausedListings`), so the next page
    /// goes on from there without reading again the directories it is in: on a directory of
    /// 100,000 files, a fresh walk per page would read and sort all of it for each of its pages.
    /// A cursor with no paused walk (one too old, or from before a restart) walks afresh to the
    /// same place.
    pub(crate) fn list_files_page(
        &self,
        after: Option<(usize, &RelPath)>,
        page_size: usize,
    ) -> Result<(Vec<FileItem>, bool)> {
        let scopes = self.scopes();
        let mut paused = after.and_then(|(root, rel)| self.listings.take(&scopes, root, rel));
        let mut items = Vec::new();
        let mut more = false;
        for scope in self.scope_starts() {
            let resume = match after {
                Some((root, _)) if root > scope.root => continue,
                Some((root, rel)) if root == scope.root && rel.starts_with(&scope.rel) => Some(rel),
                Some((root, rel))
                    if root == scope.root && rel.cmp_components(&scope.rel).is_gt() =>
                {
                    continue;
                }
                _ => None,
            };
            let root = self.root(&scope);
            let mut walk_options = WalkOptions {
                respect_ignore: true,
                exclude: None,
                max_depth: None,
                resume_after: resume,
                // A page pauses the walk and would drop what was read ahead; a page's time is
                // its files' metadata and answer, not the listing.
                read_ahead: false,
            };
            let mut state = match paused.take_if(|p| p.scope == scope) {
                Some(p) => {
                    walk_options.resume_after = None;
                    p.state
                }
                None => match WalkState::start(root, &scope.rel, &walk_options) {
                    Ok(state) => state,
                    Err(e) => {
                        tracing::debug!(root = %root.display().display(), error = %e, "skipping unreadable scope in resource listing");
                        continue;
                    }
                },
            };
            let ended = state.run(root, &walk_options, &mut |entry| {
                if entry.kind != Kind::File {
                    return Flow::Continue;
                }
                if items.len() == page_size {
                    more = true;
                    return Flow::Pause;
                }
                let meta = entry.metadata().ok();
                items.push(FileItem {
                    loc: Loc { root: scope.root, rel: entry.rel.clone() },
                    size: meta.as_ref().map_or(0, Metadata::len),
                    modified: meta.and_then(|m| m.modified().ok()).map(|t| t.into_std()),
                });
                Flow::Continue
            });
            if more {
                if let (false, Some(last)) = (ended, items.last()) {
                    self.listings.keep(PausedListing {
                        scopes,
                        scope,
                        after: last.loc.clone(),
                        state,
                        at: Instant::now(),
                    });
                }
                break;
            }
        }
        Ok((items, more))
    }

    /// Locates and resolves an existing directory.
    fn existing_dir(&self, input: &str) -> Result<(Loc, String)> {
        let (loc, resolved) = self.locate_resolved(input, true)?;
        let path = self.display(&loc);
        match resolved.meta {
            None => Err(Error::NotFound { path }),
            Some(meta) if meta.is_dir() => Ok((loc, path)),
            Some(_) => Err(Error::NotADirectory { path }),
        }
    }
}

/// Counts entries and bytes against the limits; once one is exceeded, `exhausted` stays set.
#[derive(Clone)]
struct Budget {
    entries_left: usize,
    bytes_left: usize,
    exhausted: bool,
}

impl Budget {
    fn new(entries: usize, bytes: usize) -> Self {
        Budget { entries_left: entries, bytes_left: bytes, exhausted: false }
    }

    /// Takes one entry of `bytes`; false (and exhausted) if it does not fit.
    fn take(&mut self, bytes: usize) -> bool {
        if self.exhausted || self.entries_left == 0 || bytes > self.bytes_left {
            self.exhausted = true;
            return false;
        }
        self.entries_left -= 1;
        self.bytes_left -= bytes;
        true
    }
}

fn sort_entries(entries: &mut [ListEntry], sort: SortBy) {
    match sort {
        SortBy::Name => entries.sort_unstable_by(|a, b| a.name.cmp(&b.name)),
        SortBy::Size => {
            entries.sort_unstable_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)))
        }
    }
}

/// `resources/list` walks paused at the end of a page, each waiting for the cursor of its last
/// item. At most `MAX_PAUSED_LISTINGS`, each for at most `PAUSED_LISTING_TTL`: a paused walk holds
/// the entries of the directories on its path and one directory handle.
#[derive(Default)]
pub(crate) struct PausedListings(Mutex<Vec<PausedListing>>);

/// Paused listings kept at once (the oldest goes first).
pub(crate) const MAX_PAUSED_LISTINGS: usize = 4;
/// How long a paused listing waits for its next page.
pub(crate) const PAUSED_LISTING_TTL: Duration = Duration::from_secs(120);

pub(crate) struct PausedListing {
    /// The client roots it was walked under: a listing never goes on under others.
    scopes: Option<Arc<Vec<Loc>>>,
    /// The scope it walks.
    scope: Loc,
    /// The last file of the page it ended.
    after: Loc,
    state: WalkState,
    at: Instant,
}

impl PausedListings {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<PausedListing>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the listing paused after `(root, rel)` under these client roots, if there is one.
    fn take(
        &self,
        scopes: &Option<Arc<Vec<Loc>>>,
        root: usize,
        rel: &RelPath,
    ) -> Option<PausedListing> {
        let mut paused = self.lock();
        paused.retain(|p| p.at.elapsed() < PAUSED_LISTING_TTL);
        let same_scopes = |p: &PausedListing| match (&p.scopes, scopes) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        let at = paused
            .iter()
            .position(|p| p.after.root == root && p.after.rel == *rel && same_scopes(p))?;
        Some(paused.swap_remove(at))
    }

    fn keep(&self, listing: PausedListing) {
        let mut paused = self.lock();
        paused.retain(|p| p.at.elapsed() < PAUSED_LISTING_TTL);
        if paused.len() >= MAX_PAUSED_LISTINGS
            && let Some(oldest) = (0..paused.len()).min_by_key(|&i| paused[i].at)
        {
            paused.swap_remove(oldest);
        }
        paused.push(listing);
    }

    /// Forgets every paused listing (the client roots changed).
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    /// How many are kept (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cap_std::fs::Dir;

    use super::*;
    use crate::sandbox::root::{Mode, Root};
    use crate::sandbox::walk::Progress;

    /// A sandbox over a new directory with `flat/` (1,000 files) and `nested/a..e/` (20 each).
    fn sandbox() -> (tempfile::TempDir, Sandbox) {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().canonicalize().unwrap();
        std::fs::create_dir(path.join("flat")).unwrap();
        for i in 0..1000 {
            std::fs::write(path.join(format!("flat/f{i:04}")), "x").unwrap();
        }
        for d in ["a", "b", "c", "d", "e"] {
            std::fs::create_dir_all(path.join(format!("nested/{d}"))).unwrap();
            for i in 0..20 {
                std::fs::write(path.join(format!("nested/{d}/g{i:02}")), "y").unwrap();
            }
        }
        let dir = Dir::open_ambient_dir(&path, cap_std::ambient_authority()).unwrap();
        let root = Root::new(path.clone(), path, Mode::Writable, dir);
        (temp, Sandbox::new(vec![root], Default::default(), None))
    }

    /// Every page, and the entries each one examined; `fresh` forgets paused walks first.
    fn all_pages(sandbox: &Sandbox, fresh: bool) -> (Vec<String>, Vec<u64>) {
        let (mut files, mut examined) = (Vec::new(), Vec::new());
        let mut after: Option<Loc> = None;
        loop {
            if fresh {
                sandbox.listings.clear();
            }
            let progress = Arc::new(Progress::default());
            let (page, more) = progress
                .scope(|| sandbox.list_files_page(after.as_ref().map(|l| (l.root, &l.rel)), 100))
                .unwrap();
            examined.push(progress.entries());
            files.extend(page.iter().map(|f| f.loc.rel.as_str().to_owned()));
            after = page.last().map(|f| f.loc.clone());
            if !more {
                return (files, examined);
            }
        }
    }

    #[test]
    fn listing_pages_go_on_where_the_last_stopped_without_reading_directories_again() {
        let (_temp, sandbox) = sandbox();
        let (files, examined) = all_pages(&sandbox, false);
        assert_eq!(files.len(), 1100);
        let mut sorted = files.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, files, "every file once, in walk order");
        // Each page examines its 100 files, the one it paused at, and a directory or two; a
        // fresh walk to page k would examine the (k - 1) * 100 files before it again.
        for (page, n) in examined.iter().enumerate() {
            assert!(*n <= 100 + 8, "page {page} examined {n} entries: {examined:?}");
        }
        assert_eq!(sandbox.listings.len(), 0, "a finished listing keeps nothing");

        // Without paused walks (a cursor from before a restart), the same pages.
        let (again, examined_fresh) = all_pages(&sandbox, true);
        assert_eq!(again, files);
        assert!(examined_fresh[9] > 900, "the fresh walk rescans: {examined_fresh:?}");
    }

    #[test]
    fn paused_listings_are_bounded_and_forgotten_when_the_client_roots_change() {
        let (_temp, sandbox) = sandbox();
        for _ in 0..MAX_PAUSED_LISTINGS + 2 {
            let (_, more) = sandbox.list_files_page(None, 10).unwrap();
            assert!(more);
        }
        assert_eq!(sandbox.listings.len(), MAX_PAUSED_LISTINGS);
        sandbox.set_client_roots(None);
        assert_eq!(sandbox.listings.len(), 0);
    }
}
