//! Database resources: `sqlite://<db>/schema` (every object's DDL under a one-line summary per
//! table) and `sqlite://<db>/table/<table>` (the table's description, row count and five sample
//! rows as JSON), the `sqlite://{db}/table/{table}` template, and `completion/complete` for the
//! templates' arguments (database and table names, and file paths for `file:///{+path}`).

use std::sync::Arc;

use rmcp::ErrorData;
use rmcp::model::{CompletionInfo, ReadResourceResult, Resource, ResourceContents};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, model::CompleteRequestParams};
use serde::Serialize;
use serde_json::json;

use crate::db::Database;
use crate::db::query::Schema;
use crate::sandbox::root::Kind;
use crate::sandbox::search::SortBy;
use crate::server::Server;
use crate::server::errors::{db_listing_error, db_resource_error, join_error, serialize_error};
use crate::server::render::sql::{DescribeTableOutput, QueryOutput, describe_output, query_output};
use crate::server::uri::{
    FILE_TEMPLATE, SqliteUri, TABLE_TEMPLATE, parse_sqlite_uri, sqlite_schema_uri, sqlite_table_uri,
};

/// Sample rows in a table resource.
const SAMPLE_ROWS: usize = 5;

/// The body of a table resource.
#[derive(Debug, Serialize)]
struct TableResource {
    #[serde(flatten)]
    table: DescribeTableOutput,
    /// The first rows, in the same columnar form as read_query.
    sample: QueryOutput,
}

