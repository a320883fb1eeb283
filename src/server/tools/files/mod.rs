//! File tools: the reference filesystem server's tools (same names and parameters, so existing
//! prompts keep working) plus `copy_file`, `delete_file` and `grep_files`. Each handler parses its
//! params, calls one sandbox function on the blocking pool, and renders the result with a pure
//! function of `server::render::files`. The parameters are in `params`.

mod params;

use rmcp::handler::server::tool::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, tool, tool_router};

use crate::sandbox::Sandbox;
use crate::sandbox::edit::EditOp;
use crate::sandbox::read::TextRequest;
use crate::sandbox::search::{GrepOptions, SearchOptions, SortBy, TreeOptions};
use crate::server::Server;
use crate::server::render::file_outputs::*;
use crate::server::render::files::*;
use crate::server::render::tree::{SearchAnswer, TreeAnswer, render_search, render_tree};
pub(crate) use params::*;

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
        self.run_recorded(
            &ctx,
            "writing a file",
            "write_file",
            move |s, r| s.write_file(&p.path, p.content.as_bytes(), r),
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
        self.run_recorded(
            &ctx,
            "editing a file",
            "edit_file",
            move |s, r| s.edit_file(&p.path, &edits, p.dry_run, r),
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
        self.run_recorded(
            &ctx,
            "creating a directory",
            "create_directory",
            move |s, r| s.create_directory(&p.path, r),
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
            move |s| {
                let mut answer = TreeAnswer::default();
                s.directory_tree(&p.path, &options, &mut answer).map(|summary| (summary, answer))
            },
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
        self.run_recorded(
            &ctx,
            "moving a file",
            "move_file",
            move |s, r| s.move_entry(&p.source, &p.destination, r),
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
            move |s| {
                let mut answer = SearchAnswer::default();
                s.search_files(&p.path, &options, &mut answer).map(|summary| (summary, answer))
            },
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
        self.run_recorded(
            &ctx,
            "copying",
            "copy_file",
            move |s, r| s.copy_entry(&p.source, &p.destination, p.overwrite, r),
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
        self.run_recorded(
            &ctx,
            "deleting",
            "delete_file",
            move |s, r| s.delete(&p.path, p.recursive, r),
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
