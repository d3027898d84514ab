/**
 * Runs the real `updraft` CLI as a subprocess (`node --import tsx src/cli/main.ts …` from the repo
 * root) against a throw-away home and DAGs folder.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** Generous: a CLI process start costs about a second, several on a busy 2-core machine. */
export const CLI_TIMEOUT_MS = 120_000;

/** A test that runs many CLI commands one after another gets this long. */
export const CLI_TEST_TIMEOUT_MS = 300_000;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Extra environment variables (undefined removes one). */
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  /** Run this script instead of src/cli/main.ts (e.g. bin/updraft.js); it then runs without tsx. */
  script?: string;
  /** Written to the child's stdin, which is then closed. */
  input?: string;
}

/** The parent's environment without any UPDRAFT_* variable, so only what a test sets counts. */
function cleanEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("UPDRAFT_")) env[key] = value;
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

export function runCli(args: string[], options: RunOptions = {}): Promise<CliResult> {
  const nodeArgs = options.script ? [options.script, ...args] : ["--import", "tsx", "src/cli/main.ts", ...args];
  return new Promise((resolvePromise, reject) => {
    const child = execFile(
      process.execPath,
      nodeArgs,
      { cwd: REPO_ROOT, env: cleanEnv(options.env ?? {}), timeout: options.timeoutMs ?? CLI_TIMEOUT_MS, killSignal: "SIGKILL", maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== "number") {
          // Killed (timeout) or could not start: not an exit code the CLI chose.
          reject(new Error(`updraft ${args.join(" ")} did not finish: ${error.message}\nstdout: ${stdout}\nstderr: ${stderr}`));
          return;
        }
        resolvePromise({ code: error ? (error.code as number) : 0, stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

export interface CliEnv {
  root: string;
  home: string;
  dagsFolder: string;
  writeDag(relativePath: string, source: string): string;
  /** Runs the CLI with UPDRAFT_HOME and UPDRAFT_DAGS_FOLDER set to this env's folders (and UPDRAFT_TYPE_CHECK=off). */
  run(args: string[], options?: RunOptions): Promise<CliResult>;
  /** Runs the CLI, expects exit 0 and parses the whole of stdout as JSON. */
  json<T = unknown>(args: string[], options?: RunOptions): Promise<T>;
  cleanup(): void;
}

export function createCliEnv(dags: Record<string, string> = {}): CliEnv {
  const root = mkdtempSync(join(tmpdir(), "updraft-cli-"));
  const home = join(root, "home");
  const dagsFolder = join(root, "dags");
  mkdirSync(dagsFolder, { recursive: true });
  const writeDag = (relativePath: string, source: string) => {
    const file = join(dagsFolder, relativePath);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, source);
    return file;
  };
  for (const [path, source] of Object.entries(dags)) writeDag(path, source);
  const run = (args: string[], options: RunOptions = {}) =>
    // Type checking is off unless a test asks for it (UPDRAFT_TYPE_CHECK: undefined gets the default).
    runCli(args, { ...options, env: { UPDRAFT_HOME: home, UPDRAFT_DAGS_FOLDER: dagsFolder, UPDRAFT_TYPE_CHECK: "off", ...options.env } });
  return {
    root,
    home,
    dagsFolder,
    writeDag,
    run,
    async json<T>(args: string[], options?: RunOptions): Promise<T> {
      const result = await run(args, options);
      if (result.code !== 0) throw new Error(`updraft ${args.join(" ")} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
      try {
        return JSON.parse(result.stdout) as T;
      } catch (error) {
        throw new Error(`updraft ${args.join(" ")} printed no single JSON value (${(error as Error).message}):\n${result.stdout}`);
      }
    },
    cleanup() {
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Shapes of the CLI's JSON output, as far as the tests look at them. */
export interface DagTestResult {
  dagId: string;
  runId: string;
  state: "success" | "failed";
  tasks: Array<{ taskId: string; state: string; tryNumber: number }>;
}

export interface DagListItem {
  dagId: string;
  isPaused: boolean;
  isActive: boolean;
  fileloc: string;
  version?: number;
  scheduleDescription: string;
  owner: string;
  tags: string[];
}

export interface RunListItem {
  dagId: string;
  runId: string;
  state: string;
  runType: string;
  logicalDate: string;
  conf: Record<string, unknown>;
  note: string | null;
}

export interface TaskStateJson {
  dagId: string;
  runId: string;
  taskId: string;
  state: string;
  tryNumber: number;
  maxTries: number;
  tries: Array<{ tryNumber: number; state: string; hostname: string | null; pid: number | null; error: string | null; stack: string | null }>;
}
