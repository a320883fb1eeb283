//! What SQL may do, decided by SQLite's authorizer rather than by looking at SQL text.
//!
//! `authorize` is called by the engine for every action a statement would take (reading a column,
//! calling a function, inserting into a table, attaching a file, running a pragma, ...) while the
//! statement is compiled. It is deny-by-default: each access mode lists what it allows, and
//! everything else is refused with a reason the model can act on. Pure: no I/O, no connection.
//! Imports nothing from the crate.

use rusqlite::hooks::{AuthAction, AuthContext};

/// What a call may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read data and schema: `read_query`, `explain_query` on read-only databases.
    Read,
    /// Change data and schema of the main database: `write_query` on `--db-rw` databases.
    Write,
    /// Only `CREATE TABLE`: the `create_table` tool.
    CreateTable,
}

/// Pragmas that only report on the schema or the database; allowed with or without an argument
/// (the argument names a table or index, or limits a check).
pub(crate) const INTROSPECTION_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "foreign_key_check",
    "integrity_check",
    "quick_check",
];

/// Pragmas that report a setting; allowed only without a value (a value would change it).
pub(crate) const SETTING_PRAGMAS: &[&str] = &[
    "application_id",
    "collation_list",
    "compile_options",
    "data_version",
    "encoding",
    "foreign_keys",
    "freelist_count",
    "function_list",
    "journal_mode",
    "module_list",
    "page_count",
    "page_size",
    "pragma_list",
    "schema_version",
    "user_version",
];

/// Functions refused everywhere: they load code or expose raw pointers.
pub(crate) const DENIED_FUNCTIONS: &[&str] = &["load_extension", "fts3_tokenizer", "fts5"];

/// Virtual-table modules a writable database may create tables with.
pub(crate) const ALLOWED_VTAB_MODULES: &[&str] = &["fts3", "fts4", "fts5", "rtree", "rtree_i32"];

const TEMP_REFUSAL: &str = "temporary tables, views, indexes and triggers are not allowed: they could shadow the database's own tables";

/// Decides one authorizer callback: `Ok` to allow, `Err(reason)` to refuse the whole statement.
/// `created` names the tables this statement has created so far (the `CreateTable` actions
/// already allowed), whose automatic indexes are part of the same `CREATE TABLE`.
///
/// Long because it is one match over SQLite's authorizer actions: a table of decisions,
/// which reads best whole.
pub(crate) fn authorize(
    access: Access,
    ctx: &AuthContext<'_>,
    created: &[String],
) -> Result<(), String> {
    use AuthAction as A;
    let temp = ctx.database_name == Some("temp");
    match &ctx.action {
        A::Select | A::Read { .. } | A::Recursive => Ok(()),
        A::Function { function_name } => {
            let name = function_name.to_ascii_lowercase();
            if DENIED_FUNCTIONS.contains(&name.as_str()) {
                Err(format!("the function {name}() is not allowed"))
            } else {
                Ok(())
            }
        }
        A::Pragma { pragma_name, pragma_value } => pragma(pragma_name, *pragma_value),
        A::Attach { .. } | A::Detach { .. } => Err(
            "ATTACH, DETACH and VACUUM are not allowed: the server only opens the databases it was started with".to_owned(),
        ),
        A::Transaction { .. } | A::Savepoint { .. } => Err(
            "transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE) is not allowed: each call runs in its own transaction".to_owned(),
        ),
        _ if temp => Err(TEMP_REFUSAL.to_owned()),
        A::CreateTempIndex { .. }
        | A::CreateTempTable { .. }
        | A::CreateTempTrigger { .. }
        | A::CreateTempView { .. }
        | A::DropTempIndex { .. }
        | A::DropTempTable { .. }
        | A::DropTempTrigger { .. }
        | A::DropTempView { .. } => Err(TEMP_REFUSAL.to_owned()),
        action if access == Access::Read => Err(format!(
            "read_query only reads, and this statement would {}; use write_query on a database opened with --db-rw",
            describe(action)
        )),
        A::CreateTable { .. } => Ok(()),
        // `PRIMARY KEY` and `UNIQUE` constraints make SQLite create `sqlite_autoindex_<table>_<n>`
        // while it creates the table: part of that CREATE TABLE, not a separate change. Only for
        // a table this statement created (no one can name an index `sqlite_*` themselves).
        A::CreateIndex { index_name, table_name }
            if access == Access::CreateTable && is_autoindex_of(index_name, table_name, created) =>
        {
            Ok(())
        }
        // Creating a table records it in the schema table; defensive mode stops direct writes to it.
        A::Insert { table_name } | A::Update { table_name, .. }
            if access == Access::CreateTable && is_schema_table(table_name) =>
        {
            Ok(())
        }
        action if access == Access::CreateTable => Err(format!(
            "create_table runs only CREATE TABLE statements, and this one would {}; use write_query for other changes",
            describe(action)
        )),
        A::Insert { .. }
        | A::Update { .. }
        | A::Delete { .. }
        | A::CreateIndex { .. }
        | A::CreateTrigger { .. }
        | A::CreateView { .. }
        | A::DropIndex { .. }
        | A::DropTable { .. }
        | A::DropTrigger { .. }
        | A::DropView { .. }
        | A::AlterTable { .. }
        | A::Reindex { .. }
        | A::Analyze { .. } => Ok(()),
        A::CreateVtable { module_name, .. } | A::DropVtable { module_name, .. } => {
            if ALLOWED_VTAB_MODULES.contains(&module_name.to_ascii_lowercase().as_str()) {
                Ok(())
            } else {
                Err(format!(
                    "virtual tables of module {module_name} are not allowed (allowed: {})",
                    ALLOWED_VTAB_MODULES.join(", ")
                ))
            }
        }
        action => Err(format!("this statement would {}, which is not allowed", describe(action))),
    }
}

