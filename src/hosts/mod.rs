//! `mcp-files-sqlite config --host ...`: this server's entry for a host's MCP config (Claude
//! Desktop, Claude Code, VS Code, Cursor), printed, or merged into the host's file with `--write`.
//!
//! The entry runs this very binary (its own absolute path) on the roots and databases given
//! here, made absolute and canonical, and checked by the same code the server runs at start-up:
//! an entry that would not start is refused here, not in the host. Where each host keeps its
//! file is `locate`'s business (per OS, pure, so every OS's answer is tested on any OS); the
//! merge itself is `merge.rs`'s.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use serde_json::{Value, json};

use crate::cli::Args;
use crate::config::Config;

mod merge;

use merge::{Fields, Merged, Syntax, merge};

/// Print (or, with --write, add) this server's entry in an MCP host's configuration.
#[derive(Debug, Parser)]
#[command(
    name = "mcp-files-sqlite config",
    after_help = "Examples:\n  mcp-files-sqlite config --host claude-desktop ~/code/my-app --db ~/data/shop.db\n  mcp-files-sqlite config --host claude-desktop ~/code/my-app --write\n  mcp-files-sqlite config --host vscode --ro-root ~/Documents/specs --write   (into ./.vscode/mcp.json)\n\nPaths are checked and written absolute. Without --write the entry goes to stdout and where it\nbelongs to stderr. To serve a directory named \"config\", write ./config."
)]
pub struct HostArgs {
    /// The host whose configuration to write.
    #[arg(long, value_enum)]
    host: Host,
    /// Directories to allow, read and write (as for the server).
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// A directory to allow, read and write. Repeatable.
    #[arg(long = "root", value_name = "PATH")]
    roots: Vec<PathBuf>,
    /// A directory to allow read-only. Repeatable.
    #[arg(long = "ro-root", value_name = "PATH")]
    ro_roots: Vec<PathBuf>,
    /// Make every root read-only.
    #[arg(long)]
    read_only: bool,
    /// A database to query read-only: PATH or NAME=PATH. Repeatable.
    #[arg(long = "db", value_name = "[NAME=]PATH")]
    dbs: Vec<String>,
    /// A database the model may also change. Repeatable.
    #[arg(long = "db-rw", value_name = "[NAME=]PATH")]
    dbs_rw: Vec<String>,
    /// The server's name in the host (Claude Code shows its prompts as /mcp__NAME__...).
    #[arg(long, default_value = "files")]
    name: String,
    /// Which of the host's files: the user's (every project) or the project's (the current
    /// directory's). Default: user for Claude Desktop (its only one), project for the others.
    #[arg(long, value_enum)]
    scope: Option<Scope>,
    /// Use this file instead of the host's usual one.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// Merge the entry into the file (other servers and settings are kept; the old file is kept
    /// next to it as FILE.bak).
    #[arg(long)]
    write: bool,
    /// With --write, replace a different server of the same name.
    #[arg(long)]
    force: bool,
}

/// The hosts `config` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Host {
    ClaudeDesktop,
    ClaudeCode,
    Vscode,
    Cursor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Scope {
    User,
    Project,
}

/// The operating systems whose conventions `locate` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Os {
    Mac,
    Windows,
    Linux,
}

/// What `locate` needs to know about the machine, gathered once (`Env::current`), so the
/// per-OS rules are tested with any values on any OS.
#[derive(Debug, Clone)]
pub(crate) struct Env {
    pub(crate) os: Os,
    pub(crate) home: Option<String>,
    /// `%APPDATA%` (Windows).
    pub(crate) appdata: Option<String>,
    /// `$XDG_CONFIG_HOME` (Linux).
    pub(crate) xdg_config_home: Option<String>,
    /// Claude Desktop's MSIX package folders, `%LOCALAPPDATA%\Packages\Claude_*` (Windows).
    pub(crate) claude_packages: Vec<String>,
    /// The current directory: the project.
    pub(crate) project: String,
}

