import { describe, expect, it } from "vitest";
import { retryDelayMs } from "../../src/scheduler/retries.js";

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

  it("fixed: a delay above maxRetryDelay is capped too (documented in retries.ts)", () => {
    const options = { retryDelayMs: 10_000, retryBackoff: "fixed" as const, maxRetryDelayMs: 4_000 };
    expect(retryDelayMs(options, 1)).toBe(4_000);
  });

  it("a zero delay retries at once", () => {
    expect(retryDelayMs({ retryDelayMs: 0, retryBackoff: "exponential", maxRetryDelayMs: DAY }, 3)).toBe(0);
  });
});
