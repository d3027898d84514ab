/**
 * Runs one try inside a runner process: loads the DAG version's bundle (once per runner), builds
 * the try's DAG (once), finds the task, builds its input and context, runs it, and turns what happened into a TryResult.
 */
import { pathToFileURL } from "node:url";
import { errorMessage, isUpdraftError, UpdraftError } from "../errors/index.js";
import { userStack } from "../errors/stack.js";
import { takeDeferredDags, type DeferredDag } from "../sdk/dag.js";
import type { DagDefinition, TaskDefinition } from "../sdk/definition.js";
import { controlKind } from "../sdk/errors.js";
import { resolveInput } from "../sdk/builder.js";
import type { TaskContext } from "../sdk/types.js";
import type { LogCapture } from "./capture.js";
import { toXcomJson } from "./json-value.js";
import type { TryError, TryPayload, TryResult } from "./protocol.js";
import { taskSecrets, type SecretSources } from "./secrets.js";

const loaded = new Map<string, Promise<Map<string, DeferredDag>>>();
/**
 * The import under way: bundles are imported one after the other, since the DAGs a bundle
 * defines are collected from one global list while it is evaluated (two at once, say a preload
 * and a try of another version, would take each other's DAGs).
 */
let importing: Promise<unknown> = Promise.resolve();

/**
 * The DAGs of a bundle, importing it the first time (once per runner: bundles are
 * content-addressed, so never stale). Their bodies run only when a try of theirs comes.
 */
function dagsOf(bundleHash: string, bundlePath: string): Promise<Map<string, DeferredDag>> {
  let dags = loaded.get(bundleHash);
  if (!dags) {
    dags = importing.then(async () => {
      takeDeferredDags();
      await import(pathToFileURL(bundlePath).href);
      return new Map(takeDeferredDags().map((d) => [d.dagId, d]));
    });
    importing = dags.catch(() => undefined);
    loaded.set(bundleHash, dags);
    // A failed import is tried again by the next try (it is reported with the try that hit it).
    dags.catch(() => loaded.delete(bundleHash));
  }
  return dags;
}

/** Imports a bundle ahead of its first try, so that the try does not wait for it. */
export async function preloadBundle(bundleHash: string, bundlePath: string): Promise<void> {
  await dagsOf(bundleHash, bundlePath).catch(() => undefined);
}

export interface TryHooks {
  capture: LogCapture;
  signal: AbortSignal;
  pullXcom(taskId: string, key: string): Promise<string | null>;
  pushXcom(key: string, value: string): void;
  /** Where ctx.variable and ctx.connection look. */
  secrets: SecretSources;
  /** Called once the DAG is built and the task found, before the task's code runs. */
  loaded?: () => void;
}

const OUTPUT_ERRORS = new Set<string>(["UPDRAFT_E_BRANCH_INVALID", "UPDRAFT_E_XCOM_NOT_SERIALIZABLE", "UPDRAFT_E_XCOM_TOO_LARGE", "UPDRAFT_E_JSON_TOO_DEEP"]);

/** An error as a try's log line shows it: the stack's frames of the author's code (the full stack goes into the try's error). */
export function shownError(error: unknown): string {
  return error instanceof Error ? (error.stack ? userStack(error.stack) : error.message) : errorMessage(error);
}

function toTryError(error: unknown, retryable: boolean): TryError {
  return {
    message: errorMessage(error),
    code: isUpdraftError(error) ? error.code : null,
    stack: error instanceof Error ? (error.stack ?? null) : null,
    retryable,
  };
}

