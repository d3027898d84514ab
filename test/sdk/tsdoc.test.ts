/**
 * Every public export of the SDK (src/sdk/index.ts) carries TSDoc with an example: that is what
 * DAG authors see in their editor and in the reference `npm run docs` builds. (TypeDoc's
 * validation in `npm run docs` checks that every member is documented; it does not ask for
 * examples.)
 */
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const INDEX = resolve(ROOT, "src/sdk/index.ts");

function exportsWithoutExample(): { checked: string[]; missing: string[] } {
  const program = ts.createProgram({ rootNames: [INDEX], options: { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, noEmit: true } });
  const checker = program.getTypeChecker();
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(INDEX)!)!;
  const checked: string[] = [];
  const missing: string[] = [];
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    checked.push(exported.name);
    const hasExample = (symbol.declarations ?? []).some((d) => ts.getJSDocTags(d).some((tag) => tag.tagName.text === "example" && String(ts.getTextOfJSDocComment(tag.comment) ?? "").trim() !== ""));
    const hasText = symbol.getDocumentationComment(checker).length > 0;
    if (!hasExample || !hasText) missing.push(exported.name);
  }
  return { checked, missing };
}

describe("SDK reference", () => {
  it("documents every public export with a description and an example", () => {
    const { checked, missing } = exportsWithoutExample();
    expect(checked).toEqual(expect.arrayContaining(["dag", "task", "bash", "branch", "group", "chain", "TaskContext", "BashOptions", "NonRetryableError", "SkipError"]));
    expect(missing).toEqual([]);
  });
});
