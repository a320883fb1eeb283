//! File tools: the reference filesystem server's tools (same names and parameters, so existing
//! prompts keep working) plus `copy_file`, `delete_file` and `grep_files`. Each handler parses its
//! params, calls one sandbox function on the blocking pool, and renders the result with a pure
//! function below.

use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rmcp::handler::server::tool::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Resource, ResourceContents};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::sandbox::edit::EditOp;
use crate::sandbox::read::{BytesOut, TextOut, TextRequest};
use crate::sandbox::root::Kind;
use crate::sandbox::search::{
    FileInfo, GrepOptions, GrepOut, Listing, SearchOptions, SortBy, TreeOptions, TreeOut,
};
use crate::sandbox::write::{ChangeOut, EditOut, WriteOut};
use crate::sandbox::{AllowedDir, Sandbox};
use crate::server::Server;
use crate::server::tools::{structured, truncation_note};
use crate::server::uri::{file_uri, mime_for};

// ---------------------------------------------------------------------------------------------
// Parameters

/// A path: absolute inside an allowed directory, relative to the first allowed directory, or a
/// file:// URI.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PathParams {
    /// Absolute path inside an allowed directory, a path relative to the first allowed directory,
    /// or a file:// URI.
    pub path: String,
}

/// Parameters of `read_text_file`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReadTextFileParams {
    /// Absolute path inside an allowed directory, a path relative to the first allowed directory,
    /// or a file:// URI.
    pub path: String,
    /// Return only the first N lines.
    pub head: Option<u64>,
    /// Return only the last N lines.
    pub tail: Option<u64>,
    /// First line to return, counting from 1; with `limit`, pages through a large file.
    pub offset: Option<u64>,
    /// How many lines to return starting at `offset` (default: to the end, within the size limit).
    pub limit: Option<u64>,
}

/// Parameters of `read_multiple_files`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReadMultipleFilesParams {
    /// The files to read; each is read whole (within the size limit).
    pub paths: Vec<String>,
}

/// Parameters of `write_file`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WriteFileParams {
    /// Where to write: absolute inside an allowed directory, relative to the first one, or a
    /// file:// URI. Missing parent directories are created.
    pub path: String,
    /// The complete new content of the file.
    pub content: String,
}

/// One replacement for `edit_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EditItem {
    /// Text to find: copy it exactly from the file, with enough context to be unique.
    pub old_text: String,
    /// Text to put in its place.
    pub new_text: String,
    /// Replace every occurrence instead of requiring exactly one.
    #[serde(default)]
    pub replace_all: bool,
}

/// Parameters of `edit_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EditFileParams {
    /// The file to edit.
    pub path: String,
    /// Replacements, applied in order; if any fails, none is applied.
    pub edits: Vec<EditItem>,
    /// Show the diff without changing the file.
    #[serde(default)]
    pub dry_run: bool,
}

/// Sort order for `list_directory_with_sizes`.
#[derive(Debug, Default, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortByParam {
    /// Alphabetical by name.
    #[default]
    Name,
    /// Largest first.
    Size,
}

/// Parameters of `list_directory_with_sizes`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListWithSizesParams {
    /// The directory to list.
    pub path: String,
    /// Sort by "name" (default) or "size".
    #[serde(default)]
    pub sort_by: SortByParam,
}

/// Parameters of `directory_tree`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryTreeParams {
    /// The directory to show.
    pub path: String,
    /// Globs to leave out: a pattern without "/" matches names at any depth ("node_modules",
    /// "*.log"); one with "/" matches paths relative to `path` ("build/**").
    #[serde(default)]
    pub exclude_patterns: Vec<String>,
    /// Deepest level to show (1 = only the directory's own entries).
    pub max_depth: Option<usize>,
    /// Also show what .gitignore/.ignore exclude, and .git.
    #[serde(default)]
    pub include_ignored: bool,
}

