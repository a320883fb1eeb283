//! `Config::from_args`: reads the optional TOML file, merges the command line over it and the
//! defaults (the pure step, in `merge`), then opens every root and database. This is the only
//! code that opens host paths by name (cap-std's ambient authority); after start-up every access
//! goes through a `Root`.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use cap_std::ambient_authority;
use cap_std::fs::Dir;

use crate::cli::Args;

mod history;
mod merge;

use crate::db::{self, Databases, DbSpec};
use crate::sandbox::Sandbox;
use crate::sandbox::platform;
use crate::sandbox::root::{Mode, Root};
use crate::watch::Options as WatchOptions;
use merge::{FileConfig, Settings, merge};

/// Files per page of `resources/list` unless configured otherwise: large enough that a
/// 100,000-file root lists in 40 pages (the MCP Inspector gives up after 64), small enough that a
/// page stays well under a megabyte of JSON.
pub(crate) const DEFAULT_RESOURCE_PAGE_SIZE: usize = 2500;
/// Most files one page of `resources/list` may hold (`--resource-page-size`): bounds the memory
/// and the size of one response.
pub(crate) const MAX_RESOURCE_PAGE_SIZE: usize = 10_000;

// The server's own limits live here with the other defaults, not in `server/`: the configuration
// is read before the server exists, and the core and config modules never import `server`.

/// Largest message (one line on stdin) the server accepts, unless `--max-message-bytes` says
/// otherwise: room for a `write_file` of a 20 MB file (rmcp's own limit, 16 MiB, is below that),
/// while bounding what one line can make the server hold.
pub(crate) const DEFAULT_MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;
/// The smallest `--max-message-bytes`: an `initialize` request must fit.
pub(crate) const MIN_MAX_MESSAGE_BYTES: usize = 4 * 1024;
/// Most bytes of answers that may wait to be written (the client is not reading them) before
/// the server stops reading requests, unless `--max-unsent-bytes` says otherwise.
pub(crate) const DEFAULT_MAX_UNSENT_BYTES: usize = 64 * 1024 * 1024;
/// Default of `--max-log-messages`: log messages sent to the client per minute.
pub(crate) const DEFAULT_MAX_LOG_MESSAGES: usize = 30;
/// How long a call runs before progress notifications start, unless configured otherwise.
pub(crate) const DEFAULT_PROGRESS_AFTER: Duration = Duration::from_secs(1);
/// The shortest `--progress-after` accepted.
pub(crate) const MIN_PROGRESS_AFTER: Duration = Duration::from_millis(10);

pub(crate) const EXAMPLE: &str = "for example:\n  mcp-files-sqlite ~/code/my-app\n  mcp-files-sqlite --root ~/code/my-app --ro-root ~/Documents/specs\n  mcp-files-sqlite --db shop=~/data/shop.db\n(see mcp-files-sqlite --help)";

/// Everything the server needs, validated and opened.
pub struct Config {
    /// The roots and file limits.
    pub sandbox: Sandbox,
    /// The open databases.
    pub(crate) databases: Databases,
    /// Files per page of `resources/list`.
    pub(crate) resource_page_size: usize,
    /// Whether to ignore the roots a client announces.
    pub(crate) ignore_client_roots: bool,
    /// How changes are watched for subscriptions.
    pub(crate) watch: WatchOptions,
    /// How long a call runs before it reports progress, and how often after that.
    pub(crate) progress_after: Duration,
    /// The longest line (one message) a client may send.
    pub(crate) max_message_bytes: usize,
    /// Bytes of answers that may wait to be written before stdin stops being read.
    pub(crate) max_unsent_bytes: usize,
    /// File operations that may run at once.
    pub(crate) max_blocking_calls: usize,
    /// Log messages sent to the client per minute.
    pub(crate) max_log_messages: usize,
    /// The change journal (`None`: `--history off`, or nothing can be changed).
    pub(crate) journal: Option<std::sync::Arc<crate::journal::Journal>>,
}

