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

Sizes accept a plain byte count or a unit: 512KiB, 4MiB, 1GiB (also K, M, G, KB, MB, GB).
Durations accept a unit: 500ms, 10s, 2m (a plain number is seconds).
Logs go to stderr (RUST_LOG or --log-level); stdout carries only MCP messages.";

/// An MCP server over stdio that lets a model read, search and edit the files under the
/// directories you allow, and query the SQLite databases you name, and nothing else.
#[derive(Debug, Clone, Parser)]
#[command(name = "mcp-files-sqlite", version, about, after_help = EXAMPLES)]
pub struct Args {
    /// Directories to allow, read and write (same as --root).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// A directory to allow, read and write. Repeatable.
    #[arg(long = "root", value_name = "PATH")]
    pub roots: Vec<PathBuf>,

    /// A directory to allow read-only: write tools refuse it. Repeatable.
    #[arg(long = "ro-root", value_name = "PATH")]
    pub ro_roots: Vec<PathBuf>,

    /// Make every root read-only.
    #[arg(long)]
    pub read_only: bool,

    /// A SQLite database the model may query but not change: PATH, or NAME=PATH (NAME defaults to
    /// the file name without extension). Repeatable.
    #[arg(long = "db", value_name = "[NAME=]PATH")]
    pub dbs: Vec<String>,

    /// A SQLite database the model may also change with write_query and create_table. Repeatable.
    #[arg(long = "db-rw", value_name = "[NAME=]PATH")]
    pub dbs_rw: Vec<String>,

    /// Read settings from a TOML file (keys as the long flags, with underscores: roots, ro_roots,
    /// read_only, max_read_bytes, ...). Flags given on the command line win.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Ignore the roots an MCP client announces (by default they narrow the allowed directories;
    /// they can never widen them).
    #[arg(long)]
    pub ignore_client_roots: bool,

    /// Largest file read_text_file returns whole, and most text any one read returns
    /// [default: 1MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_read_bytes: Option<u64>,

    /// Largest file read_media_file (and a binary resource read) returns [default: 10MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_media_bytes: Option<u64>,

    /// Largest file edit_file rewrites [default: 16MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_edit_bytes: Option<u64>,

    /// Most entries a listing, tree or search returns, and most lines grep returns
    /// [default: 2000].
    #[arg(long, value_name = "N")]
    pub max_entries: Option<usize>,

    /// Most text one listing, tree, search, grep or multi-file read returns [default: 1MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_result_bytes: Option<u64>,

    /// Longest line grep returns; longer lines are cut with a marker [default: 1000].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_line_bytes: Option<u64>,

    /// How long one SQL query may run before it is stopped [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub query_timeout: Option<std::time::Duration>,

    /// Rows per page of a query result (the rest comes with next_cursor) [default: 500].
    #[arg(long, value_name = "N")]
    pub max_rows: Option<usize>,

    /// Longest text or BLOB cell returned; longer ones are cut or summarised [default: 2000].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_cell_bytes: Option<u64>,

    /// Largest string or BLOB a SQL expression may build [default: 64MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_value_bytes: Option<u64>,

    /// How to notice changes for resource subscriptions: auto (the system's file watcher; if it
    /// fails, for example when inotify runs out of watches, subscribed paths are polled), poll
    /// (poll subscribed paths and databases only; for network file systems), or off (no change
    /// notifications) [default: auto].
    #[arg(long, value_name = "MODE", value_parser = ["auto", "poll", "off"])]
    pub watch: Option<String>,

    /// How long changes must settle before subscribers are notified: a burst of changes within it
    /// becomes one notification (at most 10s) [default: 100ms].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub debounce: Option<std::time::Duration>,

    /// How often polled paths and databases are checked (see --watch; at least 10ms)
    /// [default: 1s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub poll_interval: Option<std::time::Duration>,

    /// How long a walk or query runs before it sends progress notifications (to clients that ask
    /// for them with a progress token), and how often it sends them after that (at least 10ms)
    /// [default: 1s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub progress_after: Option<std::time::Duration>,

    /// Resources per page of resources/list [default: 500].
    #[arg(long, value_name = "N")]
    pub resource_page_size: Option<usize>,

    /// Log level for stderr: error, warn, info, debug or trace (RUST_LOG, if set, wins)
    /// [default: info].
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

/// Parses a size: a byte count, optionally with a unit (K/KB/KiB = 1024, M, G likewise;
/// case-insensitive). Rejects zero, since every size limit must allow something.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '_').unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits.replace('_', "").parse().map_err(|_| {
        format!("\"{text}\" is not a size; write bytes or a unit, e.g. 4096, 512KiB, 4MiB")
    })?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("unknown size unit \"{other}\"; use KiB, MiB or GiB")),
    };
    let bytes = number.checked_mul(multiplier).ok_or_else(|| format!("\"{text}\" is too large"))?;
    if bytes == 0 {
        return Err("a size limit must be greater than zero".to_owned());
    }
    Ok(bytes)
}

/// Parses a duration: a number with `ms`, `s` or `m` (a plain number is seconds). Rejects zero.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
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
        assert!(args.read_only);
    }
}
