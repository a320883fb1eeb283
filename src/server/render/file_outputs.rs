//! The file tools' structured outputs: the shapes of their `outputSchema` and
//! `structuredContent`.

use schemars::JsonSchema;
use serde::Serialize;

/// Output of `write_file`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WriteFileOutput {
    /// The file written.
    pub(crate) path: String,
    /// Whether it was created (else replaced).
    pub(crate) created: bool,
    /// Bytes written.
    pub(crate) bytes: u64,
    /// The change journal's record of this change (absent with `--history off`): its id for
    /// undo_change, or why it cannot be undone. Filled in after rendering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) change: Option<crate::server::history::Recorded>,
}

/// Output of `edit_file`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EditFileOutput {
    /// The file edited.
    pub(crate) path: String,
    /// Unified diff of the change.
    pub(crate) diff: String,
    /// Number of replacements made.
    pub(crate) replacements: usize,
    /// Whether the content changed.
    pub(crate) changed: bool,
    /// Whether this was a dry run (nothing written).
    pub(crate) dry_run: bool,
    /// The change journal's record of this change (absent with `--history off`): its id for
    /// undo_change, or why it cannot be undone. Filled in after rendering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) change: Option<crate::server::history::Recorded>,
}

/// Output of `create_directory`, `move_file`, `copy_file` and `delete_file`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChangeOutput {
    /// The path created, moved or copied to, or deleted.
    pub(crate) path: String,
    /// The source, for move and copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) from: Option<String>,
    /// "file", "directory", "symlink", ...
    pub(crate) kind: String,
    /// False when nothing had to change (the directory already existed).
    pub(crate) changed: bool,
    /// Files copied, for a directory copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) files_copied: Option<u64>,
    /// Entries not copied (symlinks and special files), for a directory copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) skipped: Option<u64>,
    /// The change journal's record of this change (absent with `--history off`): its id for
    /// undo_change, or why it cannot be undone. Filled in after rendering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) change: Option<crate::server::history::Recorded>,
}

/// One entry of a listing.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EntryOutput {
    /// The entry's name.
    pub(crate) name: String,
    /// "file", "directory", "symlink", "fifo", "socket", "char_device", "block_device" or "unknown".
    pub(crate) kind: String,
    /// Size in bytes, for files when sizes were asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) size: Option<u64>,
}

/// Output of `list_directory` and `list_directory_with_sizes`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListDirectoryOutput {
    /// The directory listed.
    pub(crate) path: String,
    /// Its entries, sorted.
    pub(crate) entries: Vec<EntryOutput>,
    /// How many entries the directory has.
    pub(crate) total: usize,
    /// Whether entries were left out because of the limit.
    pub(crate) truncated: bool,
}

/// One entry of a tree or search.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TreeEntryOutput {
    /// Path relative to the directory walked.
    pub(crate) path: String,
    /// "file", "directory", "symlink", ...
    pub(crate) kind: String,
    /// 1 for the directory's own entries.
    pub(crate) depth: usize,
}

/// Output of `directory_tree`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DirectoryTreeOutput {
    /// The directory walked.
    pub(crate) path: String,
    /// Entries in depth-first order, each directory's entries sorted by name.
    pub(crate) entries: Vec<TreeEntryOutput>,
    /// Whether entries were left out because of the limits.
    pub(crate) truncated: bool,
}

/// Output of `search_files`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SearchFilesOutput {
    /// The directory searched.
    pub(crate) path: String,
    /// Absolute paths of the matches, in walk order.
    pub(crate) matches: Vec<String>,
    /// Whether matches were left out because of the limits.
    pub(crate) truncated: bool,
}

/// One line of `grep_files` output.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GrepLineOutput {
    /// The file.
    pub(crate) path: String,
    /// 1-based line number.
    pub(crate) line: u64,
    /// The line's text.
    pub(crate) text: String,
    /// Whether the line matches (else it is context).
    pub(crate) is_match: bool,
}

/// Output of `grep_files`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GrepFilesOutput {
    /// The directory or file searched.
    pub(crate) path: String,
    /// Matching lines (and context lines), grouped by file.
    pub(crate) lines: Vec<GrepLineOutput>,
    /// Number of matching lines.
    pub(crate) matches: usize,
    /// Number of files with a match.
    pub(crate) files_matched: usize,
    /// Number of files searched.
    pub(crate) files_searched: usize,
    /// Files not searched past a line longer than --max-read-bytes.
    pub(crate) long_line_files: usize,
    /// Whether the search stopped at a limit (or at --tool-timeout).
    pub(crate) truncated: bool,
}

/// Output of `get_file_info`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FileInfoOutput {
    /// The entry described (symlinks inside a root are followed).
    pub(crate) path: String,
    /// "file", "directory", ...
    pub(crate) kind: String,
    /// Size in bytes.
    pub(crate) size: u64,
    /// Creation time (RFC 3339), where the file system records it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) created: Option<String>,
    /// Last modification (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) modified: Option<String>,
    /// Last access (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) accessed: Option<String>,
    /// Whether it is a directory.
    pub(crate) is_directory: bool,
    /// Whether it is a regular file.
    pub(crate) is_file: bool,
    /// Whether the path given is a symlink that was followed.
    pub(crate) is_symlink: bool,
    /// Unix permission bits, in octal ("644").
    pub(crate) permissions: String,
    /// Whether the write tools may change it.
    pub(crate) writable: bool,
}

/// One allowed directory.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AllowedDirectoryOutput {
    /// Absolute path.
    pub(crate) path: String,
    /// Whether the write tools may change it.
    pub(crate) writable: bool,
}

/// Output of `list_allowed_directories`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AllowedDirectoriesOutput {
    /// The directories, in order; relative paths resolve against the first.
    pub(crate) directories: Vec<AllowedDirectoryOutput>,
}