impl Host {
    fn label(self) -> &'static str {
        match self {
            Host::ClaudeDesktop => "Claude Desktop",
            Host::ClaudeCode => "Claude Code",
            Host::Vscode => "VS Code",
            Host::Cursor => "Cursor",
        }
    }

    /// The key the host keeps its servers under.
    fn servers_key(self) -> &'static str {
        if self == Host::Vscode { "servers" } else { "mcpServers" }
    }

    fn syntax(self) -> Syntax {
        if self == Host::Vscode { Syntax::Jsonc } else { Syntax::Json }
    }

    fn default_scope(self) -> Scope {
        if self == Host::ClaudeDesktop { Scope::User } else { Scope::Project }
    }

    /// One stdio server entry in the host's format.
    pub(crate) fn entry(self, command: &str, args: &[String]) -> Fields {
        let mut fields = Vec::new();
        if matches!(self, Host::ClaudeCode | Host::Vscode) {
            fields.push(("type".to_owned(), json!("stdio")));
        }
        fields.push(("command".to_owned(), json!(command)));
        fields.push(("args".to_owned(), json!(args)));
        fields
    }
}

/// Joins path parts with the OS's separator (as text: the rules are tested for every OS here).
fn join(os: Os, base: &str, parts: &[&str]) -> PathBuf {
    let sep = if os == Os::Windows { "\\" } else { "/" };
    let mut path = base.trim_end_matches(['/', '\\']).to_owned();
    for part in parts {
        path.push_str(sep);
        path.push_str(part);
    }
    PathBuf::from(path)
}

/// Where `host` keeps its MCP servers for `scope` on `env`'s machine.
pub(crate) fn locate(host: Host, scope: Scope, env: &Env) -> anyhow::Result<PathBuf> {
    let os = env.os;
    let home =
        || env.home.as_deref().context("no home directory is known; give the file with --file");
    let project = |parts: &[&str]| join(os, &env.project, parts);
    Ok(match (host, scope) {
        (Host::ClaudeDesktop, Scope::Project) => {
            bail!("Claude Desktop has no project configuration; use --scope user (its default)")
        }
        (Host::ClaudeDesktop, Scope::User) => match os {
            Os::Mac => join(
                os,
                home()?,
                &["Library", "Application Support", "Claude", "claude_desktop_config.json"],
            ),
            Os::Windows => match env.claude_packages.as_slice() {
                // Installed as an MSIX package (the installer since 2026), Claude reads its
                // config from the package's redirected folder, not from %APPDATA%.
                [package] => join(
                    os,
                    package,
                    &["LocalCache", "Roaming", "Claude", "claude_desktop_config.json"],
                ),
                [] => {
                    let appdata = env
                        .appdata
                        .as_deref()
                        .context("%APPDATA% is not set; give the file with --file")?;
                    join(os, appdata, &["Claude", "claude_desktop_config.json"])
                }
                several => bail!(
                    "found several Claude Desktop packages ({}); give the file with --file",
                    several.join(", ")
                ),
            },
            Os::Linux => {
                let base = match &env.xdg_config_home {
                    Some(dir) => PathBuf::from(dir),
                    None => join(os, home()?, &[".config"]),
                };
                join(os, &base.to_string_lossy(), &["Claude", "claude_desktop_config.json"])
            }
        },
        (Host::ClaudeCode, Scope::Project) => project(&[".mcp.json"]),
        (Host::ClaudeCode, Scope::User) => join(os, home()?, &[".claude.json"]),
        (Host::Vscode, Scope::Project) => project(&[".vscode", "mcp.json"]),
        (Host::Vscode, Scope::User) => match os {
            Os::Mac => {
                join(os, home()?, &["Library", "Application Support", "Code", "User", "mcp.json"])
            }
            Os::Windows => {
                let appdata = env
                    .appdata
                    .as_deref()
                    .context("%APPDATA% is not set; give the file with --file")?;
                join(os, appdata, &["Code", "User", "mcp.json"])
            }
            Os::Linux => match &env.xdg_config_home {
                Some(dir) => join(os, dir, &["Code", "User", "mcp.json"]),
                None => join(os, home()?, &[".config", "Code", "User", "mcp.json"]),
            },
        },
        (Host::Cursor, Scope::Project) => project(&[".cursor", "mcp.json"]),
        (Host::Cursor, Scope::User) => join(os, home()?, &[".cursor", "mcp.json"]),
    })
}