/// Parameters of `move_file` and `copy_file`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct MoveFileParams {
    /// What to move.
    pub source: String,
    /// The new path; must not exist yet.
    pub destination: String,
}

/// Parameters of `copy_file`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CopyFileParams {
    /// The file or directory to copy.
    pub source: String,
    /// The new path; must not exist unless `overwrite` is set.
    pub destination: String,
    /// Replace an existing destination file (never a directory).
    #[serde(default)]
    pub overwrite: bool,
}

/// Parameters of `delete_file`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DeleteFileParams {
    /// The file, symlink or directory to delete.
    pub path: String,
    /// Delete a non-empty directory and everything in it.
    #[serde(default)]
    pub recursive: bool,
}

/// Parameters of `search_files`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchFilesParams {
    /// The directory to search under.
    pub path: String,
    /// Glob to find. Without "/", it matches names at any depth ("*.rs", "README*"); with "/", it
    /// matches paths relative to `path` ("src/**/*.rs", "**/test_*.py").
    pub pattern: String,
    /// Globs to leave out, same forms as `pattern`.
    #[serde(default)]
    pub exclude_patterns: Vec<String>,
    /// Also search what .gitignore/.ignore exclude, and .git.
    #[serde(default)]
    pub include_ignored: bool,
    /// Return at most this many paths.
    pub max_results: Option<usize>,
}

/// Parameters of `grep_files`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrepFilesParams {
    /// A directory to search recursively, or a single file.
    pub path: String,
    /// Regular expression (Rust regex syntax, like ripgrep), or a literal with fixedStrings.
    pub pattern: String,
    /// Only search files matching this glob ("*.rs", "src/**/*.ts").
    pub glob: Option<String>,
    /// Match regardless of case.
    #[serde(default)]
    pub case_insensitive: bool,
    /// Treat the pattern as a literal string, not a regular expression.
    #[serde(default)]
    pub fixed_strings: bool,
    /// Lines of context to show before and after each match.
    #[serde(default)]
    pub context_lines: usize,
    /// Also search what .gitignore/.ignore exclude, and .git.
    #[serde(default)]
    pub include_ignored: bool,
    /// Return at most this many lines.
    pub max_results: Option<usize>,
}

// ---------------------------------------------------------------------------------------------
// Structured outputs

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

// ---------------------------------------------------------------------------------------------
// Handlers

#[tool_router(router = file_tools, vis = "pub(crate)")]
impl Server {
    /// Read a text file (UTF-8). Whole files up to the size limit; for larger files, or to save
    /// context, read part of it: `head` (first N lines), `tail` (last N lines), or `offset` and
    /// `limit` (a line range, 1-based). Partial reads work on files of any size. For images,
    /// audio or other binary files use read_media_file.
    #[tool(title = "Read text file", annotations(read_only_hint = true, open_world_hint = false))]
    async fn read_text_file(
        &self,
        Parameters(p): Parameters<ReadTextFileParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let request = TextRequest { head: p.head, tail: p.tail, offset: p.offset, limit: p.limit };
        self.run_files(&ctx, "reading a file", move |s| s.read_text(&p.path, &request), render_text)
            .await
    }

    /// Read an image, audio or other binary file and return it base64-encoded with its MIME type
    /// (images and audio as image/audio content, anything else as an embedded blob).
    #[tool(title = "Read media file", annotations(read_only_hint = true, open_world_hint = false))]
    async fn read_media_file(
        &self,
        Parameters(p): Parameters<PathParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run_files(
            &ctx,
            "reading a media file",
            move |s| {
                s.read_bytes(&p.path, s.limits().max_media_bytes, "--max-media-bytes")
                    .map(|out| (s.display(&out.loc), out))
            },
            |(path, out)| render_media(&path, out),
        )
        .await
    }

