//! The MCP prompts, which hosts show as slash commands: `explore_database` and `ask_database`
//! (the schema resource embedded, with how to query well), `summarize_directory` (a capped tree
//! and the README) and `find_and_fix` (grep first, then edits previewed with `dryRun`). What they
//! embed is read exactly as `resources/read` and the tools read it: through the sandbox and the
//! database sessions, with their checks and limits. Completion of their arguments is in
//! `complete_prompt_argument`.

use std::sync::Arc;

use rmcp::model::{
    CompleteRequestParams, CompletionInfo, ContentBlock, GetPromptRequestParams, GetPromptResult,
    JsonObject, ListPromptsResult, Prompt, PromptArgument, PromptMessage, ResourceContents, Role,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use serde_json::json;

use crate::sandbox::root::Kind;
use crate::sandbox::search::{SortBy, TreeOptions, TreeSink};
use crate::sandbox::walk::Progress;
use crate::sandbox::{Error, Sandbox};
use crate::server::Server;
use crate::server::db_resources::{completion, path_candidates};
use crate::server::errors::join_error;
use crate::server::render::files::{entry_suffix, one_line};
use crate::server::tools::Offer;
use crate::server::uri::{file_uri, sqlite_schema_uri};

/// How deep `summarize_directory`'s tree goes.
pub(crate) const PROMPT_TREE_DEPTH: usize = 2;
/// Most entries `summarize_directory`'s tree shows; the rest is counted, not listed.
pub(crate) const PROMPT_TREE_ENTRIES: usize = 200;
/// Most entries of one top-level folder that tree shows.
pub(crate) const PROMPT_TREE_PER_DIR: usize = 20;
/// Most lines of the README `summarize_directory` embeds (and at most `--max-read-bytes`).
pub(crate) const PROMPT_README_LINES: u64 = 300;

/// One prompt: its name, title, description, arguments (name, description, required) and what
/// it needs to be offered.
pub(crate) struct PromptSpec {
    pub(crate) name: &'static str,
    pub(crate) title: &'static str,
    pub(crate) description: &'static str,
    pub(crate) arguments: &'static [(&'static str, &'static str, bool)],
    needs: fn(&Offer) -> bool,
}

const DB_ARGUMENT: (&str, &str, bool) =
    ("db", "Database name (list_databases); may be left out when only one is open.", false);

/// Every prompt, in the order `prompts/list` gives them.
pub(crate) const PROMPTS: &[PromptSpec] = &[
    PromptSpec {
        name: "explore_database",
        title: "Explore a database",
        description: "Embeds the database's schema and asks for an overview of the data, the \
                      relationships between tables, and five questions the data can answer.",
        arguments: &[DB_ARGUMENT],
        needs: |offer| offer.databases,
    },
    PromptSpec {
        name: "ask_database",
        title: "Ask a database",
        description: "Answers a question from a database: embeds its schema, with guidance to \
                      use read_query with bound params and small pages.",
        arguments: &[DB_ARGUMENT, ("question", "The question to answer from the data.", true)],
        needs: |offer| offer.databases,
    },
    PromptSpec {
        name: "summarize_directory",
        title: "Summarize a directory",
        description: "Embeds a directory's tree (two levels, capped) and its README, if it has \
                      one, and asks for a summary of what is there and how it is organised.",
        arguments: &[("path", "The directory to summarize (an allowed directory or below).", true)],
        needs: |offer| offer.files,
    },
    PromptSpec {
        name: "find_and_fix",
        title: "Find and fix",
        description: "Finds every match of a pattern with grep_files, then fixes them with \
                      edit_file, previewing each edit with dryRun before writing.",
        arguments: &[
            ("pattern", "What to find: a regular expression, as grep_files takes it.", true),
            ("path", "Where to look (default: every allowed directory).", false),
            ("change", "What the fix should be, if not obvious from the pattern.", false),
        ],
        needs: |offer| offer.files_writable,
    },
];

impl PromptSpec {
    /// The prompt as `prompts/list` gives it.
    pub(crate) fn to_prompt(&self) -> Prompt {
        let arguments = self
            .arguments
            .iter()
            .map(|(name, description, required)| {
                PromptArgument::new(*name).with_description(*description).with_required(*required)
            })
            .collect();
        Prompt::new(self.name, Some(self.description), Some(arguments)).with_title(self.title)
    }
}

/// The prompts offered for `offer`.
pub(crate) fn offered(offer: &Offer) -> Vec<&'static PromptSpec> {
    PROMPTS.iter().filter(|p| (p.needs)(offer)).collect()
}

