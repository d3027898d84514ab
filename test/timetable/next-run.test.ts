import { describe, expect, it } from "vitest";
import { createTimetable, formatDs, parseDate, type ScheduleBounds } from "../../src/timetable/index.js";

const Z = (iso: string): number => Date.parse(iso);
const span = (start: string, end: string) => ({ start: Z(start), end: Z(end) });
const bounds = (over: Partial<ScheduleBounds> = {}): ScheduleBounds => ({
  startDate: null,
  endDate: null,
  catchup: true,
  ...over,
});

describe("cron nextRun (daily 03:00 UTC)", () => {
  const daily = createTimetable("0 3 * * *");
  const start = Z("2026-03-01T03:00:00Z");

  it("Airflow's example: the run for 2026-03-01 03:00 is created at 2026-03-02 03:00, ds 2026-03-01", () => {
    const info = daily.nextRun(null, bounds({ startDate: start }), Z("2026-03-02T03:00:00Z"));
    expect(info).toEqual({ interval: span("2026-03-01T03:00:00Z", "2026-03-02T03:00:00Z"), runAfter: Z("2026-03-02T03:00:00Z") });
    expect(formatDs(info!.interval.start, "UTC")).toBe("2026-03-01");
  });

  it("catchup true: the next interval follows the last one, however late it is", () => {
    const last = span("2026-03-01T03:00:00Z", "2026-03-02T03:00:00Z");
    const info = daily.nextRun(last, bounds({ startDate: start }), Z("2026-03-10T05:00:00Z"));
    expect(info?.interval).toEqual(span("2026-03-02T03:00:00Z", "2026-03-03T03:00:00Z"));
  });

  it("catchup false: skips to the most recent complete interval", () => {
    const last = span("2026-03-01T03:00:00Z", "2026-03-02T03:00:00Z");
    const info = daily.nextRun(last, bounds({ startDate: start, catchup: false }), Z("2026-03-10T05:00:00Z"));
    expect(info?.interval).toEqual(span("2026-03-09T03:00:00Z", "2026-03-10T03:00:00Z"));
  });

  it("catchup false: an interval ending exactly now is complete", () => {
    const info = daily.nextRun(null, bounds({ startDate: start, catchup: false }), Z("2026-03-10T03:00:00Z"));
    expect(info?.interval).toEqual(span("2026-03-09T03:00:00Z", "2026-03-10T03:00:00Z"));
  });

  it("catchup false: one millisecond earlier, the interval before is the latest complete one", () => {
    const info = daily.nextRun(null, bounds({ startDate: start, catchup: false }), Z("2026-03-10T02:59:59.999Z"));
    expect(info?.interval).toEqual(span("2026-03-08T03:00:00Z", "2026-03-09T03:00:00Z"));
  });

  it("catchup false: never goes back before the last interval's end; runAfter may be in the future", () => {
    const last = span("2026-03-09T03:00:00Z", "2026-03-10T03:00:00Z");
    const now = Z("2026-03-10T05:00:00Z");
    const info = daily.nextRun(last, bounds({ startDate: start, catchup: false }), now);
    expect(info?.interval).toEqual(span("2026-03-10T03:00:00Z", "2026-03-11T03:00:00Z"));
    expect(info!.runAfter).toBeGreaterThan(now);
  });

  it("a start date between fire times starts at the next fire time", () => {
    const info = daily.nextRun(null, bounds({ startDate: Z("2026-03-01T10:00:00Z") }), Z("2026-03-10T00:00:00Z"));
    expect(info?.interval).toEqual(span("2026-03-02T03:00:00Z", "2026-03-03T03:00:00Z"));
  });

  it("a start date in the future: the first interval starts there and the run waits", () => {
    const info = daily.nextRun(null, bounds({ startDate: Z("2026-04-01T00:00:00Z"), catchup: false }), Z("2026-03-10T00:00:00Z"));
    expect(info).toEqual({ interval: span("2026-04-01T03:00:00Z", "2026-04-02T03:00:00Z"), runAfter: Z("2026-04-02T03:00:00Z") });
  });

  it("a start date moved later than the last run is respected with catchup true", () => {
    const last = span("2026-03-01T03:00:00Z", "2026-03-02T03:00:00Z");
    const info = daily.nextRun(last, bounds({ startDate: Z("2026-03-05T00:00:00Z") }), Z("2026-03-10T00:00:00Z"));
    expect(info?.interval).toEqual(span("2026-03-05T03:00:00Z", "2026-03-06T03:00:00Z"));
  });

  it("end date bounds the logical date: an interval starting at the end date still runs", () => {
    const last = span("2026-03-04T03:00:00Z", "2026-03-05T03:00:00Z");
    const now = Z("2026-03-10T00:00:00Z");
    expect(daily.nextRun(last, bounds({ startDate: start, endDate: Z("2026-03-05T03:00:00Z") }), now)?.interval).toEqual(
      span("2026-03-05T03:00:00Z", "2026-03-06T03:00:00Z"),
    );
    expect(daily.nextRun(last, bounds({ startDate: start, endDate: Z("2026-03-05T02:59:59Z") }), now)).toBeNull();
  });

  it("end date in the past with catchup false: no more runs", () => {
    const info = daily.nextRun(null, bounds({ startDate: start, endDate: Z("2026-03-03T00:00:00Z"), catchup: false }), Z("2026-03-10T05:00:00Z"));
    expect(info).toBeNull();
  });

  it("without a start date (even with catchup true) the first run is the latest complete interval", () => {
    const now = Z("2026-03-10T05:00:00Z");
    expect(daily.nextRun(null, bounds(), now)?.interval).toEqual(span("2026-03-09T03:00:00Z", "2026-03-10T03:00:00Z"));
    expect(daily.nextRun(null, bounds({ catchup: false }), now)?.interval).toEqual(span("2026-03-09T03:00:00Z", "2026-03-10T03:00:00Z"));
  });

  it("after a schedule change the next interval aligns back to keep the data contiguous", () => {
    // The last run came from "0 0 * * *".
    const last = span("2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z");
    expect(daily.nextRun(last, bounds(), Z("2026-03-10T00:00:00Z"))?.interval).toEqual(
      span("2026-03-01T03:00:00Z", "2026-03-02T03:00:00Z"),
    );
  });

  it("after a schedule change the next interval never repeats the last logical date", () => {
    // The last run came from "0 * * * *"; aligning 01:00 back to midnight would repeat 2026-03-02 00:00.
    const midnight = createTimetable("0 0 * * *");
    const last = span("2026-03-02T00:00:00Z", "2026-03-02T01:00:00Z");
    expect(midnight.nextRun(last, bounds(), Z("2026-03-10T00:00:00Z"))?.interval).toEqual(
      span("2026-03-03T00:00:00Z", "2026-03-04T00:00:00Z"),
    );
  });

  it("a daily schedule in Europe/Berlin: intervals of 23 hours over the spring-forward night", () => {
    const berlin = createTimetable("0 3 * * *", "Europe/Berlin");
    const info = berlin.nextRun(null, bounds({ startDate: parseDate("2026-03-28T03:00", "Europe/Berlin") }), Z("2026-04-01T00:00:00Z"));
    expect(info?.interval).toEqual(span("2026-03-28T02:00:00Z", "2026-03-29T01:00:00Z"));
    expect(formatDs(info!.interval.start, "Europe/Berlin")).toBe("2026-03-28");
  });
});

