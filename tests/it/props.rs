//! Property tests for path parsing and resolution. Paths are generated from a small alphabet
//! (`.`, `..`, `a`, `b`, `link_in`, `link_out`, `/`) and resolved against a temporary tree with
//! symlinks pointing inside and outside the root.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::sync::OnceLock;

use clap::Parser;
use mcp_files_sqlite::cli::Args;
use mcp_files_sqlite::config::Config;
use mcp_files_sqlite::sandbox::Sandbox;
use mcp_files_sqlite::sandbox::path::{PathInput, RelPath, parse_input};
use mcp_files_sqlite::sandbox::platform;
use mcp_files_sqlite::sandbox::read::TextRequest;
use proptest::prelude::*;
use tempfile::TempDir;

struct Fixture {
    _dir: TempDir,
    root: PathBuf,
    sandbox: Sandbox,
}

/// root/{a/{b/, file.txt}, b/, link_in -> a, link_out -> ../outside, link_abs_out -> /abs/outside,
/// loop -> .}; outside/secret.txt next to the root.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let root = base.join("root");
        let outside = base.join("outside");
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::create_dir_all(root.join("b")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(root.join("a/file.txt"), "inside\n").unwrap();
        fs::write(root.join("a/b/file.txt"), "inside\n").unwrap();
        fs::write(outside.join("secret.txt"), "SECRET\n").unwrap();
        fs::write(outside.join("file.txt"), "SECRET\n").unwrap();
        symlink("a", root.join("link_in")).unwrap();
        symlink("../outside", root.join("link_out")).unwrap();
        symlink(&outside, root.join("link_abs_out")).unwrap();
        symlink(".", root.join("loop")).unwrap();
        // Only the sandbox is used: no change journal.
        let args =
            Args::parse_from(["mcp-files-sqlite", root.to_str().unwrap(), "--history", "off"]);
        let config = Config::from_args(&args).unwrap();
        Fixture { _dir: dir, root, sandbox: config.sandbox }
    })
}

fn component() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        ".",
        "..",
        "a",
        "b",
        "file.txt",
        "link_in",
        "link_out",
        "link_abs_out",
        "loop",
        "",
    ])
}

fn relative_path() -> impl Strategy<Value = String> {
    prop::collection::vec(component(), 1..7).prop_map(|parts| parts.join("/"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_then_display_is_the_identity(path in relative_path()) {
        if let Ok(PathInput::Relative(rel)) = parse_input(&path, platform::SYNTAX) {
            prop_assert_eq!(RelPath::parse(rel.as_str()).unwrap(), rel.clone());
            // Normalizing twice changes nothing.
            let again = parse_input(rel.as_str(), platform::SYNTAX);
            if rel.is_root() {
                prop_assert!(again.is_err() || again == Ok(PathInput::Relative(rel.clone())));
            } else {
                prop_assert_eq!(again, Ok(PathInput::Relative(rel.clone())));
            }
            prop_assert!(!rel.components().any(|c| c == ".." || c == "." || c.is_empty()));
        }
    }

    #[test]
    fn dot_dot_anywhere_is_refused(path in relative_path()) {
        if path.split('/').any(|c| c == "..") {
            prop_assert!(parse_input(&path, platform::SYNTAX).is_err());
        }
    }

    #[test]
    fn resolution_stays_under_the_root(path in relative_path(), absolute in any::<bool>()) {
        let fx = fixture();
        let input = if absolute { format!("{}/{}", fx.root.display(), path) } else { path.clone() };
        if let Ok((loc, resolved)) = fx.sandbox.locate_resolved(&input, true) {
            // The part that exists contains no symlink, and lies under the root.
            let existing: Vec<&str> = loc.rel().components().take(resolved.existing).collect();
            let host = fx.root.join(existing.join("/"));
            let canonical = host.canonicalize().unwrap();
            prop_assert_eq!(&canonical, &host, "{} resolved through a symlink", input);
            prop_assert!(canonical.starts_with(&fx.root), "{} resolved to {}", input, canonical.display());
        }
    }

    #[test]
    fn reads_never_return_outside_content(path in relative_path()) {
        let fx = fixture();
        if let Ok(out) = fx.sandbox.read_text(&path, &TextRequest::default()) {
            prop_assert!(!out.text.contains("SECRET"), "{} read outside content", path);
        }
    }
}
