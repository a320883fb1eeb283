//! The SQL tools' renderers (shared with the database resources): pure functions from database
//! results to tool results, one cell contract for every form. The output shapes are in
//! `sql_outputs.rs`.

use std::hash::{DefaultHasher, Hash, Hasher};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rmcp::model::{CallToolResult, ContentBlock, Resource};
use serde_json::Value as Json;

use crate::db;
use crate::db::query::{RowCount, TableDescription, WriteOutcome};
use crate::db::value::{Rows, Value};
pub(crate) use crate::server::render::sql_outputs::*;
use crate::server::render::{human_size, structured, structured_json};

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
        rows: rows.rows.into_iter().map(|r| r.into_iter().map(Cell).collect()).collect(),
    }
}

pub(crate) fn render_rows(rows: Rows, fingerprint: u64, format: Format) -> CallToolResult {
    let output = query_output(rows, Some(fingerprint));
    if matches!(format, Format::Json) {
        // The text is the structured output itself: serialized once, for both.
        return match serde_json::to_vec(&output) {
            Ok(json) => {
                let text = String::from_utf8_lossy(&json).into_owned();
                structured_json(vec![ContentBlock::text(text)], json)
            }
            Err(err) => {
                tracing::error!(error = %err, "could not serialize a page of rows");
                CallToolResult::error(vec![ContentBlock::text(format!(
                    "could not serialize the rows: {err}"
                ))])
            }
        };
    }
    let mut text = match format {
        Format::Json => unreachable!("answered above"),
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
        change: None,
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
fn plain(cell: &Cell) -> String {
    match cell_json(&cell.0) {
        Json::Null => String::new(),
        Json::String(s) => s,
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
    use serde_json::json;

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
    fn a_cell_serializes_to_exactly_its_json() {
        let cells = [
            Value::Null,
            Value::Integer(42),
            Value::Integer(-MAX_SAFE_INTEGER),
            Value::Integer(MAX_SAFE_INTEGER + 1),
            Value::Integer(i64::MIN),
            Value::Real(1.5),
            Value::Real(-0.1),
            Value::Real(1e300),
            Value::Real(f64::NAN),
            Value::Real(f64::NEG_INFINITY),
            Value::text("quote \" and \\ and \u{1} and é"),
            Value::Text { text: "ab".into(), omitted: 3 },
            Value::blob(vec![0, 255, 7]),
            Value::Blob { bytes: vec![], omitted: 9000 },
        ];
        for value in cells {
            let direct = serde_json::to_string(&Cell(value.clone())).unwrap();
            assert_eq!(direct, cell_json(&value).to_string(), "{value:?}");
        }
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
            rows: vec![
                vec![Cell(Value::text("x|y")), Cell(Value::Null)],
                vec![Cell(Value::text("q\"uote,d")), Cell(Value::Integer(3))],
            ],
            row_count: 2,
            truncated: false,
            next_cursor: None,
        };
        assert_eq!(markdown(&output), "| a | b |\n|---|---|\n| x\\|y |  |\n| q\"uote,d | 3 |");
        assert_eq!(csv(&output), "a,b\nx|y,\n\"q\"\"uote,d\",3");
    }
}
