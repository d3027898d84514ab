import { describe, expect, it } from "vitest";
import { isUpdraftError } from "../../src/errors/index.js";
import {
  formatDs,
  formatInTimezone,
  parseDate,
  validateTimezone,
  wallTimeToInstant,
} from "../../src/timetable/index.js";

const Z = (iso: string): number => Date.parse(iso);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isUpdraftError(error) ? `${error.code}${error.hint ? "+hint" : ""}` : "not an UpdraftError";
  }
  return undefined;
}

describe("parseDate", () => {
  it.each([
    ["2026-01-01", "UTC", "2026-01-01T00:00:00Z"],
    ["2026-01-01", "Europe/Berlin", "2025-12-31T23:00:00Z"],
    ["2026-01-01T03:00", "Europe/Berlin", "2026-01-01T02:00:00Z"],
    ["2026-01-01 03:00:00", "Europe/Berlin", "2026-01-01T02:00:00Z"],
    ["2026-07-01T03:00", "Europe/Berlin", "2026-07-01T01:00:00Z"],
    ["2026-01-01T03:00", "America/New_York", "2026-01-01T08:00:00Z"],
    ["2026-01-01T03:00", "Asia/Kolkata", "2025-12-31T21:30:00Z"],
    ["  2026-01-01T03:00:00.250  ", "UTC", "2026-01-01T03:00:00.250Z"],
  ])("%s in %s is %s", (text, zone, expected) => {
    expect(parseDate(text, zone)).toBe(Z(expected));
  });

  it.each([
    ["2026-01-01T03:00:00Z", "2026-01-01T03:00:00Z"],
    ["2026-01-01T03:00:00z", "2026-01-01T03:00:00Z"],
    ["2026-01-01T03:00Z", "2026-01-01T03:00:00Z"],
    ["2026-01-01T03:00:00+01:00", "2026-01-01T02:00:00Z"],
    ["2026-01-01T03:00:00+0100", "2026-01-01T02:00:00Z"],
    ["2026-01-01T03:00:00-05:30", "2026-01-01T08:30:00Z"],
    ["2026-01-01 03:00:00+05", "2025-12-31T22:00:00Z"],
  ])("an explicit offset wins over the zone: %s", (text, expected) => {
    expect(parseDate(text, "Europe/Berlin")).toBe(Z(expected));
  });

  it("defaults to UTC", () => {
    expect(parseDate("2026-03-01T03:00")).toBe(Z("2026-03-01T03:00:00Z"));
  });

  it("a wall time in the spring-forward gap is the end of the gap", () => {
    expect(parseDate("2026-03-29T02:30", "Europe/Berlin")).toBe(Z("2026-03-29T01:00:00Z"));
    expect(parseDate("2026-03-08T02:15", "America/New_York")).toBe(Z("2026-03-08T07:00:00Z"));
  });

  it("a repeated wall time is its second occurrence, as pendulum.datetime() reads it for Airflow", () => {
    expect(parseDate("2026-10-25T02:30", "Europe/Berlin")).toBe(Z("2026-10-25T01:30:00Z"));
    expect(parseDate("2026-11-01T01:30", "America/New_York")).toBe(Z("2026-11-01T06:30:00Z"));
  });

  it("takes Date objects and epoch milliseconds as they are", () => {
    expect(parseDate(new Date("2026-01-01T00:00:00Z"), "Europe/Berlin")).toBe(Z("2026-01-01T00:00:00Z"));
    expect(parseDate(1_767_225_600_000)).toBe(1_767_225_600_000);
  });

  it.each([
    ["2026-13-01"],
    ["2026-02-29"],
    ["2026-04-31"],
    ["2026-01-01T24:00"],
    ["2026-01-01T12:60"],
    ["2026-1-1"],
    ["yesterday"],
    [""],
    ["1767225600000"],
    ["2026-01-01T03:00:00+25:00"],
  ])("rejects %j with UPDRAFT_E_INVALID_DATE and a hint", (text) => {
    expect(codeOf(() => parseDate(text, "UTC"))).toBe("UPDRAFT_E_INVALID_DATE+hint");
  });

  it("rejects NaN, Infinity and invalid Dates", () => {
    expect(codeOf(() => parseDate(Number.NaN))).toBe("UPDRAFT_E_INVALID_DATE+hint");
    expect(codeOf(() => parseDate(Number.POSITIVE_INFINITY))).toBe("UPDRAFT_E_INVALID_DATE+hint");
    expect(codeOf(() => parseDate(new Date("not a date")))).toBe("UPDRAFT_E_INVALID_DATE+hint");
  });

  it("rejects an unknown zone with UPDRAFT_E_INVALID_TIMEZONE", () => {
    expect(codeOf(() => parseDate("2026-01-01", "Mars/Olympus_Mons"))).toBe("UPDRAFT_E_INVALID_TIMEZONE+hint");
  });
});