impl Config {
    /// Builds the configuration. Errors (with a corrected example command) for: no root, a root
    /// that does not exist or is not a directory, an unreadable or invalid config file, a
    /// database that cannot be opened, and any setting out of its bounds.
    pub fn from_args(args: &Args) -> anyhow::Result<Config> {
        // $HOME on Unix, the user profile on Windows.
        let home = std::env::home_dir().filter(|h| h.is_absolute());
        let file = match &args.config {
            Some(path) => read_config_file(path, home.as_deref())?,
            None => FileConfig::default(),
        };
        let settings = merge(args, &file)?;
        let cwd = std::env::current_dir().context("reading the current directory")?;
        Config::open(settings, &cwd, home)
    }

    /// The command line that opens these roots and databases again, with absolute paths (as the
    /// server shows them), each root's mode and each database's name spelled out: what
    /// `config --host` writes into a host's configuration.
    pub(crate) fn command_line(&self) -> anyhow::Result<Vec<String>> {
        let text = |path: &Path| {
            path.to_str().map(str::to_owned).with_context(|| {
                format!(
                    "\"{}\" is not valid UTF-8, which host configurations cannot hold",
                    path.display()
                )
            })
        };
        let mut args = Vec::new();
        for root in self.sandbox.roots() {
            let flag = if root.mode() == Mode::ReadOnly { "--ro-root" } else { "--root" };
            args.extend([flag.to_owned(), text(root.display())?]);
        }
        for db in self.databases.all() {
            let flag = if db.writable() { "--db-rw" } else { "--db" };
            args.extend([flag.to_owned(), format!("{}={}", db.name(), text(db.path())?)]);
        }
        Ok(args)
    }

    /// The step that touches the file system: opens the roots (one per directory, read-only if
    /// any mention of it is) and the databases, and protects the databases from the file tools.
    fn open(settings: Settings, cwd: &Path, home: Option<PathBuf>) -> anyhow::Result<Config> {
        let roots = open_roots(&settings, cwd, home.as_deref())?;
        let specs = database_specs(&settings, cwd, home.as_deref())?;
        let databases = Databases::open(&specs, &settings.db_limits).map_err(|(spec, err)| {
            let flag = if spec.writable { "--db-rw" } else { "--db" };
            anyhow::anyhow!(
                "opening database \"{}\" at \"{}\": {err}; give an existing SQLite database file, e.g. {flag} shop=/path/to/shop.db",
                spec.name,
                spec.path.display()
            )
        })?;

        let writable =
            roots.iter().any(|r| r.mode() == Mode::Writable) || specs.iter().any(|s| s.writable);
        let var = |name: &str| std::env::var_os(name);
        let given = settings.history.as_deref();
        let journal = match writable {
            true => match history::history_dir(given, cwd, home.as_deref(), &var)? {
                Some(dir) => Some(std::sync::Arc::new(history::open_journal(
                    &dir,
                    &roots,
                    settings.history_bounds,
                )?)),
                None => None,
            },
            false => None,
        };
        let mut sandbox = Sandbox::new(roots, settings.limits, home);
        for spec in &specs {
            protect_database(&mut sandbox, spec);
        }
        Ok(Config {
            databases,
            sandbox,
            resource_page_size: settings.resource_page_size,
            ignore_client_roots: settings.ignore_client_roots,
            watch: settings.watch,
            progress_after: settings.progress_after,
            max_message_bytes: settings.max_message_bytes,
            max_unsent_bytes: settings.max_unsent_bytes,
            max_blocking_calls: settings.max_blocking_calls,
            max_log_messages: settings.max_log_messages,
            journal,
        })
    }
}

/// Opens the roots: one per directory, read-only if any mention of it is.
fn open_roots(settings: &Settings, cwd: &Path, home: Option<&Path>) -> anyhow::Result<Vec<Root>> {
    let mut roots: Vec<Root> = Vec::new();
    let requested = settings
        .writable
        .iter()
        .map(|p| (p, Mode::Writable))
        .chain(settings.read_only_roots.iter().map(|p| (p, Mode::ReadOnly)));
    for (path, mode) in requested {
        let mode = if settings.all_read_only { Mode::ReadOnly } else { mode };
        let root = open_root(path, mode, cwd, home)?;
        // The same directory twice: keep one, read-only if either asked for it.
        if let Some(existing) = roots.iter_mut().find(|r| r.canonical() == root.canonical()) {
            if mode == Mode::ReadOnly && existing.mode() == Mode::Writable {
                *existing = root;
            }
            continue;
        }
        roots.push(root);
    }
    Ok(roots)
}

