import { Cron, CronPattern } from "croner";
import { UpdraftError } from "../errors/index.js";
import { manualDataInterval, nextDataInterval, type FireSeries } from "./data-intervals.js";
import { describeCron } from "./describe.js";
import { DAY, offsetAt, offsetPieceAt, utcFromFields, wallToInstant } from "./tz.js";
import type { Timetable } from "./types.js";

/** Airflow's cron_presets (airflow/utils/dates.py), plus the usual @annually and @midnight aliases. */
export const CRON_PRESETS: Readonly<Record<string, string>> = {
  "@hourly": "0 * * * *",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@weekly": "0 0 * * 0",
  "@monthly": "0 0 1 * *",
  "@quarterly": "0 0 1 */3 *",
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
};

export const SCHEDULE_HINT =
  'write a 5-field cron expression such as "0 3 * * *" (minute hour day-of-month month day-of-week), ' +
  "a preset (@once, @hourly, @daily, @weekly, @monthly, @quarterly, @yearly), " +
  '{ every: "15m" } for a fixed interval, or null to run only when triggered';

/** Enough for any walk through a fall-back hour minute by minute, and for years of DST pieces. */
const MAX_STEPS = 10_000;

function invalidCron(expression: string, why: string, cause?: unknown): UpdraftError {
  return new UpdraftError("UPDRAFT_E_INVALID_SCHEDULE", `invalid cron schedule ${JSON.stringify(expression)}: ${why}`, {
    hint: SCHEDULE_HINT,
    ...(cause === undefined ? {} : { cause }),
  });
}

export interface ParsedCron {
  /** Whitespace-normalized expression, presets expanded. */
  expression: string;
  /** True when the hour field covers all 24 hours (Airflow's _covers_every_hour). */
  coversEveryHour: boolean;
  /** Matches wall times, read as fake-UTC instants. */
  matcher: Cron;
}

export function parseCron(input: string): ParsedCron {
  const text = input.trim().replace(/\s+/g, " ");
  const expression = CRON_PRESETS[text.toLowerCase()] ?? text;
  if (expression.startsWith("@")) throw invalidCron(input, `unknown preset ${text}`);
  if (/^\d+(\.\d+)?\s*(ms|s|m|h|d)$/.test(expression)) {
    throw invalidCron(input, `a duration is not a cron expression; did you mean { every: ${JSON.stringify(expression)} }?`);
  }
  const fieldCount = expression.split(" ").length;
  if (fieldCount === 6 || fieldCount === 7) {
    // croner puts seconds first, croniter (Airflow) puts them last: refuse rather than guess.
    throw invalidCron(input, `${fieldCount} fields; Updraft reads 5-field cron only (for sub-minute schedules use { every: "30s" })`);
  }
  if (fieldCount !== 5) throw invalidCron(input, `${fieldCount} field${fieldCount === 1 ? "" : "s"}, expected 5`);
  let pattern: CronPattern;
  let matcher: Cron;
  try {
    pattern = new CronPattern(expression, undefined, { mode: "5-part" });
    // domAndDow false: a restricted day-of-month OR day-of-week matches, as in Vixie cron and croniter.
    matcher = new Cron(expression, { utcOffset: 0, mode: "5-part", domAndDow: false });
  } catch (cause) {
    const why = cause instanceof Error ? cause.message.replace(/^CronPattern:\s*/, "") : String(cause);
    throw invalidCron(input, why, cause);
  }
  if (matcher.nextRun(new Date(utcFromFields(2000, 1, 1))) === null) {
    throw invalidCron(input, "it never fires (no date matches)");
  }
  return { expression, coversEveryHour: pattern.hour.every((bit) => bit !== 0), matcher };
}

function wallNext(matcher: Cron, wall: number): number | null {
  return matcher.nextRun(new Date(wall))?.getTime() ?? null;
}

function wallPrev(matcher: Cron, wall: number): number | null {
  return matcher.previousRuns(1, new Date(wall))[0]?.getTime() ?? null;
}

// Two DST rules, chosen by the hour field like Airflow's CronMixin (airflow/timetables/_cron.py):
//
// Wall-clock rule (hour field restricted: "30 2 * * *", "0 9-17 * * 1-5", "0 */2 * * *"). A match is
// a wall time; it runs at wallToInstant(match): a repeated time once, at its second occurrence
// (Airflow's fold=1); a time in a spring-forward gap at the end of the gap. Several matches in one
// gap share one run. wallToInstant is monotonic in the wall time, which the two loops below rely on.
//
// Real-clock rule (hour field covers every hour: "0 * * * *", "*/15 * * * *"). The schedule fires
// at every instant whose local clock reading matches: a gap's times are skipped (the hour after it
// runs as usual), a repeated hour runs twice. So every real hour gets its runs, as in Airflow, whose
// _get_next adds the naive wall-clock delta to the previous run in absolute time for these crons.

function wallClockSeries(matcher: Cron, timezone: string): FireSeries {
  return {
    next(t) {
      // A match that resolves after t reads more than t + (the smaller offset around t) on the
      // wall: a repeated time read in the first pass of its hour still runs in the second.
      const lower = t + Math.min(offsetAt(t, timezone), offsetAt(t - DAY, timezone), offsetAt(t + DAY, timezone));
      let match = wallNext(matcher, lower - 1);
      for (let i = 0; match !== null && i < MAX_STEPS; i++) {
        const instant = wallToInstant(match, timezone);
        if (instant > t) return instant;
        match = wallNext(matcher, match);
      }
      return null;
    },
    prev(t) {
      // A match that resolves before t reads at most t + (the larger offset around t) on the wall.
      const upper = t + Math.max(offsetAt(t, timezone), offsetAt(t - DAY, timezone));
      let match = wallPrev(matcher, upper + 1);
      for (let i = 0; match !== null && i < MAX_STEPS; i++) {
        const instant = wallToInstant(match, timezone);
        if (instant < t) return instant;
        match = wallPrev(matcher, match);
      }
      return null;
    },
  };
}

function realClockSeries(matcher: Cron, timezone: string): FireSeries {
  return {
    next(t) {
      let from = t + 1;
      for (let i = 0; i < MAX_STEPS; i++) {
        const piece = offsetPieceAt(from, timezone);
        const match = wallNext(matcher, from + piece.offset - 1);
        if (match === null) return null;
        if (match - piece.offset < piece.end) return match - piece.offset;
        from = piece.end;
      }
      return null;
    },
    prev(t) {
      let upTo = t - 1;
      for (let i = 0; i < MAX_STEPS; i++) {
        const piece = offsetPieceAt(upTo, timezone);
        const match = wallPrev(matcher, upTo + piece.offset + 1);
        if (match === null) return null;
        if (match - piece.offset >= piece.start) return match - piece.offset;
        upTo = piece.start - 1;
      }
      return null;
    },
  };
}

export function cronSeries(parsed: ParsedCron, timezone: string): FireSeries {
  return parsed.coversEveryHour && timezone !== "UTC"
    ? realClockSeries(parsed.matcher, timezone)
    : wallClockSeries(parsed.matcher, timezone);
}

export function createCronTimetable(expression: string, timezone: string): Timetable {
  const parsed = parseCron(expression);
  const series = cronSeries(parsed, timezone);
  return Object.freeze({
    kind: "cron" as const,
    normalized: parsed.expression,
    timezone,
    nextRun: (last, bounds, now) => nextDataInterval(series, last, bounds, now),
    manualInterval: (logicalDate) => manualDataInterval(series, logicalDate),
    describe: () => describeCron(parsed.expression, timezone),
  } satisfies Timetable);
}
