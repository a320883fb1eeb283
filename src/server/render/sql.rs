//! The SQL tools' structured outputs and renderers (shared with the database resources): pure
//! functions from database results to tool results, one cell contract for every form.

use std::hash::{DefaultHasher, Hash, Hasher};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD};
use rmcp::model::{CallToolResult, ContentBlock, Resource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use crate::db;
use crate::db::query::{RowCount, TableDescription, WriteOutcome};
use crate::db::value::{Rows, Value};
use crate::server::render::{human_size, structured};

/// Integers beyond this magnitude lose precision in JavaScript numbers, so they go out as strings.
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// How `read_query` shows rows in its text (structured output is always columnar JSON).
#[derive(Debug, Default, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Format {
    /// Compact columnar JSON (the default).
    #[default]
    Json,
    /// A Markdown table.
    Markdown,
    /// CSV with a header row.
    Csv,
}

/// The schema of `rows`: arrays of cells as `db::value` renders them.
fn rows_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {
            "type": "array",
            "items": {
                "anyOf": [
                    { "type": ["null", "number", "string"] },
                    {
                        "type": "object",
                        "description": "A BLOB: base64 ($base64, encoded), or only its size ($blob, size) when larger than --max-cell-bytes.",
                        "properties": {
                            "$base64": { "const": true },
                            "encoded": { "type": "string" },
                            "$blob": { "const": true },
                            "size": { "type": "integer", "minimum": 0 }
                        }
                    }
                ]
            }
        }
    })
}

/// A page of query results: compact columnar JSON.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct QueryOutput {
    /// Column names.
    pub(crate) columns: Vec<String>,
    /// Declared column types (null for expressions).
    pub(crate) types: Vec<Option<String>>,
    /// Rows as arrays, in column order. NULL is null; integers beyond 2^53 are strings; BLOBs are
    /// {"$base64": true, "encoded": ...}, or {"$blob": true, "size": N} when too large; long text
    /// is cut with a "…[cut: N more bytes]" marker.
    #[schemars(schema_with = "rows_schema")]
    pub(crate) rows: Vec<Vec<Json>>,
    /// Rows in this page.
    pub(crate) row_count: usize,
    /// Whether more rows follow.
    pub(crate) truncated: bool,
    /// Pass this as `cursor` (with the same query and params) for the next page.
    pub(crate) next_cursor: Option<String>,
}

/// Output of `write_query` and `create_table`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct WriteOutput {
    /// Rows inserted, updated or deleted.
    pub(crate) rows_changed: u64,
    /// The rows of a RETURNING clause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) returning: Option<QueryOutput>,
}

/// One table or view.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct TableOutput {
    /// Its name.
    pub(crate) name: String,
    /// "table" or "view".
    #[serde(rename = "type")]
    pub(crate) kind: String,
}

/// Output of `list_tables`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ListTablesOutput {
    /// The database.
    pub(crate) db: String,
    /// Its tables and views, by name.
    pub(crate) tables: Vec<TableOutput>,
}

/// One column.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ColumnOutput {
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) declared_type: String,
    pub(crate) not_null: bool,
    pub(crate) default: Option<String>,
    /// Position in the primary key (1-based), 0 if not part of it.
    pub(crate) primary_key: u32,
}

/// One index.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct IndexOutput {
    pub(crate) name: String,
    pub(crate) unique: bool,
    pub(crate) columns: Vec<String>,
}

/// One foreign key column.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ForeignKeyOutput {
    pub(crate) column: String,
    pub(crate) references_table: String,
    pub(crate) references_column: Option<String>,
    pub(crate) on_update: String,
    pub(crate) on_delete: String,
}

/// Output of `describe_table`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct DescribeTableOutput {
    pub(crate) db: String,
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) columns: Vec<ColumnOutput>,
    pub(crate) indexes: Vec<IndexOutput>,
    pub(crate) foreign_keys: Vec<ForeignKeyOutput>,
    /// Rows in the table: null for views, and for a table with more than --max-counted-rows
    /// rows (see row_count_more_than).
    pub(crate) row_count: Option<u64>,
    /// Set when counting stopped: the table has more rows than this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) row_count_more_than: Option<u64>,
    /// The table's size as ANALYZE recorded it in sqlite_stat1, when counting stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) row_count_estimate: Option<u64>,
    /// The CREATE statement.
    pub(crate) sql: Option<String>,
}

