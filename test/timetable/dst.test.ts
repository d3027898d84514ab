import { afterAll, describe, expect, it } from "vitest";
import { createTimetable, type DataInterval } from "../../src/timetable/index.js";

/*
 * Consecutive runs across real DST transitions. `from` is the start date (UTC); `runs` are the
 * logical dates (interval starts) of consecutive scheduled runs, in UTC, worked out by hand from
 * the zone's offsets:
 *   Europe/Berlin       2026-03-29 01:00Z +1→+2 (02:00→03:00); 2026-10-25 01:00Z +2→+1 (03:00→02:00)
 *   America/New_York    2026-03-08 07:00Z -5→-4 (02:00→03:00); 2026-11-01 06:00Z -4→-5 (02:00→01:00)
 *   Australia/Sydney    2026-04-04 16:00Z +11→+10 (03:00→02:00); 2026-10-03 16:00Z +10→+11 (02:00→03:00)
 *   Australia/Lord_Howe 2026-04-04 15:00Z +11→+10:30 (02:00→01:30); 2026-10-03 15:30Z +10:30→+11 (02:00→02:30)
 *   Asia/Kolkata        +05:30 all year
 */
interface DstCase {
  name: string;
  zone: string;
  cron: string;
  from: string;
  runs: string[];
}