/// `prompts/list`: every prompt offered, in one page.
pub(crate) fn list(offer: &Offer) -> ListPromptsResult {
    ListPromptsResult::with_all_items(offered(offer).iter().map(|p| p.to_prompt()).collect())
}

/// A prompt's arguments, checked against its declaration: unknown names and missing required
/// ones are errors; values must be strings.
struct Arguments {
    values: JsonObject,
}

impl Arguments {
    fn check(spec: &PromptSpec, given: Option<JsonObject>) -> Result<Arguments, ErrorData> {
        let values = given.unwrap_or_default();
        for (name, value) in &values {
            if !spec.arguments.iter().any(|(known, _, _)| known == name) {
                let known: Vec<&str> = spec.arguments.iter().map(|(n, _, _)| *n).collect();
                return Err(bad_argument(
                    spec.name,
                    name,
                    format!(
                        "{} has no argument \"{name}\"; its arguments are {known:?}",
                        spec.name
                    ),
                ));
            }
            if !value.is_string() && !value.is_null() {
                return Err(bad_argument(spec.name, name, format!("\"{name}\" must be a string")));
            }
        }
        for (name, _, required) in spec.arguments {
            let present = values.get(*name).and_then(|v| v.as_str()).is_some_and(|v| !v.is_empty());
            if *required && !present {
                return Err(bad_argument(
                    spec.name,
                    name,
                    format!("{} needs the argument \"{name}\"", spec.name),
                ));
            }
        }
        Ok(Arguments { values })
    }

    /// A given, non-empty argument.
    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).and_then(|v| v.as_str()).filter(|v| !v.is_empty())
    }

    /// A required argument (checked present by `check`).
    fn required(&self, name: &str) -> &str {
        self.get(name).unwrap_or_default()
    }
}

/// Invalid params naming the prompt and the argument.
fn bad_argument(prompt: &str, argument: &str, message: String) -> ErrorData {
    ErrorData::invalid_params(message, Some(json!({ "prompt": prompt, "argument": argument })))
}

/// A path argument the sandbox refused: the user typed it, so it is invalid params, except for
/// I/O failures, which are the server's.
fn path_argument_error(prompt: &str, err: &Error) -> ErrorData {
    match err {
        Error::Io { .. } | Error::Busy { .. } => ErrorData::internal_error(err.to_string(), None),
        _ => bad_argument(prompt, "path", format!("path: {err}")),
    }
}

impl Server {
    /// `completion/complete` for a prompt's argument: database names for `db`, and absolute
    /// paths under the allowed directories for `path` (directories only for
    /// `summarize_directory`). Other arguments have no completions.
    pub(crate) async fn complete_prompt_argument(
        &self,
        prompt: &str,
        request: CompleteRequestParams,
    ) -> Result<CompletionInfo, ErrorData> {
        let Some(spec) = offered(&self.offer).into_iter().find(|p| p.name == prompt) else {
            return Ok(CompletionInfo::default());
        };
        let value = request.argument.value.replace('\\', "/");
        let mut prefix = value.as_str();
        let candidates = match request.argument.name.as_str() {
            "db" if spec.arguments.contains(&DB_ARGUMENT) => self.databases().names(),
            "path" if spec.arguments.iter().any(|(name, _, _)| *name == "path") => {
                self.roots_ready().await;
                let sandbox = self.sandbox();
                let directories_only = spec.name == "summarize_directory";
                let typed = value.clone();
                // Relative paths are not completed: start from an allowed directory.
                if !value.starts_with('/') && !is_drive_path(&value) {
                    prefix = "";
                }
                let tails = self
                    .spawn_blocking(move || path_candidates(&sandbox, &typed))
                    .await
                    .map_err(|e| join_error("completing a path", e))?;
                // The candidates are URI tails (`home/u/proj/`, `C:/proj/`): give them back as
                // the absolute paths a user types.
                tails
                    .into_iter()
                    .filter(|tail| !directories_only || tail.ends_with('/'))
                    .map(|tail| if is_drive_path(&tail) { tail } else { format!("/{tail}") })
                    .collect()
            }
            _ => Vec::new(),
        };
        Ok(completion(candidates, prefix))
    }