    /// Read several text files in one call. Each file's content is labelled with its path; a file
    /// that cannot be read gets an error line and the others are still returned.
    #[tool(
        title = "Read multiple files",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn read_multiple_files(
        &self,
        Parameters(p): Parameters<ReadMultipleFilesParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run_files(
            &ctx,
            "reading files",
            move |s| Ok(read_many(s, &p.paths)),
            |text| CallToolResult::success(vec![ContentBlock::text(text)]),
        )
        .await
    }

    /// Create a file or replace its whole content. Missing parent directories are created. The
    /// write is atomic (a reader never sees half a file) and keeps an existing file's
    /// permissions. Use edit_file to change part of a file.
    #[tool(
        title = "Write file",
        output_schema = schema_for_output::<WriteFileOutput>(),
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn write_file(
        &self,
        Parameters(p): Parameters<WriteFileParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run_files(
            &ctx,
            "writing a file",
            move |s| s.write_file(&p.path, p.content.as_bytes()),
            render_write,
        )
        .await
    }

    /// Edit a text file by replacing exact text: each edit's oldText must match exactly one place
    /// (or set replaceAll); if no exact match exists, lines are matched ignoring indentation.
    /// Edits apply in order, all or nothing. Returns a unified diff; with dryRun the file is not
    /// changed.
    #[tool(
        title = "Edit file",
        output_schema = schema_for_output::<EditFileOutput>(),
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = false)
    )]
    async fn edit_file(
        &self,
        Parameters(p): Parameters<EditFileParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let edits: Vec<EditOp> = p
            .edits
            .into_iter()
            .map(|e| EditOp {
                old_text: e.old_text,
                new_text: e.new_text,
                replace_all: e.replace_all,
            })
            .collect();
        self.run_files(
            &ctx,
            "editing a file",
            move |s| s.edit_file(&p.path, &edits, p.dry_run),
            render_edit,
        )
        .await
    }

    /// Create a directory, with any missing parents. Succeeds if it already exists.
    #[tool(
        title = "Create directory",
        output_schema = schema_for_output::<ChangeOutput>(),
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn create_directory(
        &self,
        Parameters(p): Parameters<PathParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run_files(
            &ctx,
            "creating a directory",
            move |s| s.create_directory(&p.path),
            |out| render_change("Created directory", out),
        )
        .await
    }

    /// List a directory's entries, each marked `[FILE]`, `[DIR]`, `[LINK]` or a special kind.
    #[tool(
        title = "List directory",
        output_schema = schema_for_output::<ListDirectoryOutput>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_directory(
        &self,
        Parameters(p): Parameters<PathParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run_files(
            &ctx,
            "listing a directory",
            move |s| s.list_directory(&p.path, false, SortBy::Name),
            |l| render_listing(l, false),
        )
        .await
    }

    /// List a directory's entries with file sizes, sorted by name or size, with totals.
    #[tool(
        title = "List directory with sizes",
        output_schema = schema_for_output::<ListDirectoryOutput>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_directory_with_sizes(
        &self,
        Parameters(p): Parameters<ListWithSizesParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let sort = match p.sort_by {
            SortByParam::Name => SortBy::Name,
            SortByParam::Size => SortBy::Size,
        };
        self.run_files(
            &ctx,
            "listing a directory",
            move |s| s.list_directory(&p.path, true, sort),
            |l| render_listing(l, true),
        )
        .await
    }

    /// Show the tree of files and directories under a directory (recursive), skipping what
    /// .gitignore/.ignore exclude and .git unless includeIgnored is set. Limit it with maxDepth
    /// and excludePatterns.
    #[tool(
        title = "Directory tree",
        output_schema = schema_for_output::<DirectoryTreeOutput>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn directory_tree(
        &self,
        Parameters(p): Parameters<DirectoryTreeParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let options = TreeOptions {
            exclude: p.exclude_patterns,
            max_depth: p.max_depth,
            include_ignored: p.include_ignored,
        };
        self.run_walk(
            "walking a directory",
            &ctx,
            move |s| s.directory_tree(&p.path, &options),
            render_tree,
        )
        .await
    }

    /// Move or rename a file or directory. Fails if the destination exists (nothing is ever
    /// overwritten); missing parent directories of the destination are created.
    #[tool(
        title = "Move file",
        output_schema = schema_for_output::<ChangeOutput>(),
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = false)
    )]
    async fn move_file(
        &self,
        Parameters(p): Parameters<MoveFileParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run_files(
            &ctx,
            "moving a file",
            move |s| s.move_entry(&p.source, &p.destination),
            |out| render_change("Moved", out),
        )
        .await
    }

    /// Find files and directories whose name or path matches a glob, recursively, skipping what
    /// .gitignore/.ignore exclude and .git unless includeIgnored is set. "*.rs" matches names at
    /// any depth; "src/**/*.rs" matches paths relative to `path`. Returns absolute paths.
    #[tool(
        title = "Search files",
        output_schema = schema_for_output::<SearchFilesOutput>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn search_files(
        &self,
        Parameters(p): Parameters<SearchFilesParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let pattern = p.pattern.clone();
        let options = SearchOptions {
            pattern: p.pattern,
            exclude: p.exclude_patterns,
            include_ignored: p.include_ignored,
            max_results: p.max_results,
        };
        self.run_walk(
            "searching files",
            &ctx,
            move |s| s.search_files(&p.path, &options),
            move |out| render_search(&pattern, out),
        )
        .await
    }

    /// Size, kind, timestamps and permissions of a file or directory.
    #[tool(
        title = "Get file info",
        output_schema = schema_for_output::<FileInfoOutput>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_file_info(
        &self,
        Parameters(p): Parameters<PathParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run_files(&ctx, "reading file info", move |s| s.file_info(&p.path), render_info).await
    }

    /// The directories this server may access, and whether each is writable. Relative paths in
    /// other tools resolve against the first one.
    #[tool(
        title = "List allowed directories",
        output_schema = schema_for_output::<AllowedDirectoriesOutput>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_allowed_directories(
        &self,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run_files(&ctx, "listing allowed directories", |s| Ok(s.allowed()), render_allowed)
            .await
    }

    /// Copy a file, or a directory with everything in it (symlinks and special files inside are
    /// skipped). Never overwrites unless overwrite is set (files only). Sparse files are copied
    /// in full: their holes become zeros on disk.
    #[tool(
        title = "Copy file",
        output_schema = schema_for_output::<ChangeOutput>(),
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn copy_file(
        &self,
        Parameters(p): Parameters<CopyFileParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run_files(
            &ctx,
            "copying",
            move |s| s.copy_entry(&p.source, &p.destination, p.overwrite),
            |out| render_change("Copied", out),
        )
        .await
    }

    /// Delete a file or symlink, or a directory (empty, or with recursive: true for everything in
    /// it). Cannot delete an allowed directory itself.
    #[tool(
        title = "Delete file",
        output_schema = schema_for_output::<ChangeOutput>(),
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn delete_file(
        &self,
        Parameters(p): Parameters<DeleteFileParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.run_files(
            &ctx,
            "deleting",
            move |s| s.delete(&p.path, p.recursive),
            |out| render_change("Deleted", out),
        )
        .await
    }

    /// Search file contents with a regular expression, like ripgrep: returns path:line:text for
    /// each matching line (path-line-text for context lines), skipping binary files and what
    /// .gitignore/.ignore exclude. Narrow it with glob ("*.rs"), a subdirectory, or maxResults.
    #[tool(
        title = "Grep files",
        output_schema = schema_for_output::<GrepFilesOutput>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn grep_files(
        &self,
        Parameters(p): Parameters<GrepFilesParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let options = GrepOptions {
            pattern: p.pattern,
            fixed_strings: p.fixed_strings,
            glob: p.glob,
            case_insensitive: p.case_insensitive,
            context: p.context_lines,
            include_ignored: p.include_ignored,
            max_results: p.max_results,
        };
        self.run_walk(
            "searching file contents",
            &ctx,
            move |s| s.grep(&p.path, &options),
            render_grep,
        )
        .await
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering: pure functions from core results to tool results.

/// The lowercase kind name used in structured output.
pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::File => "file",
        Kind::Dir => "directory",
        Kind::Symlink => "symlink",
        Kind::Fifo => "fifo",
        Kind::Socket => "socket",
        Kind::CharDevice => "char_device",
        Kind::BlockDevice => "block_device",
        Kind::Unknown => "unknown",
    }
}

