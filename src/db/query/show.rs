//! What a recorded SQL change did, for `show_change`: its row changes one per line (`+`
//! inserted, `-` deleted, `~` updated with old → new values), columns named as the tables name
//! them now, capped.

use rusqlite::fallible_streaming_iterator::FallibleStreamingIterator;
use rusqlite::hooks::Action;
use rusqlite::session::ChangesetIter;
use rusqlite::types::ValueRef;

use crate::db::error::{Error, Result};
use crate::db::query::Session;

impl Session {
    /// The row changes of a changeset, one per line (at most `max_rows` lines and about
    /// `max_bytes`), with the columns named as the tables name them now.
    pub(crate) fn show_changeset(
        &mut self,
        changeset: &[u8],
        max_rows: usize,
        max_bytes: usize,
    ) -> Result<String> {
        let mut input: &[u8] = changeset;
        let reader: &mut dyn std::io::Read = &mut input;
        let mut iter = ChangesetIter::start_strm(&reader).map_err(Error::sql)?;
        let mut names: Vec<(String, Vec<String>)> = Vec::new();
        let mut out = String::new();
        let mut shown = 0usize;
        let mut total = 0usize;
        while let Some(item) = iter.next().map_err(Error::sql)? {
            total += 1;
            if shown >= max_rows || out.len() >= max_bytes {
                continue;
            }
            let op = item.op().map_err(Error::sql)?;
            let table = op.table_name().to_owned();
            if !names.iter().any(|(t, _)| *t == table) {
                let columns = self.column_names(&table);
                names.push((table.clone(), columns));
            }
            let columns = &names.iter().find(|(t, _)| *t == table).expect("just added").1;
            let n = usize::try_from(op.number_of_columns()).unwrap_or(0);
            let name =
                |i: usize| columns.get(i).cloned().unwrap_or_else(|| format!("column {}", i + 1));
            let line = match op.code() {
                Action::SQLITE_INSERT => {
                    format!("+ {table}: {}", values(n, &name, |i| item.new_value(i)))
                }
                Action::SQLITE_DELETE => {
                    format!("- {table}: {}", values(n, &name, |i| item.old_value(i)))
                }
                _ => {
                    let pk = item.pk().map_err(Error::sql)?.to_vec();
                    let key = values_where(
                        n,
                        &name,
                        |i| pk.get(i).is_some_and(|&b| b != 0),
                        |i| item.old_value(i),
                    );
                    // An UPDATE holds new values only for the columns it changed.
                    let sets: Vec<String> = (0..n)
                        .filter_map(|i| {
                            let new = item.new_value(i).ok()?;
                            let old = item.old_value(i).ok()?;
                            Some(format!("{} {} → {}", name(i), shown_value(old), shown_value(new)))
                        })
                        .collect();
                    format!("~ {table} ({key}): {}", sets.join(", "))
                }
            };
            out.push_str(&line);
            out.push('\n');
            shown += 1;
        }
        if total > shown {
            out.push_str(&format!("… and {} more row change(s)\n", total - shown));
        }
        if total == 0 {
            out.push_str("No rows were changed.\n");
        }
        Ok(out)
    }

    fn column_names(&self, table: &str) -> Vec<String> {
        let Ok(mut stmt) = self.conn.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
        else {
            return Vec::new();
        };
        stmt.query_map([table], |row| row.get(0))
            .map(|rows| rows.filter_map(|r| r.ok()).collect())
            .unwrap_or_default()
    }
}

pub(super) fn shown_value(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => "NULL".to_owned(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Text(t) => {
            let text = String::from_utf8_lossy(t);
            let cut: String = text.chars().take(80).collect();
            let more = if cut.len() < text.len() { "…" } else { "" };
            format!("'{}{more}'", cut.replace('\'', "''"))
        }
        ValueRef::Blob(b) => format!("<BLOB of {} bytes>", b.len()),
    }
}

fn values<'a>(
    n: usize,
    name: &dyn Fn(usize) -> String,
    value: impl Fn(usize) -> rusqlite::Result<ValueRef<'a>>,
) -> String {
    values_where(n, name, |_| true, value)
}

fn values_where<'a>(
    n: usize,
    name: &dyn Fn(usize) -> String,
    keep: impl Fn(usize) -> bool,
    value: impl Fn(usize) -> rusqlite::Result<ValueRef<'a>>,
) -> String {
    (0..n)
        .filter(|&i| keep(i))
        .filter_map(|i| value(i).ok().map(|v| format!("{}={}", name(i), shown_value(v))))
        .collect::<Vec<_>>()
        .join(", ")
}