const CASES: DstCase[] = [
  // Europe/Berlin, spring forward
  { name: "02:30 in the gap runs at 03:00 CEST", zone: "Europe/Berlin", cron: "30 2 * * *", from: "2026-03-27T00:00Z",
    runs: ["2026-03-27T01:30Z", "2026-03-28T01:30Z", "2026-03-29T01:00Z", "2026-03-30T00:30Z", "2026-03-31T00:30Z"] },
  { name: "daily 03:00 keeps its wall time", zone: "Europe/Berlin", cron: "0 3 * * *", from: "2026-03-28T00:00Z",
    runs: ["2026-03-28T02:00Z", "2026-03-29T01:00Z", "2026-03-30T01:00Z"] },
  { name: "02:00 (start of the gap) runs at 03:00 CEST", zone: "Europe/Berlin", cron: "0 2 * * *", from: "2026-03-28T00:00Z",
    runs: ["2026-03-28T01:00Z", "2026-03-29T01:00Z", "2026-03-30T00:00Z"] },
  { name: "two times in the gap share one run", zone: "Europe/Berlin", cron: "*/30 2 * * *", from: "2026-03-28T00:00Z",
    runs: ["2026-03-28T01:00Z", "2026-03-28T01:30Z", "2026-03-29T01:00Z", "2026-03-30T00:00Z", "2026-03-30T00:30Z"] },
  { name: "hourly runs every real hour", zone: "Europe/Berlin", cron: "0 * * * *", from: "2026-03-28T23:00Z",
    runs: ["2026-03-28T23:00Z", "2026-03-29T00:00Z", "2026-03-29T01:00Z", "2026-03-29T02:00Z"] },
  { name: "hourly at :30 skips the missing 02:30", zone: "Europe/Berlin", cron: "30 * * * *", from: "2026-03-28T23:00Z",
    runs: ["2026-03-28T23:30Z", "2026-03-29T00:30Z", "2026-03-29T01:30Z", "2026-03-29T02:30Z"] },
  // Europe/Berlin, fall back
  // A repeated wall time runs once, at its second occurrence: Airflow's cron timetable ends a daily
  // 02:00 interval on the folded 02:00 (fold=1; test_exiting_fold in its test_interval_timetable.py).
  { name: "repeated 02:30 runs once, second occurrence", zone: "Europe/Berlin", cron: "30 2 * * *", from: "2026-10-24T00:00Z",
    runs: ["2026-10-24T00:30Z", "2026-10-25T01:30Z", "2026-10-26T01:30Z"] },
  { name: "repeated 02:00 ends the interval on the folded 02:00 (Airflow's Zurich case)", zone: "Europe/Zurich", cron: "0 2 * * *", from: "2023-10-27T00:00Z",
    runs: ["2023-10-27T00:00Z", "2023-10-28T00:00Z", "2023-10-29T01:00Z", "2023-10-30T01:00Z"] },
  { name: "daily 03:00 after fall back", zone: "Europe/Berlin", cron: "0 3 * * *", from: "2026-10-24T00:00Z",
    runs: ["2026-10-24T01:00Z", "2026-10-25T02:00Z", "2026-10-26T02:00Z"] },
  { name: "hourly runs the repeated hour twice", zone: "Europe/Berlin", cron: "0 * * * *", from: "2026-10-24T23:00Z",
    runs: ["2026-10-24T23:00Z", "2026-10-25T00:00Z", "2026-10-25T01:00Z", "2026-10-25T02:00Z"] },
  { name: "fixed-hour list runs the repeated hour once, in its second pass", zone: "Europe/Berlin", cron: "*/30 2 * * *", from: "2026-10-25T00:00Z",
    runs: ["2026-10-25T01:00Z", "2026-10-25T01:30Z", "2026-10-26T01:00Z", "2026-10-26T01:30Z"] },
  // America/New_York
  { name: "NY 02:30 in the gap runs at 03:00 EDT", zone: "America/New_York", cron: "30 2 * * *", from: "2026-03-07T00:00Z",
    runs: ["2026-03-07T07:30Z", "2026-03-08T07:00Z", "2026-03-09T06:30Z"] },
  { name: "NY midnight", zone: "America/New_York", cron: "@daily", from: "2026-03-07T00:00Z",
    runs: ["2026-03-07T05:00Z", "2026-03-08T05:00Z", "2026-03-09T04:00Z"] },
  { name: "NY hourly over the gap", zone: "America/New_York", cron: "0 * * * *", from: "2026-03-08T06:00Z",
    runs: ["2026-03-08T06:00Z", "2026-03-08T07:00Z", "2026-03-08T08:00Z"] },
  { name: "NY every 15 minutes over the gap", zone: "America/New_York", cron: "*/15 * * * *", from: "2026-03-08T06:30Z",
    runs: ["2026-03-08T06:30Z", "2026-03-08T06:45Z", "2026-03-08T07:00Z", "2026-03-08T07:15Z"] },
  { name: "NY repeated 01:30 runs once", zone: "America/New_York", cron: "30 1 * * *", from: "2026-10-31T00:00Z",
    runs: ["2026-10-31T05:30Z", "2026-11-01T06:30Z", "2026-11-02T06:30Z"] },
  { name: "NY hourly over fall back", zone: "America/New_York", cron: "0 * * * *", from: "2026-11-01T04:00Z",
    runs: ["2026-11-01T04:00Z", "2026-11-01T05:00Z", "2026-11-01T06:00Z", "2026-11-01T07:00Z"] },
  { name: "NY weekdays at 09:00 over a DST weekend", zone: "America/New_York", cron: "0 9 * * 1-5", from: "2026-10-30T00:00Z",
    runs: ["2026-10-30T13:00Z", "2026-11-02T14:00Z"] },
  // Australia/Sydney (southern hemisphere: falls back in April, springs forward in October)
  { name: "Sydney repeated 02:30 runs once", zone: "Australia/Sydney", cron: "30 2 * * *", from: "2026-04-03T00:00Z",
    runs: ["2026-04-03T15:30Z", "2026-04-04T16:30Z", "2026-04-05T16:30Z"] },
  { name: "Sydney 02:30 in the gap runs at 03:00 AEDT", zone: "Australia/Sydney", cron: "30 2 * * *", from: "2026-10-02T00:00Z",
    runs: ["2026-10-02T16:30Z", "2026-10-03T16:00Z", "2026-10-04T15:30Z"] },
  { name: "Sydney hourly over fall back", zone: "Australia/Sydney", cron: "0 * * * *", from: "2026-04-04T15:00Z",
    runs: ["2026-04-04T15:00Z", "2026-04-04T16:00Z", "2026-04-04T17:00Z"] },
  { name: "Sydney hourly over the gap", zone: "Australia/Sydney", cron: "0 * * * *", from: "2026-10-03T15:00Z",
    runs: ["2026-10-03T15:00Z", "2026-10-03T16:00Z", "2026-10-03T17:00Z"] },
  // Australia/Lord_Howe shifts by 30 minutes
  { name: "Lord Howe 02:00 in the half-hour gap runs at 02:30", zone: "Australia/Lord_Howe", cron: "0 2 * * *", from: "2026-10-02T00:00Z",
    runs: ["2026-10-02T15:30Z", "2026-10-03T15:30Z", "2026-10-04T15:00Z"] },
  { name: "Lord Howe repeated 01:45 runs once", zone: "Australia/Lord_Howe", cron: "45 1 * * *", from: "2026-04-03T00:00Z",
    runs: ["2026-04-03T14:45Z", "2026-04-04T15:15Z", "2026-04-05T15:15Z"] },
  { name: "Lord Howe half-hourly runs the repeated 01:30 twice", zone: "Australia/Lord_Howe", cron: "*/30 * * * *", from: "2026-04-04T14:00Z",
    runs: ["2026-04-04T14:00Z", "2026-04-04T14:30Z", "2026-04-04T15:00Z", "2026-04-04T15:30Z"] },
  { name: "Lord Howe hourly has no 02:00 on the gap day", zone: "Australia/Lord_Howe", cron: "0 * * * *", from: "2026-10-03T14:30Z",
    runs: ["2026-10-03T14:30Z", "2026-10-03T16:00Z", "2026-10-03T17:00Z"] },
  // No DST
  { name: "Kolkata daily 03:00 is always 21:30Z", zone: "Asia/Kolkata", cron: "0 3 * * *", from: "2026-03-27T12:00Z",
    runs: ["2026-03-27T21:30Z", "2026-03-28T21:30Z", "2026-03-29T21:30Z"] },
  { name: "Kolkata hourly at :30 is on the UTC hour", zone: "Asia/Kolkata", cron: "30 * * * *", from: "2026-03-27T12:00Z",
    runs: ["2026-03-27T12:00Z", "2026-03-27T13:00Z", "2026-03-27T14:00Z"] },
];

