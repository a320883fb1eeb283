//! `Args`: the command line exactly as given, parsed by clap. No I/O and no defaults beyond
//! clap's: `config.rs` merges these with the config file and applies the documented defaults.
//! Imports nothing from the crate.

use std::path::PathBuf;

use clap::Parser;

const EXAMPLES: &str = "\
Examples:
  Serve a project folder (read and write):
    mcp-files-sqlite ~/code/my-app
  Serve one folder writable and one read-only:
    mcp-files-sqlite --root ~/code/my-app --ro-root ~/Documents/specs
  Everything read-only, with larger reads allowed:
    mcp-files-sqlite --read-only --max-read-bytes 4MiB ~/code/my-app
  A project folder and its SQLite database (read-only), plus a scratch database that may be written:
    mcp-files-sqlite ~/code/shop --db ~/code/shop/data/shop.db --db-rw scratch=/tmp/scratch.db
  Only databases, no folders:
    mcp-files-sqlite --db sales=~/data/sales.sqlite --query-timeout 30s
  Settings from a file (flags given here win over it):
    mcp-files-sqlite --config ~/.config/mcp-files-sqlite.toml
  Add this server to a host's configuration (claude-desktop, claude-code, vscode or cursor):
    mcp-files-sqlite config --host claude-desktop ~/code/my-app --write
    (see mcp-files-sqlite config --help; to serve a directory named config, write ./config)

Sizes are a plain number of bytes (4096) or a number with a unit: 512KiB, 1.5MiB, 1GiB
(also K, M, G, KB, MB, GB; all powers of 1024).
Durations accept a unit: 500ms, 10s, 2m (a plain number is seconds).
Logs go to stderr (RUST_LOG or --log-level); stdout carries only MCP messages.";

/// An MCP server over stdio that lets a model read, search and edit the files under the
/// directories you allow, and query the SQLite databases you name, and nothing else.
#[derive(Debug, Clone, Parser)]
#[command(name = "mcp-files-sqlite", version, about, after_help = EXAMPLES)]
pub struct Args {
    /// Directories to allow, read and write (same as --root).
    #[arg(value_name = "PATH")]
    pub(crate) paths: Vec<PathBuf>,

    /// A directory to allow, read and write. Repeatable.
    #[arg(long = "root", value_name = "PATH")]
    pub(crate) roots: Vec<PathBuf>,

    /// A directory to allow read-only: write tools refuse it. Repeatable.
    #[arg(long = "ro-root", value_name = "PATH")]
    pub(crate) ro_roots: Vec<PathBuf>,

