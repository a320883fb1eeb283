//! The SQL tools' parameters: the shapes of their `inputSchema`, with the reference server's
//! names, and the conversion of JSON `params` to SQL values.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value as Json;

use crate::db::value::Value;
pub(crate) use crate::server::render::sql::Format;

/// Which database, when several are open.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub(crate) struct DbParams {
    /// The database name (see list_databases); needed only when several databases are open.
    pub(crate) db: Option<String>,
}

/// Parameters of `describe_table`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct DescribeTableParams {
    /// The table or view to describe.
    pub(crate) table_name: String,
    /// The database name; needed only when several databases are open.
    pub(crate) db: Option<String>,
}

/// Parameters of `read_query`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ReadQueryParams {
    /// One SQL statement that reads (SELECT, WITH ... SELECT, introspection PRAGMAs).
    pub(crate) query: String,
    /// Values for the ?1, ?2, ... placeholders: null, numbers, strings, booleans, or
    /// {"$base64": true, "encoded": "..."} for BLOBs.
    #[schemars(schema_with = "param_values_schema")]
    pub(crate) params: Option<Vec<Json>>,
    /// The database name; needed only when several databases are open.
    pub(crate) db: Option<String>,
    /// How to show rows in the text: "json" (default), "markdown" or "csv".
    #[serde(default)]
    pub(crate) format: Format,
    /// The next_cursor of the previous page, to get the next page (send the same query and params).
    pub(crate) cursor: Option<String>,
}

/// Parameters of `write_query` and `explain_query`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct WriteQueryParams {
    /// One SQL statement.
    pub(crate) query: String,
    /// Values for the ?1, ?2, ... placeholders (as in read_query).
    #[schemars(schema_with = "param_values_schema")]
    pub(crate) params: Option<Vec<Json>>,
    /// The database name; needed only when several databases are open.
    pub(crate) db: Option<String>,
}

/// Parameters of `create_table`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct CreateTableParams {
    /// One CREATE TABLE statement.
    pub(crate) query: String,
    /// The database name; needed only when several databases are open.
    pub(crate) db: Option<String>,
}

/// The schema of `params`: an optional array of SQL values as JSON (what `parse_params` takes).
fn param_values_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": ["array", "null"],
        "items": {
            "anyOf": [
                { "type": ["null", "boolean", "number", "string"] },
                {
                    "type": "object",
                    "description": "A BLOB, base64-encoded.",
                    "properties": {
                        "$base64": { "const": true },
                        "encoded": { "type": "string" }
                    },
                    "required": ["$base64", "encoded"]
                }
            ]
        }
    })
}

/// Converts JSON params to SQL values: null, booleans (as 0/1), integers, floats, strings, and
/// {"$base64": true, "encoded": "..."} BLOBs.
pub(crate) fn parse_params(params: Option<&[Json]>) -> Result<Vec<Value>, String> {
    let Some(params) = params else { return Ok(Vec::new()) };
    params
        .iter()
        .enumerate()
        .map(|(idx, param)| match param {
            Json::Null => Ok(Value::Null),
            Json::Bool(b) => Ok(Value::Integer(i64::from(*b))),
            Json::Number(n) => n.as_i64().map(Value::Integer).or_else(|| n.as_f64().map(Value::Real)).ok_or_else(|| format!("params[{idx}]: {n} is out of range")),
            Json::String(s) => Ok(Value::text(s.clone())),
            Json::Object(o) if o.get("$base64") == Some(&Json::Bool(true)) => {
                let encoded = o.get("encoded").and_then(Json::as_str).ok_or_else(|| format!("params[{idx}]: a BLOB needs \"encoded\""))?;
                BASE64.decode(encoded).map(Value::blob).map_err(|e| format!("params[{idx}]: invalid base64: {e}"))
            }
            _ => Err(format!(
                "params[{idx}]: use null, a number, a string, a boolean, or {{\"$base64\": true, \"encoded\": \"...\"}} for a BLOB"
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn params_parse_every_json_kind() {
        let params = vec![
            json!(null),
            json!(true),
            json!(7),
            json!(2.5),
            json!("x"),
            json!({"$base64": true, "encoded": "AP8="}),
        ];
        assert_eq!(
            parse_params(Some(&params)).unwrap(),
            vec![
                Value::Null,
                Value::Integer(1),
                Value::Integer(7),
                Value::Real(2.5),
                Value::text("x"),
                Value::blob(vec![0, 255])
            ]
        );
        assert!(parse_params(Some(&[json!([1])])).unwrap_err().contains("params[0]"));
        assert!(
            parse_params(Some(&[json!({"$base64": true, "encoded": "!!"})]))
                .unwrap_err()
                .contains("base64")
        );
    }
}
