//! # mcp-files-sqlite
//!
//! An MCP server over stdio that gives a model the user's project files and SQLite databases:
//! read, search and edit files under the directories the user allowed, query the databases the
//! user named (and change those opened writable), and nothing else.
//!
//! The binary speaks MCP over stdio. [`server`] turns requests into calls on the cores, which are
//! plain Rust and know nothing of MCP: [`sandbox`] (files under the roots, through cap-std
//! directory handles), `db` (each database on its own worker thread, its rules enforced by
//! SQLite's authorizer) and `watch` (change events). [`config`] and [`cli`] read the command line
//! and the config file, and open the roots and databases; [`hosts`] is the `config` subcommand,
//! which writes this server's entry into a host's MCP configuration.
//!
//! `ARCHITECTURE.md`, at the repository's root, has the codemap (one paragraph per module), the
//! two main paths through the code, the invariants (checked by `tests/it/tidy.rs`), and the error
//! and threading models.
//!
//! The library exists for the binary and its tests: its public surface is what `main.rs`, the
//! integration tests and the benchmark driver use (`cli::Args`, `config::Config`,
//! `server::serve_stdio`, and the sandbox's path syntax and platform helpers for the property
//! tests); everything else is `pub(crate)`.

pub mod cli;
pub mod config;
pub(crate) mod db;
pub mod hosts;
pub(crate) mod journal;
pub mod sandbox;
pub mod server;
pub(crate) mod watch;
