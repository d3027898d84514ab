import { describe, expect, it } from "vitest";
import { UpdraftError } from "../../src/errors/index.js";
import { createTimetable, restoreTimetable, type ScheduleSpec } from "../../src/timetable/index.js";

function thrown(fn: () => unknown): UpdraftError {
  try {
    fn();
  } catch (error) {
    if (error instanceof UpdraftError) return error;
    throw new Error(`expected an UpdraftError, got ${String(error)}`);
  }
  throw new Error("expected an error, nothing was thrown");
}

describe("createTimetable: kinds and normalized forms", () => {
  it.each<[ScheduleSpec, string, unknown]>([
    ["0 3 * * *", "cron", "0 3 * * *"],
    ["  0   3 * *  * ", "cron", "0 3 * * *"],
    ["@hourly", "cron", "0 * * * *"],
    ["@daily", "cron", "0 0 * * *"],
    ["@midnight", "cron", "0 0 * * *"],
    ["@weekly", "cron", "0 0 * * 0"],
    ["@monthly", "cron", "0 0 1 * *"],
    ["@quarterly", "cron", "0 0 1 */3 *"],
    ["@yearly", "cron", "0 0 1 1 *"],
    ["@annually", "cron", "0 0 1 1 *"],
    ["@DAILY", "cron", "0 0 * * *"],
    ["0 9 * * MON-FRI", "cron", "0 9 * * MON-FRI"],
    ["@once", "once", "@once"],
    [{ every: "15m" }, "interval", { every: 900_000 }],
    [{ every: 90 }, "interval", { every: 90_000 }],
    [{ every: "1s" }, "interval", { every: 1_000 }],
    [null, "none", null],
  ])("%j → %s %j", (schedule, kind, normalized) => {
    const timetable = createTimetable(schedule);
    expect(timetable.kind).toBe(kind);
    expect(timetable.normalized).toEqual(normalized);
    expect(timetable.timezone).toBe("UTC");
  });

  it("keeps the canonical time zone", () => {
    expect(createTimetable("@daily", "europe/berlin").timezone).toBe("Europe/Berlin");
  });

  it("restoreTimetable reads the stored { every } as milliseconds", () => {
    const stored = createTimetable({ every: "15m" }).normalized;
    const restored = restoreTimetable(stored, "UTC");
    expect(restored.normalized).toEqual({ every: 900_000 });
    expect(restored.describe()).toBe("every 15 minutes");
    expect(restoreTimetable("0 0 * * *").normalized).toBe("0 0 * * *");
    expect(restoreTimetable(null).kind).toBe("none");
  });
});

describe("createTimetable: invalid schedules", () => {
  it.each<[unknown, RegExp]>([
    ["not a cron", /not a cron/],
    ["61 * * * *", /minute/],
    ["0 24 * * *", /hour/],
    ["0 3 * *", /4 fields, expected 5/],
    ["0 3 * * * *", /6 fields; Updraft reads 5-field cron only/],
    ["@fortnightly", /unknown preset/],
    ["15m", /did you mean \{ every: "15m" \}/],
    ["0 0 30 2 *", /never fires/],
    ["@continuous", /not supported/],
    [{ every: "soon" }, /not a duration/],
    [{ every: "500ms" }, /at least 1 second/],
    [{ every: 0 }, /at least 1 second/],
    [{ every: "15m", at: "03:00" }, /not a cron expression, preset/],
    [{ every: true }, /every must be a duration/],
    [42, /not a cron expression, preset/],
    [["0 3 * * *"], /not a cron expression, preset/],
    [undefined, /not a cron expression, preset/],
  ])("%j", (schedule, message) => {
    const error = thrown(() => createTimetable(schedule as ScheduleSpec));
    expect(error.code).toBe("UPDRAFT_E_INVALID_SCHEDULE");
    expect(error.message).toMatch(message);
    expect(error.hint).toMatch(/5-field cron expression.*@daily.*every: "15m".*null/);
  });

  it("names the bad expression in the message", () => {
    expect(thrown(() => createTimetable("0 3 * * 8")).message).toContain('"0 3 * * 8"');
  });

  it("rejects an unknown time zone with UPDRAFT_E_INVALID_TIMEZONE", () => {
    const error = thrown(() => createTimetable("0 3 * * *", "Europe/Atlantis"));
    expect(error.code).toBe("UPDRAFT_E_INVALID_TIMEZONE");
    expect(error.hint).toContain("Europe/Berlin");
  });

  it("rejects a stored { every } that is not a number of milliseconds", () => {
    expect(thrown(() => restoreTimetable({ every: "15m" } as unknown as { every: number })).code).toBe("UPDRAFT_E_INVALID_SCHEDULE");
  });
});