export async function runTry(payload: TryPayload, hooks: TryHooks): Promise<TryResult> {
  const { capture } = hooks;
  let task: TaskDefinition;
  let dag: DagDefinition;
  try {
    const found = (await dagsOf(payload.bundleHash, payload.bundlePath)).get(payload.dagId)?.build();
    const foundTask = found?.tasks.get(payload.taskId);
    if (!found || !foundTask) {
      throw new UpdraftError("UPDRAFT_E_TASK_NOT_FOUND", `task '${payload.taskId}' of DAG '${payload.dagId}' is not defined when its file is imported again`, {
        hint: "a DAG body must define the same tasks every time it runs (no randomness or clock-dependent task ids)",
      });
    }
    dag = found;
    task = foundTask;
    hooks.loaded?.();
  } catch (error) {
    capture.log("error", [`importing the DAG file failed: ${shownError(error)}`]);
    return { outcome: "failed", error: toTryError(error, true), at: Date.now() };
  }

  const outputs = new Map<string, unknown>();
  for (const [taskId, json] of Object.entries(payload.inputs)) outputs.set(taskId, JSON.parse(json));
  const ctx: TaskContext = {
    dagId: payload.dagId,
    runId: payload.runId,
    taskId: payload.taskId,
    tryNumber: payload.tryNumber,
    maxTries: payload.maxTries,
    logicalDate: new Date(payload.logicalDate),
    dataInterval: { start: new Date(payload.dataIntervalStart), end: new Date(payload.dataIntervalEnd) },
    ds: payload.ds,
    params: Object.freeze(JSON.parse(payload.params) as Record<string, unknown>),
    conf: Object.freeze(JSON.parse(payload.conf) as Record<string, unknown>),
    log: {
      info: (...args) => capture.log("info", args),
      warn: (...args) => capture.log("warn", args),
      error: (...args) => capture.log("error", args),
    },
    signal: hooks.signal,
    xcom: {
      async pull<T>(taskId: string, key = "return_value"): Promise<T | undefined> {
        if (key === "return_value" && outputs.has(taskId)) return structuredClone(outputs.get(taskId)) as T;
        const json = await hooks.pullXcom(taskId, key);
        return json === null ? undefined : (JSON.parse(json) as T);
      },
      async push(key: string, value: unknown): Promise<void> {
        if (typeof key !== "string" || key === "" || key === "return_value") {
          throw new UpdraftError("UPDRAFT_E_USAGE", `xcom.push: key ${JSON.stringify(key)} is not allowed`, { hint: "use a non-empty key other than 'return_value' (the task's output)" });
        }
        const json = toXcomJson(value, `xcom '${key}'`, payload.xcomMaxBytes);
        if (json !== undefined) hooks.pushXcom(key, json);
      },
    },
    ...taskSecrets(hooks.secrets, capture.masker),
  };

  try {
    const input = payload.inputOverride !== undefined ? JSON.parse(payload.inputOverride) : resolveInput(task.input, outputs);
    let value = await task.run(input, ctx);
    if (hooks.signal.aborted) throw new UpdraftError("UPDRAFT_E_TASK_TIMEOUT", `the try was stopped: ${String(hooks.signal.reason ?? "aborted")}`);
    if (task.kind === "branch") value = branchTargets(dag, task, value);
    const output = toXcomJson(value, "the task's output", payload.xcomMaxBytes);
    return { outcome: "success", ...(output === undefined ? {} : { output }), at: Date.now() };
  } catch (error) {
    const kind = controlKind(error);
    if (kind === "skip") {
      capture.log("info", [`skipped: ${errorMessage(error)}`]);
      return { outcome: "skipped", at: Date.now() };
    }
    // An output that is not acceptable JSON would be refused again on every try.
    const retryable = kind !== "non-retryable" && !(isUpdraftError(error) && OUTPUT_ERRORS.has(error.code));
    capture.log("error", [`${kind === "non-retryable" ? "failed without retry" : "failed"}: ${shownError(error)}`]);
    if (isUpdraftError(error) && error.hint) capture.log("error", [`hint: ${error.hint}`]);
    return { outcome: "failed", error: toTryError(error, retryable), at: Date.now() };
  }
}

/**
 * A branch returns task or group ids among its direct downstream tasks; the result is the
 * sorted list of direct downstream tasks to follow. As in Airflow, a direct downstream task that
 * is also downstream of a followed task is followed too (the "empty branch" join).
 */
function branchTargets(dag: DagDefinition, task: TaskDefinition, value: unknown): string[] {
  const direct = [...dag.tasks.values()].filter((t) => t.upstream.has(task.taskId)).map((t) => t.taskId);
  const chosen = value === null || value === undefined ? [] : Array.isArray(value) ? value : [value];
  const follow = new Set<string>();
  for (const id of chosen) {
    if (typeof id !== "string") throw branchError(task, `returned ${JSON.stringify(id)}, not a task id`, direct);
    if (direct.includes(id)) follow.add(id);
    else if (dag.groups.has(id)) {
      const inGroup = direct.filter((d) => d.startsWith(`${id}.`));
      if (inGroup.length === 0) throw branchError(task, `returned group '${id}', which has no task directly downstream of it`, direct);
      inGroup.forEach((d) => follow.add(d));
    } else throw branchError(task, `returned '${id}', which is not directly downstream of it`, direct);
  }
  const downstreamOfFollowed = descendants(dag, follow);
  for (const d of direct) if (downstreamOfFollowed.has(d)) follow.add(d);
  return [...follow].sort();
}

function descendants(dag: DagDefinition, from: Iterable<string>): Set<string> {
  const downstream = new Map<string, string[]>();
  for (const t of dag.tasks.values()) for (const up of t.upstream) downstream.set(up, [...(downstream.get(up) ?? []), t.taskId]);
  const seen = new Set<string>();
  const stack = [...from];
  while (stack.length > 0) {
    for (const next of downstream.get(stack.pop()!) ?? []) {
      if (!seen.has(next)) {
        seen.add(next);
        stack.push(next);
      }
    }
  }
  return seen;
}

function branchError(task: TaskDefinition, what: string, direct: string[]): UpdraftError {
  return new UpdraftError("UPDRAFT_E_BRANCH_INVALID", `branch '${task.taskId}' ${what}`, {
    hint: `return one or more of: ${direct.join(", ") || "(it has no downstream tasks)"}`,
  });
}
