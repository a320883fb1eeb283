//! SQLite values and result sets as plain Rust data, with the cell limits already applied. How they
//! look on the wire (JSON, Markdown, CSV) is the server's business. Imports nothing from the crate.

/// One SQL value: a bound parameter, or a result cell after the cell limit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// SQL NULL.
    Null,
    /// A 64-bit integer.
    Integer(i64),
    /// A double.
    Real(f64),
    /// Text; `omitted` counts the bytes cut off at the cell limit (0 when whole).
    Text { text: String, omitted: usize },
    /// A BLOB; `bytes` is empty and `omitted` is the size when it was over the cell limit.
    Blob { bytes: Vec<u8>, omitted: usize },
}

/// A result set (or one page of it).
#[derive(Debug, Clone, Default)]
pub(crate) struct Rows {
    /// Column names.
    pub(crate) columns: Vec<String>,
    /// Declared column types (`INTEGER`, `TEXT`, ...), `None` for expressions.
    pub(crate) types: Vec<Option<String>>,
    /// The rows of this page.
    pub(crate) rows: Vec<Vec<Value>>,
    /// Whether more rows follow (the page stopped at a row or byte limit).
    pub(crate) truncated: bool,
    /// The offset of the first row not returned, when `truncated`.
    pub(crate) next_offset: Option<u64>,
}

impl Value {
    /// Text, whole.
    pub(crate) fn text(text: impl Into<String>) -> Self {
        Value::Text { text: text.into(), omitted: 0 }
    }

    /// A BLOB, whole.
    pub(crate) fn blob(bytes: Vec<u8>) -> Self {
        Value::Blob { bytes, omitted: 0 }
    }

    /// About how many bytes this value takes in JSON, for the result-size limit.
    pub(crate) fn approx_json_len(&self) -> usize {
        match self {
            Value::Null => 4,
            Value::Integer(_) | Value::Real(_) => 20,
            Value::Text { text, .. } => text.len() + 2,
            Value::Blob { bytes, .. } => bytes.len() * 4 / 3 + 40,
        }
    }

    /// Builds a result cell, cutting text and summarising BLOBs longer than `max_cell` bytes.
    /// Text is cut at a character boundary (invalid UTF-8 is replaced, not trusted).
    pub(crate) fn cell(value: rusqlite::types::ValueRef<'_>, max_cell: usize) -> Self {
        use rusqlite::types::ValueRef;
        match value {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(f) => Value::Real(f),
            ValueRef::Text(bytes) => {
                if bytes.len() <= max_cell {
                    return Value::text(String::from_utf8_lossy(bytes).into_owned());
                }
                let mut cut = max_cell;
                while cut > 0 && bytes.get(cut).is_some_and(|b| b & 0xC0 == 0x80) {
                    cut -= 1;
                }
                let text = String::from_utf8_lossy(&bytes[..cut]).into_owned();
                Value::Text { text, omitted: bytes.len() - cut }
            }
            ValueRef::Blob(bytes) if bytes.len() <= max_cell => Value::blob(bytes.to_vec()),
            ValueRef::Blob(bytes) => Value::Blob { bytes: Vec::new(), omitted: bytes.len() },
        }
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text { text, .. } => ValueRef::Text(text.as_bytes()),
            Value::Blob { bytes, .. } => ValueRef::Blob(bytes),
        }))
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::types::ValueRef;

    use super::*;

    #[test]
    fn cells_are_cut_at_character_boundaries() {
        let text = "aé€😀".repeat(10);
        for max in 0..text.len() {
            match Value::cell(ValueRef::Text(text.as_bytes()), max) {
                Value::Text { text: cut, omitted } => {
                    assert!(text.starts_with(&cut), "max {max}");
                    assert_eq!(cut.len() + omitted, text.len());
                    assert!(cut.len() <= max && max - cut.len() < 4);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(Value::cell(ValueRef::Text(b"short"), 10), Value::text("short"));
    }

    #[test]
    fn large_blobs_are_summarised() {
        assert_eq!(Value::cell(ValueRef::Blob(&[1, 2]), 10), Value::blob(vec![1, 2]));
        assert_eq!(
            Value::cell(ValueRef::Blob(&[0; 11]), 10),
            Value::Blob { bytes: vec![], omitted: 11 }
        );
    }
}
