//! `TestServer`: spawns the real binary on a temporary copy of `sample-data/` (or any directory),
//! speaks newline-delimited JSON-RPC to it in either protocol era, and collects notifications.
//! Every wait has a timeout; a failure prints the last request and the server's stderr. Any line on
//! stdout that is not JSON fails the test: stdout belongs to the protocol.

#![allow(dead_code)] // Each test module uses a different part of the harness.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

/// The binary under test, as a path this process can run.
pub static BIN: std::sync::LazyLock<PathBuf> =
    std::sync::LazyLock::new(|| host_path(env!("CARGO_BIN_EXE_mcp-files-sqlite")));

/// A path cargo gave at compile time, as this process must spell it: under Wine (the Windows
/// suite runs there) the Linux file system is drive `Z:`.
pub fn host_path(path: &str) -> PathBuf {
    if cfg!(windows) && path.starts_with('/') {
        PathBuf::from(format!("Z:{}", path.replace('/', "\\")))
    } else {
        PathBuf::from(path)
    }
}

/// A file in the repository.
pub fn repo_path(rel: &str) -> PathBuf {
    host_path(env!("CARGO_MANIFEST_DIR")).join(rel.replace('/', std::path::MAIN_SEPARATOR_STR))
}

/// A path with symlinks resolved, in the form users write (not Windows' verbatim `\\?\C:`).
pub fn canonical(path: &Path) -> PathBuf {
    mcp_files_sqlite::sandbox::platform::simplified(path.canonicalize().expect("canonicalize"))
}

/// `text` with Windows separators written as `/`, so one expectation serves both systems.
pub fn slashed(text: &str) -> String {
    if cfg!(windows) { text.replace('\\', "/") } else { text.to_owned() }
}

/// The `file://` URI of an absolute path, on either system (`file:///C:/x` on Windows).
pub fn file_uri(path: &str) -> String {
    if cfg!(windows) {
        format!("file:///{}", path.replace('\\', "/"))
    } else {
        format!("file://{path}")
    }
}

/// Default wait for a response.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// The protocol era a test speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// `initialize` handshake, protocol 2025-11-25.
    Legacy,
    /// No handshake; `_meta` with protocol 2026-07-28 on every request.
    Modern,
}

/// How to start a server.
pub struct Builder {
    args: Vec<String>,
    sample_data: bool,
    root_arg: bool,
    era: Era,
    nofile: Option<u32>,
    client_roots: Option<PathsFn>,
    hold_roots: bool,
    handshake: bool,
    log_env: bool,
    extra_args: Option<PathsFn>,
    envs: Vec<(String, String)>,
}

/// Makes strings (arguments, URIs) from the temporary base and root, once they exist.
type PathsFn = Box<dyn FnOnce(&Path, &Path) -> Vec<String>>;

/// A running server and the temporary directory it serves.
pub struct TestServer {
    child: Child,
    stdin: Option<ChildStdin>,
    messages: Receiver<Result<Value, String>>,
    stderr: Arc<Mutex<String>>,
    /// The thread that reads stderr; joined once the server exits, so that all of it is in.
    stderr_reader: Option<std::thread::JoinHandle<()>>,
    next_id: u64,
    /// What was last written by the test (not the harness's own replies), for failure messages.
    last_request: String,
    /// Each request the test sent, by id, for the failure message of a wait for its response.
    sent: HashMap<u64, String>,
    /// Responses that arrived while the test waited for something else.
    responses: Vec<Value>,
    /// The `initialize` result (legacy era), `null` otherwise.
    pub initialize_result: Value,
    /// Notifications and requests from the server that arrived while the test waited for
    /// something else (responses are kept apart).
    pub notifications: Vec<Value>,
    era: Era,
    client_roots: Option<Vec<String>>,
    /// Leave `roots/list` requests unanswered (kept with the notifications) for the test to answer.
    hold_roots: bool,
    /// The temporary directory: `root` is `base/root`.
    pub base: TempDir,
    /// The served root (canonical path).
    pub root: PathBuf,
}