describe("describe()", () => {
  it.each<[ScheduleSpec, string, string]>([
    ["0 3 * * *", "Europe/Berlin", "every day at 03:00 (Europe/Berlin)"],
    ["*/15 * * * *", "Europe/Berlin", "every 15 minutes"],
    ["* * * * *", "UTC", "every minute"],
    ["30 2 * * 1", "UTC", "at 02:30 on Monday (UTC)"],
    ["0 9 * * 1-5", "America/New_York", "at 09:00 on Monday through Friday (America/New_York)"],
    ["0 9 * * 1,3,5", "UTC", "at 09:00 on Monday, Wednesday and Friday (UTC)"],
    ["0 0 * * 7", "UTC", "at 00:00 on Sunday (UTC)"],
    ["0 3,15 * * *", "UTC", "every day at 03:00 and 15:00 (UTC)"],
    ["0,30 8 * * *", "UTC", "every day at 08:00 and 08:30 (UTC)"],
    ["30 * * * *", "UTC", "every hour at minute 30"],
    ["0,30 * * * *", "UTC", "every hour at minutes 0 and 30"],
    ["0 */2 * * *", "UTC", "every 2 hours (UTC)"],
    ["15 */6 * * *", "UTC", "every 6 hours at minute 15 (UTC)"],
    ["0 9-17 * * *", "UTC", "every hour from 09:00 to 17:00 (UTC)"],
    ["*/15 9-17 * * 1-5", "UTC", "every 15 minutes from 09:00 to 17:45 on Monday through Friday (UTC)"],
    ["0 * * * 1", "UTC", "every hour on Monday (UTC)"],
    ["0 6 1,15 * *", "UTC", "at 06:00 on days 1 and 15 of every month (UTC)"],
    ["@hourly", "UTC", "every hour"],
    ["@daily", "UTC", "every day at 00:00 (UTC)"],
    ["@weekly", "UTC", "at 00:00 on Sunday (UTC)"],
    ["@monthly", "UTC", "at 00:00 on day 1 of every month (UTC)"],
    ["@yearly", "Asia/Kolkata", "at 00:00 on January 1 (Asia/Kolkata)"],
    ["@quarterly", "UTC", 'cron "0 0 1 */3 *" (UTC)'],
    ["0 9 * * MON-FRI", "UTC", 'cron "0 9 * * MON-FRI" (UTC)'],
    ["0 0 L * *", "UTC", 'cron "0 0 L * *" (UTC)'],
    [{ every: "15m" }, "UTC", "every 15 minutes"],
    [{ every: "1h" }, "UTC", "every hour"],
    [{ every: "90s" }, "UTC", "every 90 seconds"],
    [{ every: "2d" }, "UTC", "every 2 days"],
    [{ every: "1500ms" }, "UTC", "every 1500 milliseconds"],
    ["@once", "UTC", "once"],
    [null, "UTC", "manually only"],
  ])("%j in %s: %s", (schedule, zone, expected) => {
    expect(createTimetable(schedule, zone).describe()).toBe(expected);
  });
});
