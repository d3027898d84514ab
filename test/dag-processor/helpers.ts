/** Helpers for the DAG processor tests: reading what a scan stored. */
import { DagProcessor } from "../../src/dag-processor/processor.js";
import { listImportErrors } from "../../src/store/dags.js";
import type { ImportErrorRow } from "../../src/store/schema.js";
import { silentLogger } from "../../src/util/logger.js";
import type { TestEnv } from "../helpers/env.js";

/** A DAG file that defines one small, valid DAG. */
export function goodDag(dagId: string, extra = ""): string {
  return [
    'import { dag, task } from "updraft";',
    `const hello = task({ id: "hello", run: () => "hi" });`,
    extra,
    `export default dag({ id: "${dagId}" }, () => { hello(); });`,
    "",
  ].join("\n");
}

export async function importErrors(env: TestEnv): Promise<Record<string, ImportErrorRow>> {
  const rows = await listImportErrors(env.store.db);
  return Object.fromEntries(rows.map((r) => [r.fileloc, r]));
}

/** dag_id → { fileloc, is_active, versions } for every stored DAG. */
export async function dagRows(env: TestEnv): Promise<Record<string, { fileloc: string; is_active: number; latest_version_id: number | null }>> {
  const rows = await env.store.db.selectFrom("dag").select(["dag_id", "fileloc", "is_active", "latest_version_id"]).orderBy("dag_id").execute();
  return Object.fromEntries(rows.map(({ dag_id, ...rest }) => [dag_id, { ...rest, is_active: Number(rest.is_active), latest_version_id: rest.latest_version_id === null ? null : Number(rest.latest_version_id) }]));
}

export async function versionCount(env: TestEnv, dagId: string): Promise<number> {
  const rows = await env.store.db.selectFrom("dag_version").select("id").where("dag_id", "=", dagId).execute();
  return rows.length;
}

/** 1-based number of the first line of `source` that contains `needle`. */
export function lineOf(source: string, needle: string): number {
  const index = source.split("\n").findIndex((line) => line.includes(needle));
  if (index < 0) throw new Error(`'${needle}' is not in the source`);
  return index + 1;
}

export function newProcessor(env: TestEnv): DagProcessor {
  return new DagProcessor({ store: env.store, config: env.config, log: silentLogger() });
}

/** Polls `check` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