    /// Make every root read-only (--read-only=false undoes a read_only = true in the config
    /// file).
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = parse_switch
    )]
    pub(crate) read_only: Option<Switch>,

    /// A SQLite database the model may query but not change: PATH, or NAME=PATH (NAME defaults to
    /// the file name without extension). Repeatable.
    #[arg(long = "db", value_name = "[NAME=]PATH")]
    pub(crate) dbs: Vec<String>,

    /// A SQLite database the model may also change with write_query and create_table. Repeatable.
    #[arg(long = "db-rw", value_name = "[NAME=]PATH")]
    pub(crate) dbs_rw: Vec<String>,

    /// Like --ro-root for several directories at once: takes the arguments up to the next flag
    /// (none is fine). An argument left as "${user_config.NAME}" counts as none.
    #[arg(long = "ro-roots", value_name = "PATH", num_args = 0.., help_heading = LAUNCHERS)]
    pub(crate) ro_roots_list: Vec<PathBuf>,

    /// Like --db for several databases at once: takes the arguments up to the next flag.
    #[arg(long = "dbs", value_name = "[NAME=]PATH", num_args = 0.., help_heading = LAUNCHERS)]
    pub(crate) dbs_list: Vec<String>,

    /// Like --db-rw for several databases at once: takes the arguments up to the next flag.
    #[arg(long = "dbs-rw", value_name = "[NAME=]PATH", num_args = 0.., help_heading = LAUNCHERS)]
    pub(crate) dbs_rw_list: Vec<String>,

    /// Read settings from a TOML file: roots and ro_roots (lists of directories), db and
    /// db_rw (lists of "[NAME=]PATH"), read_only and ignore_client_roots (true or false), watch
    /// ("auto", "poll" or "off"), and every limit under its flag's name with underscores
    /// (max_read_bytes = "4MiB" or a number of bytes; query_timeout = "30s" or a number of
    /// seconds). Relative paths are relative to the file. Flags given on the command line win;
    /// unknown keys are errors. See examples/config.toml.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Where the change journal is kept, from which undo_change reverses changes: a directory
    /// outside every root, or "off" [default: the platform's state directory:
    /// $XDG_STATE_HOME/mcp-files-sqlite (~/.local/state/...) on Linux,
    /// ~/Library/Application Support/mcp-files-sqlite on macOS,
    /// %LOCALAPPDATA%\mcp-files-sqlite on Windows]. A server with nothing writable keeps none.
    #[arg(long, value_name = "DIR|off")]
    pub(crate) history: Option<PathBuf>,

    /// Most bytes of saved contents the change journal keeps; the oldest changes go first
    /// [default: 512MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) history_max_bytes: Option<u64>,

    /// How many days the change journal keeps a change [default: 7].
    #[arg(long, value_name = "DAYS")]
    pub(crate) history_days: Option<u64>,

    /// Largest content the change journal saves for one file; a change to a larger file cannot
    /// be undone, and its result says so [default: 64MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) history_max_file: Option<u64>,

    /// Ignore the roots an MCP client announces (by default they narrow the allowed directories;
    /// they can never widen them).
    #[arg(long)]
    pub(crate) ignore_client_roots: bool,

    /// Largest file read_text_file returns whole, and most text any one read returns
    /// [default: 1MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) max_read_bytes: Option<u64>,

    /// Largest file read_media_file (and a binary resource read) returns [default: 10MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) max_media_bytes: Option<u64>,

    /// Largest file edit_file rewrites [default: 16MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) max_edit_bytes: Option<u64>,

    /// Most entries a listing, tree or search returns, and most lines grep returns
    /// [default: 2000].
    #[arg(long, value_name = "N")]
    pub(crate) max_entries: Option<usize>,

    /// Most text one listing, tree, search, grep or multi-file read returns [default: 1MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) max_result_bytes: Option<u64>,

    /// Longest line grep returns; longer lines are cut with a marker [default: 1000].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) max_line_bytes: Option<u64>,

    /// How long one SQL query may run before it is stopped [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) query_timeout: Option<std::time::Duration>,

    /// Rows per page of a query result (the rest comes with next_cursor) [default: 500].
    #[arg(long, value_name = "N")]
    pub(crate) max_rows: Option<usize>,

    /// Rows describe_table and the schema resource count; a bigger table is "more than N rows",
    /// with sqlite_stat1's estimate when the database has one [default: 10000].
    #[arg(long, value_name = "N")]
    pub(crate) max_counted_rows: Option<usize>,

    /// Longest text or BLOB cell returned; longer ones are cut or summarised [default: 2000].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) max_cell_bytes: Option<u64>,

    /// Largest string or BLOB a SQL expression may build [default: 64MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) max_value_bytes: Option<u64>,

    /// How to notice changes for resource subscriptions: auto (the system's file watcher; if it
    /// fails, for example when inotify runs out of watches, subscribed paths are polled), poll
    /// (poll subscribed paths and databases only; for network file systems), or off (no change
    /// notifications) [default: auto].
    #[arg(long, value_name = "MODE", value_parser = ["auto", "poll", "off"])]
    pub(crate) watch: Option<String>,

    /// How long changes must settle before subscribers are notified: a burst of changes within it
    /// becomes one notification (at most 10s) [default: 100ms].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) debounce: Option<std::time::Duration>,

    /// How often polled paths and databases are checked (see --watch; at least 10ms)
    /// [default: 1s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) poll_interval: Option<std::time::Duration>,

    /// How long a walk or query runs before it sends progress notifications (to clients that ask
    /// for them with a progress token), and how often it sends them after that (at least 10ms)
    /// [default: 1s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) progress_after: Option<std::time::Duration>,

    /// Resources per page of resources/list (at most 10000) [default: 2500].
    #[arg(long, value_name = "N")]
    pub(crate) resource_page_size: Option<usize>,

    /// Largest message a client may send (one line of JSON-RPC on stdin, e.g. a write_file with
    /// its content); a longer one is refused with an error and skipped without being held
    /// [default: 32MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) max_message_bytes: Option<u64>,

    /// Most bytes of answers that may wait for the client to read them; past it, the server stops
    /// reading requests until the client catches up [default: 64MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) max_unsent_bytes: Option<u64>,

    /// Most file operations (reads, writes, walks, greps) run at once; more wait their turn
    /// [default: twice the number of cores].
    #[arg(long, value_name = "N")]
    pub(crate) max_blocking_calls: Option<usize>,

    /// How long a walk (directory_tree, search_files, grep_files) may run; one that reaches it
    /// stops and returns what it found, saying so [default: 30s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) tool_timeout: Option<std::time::Duration>,

    /// Largest compiled form of a grep_files regular expression (and of its search cache); a
    /// pattern that needs more is refused [default: 4MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) max_regex_bytes: Option<u64>,

    /// Most log messages (warnings and errors) sent to the client per minute, as
    /// notifications/message (0: none); the rest are counted, said once the minute is over, and
    /// stay on stderr [default: 30].
    #[arg(long, value_name = "N")]
    pub(crate) max_log_messages: Option<usize>,

    /// Log level for stderr: off, error, warn, info, debug or trace (RUST_LOG, if set, wins)
    /// [default: info].
    #[arg(long, value_name = "LEVEL", value_parser = LOG_LEVELS)]
    pub log_level: Option<String>,
}

