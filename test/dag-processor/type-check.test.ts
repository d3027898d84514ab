/**
 * The DAG processor's type check (`typeCheck`): with "warn" a type error is an import warning and
 * the DAG registers; with "error" it is an import error and the file's DAGs are not updated; with
 * "off" nothing. The stored part runs on both dialects. A check runs beside the import, and a
 * result for content that changed meanwhile is dropped.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { DagProcessor } from "../../src/dag-processor/processor.js";
import { processDagsFolder } from "../../src/runtime/index.js";
import { listImportWarnings } from "../../src/store/import-warnings.js";
import { silentLogger } from "../../src/util/logger.js";
import { createTestEnv, type TestEnv } from "../helpers/env.js";
import { DIALECTS } from "../helpers/dialects.js";
import { dagRows, goodDag, importErrors, lineOf, newProcessor, versionCount, waitFor } from "./helpers.js";

/** A DAG whose data edge does not type-check: `load` wants a { total: number }, gets a number[]. */
function typedDag(dagId: string, call = "load(extract());"): string {
  return [
    'import { dag, task } from "updraft";',
    'const extract = task({ id: "extract", run: () => [1, 2, 3] });',
    'const load = task({ id: "load", run: (s: { total: number }) => s.total });',
    `export default dag({ id: "${dagId}" }, () => {`,
    `  ${call}`,
    "});",
    "",
  ].join("\n");
}
const BAD = typedDag("typed");
const GOOD = typedDag("typed", "load({ total: 3 });");
const BAD_LINE = lineOf(BAD, "load(extract())");
/** A cold TypeScript costs seconds of CPU, and these tests start several: room for a busy machine. */
const SLOW = 180_000;

let env: TestEnv | undefined;
let processor: DagProcessor | undefined;
afterEach(async () => {
  await processor?.stop();
  processor = undefined;
  await env?.cleanup();
  env = undefined;
});

async function warnings(e: TestEnv) {
  return Object.fromEntries((await listImportWarnings(e.store.db)).map((w) => [w.fileloc, w]));
}

describe.each(DIALECTS)("type checking DAG files (%s)", (dialect) => {
  it("warn: a type error is an import warning, the DAG registers, and the warning goes once fixed", async () => {
    env = await createTestEnv({ dialect, dags: { "typed.ts": BAD, "good.ts": goodDag("good") }, config: { typeCheck: "warn" } });
    processor = newProcessor(env);
    await processor.start();
    // Registered by the first scan, which does not wait for the check.
    expect((await dagRows(env)).typed).toMatchObject({ is_active: 1, fileloc: "typed.ts" });
    const warning = await waitFor("the type warning", async () => (await warnings(env!))["typed.ts"], 60_000);
    expect(warning).toMatchObject({ code: "UPDRAFT_E_TYPE_ERRORS", line: BAD_LINE, location: `typed.ts:${BAD_LINE}:${warning.column}` });
    expect(warning.message).toContain(`typed.ts:${BAD_LINE}:${warning.column} - error TS2345:`);
    expect(await importErrors(env)).toEqual({});
    await processor.typeChecksSettled();
    expect(Object.keys(await warnings(env))).toEqual(["typed.ts"]); // good.ts has none

    env.writeDag("typed.ts", GOOD);
    await waitFor("the warning to go", async () => ((await warnings(env!))["typed.ts"] ? undefined : true), 60_000);
    expect(await versionCount(env, "typed")).toBe(2);
  }, SLOW);

  it("error: a type error is an import error and the file's DAGs keep their last version", async () => {
    env = await createTestEnv({ dialect, dags: { "typed.ts": GOOD }, config: { typeCheck: "error" } });
    // One processor for the three scans: its checker stays warm between them.
    processor = newProcessor(env);
    expect(await processor.scan()).toMatchObject({ errors: 0 });
    const before = (await dagRows(env)).typed;
    expect(before).toMatchObject({ is_active: 1 });

    env.writeDag("typed.ts", BAD.replace("[1, 2, 3]", "[1, 2, 3, 4]"));
    expect(await processor.scan()).toMatchObject({ errors: 1 });
    const error = (await importErrors(env))["typed.ts"]!;
    expect(error).toMatchObject({ code: "UPDRAFT_E_TYPE_ERRORS", line: BAD_LINE });
    expect(error.message).toMatch(/^1 type error:\ntyped\.ts:\d+:\d+ - error TS2345: /);
    expect((await dagRows(env)).typed).toEqual(before);
    expect(await versionCount(env, "typed")).toBe(1);
    expect(await warnings(env)).toEqual({});

    // A new file with a type error does not register at all.
    env.writeDag("fresh.ts", typedDag("fresh"));
    await processor.scan();
    expect((await dagRows(env)).fresh).toBeUndefined();
    expect((await importErrors(env))["fresh.ts"]).toMatchObject({ code: "UPDRAFT_E_TYPE_ERRORS" });
  }, SLOW);

  it("off: a type error gives nothing, and a warning left from before is cleared", async () => {
    env = await createTestEnv({ dialect, dags: { "typed.ts": BAD }, config: { typeCheck: "warn" } });
    await processDagsFolder(env.store, env.config, silentLogger(), { waitForTypeChecks: true });
    expect(Object.keys(await warnings(env))).toEqual(["typed.ts"]);

    const off = { ...env.config, typeCheck: "off" as const };
    expect(await processDagsFolder(env.store, off, silentLogger(), { waitForTypeChecks: true })).toMatchObject({ errors: 0 });
    expect(await warnings(env)).toEqual({});
    expect(await importErrors(env)).toEqual({});
    expect((await dagRows(env)).typed).toMatchObject({ is_active: 1 });
  }, SLOW);
});

