/**
 * "tsc must reject a ref whose output type does not fit the input type": compiles a small DAG
 * file with the TypeScript compiler API, "updraft" mapped to the SDK's source, as an author's
 * project would see it.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const SDK = join(ROOT, "src/sdk/index.ts");

const BAD_LINE = 'store(rows); // BAD: rows is a Row[], store wants a { total: number }';

function dagSource(call: string): string {
  return [
    'import { dag, task } from "updraft";',
    "",
    "interface Row { amount: number }",
    "const extract = task({ id: \"extract\", run: async (): Promise<Row[]> => [{ amount: 1 }] });",
    "const summarize = task({ id: \"summarize\", run: (rows: Row[]) => ({ total: rows.length }) });",
    "const store = task({ id: \"store\", run: (s: { total: number }, ctx) => `${ctx.ds}:${s.total}` });",
    "",
    'export default dag({ id: "typed" }, () => {',
    "  const rows = extract();",
    "  const summary = summarize(rows);",
    "  store(summary);",
    `  ${call}`,
    "});",
    "",
  ].join("\n");
}

const NESTED_CALL = 'const label = task({ id: "label", run: (i: { name: string; n: number }) => i.name }); label({ name: "x", n: rows });';
const SOURCES = {
  "good.ts": dagSource("store(summarize(rows));"),
  "bad.ts": dagSource(BAD_LINE),
  "nested.ts": dagSource(NESTED_CALL),
};

let dir: string;
/** Diagnostics of one program over all SOURCES, by file name ("" for those without a file). */
let byFile: Map<string, ts.Diagnostic[]>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "updraft-typing-"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "typing-check", type: "module" }));
  for (const [name, source] of Object.entries(SOURCES)) writeFileSync(join(dir, name), source);
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    lib: ["lib.es2023.d.ts"],
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ["node"],
    typeRoots: [join(ROOT, "node_modules/@types")],
    paths: { updraft: [SDK] },
  };
  const program = ts.createProgram({ rootNames: Object.keys(SOURCES).map((name) => join(dir, name)), options });
  byFile = new Map();
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const key = d.file ? resolve(d.file.fileName) : "";
    byFile.set(key, [...(byFile.get(key) ?? []), d]);
  }
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function diagnosticsOf(name: keyof typeof SOURCES): ts.Diagnostic[] {
  return byFile.get(join(dir, name)) ?? [];
}

function lineOf(d: ts.Diagnostic): number | null {
  return d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : null;
}

function describeDiagnostics(diagnostics: readonly ts.Diagnostic[]): string[] {
  return diagnostics.map((d) => `${d.file?.fileName ?? "(global)"}:${lineOf(d) ?? "?"}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
}

describe("typed task inputs (TypeScript compiler)", () => {
  it("compiles a DAG whose refs fit the inputs without diagnostics, the SDK sources included", () => {
    const outsideBadFiles = [...byFile.entries()].filter(([file]) => file !== join(dir, "bad.ts") && file !== join(dir, "nested.ts")).flatMap(([, list]) => list);
    expect(describeDiagnostics(outsideBadFiles)).toEqual([]);
    expect(diagnosticsOf("good.ts")).toEqual([]);
  });

  it("rejects a ref whose output type does not fit the input, at that line", () => {
    const badLine = SOURCES["bad.ts"].split("\n").indexOf(`  ${BAD_LINE}`) + 1;
    expect(badLine).toBe(12);
    const diagnostics = diagnosticsOf("bad.ts");
    expect(diagnostics.length).toBeGreaterThan(0);
    // every diagnostic is about the bad call, and one says the types do not fit
    expect(diagnostics.map(lineOf), describeDiagnostics(diagnostics).join("\n")).toEqual(diagnostics.map(() => badLine));
    expect(diagnostics.some((d) => /not assignable/.test(ts.flattenDiagnosticMessageText(d.messageText, "\n")))).toBe(true);
  });

  it("rejects a ref nested in an object whose field type does not fit", () => {
    const diagnostics = diagnosticsOf("nested.ts");
    expect(diagnostics.length).toBeGreaterThan(0);
    expect(diagnostics.map(lineOf), describeDiagnostics(diagnostics).join("\n")).toEqual(diagnostics.map(() => 12));
  });
});
