/**
 * The JSON-Schema `format` of a param (date, date-time, time, email, uri, …), checked as the user
 * types. The definitions are ajv-formats' own (its "full" set, what `addFormats(ajv)` installs on
 * the server), so the form accepts exactly what the API will. They are used without Ajv itself:
 * Ajv compiles each schema with `new Function`, which the UI's Content-Security-Policy forbids
 * (no 'unsafe-eval'). This module loads with the trigger dialog, not with the app.
 */
import { fullFormats } from "ajv-formats/dist/formats.js";

type Check = RegExp | ((value: never) => boolean);
type Definition = Check | true | { type?: "string" | "number"; validate: Check | true };

/** What the field must look like, in words, for the formats a param is likely to use. */
const WORDS: Record<string, string> = {
  date: "a date as YYYY-MM-DD",
  "date-time": "a date and time with its offset, as 2026-01-31T09:30:00Z or 2026-01-31T10:30:00+01:00",
  time: "a time with its offset, as 09:30:00Z or 10:30:00+01:00",
  "iso-time": "a time as HH:MM:SS (an offset may follow)",
  "iso-date-time": "a date and time as 2026-01-31T09:30:00 (an offset may follow)",
  duration: "an ISO 8601 duration, as P1D or PT30M",
  email: "an email address",
  uri: "an absolute URI, as https://example.com/path",
  "uri-reference": "a URI or a relative reference",
  url: "a URL (http, https or ftp)",
  hostname: "a host name",
  ipv4: "an IPv4 address",
  ipv6: "an IPv6 address",
  uuid: "a UUID",
  regex: "a regular expression",
  int32: "a 32-bit integer",
  int64: "a 64-bit integer",
};

/** A placeholder for a text field of this format. */
export const FORMAT_PLACEHOLDERS: Record<string, string> = {
  date: "YYYY-MM-DD",
  "date-time": "2026-01-31T09:30:00Z",
  time: "09:30:00Z",
  email: "name@example.com",
  uri: "https://…",
  url: "https://…",
  uuid: "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
};

/** Null when `value` fits `format` (or the format is one nobody checks), else what is wrong. */
export function formatProblem(format: string | undefined, value: unknown): string | null {
  if (!format || !Object.hasOwn(fullFormats, format)) return null; // unknown formats are ignored, as by the server's Ajv
  const definition = (fullFormats as unknown as Record<string, Definition>)[format]!;
  if (definition === true) return null;
  const check = definition instanceof RegExp || typeof definition === "function" ? definition : definition.validate;
  const type = definition instanceof RegExp || typeof definition === "function" ? "string" : (definition.type ?? "string");
  if (check === true || typeof value !== type) return null; // a format applies to values of its type only
  let ok: boolean;
  if (check instanceof RegExp) {
    check.lastIndex = 0;
    ok = check.test(value as string);
  } else ok = (check as (v: unknown) => boolean)(value);
  return ok ? null : `must be ${WORDS[format] ?? `in the format "${format}"`}`;
}