const FAR_FUTURE = Date.parse("2030-01-01T00:00:00Z");

function scheduledRuns(c: DstCase): DataInterval[] {
  const timetable = createTimetable(c.cron, c.zone);
  const bounds = { startDate: Date.parse(c.from), endDate: null, catchup: true };
  const intervals: DataInterval[] = [];
  let last: DataInterval | null = null;
  for (let i = 0; i < c.runs.length; i++) {
    const info = timetable.nextRun(last, bounds, FAR_FUTURE);
    if (info === null) break;
    expect(info.runAfter).toBe(info.interval.end);
    intervals.push(info.interval);
    last = info.interval;
  }
  return intervals;
}

describe("DST: consecutive scheduled runs across real transitions", () => {
  it.each(CASES)("$zone $cron: $name", (c) => {
    const intervals = scheduledRuns(c);
    expect(intervals.map((i) => new Date(i.start).toISOString())).toEqual(
      c.runs.map((r) => new Date(Date.parse(r)).toISOString()),
    );
    // Intervals are contiguous: each ends where the next begins.
    for (let i = 1; i < intervals.length; i++) expect(intervals[i - 1]!.end).toBe(intervals[i]!.start);
  });

  it.each(CASES)("$zone $cron: manual runs find the same intervals going backwards", (c) => {
    const timetable = createTimetable(c.cron, c.zone);
    const bounds = { startDate: null, endDate: null, catchup: true };
    const runs = c.runs.map((r) => Date.parse(r));
    for (let i = 1; i < runs.length; i++) {
      // A logical date just before the next boundary still belongs to the interval ending at runs[i].
      expect(timetable.manualInterval(runs[i]!, bounds)).toEqual({ start: runs[i - 1], end: runs[i] });
      expect(timetable.manualInterval(runs[i]! + 60_000, bounds)).toEqual({ start: runs[i - 1], end: runs[i] });
    }
  });
});