fn kind_tag(kind: Kind) -> &'static str {
    match kind {
        Kind::File => "[FILE]",
        Kind::Dir => "[DIR]",
        Kind::Symlink => "[LINK]",
        Kind::Fifo => "[FIFO]",
        Kind::Socket => "[SOCKET]",
        Kind::CharDevice => "[CHARDEV]",
        Kind::BlockDevice => "[BLOCKDEV]",
        Kind::Unknown => "[OTHER]",
    }
}

/// A link block for a file the tool created or changed, so clients can open it as a resource.
fn link(path: &str) -> ContentBlock {
    let name = path.rsplit(['/', std::path::MAIN_SEPARATOR]).next().unwrap_or(path);
    ContentBlock::resource_link(Resource::new(file_uri(path), name).with_mime_type(mime_for(name)))
}

fn render_text(out: TextOut) -> CallToolResult {
    let mut blocks = vec![ContentBlock::text(out.text)];
    if let Some(note) = out.note {
        blocks.push(ContentBlock::text(note));
    }
    CallToolResult::success(blocks)
}

fn render_media(path: &str, out: BytesOut) -> CallToolResult {
    let name = path.rsplit(['/', std::path::MAIN_SEPARATOR]).next().unwrap_or(path);
    let mime = mime_for(name);
    let data = BASE64.encode(&out.bytes);
    let block = if mime.starts_with("image/") {
        ContentBlock::image(data, mime)
    } else if mime.starts_with("audio/") {
        ContentBlock::audio(data, mime)
    } else {
        ContentBlock::resource(ResourceContents::blob(data, file_uri(path)).with_mime_type(mime))
    };
    CallToolResult::success(vec![block])
}