/// One database.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct DatabaseOutput {
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) writable: bool,
    pub(crate) size_bytes: u64,
    pub(crate) tables: usize,
}

/// Output of `list_databases`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ListDatabasesOutput {
    pub(crate) databases: Vec<DatabaseOutput>,
}

/// One step of a query plan.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct PlanStepOutput {
    pub(crate) id: i64,
    pub(crate) parent: i64,
    pub(crate) detail: String,
}

/// Output of `explain_query`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ExplainOutput {
    pub(crate) plan: Vec<PlanStepOutput>,
}

/// A cell as JSON, per the result contract.
pub(crate) fn cell_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Integer(i) if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(i) => json!(i),
        Value::Integer(i) => json!(i.to_string()),
        Value::Real(f) if f.is_finite() => json!(f),
        Value::Real(f) => json!(f.to_string()),
        Value::Text { text, omitted: 0 } => json!(text),
        Value::Text { text, omitted } => json!(format!("{text}…[cut: {omitted} more bytes]")),
        Value::Blob { bytes, omitted: 0 } => {
            json!({"$base64": true, "encoded": BASE64.encode(bytes)})
        }
        Value::Blob { omitted, .. } => json!({"$blob": true, "size": omitted}),
    }
}

/// A page of rows as columnar JSON; `fingerprint` (the query's) makes a cursor when more follow.
pub(crate) fn query_output(rows: Rows, fingerprint: Option<u64>) -> QueryOutput {
    let next_cursor = match (rows.next_offset, fingerprint) {
        (Some(offset), Some(fp)) => Some(encode_cursor(offset, fp)),
        _ => None,
    };
    QueryOutput {
        row_count: rows.rows.len(),
        truncated: rows.truncated,
        next_cursor,
        columns: rows.columns,
        types: rows.types,
        rows: rows.rows.iter().map(|r| r.iter().map(cell_json).collect()).collect(),
    }
}

pub(crate) fn render_rows(rows: Rows, fingerprint: u64, format: Format) -> CallToolResult {
    let output = query_output(rows, Some(fingerprint));
    let mut text = match format {
        Format::Json => serde_json::to_string(&output).unwrap_or_default(),
        Format::Markdown => markdown(&output),
        Format::Csv => csv(&output),
    };
    if !matches!(format, Format::Json) && output.truncated {
        text.push_str(&format!(
            "\n[{} rows shown; more follow: call again with cursor \"{}\" (--max-rows / --max-result-bytes)]",
            output.row_count,
            output.next_cursor.clone().unwrap_or_default()
        ));
    }
    structured(vec![ContentBlock::text(text)], &output)
}

pub(crate) fn render_write(db: &str, outcome: WriteOutcome) -> CallToolResult {
    let output = WriteOutput {
        rows_changed: outcome.changes,
        returning: outcome.returned.map(|rows| query_output(rows, None)),
    };
    let mut text = format!(
        "{} row{} changed in database \"{db}\"",
        output.rows_changed,
        if output.rows_changed == 1 { "" } else { "s" }
    );
    if let Some(returning) = &output.returning {
        text.push_str("\nRETURNING: ");
        text.push_str(&serde_json::to_string(returning).unwrap_or_default());
    }
    let link = Resource::new(format!("sqlite://{db}/schema"), format!("{db} schema"))
        .with_mime_type("application/sql");
    structured(vec![ContentBlock::text(text), ContentBlock::resource_link(link)], &output)
}

