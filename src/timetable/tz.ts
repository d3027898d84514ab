import { UpdraftError } from "../errors/index.js";

/*
 * Time-zone arithmetic on the built-in Intl API. Instants are epoch milliseconds (UTC). A "wall" time
 * is the local clock reading of a zone written as if it were UTC ("fake-UTC" milliseconds), so that
 * calendar and cron arithmetic on it needs no zone at all.
 *
 * DST policy for turning a wall time into an instant (wallToInstant, and so wallTimeToInstant,
 * parseDate and fixed-time cron schedules), see docs/SCHEDULING.md "Timetables":
 * - a wall time that occurs twice (fall back) means its second occurrence, the later instant, as
 *   in Airflow: its cron timetables end a daily 02:00 interval on the folded 02:00 (fold=1), and
 *   pendulum.datetime() reads an ambiguous time the same way;
 * - a wall time that does not exist (spring forward gap) means the first valid instant after it,
 *   which is the transition itself (02:30 in Europe/Berlin on 2026-03-29 → 03:00 CEST = 01:00Z).
 *
 * Intl exposes offsets, not transitions, so transitions are found by sampling the offset once a day
 * and bisecting to the second. That assumes a zone changes its offset at most once in any 24 hours,
 * which holds for every zone in the tz database since 1970 that we know of.
 */

export const SECOND = 1_000;
export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timezone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timezone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone: timezone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
      era: "short",
    });
    formatters.set(timezone, formatter);
  }
  return formatter;
}

/** Epoch ms of the given fields read as UTC; unlike Date.UTC, years 0–99 are not moved to 19xx. */
export function utcFromFields(year: number, month: number, day: number, hour = 0, minute = 0, second = 0, ms = 0): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, ms);
  return date.getTime();
}

const TIMEZONE_HINT =
  'use an IANA time-zone name such as "UTC", "Europe/Berlin", "America/New_York" or "Asia/Kolkata"';
const UTC_ALIASES = new Set(["utc", "etc/utc", "gmt", "etc/gmt", "etc/universal", "universal", "etc/zulu", "zulu", "uct", "etc/uct"]);
let knownZones: Map<string, string> | undefined;

/**
 * Returns the canonical spelling of an IANA time zone or throws UPDRAFT_E_INVALID_TIMEZONE.
 * UTC and its aliases become "UTC"; other names get the case Node knows them by ("europe/berlin" →
 * "Europe/Berlin"). Links are kept as written: "Asia/Kolkata" stays "Asia/Kolkata", although ICU
 * reports the older "Asia/Calcutta".
 */
export function validateTimezone(tz: string): string {
  if (typeof tz !== "string" || tz.trim() === "" || /^[+-]?\d/.test(tz.trim())) {
    throw new UpdraftError("UPDRAFT_E_INVALID_TIMEZONE", `${JSON.stringify(tz)} is not a time zone`, {
      hint: TIMEZONE_HINT,
    });
  }
  const name = tz.trim();
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat("en-US", { timeZone: name }).resolvedOptions().timeZone;
  } catch (cause) {
    throw new UpdraftError("UPDRAFT_E_INVALID_TIMEZONE", `unknown time zone ${JSON.stringify(tz)}`, {
      hint: TIMEZONE_HINT,
      cause,
    });
  }
  const lower = name.toLowerCase();
  if (UTC_ALIASES.has(lower)) return "UTC";
  if (resolved.toLowerCase() === lower) return resolved;
  knownZones ??= new Map(Intl.supportedValuesOf("timeZone").map((zone) => [zone.toLowerCase(), zone]));
  return knownZones.get(lower) ?? name;
}

interface WallFields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function wallFields(instant: number, timezone: string): WallFields {
  const fields: WallFields = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  let bc = false;
  for (const part of formatterFor(timezone).formatToParts(instant)) {
    if (part.type === "era") bc = part.value === "BC" || part.value === "B";
    else if (part.type in fields) fields[part.type as keyof WallFields] = Number(part.value);
  }
  if (bc) fields.year = 1 - fields.year;
  return fields;
}

/** The zone's UTC offset at an instant, in ms (local minus UTC), to the second. */
export function offsetAt(instant: number, timezone: string): number {
  if (timezone === "UTC") return 0;
  const second = Math.floor(instant / SECOND) * SECOND;
  const f = wallFields(second, timezone);
  return utcFromFields(f.year, f.month, f.day, f.hour, f.minute, f.second) - second;
}

/** The local clock reading at an instant, as fake-UTC ms. */
export function wallOf(instant: number, timezone: string): number {
  return instant + offsetAt(instant, timezone);
}

/** The first whole second in (low, high] whose offset differs from the offset at `low`. */
function findTransition(low: number, high: number, timezone: string): number {
  const before = offsetAt(low, timezone);
  let lo = Math.floor(low / SECOND);
  let hi = Math.ceil(high / SECOND);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (offsetAt(mid * SECOND, timezone) === before) lo = mid;
    else hi = mid;
  }
  return hi * SECOND;
}

