//! File resources: `resources/list` (every file under the allowed directories, paginated with an
//! opaque cursor, ignore files applied), `resources/templates/list` (`file:///{+path}`), and
//! `resources/read` (text as text, anything else as a base64 blob, within the size limits).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rmcp::ErrorData;
use rmcp::model::{
    Annotations, ListResourceTemplatesResult, ListResourcesResult, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate,
};
use serde_json::json;

use crate::sandbox::read::{into_text, not_text_at};
use crate::sandbox::search::{FileItem, SortBy};
use crate::sandbox::{Error, Sandbox};
use crate::server::Server;
use crate::server::errors::{join_error, resource_error};
use crate::server::tools::files::rfc3339;
use crate::server::uri::{decode_cursor, encode_cursor, file_uri, mime_for};

/// The template for files that are not listed (ignored files, or beyond what a client paged).
pub const FILE_TEMPLATE: &str = "file:///{+path}";

impl Server {
    /// One page of file resources. An unknown cursor is an invalid-params error.
    pub(crate) async fn list_file_resources(
        &self,
        cursor: Option<String>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let sandbox = self.sandbox();
        let after = match cursor {
            None => None,
            Some(c) => Some(decode_cursor(&c, sandbox.roots().len()).ok_or_else(|| {
                ErrorData::invalid_params(
                    "invalid cursor: pass the nextCursor of the previous page unchanged",
                    Some(json!({ "cursor": c })),
                )
            })?),
        };
        let page_size = self.resource_page_size();
        let (items, more) = tokio::task::spawn_blocking(move || {
            let (items, more) = sandbox.list_files_page(after.as_ref(), page_size)?;
            let resources: Vec<Resource> =
                items.iter().map(|item| file_resource(&sandbox, item)).collect();
            let next = if more { items.last().map(|last| encode_cursor(&last.loc)) } else { None };
            Ok::<_, Error>((resources, next))
        })
        .await
        .map_err(|e| join_error("listing resources", e))?
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let mut result = ListResourcesResult::with_all_items(items);
        result.next_cursor = more;
        Ok(result)
    }

    /// Reads a `file://` resource: a file as text or blob, a directory as a listing.
    pub(crate) async fn read_file_resource(
        &self,
        uri: String,
    ) -> Result<ReadResourceResult, ErrorData> {
        let sandbox = self.sandbox();
        let contents = tokio::task::spawn_blocking(move || {
            read_file(&sandbox, &uri).map_err(|e| resource_error(&uri, &e))
        })
        .await
        .map_err(|e| join_error("reading a resource", e))??;
        Ok(ReadResourceResult::new(vec![contents]))
    }
}

/// The resource templates this server offers.
pub fn templates() -> ListResourceTemplatesResult {
    let files = ResourceTemplate::new(FILE_TEMPLATE, "files")
        .with_title("Files under the allowed directories")
        .with_description("Any file or directory under the allowed directories, by absolute path, including ones resources/list leaves out (ignored files).");
    ListResourceTemplatesResult::with_all_items(vec![files])
}

fn file_resource(sandbox: &Sandbox, item: &FileItem) -> Resource {
    let path = sandbox.display(&item.loc);
    let name = item.loc.rel.file_name().unwrap_or_default();
    let mut resource = Resource::new(file_uri(&path), item.loc.rel.as_str())
        .with_title(name)
        .with_mime_type(mime_for(name))
        .with_size(item.size);
    if let Some(modified) = item.modified {
        let mut annotations = Annotations::default();
        annotations.last_modified = Some(rfc3339(modified));
        resource = resource.with_annotations(annotations);
    }
    resource
}

fn read_file(sandbox: &Sandbox, uri: &str) -> Result<ResourceContents, Error> {
    if !uri.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("file://")) {
        return Err(Error::NotFound { path: uri.to_owned() });
    }
    let (loc, resolved) = sandbox.locate_resolved(uri, true)?;
    if resolved.meta.as_ref().is_some_and(|m| m.is_dir()) {
        let listing = sandbox.list_directory(uri, false, SortBy::Name)?;
        let mut text: String = listing
            .entries
            .iter()
            .map(|e| {
                if e.kind == crate::sandbox::root::Kind::Dir {
                    format!("{}/\n", e.name)
                } else {
                    format!("{}\n", e.name)
                }
            })
            .collect();
        if listing.truncated {
            text.push_str(&format!(
                "[{} more entries not shown]\n",
                listing.total - listing.entries.len()
            ));
        }
        return Ok(ResourceContents::text(text, uri).with_mime_type("inode/directory"));
    }
    let limits = sandbox.limits();
    let out = sandbox.read_bytes(
        uri,
        limits.max_media_bytes.max(limits.max_read_bytes),
        "--max-media-bytes",
    )?;
    let name = loc.rel.file_name().unwrap_or_default().to_owned();
    let mime = mime_for(&name);
    let size = out.bytes.len() as u64;
    if not_text_at(&out.bytes).is_some() {
        if size > limits.max_media_bytes {
            let path = sandbox.display(&loc);
            let (limit, flag) = (limits.max_media_bytes, "--max-media-bytes");
            return Err(Error::TooLarge {
                path,
                size,
                limit,
                flag,
                hint: "raise the limit to read it whole",
            });
        }
        return Ok(ResourceContents::blob(BASE64.encode(&out.bytes), uri).with_mime_type(mime));
    }
    if size > limits.max_read_bytes {
        return Err(Error::TooLarge {
            path: sandbox.display(&loc),
            size,
            limit: limits.max_read_bytes,
            flag: "--max-read-bytes",
            hint: "read part of it with the read_text_file tool (head, tail, offset)",
        });
    }
    let text = into_text(out.bytes)
        .map_err(|at| Error::NotText { path: sandbox.display(&loc), at: Some(at) })?;
    let mime = if mime == "application/octet-stream" { "text/plain".to_owned() } else { mime };
    Ok(ResourceContents::text(text, uri).with_mime_type(mime))
}
