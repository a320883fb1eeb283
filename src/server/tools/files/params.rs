//! The file tools' parameters: the shapes of their `inputSchema`, with the reference server's
//! names.

use schemars::JsonSchema;
use serde::Deserialize;

/// A path: absolute inside an allowed directory, relative to the first allowed directory, or a
/// file:// URI.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct PathParams {
    /// Absolute path inside an allowed directory, a path relative to the first allowed directory,
    /// or a file:// URI.
    pub(crate) path: String,
}

/// Parameters of `read_text_file`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ReadTextFileParams {
    /// Absolute path inside an allowed directory, a path relative to the first allowed directory,
    /// or a file:// URI.
    pub(crate) path: String,
    /// Return only the first N lines.
    pub(crate) head: Option<u64>,
    /// Return only the last N lines.
    pub(crate) tail: Option<u64>,
    /// First line to return, counting from 1; with `limit`, pages through a large file.
    pub(crate) offset: Option<u64>,
    /// How many lines to return starting at `offset` (default: to the end, within the size limit).
    pub(crate) limit: Option<u64>,
}

/// Parameters of `read_multiple_files`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ReadMultipleFilesParams {
    /// The files to read; each is read whole (within the size limit).
    pub(crate) paths: Vec<String>,
}

/// Parameters of `write_file`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct WriteFileParams {
    /// Where to write: absolute inside an allowed directory, relative to the first one, or a
    /// file:// URI. Missing parent directories are created.
    pub(crate) path: String,
    /// The complete new content of the file.
    pub(crate) content: String,
}

/// One replacement for `edit_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EditItem {
    /// Text to find: copy it exactly from the file, with enough context to be unique.
    pub(crate) old_text: String,
    /// Text to put in its place.
    pub(crate) new_text: String,
    /// Replace every occurrence instead of requiring exactly one.
    #[serde(default)]
    pub(crate) replace_all: bool,
}

/// Parameters of `edit_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EditFileParams {
    /// The file to edit.
    pub(crate) path: String,
    /// Replacements, applied in order; if any fails, none is applied.
    pub(crate) edits: Vec<EditItem>,
    /// Show the diff without changing the file.
    #[serde(default)]
    pub(crate) dry_run: bool,
}

/// Sort order for `list_directory_with_sizes`.
#[derive(Debug, Default, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SortByParam {
    /// Alphabetical by name.
    #[default]
    Name,
    /// Largest first.
    Size,
}

/// Parameters of `list_directory_with_sizes`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListWithSizesParams {
    /// The directory to list.
    pub(crate) path: String,
    /// Sort by "name" (default) or "size".
    #[serde(default)]
    pub(crate) sort_by: SortByParam,
}

/// Parameters of `directory_tree`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DirectoryTreeParams {
    /// The directory to show.
    pub(crate) path: String,
    /// Globs to leave out: a pattern without "/" matches names at any depth ("node_modules",
    /// "*.log"); one with "/" matches paths relative to `path` ("build/**").
    #[serde(default)]
    pub(crate) exclude_patterns: Vec<String>,
    /// Deepest level to show (1 = only the directory's own entries).
    pub(crate) max_depth: Option<usize>,
    /// Also show what .gitignore/.ignore exclude, and .git.
    #[serde(default)]
    pub(crate) include_ignored: bool,
}

/// Parameters of `move_file` and `copy_file`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct MoveFileParams {
    /// What to move.
    pub(crate) source: String,
    /// The new path; must not exist yet.
    pub(crate) destination: String,
}

/// Parameters of `copy_file`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct CopyFileParams {
    /// The file or directory to copy.
    pub(crate) source: String,
    /// The new path; must not exist unless `overwrite` is set.
    pub(crate) destination: String,
    /// Replace an existing destination file (never a directory).
    #[serde(default)]
    pub(crate) overwrite: bool,
}

/// Parameters of `delete_file`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct DeleteFileParams {
    /// The file, symlink or directory to delete.
    pub(crate) path: String,
    /// Delete a non-empty directory and everything in it.
    #[serde(default)]
    pub(crate) recursive: bool,
}

/// Parameters of `search_files`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SearchFilesParams {
    /// The directory to search under.
    pub(crate) path: String,
    /// Glob to find. Without "/", it matches names at any depth ("*.rs", "README*"); with "/", it
    /// matches paths relative to `path` ("src/**/*.rs", "**/test_*.py").
    pub(crate) pattern: String,
    /// Globs to leave out, same forms as `pattern`.
    #[serde(default)]
    pub(crate) exclude_patterns: Vec<String>,
    /// Also search what .gitignore/.ignore exclude, and .git.
    #[serde(default)]
    pub(crate) include_ignored: bool,
    /// Return at most this many paths.
    pub(crate) max_results: Option<usize>,
}

/// Parameters of `grep_files`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GrepFilesParams {
    /// A directory to search recursively, or a single file.
    pub(crate) path: String,
    /// Regular expression (Rust regex syntax, like ripgrep), or a literal with fixedStrings.
    pub(crate) pattern: String,
    /// Only search files matching this glob ("*.rs", "src/**/*.ts").
    pub(crate) glob: Option<String>,
    /// Match regardless of case.
    #[serde(default)]
    pub(crate) case_insensitive: bool,
    /// Treat the pattern as a literal string, not a regular expression.
    #[serde(default)]
    pub(crate) fixed_strings: bool,
    /// Lines of context to show before and after each match.
    #[serde(default)]
    pub(crate) context_lines: usize,
    /// Also search what .gitignore/.ignore exclude, and .git.
    #[serde(default)]
    pub(crate) include_ignored: bool,
    /// Return at most this many lines.
    pub(crate) max_results: Option<usize>,
}
