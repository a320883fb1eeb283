//! Introspection: tables, their columns, indexes and foreign keys, sample rows and the whole
//! schema, read from `sqlite_schema` and the `pragma_*` table-valued functions with the names
//! bound, never spliced. Each runs as one bounded call of the `Session`.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::db::error::{Error, Result};
use crate::db::query::{Session, collect};
use crate::db::value::Rows;

/// A table or view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableEntry {
    /// Its name.
    pub(crate) name: String,
    /// "table" or "view".
    pub(crate) kind: String,
}

/// One column of a table.
#[derive(Debug, Clone)]
pub(crate) struct ColumnInfo {
    pub(crate) name: String,
    pub(crate) declared_type: String,
    pub(crate) not_null: bool,
    pub(crate) default: Option<String>,
    /// Position in the primary key (1-based), 0 if not part of it.
    pub(crate) primary_key: u32,
    pub(crate) hidden: bool,
}

/// One index of a table.
#[derive(Debug, Clone)]
pub(crate) struct IndexInfo {
    pub(crate) name: String,
    pub(crate) unique: bool,
    pub(crate) columns: Vec<String>,
}

/// One foreign key column mapping of a table.
#[derive(Debug, Clone)]
pub(crate) struct ForeignKeyInfo {
    pub(crate) from: String,
    pub(crate) table: String,
    pub(crate) to: Option<String>,
    pub(crate) on_update: String,
    pub(crate) on_delete: String,
}

/// Everything `describe_table` and the table resource show.
#[derive(Debug, Clone)]
pub(crate) struct TableDescription {
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) sql: Option<String>,
    pub(crate) columns: Vec<ColumnInfo>,
    pub(crate) indexes: Vec<IndexInfo>,
    pub(crate) foreign_keys: Vec<ForeignKeyInfo>,
    /// Row count (tables only; `None` for views).
    pub(crate) row_count: Option<RowCount>,
}

/// How many rows a table has, counted up to `--max-counted-rows` so that describing a table costs
/// the same whatever its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowCount {
    /// Counted to the end.
    Exact(u64),
    /// Counting stopped after `counted` rows; `estimate` is the table's size from `sqlite_stat1`
    /// (written by `ANALYZE`), when there is one.
    MoreThan { counted: u64, estimate: Option<u64> },
}

impl RowCount {
    /// The exact count, when the count finished.
    pub(crate) fn exact(self) -> Option<u64> {
        match self {
            RowCount::Exact(n) => Some(n),
            RowCount::MoreThan { .. } => None,
        }
    }
}

impl std::fmt::Display for RowCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RowCount::Exact(n) => write!(f, "{n} rows"),
            RowCount::MoreThan { counted, estimate } => {
                write!(f, "more than {counted} rows (")?;
                if let Some(estimate) = estimate {
                    write!(f, "about {estimate} by sqlite_stat1; ")?;
                }
                write!(f, "counting stops there; SELECT count(*) gives the exact number)")
            }
        }
    }
}

/// The whole schema: every object's DDL, and per table a column and row count.
#[derive(Debug, Clone)]
pub(crate) struct Schema {
    /// `(type, name, sql)` of every object, tables first.
    pub(crate) objects: Vec<(String, String, Option<String>)>,
    /// `(table, columns, rows)` for every table.
    pub(crate) tables: Vec<(String, usize, RowCount)>,
}

impl Session {
    /// Tables and views, by name (internal `sqlite_` tables left out).
    pub(crate) fn tables(&mut self, cancel: &Arc<AtomicBool>) -> Result<Vec<TableEntry>> {
        self.call(cancel, None, |session| {
            session.query_rows(
                "SELECT name, type FROM sqlite_schema WHERE type IN ('table', 'view') \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
                [],
                |row| Ok(TableEntry { name: row.get(0)?, kind: row.get(1)? }),
            )
        })
    }

    /// Columns, indexes, foreign keys and row count of a table or view. The name is bound, never
    /// spliced, and must name an existing table or view (case-insensitively).
    pub(crate) fn describe(
        &mut self,
        table: &str,
        cancel: &Arc<AtomicBool>,
    ) -> Result<TableDescription> {
        self.call(cancel, None, |session| session.describe_inner(table))
    }