/**
 * The instant of a wall time under the DST policy above: the later of two occurrences, or the
 * end of the gap for a time that does not exist. Monotonic in the wall time.
 */
export function wallToInstant(wall: number, timezone: string): number {
  if (timezone === "UTC") return wall;
  const before = offsetAt(wall - DAY, timezone);
  const after = offsetAt(wall + DAY, timezone);
  let best: number | null = null;
  for (const offset of before === after ? [before] : [before, after]) {
    const instant = wall - offset;
    if (offsetAt(instant, timezone) === offset && (best === null || instant > best)) best = instant;
  }
  if (best !== null) return best;
  if (after <= before) return wall - before; // not a gap after all (two transitions within a day)
  // In a gap: wall - after lies before the transition, wall - before at or after it.
  return findTransition(wall - after, wall - before, timezone);
}

/** Converts wall-clock fields in a zone to an instant under the DST policy (the later occurrence; the end of a gap). */
export function wallTimeToInstant(
  wall: { year: number; month: number; day: number; hour: number; minute: number; second?: number },
  timezone: string,
): number {
  const zone = validateTimezone(timezone);
  const { year, month, day, hour, minute } = wall;
  const second = wall.second ?? 0;
  const valid =
    [year, month, day, hour, minute].every(Number.isInteger) &&
    Number.isFinite(second) &&
    year >= 1 && year <= 9999 &&
    month >= 1 && month <= 12 &&
    day >= 1 && day <= daysInMonth(year, month) &&
    hour >= 0 && hour <= 23 &&
    minute >= 0 && minute <= 59 &&
    second >= 0 && second < 60;
  if (!valid) {
    throw new UpdraftError("UPDRAFT_E_INVALID_DATE", `${JSON.stringify(wall)} is not a valid wall-clock time`, {
      hint: "year 1–9999, month 1–12, a day that exists in that month, hour 0–23, minute 0–59, second 0–59",
    });
  }
  const whole = Math.floor(second);
  return wallToInstant(utcFromFields(year, month, day, hour, minute, whole, Math.round((second - whole) * 1000)), zone);
}

export function daysInMonth(year: number, month: number): number {
  return new Date(utcFromFields(year, month + 1, 0)).getUTCDate();
}

const pad = (value: number, width = 2): string => String(value).padStart(width, "0");

/** "YYYY-MM-DD" of an instant in a timezone (Airflow's ds). */
export function formatDs(instant: number, timezone: string): string {
  const d = new Date(wallOf(instant, validateTimezone(timezone)));
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** ISO 8601 with the zone's offset, e.g. "2026-03-01T03:00:00+01:00" (milliseconds only when not zero). */
export function formatInTimezone(instant: number, timezone: string): string {
  const zone = validateTimezone(timezone);
  const offset = offsetAt(instant, zone);
  const d = new Date(instant + offset);
  const ms = d.getUTCMilliseconds();
  const abs = Math.abs(offset) / SECOND;
  const offsetSeconds = abs % 60;
  const sign = offset < 0 ? "-" : "+";
  const offsetText = `${sign}${pad(Math.floor(abs / 3600))}:${pad(Math.floor(abs / 60) % 60)}${offsetSeconds ? `:${pad(offsetSeconds)}` : ""}`;
  return (
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}` +
    (ms ? `.${pad(ms, 3)}` : "") +
    offsetText
  );
}

// ---- offset pieces, for schedules that follow the real clock ----

const transitionCache = new Map<string, readonly number[]>();

function yearStart(year: number): number {
  return utcFromFields(year, 1, 1);
}

/** Transition instants T in (start of `year`, start of `year + 1`] (UTC years), ascending. */
function transitionsInYear(timezone: string, year: number): readonly number[] {
  const key = `${timezone}|${year}`;
  let found = transitionCache.get(key);
  if (!found) {
    const list: number[] = [];
    const end = yearStart(year + 1);
    let at = yearStart(year);
    let offset = offsetAt(at, timezone);
    while (at < end) {
      const next = Math.min(at + DAY, end);
      const nextOffset = offsetAt(next, timezone);
      if (nextOffset !== offset) list.push(findTransition(at, next, timezone));
      at = next;
      offset = nextOffset;
    }
    found = list;
    transitionCache.set(key, found);
  }
  return found;
}

/** A span of constant offset: [start, end). */
export interface OffsetPiece {
  start: number;
  end: number;
  offset: number;
}

/** The piece containing `instant`. Pieces are also cut at UTC year boundaries, to bound the search. */
export function offsetPieceAt(instant: number, timezone: string): OffsetPiece {
  const year = new Date(instant).getUTCFullYear();
  let start = yearStart(year);
  let end = yearStart(year + 1);
  if (timezone !== "UTC") {
    for (const t of transitionsInYear(timezone, year)) {
      if (t <= instant) start = t;
      else {
        end = t;
        break;
      }
    }
  }
  return { start, end, offset: offsetAt(instant, timezone) };
}
