/** Friendly options → compiled options, once, where the author's line is still on the stack. */
import { UpdraftError } from "../errors/index.js";
import { parseDuration } from "../util/duration.js";
import type { CompiledTaskOptions } from "./definition.js";
import type { TaskOptions, TriggerRule, WeightRule } from "./types.js";

export const TRIGGER_RULES: readonly TriggerRule[] = [
  "all_success", "all_failed", "all_done", "all_done_min_one_success", "all_skipped", "one_success",
  "one_failed", "one_done", "none_failed", "none_failed_min_one_success", "none_skipped", "always",
];
const WEIGHT_RULES: readonly WeightRule[] = ["downstream", "upstream", "absolute"];
const TASK_OPTION_KEYS = new Set<keyof TaskOptions>([
  "retries", "retryDelay", "retryBackoff", "maxRetryDelay", "executionTimeout", "triggerRule", "pool",
  "poolSlots", "priorityWeight", "weightRule", "queue", "owner", "doc",
]);

function invalid(where: string, key: string, value: unknown, expected: string): never {
  throw new UpdraftError("UPDRAFT_E_DAG_DEFINITION", `${where}: ${key} ${JSON.stringify(value)} is not valid`, {
    hint: `${key} must be ${expected}`,
  });
}

function int(where: string, key: string, value: unknown, min: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) invalid(where, key, value, `an integer ≥ ${min}`);
  return value;
}

/** A queue's name is a broker queue's name too: letters, digits, '_', '.' and '-' (no ':'). */
function queueName(where: string, value: unknown): string {
  if (typeof value !== "string" || !/^[A-Za-z0-9_.-]{1,100}$/.test(value)) invalid(where, "queue", value, "1–100 letters, digits, '_', '.' or '-'");
  return value;
}

function name(where: string, key: string, value: unknown): string {
  if (typeof value !== "string" || value.length === 0 || value.length > 250) invalid(where, key, value, "a non-empty string of at most 250 characters");
  return value;
}

/** Picks the task options out of an object that may hold other keys (id, run, command, …). */
export function pickTaskOptions(source: object): TaskOptions {
  const picked: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(source)) {
    if (TASK_OPTION_KEYS.has(key as keyof TaskOptions) && value !== undefined) picked[key] = value;
  }
  return picked as TaskOptions;
}

/** Rejects keys that are neither task options nor `allowed`, so a typo does not pass silently. */
export function rejectUnknownKeys(where: string, source: object, allowed: readonly string[]): void {
  for (const key of Object.keys(source)) {
    if (!TASK_OPTION_KEYS.has(key as keyof TaskOptions) && !allowed.includes(key)) {
      throw new UpdraftError("UPDRAFT_E_DAG_DEFINITION", `${where}: unknown option '${key}'`, {
        hint: `known options: ${[...allowed, ...TASK_OPTION_KEYS].join(", ")}`,
      });
    }
  }
}

export function compileTaskOptions(where: string, layers: TaskOptions[], dagOwner: string): CompiledTaskOptions {
  const o: TaskOptions = Object.assign({}, ...layers.map(pickTaskOptions));
  const triggerRule = o.triggerRule ?? "all_success";
  if (!TRIGGER_RULES.includes(triggerRule)) invalid(where, "triggerRule", triggerRule, `one of ${TRIGGER_RULES.join(", ")}`);
  const weightRule = o.weightRule ?? "downstream";
  if (!WEIGHT_RULES.includes(weightRule)) invalid(where, "weightRule", weightRule, `one of ${WEIGHT_RULES.join(", ")}`);
  const backoff = o.retryBackoff ?? "fixed";
  const validFactor = typeof backoff === "number" && Number.isFinite(backoff) && backoff > 0 && backoff <= 100;
  if (backoff !== "fixed" && backoff !== "exponential" && !validFactor) invalid(where, "retryBackoff", backoff, '"fixed", "exponential" or a factor above 0 (at most 100)');
  // A factor of 1 is a fixed delay, as in Airflow.
  const retryBackoffMultiplier = backoff === "exponential" ? 2 : typeof backoff === "number" ? backoff : 1;
  const retryBackoff = retryBackoffMultiplier === 1 ? "fixed" : "exponential";
  const priorityWeight = o.priorityWeight ?? 1;
  if (typeof priorityWeight !== "number" || !Number.isInteger(priorityWeight)) invalid(where, "priorityWeight", priorityWeight, "an integer");
  const executionTimeoutMs =
    o.executionTimeout === undefined || o.executionTimeout === null ? null : parseDuration(o.executionTimeout, `${where}: executionTimeout`);
  if (executionTimeoutMs !== null && executionTimeoutMs <= 0) invalid(where, "executionTimeout", o.executionTimeout, "a positive duration");
  return {
    retries: int(where, "retries", o.retries ?? 0, 0),
    retryDelayMs: parseDuration(o.retryDelay ?? "5m", `${where}: retryDelay`),
    retryBackoff,
    ...(retryBackoff === "exponential" ? { retryBackoffMultiplier } : {}),
    maxRetryDelayMs: parseDuration(o.maxRetryDelay ?? "1d", `${where}: maxRetryDelay`),
    executionTimeoutMs,
    triggerRule,
    pool: name(where, "pool", o.pool ?? "default_pool"),
    poolSlots: int(where, "poolSlots", o.poolSlots ?? 1, 1),
    priorityWeight,
    weightRule,
    queue: queueName(where, o.queue ?? "default"),
    owner: o.owner === undefined ? dagOwner : name(where, "owner", o.owner),
    doc: o.doc === undefined ? null : String(o.doc),
  };
}