impl Env {
    /// This machine.
    fn current() -> anyhow::Result<Env> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let os = if cfg!(windows) {
            Os::Windows
        } else if cfg!(target_os = "macos") {
            Os::Mac
        } else {
            Os::Linux
        };
        let mut claude_packages = Vec::new();
        if let (Os::Windows, Some(local)) = (os, var("LOCALAPPDATA"))
            && let Ok(entries) = std::fs::read_dir(Path::new(&local).join("Packages"))
        {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with("Claude_") {
                    claude_packages.push(entry.path().to_string_lossy().into_owned());
                }
            }
            claude_packages.sort();
        }
        let project = std::env::current_dir().context("reading the current directory")?;
        Ok(Env {
            os,
            home: std::env::home_dir().map(|h| h.to_string_lossy().into_owned()),
            appdata: var("APPDATA"),
            xdg_config_home: var("XDG_CONFIG_HOME"),
            claude_packages,
            project: project.to_string_lossy().into_owned(),
        })
    }
}

/// The server's arguments for the roots and databases given, absolute and canonical, after
/// checking them as the server will when the host starts it.
fn server_args(a: &HostArgs) -> anyhow::Result<Vec<String>> {
    let mut given: Vec<std::ffi::OsString> = vec!["mcp-files-sqlite".into()];
    given.extend(a.paths.iter().map(|p| p.clone().into_os_string()));
    for (flag, paths) in [("--root", &a.roots), ("--ro-root", &a.ro_roots)] {
        for path in paths {
            given.push(flag.into());
            given.push(path.clone().into_os_string());
        }
    }
    for (flag, specs) in [("--db", &a.dbs), ("--db-rw", &a.dbs_rw)] {
        for spec in specs {
            given.push(flag.into());
            given.push(spec.into());
        }
    }
    if a.read_only {
        given.push("--read-only".into());
    }
    // Checking the arguments needs no change journal (the server opens its own when it starts).
    let no_history = ["--history", "off"];
    given.extend(no_history.map(Into::into));
    let config = Config::from_args(&Args::try_parse_from(&given)?)?;
    let mut args = config.command_line()?;
    if a.read_only {
        args.push("--read-only".to_owned());
    }
    // The canonical form must mean the same to the server.
    let again: Vec<String> = std::iter::once("mcp-files-sqlite".to_owned())
        .chain(args.clone())
        .chain(no_history.map(Into::into))
        .collect();
    Config::from_args(&Args::try_parse_from(&again)?)
        .context("the canonical arguments do not start the server (a bug)")?;
    Ok(args)
}

/// Runs `config`: prints the entry, or merges it into the host's file.
pub fn run(a: &HostArgs) -> anyhow::Result<()> {
    // Hosts build tool names from it (Claude Code: mcp__NAME__read_query).
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if a.name.is_empty() || a.name.len() > 64 || !a.name.chars().all(valid) {
        bail!("--name \"{}\" is not a server name: use 1 to 64 letters, digits, - and _", a.name);
    }
    let args = server_args(a)?;
    let exe = std::env::current_exe().context("finding this program's own path")?;
    let exe = crate::sandbox::platform::simplified(std::fs::canonicalize(&exe).unwrap_or(exe));
    let command = exe.to_str().context("this program's path is not valid UTF-8")?;
    let entry = a.host.entry(command, &args);
    if a.host == Host::ClaudeCode
        && (command.contains("${") || args.iter().any(|s| s.contains("${")))
    {
        bail!(
            "a path contains \"${{\", which Claude Code would expand as a variable; rename it or use another host"
        );
    }
    let env = Env::current()?;
    let scope = a.scope.unwrap_or(a.host.default_scope());
    let file = match &a.file {
        Some(file) => file.clone(),
        None => locate(a.host, scope, &env)?,
    };
    if a.host == Host::ClaudeDesktop && env.os == Os::Linux && a.file.is_none() {
        eprintln!(
            "note: Claude Desktop has no official Linux release; this is where Linux builds of it read their config."
        );
    }
    if !a.write {
        let snippet = match merge("", a.host.syntax(), a.host.servers_key(), &a.name, &entry, false)
        {
            Ok(Merged::Changed(snippet)) => snippet,
            other => bail!("building the entry failed (a bug): {other:?}"),
        };
        print_entry(snippet.trim_end());
        eprintln!(
            "{} reads this from {} (add it there, or run this again with --write).",
            a.host.label(),
            file.display()
        );
        return Ok(());
    }
    if a.host == Host::ClaudeCode && scope == Scope::User && a.file.is_none() {
        bail!(
            "Claude Code rewrites {} as it runs; add the server there with its own command instead:\n  claude mcp add-json --scope user {} '{}'",
            file.display(),
            a.name,
            // Quoted for a POSIX shell.
            Value::Object(entry.into_iter().collect()).to_string().replace('\'', "'\\''")
        );
    }
    write(&file, a.host, &a.name, &entry, a.force)
}

