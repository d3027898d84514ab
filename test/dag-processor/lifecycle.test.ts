/**
 * What the processor stores over a file's life: versions only when the content changes, a broken
 * update that keeps the old version, deleted files, clashing DAG ids, and the watching processor.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { DagProcessor } from "../../src/dag-processor/processor.js";
import { triggerDagRun } from "../../src/scheduler/create-run.js";
import { serializeDag } from "../../src/dag/serialize.js";
import { takeDefinedDags } from "../../src/sdk/dag.js";
import { dag, task } from "../../src/sdk/index.js";
import { latestStructure, recordFileResult, requireDag } from "../../src/store/dags.js";
import { createTestEnv, type TestEnv } from "../helpers/env.js";
import { processDags } from "../helpers/run.js";
import { DIALECTS } from "../helpers/dialects.js";
import { dagRows, goodDag, importErrors, newProcessor, versionCount, waitFor } from "./helpers.js";

let env: TestEnv | undefined;
let processor: DagProcessor | undefined;
afterEach(async () => {
  await processor?.stop();
  processor = undefined;
  await env?.cleanup();
  env = undefined;
});

describe.each(DIALECTS)("DAG file lifecycle (%s)", (dialect) => {
  it("keeps the old version of a DAG whose file breaks, and clears the error once fixed", async () => {
    const original = goodDag("evolving");
    env = await createTestEnv({ dialect, dags: { "evolving.ts": original, "other.ts": goodDag("other") } });
    await processDags(env);
    const before = await dagRows(env);
    expect(before.evolving).toMatchObject({ is_active: 1 });

    env.writeDag("evolving.ts", original.replace('run: () => "hi"', "run: () => {"));
    const broken = await processDags(env);
    expect(broken.errors).toBe(1);
    const errors = await importErrors(env);
    expect(Object.keys(errors)).toEqual(["evolving.ts"]);
    expect(errors["evolving.ts"]!.line).toBe(2);
    const during = await dagRows(env);
    expect(during.evolving).toEqual(before.evolving); // still active, same version
    expect(during.other).toMatchObject({ is_active: 1 });
    expect(await versionCount(env, "evolving")).toBe(1);

    env.writeDag("evolving.ts", original);
    const fixed = await processDags(env);
    expect(fixed.errors).toBe(0);
    expect(await importErrors(env)).toEqual({});
    expect((await dagRows(env)).evolving).toEqual(before.evolving);
    expect(await versionCount(env, "evolving")).toBe(1); // the same content as before: no new version
  });

  it("stores a new version only when the content changes", async () => {
    env = await createTestEnv({ dialect, dags: { "versioned.ts": goodDag("versioned") } });
    await processDags(env);
    expect(await versionCount(env, "versioned")).toBe(1);

    // A fresh processor bundles and imports again: the same content makes no new version.
    await processDags(env);
    expect(await versionCount(env, "versioned")).toBe(1);

    env.writeDag("versioned.ts", goodDag("versioned").replace('run: () => "hi"', 'run: () => "hello"'));
    await processDags(env);
    expect(await versionCount(env, "versioned")).toBe(2);
    const row = await requireDag(env.store.db, "versioned");
    const versions = await env.store.db.selectFrom("dag_version").select(["id", "version_number", "source"]).where("dag_id", "=", "versioned").orderBy("version_number").execute();
    expect(versions.map((v) => Number(v.version_number))).toEqual([1, 2]);
    expect(Number(row.latest_version_id)).toBe(Number(versions[1]!.id));
    expect(versions[1]!.source).toContain('"hello"');
  });

  it("a deleted file makes its DAGs inactive and keeps their runs", async () => {
    env = await createTestEnv({ dialect, dags: { "doomed.ts": goodDag("doomed"), "stays.ts": goodDag("stays"), "broken.ts": 'import { dag } from "updraft";\nthrow new Error("x");\n' } });
    await processDags(env);
    const run = await triggerDagRun(env.store, "doomed", { note: "history" });
    expect(Object.keys(await importErrors(env))).toEqual(["broken.ts"]);

    rmSync(join(env.dagsFolder, "doomed.ts"));
    rmSync(join(env.dagsFolder, "broken.ts"));
    await processDags(env);
    const dags = await dagRows(env);
    expect(dags.doomed).toMatchObject({ fileloc: "doomed.ts", is_active: 0 });
    expect(dags.stays).toMatchObject({ is_active: 1 });
    const runs = await env.store.db.selectFrom("dag_run").select(["id", "note"]).where("dag_id", "=", "doomed").execute();
    expect(runs.map((r) => ({ id: Number(r.id), note: r.note }))).toEqual([{ id: run.id, note: "history" }]);
    expect(await versionCount(env, "doomed")).toBe(1);
    expect(await importErrors(env)).toEqual({});
  });

  it("a DAG removed from its file becomes inactive", async () => {
    const two = goodDag("kept") + '\nexport const second = dag({ id: "removed" }, () => { hello(); });\n';
    env = await createTestEnv({ dialect, dags: { "two.ts": two } });
    await processDags(env);
    expect(Object.keys(await dagRows(env))).toEqual(["kept", "removed"]);
    env.writeDag("two.ts", goodDag("kept"));
    await processDags(env);
    const dags = await dagRows(env);
    expect(dags.kept).toMatchObject({ is_active: 1 });
    expect(dags.removed).toMatchObject({ is_active: 0 });
  });

  it("the same DAG id in a second file is an import error of that file; the first stays", async () => {
    env = await createTestEnv({ dialect, dags: { "a_first.ts": goodDag("shared"), "other.ts": goodDag("other") } });
    await processDags(env);
    const before = (await dagRows(env)).shared;

    env.writeDag("b_second.ts", goodDag("shared").replace('"hi"', '"second"'));
    const summary = await processDags(env);
    expect(summary.errors).toBe(1);
    const errors = await importErrors(env);
    expect(Object.keys(errors)).toEqual(["b_second.ts"]);
    expect(errors["b_second.ts"]!.message).toMatch(/DAG id 'shared' is already defined in a_first\.ts/);
    const dags = await dagRows(env);
    expect(dags.shared).toEqual(before);
    expect(dags.other).toMatchObject({ is_active: 1 });
    expect(await versionCount(env, "shared")).toBe(1);

    // Once the first file is gone, the DAG moves to the second one.
    rmSync(join(env.dagsFolder, "a_first.ts"));
    await processDags(env);
    expect((await dagRows(env)).shared).toMatchObject({ fileloc: "b_second.ts", is_active: 1 });
    expect(await importErrors(env)).toEqual({});
  });

  it("two new files with the same DAG id in one scan: one registers, the other gets an import error", async () => {
    env = await createTestEnv({ dialect, dags: { "x1.ts": goodDag("twin"), "x2.ts": goodDag("twin").replace('"hi"', '"x2"'), "other.ts": goodDag("other") } });
    const summary = await processDags(env);
    expect(summary.errors).toBe(1);
    const dags = await dagRows(env);
    expect(dags.twin?.is_active).toBe(1);
    expect(dags.other?.is_active).toBe(1);
    const loser = dags.twin!.fileloc === "x1.ts" ? "x2.ts" : "x1.ts";
    const errors = await importErrors(env);
    expect(Object.keys(errors)).toEqual([loser]);
    expect(errors[loser]!.message).toMatch(/DAG id 'twin' is already defined/);
  });

  it("results for the same new DAG id from two files stored at the same moment: one wins, the other gets an import error", async () => {
    // What a scan does when two workers finish at once (or two processors run): recordFileResult in parallel.
    env = await createTestEnv({ dialect });
    takeDefinedDags();
    const hello = task({ id: "hello", run: () => 1 });
    dag({ id: "race" }, () => {
      hello();
    });
    const [definition] = takeDefinedDags();
    const existingFiles = new Set(["r1.ts", "r2.ts"]);
    const record = (fileloc: string) =>
      recordFileResult(env!.store, {
        dagsFolder: env!.dagsFolder,
        fileloc,
        dags: [serializeDag(definition!, fileloc)],
        bundle: { hash: `hash-${fileloc}`, code: "export {};" },
        source: "",
        error: null,
        existingFiles,
        pausedAtCreation: false,
        now: Date.now(),
      });
    const results = await Promise.allSettled([record("r1.ts"), record("r2.ts")]);
    expect(results.map((r) => (r.status === "rejected" ? String(r.reason) : "ok"))).toEqual(["ok", "ok"]);
    const winner = (await dagRows(env)).race!.fileloc;
    const loser = winner === "r1.ts" ? "r2.ts" : "r1.ts";
    const errors = await importErrors(env);
    expect(Object.keys(errors)).toEqual([loser]);
    expect(errors[loser]!.message).toMatch(/DAG id 'race' is already defined in r\d\.ts/);
  });
});

describe("the processor (sqlite; the store side runs on both dialects above)", () => {
  it("keeps a DAG active when its file starts to throw at import", async () => {
    env = await createTestEnv({ dags: { "flaky.ts": goodDag("flaky") } });
    await processDags(env);
    env.writeDag("flaky.ts", goodDag("flaky", 'if (Date.now() > 0) throw new Error("config server down");'));
    await processDags(env);
    expect((await importErrors(env))["flaky.ts"]?.message).toContain("config server down");
    expect((await dagRows(env)).flaky).toMatchObject({ is_active: 1 });
  });

  it("a running processor skips unchanged files and picks up a change in an imported helper", async () => {
    const dagFile = [
      'import { dag, task } from "updraft";',
      'import { RETRIES } from "./lib/settings.js";',
      'const hello = task({ id: "hello", run: () => "hi" });',
      'export default dag({ id: "with_helper" }, () => { hello(undefined, { retries: RETRIES }); });',
      "",
    ].join("\n");
    env = await createTestEnv({ dags: { "with_helper.ts": dagFile, "lib/settings.ts": "export const RETRIES = 1;\n" } });
    processor = newProcessor(env);
    expect(await processor.scan()).toMatchObject({ files: 1, processed: 1, errors: 0 });
    expect(await processor.scan()).toMatchObject({ files: 1, processed: 0, errors: 0 });
    expect(await versionCount(env, "with_helper")).toBe(1);

    env.writeDag("lib/settings.ts", "export const RETRIES = 4;\n");
    expect(await processor.scan()).toMatchObject({ processed: 1, errors: 0 });
    expect(await versionCount(env, "with_helper")).toBe(2);
    const { structure } = await latestStructure(env.store.db, await requireDag(env.store.db, "with_helper"));
    expect(structure.tasks[0]!.options.retries).toBe(4);
  });

  it("registers a new DAG file written while it runs", async () => {
    env = await createTestEnv({ dags: { "first.ts": goodDag("first") }, config: { dagRescanIntervalMs: "500ms" } });
    processor = newProcessor(env);
    await processor.start();
    expect((await dagRows(env)).first).toMatchObject({ is_active: 1 });

    env.writeDag("later/new_one.ts", goodDag("new_one"));
    const row = await waitFor("new_one in the dag table", async () => (await dagRows(env!)).new_one);
    expect(row).toMatchObject({ fileloc: "later/new_one.ts", is_active: 1 });

    rmSync(join(env.dagsFolder, "first.ts"));
    await waitFor("first to become inactive", async () => ((await dagRows(env!)).first?.is_active === 0 ? true : undefined));
  });
});
