//! `Config::from_args`: merges the command line with the optional TOML file, validates it, applies
//! defaults, and opens every root. This is the only code that opens host paths by name (cap-std's
//! ambient authority); after start-up every access goes through a `Root`.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use serde::Deserialize;

use crate::cli::{Args, parse_duration, parse_size};
use crate::db::query::DbLimits;
use crate::db::{self, Databases, DbSpec};
use crate::sandbox::platform;
use crate::sandbox::root::{Mode, Root};
use crate::sandbox::{Limits, Sandbox};
use crate::server::progress::{DEFAULT_PROGRESS_AFTER, MIN_PROGRESS_AFTER};
use crate::server::transport::{
    DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_UNSENT_BYTES, MIN_MAX_MESSAGE_BYTES,
};
use crate::watch::{MAX_DEBOUNCE, MIN_POLL_INTERVAL, Mode as WatchMode, Options as WatchOptions};

/// Files per page of `resources/list` unless configured otherwise: large enough that a
/// 100,000-file root lists in 40 pages (the MCP Inspector gives up after 64), small enough that a
/// page stays well under a megabyte of JSON.
pub const DEFAULT_RESOURCE_PAGE_SIZE: usize = 2500;
/// Most files one page of `resources/list` may hold (`--resource-page-size`): bounds the memory
/// and the size of one response.
pub const MAX_RESOURCE_PAGE_SIZE: usize = 10_000;

const EXAMPLE: &str = "for example:\n  mcp-files-sqlite ~/code/my-app\n  mcp-files-sqlite --root ~/code/my-app --ro-root ~/Documents/specs\n  mcp-files-sqlite --db shop=~/data/shop.db\n(see mcp-files-sqlite --help)";

/// Everything the server needs, validated and opened.
pub struct Config {
    /// The roots and file limits.
    pub sandbox: Sandbox,
    /// The open databases.
    pub databases: Databases,
    /// The database limits in force.
    pub db_limits: DbLimits,
    /// Files per page of `resources/list`.
    pub resource_page_size: usize,
    /// Whether to ignore the roots a client announces.
    pub ignore_client_roots: bool,
    /// How changes are watched for subscriptions.
    pub watch: WatchOptions,
    /// How long a call runs before it reports progress, and how often after that.
    pub progress_after: Duration,
    /// The longest line (one message) a client may send.
    pub max_message_bytes: usize,
    /// Bytes of answers that may wait to be written before stdin stops being read.
    pub max_unsent_bytes: usize,
    /// File operations that may run at once.
    pub max_blocking_calls: usize,
}

/// The TOML file's settings: the long flags' names with underscores. Unknown keys are errors, so a
/// typo does not silently fall back to a default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    roots: Vec<PathBuf>,
    #[serde(default)]
    ro_roots: Vec<PathBuf>,
    #[serde(default)]
    db: Vec<String>,
    #[serde(default)]
    db_rw: Vec<String>,
    read_only: Option<bool>,
    ignore_client_roots: Option<bool>,
    max_read_bytes: Option<Size>,
    max_media_bytes: Option<Size>,
    max_edit_bytes: Option<Size>,
    max_entries: Option<usize>,
    max_result_bytes: Option<Size>,
    max_line_bytes: Option<Size>,
    resource_page_size: Option<usize>,
    max_message_bytes: Option<Size>,
    max_unsent_bytes: Option<Size>,
    max_blocking_calls: Option<usize>,
    tool_timeout: Option<Seconds>,
    max_regex_bytes: Option<Size>,
    query_timeout: Option<Seconds>,
    max_rows: Option<usize>,
    max_cell_bytes: Option<Size>,
    max_value_bytes: Option<Size>,
    watch: Option<String>,
    progress_after: Option<Seconds>,
    debounce: Option<Seconds>,
    poll_interval: Option<Seconds>,
}

/// A duration in the config file: a number of seconds, or a string with a unit ("500ms").
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Seconds {
    Number(f64),
    Text(String),
}

impl Seconds {
    /// The duration, checked like the command line's (`parse_duration`).
    fn parse(&self) -> Result<Duration, String> {
        match self {
            Seconds::Number(n) => parse_duration(&n.to_string()),
            Seconds::Text(text) => parse_duration(text),
        }
    }
}