/// Whether an action is creating a table (for `create_table`'s check that something was created).
pub(crate) fn is_create_table(ctx: &AuthContext<'_>) -> bool {
    matches!(ctx.action, AuthAction::CreateTable { .. }) && ctx.database_name != Some("temp")
}

/// The schema change an action makes, other than creating a table (and that table's automatic
/// indexes and schema row): what the change journal cannot reverse ("CREATE INDEX i").
pub(crate) fn schema_change(ctx: &AuthContext<'_>, created: &[String]) -> Option<String> {
    use AuthAction as A;
    match &ctx.action {
        A::CreateIndex { index_name, table_name }
            if is_autoindex_of(index_name, table_name, created) =>
        {
            None
        }
        A::CreateIndex { .. }
        | A::CreateTrigger { .. }
        | A::CreateView { .. }
        | A::DropIndex { .. }
        | A::DropTable { .. }
        | A::DropTrigger { .. }
        | A::DropView { .. }
        | A::AlterTable { .. }
        | A::Reindex { .. }
        | A::Analyze { .. }
        | A::CreateVtable { .. }
        | A::DropVtable { .. } => Some(describe(&ctx.action)),
        _ => None,
    }
}

/// The table of SQLite's own an action writes, if it writes one other than the schema table
/// (`sqlite_sequence`, `sqlite_stat1`): the change journal cannot record those rows.
pub(crate) fn internal_write<'a>(ctx: &AuthContext<'a>) -> Option<&'a str> {
    match ctx.action {
        AuthAction::Insert { table_name }
        | AuthAction::Update { table_name, .. }
        | AuthAction::Delete { table_name }
            if table_name.to_ascii_lowercase().starts_with("sqlite_")
                && !is_schema_table(table_name) =>
        {
            Some(table_name)
        }
        _ => None,
    }
}

/// Whether an action reads a setting pragma without changing it (`PRAGMA journal_mode`).
pub(crate) fn is_setting_read(ctx: &AuthContext<'_>) -> bool {
    matches!(ctx.action, AuthAction::Pragma { pragma_name, pragma_value: None }
        if SETTING_PRAGMAS.contains(&pragma_name.to_ascii_lowercase().as_str()))
}