/// The one print to stdout outside the transport: this command serves nothing.
#[allow(clippy::print_stdout)]
fn print_entry(text: &str) {
    println!("{text}");
}

/// Merges `entry` into `file`: the old file is copied to a backup beside it first, and the new
/// one replaces it in one rename, so the host never reads half a file.
fn write(file: &Path, host: Host, name: &str, entry: &Fields, force: bool) -> anyhow::Result<()> {
    let shown = file.display();
    let old = match std::fs::read(file) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {shown}")),
    };
    let text = match &old {
        Some(bytes) => std::str::from_utf8(bytes)
            .with_context(|| format!("{shown} is not UTF-8 text; nothing was written"))?,
        None => "",
    };
    // Windows editors may start the file with a byte order mark: kept as it was.
    let (bom, text) = text.strip_prefix('\u{feff}').map_or(("", text), |rest| ("\u{feff}", rest));
    // The errors read on from the file's name: "FILE is not valid JSON at line 3, ...".
    let merged = merge(text, host.syntax(), host.servers_key(), name, entry, force)
        .map_err(|e| anyhow::anyhow!("{shown} {e}. Nothing was written."))?;
    let Merged::Changed(mut new) = merged else {
        eprintln!("{shown} already has this server as \"{name}\"; nothing to do.");
        return Ok(());
    };
    new.insert_str(0, bom);
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    if let Some(old) = &old {
        let backup = backup_path(file);
        std::fs::write(&backup, old)
            .with_context(|| format!("writing the backup {}", backup.display()))?;
        eprintln!("kept the previous file as {}", backup.display());
    }
    // A temporary file beside it, then one rename over it (which replaces on every OS).
    let file_name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let written = std::fs::write(&temp, new.as_bytes())
        .and_then(|()| match std::fs::metadata(file) {
            Ok(meta) => std::fs::set_permissions(&temp, meta.permissions()),
            Err(_) => Ok(()),
        })
        .and_then(|()| std::fs::rename(&temp, file));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(e).with_context(|| format!("replacing {shown}"));
    }
    eprintln!(
        "added \"{name}\" to {shown}; restart {} (or reload its MCP servers) to use it.",
        host.label()
    );
    Ok(())
}

