//! A minimal MCP host for benchmarks: spawns the server, writes JSON-RPC lines to its stdin, and
//! timestamps every line it reads from its stdout on a reader thread, so latencies are measured
//! where the host would see them.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long any single wait may take before the benchmark fails.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// A running server and its pipes.
pub struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<(Instant, Value)>,
    stderr: Arc<Mutex<String>>,
    next_id: u64,
    /// Messages read while waiting for something else.
    pub backlog: Vec<(Instant, Value)>,
    /// When the process was spawned.
    pub spawned: Instant,
}

impl Client {
    /// Starts `server` with `args`.
    pub fn spawn(server: &Path, args: &[String]) -> Client {
        Client::spawn_reading(server, args, None)
    }

    /// Like `spawn`, but nothing is read from the server's stdout until `start` receives (or is
    /// dropped): a client that does not read its answers.
    pub fn spawn_reading(
        server: &Path,
        args: &[String],
        start: Option<std::sync::mpsc::Receiver<()>>,
    ) -> Client {
        let mut command = Command::new(server);
        command.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        // The change journal of a benchmarked server (unless its arguments say where) goes to a
        // directory of this run, never this user's state directory.
        let state = std::env::temp_dir().join(format!("mcp-bench-state-{}", std::process::id()));
        command.env("XDG_STATE_HOME", &state).env("LOCALAPPDATA", &state);
        // Process creation under Wine now and then fails for a moment: try again, from a fresh
        // clock (the start-up time measures the server, not the failed tries).
        let mut tries = 0;
        let (spawned, mut child) = loop {
            let spawned = Instant::now();
            match command.spawn() {
                Ok(child) => break (spawned, child),
                Err(e) if tries < 4 => {
                    tries += 1;
                    eprintln!("starting {} failed ({e}); trying again", server.display());
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("starting {}: {e}", server.display()),
            }
        };
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let stderr_pipe = child.stderr.take().expect("stderr");
        let lines = read_stamped(stdout, start, |arrived, _, value| (arrived, value));
        let stderr = collect_lines(stderr_pipe);
        Client {
            child,
            stdin: Some(stdin),
            lines,
            stderr,
            next_id: 0,
            backlog: Vec::new(),
            spawned,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a request; returns its id.
    pub fn send(&mut self, method: &str, params: Value) -> u64 {
        self.next_id += 1;
        let message =
            json!({ "jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params });
        self.write_line(&message.to_string());
        self.next_id
    }

    /// Writes one line to the server's stdin.
    pub fn write_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{line}").and_then(|()| stdin.flush()).expect("write to server");
    }

    /// Hands the server's stdin over (to a writer thread); `send` cannot be used after this.
    pub fn take_stdin(&mut self) -> ChildStdin {
        self.stdin.take().expect("stdin is open")
    }

    /// Waits until the server's CPU time stops growing for a second: it has done what it can
    /// (for a flood it does not read further, it stopped reading).
    pub fn wait_quiet(&self) {
        let deadline = Instant::now() + TIMEOUT;
        let mut last = Duration::MAX;
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_secs(1));
            let now = cpu_time(self.pid());
            if now == last {
                return;
            }
            last = now;
        }
    }

    /// Reads answers until `n` (besides initialize's) have arrived.
    pub fn drain(&mut self, n: usize) {
        let mut seen = 0;
        while seen < n {
            self.wait_for("an answer", |m| m.get("result").is_some() || m.get("error").is_some());
            seen += 1;
        }
    }

    /// Closes the server's stdin and waits for it to exit; returns how long that took.
    pub fn close_and_time_exit(&mut self) -> Duration {
        drop(self.stdin.take());
        let closed = Instant::now();
        let deadline = closed + TIMEOUT;
        loop {
            if self.child.try_wait().expect("try_wait").is_some() {
                return closed.elapsed();
            }
            assert!(Instant::now() < deadline, "the server did not exit after stdin closed");
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Sends a notification.
    pub fn notify(&mut self, method: &str, params: Value) {
        let message = json!({ "jsonrpc": "2.0", "method": method, "params": params });
        self.write_line(&message.to_string());
    }

    /// Waits for the first message matching `pred` (the backlog first); returns when it arrived.
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> (Instant, Value) {
        if let Some(idx) = self.backlog.iter().position(|(_, m)| pred(m)) {
            return self.backlog.remove(idx);
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, message)) if pred(&message) => return (at, message),
                Ok(other) => self.backlog.push(other),
                Err(RecvTimeoutError::Timeout) => {
                    panic!("timed out waiting for {what}; server stderr:\n{}", self.stderr())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the server exited while waiting for {what}:\n{}", self.stderr())
                }
            }
        }
    }

    /// Sends a request and waits for its response; returns the response and when it arrived.
    pub fn request(&mut self, method: &str, params: Value) -> (Instant, Value) {
        let id = self.send(method, params);
        let (at, response) = self.wait_for(&format!("the response to {method}"), |m| {
            m.get("id") == Some(&json!(id)) && m.get("method").is_none()
        });
        if response.get("error").is_some() {
            panic!("{method} failed: {response}");
        }
        (at, response)
    }

    /// The legacy handshake.
    pub fn initialize(&mut self) -> Instant {
        let (at, _) = self.request(
            "initialize",
            json!({ "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "bench", "version": "0" } }),
        );
        self.notify("notifications/initialized", json!({}));
        at
    }

    /// The server's stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until stderr contains `needle`; returns when it was seen.
    pub fn wait_stderr(&self, needle: &str) -> Instant {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if self.stderr().contains(needle) {
                return Instant::now();
            }
            assert!(Instant::now() < deadline, "timed out waiting for {needle:?} on stderr");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Forgets messages read so far.
    pub fn clear_backlog(&mut self) {
        while let Ok(message) = self.lines.try_recv() {
            self.backlog.push(message);
        }
        self.backlog.clear();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a server's stdout on a thread of its own (after `start` receives or is dropped, if
/// given), and sends `stamp(arrival, bytes, message)` for each line. A line is stamped when it has
/// arrived whole, before it is parsed: the server's part ends there, and parsing a large answer
/// is the client's.
pub fn read_stamped<T: Send + 'static>(
    stdout: impl Read + Send + 'static,
    start: Option<Receiver<()>>,
    stamp: fn(Instant, usize, Value) -> T,
) -> Receiver<T> {
    let (tx, lines) = channel();
    std::thread::spawn(move || {
        if let Some(start) = start {
            let _ = start.recv();
        }
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let arrived = Instant::now();
            let value: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if tx.send(stamp(arrived, line.len(), value)).is_err() {
                break;
            }
        }
    });
    lines
}

/// Collects a server's stderr on a thread of its own.
pub fn collect_lines(stderr: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let mut all = sink.lock().unwrap();
            all.push_str(&line);
            all.push('\n');
        }
    });
    text
}

/// Resident memory now and at its peak, in KiB, from `/proc` (Linux); zeros elsewhere.
pub fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time (user + system) the process has used so far (Linux); zero elsewhere.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 =
        [11, 12].iter().filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok())).sum();
    // USER_HZ is 100 on every Linux configuration in practice.
    Duration::from_millis(ticks * 10)
}
