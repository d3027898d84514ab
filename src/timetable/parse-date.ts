import { UpdraftError } from "../errors/index.js";
import { daysInMonth, utcFromFields, validateTimezone, wallToInstant } from "./tz.js";

const DATE_HINT =
  'write "2026-01-01", "2026-01-01T03:00" or "2026-01-01 03:00:00" (wall time in the DAG\'s time zone), ' +
  'or with an offset: "2026-01-01T03:00:00Z", "2026-01-01T03:00:00+01:00"; a Date or epoch milliseconds also work';

const DATE_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

function invalid(value: unknown, why: string): UpdraftError {
  const shown = value instanceof Date ? "Invalid Date" : JSON.stringify(value);
  return new UpdraftError("UPDRAFT_E_INVALID_DATE", `${shown} is not a date: ${why}`, { hint: DATE_HINT });
}

/**
 * Parses an author- or user-given date into epoch ms. A string without an offset is a wall time in
 * `timezone` (default "UTC"), resolved under the DST policy: a repeated time means its second
 * occurrence, a time in a spring-forward gap means the end of the gap.
 */
export function parseDate(value: string | number | Date, timezone = "UTC"): number {
  if (typeof value === "number") {
    if (Number.isFinite(value)) return Math.round(value);
    throw invalid(value, "not a finite number of milliseconds");
  }
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isFinite(ms)) return ms;
    throw invalid(value, "an invalid Date");
  }
  if (typeof value !== "string") throw invalid(value, `a ${typeof value}`);
  const match = DATE_RE.exec(value.trim());
  if (!match) throw invalid(value, "not in a form Updraft reads");
  const [, y, mo, d, h = "0", mi = "0", s = "0", fraction = "", offset] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12) throw invalid(value, `month ${month} does not exist`);
  if (year < 1 || day < 1 || day > daysInMonth(year, month)) throw invalid(value, `${y}-${mo} has no day ${day}`);
  if (hour > 23 || minute > 59 || second > 59) throw invalid(value, "the time of day is out of range");
  const ms = Math.round(Number(`0.${fraction || "0"}`) * 1000);
  const wall = utcFromFields(year, month, day, hour, minute, second, 0) + ms;
  if (offset !== undefined) return wall - parseOffset(offset, value);
  return wallToInstant(wall, validateTimezone(timezone));
}

function parseOffset(text: string, value: string): number {
  if (text.toUpperCase() === "Z") return 0;
  const digits = text.slice(1).replace(":", "");
  const hours = Number(digits.slice(0, 2));
  const minutes = digits.length > 2 ? Number(digits.slice(2)) : 0;
  if (hours > 23 || minutes > 59) throw invalid(value, `offset ${text} is out of range`);
  return (text.startsWith("-") ? -1 : 1) * (hours * 60 + minutes) * 60_000;
}
