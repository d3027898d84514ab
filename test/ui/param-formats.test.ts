/**
 * The trigger form's format checks (ui/src/pages/dag/param-formats.ts) accept exactly what Ajv
 * with ajv-formats accepts (the server's way of checking params), value by value.
 */
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import { describe, expect, it } from "vitest";
import { formatProblem } from "../../ui/src/pages/dag/param-formats.js";

const ajv = new Ajv({ strict: false });
addFormats.default(ajv);

const SAMPLES: Record<string, unknown[]> = {
  date: ["2026-01-31", "2024-02-29", "2026-02-29", "2026-02-30", "01/01/2021", "2026-1-31", "2026-01-31T00:00:00Z", ""],
  "date-time": ["2026-01-31T09:30:00Z", "2026-01-31T10:30:00+01:00", "2026-01-31t09:30:00.123z", "2026-01-31 09:30:00Z", "2026-01-31T09:30:00", "2026-01-31T25:00:00Z", "yesterday"],
  time: ["09:30:00Z", "10:30:00+01:00", "23:59:60Z", "09:30:00", "9:30", "24:00:00Z"],
  email: ["ops@example.com", "first.last+tag@sub.example.org", "not an address", "@example.com", "a@b", "a@b.c"],
  uri: ["https://example.com/path?q=1", "mailto:ops@example.com", "urn:isbn:0451450523", "example.com/path", "/relative", "http://exa mple.com"],
  uuid: ["123e4567-e89b-12d3-a456-426614174000", "urn:uuid:123e4567-e89b-12d3-a456-426614174000", "123e4567e89b12d3a456426614174000", "nope"],
  ipv4: ["192.168.0.1", "256.1.1.1", "1.2.3"],
  hostname: ["db.internal", "-bad.example", "a".repeat(64) + ".example"],
  duration: ["P1D", "PT30M", "P1DT", "30m"],
  int32: [1, 2 ** 31, -(2 ** 31), 1.5],
  regex: ["^a+$", "(", "a\\Z"],
};

describe("trigger form format checks", () => {
  it.each(Object.entries(SAMPLES))("%s: the form says yes or no exactly where Ajv with ajv-formats does", (format, values) => {
    const type = typeof values[0] === "number" ? "number" : "string";
    const verdicts = values.map((v) => ({ v, form: formatProblem(format, v) === null, server: ajv.validate({ type, format }, v) }));
    expect(verdicts.filter((x) => x.form !== x.server)).toEqual([]);
    // Every table has values of both kinds, so the comparison means something.
    expect(new Set(verdicts.map((x) => x.server))).toEqual(new Set([true, false]));
  });

  it("says what is wrong in words; ignores unknown formats and values of another type, as Ajv does", () => {
    expect(formatProblem("date", "01/01/2021")).toBe("must be a date as YYYY-MM-DD");
    expect(formatProblem("email", "x")).toBe("must be an email address");
    expect(formatProblem("iso-date-time", "x")).toBe("must be a date and time as 2026-01-31T09:30:00 (an offset may follow)");
    expect(formatProblem("byte", "***")).toBe('must be in the format "byte"');
    expect(formatProblem("no-such-format", "anything")).toBeNull();
    expect(formatProblem("date", 42)).toBeNull();
    expect(formatProblem(undefined, "x")).toBeNull();
    expect(formatProblem("password", "hunter2")).toBeNull();
  });
});
