/**
 * Starting Updraft's own subprocesses (DAG import workers, task runners). From the built package
 * the entry is a .js file; when Updraft runs from its TypeScript sources (tests, `npm run bench`)
 * the child gets tsx's loader so the same entry runs from source.
 */
import { fork, type ChildProcess, type ForkOptions } from "node:child_process";
import { fileURLToPath } from "node:url";

export function childEntry(importMetaUrl: string, name: string): string {
  const ext = importMetaUrl.endsWith(".ts") ? ".ts" : ".js";
  return fileURLToPath(new URL(`./${name}${ext}`, importMetaUrl));
}

/**
 * Settings a child never gets: DAG code runs in these processes and has no business with the
 * database address, the token signing key or the key that encrypts connections.
 */
export const WITHHELD_ENV = ["UPDRAFT_DATABASE_URL", "UPDRAFT_JWT_SECRET", "UPDRAFT_SECRET_KEY", "UPDRAFT_BROKER_URL"] as const;

export function childEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const copy = { ...env };
  for (const name of WITHHELD_ENV) delete copy[name];
  return copy;
}

export function forkChild(entry: string, options: ForkOptions & { execArgv?: string[] } = {}): ChildProcess {
  const execArgv = ["--enable-source-maps", ...(options.execArgv ?? [])];
  if (entry.endsWith(".ts")) execArgv.unshift(`--import=${import.meta.resolve("tsx")}`);
  return fork(entry, [], { ...options, env: childEnv(options.env), execArgv, serialization: "json" });
}

/**
 * SIGKILL to a child started with `detached: true` and everything in its process group (what
 * DAG code started: bash, its children), also once the child itself has exited: Linux does not
 * hand out a process id again while a group of that id has members, so the group is still its.
 */
export function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}