impl Builder {
    /// Extra command-line arguments (after the root).
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Start with an empty root instead of a copy of `sample-data/`.
    pub fn empty(mut self) -> Self {
        self.sample_data = false;
        self
    }

    /// Do not pass the root on the command line (the test passes its own roots in `args`).
    pub fn no_root_arg(mut self) -> Self {
        self.root_arg = false;
        self
    }

    /// Speak the 2026-07-28 protocol (no handshake, `_meta` on every request).
    pub fn modern(mut self) -> Self {
        self.era = Era::Modern;
        self
    }

    /// Prepares the temporary directory (base, root) before start and returns more arguments,
    /// for roots and files whose paths are only known then.
    pub fn setup_args(mut self, f: impl FnOnce(&Path, &Path) -> Vec<String> + 'static) -> Self {
        self.extra_args = Some(Box::new(f));
        self
    }

    /// Run the server with this environment variable set.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Run the server with this open-file limit (`ulimit -n`).
    pub fn nofile(mut self, limit: u32) -> Self {
        self.nofile = Some(limit);
        self
    }

    /// Offer the roots capability and answer `roots/list` with the URIs `f` makes from the
    /// temporary base and root.
    pub fn client_roots(mut self, f: impl FnOnce(&Path, &Path) -> Vec<String> + 'static) -> Self {
        self.client_roots = Some(Box::new(f));
        self
    }

    /// Declare the roots capability but leave the server's `roots/list` requests unanswered: the
    /// test finds them with `expect_server_request` and answers with `respond`.
    pub fn hold_roots(mut self) -> Self {
        self.client_roots = Some(Box::new(|_, _| Vec::new()));
        self.hold_roots = true;
        self
    }

    /// Start the process without sending `initialize` (legacy era).
    pub fn no_handshake(mut self) -> Self {
        self.handshake = false;
        self
    }

    /// Do not set `RUST_LOG`: the server logs at its default level, as for a user.
    pub fn default_logging(mut self) -> Self {
        self.log_env = false;
        self
    }

    /// Prepares the directory (calling `setup` with base and root before the server starts), starts
    /// the server, and (legacy) completes the handshake.
    pub fn start_with(self, setup: impl FnOnce(&Path, &Path)) -> TestServer {
        let base = tempfile::Builder::new().prefix("mcpfs-it-").tempdir().expect("temp dir");
        let root = base.path().join("root");
        std::fs::create_dir(&root).expect("create root");
        if self.sample_data {
            copy_tree(&sample_data(), &root);
        }
        // Canonical, in the form users write (not Windows' verbatim \\?\ form).
        let root = mcp_files_sqlite::sandbox::platform::simplified(
            root.canonicalize().expect("canonical root"),
        );
        setup(base.path(), &root);
        let mut args: Vec<String> = Vec::new();
        if self.root_arg {
            args.push(root.display().to_string());
        }
        args.extend(self.args);
        if let Some(extra) = self.extra_args {
            args.extend(extra(base.path(), &root));
        }
        let client_roots = self.client_roots.map(|f| f(base.path(), &root));
        let mut server =
            spawn(args, self.nofile, self.era, client_roots, self.log_env, &self.envs, base, root);
        server.hold_roots = self.hold_roots;
        if server.era == Era::Legacy && self.handshake {
            let mut capabilities = json!({});
            if server.client_roots.is_some() {
                capabilities = json!({ "roots": { "listChanged": true } });
            }
            let response = server.request(
                "initialize",
                json!({
                    "protocolVersion": "2025-11-25",
                    "capabilities": capabilities,
                    "clientInfo": { "name": "it", "version": "0" }
                }),
            );
            assert!(response.get("result").is_some(), "initialize failed: {response}");
            server.initialize_result = response["result"].clone();
            server.notify("notifications/initialized", json!({}));
        }
        server
    }

    /// `start_with` without extra setup.
    pub fn start(self) -> TestServer {
        self.start_with(|_, _| {})
    }
}

