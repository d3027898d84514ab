/**
 * A try id names one try of one task instance: `<batch>.<task instance id>.<try number>`, the
 * batch a random hex prefix of the dispatch that queued it. Reports name their try by it, and the
 * store finds the task instance from it without another index.
 */
import { randomBytes } from "node:crypto";

const TRY_ID_RE = /^([0-9a-f]{1,32})\.([1-9][0-9]{0,15})\.([1-9][0-9]{0,5})$/;

export interface ParsedTryId {
  tiId: number;
  tryNumber: number;
}

/** A fresh prefix for the tries one dispatch queues. */
export function newTryBatch(): string {
  return randomBytes(6).toString("hex");
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