/// Reads each file whole, labelled with its path, within `max_result_bytes` in total.
fn read_many(sandbox: &Sandbox, paths: &[String]) -> String {
    let budget = sandbox.limits().max_result_bytes;
    let mut parts = Vec::with_capacity(paths.len());
    let mut used = 0usize;
    for input in paths {
        if used >= budget {
            parts.push(format!(
                "{input}: Error - skipped: the combined result reached the {budget}-byte limit (--max-result-bytes); read this file in another call"
            ));
            continue;
        }
        match sandbox.read_text(input, &TextRequest::default()) {
            Ok(out) if used + out.text.len() > budget => parts.push(format!(
                "{}: Error - skipped: it would take the combined result over the {budget}-byte limit (--max-result-bytes); read it in another call",
                out.path
            )),
            Ok(out) => {
                used += out.text.len();
                parts.push(format!("{}:\n{}\n", out.path, out.text));
            }
            Err(err) => parts.push(format!("{input}: Error - {err}")),
        }
    }
    parts.join("\n---\n")
}

fn render_write(out: WriteOut) -> CallToolResult {
    let verb = if out.created { "Created" } else { "Replaced" };
    let text = format!("{verb} {} ({} bytes)", out.path, out.bytes);
    let blocks = vec![ContentBlock::text(text), link(&out.path)];
    structured(blocks, &WriteFileOutput { path: out.path, created: out.created, bytes: out.bytes })
}

