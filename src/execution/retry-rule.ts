import type { CompiledTaskOptions } from "../sdk/definition.js";

/** Airflow never waits less than this between tries with exponential backoff. */
const MIN_BACKOFF_MS = 1_000;

/**
 * Delay before the next try after try `tryNumber` failed, as Airflow computes it:
 * - fixed: `retryDelay`, whatever `maxRetryDelay` says (Airflow caps only exponential backoff);
 * - exponential: retryDelay × factor^(tryNumber−1) (factor 2 unless given), at least 1 s and at
 *   most `maxRetryDelay`.
 * Airflow adds a hash-based jitter to exponential backoff (up to twice the delay) and rounds it
 * up to whole seconds; Updraft keeps the delay exact so it can be predicted and tested.
 */
export function retryDelayMs(options: Pick<CompiledTaskOptions, "retryDelayMs" | "retryBackoff" | "retryBackoffMultiplier" | "maxRetryDelayMs">, tryNumber: number): number {
  if (options.retryBackoff !== "exponential") return options.retryDelayMs;
  const factor = options.retryBackoffMultiplier ?? 2;
  const delay = options.retryDelayMs * factor ** Math.max(0, tryNumber - 1);
  return Math.min(Math.max(MIN_BACKOFF_MS, Number.isFinite(delay) ? delay : Number.MAX_SAFE_INTEGER), options.maxRetryDelayMs);
}

export interface EndDecision {
  state: "success" | "failed" | "skipped" | "up_for_retry";
  nextRetryAt: number | null;
}

/**
 * The one rule for what a try's end means for its task instance: a retryable failure with tries
 * left waits for its next try, anything else is final. `options` are the task's options in the
 * DAG version of its run; without them (a version that lost the task) no retry is planned.
 */
export function decideEnd(
  outcome: "success" | "failed" | "skipped",
  retryable: boolean,
  tryNumber: number,
  maxTries: number,
  options: Parameters<typeof retryDelayMs>[0] | undefined,
  at: number,
): EndDecision {
  if (outcome === "failed" && retryable && tryNumber < maxTries && options !== undefined) {
    return { state: "up_for_retry", nextRetryAt: at + retryDelayMs(options, tryNumber) };
  }
  return { state: outcome, nextRetryAt: null };
}