impl Server {
    /// Every database resource, in order: per database its schema, then its tables and views by
    /// name.
    pub(crate) async fn database_resources(
        &self,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Vec<Resource>, ErrorData> {
        let mut resources = Vec::new();
        for database in self.databases().all() {
            let name = database.name().to_owned();
            resources.push(
                Resource::new(sqlite_schema_uri(&name), format!("{name} schema"))
                    .with_title(format!("Schema of database {name}"))
                    .with_description(format!(
                        "The CREATE statement of every table, view, index and trigger in database \
                         {name}, under a one-line summary per table."
                    ))
                    .with_mime_type("application/sql"),
            );
            let tables = self
                .run_db(database, ctx, |s, cancel| s.tables(cancel))
                .await?
                .map_err(|e| db_listing_error(&name, &e))?;
            for table in tables {
                resources.push(
                    Resource::new(
                        sqlite_table_uri(&name, &table.name),
                        format!("{name}.{}", table.name),
                    )
                    .with_title(format!("{} {} in database {name}", table.kind, table.name))
                    .with_description(
                        "Columns with types and keys, indexes, foreign keys, row count and five \
                         sample rows, as JSON.",
                    )
                    .with_mime_type("application/json"),
                );
            }
        }
        Ok(resources)
    }

    /// Reads a `sqlite://` resource. An unknown database or table is resource-not-found.
    pub(crate) async fn read_database_resource(
        &self,
        uri: String,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ReadResourceResult, ErrorData> {
        let not_found =
            |why: String| ErrorData::resource_not_found(why, Some(json!({ "uri": uri })));
        let Some(parsed) = parse_sqlite_uri(&uri) else {
            return Err(not_found(format!(
                "no such resource: {uri}; database resources are sqlite://<db>/schema and sqlite://<db>/table/<table>"
            )));
        };
        let (SqliteUri::Schema { db } | SqliteUri::Table { db, .. }) = &parsed;
        let databases = self.databases();
        let database = match databases.get(Some(db)) {
            Ok(database) => Arc::clone(database),
            Err(err) => return Err(db_resource_error(&uri, &err)),
        };
        let contents = match parsed {
            SqliteUri::Schema { .. } => {
                let schema = self
                    .run_db(&database, ctx, |s, cancel| s.schema(cancel))
                    .await?
                    .map_err(|e| db_resource_error(&uri, &e))?;
                ResourceContents::text(schema_text(&database, &schema), uri.clone())
                    .with_mime_type("application/sql")
            }
            SqliteUri::Table { table, .. } => {
                let (description, sample) = self
                    .run_db(&database, ctx, move |s, cancel| {
                        let description = s.describe(&table, cancel)?;
                        let sample = s.sample(&description.name, SAMPLE_ROWS, cancel)?;
                        Ok((description, sample))
                    })
                    .await?
                    .map_err(|e| db_resource_error(&uri, &e))?;
                let body = TableResource {
                    table: describe_output(database.name(), description),
                    sample: query_output(sample, None),
                };
                let text = serde_json::to_string_pretty(&body)
                    .map_err(|e| serialize_error("reading a table resource", &e))?;
                ResourceContents::text(text, uri.clone()).with_mime_type("application/json")
            }
        };
        Ok(ReadResourceResult::new(vec![contents]))
    }

    /// `completion/complete` for a resource template's argument: database and table names for
    /// `sqlite://{db}/table/{table}` (tables of the `db` already chosen, or of the only
    /// database), and paths for `file:///{+path}`. Prefix matches, at most 100, `hasMore` set.
    pub(crate) async fn complete_argument(
        &self,
        request: CompleteRequestParams,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<CompletionInfo, ErrorData> {
        if let Some(prompt) = request.r#ref.as_prompt_name() {
            let prompt = prompt.to_owned();
            return self.complete_prompt_argument(&prompt, request).await;
        }
        let template = request.r#ref.as_resource_uri().unwrap_or_default();
        let prefix = request.argument.value.as_str();
        let candidates = match (template, request.argument.name.as_str()) {
            (TABLE_TEMPLATE, "db") => self.databases().names(),
            (TABLE_TEMPLATE, "table") => {
                let chosen = request.context.as_ref().and_then(|c| c.get_argument("db"));
                let databases = self.databases();
                let Ok(database) = databases.get(chosen.map(String::as_str)) else {
                    return Ok(CompletionInfo::default());
                };
                let database = Arc::clone(database);
                match self.run_db(&database, ctx, |s, cancel| s.tables(cancel)).await? {
                    Ok(tables) => tables.into_iter().map(|t| t.name).collect(),
                    Err(_) => Vec::new(),
                }
            }
            (FILE_TEMPLATE, "path") => {
                self.roots_ready().await;
                let sandbox = self.sandbox();
                let prefix = prefix.to_owned();
                self.spawn_blocking(move || path_candidates(&sandbox, &prefix))
                    .await
                    .map_err(|e| join_error("completing a path", e))?
            }
            _ => Vec::new(),
        };
        Ok(completion(candidates, prefix))
    }
}

/// The candidates that start with `prefix` (case-insensitively), sorted, at most 100.
pub(crate) fn completion(candidates: Vec<String>, prefix: &str) -> CompletionInfo {
    let lower = prefix.to_lowercase();
    let mut matches: Vec<String> =
        candidates.into_iter().filter(|c| c.to_lowercase().starts_with(&lower)).collect();
    matches.sort();
    matches.dedup();
    let total = matches.len();
    let has_more = total > CompletionInfo::MAX_VALUES;
    matches.truncate(CompletionInfo::MAX_VALUES);
    CompletionInfo::with_pagination(matches, u32::try_from(total).ok(), has_more)
        .unwrap_or_default()
}

/// Paths that complete `value` (the template's `{+path}`: an absolute path, usually without its
/// leading slash): the allowed directories when `value` is above them, else the entries of the
/// directory `value` ends in. Nothing outside the sandbox is listed.
pub(crate) fn path_candidates(sandbox: &crate::sandbox::Sandbox, value: &str) -> Vec<String> {
    // Candidates are what follows `file:///` in a URI, with `/` separators: `home/u/proj/` for
    // `/home/u/proj`, `C:/proj/` for `C:\proj` (only Windows has paths of that shape).
    let uri_tail = |display: &str| display.replace('\\', "/").trim_start_matches('/').to_owned();
    let value = value.trim_start_matches('/');
    let mut out: Vec<String> = sandbox
        .allowed()
        .into_iter()
        .map(|d| format!("{}/", uri_tail(&d.path).trim_end_matches('/')))
        .filter(|tail| tail.starts_with(value))
        .collect();
    let (dir, _) = value.rsplit_once('/').unwrap_or(("", ""));
    if dir.is_empty() {
        return out;
    }
    let bytes = dir.as_bytes();
    let is_drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    let listed = if is_drive { dir.to_owned() } else { format!("/{dir}") };
    if let Ok(listing) = sandbox.list_directory(&listed, false, SortBy::Name) {
        for entry in listing.entries {
            let suffix = if entry.kind == Kind::Dir { "/" } else { "" };
            out.push(format!("{dir}/{}{suffix}", entry.name));
        }
    }
    out
}

/// The schema resource's text: a comment header (one line per table, then views) and every
/// CREATE statement.
fn schema_text(database: &Database, schema: &Schema) -> String {
    let mode = if database.writable() { "read-write" } else { "read-only" };
    let views = schema.objects.iter().filter(|(kind, _, _)| kind == "view").count();
    let mut text = format!(
        "-- database {} ({mode}): {} tables, {views} views\n",
        database.name(),
        schema.tables.len()
    );
    for (table, columns, rows) in &schema.tables {
        text.push_str(&format!("-- table {table}: {columns} columns, {rows}\n"));
    }
    for (kind, name, _) in &schema.objects {
        if kind == "view" {
            text.push_str(&format!("-- view {name}\n"));
        }
    }
    for (_, _, sql) in &schema.objects {
        if let Some(sql) = sql {
            text.push('\n');
            text.push_str(sql.trim_end_matches(';'));
            text.push_str(";\n");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_filters_sorts_and_caps() {
        let info = completion(vec!["orders".into(), "Order_items".into(), "books".into()], "ord");
        assert_eq!(info.values, vec!["Order_items", "orders"]);
        assert_eq!(info.has_more, Some(false));
        let many: Vec<String> = (0..250).map(|i| format!("t{i:03}")).collect();
        let info = completion(many, "t");
        assert_eq!(info.values.len(), 100);
        assert_eq!(info.total, Some(250));
        assert_eq!(info.has_more, Some(true));
    }
}