describe("DST: interval lengths", () => {
  const HOUR = 3_600_000;
  const lengths = (cron: string, zone: string, from: string, n: number): number[] =>
    scheduledRuns({ name: "", zone, cron, from, runs: Array<string>(n).fill("") }).map((i) => (i.end - i.start) / HOUR);

  it("a daily interval lasts 23 hours over spring forward and 25 over fall back (Europe/Berlin)", () => {
    expect(lengths("0 3 * * *", "Europe/Berlin", "2026-03-28T00:00Z", 2)).toEqual([23, 24]);
    expect(lengths("0 3 * * *", "Europe/Berlin", "2026-10-24T00:00Z", 2)).toEqual([25, 24]);
  });

  it("New York midnight: 23 hours on 2026-03-08, 25 hours on 2026-11-01", () => {
    expect(lengths("0 0 * * *", "America/New_York", "2026-03-08T00:00Z", 1)).toEqual([23]);
    expect(lengths("0 0 * * *", "America/New_York", "2026-11-01T00:00Z", 1)).toEqual([25]);
  });

  it("hourly intervals stay one hour long across both Berlin transitions", () => {
    expect(lengths("0 * * * *", "Europe/Berlin", "2026-03-28T22:00Z", 6)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(lengths("0 * * * *", "Europe/Berlin", "2026-10-24T22:00Z", 6)).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it("a zone without DST keeps 24-hour days", () => {
    expect(lengths("0 3 * * *", "Asia/Kolkata", "2026-03-27T00:00Z", 3)).toEqual([24, 24, 24]);
  });
});

describe("DST: catchup=false inside a repeated hour", () => {
  it("hourly: the latest complete interval is the first pass of the repeated hour", () => {
    const timetable = createTimetable("0 * * * *", "Europe/Berlin");
    // 01:30Z is 02:30 CET, in the second pass of the hour; the interval 00:00Z–01:00Z just ended.
    const info = timetable.nextRun(null, { startDate: null, endDate: null, catchup: false }, Date.parse("2026-10-25T01:30:00Z"));
    expect(info?.interval).toEqual({ start: Date.parse("2026-10-25T00:00:00Z"), end: Date.parse("2026-10-25T01:00:00Z") });
  });

  it("fixed hour: the repeated hour's times run in its second pass, and a manual run's interval follows", () => {
    const timetable = createTimetable("*/30 2 * * *", "Europe/Berlin");
    const at = (iso: string) => timetable.manualInterval(Date.parse(iso), { startDate: null, endDate: null, catchup: true });
    // The day's runs are at 01:00Z and 01:30Z (02:00 and 02:30 CET, the second pass); the day before
    // at 00:00Z and 00:30Z (CEST). At 00:45Z (02:45 CEST, first pass) none of the day's has come.
    expect(at("2026-10-25T00:45:00Z")).toEqual({ start: Date.parse("2026-10-24T00:00:00Z"), end: Date.parse("2026-10-24T00:30:00Z") });
    // At 01:15Z (02:15 CET) the 02:00 run of the second pass has.
    expect(at("2026-10-25T01:15:00Z")).toEqual({ start: Date.parse("2026-10-24T00:30:00Z"), end: Date.parse("2026-10-25T01:00:00Z") });
  });
});

describe("results do not depend on the machine's own time zone", () => {
  const saved = process.env.TZ;
  afterAll(() => {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  });

  it.each(CASES.filter((c) => c.zone !== "Asia/Kolkata"))("TZ=Asia/Kolkata: $zone $cron", (c) => {
    // Node applies a changed TZ at once; Asia/Kolkata's +05:30 would shift any local-time slip.
    process.env.TZ = "Asia/Kolkata";
    expect(scheduledRuns(c).map((i) => i.start)).toEqual(c.runs.map((r) => Date.parse(r)));
  });
});
