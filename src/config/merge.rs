//! The pure half of the configuration: the command line merged over the config file over the
//! defaults, each setting checked against its bounds. No file system access, so every rule here
//! is unit-tested; `config::Config::from_args` reads the file before and opens what this names
//! after (the way ripgrep splits its low-level and high-level arguments).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use serde::Deserialize;

use crate::cli::{Args, Switch, is_unset_placeholder, parse_duration, parse_size};
use crate::config::{
    DEFAULT_MAX_LOG_MESSAGES, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_UNSENT_BYTES,
    DEFAULT_PROGRESS_AFTER, DEFAULT_RESOURCE_PAGE_SIZE, EXAMPLE, MAX_RESOURCE_PAGE_SIZE,
    MIN_MAX_MESSAGE_BYTES, MIN_PROGRESS_AFTER,
};
use crate::db::query::DbLimits;
use crate::journal::{DEFAULT_HISTORY_DAYS, MAX_HISTORY_DAYS};
use crate::sandbox::Limits;
use crate::watch::{MAX_DEBOUNCE, MIN_POLL_INTERVAL, Mode as WatchMode, Options as WatchOptions};

/// The TOML file's settings: the long flags' names with underscores. Unknown keys are errors, so a
/// typo does not silently fall back to a default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    #[serde(default)]
    pub(crate) roots: Vec<PathBuf>,
    #[serde(default)]
    pub(crate) ro_roots: Vec<PathBuf>,
    #[serde(default)]
    pub(crate) db: Vec<String>,
    #[serde(default)]
    pub(crate) db_rw: Vec<String>,
    pub(crate) read_only: Option<bool>,
    pub(crate) ignore_client_roots: Option<bool>,
    pub(crate) max_read_bytes: Option<Size>,
    pub(crate) max_media_bytes: Option<Size>,
    pub(crate) max_edit_bytes: Option<Size>,
    pub(crate) max_entries: Option<usize>,
    pub(crate) max_result_bytes: Option<Size>,
    pub(crate) max_line_bytes: Option<Size>,
    pub(crate) resource_page_size: Option<usize>,
    pub(crate) max_message_bytes: Option<Size>,
    pub(crate) max_unsent_bytes: Option<Size>,
    pub(crate) max_blocking_calls: Option<usize>,
    pub(crate) max_log_messages: Option<usize>,
    pub(crate) history: Option<PathBuf>,
    pub(crate) history_max_bytes: Option<Size>,
    pub(crate) history_days: Option<u64>,
    pub(crate) history_max_file: Option<Size>,
    pub(crate) tool_timeout: Option<Seconds>,
    pub(crate) max_regex_bytes: Option<Size>,
    pub(crate) query_timeout: Option<Seconds>,
    pub(crate) max_rows: Option<usize>,
    pub(crate) max_counted_rows: Option<usize>,
    pub(crate) max_cell_bytes: Option<Size>,
    pub(crate) max_value_bytes: Option<Size>,
    pub(crate) watch: Option<String>,
    pub(crate) progress_after: Option<Seconds>,
    pub(crate) debounce: Option<Seconds>,
    pub(crate) poll_interval: Option<Seconds>,
}