/// The databases' specs, checked (each an existing file, names distinct).
fn database_specs(
    settings: &Settings,
    cwd: &Path,
    home: Option<&Path>,
) -> anyhow::Result<Vec<DbSpec>> {
    let mut specs: Vec<DbSpec> = Vec::new();
    let requested =
        settings.db_ro.iter().map(|s| (s, false)).chain(settings.db_rw.iter().map(|s| (s, true)));
    for (text, writable) in requested {
        let spec = db_spec(text, writable, cwd, home)?;
        if let Some(other) = specs.iter().find(|o| o.name == spec.name) {
            let flag = if spec.writable { "--db-rw" } else { "--db" };
            bail!(
                "two databases are named \"{}\" ({} and {}); name them apart with NAME=PATH, e.g. {flag} {}2={}",
                spec.name,
                other.path.display(),
                spec.path.display(),
                spec.name,
                spec.path.display()
            );
        }
        specs.push(spec);
    }
    Ok(specs)
}

/// Opens one root: expands `~`, makes it absolute against the working directory, checks that it is
/// a directory, and opens it as a capability.
fn open_root(given: &Path, mode: Mode, cwd: &Path, home: Option<&Path>) -> anyhow::Result<Root> {
    let expanded = expand_home(given, home);
    let absolute = if expanded.is_absolute() { expanded } else { cwd.join(expanded) };
    let flag = if mode == Mode::Writable { "--root" } else { "--ro-root" };
    let shown = absolute.display();
    let meta = match std::fs::metadata(&absolute) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "root \"{shown}\" does not exist; give an existing directory, e.g. mcp-files-sqlite {flag} /path/to/project"
            )
        }
        Err(e) => return Err(e).with_context(|| format!("reading root \"{shown}\"")),
    };
    if !meta.is_dir() {
        let parent =
            absolute.parent().map(|p| p.display().to_string()).unwrap_or_else(|| "/".to_owned());
        bail!(
            "root \"{shown}\" is not a directory; give the directory that contains it, e.g. mcp-files-sqlite {flag} {parent}"
        );
    }
    let canonical = platform::simplified(
        std::fs::canonicalize(&absolute).with_context(|| format!("resolving root \"{shown}\""))?,
    );
    // Show the path as given unless it needs `..` resolved, which only the canonical form does right.
    let display = if absolute.components().any(|c| c == Component::ParentDir) {
        canonical.clone()
    } else {
        absolute.components().collect()
    };
    let dir = Dir::open_ambient_dir(&canonical, ambient_authority())
        .with_context(|| format!("opening root \"{shown}\""))?;
    Ok(Root::new(display, canonical, mode, dir))
}

/// Parses `[NAME=]PATH` and checks the file: it must exist and be a regular file (SQLite checks
/// that it is a database when it is opened). The path is made canonical so that opening it with
/// `NOFOLLOW` cannot be redirected later.
fn db_spec(text: &str, writable: bool, cwd: &Path, home: Option<&Path>) -> anyhow::Result<DbSpec> {
    let flag = if writable { "--db-rw" } else { "--db" };
    let (name, path) = split_db_spec(text, flag, cwd, home)?;
    let expanded = expand_home(Path::new(path), home);
    let absolute = if expanded.is_absolute() { expanded } else { cwd.join(expanded) };
    let shown = absolute.display();
    let meta = match std::fs::metadata(&absolute) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "database \"{shown}\" does not exist (databases are never created); give an existing SQLite file, e.g. {flag} shop=/path/to/shop.db"
        ),
        Err(e) => return Err(e).with_context(|| format!("reading database \"{shown}\"")),
    };
    if !meta.is_file() {
        bail!(
            "database \"{shown}\" is not a file; give the SQLite database file itself, e.g. {flag} shop=/path/to/shop.db"
        );
    }
    let canonical = platform::simplified(
        std::fs::canonicalize(&absolute)
            .with_context(|| format!("resolving database \"{shown}\""))?,
    );
    let name = match name {
        Some(name) => name,
        None => {
            let stem = absolute.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
            if !db::is_valid_name(&stem) {
                bail!(
                    "database \"{shown}\" needs a name (its file name is not one: use letters, digits, _ and -); give one with {flag} NAME={shown}"
                );
            }
            stem
        }
    };
    Ok(DbSpec { name, path: canonical, writable })
}