    /// Up to `limit` rows of a table (for the table resource).
    pub(crate) fn sample(
        &mut self,
        table: &str,
        limit: usize,
        cancel: &Arc<AtomicBool>,
    ) -> Result<Rows> {
        self.call(cancel, None, |session| {
            let (name, _, _) = session.find_table(table)?;
            let mut stmt = session
                .conn
                .prepare(&format!("SELECT * FROM {} LIMIT {limit}", quote_ident(&name)))
                .map_err(|e| session.map_err(e))?;
            let mut limits = session.limits.clone();
            limits.max_rows = limit;
            collect(&mut stmt, 0, &limits, false).map_err(|e| session.map_err(e))
        })
    }

    /// Every object's DDL and a per-table summary.
    pub(crate) fn schema(&mut self, cancel: &Arc<AtomicBool>) -> Result<Schema> {
        self.call(cancel, None, |session| {
            let objects: Vec<(String, String, Option<String>)> = session.query_rows(
                "SELECT type, name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
                 ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'view' THEN 1 WHEN 'index' THEN 2 ELSE 3 END, name",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )?;
            let mut tables = Vec::new();
            for (kind, name, _) in &objects {
                if kind != "table" {
                    continue;
                }
                let columns: i64 = session
                    .conn
                    .query_row("SELECT count(*) FROM pragma_table_xinfo(?1)", [name], |r| r.get(0))
                    .map_err(|e| session.map_err(e))?;
                let columns = usize::try_from(columns).unwrap_or_default();
                let rows = session.count_rows(name)?;
                tables.push((name.clone(), columns, rows));
            }
            Ok(Schema { objects, tables })
        })
    }

    /// The number of tables and views.
    pub(crate) fn table_count(&mut self, cancel: &Arc<AtomicBool>) -> Result<usize> {
        self.tables(cancel).map(|t| t.len())
    }

    /// The database's size in bytes (pages times page size; a WAL file is not counted).
    pub(crate) fn size_bytes(&mut self) -> Result<u64> {
        self.conn
            .query_row(
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n.max(0) as u64)
            .map_err(|e| self.map_err(e))
    }

    fn describe_inner(&mut self, table: &str) -> Result<TableDescription> {
        let (name, kind, sql) = self.find_table(table)?;
        let columns = self.query_rows(
            "SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?1) ORDER BY cid",
            [&name],
            |r| {
                Ok(ColumnInfo {
                    name: r.get(0)?,
                    declared_type: r.get(1)?,
                    not_null: r.get::<_, i64>(2)? != 0,
                    default: r.get(3)?,
                    primary_key: r.get(4)?,
                    hidden: r.get::<_, i64>(5)? != 0,
                })
            },
        )?;
        let mut indexes = self.query_rows(
            "SELECT name, \"unique\" FROM pragma_index_list(?1) ORDER BY name",
            [&name],
            |r| {
                Ok(IndexInfo {
                    name: r.get(0)?,
                    unique: r.get::<_, i64>(1)? != 0,
                    columns: Vec::new(),
                })
            },
        )?;
        for index in &mut indexes {
            index.columns = self.query_rows(
                "SELECT coalesce(name, '<expression>') FROM pragma_index_info(?1) ORDER BY seqno",
                [&index.name],
                |r| r.get(0),
            )?;
        }
        let foreign_keys = self.query_rows(
            "SELECT \"from\", \"table\", \"to\", on_update, on_delete FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
            [&name],
            |r| {
                Ok(ForeignKeyInfo {
                    from: r.get(0)?,
                    table: r.get(1)?,
                    to: r.get(2)?,
                    on_update: r.get(3)?,
                    on_delete: r.get(4)?,
                })
            },
        )?;
        let row_count = if kind == "table" { Some(self.count_rows(&name)?) } else { None };
        Ok(TableDescription { name, kind, sql, columns, indexes, foreign_keys, row_count })
    }

    /// Every row of `sql` (the server's own introspection query) with `params`, each mapped by
    /// `map`.
    fn query_rows<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.map_err(e))?;
        stmt.query_map(params, map).and_then(Iterator::collect).map_err(|e| self.map_err(e))
    }

    /// The table or view named `table` (case-insensitive), as `(name, type, sql)`.
    fn find_table(&self, table: &str) -> Result<(String, String, Option<String>)> {
        self.conn
            .query_row(
                "SELECT name, type, sql FROM sqlite_schema WHERE type IN ('table', 'view') AND name = ?1 COLLATE NOCASE",
                [table],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Error::NoSuchTable { db: self.name.clone(), table: table.to_owned() },
                other => self.map_err(other),
            })
    }

    /// The table's rows, counted up to `--max-counted-rows`: a full `count(*)` reads every page
    /// of the table (seconds at 100M rows), so the count stops one row past the bound.
    fn count_rows(&self, table: &str) -> Result<RowCount> {
        let bound = u64::try_from(self.limits.max_counted_rows).unwrap_or(u64::MAX);
        let sql = format!(
            "SELECT count(*) FROM (SELECT 1 FROM {} LIMIT {})",
            quote_ident(table),
            bound.saturating_add(1).min(i64::MAX as u64)
        );
        let counted = self
            .conn
            .query_row(&sql, [], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
            .map_err(|e| self.map_err(e))?;
        if counted <= bound {
            return Ok(RowCount::Exact(counted));
        }
        Ok(RowCount::MoreThan { counted: bound, estimate: self.stat1_rows(table)? })
    }

    /// The table's row count as `ANALYZE` last recorded it in `sqlite_stat1` (the first number of
    /// any of its rows), if the database has that table and a row for this one.
    fn stat1_rows(&self, table: &str) -> Result<Option<u64>> {
        let has_stat1: bool = self
            .conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_stat1')",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.map_err(e))?;
        if !has_stat1 {
            return Ok(None);
        }
        let stat: Option<String> = self
            .conn
            .query_row(
                "SELECT stat FROM sqlite_stat1 WHERE tbl = ?1 ORDER BY idx IS NOT NULL LIMIT 1",
                [table],
                |r| r.get(0),
            )
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                other => Err(other),
            })
            .map_err(|e| self.map_err(e))?;
        Ok(stat.and_then(|s| s.split_whitespace().next()?.parse().ok()))
    }
}