    /// `prompts/get`: the named prompt with its arguments filled in and its resources embedded.
    pub(crate) async fn get_prompt_messages(
        &self,
        request: GetPromptRequestParams,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<GetPromptResult, ErrorData> {
        let offered = offered(&self.offer);
        let Some(spec) = offered.iter().find(|p| p.name == request.name) else {
            let names: Vec<&str> = offered.iter().map(|p| p.name).collect();
            return Err(ErrorData::invalid_params(
                format!("no prompt named \"{}\"; this server offers {names:?}", request.name),
                Some(json!({ "prompt": request.name, "available": names })),
            ));
        };
        let args = Arguments::check(spec, request.arguments)?;
        let messages = match spec.name {
            "explore_database" => self.explore_database(&args, ctx).await?,
            "ask_database" => self.ask_database(&args, ctx).await?,
            "summarize_directory" => self.summarize_directory(&args).await?,
            "find_and_fix" => self.find_and_fix(&args).await?,
            other => unreachable!("prompt {other} is declared but not implemented"),
        };
        Ok(GetPromptResult::new(messages).with_description(spec.description))
    }

    /// The schema of the `db` argument's database, as `resources/read` of
    /// `sqlite://<db>/schema` gives it, and the database's name.
    async fn schema_message(
        &self,
        prompt: &str,
        args: &Arguments,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<(String, PromptMessage), ErrorData> {
        let name = match self.databases().get(args.get("db")) {
            Ok(database) => database.name().to_owned(),
            Err(err) => return Err(bad_argument(prompt, "db", err.to_string())),
        };
        let read = self.read_database_resource(sqlite_schema_uri(&name), ctx).await?;
        let contents = read.contents.into_iter().next().ok_or_else(|| {
            ErrorData::internal_error(format!("the schema of \"{name}\" came back empty"), None)
        })?;
        Ok((name, PromptMessage::new(Role::User, ContentBlock::resource(contents))))
    }

    async fn explore_database(
        &self,
        args: &Arguments,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Vec<PromptMessage>, ErrorData> {
        let (db, schema) = self.schema_message("explore_database", args, ctx).await?;
        let ask = format!(
            "Above is the schema of the SQLite database \"{db}\" (the resource {uri}).\n\n\
             1. Give an overview: what the data is about, the main tables, what one row of each \
             stands for, and roughly how many rows each has (describe_table gives counts).\n\
             2. Describe the relationships between tables: declared foreign keys, and columns \
             that look like keys without being declared.\n\
             3. End with five questions this data can answer, each with the read_query SQL that \
             answers it.\n\n\
             Check what you say against the data with describe_table and small read_query \
             samples (LIMIT 5, db: \"{db}\"). Do not change the database.",
            uri = sqlite_schema_uri(&db)
        );
        Ok(vec![schema, PromptMessage::new_text(Role::User, ask)])
    }

    async fn ask_database(
        &self,
        args: &Arguments,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Vec<PromptMessage>, ErrorData> {
        let (db, schema) = self.schema_message("ask_database", args, ctx).await?;
        let ask = format!(
            "Answer this question from the SQLite database \"{db}\", whose schema is above:\n\n\
             {question}\n\n\
             How to work:\n\
             - Query with read_query (db: \"{db}\"), one SELECT per call. Put values in params \
             and refer to them as ?1, ?2, ... rather than writing them into the SQL.\n\
             - Keep pages small: aggregate in SQL (COUNT, SUM, GROUP BY) instead of fetching rows \
             to count them, add a LIMIT, and follow next_cursor only when the answer needs more.\n\
             - Where a column's meaning is unclear, look at describe_table's sample rows first.\n\
             - Give the answer with the SQL you ran; if the data cannot answer the question, say \
             so and why. Do not change the database.",
            question = args.required("question")
        );
        Ok(vec![schema, PromptMessage::new_text(Role::User, ask)])
    }

    async fn summarize_directory(&self, args: &Arguments) -> Result<Vec<PromptMessage>, ErrorData> {
        self.roots_ready().await;
        let sandbox = self.sandbox();
        let path = args.required("path").to_owned();
        let (tree, readme) = self
            .spawn_blocking(move || directory_overview(&sandbox, &path))
            .await
            .map_err(|e| join_error("preparing summarize_directory", e))?
            .map_err(|e| path_argument_error("summarize_directory", &e))?;
        let mut messages = vec![PromptMessage::new_text(Role::User, tree.text())];
        if let Some((uri, text)) = readme {
            let contents = ResourceContents::text(text, uri).with_mime_type("text/markdown");
            messages.push(PromptMessage::new(Role::User, ContentBlock::resource(contents)));
        }
        let ask = format!(
            "Summarize the directory {path}{readme}: what it is (a project, documents, data), how \
             it is organised (what each top-level folder holds), its entry points, and anything \
             notable (build and test setup, docs, data files). Confirm with a few reads of key \
             files (read_text_file with head for long ones) and grep_files for specifics, rather \
             than reading everything. Do not change anything.",
            path = tree.path,
            readme = if messages.len() > 1 {
                ", whose tree and README are above"
            } else {
                ", whose tree is above (it has no README)"
            }
        );
        messages.push(PromptMessage::new_text(Role::User, ask));
        Ok(messages)
    }

    async fn find_and_fix(&self, args: &Arguments) -> Result<Vec<PromptMessage>, ErrorData> {
        self.roots_ready().await;
        let sandbox = self.sandbox();
        let pattern = args.required("pattern").to_owned();
        let path = args.get("path").map(str::to_owned);
        let checked = pattern.clone();
        let places = self
            .spawn_blocking(move || -> Result<Vec<String>, ErrorData> {
                // Refused here rather than by the model's first grep_files call.
                sandbox.regex_matcher(&checked, false, false).map_err(|e| {
                    bad_argument("find_and_fix", "pattern", format!("pattern: {e}"))
                })?;
                Ok(match path {
                    Some(path) => {
                        let info = sandbox
                            .file_info(&path)
                            .map_err(|e| path_argument_error("find_and_fix", &e))?;
                        if !info.writable {
                            let why = format!(
                                "path: {} is in a read-only directory, and find_and_fix changes files; use grep_files to search it",
                                info.path
                            );
                            return Err(bad_argument("find_and_fix", "path", why));
                        }
                        vec![info.path]
                    }
                    None => sandbox
                        .allowed()
                        .into_iter()
                        .filter(|d| d.writable)
                        .map(|d| d.path)
                        .collect(),
                })
            })
            .await
            .map_err(|e| join_error("preparing find_and_fix", e))??;
        let places = places.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(", ");
        let change = args
            .get("change")
            .map(|c| format!("\n\nThe fix: {c}"))
            .unwrap_or_else(|| "\n\nWork out the fix from the matches; if it is not clear, ask me before changing anything.".to_owned());
        let ask = format!(
            "Find and fix every match, in {places}, of this regular expression (exactly as on the \
             next line, as grep_files takes it):\n\n    {pattern}{change}\n\n\
             1. Search first: grep_files with that pattern (path: each place above), and list \
             what you found by file before changing anything.\n\
             2. Read enough around each match (read_text_file with offset and limit) to be sure \
             the change is right there; leave matches the fix does not apply to, and say why.\n\
             3. Change each file with edit_file and dryRun: true first, check the diff, then \
             apply the same edits with dryRun: false. Do not rewrite whole files with write_file.\n\
             4. Finish with grep_files again to show what is left, and summarize the changes by \
             file."
        );
        Ok(vec![PromptMessage::new_text(Role::User, ask)])
    }
}

/// `summarize_directory`'s tree, read breadth first so that one big folder cannot hide the
/// others: the directory's own entries (at most `PROMPT_TREE_ENTRIES`), then those of each folder
/// among them (at most `PROMPT_TREE_PER_DIR` each), `PROMPT_TREE_ENTRIES` lines in all. Each
/// level is a one-level walk that stops once it has what it shows, so the cost is one listing per
/// folder shown, whatever lies below.
#[derive(Default)]
struct CappedTree {
    path: String,
    /// The top-level entries shown: the line, the folder's entries shown, and whether it has more.
    top: Vec<(String, Vec<String>, bool)>,
    /// The directory has more entries than shown.
    more_on_top: bool,
}

/// One level of a directory, up to `cap` entries; `more` says whether it has others.
struct Level {
    cap: usize,
    path: String,
    entries: Vec<(String, String, Kind)>,
    more: bool,
}

impl Level {
    fn new(cap: usize) -> Level {
        Level { cap, path: String::new(), entries: Vec::new(), more: false }
    }
}

impl TreeSink for Level {
    fn start(&mut self, path: &str) {
        self.path = path.trim_end_matches(['/', '\\']).to_owned();
    }

    fn entry(&mut self, rel: &str, name: &str, kind: Kind, _depth: usize) {
        if self.entries.len() == self.cap {
            self.more = true;
        } else {
            self.entries.push((rel.to_owned(), name.to_owned(), kind));
        }
    }

    fn full(&self) -> bool {
        self.more
    }
}

/// An entry's line: its name on one line, `/` after a folder.
fn entry_line(name: &str, kind: Kind) -> String {
    format!("{}{}", one_line(name), entry_suffix(kind))
}

impl CappedTree {
    fn text(&self) -> String {
        let mut text = format!(
            "The tree of {} ({PROMPT_TREE_DEPTH} levels, ignore files applied):\n{}/\n",
            self.path, self.path
        );
        for (line, below, more) in &self.top {
            text.push_str(&format!("  {line}\n"));
            for child in below {
                text.push_str(&format!("    {child}\n"));
            }
            if *more {
                text.push_str("    [more entries; directory_tree lists them]\n");
            }
        }
        if self.more_on_top {
            text.push_str("  [more entries; directory_tree lists them]\n");
        }
        text
    }
}

/// The tree of the directory `input` and its README (URI and first lines), read through the
/// sandbox; the walks stop at `--tool-timeout` like the tools' walks.
fn directory_overview(
    sandbox: &Sandbox,
    input: &str,
) -> crate::sandbox::Result<(CappedTree, Option<(String, String)>)> {
    let one_level = TreeOptions { exclude: Vec::new(), max_depth: Some(1), include_ignored: false };
    let progress = Arc::new(Progress::default());
    progress.start_clock(sandbox.limits().tool_timeout);
    let mut top = Level::new(PROMPT_TREE_ENTRIES);
    progress.scope(|| sandbox.directory_tree(input, &one_level, &mut top))?;
    let mut tree = CappedTree { path: top.path.clone(), top: Vec::new(), more_on_top: top.more };
    let mut budget = PROMPT_TREE_ENTRIES - top.entries.len();
    for (rel, name, kind) in &top.entries {
        let mut below = Level::new(PROMPT_TREE_PER_DIR.min(budget));
        if *kind == Kind::Dir {
            if budget > 0 && !progress.timed_out() {
                let child = format!("{}/{rel}", top.path);
                // A folder that cannot be read is shown without its entries.
                let _ = progress.scope(|| sandbox.directory_tree(&child, &one_level, &mut below));
            } else {
                // Out of lines (or time): its entries are not listed, which the tree says.
                below.more = true;
            }
        }
        budget -= below.entries.len();
        let lines = below.entries.iter().map(|(_, name, kind)| entry_line(name, *kind)).collect();
        tree.top.push((entry_line(name, *kind), lines, below.more));
    }
    let listing = sandbox.list_directory(input, false, SortBy::Name)?;
    let readme = listing
        .entries
        .iter()
        .filter(|e| e.kind == Kind::File && is_readme(&e.name))
        .min_by_key(|e| readme_rank(&e.name));
    let Some(readme) = readme else {
        return Ok((tree, None));
    };
    let path = format!("{}/{}", listing.path.trim_end_matches(['/', '\\']), readme.name);
    let request =
        crate::sandbox::read::TextRequest { head: Some(PROMPT_README_LINES), ..Default::default() };
    // A README that is not text, or vanished since the listing, is left out, not an error.
    let Ok(read) = sandbox.read_text(&path, &request) else {
        return Ok((tree, None));
    };
    Ok((tree, Some((file_uri(&read.path), read.text))))
}

/// Whether `path` starts with a Windows drive (`C:`).
fn is_drive_path(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
}

/// `README`, `README.md`, `readme.txt` and the like.
fn is_readme(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "readme" || lower.strip_prefix("readme.").is_some_and(|ext| !ext.contains('.'))
}

/// Which README to prefer when there are several: Markdown, then plain text, then the rest.
fn readme_rank(name: &str) -> u8 {
    match name.to_ascii_lowercase().as_str() {
        "readme.md" => 0,
        "readme" | "readme.txt" => 1,
        "readme.markdown" | "readme.rst" | "readme.adoc" => 2,
        _ => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readmes_are_recognised_and_markdown_wins() {
        for name in ["README", "README.md", "readme.txt", "Readme.rst"] {
            assert!(is_readme(name), "{name}");
        }
        for name in ["READMEs", "README.md.bak", "my-readme.md", "readme_old"] {
            assert!(!is_readme(name), "{name}");
        }
        let mut names = ["README.rst", "readme.txt", "README.md"];
        names.sort_by_key(|n| readme_rank(n));
        assert_eq!(names[0], "README.md");
    }

    #[test]
    fn every_prompt_argument_has_a_description_and_each_prompt_is_offered_somewhere() {
        let all = Offer {
            files: true,
            files_writable: true,
            databases: true,
            databases_writable: true,
            history: true,
        };
        assert_eq!(offered(&all).len(), PROMPTS.len());
        let none = Offer {
            files: false,
            files_writable: false,
            databases: false,
            databases_writable: false,
            history: false,
        };
        assert!(offered(&none).is_empty());
        for prompt in PROMPTS {
            assert!(prompt.arguments.iter().all(|(_, d, _)| !d.is_empty()));
        }
    }
}
