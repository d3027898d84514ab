/**
 * A bound on how deeply JSON inputs nest (a run's conf, request bodies, params, XComs). Deeper
 * values are refused with a clear error before anything recursive (validation, cloning,
 * serializing) can overflow the stack on them.
 */
import { UpdraftError } from "../errors/index.js";

export const MAX_JSON_DEPTH = 100;

/** The nesting depth of a parsed JSON value, counted without recursion; stops past `limit`. */
export function jsonDepth(value: unknown, limit = MAX_JSON_DEPTH): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (item === null || typeof item !== "object") continue;
    const level = depth + 1;
    if (level > deepest) deepest = level;
    if (deepest > limit) return deepest;
    for (const child of Array.isArray(item) ? item : Object.values(item)) if (child !== null && typeof child === "object") stack.push([child, level]);
  }
  return deepest;
}

/** Throws UPDRAFT_E_JSON_TOO_DEEP (400) when `value` nests deeper than MAX_JSON_DEPTH. */
export function checkJsonDepth(value: unknown, what: string): void {
  if (jsonDepth(value) > MAX_JSON_DEPTH) {
    throw new UpdraftError("UPDRAFT_E_JSON_TOO_DEEP", `${what} nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep`, {
      hint: `flatten it: Updraft accepts at most ${MAX_JSON_DEPTH} levels`,
    });
  }
}
