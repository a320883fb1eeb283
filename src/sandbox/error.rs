//! `sandbox::Error`: every way a file operation can fail, with the path as the client sees it.
//!
//! Messages start lowercase, name paths as the client wrote or can see them, never reveal anything
//! outside the roots (such as where an escaping symlink points), and end with what to do.
//! Imports nothing from the crate but `sandbox::path` and `sandbox::platform`.

use std::io;

use crate::sandbox::path::SyntaxError;

/// The error of every sandbox operation. Paths in fields are client-visible absolute paths
/// (`/home/u/site/a.txt`), never host paths outside a root.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path names something outside every allowed directory, or uses a form that could.
    #[error(
        "path \"{input}\" is outside the allowed directories{}; call list_allowed_directories to see them",
        reason.map(|r| format!(" ({r})")).unwrap_or_default()
    )]
    Outside { input: String, reason: Option<&'static str> },

    /// The path is malformed (empty, a bad URI) rather than an escape attempt.
    #[error("invalid path \"{input}\": {reason}")]
    InvalidPath { input: String, reason: &'static str },

    /// Nothing exists at the path.
    #[error("\"{path}\" does not exist")]
    NotFound { path: String },

    /// The operation needs a regular file and found a directory.
    #[error("\"{path}\" is a directory, not a file; use list_directory or directory_tree")]
    IsADirectory { path: String },

    /// The operation needs a directory and found something else.
    #[error("\"{path}\" is not a directory")]
    NotADirectory { path: String },

    /// FIFOs, sockets and devices are never opened.
    #[error("\"{path}\" is a {kind}; special files are never opened")]
    SpecialFile { path: String, kind: &'static str },

    /// A write to a read-only root.
    #[error(
        "root \"{root}\" is read-only; start the server with --root instead of --ro-root (and without --read-only) to allow writes"
    )]
    ReadOnly { root: String },

    /// A change to a file marked read-only.
    #[error(
        "\"{path}\" is marked read-only (no write permission, or the read-only attribute on Windows); make it writable first if it should change"
    )]
    ReadOnlyFile { path: String },

    /// An edit found the file changed since it was read: nothing was written.
    #[error(
        "\"{path}\" changed on disk while the edit was being made; nothing was written. Read it again and redo the edit"
    )]
    ChangedOnDisk { path: String },

    /// Another program holds the file (or, for a delete, something in the directory) open and
    /// does not let it be changed (Windows). `outcome` says what was left.
    #[error(
        "\"{path}\" is open in another program that does not let it be changed; {outcome}. Close it there (or wait a moment) and try again"
    )]
    Busy { path: String, outcome: &'static str },

    /// A change to a file the server protects from the file tools (a configured database and its
    /// journal files), or to a directory holding one or holding a read-only root.
    #[error("\"{path}\" {what}; {hint}")]
    Protected { path: String, what: String, hint: &'static str },

    /// A whole-file read over a size limit.
    #[error("\"{path}\" is {size} bytes, over the {limit}-byte limit ({flag}); {hint}")]
    TooLarge { path: String, size: u64, limit: u64, flag: &'static str, hint: &'static str },

    /// Content that is not UTF-8 text.
    #[error(
        "\"{path}\" is not UTF-8 text{}; use read_media_file for binary content, or a line range (head, tail, offset) to read part of it",
        at.map(|b| format!(" (invalid byte at offset {b})")).unwrap_or_default()
    )]
    NotText { path: String, at: Option<u64> },

    /// A create-only operation found something at its target.
    #[error("\"{path}\" already exists; {hint}")]
    AlreadyExists { path: String, hint: &'static str },

    /// A directory removal without `recursive` found entries.
    #[error(
        "directory \"{path}\" is not empty; pass recursive: true to delete it and its contents"
    )]
    DirectoryNotEmpty { path: String },

    /// The path (or a symlink chain in it) loops or is too long to resolve.
    #[error("\"{path}\" has too many levels of symbolic links")]
    SymlinkLoop { path: String },

    /// One edit of an `edit_file` call does not apply.
    #[error("edit {index} of \"{path}\": {problem}")]
    Edit { path: String, index: usize, problem: String },

    /// A glob or regular expression argument does not compile.
    #[error("invalid {what} \"{pattern}\": {message}")]
    InvalidPattern { what: &'static str, pattern: String, message: String },

    /// An argument value that is well-formed JSON but makes no sense (head and tail together, ...).
    #[error("{0}")]
    InvalidArgument(String),

    /// A change not made because it could not be recorded (the change journal failed), or an
    /// undo refused because its target changed since: the message says which, and what to do.
    #[error("{0}")]
    NotMade(String),

    /// An operating system error at a path inside a root.
    #[error("{op} \"{path}\": {source}")]
    Io {
        op: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
}

/// The sandbox's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Converts a syntax problem in client input into the matching error.
    pub(crate) fn from_syntax(input: &str, err: SyntaxError) -> Self {
        match err {
            SyntaxError::Outside(reason) => {
                Error::Outside { input: input.to_owned(), reason: Some(reason) }
            }
            SyntaxError::Invalid(reason) => Error::InvalidPath { input: input.to_owned(), reason },
        }
    }

    /// Wraps an I/O error with what was being done and where, mapping the kinds a client can act
    /// on (not found, exists, not a directory, loop) to their own variants.
    pub(crate) fn io(op: &'static str, path: &str, source: io::Error) -> Self {
        let path = path.to_owned();
        match source.kind() {
            io::ErrorKind::NotFound => Error::NotFound { path },
            io::ErrorKind::AlreadyExists => {
                Error::AlreadyExists { path, hint: "choose another name or remove it first" }
            }
            io::ErrorKind::NotADirectory => Error::NotADirectory { path },
            io::ErrorKind::IsADirectory => Error::IsADirectory { path },
            io::ErrorKind::DirectoryNotEmpty => Error::DirectoryNotEmpty { path },
            io::ErrorKind::ResourceBusy => Error::Busy {
                path,
                outcome: match op {
                    "deleting" => {
                        "for a directory, the open one may be a file in it; what was deleted before stays deleted and the rest is untouched"
                    }
                    "moving to" => "nothing was moved",
                    _ => "nothing was written",
                },
            },
            _ if crate::sandbox::platform::is_symlink_loop(&source) => Error::SymlinkLoop { path },
            // cap-std reports an attempt to leave the root (a raced symlink) as PermissionDenied
            // with this message; answer it like every other escape.
            io::ErrorKind::PermissionDenied
                if source.to_string().contains("outside of the filesystem") =>
            {
                Error::Outside { input: path, reason: None }
            }
            _ => Error::Io { op, path, source },
        }
    }
}
