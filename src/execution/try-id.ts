/**
 * A try id names one try of one task instance: `<batch>.<task instance id>.<try number>`, the
 * batch a random hex prefix of the dispatch that queued it. Reports name their try by it, and the
 * store finds the task instance from it without another index.
 */
import { randomUUID } from "node:crypto";

const TRY_ID_RE = /^([0-9a-f]{1,32})\.([1-9][0-9]{0,15})\.([1-9][0-9]{0,5})$/;

export interface ParsedTryId {
  tiId: number;
  tryNumber: number;
}

/**
 * A fresh prefix for the tries one dispatch queues: 48 random bits, from the first two groups of
 * a v4 UUID (Node draws those from a cached pool; randomBytes asks the system every time, 4–15 µs).
 */
export function newTryBatch(): string {
  const uuid = randomUUID();
  return uuid.slice(0, 8) + uuid.slice(9, 13);
}

export function makeTryId(batch: string, tiId: number, tryNumber: number): string {
  return `${batch}.${tiId}.${tryNumber}`;
}

/** The task instance and try number a try id names; null for text that is not a try id. */
export function parseTryId(tryId: unknown): ParsedTryId | null {
  if (typeof tryId !== "string") return null;
  const m = TRY_ID_RE.exec(tryId);
  if (!m) return null;
  const tiId = Number(m[2]);
  return Number.isSafeInteger(tiId) ? { tiId, tryNumber: Number(m[3]) } : null;
}