fn render_edit(out: EditOut) -> CallToolResult {
    let text = match (out.changed, out.dry_run) {
        (false, _) => format!("No change: the edits leave {} as it is", out.path),
        (true, true) => format!(
            "Dry run, {} not changed. The edits would make this diff:\n```diff\n{}```",
            out.path, out.diff
        ),
        (true, false) => format!("Edited {}:\n```diff\n{}```", out.path, out.diff),
    };
    let mut blocks = vec![ContentBlock::text(text)];
    if out.changed && !out.dry_run {
        blocks.push(link(&out.path));
    }
    let value = EditFileOutput {
        path: out.path,
        diff: out.diff,
        replacements: out.replacements,
        changed: out.changed,
        dry_run: out.dry_run,
    };
    structured(blocks, &value)
}

fn render_change(verb: &str, out: ChangeOut) -> CallToolResult {
    let text = match (&out.from, out.changed) {
        (_, false) => format!("{} already exists", out.path),
        (Some(from), true) if out.kind == Kind::Dir && verb == "Copied" => format!(
            "Copied directory {from} to {} ({} files{})",
            out.path,
            out.files,
            if out.skipped > 0 {
                format!("; {} symlinks or special files skipped", out.skipped)
            } else {
                String::new()
            }
        ),
        (Some(from), true) => format!("{verb} {from} to {}", out.path),
        (None, true) => format!("{verb} {}", out.path),
    };
    let mut blocks = vec![ContentBlock::text(text)];
    if verb != "Deleted" && out.kind == Kind::File {
        blocks.push(link(&out.path));
    }
    let is_dir_copy = out.from.is_some() && out.kind == Kind::Dir && verb == "Copied";
    let value = ChangeOutput {
        path: out.path,
        from: out.from,
        kind: kind_name(out.kind).to_owned(),
        changed: out.changed,
        files_copied: is_dir_copy.then_some(out.files),
        skipped: is_dir_copy.then_some(out.skipped),
    };
    structured(blocks, &value)
}

/// A name or path for one line of text: control characters (a newline in a file name would make
/// one entry read as two) are written as escapes (`\n`, `\t`, `\u{1b}`). Structured content
/// carries names unchanged.
fn one_line(name: &str) -> std::borrow::Cow<'_, str> {
    if !name.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(name);
    }
    std::borrow::Cow::Owned(
        name.chars()
            .map(|c| match c {
                '\n' => "\\n".to_owned(),
                '\r' => "\\r".to_owned(),
                '\t' => "\\t".to_owned(),
                c if c.is_control() => format!("\\u{{{:x}}}", u32::from(c)),
                c => c.to_string(),
            })
            .collect(),
    )
}

fn render_listing(listing: Listing, sizes: bool) -> CallToolResult {
    let mut lines: Vec<String> = Vec::with_capacity(listing.entries.len() + 4);
    let (mut files, mut dirs, mut bytes) = (0usize, 0usize, 0u64);
    for entry in &listing.entries {
        let tag = kind_tag(entry.kind);
        match (sizes, entry.size) {
            (true, Some(size)) => lines.push(format!(
                "{tag:<7} {:<30} {:>10}",
                one_line(&entry.name),
                human_size(size)
            )),
            _ => lines.push(format!("{tag} {}", one_line(&entry.name))),
        }
        match entry.kind {
            Kind::Dir => dirs += 1,
            Kind::File => {
                files += 1;
                bytes += entry.size.unwrap_or(0);
            }
            _ => {}
        }
    }
    if listing.entries.is_empty() {
        lines.push(format!("{} is empty", listing.path));
    }
    if sizes {
        lines.push(String::new());
        lines.push(format!("Total: {files} files, {dirs} directories"));
        lines.push(format!("Combined size: {}", human_size(bytes)));
    }
    if listing.truncated {
        lines.push(truncation_note(
            listing.entries.len(),
            &format!("of {} entries", listing.total),
            "Use search_files with a pattern to find specific entries.",
        ));
    }
    let value = ListDirectoryOutput {
        path: listing.path,
        total: listing.total,
        truncated: listing.truncated,
        entries: listing
            .entries
            .into_iter()
            .map(|e| EntryOutput { name: e.name, kind: kind_name(e.kind).to_owned(), size: e.size })
            .collect(),
    };
    structured(vec![ContentBlock::text(lines.join("\n"))], &value)
}