impl TestServer {
    /// A builder: legacy era, a copy of `sample-data/` as the only (writable) root.
    pub fn builder() -> Builder {
        Builder {
            args: Vec::new(),
            sample_data: true,
            root_arg: true,
            era: Era::Legacy,
            nofile: None,
            client_roots: None,
            hold_roots: false,
            handshake: true,
            log_env: true,
            extra_args: None,
            envs: Vec::new(),
        }
    }

    /// The default server.
    pub fn start() -> TestServer {
        Self::builder().start()
    }

    /// Sends a request and waits for its response (the whole JSON-RPC message).
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        self.request_timeout(method, params, TIMEOUT)
    }

    /// `request` with a custom timeout.
    pub fn request_timeout(&mut self, method: &str, params: Value, timeout: Duration) -> Value {
        let id = self.send_request(method, params);
        self.wait_response(id, timeout)
    }

    /// Sends a request without waiting; returns its id.
    pub fn send_request(&mut self, method: &str, mut params: Value) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        if self.era == Era::Modern {
            let meta = params
                .as_object_mut()
                .expect("params must be an object")
                .entry("_meta")
                .or_insert_with(|| json!({}));
            let meta = meta.as_object_mut().expect("_meta must be an object");
            for (key, value) in modern_meta().as_object().expect("object") {
                meta.entry(key.clone()).or_insert(value.clone());
            }
        }
        let message = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let line = message.to_string();
        self.sent.insert(id, line.chars().take(2000).collect());
        self.send_raw(&line);
        id
    }

    /// Sends a notification.
    pub fn notify(&mut self, method: &str, params: Value) {
        let message = json!({ "jsonrpc": "2.0", "method": method, "params": params });
        self.send_raw(&message.to_string());
    }

    /// Writes one raw line to the server's stdin.
    pub fn send_raw(&mut self, line: &str) {
        self.last_request = line.chars().take(2000).collect();
        self.write_line(line);
    }

    /// Writes a line without making it the request failures report (the harness's own replies).
    fn write_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| self.fail(&format!("writing to the server: {e}")));
    }

    /// Waits for the response with this id, keeping notifications for later.
    pub fn wait_response(&mut self, id: u64, timeout: Duration) -> Value {
        let is_response = |m: &Value| m.get("id") == Some(&json!(id));
        if let Some(idx) = self.responses.iter().position(is_response) {
            return self.responses.remove(idx);
        }
        if let Some(request) = self.sent.get(&id) {
            self.last_request = request.clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let message = self.next_message(deadline, &format!("the response to request {id}"));
            if is_response(&message) && message.get("method").is_none() {
                return message;
            }
            self.keep(message);
        }
    }

    /// Calls a tool and returns its result object (which may have `isError: true`).
    pub fn call_tool(&mut self, name: &str, arguments: Value) -> Value {
        self.call_tool_timeout(name, arguments, TIMEOUT)
    }

    /// `call_tool` with a custom timeout.
    pub fn call_tool_timeout(&mut self, name: &str, arguments: Value, timeout: Duration) -> Value {
        let response = self.request_timeout(
            "tools/call",
            json!({ "name": name, "arguments": arguments }),
            timeout,
        );
        match response.get("result") {
            Some(result) => result.clone(),
            None => self.fail(&format!("tools/call {name} returned a protocol error: {response}")),
        }
    }

    /// Calls a tool that must succeed; returns the result.
    pub fn call_ok(&mut self, name: &str, arguments: Value) -> Value {
        let result = self.call_tool(name, arguments.clone());
        if result["isError"] == json!(true) {
            self.fail(&format!("{name} {arguments} failed: {}", text(&result)));
        }
        result
    }

    /// Calls a tool that must fail; returns the error text.
    pub fn call_err(&mut self, name: &str, arguments: Value) -> String {
        let result = self.call_tool(name, arguments.clone());
        if result["isError"] != json!(true) {
            self.fail(&format!("{name} {arguments} should have failed but returned: {result}"));
        }
        text(&result)
    }

    /// Waits for a notification with this method (including ones already received).
    pub fn expect_notification(&mut self, method: &str, timeout: Duration) -> Value {
        if let Some(idx) = self.notifications.iter().position(|n| n["method"] == method) {
            return self.notifications.remove(idx);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let message = self.next_message(deadline, &format!("a {method} notification"));
            if message["method"] == method && message.get("id").is_none() {
                return message;
            }
            self.keep(message);
        }
    }

    /// Waits for a notification with this method for which `matches` holds (including ones
    /// already received); others are kept.
    pub fn expect_notification_where(
        &mut self,
        method: &str,
        timeout: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        let is_it = |n: &Value| n["method"] == method && n.get("id").is_none() && matches(n);
        if let Some(idx) = self.notifications.iter().position(is_it) {
            return self.notifications.remove(idx);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let message = self.next_message(deadline, &format!("a matching {method} notification"));
            if is_it(&message) {
                return message;
            }
            self.keep(message);
        }
    }

    /// Waits for a request from the server (such as `roots/list`) that was left unanswered.
    pub fn expect_server_request(&mut self, method: &str, timeout: Duration) -> Value {
        let is_it = |m: &Value| m["method"] == method && m.get("id").is_some();
        if let Some(idx) = self.notifications.iter().position(is_it) {
            return self.notifications.remove(idx);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let message = self.next_message(deadline, &format!("a {method} request"));
            if is_it(&message) {
                return message;
            }
            self.keep(message);
        }
    }

    /// Answers a request from the server.
    pub fn respond(&mut self, request: &Value, result: Value) {
        let reply = json!({ "jsonrpc": "2.0", "id": request["id"], "result": result });
        self.send_raw(&reply.to_string());
    }

    /// Waits for any message for which `matches` holds (including ones already received).
    pub fn expect_message(
        &mut self,
        what: &str,
        timeout: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(idx) = self.responses.iter().position(&matches) {
            return self.responses.remove(idx);
        }
        if let Some(idx) = self.notifications.iter().position(&matches) {
            return self.notifications.remove(idx);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let message = self.next_message(deadline, what);
            if matches(&message) {
                return message;
            }
            self.keep(message);
        }
    }

    /// Writes raw bytes (a line that need not be UTF-8) and a newline to the server's stdin.
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.last_request = String::from_utf8_lossy(&bytes[..bytes.len().min(2000)]).into_owned();
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.write_all(b"\n"))
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| self.fail(&format!("writing to the server: {e}")));
    }

    /// Removes and returns the notifications with this method received so far.
    pub fn take_notifications(&mut self, method: &str) -> Vec<Value> {
        let (taken, kept) = std::mem::take(&mut self.notifications)
            .into_iter()
            .partition(|n| n["method"] == method && n.get("id").is_none());
        self.notifications = kept;
        taken
    }

    /// Waits until the server's stderr contains `needle`.
    pub fn wait_stderr(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.stderr().contains(needle) {
            if Instant::now() > deadline {
                self.fail(&format!("timed out waiting for {needle:?} on stderr"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Closes stdin and waits (with a timeout) for the process to exit; returns its status code.
    pub fn close_and_wait(&mut self, timeout: Duration) -> Option<i32> {
        drop(self.stdin.take());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // The process is gone, so its stderr ends: read it to the end before anyone
                // looks at it.
                if let Some(reader) = self.stderr_reader.take() {
                    let _ = reader.join();
                }
                return status.code();
            }
            if Instant::now() > deadline {
                self.fail("the server did not exit after stdin closed");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the response to request `id` has already arrived (and was kept while waiting for
    /// another).
    pub fn has_response(&self, id: u64) -> bool {
        self.responses.iter().any(|m| m.get("id") == Some(&json!(id)))
    }

    /// Responses that arrived while the test waited for something else, taken out.
    pub fn take_responses(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.responses)
    }

    /// The names of the tools the server lists.
    pub fn tool_names(&mut self) -> Vec<String> {
        let tools = self.request("tools/list", json!({}));
        tools["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| self.fail(&format!("tools/list returned no tools: {tools}")))
            .iter()
            .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Waits (a minute at most) for the process to end on its own, as after a crash.
    pub fn wait_exit(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.is_running() {
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A path under the root, as a string with the system's separators (`rel` uses `/`).
    pub fn path(&self, rel: &str) -> String {
        if rel.is_empty() {
            self.root.display().to_string()
        } else {
            self.root.join(rel.replace('/', std::path::MAIN_SEPARATOR_STR)).display().to_string()
        }
    }

    /// The `file://` URI of a path under the root.
    pub fn uri(&self, rel: &str) -> String {
        file_uri(&self.path(rel))
    }

    /// Panics with the context needed to debug the failure.
    pub fn fail(&self, what: &str) -> ! {
        panic!(
            "{what}\n--- last request:\n{}\n--- server stderr:\n{}",
            self.last_request,
            self.stderr()
        );
    }

    fn next_message(&mut self, deadline: Instant, waiting_for: &str) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.messages.recv_timeout(left) {
            Ok(Ok(message)) => message,
            Ok(Err(line)) => {
                self.fail(&format!("the server wrote a non-JSON line to stdout: {line:?}"))
            }
            Err(RecvTimeoutError::Timeout) => {
                self.fail(&format!("timed out waiting for {waiting_for}"))
            }
            Err(RecvTimeoutError::Disconnected) => {
                self.fail(&format!("the server closed stdout while waiting for {waiting_for}"))
            }
        }
    }

    /// Keeps a notification or a response, or answers a request from the server (roots/list,
    /// ping).
    fn keep(&mut self, message: Value) {
        if message.get("method").is_none() {
            self.responses.push(message);
            return;
        }
        if let (Some(id), Some(method)) =
            (message.get("id"), message.get("method").and_then(Value::as_str))
        {
            let result = match (method, &self.client_roots) {
                ("roots/list", _) if self.hold_roots => {
                    self.notifications.push(message);
                    return;
                }
                ("roots/list", Some(roots)) => {
                    json!({ "roots": roots.iter().map(|uri| json!({ "uri": uri })).collect::<Vec<_>>() })
                }
                ("ping", _) => json!({}),
                _ => {
                    let reply = json!({ "jsonrpc": "2.0", "id": id, "error": { "code": -32601, "message": "not supported by the test client" } });
                    self.write_line(&reply.to_string());
                    self.notifications.push(message);
                    return;
                }
            };
            let reply = json!({ "jsonrpc": "2.0", "id": id, "result": result });
            self.write_line(&reply.to_string());
            self.notifications.push(message);
            return;
        }
        self.notifications.push(message);
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary with `args` (stdin closed), expects it to fail at start, and returns its
/// stderr. Errors must never reach stdout, which belongs to the protocol.
pub fn start_error<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    let output = Command::new(&*BIN).args(args).stdin(Stdio::null()).run();
    let shown: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()).collect();
    assert_ne!(output.status.code(), Some(0), "{shown:?} should fail");
    assert!(output.stdout.is_empty(), "errors go to stderr, never stdout");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The `_meta` a 2026-07-28 client puts on every request.
pub fn modern_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { "name": "it", "version": "0" }
    })
}

/// All text blocks of a tool result, joined by newlines.
pub fn text(result: &Value) -> String {
    result["content"]
        .as_array()
        .map(|blocks| {
            blocks.iter().filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join("\n")
        })
        .unwrap_or_default()
}

/// The repository's `sample-data/` directory.
pub fn sample_data() -> PathBuf {
    repo_path("sample-data")
}

/// Copies a directory tree (files and directories only).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// A fingerprint of everything under `dir`: each path with its kind and, for files, a content hash;
/// symlink targets for links. Used to prove that a refused request changed nothing.
pub fn fingerprint(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    fingerprint_into(dir, dir, &mut out);
    out
}

fn fingerprint_into(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let rel = path.strip_prefix(base).expect("under base").to_owned();
        let meta = std::fs::symlink_metadata(&path).expect("lstat");
        let kind = meta.file_type();
        let print = if kind.is_symlink() {
            format!("link {}", std::fs::read_link(&path).expect("readlink").display())
        } else if kind.is_dir() {
            fingerprint_into(base, &path, out);
            "dir".to_owned()
        } else if kind.is_file() {
            let mut bytes = Vec::new();
            std::fs::File::open(&path).and_then(|mut f| f.read_to_end(&mut bytes)).expect("read");
            let mut hasher = DefaultHasher::new();
            bytes.hash(&mut hasher);
            format!("file {} {:x}", bytes.len(), hasher.finish())
        } else {
            "special".to_owned()
        };
        out.insert(rel, print);
    }
}

// One call site (`Builder::start_with`), which hands over its fields one by one.
#[allow(clippy::too_many_arguments)]
fn spawn(
    args: Vec<String>,
    nofile: Option<u32>,
    era: Era,
    client_roots: Option<Vec<String>>,
    log_env: bool,
    envs: &[(String, String)],
    base: TempDir,
    root: PathBuf,
) -> TestServer {
    let mut command = match nofile {
        Some(limit) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
                .arg(&*BIN)
                .args(&args);
            c
        }
        None => {
            let mut c = Command::new(&*BIN);
            c.args(&args);
            c
        }
    };
    // The server must not depend on its working directory: run it somewhere unrelated.
    command.current_dir(base.path());
    // Its change journal goes into the test's own directory, beside the root (never the user's
    // state directory); a test that gives --history keeps its own.
    let state = base.path().join("state");
    command.env("XDG_STATE_HOME", &state).env("LOCALAPPDATA", &state);
    command.envs(envs.iter().map(|(k, v)| (k, v)));
    if log_env {
        command.env("RUST_LOG", "warn,mcp_files_sqlite=debug");
    } else {
        command.env_remove("RUST_LOG");
    }
    let mut child =
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).launch();
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("stdout");
    let stderr_pipe = child.stderr.take().expect("stderr");
    let (tx, messages) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let parsed = serde_json::from_str::<Value>(&line).map_err(|_| line);
            if tx.send(parsed).is_err() {
                break;
            }
        }
    });
    let stderr = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&stderr);
    let stderr_reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr_pipe).lines() {
            let Ok(line) = line else { break };
            let mut all = sink.lock().unwrap_or_else(|e| e.into_inner());
            all.push_str(&line);
            all.push('\n');
        }
    });
    TestServer {
        child,
        stdin,
        messages,
        stderr,
        stderr_reader: Some(stderr_reader),
        next_id: 0,
        last_request: String::new(),
        sent: HashMap::new(),
        responses: Vec::new(),
        notifications: Vec::new(),
        initialize_result: Value::Null,
        era,
        client_roots,
        hold_roots: false,
        base,
        root,
    }
}