/// `FILE.bak`, or `FILE.bak.1`, `.bak.2`, ... when earlier backups exist: one never overwrites
/// another, since an earlier one may be the only good copy.
fn backup_path(file: &Path) -> PathBuf {
    let base = format!("{}.bak", file.display());
    let mut path = PathBuf::from(&base);
    let mut n = 1;
    while path.exists() {
        path = PathBuf::from(format!("{base}.{n}"));
        n += 1;
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(os: Os) -> Env {
        let (home, project) = match os {
            Os::Windows => (r"C:\Users\me", r"C:\Users\me\code\app"),
            Os::Mac => ("/Users/me", "/Users/me/code/app"),
            Os::Linux => ("/home/me", "/home/me/code/app"),
        };
        Env {
            os,
            home: Some(home.to_owned()),
            appdata: (os == Os::Windows).then(|| r"C:\Users\me\AppData\Roaming".to_owned()),
            xdg_config_home: None,
            claude_packages: Vec::new(),
            project: project.to_owned(),
        }
    }

    fn at(host: Host, scope: Scope, env: &Env) -> String {
        locate(host, scope, env).unwrap().to_string_lossy().into_owned()
    }

    #[test]
    fn every_host_has_its_file_on_every_os() {
        use Host::*;
        use Scope::*;
        let (mac, win, linux) = (env(Os::Mac), env(Os::Windows), env(Os::Linux));
        assert_eq!(
            at(ClaudeDesktop, User, &mac),
            "/Users/me/Library/Application Support/Claude/claude_desktop_config.json"
        );
        assert_eq!(
            at(ClaudeDesktop, User, &win),
            r"C:\Users\me\AppData\Roaming\Claude\claude_desktop_config.json"
        );
        assert_eq!(
            at(ClaudeDesktop, User, &linux),
            "/home/me/.config/Claude/claude_desktop_config.json"
        );
        assert!(locate(ClaudeDesktop, Project, &mac).is_err());
        assert_eq!(at(ClaudeCode, Project, &win), r"C:\Users\me\code\app\.mcp.json");
        assert_eq!(at(ClaudeCode, User, &linux), "/home/me/.claude.json");
        assert_eq!(at(Vscode, Project, &linux), "/home/me/code/app/.vscode/mcp.json");
        assert_eq!(
            at(Vscode, User, &mac),
            "/Users/me/Library/Application Support/Code/User/mcp.json"
        );
        assert_eq!(at(Vscode, User, &win), r"C:\Users\me\AppData\Roaming\Code\User\mcp.json");
        assert_eq!(at(Vscode, User, &linux), "/home/me/.config/Code/User/mcp.json");
        assert_eq!(at(Cursor, Project, &mac), "/Users/me/code/app/.cursor/mcp.json");
        assert_eq!(at(Cursor, User, &win), r"C:\Users\me\.cursor\mcp.json");
        let xdg = Env { xdg_config_home: Some("/xdg".to_owned()), ..linux };
        assert_eq!(at(ClaudeDesktop, User, &xdg), "/xdg/Claude/claude_desktop_config.json");
        assert_eq!(at(Vscode, User, &xdg), "/xdg/Code/User/mcp.json");
    }

    #[test]
    fn claude_desktop_installed_as_a_package_reads_its_packages_folder() {
        let package = r"C:\Users\me\AppData\Local\Packages\Claude_pzs8sxrjxfjjc".to_owned();
        let one = Env { claude_packages: vec![package], ..env(Os::Windows) };
        assert_eq!(
            at(Host::ClaudeDesktop, Scope::User, &one),
            r"C:\Users\me\AppData\Local\Packages\Claude_pzs8sxrjxfjjc\LocalCache\Roaming\Claude\claude_desktop_config.json"
        );
        let two = Env { claude_packages: vec!["a".to_owned(), "b".to_owned()], ..env(Os::Windows) };
        let err = locate(Host::ClaudeDesktop, Scope::User, &two).unwrap_err().to_string();
        assert!(err.contains("--file"), "{err}");
    }

    #[test]
    fn each_host_gets_its_own_entry_shape() {
        let args = ["--root".to_owned(), "/a".to_owned()];
        let shape = |host: Host| -> Vec<(String, Value)> { host.entry("/bin/m", &args) };
        let plain = vec![
            ("command".to_owned(), json!("/bin/m")),
            ("args".to_owned(), json!(["--root", "/a"])),
        ];
        assert_eq!(shape(Host::ClaudeDesktop), plain);
        assert_eq!(shape(Host::Cursor), plain);
        for host in [Host::ClaudeCode, Host::Vscode] {
            let mut typed = vec![("type".to_owned(), json!("stdio"))];
            typed.extend(plain.clone());
            assert_eq!(shape(host), typed);
        }
        assert_eq!(Host::Vscode.servers_key(), "servers");
        assert_eq!(Host::ClaudeCode.servers_key(), "mcpServers");
    }

    #[test]
    fn backups_never_overwrite_each_other() {
        let temp = tempfile::tempdir().unwrap();
        let file = temp.path().join("c.json");
        assert_eq!(backup_path(&file), temp.path().join("c.json.bak"));
        std::fs::write(temp.path().join("c.json.bak"), "1").unwrap();
        assert_eq!(backup_path(&file), temp.path().join("c.json.bak.1"));
    }
}