describe("wallTimeToInstant", () => {
  it("converts ordinary wall times", () => {
    expect(wallTimeToInstant({ year: 2026, month: 3, day: 1, hour: 3, minute: 0 }, "Europe/Berlin")).toBe(Z("2026-03-01T02:00:00Z"));
    expect(wallTimeToInstant({ year: 2026, month: 3, day: 1, hour: 3, minute: 0, second: 30 }, "UTC")).toBe(Z("2026-03-01T03:00:30Z"));
  });

  it("applies the DST policy: end of a gap, second of two occurrences", () => {
    expect(wallTimeToInstant({ year: 2026, month: 3, day: 29, hour: 2, minute: 30 }, "Europe/Berlin")).toBe(Z("2026-03-29T01:00:00Z"));
    expect(wallTimeToInstant({ year: 2026, month: 10, day: 25, hour: 2, minute: 30 }, "Europe/Berlin")).toBe(Z("2026-10-25T01:30:00Z"));
    // Lord Howe moves by 30 minutes: 02:00–02:29 do not exist on 2026-10-04, 01:30–01:59 repeat on 2026-04-05.
    expect(wallTimeToInstant({ year: 2026, month: 10, day: 4, hour: 2, minute: 15 }, "Australia/Lord_Howe")).toBe(Z("2026-10-03T15:30:00Z"));
    expect(wallTimeToInstant({ year: 2026, month: 4, day: 5, hour: 1, minute: 45 }, "Australia/Lord_Howe")).toBe(Z("2026-04-04T15:15:00Z"));
  });

  it("rejects fields out of range", () => {
    expect(codeOf(() => wallTimeToInstant({ year: 2026, month: 2, day: 29, hour: 0, minute: 0 }, "UTC"))).toBe("UPDRAFT_E_INVALID_DATE+hint");
    expect(codeOf(() => wallTimeToInstant({ year: 2026, month: 1, day: 1, hour: 24, minute: 0 }, "UTC"))).toBe("UPDRAFT_E_INVALID_DATE+hint");
    expect(codeOf(() => wallTimeToInstant({ year: 2026, month: 1, day: 1.5, hour: 0, minute: 0 }, "UTC"))).toBe("UPDRAFT_E_INVALID_DATE+hint");
  });
});

describe("formatDs and formatInTimezone", () => {
  it("formatDs is the date on the zone's calendar", () => {
    const instant = Z("2026-03-01T23:30:00Z");
    expect(formatDs(instant, "UTC")).toBe("2026-03-01");
    expect(formatDs(instant, "Europe/Berlin")).toBe("2026-03-02");
    expect(formatDs(instant, "America/New_York")).toBe("2026-03-01");
  });

  it.each([
    ["2026-03-01T02:00:00Z", "Europe/Berlin", "2026-03-01T03:00:00+01:00"],
    ["2026-07-01T01:00:00Z", "Europe/Berlin", "2026-07-01T03:00:00+02:00"],
    ["2026-03-01T02:00:00Z", "America/New_York", "2026-02-28T21:00:00-05:00"],
    ["2026-03-01T02:00:00Z", "Asia/Kolkata", "2026-03-01T07:30:00+05:30"],
    ["2026-03-01T02:00:00.045Z", "UTC", "2026-03-01T02:00:00.045+00:00"],
    ["2026-10-25T00:30:00Z", "Europe/Berlin", "2026-10-25T02:30:00+02:00"],
    ["2026-10-25T01:30:00Z", "Europe/Berlin", "2026-10-25T02:30:00+01:00"],
  ])("%s in %s is %s", (iso, zone, expected) => {
    expect(formatInTimezone(Z(iso), zone)).toBe(expected);
  });

  it("round-trips through parseDate", () => {
    const instant = Z("2026-10-25T01:30:00Z");
    expect(parseDate(formatInTimezone(instant, "Europe/Berlin"), "UTC")).toBe(instant);
  });
});

describe("validateTimezone", () => {
  it.each([
    ["Europe/Berlin", "Europe/Berlin"],
    ["europe/berlin", "Europe/Berlin"],
    ["UTC", "UTC"],
    ["utc", "UTC"],
    ["Etc/UTC", "UTC"],
    ["Asia/Kolkata", "Asia/Kolkata"],
    ["  America/New_York ", "America/New_York"],
  ])("%j → %j", (input, expected) => {
    expect(validateTimezone(input)).toBe(expected);
  });

  it.each([["Mars/Olympus_Mons"], [""], ["+01:00"], ["CET+1"]])("rejects %j", (input) => {
    expect(codeOf(() => validateTimezone(input))).toBe("UPDRAFT_E_INVALID_TIMEZONE+hint");
  });
});
