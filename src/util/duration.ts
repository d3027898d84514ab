import { UpdraftError } from "../errors/index.js";

/**
 * A duration as DAG authors write it: "500ms", "30s", "5m", "1h", "1d", or a number of seconds.
 * @example
 *   task({ id: "slow", retryDelay: "30s", executionTimeout: "1h", run: work });
 *   dag({ id: "every_90s", schedule: { every: 90 } }, body);
 */
export type Duration = string | number;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_RE = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/;

/** Parses a duration into milliseconds; throws UPDRAFT_E_INVALID_DURATION with the accepted forms. */
export function parseDuration(value: Duration, what = "duration"): number {
  if (typeof value === "number") {
    if (Number.isFinite(value) && value >= 0) return Math.round(value * 1000);
  } else if (typeof value === "string") {
    const match = DURATION_RE.exec(value);
    if (match) return Math.round(Number(match[1]) * UNIT_MS[match[2]!]!);
    if (/^\s*\d+(\.\d+)?\s*$/.test(value)) return Math.round(Number(value) * 1000);
  }
  throw new UpdraftError("UPDRAFT_E_INVALID_DURATION", `${what} ${JSON.stringify(value)} is not a duration`, {
    hint: 'write "500ms", "30s", "5m", "1h", "1d" or a number of seconds (not negative)',
  });
}

/** "1h 30m", "250ms": the shortest readable form, for messages and listings. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, size] of [["d", 86_400], ["h", 3_600], ["m", 60], ["s", 1]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join(" ");
}

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, k: 1024, mb: 1024 ** 2, m: 1024 ** 2, gb: 1024 ** 3, g: 1024 ** 3 };

/** Parses "512MB", "1GB", "64kb" or a number of bytes. */
export function parseSize(value: string | number, what = "size"): number {
  if (typeof value === "number" && Number.isFinite(value) && value > 0) return Math.round(value);
  if (typeof value === "string") {
    const match = /^\s*(\d+(?:\.\d+)?)\s*(b|kb?|mb?|gb?|kib|mib|gib)?\s*$/i.exec(value);
    if (match) {
      const unit = (match[2] ?? "b").toLowerCase().replace("ib", "b");
      const bytes = Math.round(Number(match[1]) * SIZE_UNITS[unit]!);
      if (bytes > 0) return bytes;
    }
  }
  throw new UpdraftError("UPDRAFT_E_INVALID_SIZE", `${what} ${JSON.stringify(value)} is not a size`, {
    hint: 'write "512MB", "1GB", "64KB" or a number of bytes',
  });
}