/// Quotes an identifier for SQL: `"name"` with inner quotes doubled. Used only for names read
/// back from `sqlite_schema`.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use crate::db::query::tests::{database, flag};

    use super::*;

    #[test]
    fn describe_binds_the_name() {
        let (_dir, mut session) = database(false);
        let t = session.describe("T", &flag()).unwrap();
        assert_eq!(t.name, "t");
        assert_eq!(t.columns.len(), 3);
        assert_eq!(t.indexes[0].columns, vec!["name"]);
        assert_eq!(t.row_count, Some(RowCount::Exact(3)));
        let err = session.describe("x); DROP TABLE t; --", &flag()).unwrap_err();
        assert!(matches!(err, Error::NoSuchTable { .. }), "{err}");
        assert_eq!(session.describe("t", &flag()).unwrap().row_count, Some(RowCount::Exact(3)));
    }

    #[test]
    fn counting_stops_one_past_the_bound_and_reports_sqlite_stat1s_estimate() {
        let (_dir, mut session) = database(true);
        // t has 3 rows: a bound of 3 still counts them exactly; 2 stops and says "more than".
        session.limits.max_counted_rows = 3;
        assert_eq!(session.describe("t", &flag()).unwrap().row_count, Some(RowCount::Exact(3)));
        session.limits.max_counted_rows = 2;
        let more = RowCount::MoreThan { counted: 2, estimate: None };
        assert_eq!(session.describe("t", &flag()).unwrap().row_count, Some(more));
        assert_eq!(session.schema(&flag()).unwrap().tables[0].2, more);
        // After ANALYZE (run by the owner, outside the server), the estimate comes with it.
        session.conn.execute_batch("ANALYZE").unwrap();
        let estimated = RowCount::MoreThan { counted: 2, estimate: Some(3) };
        assert_eq!(session.describe("t", &flag()).unwrap().row_count, Some(estimated));
        assert!(estimated.to_string().starts_with("more than 2 rows (about 3 by sqlite_stat1"));
        // Views are not counted.
        assert_eq!(session.describe("v", &flag()).unwrap().row_count, None);
    }
}
