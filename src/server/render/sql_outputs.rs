//! The SQL tools' structured outputs: the shapes of their `outputSchema` and
//! `structuredContent`, the one contract for a cell, and how `read_query` may show rows in its
//! text.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value as Json, json};

use crate::db::value::Value;

/// Integers beyond this magnitude lose precision in JavaScript numbers, so they go out as strings.
pub(crate) const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

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
    pub(crate) rows: Vec<Vec<Cell>>,
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
    /// The change journal's record of this change (absent with `--history off`): its id for
    /// undo_change, or why it cannot be undone. Filled in after rendering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) change: Option<crate::server::history::Recorded>,
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

/// A result cell, serialized straight from the database's value as `cell_json` shows it: a page of
/// 10,000 rows becomes JSON text without a `serde_json::Value` per cell on the way.
#[derive(Debug)]
pub(crate) struct Cell(pub(crate) Value);

impl Serialize for Cell {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match &self.0 {
            Value::Null => serializer.serialize_unit(),
            Value::Integer(i) if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(i) => {
                serializer.serialize_i64(*i)
            }
            Value::Integer(i) => serializer.collect_str(i),
            Value::Real(f) if f.is_finite() => serializer.serialize_f64(*f),
            Value::Real(f) => serializer.collect_str(f),
            Value::Text { text, omitted: 0 } => serializer.serialize_str(text),
            Value::Text { text, omitted } => {
                serializer.collect_str(&format_args!("{text}…[cut: {omitted} more bytes]"))
            }
            Value::Blob { bytes, omitted: 0 } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("$base64", &true)?;
                map.serialize_entry("encoded", &BASE64.encode(bytes))?;
                map.end()
            }
            Value::Blob { omitted, .. } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("$blob", &true)?;
                map.serialize_entry("size", omitted)?;
                map.end()
            }
        }
    }
}
