/** Outputs and pushed XComs are JSON: checked strictly, so nothing is silently changed on the way. */
import { UpdraftError } from "../errors/index.js";
import { MAX_JSON_DEPTH } from "../util/json-depth.js";

function kindOf(value: unknown): string {
  if (value instanceof Date) return "a Date";
  if (value instanceof Map) return "a Map";
  if (value instanceof Set) return "a Set";
  if (typeof value === "bigint") return "a bigint";
  if (typeof value === "function") return "a function";
  if (typeof value === "symbol") return "a symbol";
  if (typeof value === "number") return String(value);
  const name = (value as object)?.constructor?.name;
  return name ? `a ${name}` : "an object with a custom prototype";
}

const HINTS: Record<string, string> = {
  "a Date": "return date.toISOString() instead",
  "a Map": "return Object.fromEntries(map) instead",
  "a Set": "return [...set] instead",
  "a bigint": "return it as a string or a number",
};

function check(value: unknown, path: string, seen: Set<object>, depth = 0): void {
  if (value === null || typeof value === "string" || typeof value === "boolean" || value === undefined) return;
  if (depth >= MAX_JSON_DEPTH && typeof value === "object") {
    throw new UpdraftError("UPDRAFT_E_JSON_TOO_DEEP", `${path.slice(0, 200)}… nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep`, { hint: `flatten it: Updraft accepts at most ${MAX_JSON_DEPTH} levels` });
  }
  if (typeof value === "number") {
    if (Number.isFinite(value)) return;
  } else if (Array.isArray(value)) {
    if (seen.has(value)) throw notSerializable(path, "a circular reference", "break the cycle before returning");
    seen.add(value);
    value.forEach((item, i) => check(item, `${path}[${i}]`, seen, depth + 1));
    seen.delete(value);
    return;
  } else if (typeof value === "object") {
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) {
      if (seen.has(value)) throw notSerializable(path, "a circular reference", "break the cycle before returning");
      seen.add(value);
      for (const [key, item] of Object.entries(value)) check(item, /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`, seen, depth + 1);
      seen.delete(value);
      return;
    }
  }
  const kind = kindOf(value);
  throw notSerializable(path, kind, HINTS[kind] ?? "return plain JSON: objects, arrays, strings, finite numbers, booleans and null");
}

function notSerializable(path: string, kind: string, hint: string): UpdraftError {
  return new UpdraftError("UPDRAFT_E_XCOM_NOT_SERIALIZABLE", `${path} is ${kind}, which is not JSON`, { hint });
}

/** JSON text of `value`, or undefined for undefined; throws UPDRAFT_E_XCOM_* with the offending path. */
export function toXcomJson(value: unknown, what: string, maxBytes: number): string | undefined {
  if (value === undefined) return undefined;
  check(value, what, new Set());
  const text = JSON.stringify(value);
  const bytes = Buffer.byteLength(text);
  if (bytes > maxBytes) {
    throw new UpdraftError("UPDRAFT_E_XCOM_TOO_LARGE", `${what} is ${bytes} bytes of JSON, more than the limit of ${maxBytes}`, {
      hint: "store large data elsewhere (a file, a bucket, a table) and return a reference to it, or raise UPDRAFT_XCOM_MAX_SIZE",
    });
  }
  return text;
}