/// A size in the config file: a number of bytes or a string with a unit ("4MiB").
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Size {
    Bytes(u64),
    Text(String),
}

impl Config {
    /// Builds the configuration. Errors (with a corrected example command) for: no root, a root
    /// that does not exist or is not a directory, an unreadable or invalid config file.
    pub fn from_args(args: &Args) -> anyhow::Result<Config> {
        // $HOME on Unix, the user profile on Windows.
        let home = std::env::home_dir().filter(|h| h.is_absolute());
        let file = match &args.config {
            Some(path) => read_config_file(path, home.as_deref())?,
            None => FileConfig::default(),
        };
        let cwd = std::env::current_dir().context("reading the current directory")?;

        // Flags win: a kind of root given on the command line replaces that kind from the file.
        let mut writable: Vec<PathBuf> = args.paths.iter().chain(&args.roots).cloned().collect();
        if writable.is_empty() {
            writable = file.roots.clone();
        }
        let read_only_roots =
            if args.ro_roots.is_empty() { file.ro_roots.clone() } else { args.ro_roots.clone() };
        let all_read_only = args.read_only || file.read_only.unwrap_or(false);
        let db_ro = if args.dbs.is_empty() { file.db.clone() } else { args.dbs.clone() };
        let db_rw = if args.dbs_rw.is_empty() { file.db_rw.clone() } else { args.dbs_rw.clone() };
        if writable.is_empty() && read_only_roots.is_empty() && db_ro.is_empty() && db_rw.is_empty()
        {
            bail!(
                "no directory or database to serve: give at least one root or database, {EXAMPLE}"
            );
        }

        let mut roots: Vec<Root> = Vec::new();
        let requested = writable
            .iter()
            .map(|p| (p, Mode::Writable))
            .chain(read_only_roots.iter().map(|p| (p, Mode::ReadOnly)));
        for (path, mode) in requested {
            let mode = if all_read_only { Mode::ReadOnly } else { mode };
            let root = open_root(path, mode, &cwd, home.as_deref())?;
            // The same directory twice: keep one, read-only if either asked for it.
            if let Some(existing) = roots.iter_mut().find(|r| r.canonical() == root.canonical()) {
                if mode == Mode::ReadOnly && existing.mode() == Mode::Writable {
                    *existing = root;
                }
                continue;
            }
            roots.push(root);
        }

        let size = |flag: Option<u64>,
                    file: &Option<Size>,
                    default: u64,
                    name: &str|
         -> anyhow::Result<u64> {
            match (flag, file) {
                (Some(v), _) => Ok(v),
                (None, Some(Size::Bytes(0))) => {
                    bail!("{name} in the config file must be greater than zero")
                }
                (None, Some(Size::Bytes(v))) => Ok(*v),
                (None, Some(Size::Text(t))) => {
                    parse_size(t).map_err(|e| anyhow::anyhow!("{name} in the config file: {e}"))
                }
                (None, None) => Ok(default),
            }
        };
        let count = |flag: Option<usize>,
                     file: Option<usize>,
                     default: usize,
                     name: &str|
         -> anyhow::Result<usize> {
            match flag.or(file).unwrap_or(default) {
                0 => bail!(
                    "--{} (or {name} in the config file) must be greater than zero",
                    name.replace('_', "-")
                ),
                n => Ok(n),
            }
        };
        let defaults = Limits::default();
        let limits = Limits {
            max_read_bytes: size(
                args.max_read_bytes,
                &file.max_read_bytes,
                defaults.max_read_bytes,
                "max_read_bytes",
            )?,
            max_media_bytes: size(
                args.max_media_bytes,
                &file.max_media_bytes,
                defaults.max_media_bytes,
                "max_media_bytes",
            )?,
            max_edit_bytes: size(
                args.max_edit_bytes,
                &file.max_edit_bytes,
                defaults.max_edit_bytes,
                "max_edit_bytes",
            )?,
            max_entries: count(
                args.max_entries,
                file.max_entries,
                defaults.max_entries,
                "max_entries",
            )?,
            max_result_bytes: usize::try_from(size(
                args.max_result_bytes,
                &file.max_result_bytes,
                defaults.max_result_bytes as u64,
                "max_result_bytes",
            )?)?,
            max_line_bytes: usize::try_from(size(
                args.max_line_bytes,
                &file.max_line_bytes,
                defaults.max_line_bytes as u64,
                "max_line_bytes",
            )?)?,
            tool_timeout: duration_setting(
                args.tool_timeout,
                &file.tool_timeout,
                defaults.tool_timeout,
                "tool_timeout",
            )?,
            max_regex_bytes: usize::try_from(size(
                args.max_regex_bytes,
                &file.max_regex_bytes,
                defaults.max_regex_bytes as u64,
                "max_regex_bytes",
            )?)?,
        };
        let resource_page_size = count(
            args.resource_page_size,
            file.resource_page_size,
            DEFAULT_RESOURCE_PAGE_SIZE,
            "resource_page_size",
        )?;
        if resource_page_size > MAX_RESOURCE_PAGE_SIZE {
            bail!(
                "--resource-page-size (or resource_page_size in the config file) is {resource_page_size}; it can be at most {MAX_RESOURCE_PAGE_SIZE} (clients page through the rest)"
            );
        }

        let max_message_bytes = usize::try_from(size(
            args.max_message_bytes,
            &file.max_message_bytes,
            DEFAULT_MAX_MESSAGE_BYTES as u64,
            "max_message_bytes",
        )?)?;
        if max_message_bytes < MIN_MAX_MESSAGE_BYTES {
            bail!(
                "--max-message-bytes (or max_message_bytes in the config file) is {max_message_bytes}; it must be at least {MIN_MAX_MESSAGE_BYTES} (an initialize request must fit)"
            );
        }

        let max_unsent_bytes = usize::try_from(size(
            args.max_unsent_bytes,
            &file.max_unsent_bytes,
            DEFAULT_MAX_UNSENT_BYTES as u64,
            "max_unsent_bytes",
        )?)?;
        let max_blocking_calls = count(
            args.max_blocking_calls,
            file.max_blocking_calls,
            default_max_blocking_calls(),
            "max_blocking_calls",
        )?;

        let db_defaults = DbLimits::default();
        let query_timeout = duration_setting(
            args.query_timeout,
            &file.query_timeout,
            db_defaults.query_timeout,
            "query_timeout",
        )?;
        let db_limits = DbLimits {
            query_timeout,
            max_rows: count(args.max_rows, file.max_rows, db_defaults.max_rows, "max_rows")?,
            max_result_bytes: limits.max_result_bytes,
            max_cell_bytes: usize::try_from(size(
                args.max_cell_bytes,
                &file.max_cell_bytes,
                db_defaults.max_cell_bytes as u64,
                "max_cell_bytes",
            )?)?,
            max_value_bytes: usize::try_from(size(
                args.max_value_bytes,
                &file.max_value_bytes,
                db_defaults.max_value_bytes as u64,
                "max_value_bytes",
            )?)?,
        };
        let watch = watch_options(args, &file)?;
        let progress_after = duration_setting(
            args.progress_after,
            &file.progress_after,
            DEFAULT_PROGRESS_AFTER,
            "progress_after",
        )?;
        if progress_after < MIN_PROGRESS_AFTER {
            bail!(
                "--progress-after (or progress_after in the config file) is {progress_after:?}; it must be at least {MIN_PROGRESS_AFTER:?}"
            );
        }

        let mut specs: Vec<DbSpec> = Vec::new();
        let requested = db_ro.iter().map(|s| (s, false)).chain(db_rw.iter().map(|s| (s, true)));
        for (text, writable) in requested {
            let spec = db_spec(text, writable, &cwd, home.as_deref())?;
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
        let databases = Databases::open(&specs, &db_limits).map_err(|(spec, err)| {
            let flag = if spec.writable { "--db-rw" } else { "--db" };
            anyhow::anyhow!(
                "opening database \"{}\" at \"{}\": {err}; give an existing SQLite database file, e.g. {flag} shop=/path/to/shop.db",
                spec.name,
                spec.path.display()
            )
        })?;

        let mut sandbox = Sandbox::new(roots, limits, home);
        for spec in &specs {
            protect_database(&mut sandbox, spec);
        }

        Ok(Config {
            databases,
            db_limits,
            sandbox,
            resource_page_size,
            ignore_client_roots: args.ignore_client_roots
                || file.ignore_client_roots.unwrap_or(false),
            watch,
            progress_after,
            max_message_bytes,
            max_unsent_bytes,
            max_blocking_calls,
        })
    }
}

/// File operations that run at once unless configured otherwise: twice the cores, so a slow
/// disk or a long walk never leaves the cores idle, and a flood of calls queues instead of
/// starting a thread each.
pub fn default_max_blocking_calls() -> usize {
    2 * std::thread::available_parallelism().map_or(1, usize::from)
}

/// A duration setting: the flag, else the config file's text, else the default.
fn duration_setting(
    flag: Option<Duration>,
    file: &Option<Seconds>,
    default: Duration,
    name: &str,
) -> anyhow::Result<Duration> {
    match (flag, file) {
        (Some(d), _) => Ok(d),
        (None, Some(value)) => {
            value.parse().map_err(|e| anyhow::anyhow!("{name} in the config file: {e}"))
        }
        (None, None) => Ok(default),
    }
}

/// The watcher settings: flags over the file over the defaults, each checked against its bounds.
fn watch_options(args: &Args, file: &FileConfig) -> anyhow::Result<WatchOptions> {
    let defaults = WatchOptions::default();
    let mode = match args.watch.as_deref().or(file.watch.as_deref()) {
        None => defaults.mode,
        Some("auto") => WatchMode::Auto,
        Some("poll") => WatchMode::Poll,
        Some("off") => WatchMode::Off,
        Some(other) => bail!("watch in the config file is \"{other}\"; use auto, poll or off"),
    };
    let debounce = duration_setting(args.debounce, &file.debounce, defaults.debounce, "debounce")?;
    if debounce > MAX_DEBOUNCE {
        bail!(
            "--debounce (or debounce in the config file) is {debounce:?}; it can be at most {MAX_DEBOUNCE:?} (notifications would come too late to be useful)"
        );
    }
    let poll_interval = duration_setting(
        args.poll_interval,
        &file.poll_interval,
        defaults.poll_interval,
        "poll_interval",
    )?;
    if poll_interval < MIN_POLL_INTERVAL {
        bail!(
            "--poll-interval (or poll_interval in the config file) is {poll_interval:?}; it must be at least {MIN_POLL_INTERVAL:?} (polling faster would keep a core busy)"
        );
    }
    Ok(WatchOptions { mode, debounce, poll_interval })
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
    let Some((name, path)) = text.split_once('=') else { return Ok((None, text)) };
    if db::is_valid_name(name) {
        return Ok((Some(name.to_owned()), path));
    }
    let looks_like_path = name.contains('/') || name.contains(std::path::MAIN_SEPARATOR);
    let whole = expand_home(Path::new(text), home);
    let whole_exists = cwd.join(whole).is_file();
    if looks_like_path || whole_exists {
        return Ok((None, text));
    }
    bail!(
        "database name \"{name}\" (in {flag} {text}) is not valid: use letters, digits, _ and - (at most 64), e.g. {flag} {}={path}",
        suggested_name(name)
    )
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
    for spec in config.db.iter_mut().chain(config.db_rw.iter_mut()) {
        // As on the command line (`split_db_spec`): NAME=PATH unless the text is a path.
        let whole_exists = base.join(expand_home(Path::new(spec.as_str()), home)).is_file();
        let (name, path) = match spec.split_once('=') {
            Some((name, path))
                if db::is_valid_name(name)
                    || !(name.contains('/')
                        || name.contains(std::path::MAIN_SEPARATOR)
                        || whole_exists) =>
            {
                (format!("{name}="), path.to_owned())
            }
            _ => (String::new(), spec.clone()),
        };
        let expanded = expand_home(Path::new(&path), home);
        let resolved = if expanded.is_absolute() { expanded } else { base.join(expanded) };
        *spec = format!("{name}{}", resolved.display());
    }
    Ok(config)
}