/// Starting a process, tried again a few times when the system fails to create it for a moment
/// (Wine's process creation now and then answers `ERROR_INTERNAL_ERROR`, 1359, under load). A
/// process that starts and then fails is the test's business, never retried.
pub trait Launch {
    /// `spawn`, or a panic naming the last error.
    fn launch(&mut self) -> Child;
    /// `output`, or a panic naming the last error.
    fn run(&mut self) -> Output;
}

impl Launch for Command {
    fn launch(&mut self) -> Child {
        patiently(self, Command::spawn)
    }

    fn run(&mut self) -> Output {
        patiently(self, Command::output)
    }
}

fn patiently<T>(command: &mut Command, start: fn(&mut Command) -> std::io::Result<T>) -> T {
    const TRIES: u32 = 5;
    // No test writes the user's state directory: a server started without a TestServer keeps
    // its change journal under the build's temporary directory.
    let set = |name: &str| command.get_envs().any(|(key, _)| key == name);
    if !set("XDG_STATE_HOME") && !set("LOCALAPPDATA") {
        let state = host_path(env!("CARGO_TARGET_TMPDIR")).join("state");
        command.env("XDG_STATE_HOME", &state).env("LOCALAPPDATA", &state);
    }
    let mut tries = 0;
    loop {
        match start(command) {
            Ok(started) => return started,
            Err(err) if tries + 1 < TRIES => {
                tries += 1;
                eprintln!("starting {command:?} failed ({err}); trying again");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(err) => panic!("starting {command:?}: {err}"),
        }
    }
}