/// A duration in the config file: a number of seconds, or a string with a unit ("500ms").
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Seconds {
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
pub(crate) enum Size {
    Bytes(u64),
    Text(String),
}

/// Every setting, merged and checked, before anything is opened.
#[derive(Debug)]
pub(crate) struct Settings {
    /// Writable roots as given (relative to the working directory, `~` not yet expanded).
    pub(crate) writable: Vec<PathBuf>,
    /// Read-only roots as given.
    pub(crate) read_only_roots: Vec<PathBuf>,
    /// `--read-only`: every root read-only.
    pub(crate) all_read_only: bool,
    /// `--db` texts (`[NAME=]PATH`).
    pub(crate) db_ro: Vec<String>,
    /// `--db-rw` texts.
    pub(crate) db_rw: Vec<String>,
    pub(crate) limits: Limits,
    pub(crate) db_limits: DbLimits,
    pub(crate) resource_page_size: usize,
    pub(crate) ignore_client_roots: bool,
    pub(crate) watch: WatchOptions,
    pub(crate) progress_after: Duration,
    pub(crate) max_message_bytes: usize,
    pub(crate) max_unsent_bytes: usize,
    pub(crate) max_blocking_calls: usize,
    pub(crate) max_log_messages: usize,
    /// The change journal's directory as given (`None`: the default; "off": none), and bounds.
    pub(crate) history: Option<PathBuf>,
    pub(crate) history_bounds: crate::journal::Bounds,
}

/// Merges the command line over the config file over the defaults. A kind of root or database
/// given on the command line replaces that kind from the file; every other flag wins over its
/// key. Errors name the flag and the key, and say what would be accepted.
///
/// Long because it is the list of the remaining settings, each read and checked against its
/// bounds where it is named; the file and database limits have functions of their own.
pub(crate) fn merge(args: &Args, file: &FileConfig) -> anyhow::Result<Settings> {
    let mut writable: Vec<PathBuf> = args.paths.iter().chain(&args.roots).cloned().collect();
    if writable.is_empty() {
        writable = file.roots.clone();
    }
    let launched = |list: &[String]| -> Vec<String> {
        list.iter().filter(|a| !is_unset_placeholder(a)).cloned().collect()
    };
    let ro_roots: Vec<PathBuf> = args
        .ro_roots
        .iter()
        .chain(args.ro_roots_list.iter().filter(|p| !p.to_str().is_some_and(is_unset_placeholder)))
        .cloned()
        .collect();
    let dbs: Vec<String> = args.dbs.iter().cloned().chain(launched(&args.dbs_list)).collect();
    let dbs_rw: Vec<String> =
        args.dbs_rw.iter().cloned().chain(launched(&args.dbs_rw_list)).collect();
    let read_only_roots = if ro_roots.is_empty() { file.ro_roots.clone() } else { ro_roots };
    let db_ro = if dbs.is_empty() { file.db.clone() } else { dbs };
    let db_rw = if dbs_rw.is_empty() { file.db_rw.clone() } else { dbs_rw };
    if writable.is_empty() && read_only_roots.is_empty() && db_ro.is_empty() && db_rw.is_empty() {
        bail!("no directory or database to serve: give at least one root or database, {EXAMPLE}");
    }

    let limits = file_limits(args, file)?;

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
    let max_message_bytes = memory(
        args.max_message_bytes,
        &file.max_message_bytes,
        DEFAULT_MAX_MESSAGE_BYTES,
        "max_message_bytes",
    )?;
    if max_message_bytes < MIN_MAX_MESSAGE_BYTES {
        bail!(
            "--max-message-bytes (or max_message_bytes in the config file) is {max_message_bytes}; it must be at least {MIN_MAX_MESSAGE_BYTES} (an initialize request must fit)"
        );
    }
    let max_unsent_bytes = memory(
        args.max_unsent_bytes,
        &file.max_unsent_bytes,
        DEFAULT_MAX_UNSENT_BYTES,
        "max_unsent_bytes",
    )?;
    let max_blocking_calls = count(
        args.max_blocking_calls,
        file.max_blocking_calls,
        default_max_blocking_calls(),
        "max_blocking_calls",
    )?;

    // 0 is allowed: no log message goes to the client (stderr keeps them all).
    let max_log_messages =
        args.max_log_messages.or(file.max_log_messages).unwrap_or(DEFAULT_MAX_LOG_MESSAGES);

    let db_limits = db_limits(args, file, limits.max_result_bytes)?;
    let progress_after = duration(
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

    Ok(Settings {
        writable,
        read_only_roots,
        all_read_only: args.read_only.and_then(Switch::given).or(file.read_only).unwrap_or(false),
        db_ro,
        db_rw,
        limits,
        db_limits,
        resource_page_size,
        ignore_client_roots: args.ignore_client_roots || file.ignore_client_roots.unwrap_or(false),
        watch: watch_options(args, file)?,
        progress_after,
        max_message_bytes,
        max_unsent_bytes,
        max_blocking_calls,
        max_log_messages,
        history: args.history.clone().or_else(|| file.history.clone()),
        history_bounds: history_bounds(args, file)?,
    })
}

/// The change journal's bounds: none may be 0 (`--history off` turns the journal off).
fn history_bounds(args: &Args, file: &FileConfig) -> anyhow::Result<crate::journal::Bounds> {
    let defaults = crate::journal::Bounds::default();
    let max_bytes = size(
        args.history_max_bytes,
        &file.history_max_bytes,
        defaults.max_bytes,
        "history_max_bytes",
    )?;
    let max_file =
        size(args.history_max_file, &file.history_max_file, defaults.max_file, "history_max_file")?;
    if max_file > max_bytes {
        bail!(
            "--history-max-file ({max_file} bytes) is more than --history-max-bytes ({max_bytes} bytes), so a file that big could never be kept; lower the first or raise the second"
        );
    }
    let days = args.history_days.or(file.history_days).unwrap_or(DEFAULT_HISTORY_DAYS);
    if days == 0 || days > MAX_HISTORY_DAYS {
        bail!(
            "--history-days (or history_days in the config file) is {days}; give 1 to {MAX_HISTORY_DAYS} days (--history off keeps no journal)"
        );
    }
    Ok(crate::journal::Bounds {
        max_bytes,
        max_age: Duration::from_secs(days * 24 * 3600),
        max_file,
    })
}

/// The sandbox's limits (sizes, counts, the tool timeout, the regex size).
fn file_limits(args: &Args, file: &FileConfig) -> anyhow::Result<Limits> {
    let defaults = Limits::default();
    Ok(Limits {
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
        max_result_bytes: memory(
            args.max_result_bytes,
            &file.max_result_bytes,
            defaults.max_result_bytes,
            "max_result_bytes",
        )?,
        max_line_bytes: memory(
            args.max_line_bytes,
            &file.max_line_bytes,
            defaults.max_line_bytes,
            "max_line_bytes",
        )?,
        tool_timeout: duration(
            args.tool_timeout,
            &file.tool_timeout,
            defaults.tool_timeout,
            "tool_timeout",
        )?,
        max_regex_bytes: memory(
            args.max_regex_bytes,
            &file.max_regex_bytes,
            defaults.max_regex_bytes,
            "max_regex_bytes",
        )?,
    })
}

/// The databases' limits; results share `--max-result-bytes` with the file tools.
fn db_limits(args: &Args, file: &FileConfig, max_result_bytes: usize) -> anyhow::Result<DbLimits> {
    let db_defaults = DbLimits::default();
    Ok(DbLimits {
        query_timeout: duration(
            args.query_timeout,
            &file.query_timeout,
            db_defaults.query_timeout,
            "query_timeout",
        )?,
        max_rows: count(args.max_rows, file.max_rows, db_defaults.max_rows, "max_rows")?,
        max_counted_rows: count(
            args.max_counted_rows,
            file.max_counted_rows,
            db_defaults.max_counted_rows,
            "max_counted_rows",
        )?,
        max_result_bytes,
        max_cell_bytes: memory(
            args.max_cell_bytes,
            &file.max_cell_bytes,
            db_defaults.max_cell_bytes,
            "max_cell_bytes",
        )?,
        max_value_bytes: memory(
            args.max_value_bytes,
            &file.max_value_bytes,
            db_defaults.max_value_bytes,
            "max_value_bytes",
        )?,
    })
}

/// File operations that run at once unless configured otherwise: twice the cores, so a slow
/// disk or a long walk never leaves the cores idle, and a flood of calls queues instead of
/// starting a thread each.
pub(crate) fn default_max_blocking_calls() -> usize {
    2 * std::thread::available_parallelism().map_or(1, usize::from)
}

/// A size setting in bytes: the flag (already parsed), else the config file's number or text,
/// else the default. Zero in the file is refused (the flag's parser refuses it too).
fn size(flag: Option<u64>, file: &Option<Size>, default: u64, name: &str) -> anyhow::Result<u64> {
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
}

/// A size setting for something held in memory: as `size`, and it must fit this machine's
/// address space.
fn memory(
    flag: Option<u64>,
    file: &Option<Size>,
    default: usize,
    name: &str,
) -> anyhow::Result<usize> {
    let bytes = size(flag, file, default as u64, name)?;
    usize::try_from(bytes)
        .map_err(|_| anyhow::anyhow!("{name} is {bytes} bytes, more than this system can address"))
}

/// A count setting: the flag, else the file, else the default; never zero.
fn count(
    flag: Option<usize>,
    file: Option<usize>,
    default: usize,
    name: &str,
) -> anyhow::Result<usize> {
    match flag.or(file).unwrap_or(default) {
        0 => bail!(
            "--{} (or {name} in the config file) must be greater than zero",
            name.replace('_', "-")
        ),
        n => Ok(n),
    }
}

/// A duration setting: the flag, else the config file's number (seconds) or text, else the
/// default.
fn duration(
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
    let debounce = duration(args.debounce, &file.debounce, defaults.debounce, "debounce")?;
    if debounce > MAX_DEBOUNCE {
        bail!(
            "--debounce (or debounce in the config file) is {debounce:?}; it can be at most {MAX_DEBOUNCE:?} (notifications would come too late to be useful)"
        );
    }
    let poll_interval =
        duration(args.poll_interval, &file.poll_interval, defaults.poll_interval, "poll_interval")?;
    if poll_interval < MIN_POLL_INTERVAL {
        bail!(
            "--poll-interval (or poll_interval in the config file) is {poll_interval:?}; it must be at least {MIN_POLL_INTERVAL:?} (polling faster would keep a core busy)"
        );
    }
    Ok(WatchOptions { mode, debounce, poll_interval })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn args(line: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("mcp-files-sqlite").chain(line.iter().copied()))
            .unwrap()
    }

    fn file(toml: &str) -> FileConfig {
        toml::from_str(toml).unwrap()
    }

    fn error(line: &[&str], toml: &str) -> String {
        merge(&args(line), &file(toml)).unwrap_err().to_string()
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_the_defaults() {
        let settings = merge(
            &args(&["--max-read-bytes", "2MiB", "/p"]),
            &file("max_read_bytes = 5\nmax_rows = 7"),
        )
        .unwrap();
        assert_eq!(settings.limits.max_read_bytes, 2 << 20);
        assert_eq!(settings.db_limits.max_rows, 7);
        assert_eq!(settings.limits.max_entries, Limits::default().max_entries);
        assert_eq!(settings.writable, [PathBuf::from("/p")]);
    }

    #[test]
    fn roots_and_databases_from_the_command_line_replace_the_files_of_that_kind() {
        let toml = "roots = [\"/a\"]\nro_roots = [\"/b\"]\ndb = [\"x=/x.db\"]";
        let settings = merge(&args(&["--ro-root", "/c"]), &file(toml)).unwrap();
        assert_eq!(settings.writable, [PathBuf::from("/a")]);
        assert_eq!(settings.read_only_roots, [PathBuf::from("/c")]);
        assert_eq!(settings.db_ro, ["x=/x.db"]);
        assert!(error(&[], "").contains("no directory or database to serve"));
    }

    #[test]
    fn file_values_take_units_and_numbers_and_are_checked_like_flags() {
        let toml = "max_result_bytes = \"1.5MiB\"\nquery_timeout = 2.5\ndebounce = \"50ms\"";
        let settings = merge(&args(&["/p"]), &file(toml)).unwrap();
        assert_eq!(settings.limits.max_result_bytes, 3 << 19);
        assert_eq!(settings.db_limits.query_timeout, Duration::from_millis(2500));
        assert_eq!(settings.watch.debounce, Duration::from_millis(50));
        assert!(error(&["/p"], "max_read_bytes = 0").contains("greater than zero"));
        assert!(error(&["/p"], "max_rows = 0").contains("--max-rows"));
        assert!(error(&["/p"], "max_read_bytes = \"lots\"").contains("max_read_bytes"));
        assert!(error(&["/p"], "watch = \"sometimes\"").contains("auto, poll or off"));
    }

    #[test]
    fn every_bounded_setting_holds_at_its_edges() {
        let ok = |line: &[&str]| merge(&args(line), &file("")).is_ok();
        assert!(ok(&["/p", "--resource-page-size", "10000"]));
        assert!(!ok(&["/p", "--resource-page-size", "10001"]));
        assert!(ok(&["/p", "--max-message-bytes", "4KiB"]));
        assert!(!ok(&["/p", "--max-message-bytes", "4095"]));
        assert!(ok(&["/p", "--progress-after", "10ms"]));
        assert!(!ok(&["/p", "--progress-after", "9ms"]));
        assert!(ok(&["/p", "--debounce", "10s"]));
        assert!(!ok(&["/p", "--debounce", "11s"]));
        assert!(ok(&["/p", "--poll-interval", "10ms"]));
        assert!(!ok(&["/p", "--poll-interval", "9ms"]));
        assert!(ok(&["/p", "--history-days", "1"]));
        assert!(!ok(&["/p", "--history-days", "0"]));
        assert!(ok(&["/p", "--history-days", "3650"]));
        assert!(!ok(&["/p", "--history-days", "3651"]));
        assert!(ok(&["/p", "--history-max-file", "1KiB", "--history-max-bytes", "1KiB"]));
        assert!(!ok(&["/p", "--history-max-file", "1025", "--history-max-bytes", "1KiB"]));
        let zero = ["mcp-files-sqlite", "/p", "--history-max-bytes", "0"];
        assert!(Args::try_parse_from(zero).is_err(), "a size of 0 is refused as it is parsed");
        assert!(merge(&args(&["/p"]), &file("history_max_file = 0")).is_err());
        let toml = "history = \"off\"\nhistory_days = 3\nhistory_max_file = \"1MiB\"";
        let settings = merge(&args(&["/p"]), &file(toml)).unwrap();
        assert_eq!(settings.history.as_deref(), Some(std::path::Path::new("off")));
        assert_eq!(settings.history_bounds.max_age, Duration::from_secs(3 * 24 * 3600));
        assert_eq!(settings.history_bounds.max_file, 1 << 20);
    }

    #[test]
    fn read_only_and_client_roots_switches_come_from_either_side() {
        let settings = merge(&args(&["/p"]), &file("read_only = true")).unwrap();
        assert!(settings.all_read_only && !settings.ignore_client_roots);
        let settings = merge(&args(&["/p", "--ignore-client-roots"]), &file("")).unwrap();
        assert!(settings.ignore_client_roots && !settings.all_read_only);
    }

    #[test]
    fn read_only_takes_an_optional_value_that_wins_over_the_file() {
        let merged = |line: &[&str], toml: &str| merge(&args(line), &file(toml)).unwrap();
        assert!(merged(&["--read-only", "/p"], "").all_read_only);
        assert_eq!(merged(&["--read-only", "/p"], "").writable, [PathBuf::from("/p")]);
        assert!(merged(&["/p", "--read-only=true"], "").all_read_only);
        assert!(!merged(&["/p", "--read-only=false"], "read_only = true").all_read_only);
        assert!(merged(&["/p"], "read_only = true").all_read_only);
        assert!(Args::try_parse_from(["m", "/p", "--read-only=maybe"]).is_err());
        // A bundle host with no value for the switch leaves its placeholder: not given.
        let placeholder = "--read-only=${user_config.read_only}";
        assert!(merged(&["/p", placeholder], "read_only = true").all_read_only);
        assert!(!merged(&["/p", placeholder], "").all_read_only);
    }

    #[test]
    fn launcher_lists_take_every_value_and_skip_unreplaced_placeholders() {
        // As an MCP bundle host expands ["--ro-roots", "${user_config.ro}", "--dbs", ...]:
        let settings = merge(
            &args(&[
                "--read-only=false",
                "--ro-roots",
                "/r1",
                "/r 2",
                "--dbs",
                "${user_config.dbs}",
                "--dbs-rw",
                "--ro-root",
                "/r3",
                "--",
                "/w1",
                "/w2",
            ]),
            &file("db = [\"/from-file.db\"]"),
        )
        .unwrap();
        assert_eq!(settings.writable, [PathBuf::from("/w1"), PathBuf::from("/w2")]);
        assert_eq!(
            settings.read_only_roots,
            [PathBuf::from("/r3"), PathBuf::from("/r1"), PathBuf::from("/r 2")]
        );
        // No database given on the command line: the file's stay.
        assert_eq!(settings.db_ro, ["/from-file.db"]);
        assert!(settings.db_rw.is_empty());
        let settings = merge(
            &args(&["--dbs", "/a.db", "s=/b.db", "--dbs-rw", "/c.db", "--", "/w"]),
            &file(""),
        )
        .unwrap();
        assert_eq!(settings.db_ro, ["/a.db", "s=/b.db"]);
        assert_eq!(settings.db_rw, ["/c.db"]);
        for placeholder in ["${user_config.x}", "${user_config.ro_dirs}"] {
            assert!(is_unset_placeholder(placeholder));
        }
        for real in ["${HOME}", "${user_config.}", "/x/${user_config.a}", "${user_config.a}b"] {
            assert!(!is_unset_placeholder(real), "{real}");
        }
    }
}
