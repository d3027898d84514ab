/**
 * Browser tests against a real `updraft standalone`: the built CLI started as a subprocess on a
 * free port with its own home and DAGs folder, and Debian's Chromium driven by playwright-core.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContextOptions, type Page } from "playwright-core";
import { CHROMIUM_PATH } from "../helpers/services.js";

export const REPO_ROOT = new URL("../../", import.meta.url).pathname;
export const UI_INDEX = join(REPO_ROOT, "dist", "ui", "index.html");

export interface Standalone {
  url: string;
  home: string;
  dagsFolder: string;
  adminPassword: string;
  /** An access token of the standalone's admin, for API calls made by the test itself. */
  adminToken(): Promise<string>;
  api<T = unknown>(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; json: T }>;
  stop(): Promise<void>;
}

/** Starts `updraft standalone` on the example DAGs plus `extraDags`, and waits for its URL. */
export async function startStandalone(options: { extraDags?: Record<string, string>; examples?: boolean; env?: Record<string, string> } = {}): Promise<Standalone> {
  const home = mkdtempSync(join(tmpdir(), "updraft-ui-home-"));
  const dagsFolder = join(home, "dags");
  mkdirSync(dagsFolder);
  if (options.examples !== false) {
    const examples = join(REPO_ROOT, "examples", "dags");
    for (const file of readdirSync(examples)) if (file.endsWith(".ts")) copyFileSync(join(examples, file), join(dagsFolder, file));
  }
  for (const [name, source] of Object.entries(options.extraDags ?? {})) writeFileSync(join(dagsFolder, name), source);

  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("UPDRAFT_")) env[k] = v;
  Object.assign(env, { UPDRAFT_HOME: home, UPDRAFT_LOG_FORMAT: "json", UPDRAFT_LOG_LEVEL: "info", UPDRAFT_DAG_RESCAN_INTERVAL: "500ms" }, options.env);
  const child: ChildProcess = spawn(process.execPath, [join(REPO_ROOT, "bin", "updraft.js"), "standalone", "--dags-folder", dagsFolder, "--port", "0"], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`standalone did not start in 30 s:\n${output.slice(-2000)}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /"url":"(http[^"]+)"/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`standalone exited (${code}):\n${output.slice(-2000)}`));
    });
  });
  const adminPassword = readFileSync(join(home, "standalone_admin_password.txt"), "utf8").trim();

  const api = async <T>(method: string, path: string, body?: unknown, token?: string) => {
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
    if (res.status !== 200) throw new Error(`admin login failed: ${res.status}`);
    token = res.json.access_token;
    return token;
  };

  return {
    url,
    home,
    dagsFolder,
    adminPassword,
    adminToken,
    api: (method, path, body, t) => api(method, path, body, t),
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await new Promise((r) => child.once("exit", r));
      }
      rmSync(home, { recursive: true, force: true });
    },
  };
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
}

/** A page that records script errors (a test asserts there are none) and logs in through the form. */
export async function loggedInPage(browser: Browser, base: string, username: string, password: string, contextOptions: BrowserContextOptions = {}): Promise<Page & { errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, ...contextOptions });
  const page = (await context.newPage()) as Page & { errors: string[] };
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(String(e)));
  await page.goto(`${base}/login`);
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", password);
  await page.click("button[type=submit]");
  await page.waitForURL(/\/dags$/);
  return page;
}