/// Keeps the file tools away from a served database and its journal files (which may not exist
/// yet): SQLite alone changes them, and only through the SQL tools of a `--db-rw` database.
fn protect_database(sandbox: &mut Sandbox, spec: &DbSpec) {
    let name = &spec.name;
    let hint = if spec.writable {
        "the file tools never change a served database; change its data with write_query or create_table"
    } else {
        "the file tools never change a served database, and this one is read-only (--db); to change its data, serve it with --db-rw and use write_query"
    };
    for (suffix, what) in [
        ("", format!("the database \"{name}\"")),
        ("-wal", format!("the write-ahead log of the database \"{name}\"")),
        ("-shm", format!("the shared-memory file of the database \"{name}\"")),
        ("-journal", format!("the rollback journal of the database \"{name}\"")),
    ] {
        let mut path = spec.path.as_os_str().to_owned();
        path.push(suffix);
        sandbox.protect(Path::new(&path), what, hint);
    }
}

/// Splits `[NAME=]PATH`. A path may itself contain `=`, so the text is a bare path when the part
/// before the first `=` looks like a path (it has a separator) or when the whole text names an
/// existing file. Otherwise the part before `=` is meant as a name, and one that is not valid is an
/// error about the name, not a missing file.
fn split_db_spec<'a>(
    text: &'a str,
    flag: &str,
    cwd: &Path,
    home: Option<&Path>,
) -> anyhow::Result<(Option<String>, &'a str)> {
    let whole_is_file = cwd.join(expand_home(Path::new(text), home)).is_file();
    let Some((name, path)) = named(text, whole_is_file) else { return Ok((None, text)) };
    if db::is_valid_name(name) {
        return Ok((Some(name.to_owned()), path));
    }
    bail!(
        "database name \"{name}\" (in {flag} {text}) is not valid: use letters, digits, _ and - (at most 64), e.g. {flag} {}={path}",
        suggested_name(name)
    )
}

/// `[NAME=]PATH` split into the part meant as a name and the path, or `None` when the whole text
/// is a path: it has no `=`, or the part before the first `=` looks like a path (it has a
/// separator) and is not a valid name, or the whole text names an existing file.
fn named(text: &str, whole_is_file: bool) -> Option<(&str, &str)> {
    let (name, path) = text.split_once('=')?;
    if db::is_valid_name(name) {
        return Some((name, path));
    }
    let looks_like_path = name.contains('/') || name.contains(std::path::MAIN_SEPARATOR);
    (!looks_like_path && !whole_is_file).then_some((name, path))
}

/// A valid database name close to `name`, for error messages.
fn suggested_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
        .take(64)
        .collect();
    if cleaned.is_empty() { "shop".to_owned() } else { cleaned }
}

fn expand_home(path: &Path, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_owned(),
    }
}

fn read_config_file(path: &Path, home: Option<&Path>) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file \"{}\"", path.display()))?;
    let mut config: FileConfig = toml::from_str(&text)
        .with_context(|| format!("parsing config file \"{}\"", path.display()))?;
    // Relative paths in the file are relative to the file, not to wherever the host starts us.
    let base = path.parent().map(Path::to_owned).unwrap_or_default();
    for root in config.roots.iter_mut().chain(config.ro_roots.iter_mut()) {
        let expanded = expand_home(root, home);
        *root = if expanded.is_absolute() { expanded } else { base.join(expanded) };
    }
    if let Some(history) = config.history.as_mut().filter(|h| h.as_os_str() != "off") {
        let expanded = expand_home(history, home);
        *history = if expanded.is_absolute() { expanded } else { base.join(expanded) };
    }
    for spec in config.db.iter_mut().chain(config.db_rw.iter_mut()) {
        // As on the command line (`split_db_spec`): NAME=PATH unless the text is a path.
        let whole_is_file = base.join(expand_home(Path::new(spec.as_str()), home)).is_file();
        let (name, path) = match named(spec, whole_is_file) {
            Some((name, path)) => (format!("{name}="), path.to_owned()),
            None => (String::new(), spec.clone()),
        };
        let expanded = expand_home(Path::new(&path), home);
        let resolved = if expanded.is_absolute() { expanded } else { base.join(expanded) };
        *spec = format!("{name}{}", resolved.display());
    }
    Ok(config)
}