pub(crate) fn render_tables(db: &str, tables: Vec<db::query::TableEntry>) -> CallToolResult {
    let text = if tables.is_empty() {
        format!("database \"{db}\" has no tables")
    } else {
        tables
            .iter()
            .map(|t| {
                if t.kind == "table" { t.name.clone() } else { format!("{} ({})", t.name, t.kind) }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let output = ListTablesOutput {
        db: db.to_owned(),
        tables: tables.into_iter().map(|t| TableOutput { name: t.name, kind: t.kind }).collect(),
    };
    structured(vec![ContentBlock::text(text)], &output)
}

pub(crate) fn render_description(db: &str, d: TableDescription) -> CallToolResult {
    let mut text = format!("{} {} in database \"{db}\"", d.kind, d.name);
    if let Some(rows) = d.row_count {
        text.push_str(&format!(", {rows}"));
    }
    text.push_str("\ncolumns:\n");
    for c in d.columns.iter().filter(|c| !c.hidden) {
        let mut flags = Vec::new();
        if c.primary_key > 0 {
            flags.push("PRIMARY KEY".to_owned());
        }
        if c.not_null {
            flags.push("NOT NULL".to_owned());
        }
        if let Some(default) = &c.default {
            flags.push(format!("DEFAULT {default}"));
        }
        let declared = if c.declared_type.is_empty() { "(no type)" } else { &c.declared_type };
        text.push_str(&format!(
            "  {} {declared}{}{}\n",
            c.name,
            if flags.is_empty() { "" } else { " " },
            flags.join(" ")
        ));
    }
    if !d.indexes.is_empty() {
        text.push_str("indexes:\n");
        for i in &d.indexes {
            text.push_str(&format!(
                "  {}{} ({})\n",
                i.name,
                if i.unique { " UNIQUE" } else { "" },
                i.columns.join(", ")
            ));
        }
    }
    if !d.foreign_keys.is_empty() {
        text.push_str("foreign keys:\n");
        for f in &d.foreign_keys {
            text.push_str(&format!(
                "  {} -> {}({})\n",
                f.from,
                f.table,
                f.to.clone().unwrap_or_else(|| "primary key".to_owned())
            ));
        }
    }
    if let Some(sql) = &d.sql {
        text.push_str(&format!("sql:\n  {sql}"));
    }
    structured(vec![ContentBlock::text(text.trim_end().to_owned())], &describe_output(db, d))
}

/// A table description as structured output (also the table resource's body).
pub(crate) fn describe_output(db: &str, d: TableDescription) -> DescribeTableOutput {
    DescribeTableOutput {
        db: db.to_owned(),
        name: d.name,
        kind: d.kind,
        row_count: d.row_count.and_then(RowCount::exact),
        row_count_more_than: match d.row_count {
            Some(RowCount::MoreThan { counted, .. }) => Some(counted),
            _ => None,
        },
        row_count_estimate: match d.row_count {
            Some(RowCount::MoreThan { estimate, .. }) => estimate,
            _ => None,
        },
        sql: d.sql,
        columns: d
            .columns
            .into_iter()
            .filter(|c| !c.hidden)
            .map(|c| ColumnOutput {
                name: c.name,
                declared_type: c.declared_type,
                not_null: c.not_null,
                default: c.default,
                primary_key: c.primary_key,
            })
            .collect(),
        indexes: d
            .indexes
            .into_iter()
            .map(|i| IndexOutput { name: i.name, unique: i.unique, columns: i.columns })
            .collect(),
        foreign_keys: d
            .foreign_keys
            .into_iter()
            .map(|f| ForeignKeyOutput {
                column: f.from,
                references_table: f.table,
                references_column: f.to,
                on_update: f.on_update,
                on_delete: f.on_delete,
            })
            .collect(),
    }
}

pub(crate) fn render_databases(databases: Vec<DatabaseOutput>) -> CallToolResult {
    let text = databases
        .iter()
        .map(|d| {
            format!(
                "{}: {} ({}, {} tables, {})",
                d.name,
                d.path,
                if d.writable { "read-write" } else { "read-only" },
                d.tables,
                human_size(d.size_bytes)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    structured(vec![ContentBlock::text(text)], &ListDatabasesOutput { databases })
}

pub(crate) fn render_plan(rows: Rows) -> CallToolResult {
    let plan: Vec<PlanStepOutput> = rows
        .rows
        .iter()
        .map(|r| {
            let int = |v: Option<&Value>| if let Some(Value::Integer(i)) = v { *i } else { 0 };
            let detail = match r.get(3) {
                Some(Value::Text { text, .. }) => text.clone(),
                _ => String::new(),
            };
            PlanStepOutput { id: int(r.first()), parent: int(r.get(1)), detail }
        })
        .collect();
    let mut text = String::from("QUERY PLAN\n");
    fn walk(plan: &[PlanStepOutput], parent: i64, depth: usize, text: &mut String) {
        for step in plan.iter().filter(|s| s.parent == parent) {
            text.push_str(&format!("{}- {}\n", "  ".repeat(depth), step.detail));
            if step.id != parent {
                walk(plan, step.id, depth + 1, text);
            }
        }
    }
    walk(&plan, 0, 0, &mut text);
    structured(vec![ContentBlock::text(text.trim_end().to_owned())], &ExplainOutput { plan })
}

fn markdown(output: &QueryOutput) -> String {
    let escape = |s: String| s.replace('|', "\\|").replace('\n', " ");
    let mut text = format!(
        "| {} |\n|{}|\n",
        output.columns.iter().map(|c| escape(c.clone())).collect::<Vec<_>>().join(" | "),
        vec!["---"; output.columns.len()].join("|")
    );
    for row in &output.rows {
        text.push_str(&format!(
            "| {} |\n",
            row.iter().map(|v| escape(plain(v))).collect::<Vec<_>>().join(" | ")
        ));
    }
    text.trim_end().to_owned()
}

fn csv(output: &QueryOutput) -> String {
    let field = |s: String| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    };
    let mut text = output.columns.iter().map(|c| field(c.clone())).collect::<Vec<_>>().join(",");
    for row in &output.rows {
        text.push('\n');
        text.push_str(&row.iter().map(|v| field(plain(v))).collect::<Vec<_>>().join(","));
    }
    text
}

/// A cell for Markdown or CSV: strings bare, NULL empty, everything else as JSON.
fn plain(value: &Json) -> String {
    match value {
        Json::Null => String::new(),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Identifies a query (database, SQL, params) so a cursor cannot be replayed on another one.
pub(crate) fn fingerprint(db: &str, query: &str, params: Option<&[Json]>) -> u64 {
    let mut hasher = DefaultHasher::new();
    db.hash(&mut hasher);
    query.hash(&mut hasher);
    serde_json::to_string(&params).unwrap_or_default().hash(&mut hasher);
    hasher.finish()
}

pub(crate) fn encode_cursor(offset: u64, fingerprint: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{offset}:{fingerprint:x}"))
}

pub(crate) fn decode_cursor(cursor: &str, fingerprint: u64) -> Option<u64> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let (offset, fp) = text.split_once(':')?;
    (u64::from_str_radix(fp, 16).ok()? == fingerprint).then_some(())?;
    offset.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_follow_the_json_contract() {
        assert_eq!(cell_json(&Value::Null), Json::Null);
        assert_eq!(cell_json(&Value::Integer(42)), json!(42));
        assert_eq!(cell_json(&Value::Integer(MAX_SAFE_INTEGER)), json!(MAX_SAFE_INTEGER));
        assert_eq!(cell_json(&Value::Integer(MAX_SAFE_INTEGER + 1)), json!("9007199254740992"));
        assert_eq!(cell_json(&Value::Integer(i64::MIN)), json!("-9223372036854775808"));
        assert_eq!(cell_json(&Value::Real(1.5)), json!(1.5));
        assert_eq!(cell_json(&Value::Real(f64::INFINITY)), json!("inf"));
        assert_eq!(cell_json(&Value::text("1")), json!("1"));
        assert_eq!(
            cell_json(&Value::Text { text: "ab".into(), omitted: 3 }),
            json!("ab…[cut: 3 more bytes]")
        );
        assert_eq!(
            cell_json(&Value::blob(vec![0, 255])),
            json!({"$base64": true, "encoded": "AP8="})
        );
        assert_eq!(
            cell_json(&Value::Blob { bytes: vec![], omitted: 9000 }),
            json!({"$blob": true, "size": 9000})
        );
    }

    #[test]
    fn cursors_are_bound_to_their_query() {
        let fp = fingerprint("shop", "SELECT 1", None);
        let cursor = encode_cursor(500, fp);
        assert_eq!(decode_cursor(&cursor, fp), Some(500));
        assert_eq!(decode_cursor(&cursor, fingerprint("shop", "SELECT 2", None)), None);
        assert_eq!(
            decode_cursor(&cursor, fingerprint("shop", "SELECT 1", Some(&[json!(1)]))),
            None
        );
        assert_eq!(decode_cursor("garbage", fp), None);
    }

    #[test]
    fn markdown_and_csv_escape() {
        let output = QueryOutput {
            columns: vec!["a".into(), "b".into()],
            types: vec![None, None],
            rows: vec![vec![json!("x|y"), json!(null)], vec![json!("q\"uote,d"), json!(3)]],
            row_count: 2,
            truncated: false,
            next_cursor: None,
        };
        assert_eq!(markdown(&output), "| a | b |\n|---|---|\n| x\\|y |  |\n| q\"uote,d | 3 |");
        assert_eq!(csv(&output), "a,b\nx|y,\n\"q\"\"uote,d\",3");
    }
}