fn pragma(name: &str, value: Option<&str>) -> Result<(), String> {
    let name = name.to_ascii_lowercase();
    if INTROSPECTION_PRAGMAS.contains(&name.as_str())
        || (SETTING_PRAGMAS.contains(&name.as_str()) && value.is_none())
    {
        return Ok(());
    }
    let shown = match value {
        Some(v) => format!("PRAGMA {name} = {v}"),
        None => format!("PRAGMA {name}"),
    };
    Err(format!(
        "{shown} is not allowed: pragmas may only report, not change settings (allowed: {}, and reading {})",
        INTROSPECTION_PRAGMAS.join(", "),
        SETTING_PRAGMAS.join(", ")
    ))
}

/// Whether `index` is an automatic index SQLite makes for a constraint of `table`, a table the
/// statement itself created.
fn is_autoindex_of(index: &str, table: &str, created: &[String]) -> bool {
    let Some(rest) = index.strip_prefix("sqlite_autoindex_") else { return false };
    let is_own = rest
        .strip_prefix(table)
        .and_then(|n| n.strip_prefix('_'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    is_own && created.iter().any(|t| t == table)
}

/// The table an action creates, if it creates one in the main database.
pub(crate) fn created_table<'a>(ctx: &AuthContext<'a>) -> Option<&'a str> {
    match ctx.action {
        AuthAction::CreateTable { table_name } if ctx.database_name != Some("temp") => {
            Some(table_name)
        }
        _ => None,
    }
}

fn is_schema_table(name: &str) -> bool {
    name.eq_ignore_ascii_case("sqlite_master") || name.eq_ignore_ascii_case("sqlite_schema")
}

/// What an action does, for messages ("DELETE from t").
fn describe(action: &AuthAction<'_>) -> String {
    use AuthAction as A;
    match action {
        A::Insert { table_name } => format!("INSERT into {table_name}"),
        A::Update { table_name, .. } => format!("UPDATE {table_name}"),
        A::Delete { table_name } => format!("DELETE from {table_name}"),
        A::CreateIndex { index_name, .. } => format!("CREATE INDEX {index_name}"),
        A::CreateTable { table_name } => format!("CREATE TABLE {table_name}"),
        A::CreateTrigger { trigger_name, .. } => format!("CREATE TRIGGER {trigger_name}"),
        A::CreateView { view_name } => format!("CREATE VIEW {view_name}"),
        A::DropIndex { index_name, .. } => format!("DROP INDEX {index_name}"),
        A::DropTable { table_name } => format!("DROP TABLE {table_name}"),
        A::DropTrigger { trigger_name, .. } => format!("DROP TRIGGER {trigger_name}"),
        A::DropView { view_name } => format!("DROP VIEW {view_name}"),
        A::AlterTable { table_name, .. } => format!("ALTER TABLE {table_name}"),
        A::Reindex { .. } => "REINDEX".to_owned(),
        A::Analyze { .. } => "ANALYZE".to_owned(),
        A::CreateVtable { table_name, .. } => format!("CREATE VIRTUAL TABLE {table_name}"),
        A::DropVtable { table_name, .. } => format!("DROP virtual table {table_name}"),
        other => format!("do {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_indexes_belong_only_to_tables_the_statement_created() {
        let created = vec!["t".to_owned(), "a_b".to_owned()];
        let check = |index: &str, table: &str, expected: bool| {
            assert_eq!(is_autoindex_of(index, table, &created), expected, "{index} on {table}");
        };
        check("sqlite_autoindex_t_1", "t", true);
        check("sqlite_autoindex_t_12", "t", true);
        check("sqlite_autoindex_a_b_2", "a_b", true);
        check("sqlite_autoindex_u_1", "u", false);
        check("sqlite_autoindex_t_1", "u", false);
        check("sqlite_autoindex_t_", "t", false);
        check("sqlite_autoindex_t_1x", "t", false);
        check("my_index", "t", false);
    }
}
