/**
 * A real `updraft standalone` (the built CLI, bin/updraft.js) as a subprocess on a free port,
 * with its own home and DAGs folder: for browser tests and fault tests (crashes, a full disk).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const REPO_ROOT = new URL("../../", import.meta.url).pathname;

export interface StandaloneProcess {
  url: string;
  home: string;
  dagsFolder: string;
  child: ChildProcess;
  adminPassword: string;
  /** Resolves with the exit code (or the signal's name) once the process has exited. */
  exited: Promise<number | string>;
  /** Everything it wrote to stdout and stderr so far (from the pipes, or the log file). */
  output(): string;
  /** An access token of the standalone's admin (logged in once, on first use). */
  adminToken(): Promise<string>;
  api<T = unknown>(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; json: T }>;
  /** SIGTERM, and waits for the exit (SIGKILL after 20 s). */
  stop(): Promise<void>;
}

export interface StandaloneOptions {
  home: string;
  dagsFolder: string;
  env?: Record<string, string>;
  /** stdout and stderr go to this file (for instance on the disk under test) instead of pipes. */
  logFile?: string;
  startTimeoutMs?: number;
}

export async function startStandaloneProcess(options: StandaloneOptions): Promise<StandaloneProcess> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("UPDRAFT_")) env[k] = v;
  Object.assign(env, { UPDRAFT_HOME: options.home, UPDRAFT_LOG_FORMAT: "json", UPDRAFT_LOG_LEVEL: "info", UPDRAFT_DAG_RESCAN_INTERVAL: "500ms" }, options.env);
  const fd = options.logFile ? openSync(options.logFile, "a") : null;
  const child = spawn(process.execPath, [join(REPO_ROOT, "bin", "updraft.js"), "standalone", "--dags-folder", options.dagsFolder, "--port", "0"], {
    env,
    stdio: fd === null ? ["ignore", "pipe", "pipe"] : ["ignore", fd, fd],
  });
  if (fd !== null) closeSync(fd);
  let piped = "";
  child.stdout?.on("data", (chunk: Buffer) => (piped += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (piped += chunk.toString()));
  const output = () => {
    if (!options.logFile) return piped;
    try {
      return readFileSync(options.logFile, "utf8");
    } catch {
      return "";
    }
  };
  const exited = new Promise<number | string>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown")));

  const timeoutMs = options.startTimeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  let gone = false;
  void exited.then(() => (gone = true));
  let url: string | null = null;
  while (url === null) {
    // The line that says it runs (after the admin is made and every part started), not the API's own.
    url = /"url":"(http[^"]+)"[^\n]*standalone is running/.exec(output())?.[1] ?? null;
    if (url) break;
    if (gone || Date.now() > deadline) {
      if (!gone) child.kill("SIGKILL");
      throw new Error(`standalone did not start within ${timeoutMs} ms (${gone ? "it exited" : "timeout"}):\n${output().slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const passwordFile = join(options.home, "standalone_admin_password.txt");
  const adminPassword = existsSync(passwordFile) ? readFileSync(passwordFile, "utf8").trim() : "";

  const api = async <T>(method: string, path: string, body?: unknown, token?: string) => {
    if (gone) throw new Error(`standalone has exited: ${output().slice(-1000)}`);
    const res = await fetch(`${url}/api/v1${path}`, {
      method,
      headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : null) as T };
  };
  let token: string | null = null;
  const adminToken = async () => {
    if (token) return token;
    const res = await api<{ access_token: string }>("POST", "/auth/login", { username: "admin", password: adminPassword });
    if (res.status !== 200) throw new Error(`admin login failed: ${res.status} ${JSON.stringify(res.json)}`);
    token = res.json.access_token;
    return token;
  };

  return {
    url,
    home: options.home,
    dagsFolder: options.dagsFolder,
    child,
    adminPassword,
    exited,
    output,
    adminToken,
    api: (method, path, body, t) => api(method, path, body, t),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