/// The heading of the flags made for launchers such as Claude Desktop's MCP bundles, which
/// expand a list the user picked into separate arguments and leave an optional value they have
/// none for as the literal text `${user_config.NAME}`.
const LAUNCHERS: &str = "For launchers that pass lists as separate arguments (MCP bundles)";

/// Whether `arg` is a launcher's placeholder left unreplaced (`${user_config.dbs}`): an MCP
/// bundle host leaves one where the user gave no value.
pub(crate) fn is_unset_placeholder(arg: &str) -> bool {
    arg.strip_prefix("${user_config.")
        .and_then(|rest| rest.strip_suffix('}'))
        .is_some_and(|name| !name.is_empty() && !name.contains(['{', '}']))
}

/// An on/off flag's value, or none: a launcher's unreplaced placeholder (see
/// `is_unset_placeholder`) counts as the flag not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Switch {
    On,
    Off,
    Unset,
}

impl Switch {
    /// The value given, if any.
    pub(crate) fn given(self) -> Option<bool> {
        match self {
            Switch::On => Some(true),
            Switch::Off => Some(false),
            Switch::Unset => None,
        }
    }
}

fn parse_switch(text: &str) -> Result<Switch, String> {
    match text {
        "true" => Ok(Switch::On),
        "false" => Ok(Switch::Off),
        _ if is_unset_placeholder(text) => Ok(Switch::Unset),
        _ => Err(format!("\"{text}\" is not true or false")),
    }
}

