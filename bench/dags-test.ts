/**
 * `updraft dags test` of a fan-out of 3,000 no-op tasks after one root (3,001 tasks), end to end
 * from a cold CLI (issue 9): the built CLI is spawned in a fresh home, so each run pays for
 * everything a first `dags test` does (Node and the CLI's modules, migrating a new database,
 * bundling and importing the DAG file, the scheduler, starting runners, 3,001 tries, the result
 * table), and is timed from spawn to exit. The configuration is the CLI's defaults: only
 * `--home`, `--dags-folder` and the database are set, and the caller's UPDRAFT_* variables are
 * not passed on.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const DAGSTEST_WIDTH = 3_000;
export const DAGSTEST_TASKS = DAGSTEST_WIDTH + 1;
const DAG_ID = "fanout_test";
const CLI = fileURLToPath(new URL("../bin/updraft.js", import.meta.url));

const dagSource = `import { dag, task } from "updraft";
const noop = task({ id: "t", run: () => undefined });
export default dag({ id: "${DAG_ID}", maxActiveTasks: 10000 }, () => {
  const start = noop(undefined, { id: "start" });
  for (let i = 0; i < ${DAGSTEST_WIDTH}; i++) noop().after(start);
});
`;

export interface CliTarget {
  /** `--database-url`, or none for SQLite in the home. */
  databaseUrl?: string;
  /** UPDRAFT_* variables for the run (e.g. UPDRAFT_SQLITE_SYNCHRONOUS). */
  env?: Record<string, string>;
}

export interface CliRun {
  ms: number;
  code: number | null;
  signal: string | null;
  /** The end of stderr, or of stdout when stderr is empty (for a failure's row). */
  tail: string;
}

/** The environment without the caller's Updraft settings, plus `extra`. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("UPDRAFT_")) env[key] = value;
  return { ...env, ...extra };
}

/** Spawns the built CLI in `cwd` and times it from spawn to exit. */
function timeCli(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let ms = 0;
    let stdout = "";
    let stderr = "";
    // Read as a terminal would; only the end is kept.
    child.stdout.on("data", (chunk: Buffer) => (stdout = (stdout + chunk.toString()).slice(-2000)));
    child.stderr.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    child.once("error", reject);
    child.once("exit", () => (ms = performance.now() - t0));
    child.once("close", (code, signal) => resolve({ ms, code, signal, tail: (stderr.trim() || stdout.trim()).slice(-400) }));
  });
}

/** One cold `dags test` of the 3,001-task fan-out, in a fresh home and DAGs folder. */
export async function coldDagsTest(target: CliTarget): Promise<CliRun> {
  const root = mkdtempSync(join(tmpdir(), "updraft-bench-dagstest-"));
  try {
    const dags = join(root, "dags");
    mkdirSync(dags);
    writeFileSync(join(dags, "fanout.ts"), dagSource);
    const args = ["dags", "test", DAG_ID, "--home", join(root, "home"), "--dags-folder", dags];
    if (target.databaseUrl) args.push("--database-url", target.databaseUrl);
    return await timeCli(args, root, cleanEnv(target.env));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** The floor under any CLI command: `updraft version` from spawn to exit. */
export async function cliStart(): Promise<CliRun> {
  const root = mkdtempSync(join(tmpdir(), "updraft-bench-cli-"));
  try {
    return await timeCli(["version", "--home", join(root, "home")], root, cleanEnv());
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
