//! The binary: parse the command line, send logs to stderr, build the configuration, serve MCP on
//! stdio (or, as `mcp-files-sqlite config ...`, print or write a host's config entry). A fatal
//! error is printed to stderr (with its causes) and exits with status 1.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mcp_files_sqlite::cli::Args;
use mcp_files_sqlite::config::Config;
use mcp_files_sqlite::hosts::{self, HostArgs};
use mcp_files_sqlite::server::host_log;
use mcp_files_sqlite::server::serve_stdio;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

/// How long shutdown waits for blocking work (a walk, a query) still running after stdin closed:
/// briefly, since the client is gone and the server must exit within 100 ms of stdin's end. Work
/// left behind ends with the process; writes are atomic, so none is left half done.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(20);

fn main() -> ExitCode {
    // `mcp-files-sqlite config --host ...` prints or writes a host's entry; anything else serves.
    if std::env::args_os().nth(1).is_some_and(|a| a == "config") {
        let name = std::ffi::OsString::from("mcp-files-sqlite config");
        let args = HostArgs::parse_from(std::iter::once(name).chain(std::env::args_os().skip(2)));
        return match hosts::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("mcp-files-sqlite config: {err:#}");
                ExitCode::FAILURE
            }
        };
    }
    let args = Args::parse();
    init_logging(args.log_level.as_deref());
    let config = match Config::from_args(&args) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("mcp-files-sqlite: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("mcp-files-sqlite: starting the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(serve_stdio(config));
    // Do not wait for blocking work whose client is gone.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mcp-files-sqlite: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr, never stdout, which is the protocol channel (the client gets warnings and
/// errors as MCP messages through the transport). `RUST_LOG` wins over `--log-level`,
/// which sets this crate's level. Dependencies log warnings and errors only, and rmcp errors only:
/// at warn it reports every error response (a client probing an optional method, a model refused
/// a path), which is not a fault of the server; our own logs say what went wrong where it matters.
/// At debug and trace, rmcp's warnings are shown too.
fn init_logging(level: Option<&str>) {
    let level = level.unwrap_or("info");
    let directives = match level {
        "off" => "off".to_owned(),
        "debug" | "trace" => format!("warn,mcp_files_sqlite={level}"),
        _ => format!("warn,rmcp=error,mcp_files_sqlite={level}"),
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(directives));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(filter);
    // Warnings and errors also go to the client, whatever stderr shows (see `host_log`).
    // Only this crate's warnings and errors: a filter of its own, so the other levels and crates
    // stay as cheap as the stderr filter makes them.
    let for_host = tracing_subscriber::filter::Targets::new()
        .with_target(env!("CARGO_CRATE_NAME"), tracing::Level::WARN);
    tracing_subscriber::registry()
        .with(stderr)
        .with(host_log::layer().with_filter(for_host))
        .init();
}