/// The values `--log-level` accepts.
pub(crate) const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Parses a size: a plain number is bytes; a unit multiplies it (K/KB/KiB = 1024, M, G likewise;
/// case-insensitive), and with a unit the number may have a fraction (`1.5MiB`, rounded down to
/// whole bytes). Rejects zero, since every size limit must allow something.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split =
        text.find(|c: char| !c.is_ascii_digit() && c != '_' && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number = number.replace('_', "");
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ if number.is_empty() => {
            return Err(format!(
                "\"{text}\" is not a size; write a number of bytes or a number with a unit, e.g. 4096, 512KiB, 1.5MiB"
            ));
        }
        other => {
            return Err(format!(
                "unknown size unit \"{other}\" in \"{text}\"; use KiB, MiB or GiB (or a plain number of bytes)"
            ));
        }
    };
    let bytes = if let Some((whole, fraction)) = number.split_once('.') {
        if multiplier == 1 {
            return Err(format!(
                "\"{text}\" has a fraction of a byte; write a whole number of bytes, or use a unit (e.g. 1.5MiB)"
            ));
        }
        let valid = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if !valid(whole) || !valid(fraction) || (whole.is_empty() && fraction.is_empty()) {
            return Err(format!("\"{text}\" is not a number; write e.g. 1.5MiB"));
        }
        let value: f64 = number.parse().map_err(|_| format!("\"{text}\" is not a number"))?;
        let bytes = value * multiplier as f64;
        if !bytes.is_finite() || bytes >= u64::MAX as f64 {
            return Err(format!("\"{text}\" is too large"));
        }
        bytes as u64
    } else {
        let value: u64 = number.parse().map_err(|_| {
            format!(
                "\"{text}\" is not a size; write a number of bytes or a number with a unit, e.g. 4096, 512KiB, 1.5MiB"
            )
        })?;
        value.checked_mul(multiplier).ok_or_else(|| format!("\"{text}\" is too large"))?
    };
    if bytes == 0 {
        return Err("a size limit must be greater than zero".to_owned());
    }
    Ok(bytes)
}

/// Parses a duration: a number with `ms`, `s` or `m` (a plain number is seconds). Rejects zero.
pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("\"{text}\" is not a duration; write e.g. 500ms, 10s or 2m"))?;
    let seconds = match unit.trim().to_ascii_lowercase().as_str() {
        "ms" => number / 1000.0,
        "" | "s" | "sec" => number,
        "m" | "min" => number * 60.0,
        other => return Err(format!("unknown duration unit \"{other}\"; use ms, s or m")),
    };
    if !(seconds > 0.0 && seconds < 86_400.0 * 365.0) {
        return Err("a duration must be greater than zero (and less than a year)".to_owned());
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_size_table() {
        let check = |input: &str, expected: Result<u64, ()>| {
            assert_eq!(parse_size(input).map_err(|_| ()), expected, "{input:?}");
        };
        check("4096", Ok(4096));
        check("1_000", Ok(1000));
        check("512KiB", Ok(512 * 1024));
        check("4m", Ok(4 << 20));
        check("1 GB", Ok(1 << 30));
        check("0", Err(()));
        check("", Err(()));
        check("12 parsecs", Err(()));
        check("99999999999999999999G", Err(()));
        // A fraction with a unit is fine, rounded down to whole bytes; a fraction of a byte is not.
        check("1.5MiB", Ok(3 << 19));
        check("0.5k", Ok(512));
        check(".5k", Ok(512));
        check("1.5", Err(()));
        check("1.2.3MiB", Err(()));
        check("0.0000001k", Err(()));
        check("MiB", Err(()));
        let fraction = parse_size("1.5").unwrap_err();
        assert!(fraction.contains("fraction"), "{fraction}");
        let unit = parse_size("12 parsecs").unwrap_err();
        assert!(unit.contains("unit \"parsecs\""), "{unit}");
    }

    #[test]
    fn parse_duration_table() {
        use std::time::Duration;
        let check = |input: &str, expected: Result<Duration, ()>| {
            assert_eq!(parse_duration(input).map_err(|_| ()), expected, "{input:?}");
        };
        check("10s", Ok(Duration::from_secs(10)));
        check("10", Ok(Duration::from_secs(10)));
        check("500ms", Ok(Duration::from_millis(500)));
        check("1.5s", Ok(Duration::from_millis(1500)));
        check("2m", Ok(Duration::from_secs(120)));
        check("0s", Err(()));
        check("fast", Err(()));
        check("3h", Err(()));
    }

    #[test]
    fn args_parse_repeated_roots() {
        let args = Args::parse_from([
            "x",
            "a",
            "--root",
            "b",
            "--ro-root",
            "c",
            "--ro-root",
            "d",
            "--read-only",
        ]);
        assert_eq!(args.paths, vec![PathBuf::from("a")]);
        assert_eq!(args.roots, vec![PathBuf::from("b")]);
        assert_eq!(args.ro_roots.len(), 2);
        assert_eq!(args.read_only, Some(Switch::On));
    }
}