describe("cron manualInterval", () => {
  const midnight = createTimetable("0 0 * * *");

  it("is the latest complete interval ending at or before the logical date", () => {
    expect(midnight.manualInterval(Z("2026-03-25T01:00:00Z"), bounds())).toEqual(span("2026-03-24T00:00:00Z", "2026-03-25T00:00:00Z"));
    expect(midnight.manualInterval(Z("2026-03-25T00:00:00Z"), bounds())).toEqual(span("2026-03-24T00:00:00Z", "2026-03-25T00:00:00Z"));
    expect(midnight.manualInterval(Z("2026-03-24T23:59:59Z"), bounds())).toEqual(span("2026-03-23T00:00:00Z", "2026-03-24T00:00:00Z"));
  });

  it("follows the zone's wall clock", () => {
    const berlin = createTimetable("0 3 * * *", "Europe/Berlin");
    expect(berlin.manualInterval(Z("2026-03-30T00:00:00Z"), bounds())).toEqual(span("2026-03-28T02:00:00Z", "2026-03-29T01:00:00Z"));
  });
});

describe("interval schedules ({ every })", () => {
  const quarter = createTimetable({ every: "15m" });
  const startDate = Z("2026-03-01T10:07:00Z");

  it("aligns on the start date", () => {
    const first = quarter.nextRun(null, bounds({ startDate }), Z("2026-03-01T12:00:00Z"));
    expect(first).toEqual({ interval: span("2026-03-01T10:07:00Z", "2026-03-01T10:22:00Z"), runAfter: Z("2026-03-01T10:22:00Z") });
    expect(quarter.nextRun(first!.interval, bounds({ startDate }), Z("2026-03-01T12:00:00Z"))?.interval).toEqual(
      span("2026-03-01T10:22:00Z", "2026-03-01T10:37:00Z"),
    );
  });

  it("catchup false skips to the latest complete interval on the start date's grid", () => {
    const info = quarter.nextRun(null, bounds({ startDate, catchup: false }), Z("2026-03-01T11:00:00Z"));
    expect(info?.interval).toEqual(span("2026-03-01T10:37:00Z", "2026-03-01T10:52:00Z"));
  });

  it("without a start date aligns on the Unix epoch", () => {
    const info = quarter.nextRun(null, bounds({ catchup: false }), Z("2026-03-01T10:31:00Z"));
    expect(info?.interval).toEqual(span("2026-03-01T10:15:00Z", "2026-03-01T10:30:00Z"));
  });

  it("manualInterval aligns on the same grid", () => {
    expect(quarter.manualInterval(Z("2026-03-01T10:31:00Z"), bounds())).toEqual(span("2026-03-01T10:15:00Z", "2026-03-01T10:30:00Z"));
    expect(quarter.manualInterval(Z("2026-03-01T10:31:00Z"), bounds({ startDate }))).toEqual(
      span("2026-03-01T10:07:00Z", "2026-03-01T10:22:00Z"),
    );
  });

  it("is absolute time: a daily interval lasts 24 hours even over a DST night", () => {
    const daily = createTimetable({ every: "1d" }, "Europe/Berlin");
    const info = daily.nextRun(null, bounds({ startDate: Z("2026-03-28T12:00:00Z") }), Z("2026-04-01T00:00:00Z"));
    expect(info?.interval).toEqual(span("2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z"));
  });

  it("respects the end date", () => {
    const last = span("2026-03-01T10:07:00Z", "2026-03-01T10:22:00Z");
    expect(quarter.nextRun(last, bounds({ startDate, endDate: Z("2026-03-01T10:21:00Z") }), Z("2026-03-02T00:00:00Z"))).toBeNull();
  });
});

