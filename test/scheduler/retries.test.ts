import { describe, expect, it } from "vitest";
import { retryDelayMs } from "../../src/execution/retry-rule.js";

const DAY = 86_400_000;

describe("retryDelayMs", () => {
  it("fixed: the same delay after every failed try", () => {
    const options = { retryDelayMs: 30_000, retryBackoff: "fixed" as const, maxRetryDelayMs: DAY };
    expect([1, 2, 3, 10].map((n) => retryDelayMs(options, n))).toEqual([30_000, 30_000, 30_000, 30_000]);
  });

  it("exponential: the delay doubles per failed try, starting at retryDelay after the first", () => {
    const options = { retryDelayMs: 1_000, retryBackoff: "exponential" as const, maxRetryDelayMs: DAY };
    expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(options, n))).toEqual([1_000, 2_000, 4_000, 8_000, 16_000]);
  });

  it("exponential: capped by maxRetryDelay", () => {
    const options = { retryDelayMs: 1_000, retryBackoff: "exponential" as const, maxRetryDelayMs: 5_000 };
    expect([1, 2, 3, 4, 5, 40].map((n) => retryDelayMs(options, n))).toEqual([1_000, 2_000, 4_000, 5_000, 5_000, 5_000]);
  });

  it("exponential: a very high try number stays at the cap (no overflow to Infinity or NaN)", () => {
    const options = { retryDelayMs: 300_000, retryBackoff: "exponential" as const, maxRetryDelayMs: DAY };
    expect(retryDelayMs(options, 2_000)).toBe(DAY);
  });

  it("fixed: maxRetryDelay does not cap it (Airflow applies max_retry_delay to exponential backoff only)", () => {
    const options = { retryDelayMs: 10_000, retryBackoff: "fixed" as const, maxRetryDelayMs: 4_000 };
    expect(retryDelayMs(options, 1)).toBe(10_000);
  });

  it("exponential: never less than 1 s, as in Airflow, even from a zero delay", () => {
    expect(retryDelayMs({ retryDelayMs: 0, retryBackoff: "exponential", maxRetryDelayMs: DAY }, 3)).toBe(1_000);
    expect([1, 2, 3].map((n) => retryDelayMs({ retryDelayMs: 200, retryBackoff: "exponential", maxRetryDelayMs: DAY }, n))).toEqual([1_000, 1_000, 1_000]);
    expect(retryDelayMs({ retryDelayMs: 200, retryBackoff: "exponential", maxRetryDelayMs: DAY }, 4)).toBe(1_600);
  });

  it("fixed: a zero delay retries at once", () => {
    expect(retryDelayMs({ retryDelayMs: 0, retryBackoff: "fixed", maxRetryDelayMs: DAY }, 3)).toBe(0);
  });

  it("exponential with a factor (Airflow's retry_exponential_backoff as a number)", () => {
    const options = { retryDelayMs: 10_000, retryBackoff: "exponential" as const, retryBackoffMultiplier: 1.5, maxRetryDelayMs: DAY };
    expect([1, 2, 3, 4].map((n) => retryDelayMs(options, n))).toEqual([10_000, 15_000, 22_500, 33_750]);
    expect(retryDelayMs({ ...options, retryBackoffMultiplier: 3, maxRetryDelayMs: 50_000 }, 3)).toBe(50_000);
  });
});
