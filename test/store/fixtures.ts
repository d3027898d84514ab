/** Shared helpers for the store tests: environments per dialect, real SerializedDags, recorded files. */
import { createHash } from "node:crypto";
import { afterEach, expect } from "vitest";
import type { SerializedDag } from "../../src/dag/model.js";
import { serializeDag } from "../../src/dag/serialize.js";
import { isUpdraftError, type ErrorCode, type UpdraftError } from "../../src/errors/index.js";
import { dag, takeDefinedDags } from "../../src/sdk/dag.js";
import { task } from "../../src/sdk/task.js";
import type { DagOptions } from "../../src/sdk/types.js";
import type { Store } from "../../src/store/connect.js";
import { recordFileResult, type FileImportError, type FileReport } from "../../src/store/dags.js";
import { createTestEnv, type TestDialect, type TestEnv } from "../helpers/env.js";

/** Returns a factory of test envs of `dialect`; every env it made is cleaned up after each test. */
export function envFactory(dialect: TestDialect): (options?: Parameters<typeof createTestEnv>[0]) => Promise<TestEnv> {
  const made: TestEnv[] = [];
  afterEach(async () => {
    for (const env of made.splice(0)) await env.cleanup();
  });
  return async (options = {}) => {
    const env = await createTestEnv({ dialect, ...options });
    made.push(env);
    return env;
  };
}

/** Runs the SDK's dag() in-process and serializes the definition, as the import worker does. */
export function buildDag(fileloc: string, options: DagOptions, body: () => void): SerializedDag {
  takeDefinedDags();
  dag(options, body);
  const [definition] = takeDefinedDags();
  if (!definition) throw new Error("dag() defined nothing");
  return serializeDag(definition, fileloc);
}

/** A DAG of independent tasks named `taskIds`. */
export function simpleDag(fileloc: string, dagId: string, taskIds: string[] = ["only"], options: Partial<DagOptions> = {}): SerializedDag {
  return buildDag(fileloc, { id: dagId, ...options }, () => {
    for (const id of taskIds) task({ id, run: () => id })();
  });
}

/**
 * "etl": a -> b -> c, and x on its own. b has retries 2 and takes 2 slots of pool "etl";
 * params region (default "eu") and n (integer, default 1).
 */
export function etlDag(fileloc = "etl.ts", options: Partial<DagOptions> = {}): SerializedDag {
  return buildDag(
    fileloc,
    { id: "etl", params: { region: { type: "string", default: "eu" }, n: { type: "integer", default: 1 } }, ...options },
    () => {
      const a = task({ id: "a", run: () => 1 });
      const b = task({ id: "b", run: (n: number) => n + 1, retries: 2, pool: "etl", poolSlots: 2 });
      const c = task({ id: "c", run: (n: number) => n * 2 });
      const x = task({ id: "x", run: () => "x" });
      c(b(a()));
      x();
    },
  );
}

/** The DAGs folder the store tests pretend their files are in. */
export const DAGS_FOLDER = "/nonexistent/dags";

export interface RecordOptions {
  dagsFolder?: string;
  error?: FileImportError | null;
  existingFiles?: Iterable<string>;
  now?: number;
  pausedAtCreation?: boolean;
  source?: string;
}

/** Records one import of `fileloc` the way the DAG processor does. */
export function recordFile(store: Store, fileloc: string, dags: SerializedDag[], options: RecordOptions = {}): Promise<FileReport> {
  const code = `// bundle of ${fileloc}\n${JSON.stringify(dags)}`;
  return recordFileResult(store, {
    dagsFolder: options.dagsFolder ?? DAGS_FOLDER,
    fileloc,
    dags,
    bundle: dags.length > 0 ? { hash: createHash("sha256").update(code).digest("hex"), code } : null,
    source: options.source ?? `// source of ${fileloc}`,
    error: options.error ?? null,
    existingFiles: new Set(options.existingFiles ?? [fileloc]),
    pausedAtCreation: options.pausedAtCreation ?? false,
    now: options.now ?? Date.now(),
  });
}

/** Awaits `action`, expects it to throw an UpdraftError with `code`, and returns that error. */
export async function expectCode(action: Promise<unknown> | (() => unknown), code: ErrorCode): Promise<UpdraftError> {
  let thrown: unknown = undefined;
  let threw = false;
  try {
    await (typeof action === "function" ? action() : action);
  } catch (error) {
    thrown = error;
    threw = true;
  }
  expect(threw, `expected ${code}, but nothing was thrown`).toBe(true);
  expect(isUpdraftError(thrown) ? thrown.code : thrown).toBe(code);
  return thrown as UpdraftError;
}

/** Resolves once `check` returns true; polls every 25 ms and gives up after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 30_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function countRows(store: Store, table: "dag_run" | "task_instance" | "dag_version" | "dag_bundle" | "import_error" | "dag" | "pool"): Promise<number> {
  const row = await store.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
