//! The file tools' renderers: pure functions from sandbox results to tool results, text for the
//! model beside the same facts as structured output.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rmcp::model::{CallToolResult, ContentBlock, Resource, ResourceContents};

use crate::sandbox::AllowedDir;
use crate::sandbox::read::{BytesOut, TextOut};
use crate::sandbox::root::Kind;
use crate::sandbox::search::{FileInfo, GrepOut, Listing};
use crate::sandbox::walk::WalkStats;
use crate::sandbox::write::{ChangeOut, EditOut, WriteOut};
use crate::server::render::file_outputs::*;
use crate::server::render::{human_size, plural, rfc3339, structured, truncation_note};
use crate::server::uri::{file_uri, mime_for};

/// The lowercase kind name used in structured output.
pub(crate) fn kind_name(kind: Kind) -> &'static str {
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

pub(crate) fn kind_tag(kind: Kind) -> &'static str {
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
pub(crate) fn link(path: &str) -> ContentBlock {
    let name = path.rsplit(['/', std::path::MAIN_SEPARATOR]).next().unwrap_or(path);
    ContentBlock::resource_link(Resource::new(file_uri(path), name).with_mime_type(mime_for(name)))
}

pub(crate) fn render_text(out: TextOut) -> CallToolResult {
    let mut blocks = vec![ContentBlock::text(out.text)];
    if let Some(note) = out.note {
        blocks.push(ContentBlock::text(note));
    }
    CallToolResult::success(blocks)
}

pub(crate) fn render_media(path: &str, out: BytesOut) -> CallToolResult {
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

pub(crate) fn render_write(out: WriteOut) -> CallToolResult {
    let verb = if out.created { "Created" } else { "Replaced" };
    let text = format!("{verb} {} ({} bytes)", out.path, out.bytes);
    let blocks = vec![ContentBlock::text(text), link(&out.path)];
    structured(
        blocks,
        &WriteFileOutput { path: out.path, created: out.created, bytes: out.bytes, change: None },
    )
}

pub(crate) fn render_edit(out: EditOut) -> CallToolResult {
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
        change: None,
    };
    structured(blocks, &value)
}

pub(crate) fn render_change(verb: &str, out: ChangeOut) -> CallToolResult {
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
        change: None,
    };
    structured(blocks, &value)
}

/// A name or path for one line of text: control characters (a newline in a file name would make
/// one entry read as two) are written as escapes (`\n`, `\t`, `\u{1b}`). Structured content
/// carries names unchanged.
pub(crate) fn one_line(name: &str) -> std::borrow::Cow<'_, str> {
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

pub(crate) fn render_listing(listing: Listing, sizes: bool) -> CallToolResult {
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

pub(crate) fn render_grep(out: GrepOut) -> CallToolResult {
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
    append_walk_stats(&mut text, &out.stats);
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

pub(crate) fn render_info(info: FileInfo) -> CallToolResult {
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

pub(crate) fn render_allowed(dirs: Vec<AllowedDir>) -> CallToolResult {
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

pub(crate) fn entry_suffix(kind: Kind) -> &'static str {
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

/// Says what a walk could not see, so a result never looks more complete than it is.
pub(crate) fn append_walk_stats(text: &mut String, stats: &WalkStats) {
    if stats.unreadable_dirs > 0 {
        text.push_str(&format!("\n[{} directories could not be read]", stats.unreadable_dirs));
    }
    if stats.non_utf8_names > 0 {
        text.push_str(&format!(
            "\n[{} entries with non-UTF-8 names were skipped]",
            stats.non_utf8_names
        ));
    }
}
