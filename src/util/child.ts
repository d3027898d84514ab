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

export function forkChild(entry: string, options: ForkOptions & { execArgv?: string[] } = {}): ChildProcess {
  const execArgv = ["--enable-source-maps", ...(options.execArgv ?? [])];
  if (entry.endsWith(".ts")) execArgv.unshift(`--import=${import.meta.resolve("tsx")}`);
  return fork(entry, [], { ...options, execArgv, serialization: "json" });
}
