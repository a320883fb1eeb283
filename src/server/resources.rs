//! Resource listing and file resources: `resources/list` (the databases' resources first, then
//! every file under the allowed directories, paginated with an opaque cursor, ignore files
//! applied), `resources/templates/list` (`file:///{+path}` and the table template), and reading
//! `file://` resources (text as text, anything else as a base64 blob, within the size limits).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rmcp::model::{
    Annotations, ListResourceTemplatesResult, ListResourcesResult, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use serde_json::json;

use crate::sandbox::path::RelPath;
use crate::sandbox::read::{into_text, not_text_at};
use crate::sandbox::search::FileItem;
use crate::sandbox::{Error, Sandbox};
use crate::server::Server;
use crate::server::errors::{file_listing_error, join_error, resource_error};
use crate::server::render::rfc3339;
use crate::server::uri::{
    FILE_TEMPLATE, ListCursor, TABLE_TEMPLATE, decode_cursor, encode_cursor, file_uri, mime_for,
};

impl Server {
    /// One page of resources: database resources first, then files, `resource_page_size` per
    /// page. An unknown cursor is an invalid-params error.
    pub(crate) async fn list_resources_page(
        &self,
        cursor: Option<String>,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let has_files = !self.sandbox().roots().is_empty();
        let start = match cursor {
            None if self.databases().is_empty() => ListCursor::Files { after: None },
            None => ListCursor::Databases { offset: 0 },
            Some(c) => decode_cursor(&c, self.sandbox().roots().len()).ok_or_else(|| {
                ErrorData::invalid_params(
                    "invalid cursor: pass the nextCursor of the previous page unchanged",
                    Some(json!({ "cursor": c })),
                )
            })?,
        };
        let page_size = self.resource_page_size();
        let (mut items, after) = match start {
            ListCursor::Files { after } => (Vec::new(), after),
            ListCursor::Databases { offset } => {
                let all = self.database_resources(ctx).await?;
                // A schema change between pages can shorten the list: move on to the files.
                let offset = offset.min(all.len());
                let items: Vec<Resource> =
                    all.into_iter().skip(offset).take(page_size + 1).collect();
                if items.len() > page_size {
                    let mut result =
                        ListResourcesResult::with_all_items(items[..page_size].to_vec());
                    result.next_cursor =
                        Some(encode_cursor(&ListCursor::Databases { offset: offset + page_size }));
                    return Ok(result);
                }
                (items, None)
            }
        };
        let room = page_size - items.len();
        if room == 0 || !has_files {
            let mut result = ListResourcesResult::with_all_items(items);
            if has_files {
                result.next_cursor = Some(encode_cursor(&ListCursor::Files { after: None }));
            }
            return Ok(result);
        }
        let (files, next) = self.list_file_resources(after, room).await?;
        items.extend(files);
        let mut result = ListResourcesResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    /// Up to `limit` file resources after `after`, and the cursor of what follows.
    async fn list_file_resources(
        &self,
        after: Option<(usize, RelPath)>,
        limit: usize,
    ) -> Result<(Vec<Resource>, Option<String>), ErrorData> {
        self.roots_ready().await;
        let sandbox = self.sandbox();
        self.spawn_blocking(move || {
            let (items, more) =
                sandbox.list_files_page(after.as_ref().map(|(root, rel)| (*root, rel)), limit)?;
            let resources: Vec<Resource> =
                items.iter().map(|item| file_resource(&sandbox, item)).collect();
            let next = match items.last() {
                Some(last) if more => Some(encode_cursor(&ListCursor::Files {
                    after: Some((last.loc.root(), last.loc.rel().clone())),
                })),
                _ => None,
            };
            Ok::<_, Error>((resources, next))
        })
        .await
        .map_err(|e| join_error("listing resources", e))?
        .map_err(|e| file_listing_error(&e))
    }

    /// Reads a `file://` resource: a file as text or blob. A directory is not found (it is no
    /// resource; `list_directory` lists it).
    pub(crate) async fn read_file_resource(
        &self,
        uri: String,
    ) -> Result<ReadResourceResult, ErrorData> {
        self.roots_ready().await;
        let sandbox = self.sandbox();
        let contents = self
            .spawn_blocking(move || read_file(&sandbox, &uri).map_err(|e| resource_error(&uri, &e)))
            .await
            .map_err(|e| join_error("reading a resource", e))??;
        Ok(ReadResourceResult::new(vec![contents]))
    }
}

/// The resource templates this server offers: files if it serves directories, tables if it
/// serves databases.
pub(crate) fn templates(files: bool, databases: bool) -> ListResourceTemplatesResult {
    let mut templates = Vec::new();
    if files {
        templates.push(ResourceTemplate::new(FILE_TEMPLATE, "files")
            .with_title("Files under the allowed directories")
            .with_description("Any file under the allowed directories, by absolute path, including ones resources/list leaves out (ignored files)."));
    }
    if databases {
        templates.push(
            ResourceTemplate::new(TABLE_TEMPLATE, "tables")
                .with_title("Tables of the databases")
                .with_description("One table or view of a database: columns with types and keys, indexes, foreign keys, row count and five sample rows, as JSON. The table name is percent-encoded.")
                .with_mime_type("application/json"),
        );
    }
    ListResourceTemplatesResult::with_all_items(templates)
}

fn file_resource(sandbox: &Sandbox, item: &FileItem) -> Resource {
    let path = sandbox.display(&item.loc);
    let name = item.loc.rel().file_name().unwrap_or_default();
    let mut resource = Resource::new(file_uri(&path), item.loc.rel().as_str())
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
        // A directory is not a resource (resources/list lists files only); its URI is good for
        // subscribing to everything below it, and list_directory lists it.
        return Err(Error::IsADirectory { path: sandbox.display(&loc) });
    }
    let limits = sandbox.limits();
    let out = sandbox.read_bytes(
        uri,
        limits.max_media_bytes.max(limits.max_read_bytes),
        "--max-media-bytes",
    )?;
    let name = loc.rel().file_name().unwrap_or_default().to_owned();
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
