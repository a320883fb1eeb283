//! Where the change journal lives: `--history DIR`, or the platform's state directory with this
//! program's name appended. Never inside an allowed directory (nor a root inside it): the
//! server refuses to start, so no tool can ever reach the journal. None with `--history off`,
//! and none when nothing can be changed (every root and database read-only).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::journal::{Bounds, Journal};
use crate::sandbox::platform;
use crate::sandbox::root::{Root, host_components};

/// The journal's directory's name under the platform's state directory.
const APP_DIR: &str = "mcp-files-sqlite";

/// The journal's directory: `None` for `--history off`.
pub(crate) fn history_dir(
    given: Option<&Path>,
    cwd: &Path,
    home: Option<&Path>,
    var: &dyn Fn(&str) -> Option<std::ffi::OsString>,
) -> anyhow::Result<Option<PathBuf>> {
    match given {
        Some(path) if path.as_os_str() == "off" => Ok(None),
        Some(path) => {
            let expanded = super::expand_home(path, home);
            Ok(Some(if expanded.is_absolute() { expanded } else { cwd.join(expanded) }))
        }
        None => match platform::state_dir(home, var) {
            Some(dir) => Ok(Some(dir.join(APP_DIR))),
            None => bail!(
                "cannot tell where to keep the change journal (no home directory or state directory is set); give --history DIR, or --history off"
            ),
        },
    }
}

/// `path` made canonical as far as it exists, the rest appended: where it is (or will be) on
/// disk, without creating anything.
fn canonical_as_far_as_it_exists(path: &Path) -> anyhow::Result<PathBuf> {
    let mut existing = path;
    let mut rest = Vec::new();
    loop {
        match std::fs::canonicalize(existing) {
            Ok(canonical) => {
                let mut out = platform::simplified(canonical);
                out.extend(rest.iter().rev());
                return Ok(out);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (Some(parent), Some(name)) = (existing.parent(), existing.file_name()) else {
                    return Err(e).with_context(|| format!("resolving \"{}\"", path.display()));
                };
                rest.push(name.to_owned());
                existing = parent;
            }
            Err(e) => return Err(e).with_context(|| format!("resolving \"{}\"", path.display())),
        }
    }
}

/// Opens the journal in `dir` after checking that it is outside every root and holds none.
pub(crate) fn open_journal(dir: &Path, roots: &[Root], bounds: Bounds) -> anyhow::Result<Journal> {
    let shown = dir.display();
    let canonical = canonical_as_far_as_it_exists(dir)?;
    let Some(journal) = host_components(&canonical) else {
        bail!(
            "the change journal's directory \"{shown}\" cannot be used; give another with --history DIR"
        );
    };
    for root in roots {
        let Some(root_path) = host_components(root.canonical()) else { continue };
        let inside = platform::components_start_with(&journal, &root_path);
        let holds = platform::components_start_with(&root_path, &journal);
        if inside || holds {
            let relation = if inside { "is inside" } else { "holds" };
            bail!(
                "the change journal's directory \"{shown}\" {relation} the allowed directory \"{}\", where the model could reach it; keep it elsewhere with --history DIR (outside every allowed directory), or turn it off with --history off",
                root.display().display()
            );
        }
    }
    Journal::open(&canonical, bounds).with_context(|| {
        format!(
            "opening the change journal in \"{shown}\"; give a directory this user can write with --history DIR, or --history off"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_goes_where_it_is_given_or_to_the_platforms_state_directory() {
        let home = Path::new(if cfg!(windows) { r"C:\Users\ann" } else { "/home/ann" });
        let cwd = Path::new(if cfg!(windows) { r"C:\work" } else { "/work" });
        let none = |_: &str| None;
        assert_eq!(history_dir(Some(Path::new("off")), cwd, Some(home), &none).unwrap(), None);
        assert_eq!(
            history_dir(Some(Path::new("h")), cwd, Some(home), &none).unwrap(),
            Some(cwd.join("h"))
        );
        assert_eq!(
            history_dir(Some(Path::new("~/h")), cwd, Some(home), &none).unwrap(),
            Some(home.join("h"))
        );
        let default = history_dir(None, cwd, Some(home), &none).unwrap().unwrap();
        let expected = if cfg!(windows) {
            home.join("AppData").join("Local")
        } else if cfg!(target_os = "macos") {
            home.join("Library").join("Application Support")
        } else {
            home.join(".local").join("state")
        };
        assert_eq!(default, expected.join(APP_DIR));
        if cfg!(all(unix, not(target_os = "macos"))) {
            let xdg = |name: &str| (name == "XDG_STATE_HOME").then(|| "/xdg/state".into());
            let relative = |name: &str| (name == "XDG_STATE_HOME").then(|| "state".into());
            assert_eq!(
                history_dir(None, cwd, Some(home), &xdg).unwrap(),
                Some(PathBuf::from("/xdg/state").join(APP_DIR))
            );
            assert_eq!(history_dir(None, cwd, Some(home), &relative).unwrap(), Some(default));
        }
        assert!(history_dir(None, cwd, None, &none).is_err());
    }
}
