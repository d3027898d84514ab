import type { CompiledTaskOptions } from "../sdk/definition.js";

/**
 * Delay before the next try after try `tryNumber` failed: fixed, or doubling per failed try
 * (retryDelay × 2^(tryNumber−1)), never above maxRetryDelay. Airflow adds a hash-based jitter to
 * exponential backoff; Updraft keeps the delay exact so it can be predicted and tested.
 */
export function retryDelayMs(options: Pick<CompiledTaskOptions, "retryDelayMs" | "retryBackoff" | "maxRetryDelayMs">, tryNumber: number): number {
  const base = options.retryDelayMs;
  const delay = options.retryBackoff === "exponential" ? base * 2 ** Math.max(0, tryNumber - 1) : base;
  return Math.min(delay, options.maxRetryDelayMs);
}
