/**
 * Time-zone arithmetic for the UI, with Intl only: the offset of a zone at an instant comes from
 * Intl.DateTimeFormat, cached per zone and minute, so a log of many thousand lines formats fast.
 * No DOM here (test/ui/zones.test.ts runs it in Node).
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric" });
    formatters.set(zone, f);
  }
  return f;
}

export function isZone(zone: string): boolean {
  try {
    formatter(zone);
    return true;
  } catch {
    return false;
  }
}

const offsets = new Map<string, Map<number, number>>();

/** How far the zone's wall clock is ahead of UTC at `ms` (negative west of Greenwich). */
export function offsetMs(ms: number, zone: string): number {
  if (zone === "UTC") return 0;
  let byMinute = offsets.get(zone);
  if (!byMinute) offsets.set(zone, (byMinute = new Map()));
  const minute = Math.floor(ms / 60_000);
  const known = byMinute.get(minute);
  if (known !== undefined) return known;
  const parts: Record<string, number> = {};
  for (const p of formatter(zone).formatToParts(minute * 60_000)) if (p.type !== "literal") parts[p.type] = Number(p.value);
  // Some engines say 24 for midnight even with h23.
  const wall = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour! % 24, parts.minute!, parts.second!);
  const offset = wall - minute * 60_000;
  if (byMinute.size > 20_000) byMinute.clear();
  byMinute.set(minute, offset);
  return offset;
}

/** "UTC", "UTC+1", "UTC-5", "UTC+5:30": the zone's offset at an instant. */
export function offsetLabel(ms: number, zone: string): string {
  const offset = offsetMs(ms, zone);
  if (offset === 0) return "UTC";
  const minutes = Math.abs(offset) / 60_000;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return `UTC${offset < 0 ? "-" : "+"}${h}${m ? `:${String(m).padStart(2, "0")}` : ""}`;
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

export interface FormatOptions {
  /** Leave out the date (a clock time only). */
  date?: boolean;
  /** Add milliseconds. */
  ms?: boolean;
  /** Add the zone (default true). */
  zone?: boolean;
}

/** "2026-01-01 00:00:00 UTC+1" in `zone`; "—" for no time. */
export function formatTime(value: string | number | null | undefined, zone: string, options: FormatOptions = {}): string {
  if (value === null || value === undefined || value === "") return "—";
  const ms = typeof value === "number" ? value : Date.parse(value);
  if (Number.isNaN(ms)) return String(value);
  const d = new Date(ms + offsetMs(ms, zone));
  const day = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const clock = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${options.ms ? `.${pad(d.getUTCMilliseconds(), 3)}` : ""}`;
  const text = options.date === false ? clock : `${day} ${clock}`;
  return options.zone === false ? text : `${text} ${offsetLabel(ms, zone)}`;
}

/** A wall-clock time in `zone` (an <input type="datetime-local"> value) as epoch ms, or null. */
export function wallToMs(local: string, zone: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(local);
  if (!m) return null;
  const asUtc = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0));
  // Twice: the offset at the guess can differ from the offset at the answer near a DST change.
  const first = asUtc - offsetMs(asUtc, zone);
  return asUtc - offsetMs(first, zone);
}

/** A wall-clock input's value as an ISO instant, or undefined when empty or not a time. */
export function wallToIso(local: string, zone: string, endOfMinute = false): string | undefined {
  const ms = wallToMs(local, zone);
  return ms === null ? undefined : new Date(ms + (endOfMinute ? 59_999 : 0)).toISOString();
}
