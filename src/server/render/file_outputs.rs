//! The file tools' structured outputs: the shapes of their `outputSchema` and
//! `structuredContent`.

use schemars::JsonSchema;
use serde::Serialize;

/// Output of `write_file`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WriteFileOutput {
    /// The file written.
    pub path: String,
    /// Whether it was created (else replaced).
    pub created: bool,
    /// Bytes written.
    pub bytes: u64,
}

/// Output of `edit_file`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EditFileOutput {
    /// The file edited.
    pub path: String,
    /// Unified diff of the change.
    pub diff: String,
    /// Number of replacements made.
    pub replacements: usize,
    /// Whether the content changed.
    pub changed: bool,
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
}

/// Output of `create_directory`, `move_file`, `copy_file` and `delete_file`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeOutput {
    /// The path created, moved or copied to, or deleted.
    pub path: String,
    /// The source, for move and copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// "file", "directory", "symlink", ...
    pub kind: String,
    /// False when nothing had to change (the directory already existed).
    pub changed: bool,
    /// Files copied, for a directory copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files_copied: Option<u64>,
    /// Entries not copied (symlinks and special files), for a directory copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<u64>,
}

/// One entry of a listing.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntryOutput {
    /// The entry's name.
    pub name: String,
    /// "file", "directory", "symlink", "fifo", "socket", "char_device", "block_device" or "unknown".
    pub kind: String,
    /// Size in bytes, for files when sizes were asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// Output of `list_directory` and `list_directory_with_sizes`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListDirectoryOutput {
    /// The directory listed.
    pub path: String,
    /// Its entries, sorted.
    pub entries: Vec<EntryOutput>,
    /// How many entries the directory has.
    pub total: usize,
    /// Whether entries were left out because of the limit.
    pub truncated: bool,
}

/// One entry of a tree or search.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TreeEntryOutput {
    /// Path relative to the directory walked.
    pub path: String,
    /// "file", "directory", "symlink", ...
    pub kind: String,
    /// 1 for the directory's own entries.
    pub depth: usize,
}

/// Output of `directory_tree`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryTreeOutput {
    /// The directory walked.
    pub path: String,
    /// Entries in depth-first order, each directory's entries sorted by name.
    pub entries: Vec<TreeEntryOutput>,
    /// Whether entries were left out because of the limits.
    pub truncated: bool,
}

/// Output of `search_files`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchFilesOutput {
    /// The directory searched.
    pub path: String,
    /// Absolute paths of the matches, in walk order.
    pub matches: Vec<String>,
    /// Whether matches were left out because of the limits.
    pub truncated: bool,
}

/// One line of `grep_files` output.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrepLineOutput {
    /// The file.
    pub path: String,
    /// 1-based line number.
    pub line: u64,
    /// The line's text.
    pub text: String,
    /// Whether the line matches (else it is context).
    pub is_match: bool,
}

/// Output of `grep_files`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrepFilesOutput {
    /// The directory or file searched.
    pub path: String,
    /// Matching lines (and context lines), grouped by file.
    pub lines: Vec<GrepLineOutput>,
    /// Number of matching lines.
    pub matches: usize,
    /// Number of files with a match.
    pub files_matched: usize,
    /// Number of files searched.
    pub files_searched: usize,
    /// Files not searched past a line longer than --max-read-bytes.
    pub long_line_files: usize,
    /// Whether the search stopped at a limit (or at --tool-timeout).
    pub truncated: bool,
}

/// Output of `get_file_info`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileInfoOutput {
    /// The entry described (symlinks inside a root are followed).
    pub path: String,
    /// "file", "directory", ...
    pub kind: String,
    /// Size in bytes.
    pub size: u64,
    /// Creation time (RFC 3339), where the file system records it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Last modification (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    /// Last access (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accessed: Option<String>,
    /// Whether it is a directory.
    pub is_directory: bool,
    /// Whether it is a regular file.
    pub is_file: bool,
    /// Whether the path given is a symlink that was followed.
    pub is_symlink: bool,
    /// Unix permission bits, in octal ("644").
    pub permissions: String,
    /// Whether the write tools may change it.
    pub writable: bool,
}

/// One allowed directory.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AllowedDirectoryOutput {
    /// Absolute path.
    pub path: String,
    /// Whether the write tools may change it.
    pub writable: bool,
}

/// Output of `list_allowed_directories`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AllowedDirectoriesOutput {
    /// The directories, in order; relative paths resolve against the first.
    pub directories: Vec<AllowedDirectoryOutput>,
}