describe("type checking beside the import", () => {
  it("drops the result of a check whose file changed meanwhile", async () => {
    env = await createTestEnv({ dags: { "typed.ts": BAD }, config: { typeCheck: "warn" } });
    processor = newProcessor(env);
    await processor.scan(); // stored; its check has just been queued (the checker is still starting)
    // Changed before that check can end: its result describes content that is gone.
    const other = BAD.replace("load(extract());", 'load("three");');
    env.writeDag("typed.ts", other);
    await processor.typeChecksSettled();
    expect(await warnings(env)).toEqual({});

    await processor.scan();
    await processor.typeChecksSettled();
    const warning = (await warnings(env))["typed.ts"]!;
    expect(warning.message).toContain("Argument of type 'string'");
  }, SLOW);

  it("a check that hangs costs only the checker: the DAG registers and the file gets a warning", async () => {
    // 9! permutations as a type: tsc works on this for minutes.
    const hostile = [
      'import { dag, task } from "updraft";',
      "type Perm<T extends string, U extends string = T> = [T] extends [never] ? [] : T extends T ? [T, ...Perm<Exclude<U, T>>] : never;",
      'export const p: Perm<"a" | "b" | "c" | "d" | "e" | "f" | "g" | "h" | "i"> = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];',
      'const t = task({ id: "t", run: () => 1 });',
      'export default dag({ id: "hostile" }, () => { t(); });',
      "",
    ].join("\n");
    env = await createTestEnv({ dags: { "hostile.ts": hostile, "typed.ts": BAD }, config: { typeCheck: "warn", importTimeoutMs: "10s" } });
    processor = newProcessor(env);
    await processor.start();
    expect((await dagRows(env)).hostile).toMatchObject({ is_active: 1 });
    const all = await waitFor("both warnings", async () => {
      const w = await warnings(env!);
      return w["hostile.ts"] && w["typed.ts"] ? w : undefined;
    }, 150_000);
    expect(all["hostile.ts"]).toMatchObject({ code: "UPDRAFT_E_TYPE_CHECK_FAILED" });
    expect(all["hostile.ts"]!.message).toMatch(/took longer than 10s of CPU time|memory limit/);
    // The checker started again for the next file.
    expect(all["typed.ts"]).toMatchObject({ code: "UPDRAFT_E_TYPE_ERRORS" });
  }, SLOW + 60_000);
});
