/** How type errors are written: as tsc does, paths relative to a base when inside it, bounded. */
import { describe, expect, it } from "vitest";
import { displayPath, formatDiagnostic, formatDiagnostics, type TypeDiagnostic } from "../../src/dag-processor/type-check-config.js";

const at = (file: string | null, message = "Type 'number' is not assignable to type 'string'."): TypeDiagnostic => ({ file, line: file ? 3 : null, column: file ? 7 : null, code: 2322, message });

describe("type diagnostics as text", () => {
  it("writes file:line:col - error TSxxxx: message, relative inside the base, absolute outside", () => {
    expect(formatDiagnostic(at("/dags/team/etl.ts"), "/dags")).toBe("team/etl.ts:3:7 - error TS2322: Type 'number' is not assignable to type 'string'.");
    expect(formatDiagnostic(at("/shared/util.ts"), "/dags")).toBe("/shared/util.ts:3:7 - error TS2322: Type 'number' is not assignable to type 'string'.");
    expect(formatDiagnostic(at(null, "Option 'x' is unknown."), "/dags")).toBe("error TS2322: Option 'x' is unknown.");
    expect(displayPath("/dags", "/dags")).toBe("/dags");
  });

  it("keeps 50 errors of at most 2,000 characters each, and says how many more there are", () => {
    const many = Array.from({ length: 53 }, (_, i) => at(`/dags/f${i}.ts`, i === 0 ? "x".repeat(10_000) : "short"));
    const lines = formatDiagnostics(many, "/dags").split("\n");
    expect(lines).toHaveLength(51);
    expect(lines[0]!.length).toBe(2_001);
    expect(lines[0]!.endsWith("…")).toBe(true);
    expect(lines[50]).toBe("… and 3 more type errors (updraft dags check lists them all)");
  });
});
