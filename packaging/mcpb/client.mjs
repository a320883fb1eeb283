// A minimal MCP client over stdio for the packaging scripts: spawns a server, sends JSON-RPC
// requests one line each, and waits (with a deadline) for each answer. stderr is kept for
// failure messages.
import { spawn } from "node:child_process";

export class StdioClient {
  constructor(command, args, options = {}) {
    this.child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"], ...options });
    this.nextId = 1;
    this.waiting = new Map();
    this.stderr = "";
    this.exited = null;
    let buffer = "";
    this.child.stdout.setEncoding("utf8");
    this.child.stdout.on("data", (chunk) => {
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (!line.trim()) continue;
        const message = JSON.parse(line);
        const waiter = message.id !== undefined && this.waiting.get(message.id);
        if (waiter && (message.result !== undefined || message.error !== undefined)) {
          this.waiting.delete(message.id);
          waiter(message);
        }
      }
    });
    this.child.stderr.setEncoding("utf8");
    this.child.stderr.on("data", (chunk) => (this.stderr += chunk));
    this.child.on("exit", (code, signal) => {
      this.exited = { code, signal };
      for (const waiter of this.waiting.values()) waiter({ error: { message: `server exited (${code ?? signal})` } });
      this.waiting.clear();
    });
  }

  // The whole JSON-RPC answer to one request; rejects after `timeoutMs`.
  request(method, params = {}, timeoutMs = 60000) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(new Error(`server exited before ${method}:\n${this.stderr}`));
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`no answer to ${method} within ${timeoutMs} ms; stderr:\n${this.stderr}`));
      }, timeoutMs);
      this.waiting.set(id, (message) => {
        clearTimeout(timer);
        resolve(message);
      });
      this.child.stdin.write(JSON.stringify({ jsonrpc: "2.0", id, method, params }) + "\n");
    });
  }

  // A request whose answer must be a result; throws with the error and stderr otherwise.
  async result(method, params = {}) {
    const answer = await this.request(method, params);
    if (answer.error) throw new Error(`${method} failed: ${JSON.stringify(answer.error)}\n${this.stderr}`);
    return answer.result;
  }

  notify(method, params = {}) {
    this.child.stdin.write(JSON.stringify({ jsonrpc: "2.0", method, params }) + "\n");
  }

  async initialize() {
    const result = await this.result("initialize", {
      protocolVersion: "2025-11-25",
      capabilities: {},
      clientInfo: { name: "mcpb-packaging", version: "0" },
    });
    this.notify("notifications/initialized");
    return result;
  }

  // Every item of a paginated list (tools/list, prompts/list).
  async listAll(method, key) {
    const items = [];
    let cursor;
    do {
      const page = await this.result(method, cursor ? { cursor } : {});
      items.push(...page[key]);
      cursor = page.nextCursor;
    } while (cursor);
    return items;
  }

  // Closes stdin and waits for the exit (the server exits when its client goes).
  async close(timeoutMs = 10000) {
    this.child.stdin.end();
    const deadline = Date.now() + timeoutMs;
    while (!this.exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (!this.exited) this.child.kill("SIGKILL");
    return this.exited;
  }
}

// The manifest's `tools` and `prompts` for what a server lists: tools as {name, description},
// prompts as {name, description, arguments, text}, where `text` (which MCPB requires) is the
// prompt's description with its arguments as ${arguments.NAME} placeholders.
export function manifestEntries(tools, prompts) {
  return {
    tools: tools.map((t) => ({ name: t.name, description: t.description })),
    prompts: prompts.map((p) => {
      const names = (p.arguments ?? []).map((a) => a.name);
      const lines = names.map((n) => `${n}: \${arguments.${n}}`);
      return {
        name: p.name,
        description: p.description,
        arguments: names,
        text: [p.description, ...lines].join("\n"),
      };
    }),
  };
}