fn render_tree(out: TreeOut) -> CallToolResult {
    let mut text = format!("{}/\n", out.path.trim_end_matches('/'));
    for entry in &out.entries {
        text.push_str(&"  ".repeat(entry.depth));
        text.push_str(&one_line(&entry.name));
        text.push_str(entry_suffix(entry.kind));
        text.push('\n');
    }
    if out.entries.is_empty() {
        text.push_str("(empty, or everything in it is ignored; set includeIgnored: true to see ignored entries)\n");
    }
    if out.truncated {
        text.push_str(&truncation_note(
            out.entries.len(),
            "entries",
            "Narrow it with maxDepth, excludePatterns, or a subdirectory.",
        ));
    }
    append_walk_stats(&mut text, &out);
    let value = DirectoryTreeOutput {
        path: out.path,
        truncated: out.truncated,
        entries: out
            .entries
            .into_iter()
            .map(|e| TreeEntryOutput {
                path: e.rel,
                kind: kind_name(e.kind).to_owned(),
                depth: e.depth,
            })
            .collect(),
    };
    structured(vec![ContentBlock::text(text.trim_end().to_owned())], &value)
}

fn render_search(pattern: &str, out: TreeOut) -> CallToolResult {
    let separator = std::path::MAIN_SEPARATOR;
    let base = out.path.trim_end_matches(separator);
    let matches: Vec<String> = out
        .entries
        .iter()
        .map(|e| {
            format!("{base}{separator}{}", e.rel.as_str().replace('/', &separator.to_string()))
        })
        .collect();
    let mut text = if matches.is_empty() {
        format!(
            "No matches for \"{pattern}\" under {} (ignored files are skipped; set includeIgnored: true to search them)",
            out.path
        )
    } else {
        out.entries
            .iter()
            .zip(&matches)
            .map(|(e, m)| format!("{}{}", one_line(m), if e.kind == Kind::Dir { "/" } else { "" }))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if out.truncated {
        text.push('\n');
        text.push_str(&truncation_note(
            matches.len(),
            "matches",
            "Use a more specific pattern, excludePatterns, or a subdirectory.",
        ));
    }
    append_walk_stats(&mut text, &out);
    structured(
        vec![ContentBlock::text(text)],
        &SearchFilesOutput { path: out.path, matches, truncated: out.truncated },
    )
}

fn render_grep(out: GrepOut) -> CallToolResult {
    let mut text = String::new();
    let mut previous: Option<&str> = None;
    for line in &out.lines {
        let new_file = previous != Some(line.path.as_str());
        if (new_file && previous.is_some()) || line.after_gap {
            text.push_str("--\n");
        }
        previous = Some(&line.path);
        let sep = if line.is_match { ':' } else { '-' };
        text.push_str(&format!("{}{sep}{}{sep}{}\n", one_line(&line.path), line.line, line.text));
    }
    if out.matches == 0 {
        text.push_str(&format!("No matches in {} files under {}", out.files_searched, out.path));
    } else {
        text.push_str(&format!(
            "[{} in {}; {} searched]",
            plural(out.matches, "matching line"),
            plural(out.files_matched, "file"),
            plural(out.files_searched, "file")
        ));
    }
    if out.truncated {
        text.push('\n');
        text.push_str(&truncation_note(
            out.matches,
            "matching lines",
            "Narrow it with glob, a more specific pattern, or a subdirectory.",
        ));
    }
    if out.long_line_files > 0 {
        text.push_str(&format!(
            "\n[{} not searched past a line longer than --max-read-bytes; read_text_file with offset/limit reaches them]",
            plural(out.long_line_files, "file")
        ));
    }
    let value = GrepFilesOutput {
        path: out.path,
        matches: out.matches,
        files_matched: out.files_matched,
        files_searched: out.files_searched,
        long_line_files: out.long_line_files,
        truncated: out.truncated,
        lines: out
            .lines
            .into_iter()
            .map(|l| GrepLineOutput {
                path: l.path,
                line: l.line,
                text: l.text,
                is_match: l.is_match,
            })
            .collect(),
    };
    structured(vec![ContentBlock::text(text)], &value)
}

fn render_info(info: FileInfo) -> CallToolResult {
    let value = FileInfoOutput {
        path: info.path,
        kind: kind_name(info.kind).to_owned(),
        size: info.size,
        created: info.created.map(rfc3339),
        modified: info.modified.map(rfc3339),
        accessed: info.accessed.map(rfc3339),
        is_directory: info.kind == Kind::Dir,
        is_file: info.kind == Kind::File,
        is_symlink: info.via_symlink,
        permissions: format!("{:o}", info.permissions),
        writable: info.writable,
    };
    let mut lines = vec![
        format!("path: {}", value.path),
        format!("kind: {}", value.kind),
        format!("size: {}", value.size),
    ];
    for (label, time) in
        [("created", &value.created), ("modified", &value.modified), ("accessed", &value.accessed)]
    {
        if let Some(time) = time {
            lines.push(format!("{label}: {time}"));
        }
    }
    lines.push(format!("isDirectory: {}", value.is_directory));
    lines.push(format!("isFile: {}", value.is_file));
    lines.push(format!("isSymlink: {}", value.is_symlink));
    lines.push(format!("permissions: {}", value.permissions));
    lines.push(format!("writable: {}", value.writable));
    structured(vec![ContentBlock::text(lines.join("\n"))], &value)
}

fn render_allowed(dirs: Vec<AllowedDir>) -> CallToolResult {
    let mut text = String::from("Allowed directories:\n");
    for dir in &dirs {
        let mode = if dir.writable { "read-write" } else { "read-only" };
        text.push_str(&format!("{} ({mode})\n", dir.path));
    }
    if dirs.is_empty() {
        text.push_str(
            "(none: the client's roots do not overlap the server's allowed directories)\n",
        );
    }
    let value = AllowedDirectoriesOutput {
        directories: dirs
            .into_iter()
            .map(|d| AllowedDirectoryOutput { path: d.path, writable: d.writable })
            .collect(),
    };
    structured(vec![ContentBlock::text(text.trim_end().to_owned())], &value)
}

fn entry_suffix(kind: Kind) -> &'static str {
    match kind {
        Kind::Dir => "/",
        Kind::File => "",
        Kind::Symlink => " [symlink]",
        Kind::Fifo => " [fifo]",
        Kind::Socket => " [socket]",
        Kind::CharDevice | Kind::BlockDevice => " [device]",
        Kind::Unknown => " [special]",
    }
}

fn append_walk_stats(text: &mut String, out: &TreeOut) {
    if out.stats.unreadable_dirs > 0 {
        text.push_str(&format!("\n[{} directories could not be read]", out.stats.unreadable_dirs));
    }
    if out.stats.non_utf8_names > 0 {
        text.push_str(&format!(
            "\n[{} entries with non-UTF-8 names were skipped]",
            out.stats.non_utf8_names
        ));
    }
}

/// "1 file", "2 files".
fn plural(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// A size as the reference server shows it: bytes, KB, MB, GB, TB (powers of 1024), two decimals.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let exponent = ((bytes as f64).log(1024.0).floor() as usize).min(UNITS.len() - 1);
    format!("{:.2} {}", bytes as f64 / 1024f64.powi(exponent as i32), UNITS[exponent])
}

/// RFC 3339 in UTC with second precision.
pub fn rfc3339(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_size_table() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1.00 KB");
        assert_eq!(human_size(1536), "1.50 KB");
        assert_eq!(human_size(5 * 1024 * 1024), "5.00 MB");
    }

    #[test]
    fn rfc3339_is_utc_seconds() {
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