describe("@once and manual-only schedules", () => {
  const once = createTimetable("@once");
  const manual = createTimetable(null);
  const startDate = Z("2026-03-01T00:00:00Z");

  it("@once runs once at the start date, whatever catchup says", () => {
    for (const catchup of [true, false]) {
      expect(once.nextRun(null, bounds({ startDate, catchup }), Z("2026-06-01T00:00:00Z"))).toEqual({
        interval: { start: startDate, end: startDate },
        runAfter: startDate,
      });
    }
  });

  it("@once never runs a second time", () => {
    expect(once.nextRun({ start: startDate, end: startDate }, bounds({ startDate }), Z("2026-06-01T00:00:00Z"))).toBeNull();
  });

  it("@once does not run when the end date is before the start date", () => {
    expect(once.nextRun(null, bounds({ startDate, endDate: startDate - 1 }), Z("2026-06-01T00:00:00Z"))).toBeNull();
  });

  it("@once without a start date runs now", () => {
    const now = Z("2026-06-01T12:34:56Z");
    expect(once.nextRun(null, bounds(), now)).toEqual({ interval: { start: now, end: now }, runAfter: now });
  });

  it("manual-only schedules never run by themselves", () => {
    expect(manual.nextRun(null, bounds({ startDate }), Z("2026-06-01T00:00:00Z"))).toBeNull();
  });

  it("manual runs of @once and null get the exact interval [logicalDate, logicalDate]", () => {
    const at = Z("2026-03-05T07:08:09Z");
    expect(once.manualInterval(at, bounds())).toEqual({ start: at, end: at });
    expect(manual.manualInterval(at, bounds())).toEqual({ start: at, end: at });
  });
});
