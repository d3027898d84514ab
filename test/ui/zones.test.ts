/** The UI's time-zone arithmetic (ui/src/components/zones.ts): offsets, DST changes, wall-clock inputs. */
import { describe, expect, it } from "vitest";
import { formatTime, isZone, offsetLabel, offsetMs, wallToIso, wallToMs } from "../../ui/src/components/zones.js";

const H = 3_600_000;

describe("UI time zones", () => {
  it("formats an instant with its zone's offset: the Berlin DAG's start date is still 2025 in UTC and New York", () => {
    const start = "2025-12-31T23:00:00.000Z";
    expect(formatTime(start, "Europe/Berlin")).toBe("2026-01-01 00:00:00 UTC+1");
    expect(formatTime(start, "UTC")).toBe("2025-12-31 23:00:00 UTC");
    expect(formatTime(start, "America/New_York")).toBe("2025-12-31 18:00:00 UTC-5");
    expect(formatTime(start, "Asia/Kolkata")).toBe("2026-01-01 04:30:00 UTC+5:30");
    expect(formatTime(start, "Asia/Kathmandu")).toBe("2026-01-01 04:45:00 UTC+5:45");
    expect(formatTime(Date.parse("2026-03-01T12:00:00.123Z"), "Europe/Berlin", { date: false, ms: true, zone: false })).toBe("13:00:00.123");
    expect(formatTime(null, "UTC")).toBe("—");
    expect(formatTime("not a time", "UTC")).toBe("not a time");
  });

  it("follows DST: the offset changes at the transition, to the second", () => {
    const change = Date.parse("2026-03-29T01:00:00Z"); // 02:00 CET becomes 03:00 CEST
    expect(formatTime(change - 1000, "Europe/Berlin")).toBe("2026-03-29 01:59:59 UTC+1");
    expect(formatTime(change, "Europe/Berlin")).toBe("2026-03-29 03:00:00 UTC+2");
    expect(offsetMs(change - 1000, "Europe/Berlin")).toBe(H);
    expect(offsetMs(change, "Europe/Berlin")).toBe(2 * H);
    expect(offsetLabel(Date.parse("2026-07-01T00:00:00Z"), "America/New_York")).toBe("UTC-4");
  });

  it("reads a wall-clock input in a zone, also around DST changes", () => {
    expect(new Date(wallToMs("2026-01-01T00:00", "Europe/Berlin")!).toISOString()).toBe("2025-12-31T23:00:00.000Z");
    expect(new Date(wallToMs("2026-07-01T09:30:15", "America/New_York")!).toISOString()).toBe("2026-07-01T13:30:15.000Z");
    expect(new Date(wallToMs("2026-01-01T00:00", "UTC")!).toISOString()).toBe("2026-01-01T00:00:00.000Z");
    // The repeated hour of the autumn change: its later occurrence (as Airflow's schedules).
    const repeated = wallToMs("2026-10-25T02:30", "Europe/Berlin")!;
    expect(formatTime(repeated, "Europe/Berlin")).toBe("2026-10-25 02:30:00 UTC+1");
    // A time the spring change skips is read with the offset before it: 02:30 is 03:30 summer time.
    expect(formatTime(wallToMs("2026-03-29T02:30", "Europe/Berlin")!, "Europe/Berlin")).toBe("2026-03-29 03:30:00 UTC+2");
    expect(wallToIso("2026-01-01T00:00", "UTC", true)).toBe("2026-01-01T00:00:59.999Z");
    expect(wallToIso("", "UTC")).toBeUndefined();
    expect(wallToMs("yesterday", "UTC")).toBeNull();
  });

  it("tells a zone Intl knows from one it does not", () => {
    expect(isZone("Europe/Berlin")).toBe(true);
    expect(isZone("Mars/Olympus_Mons")).toBe(false);
  });
});
